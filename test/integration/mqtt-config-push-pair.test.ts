// Config push to a failover pair (docs/fleet.md §7.4): two real twin6d in
// NORMAL over their partner link, reporting to a real mosquitto. A change of
// the pools pushed to one partner alone is refused by key path; two files that
// disagree on the pair keys are refused by twin6ctl before anything is sent;
// the same change pushed to both with push-config-pair is applied on both,
// which report the same pair hash and return to NORMAL. Needs root, mosquitto,
// openssl and dhcpcd; without them it skips and says why.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  labUnavailableReason,
  PAIR_DEVICES,
  poll,
  twin6Server,
  waitTwin6State,
  withPairLab,
  type PairLab,
  type PairRole,
} from '../../src/testing/lab/index.js';
import { labRequired, skipUnlessRequired } from '../../src/testing/lab/prereq.js';
import type { ReportedDoc } from '../../src/mgmt/config-push.js';

const reason = await labUnavailableReason({ server: { ...twin6Server(), requires: ['mosquitto', 'openssl'] }, clients: ['dhcpcd'] });
skipUnlessRequired(reason, labRequired(), 'the pair config push lab');
if (reason) console.warn(`[mqtt-config-push-pair.test] skipping: ${reason}`);

const figures: Record<string, unknown> = {};

/** Each side's running file with its address pools narrowed: a change of the pair keys. */
function narrowed(lab: PairLab, role: PairRole, last = '2001:db8:1::8fff'): string {
  const doc = JSON.parse(readFileSync(join(lab.dir, role, 'twin6.json'), 'utf8')) as { subnets: { pools: string[] }[] };
  doc.subnets[0]!.pools = doc.subnets[0]!.pools.map((p) => p.replace(/-[0-9a-f:]+$/, `-${last}`));
  const file = join(lab.dir, `${role}-${last.replaceAll(':', '_')}.json`);
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}

async function reported(lab: PairLab): Promise<Record<string, ReportedDoc | null>> {
  const r = await lab.fleet!(['list', '--json', '--wait', '700']);
  const states = JSON.parse(r.stdout) as Record<string, { configReported: ReportedDoc | null }>;
  return Object.fromEntries(Object.entries(states).map(([id, s]) => [id, s.configReported]));
}

describe.skipIf(reason !== undefined)('config push to a failover pair', () => {
  it('refuses a pool change pushed to one partner, and applies it pushed to both as a pair', async () => {
    await withPairLab({ clients: [{ kind: 'dhcpcd' }], mqtt: true, logLevel: 'info' }, async (lab) => {
      const key = join(lab.dir, 'fleet-pki', 'command-signing.key');
      const sign = ['--sign-key', key, '--actor', 'test', '--json'];
      for (const role of ['primary', 'secondary'] as const) await waitTwin6State(lab.stateDir(role), 'NORMAL', { timeoutMs: 60_000 });
      const before = await poll(
        async () => {
          const r = await reported(lab);
          return r['lab-a'] && r['lab-b'] ? r : undefined;
        },
        { timeoutMs: 30_000, what: 'both reported documents' },
      );
      expect(before['lab-a']!.pairHash).toBe(before['lab-b']!.pairHash);

      // One partner alone: refused by the device, with the key path and what to do.
      const alone = await lab.fleet!(['push-config', PAIR_DEVICES.primary, narrowed(lab, 'primary'), ...sign]);
      expect(alone.code, alone.stderr).toBe(1);
      const refused = (JSON.parse(alone.stdout) as Record<string, ReportedDoc>)['lab-a']!;
      expect(refused).toMatchObject({ outcome: 'rejected', desiredVersion: 1 });
      expect(refused.errors).toEqual([{ path: 'subnets', problem: expect.stringMatching(/push-config-pair/) }]);

      // Two files that disagree: nothing sent.
      const disagree = await lab.fleet!([
        'push-config-pair',
        PAIR_DEVICES.primary,
        PAIR_DEVICES.secondary,
        narrowed(lab, 'primary'),
        narrowed(lab, 'secondary', '2001:db8:1::9fff'),
        ...sign,
      ]);
      expect(disagree.code).toBe(1);
      expect(disagree.stderr).toMatch(/^refused, nothing sent: .* disagree on keys both partners must share/);

      // Both, agreeing: applied on both.
      const at = Date.now();
      const both = await lab.fleet!([
        'push-config-pair',
        PAIR_DEVICES.primary,
        PAIR_DEVICES.secondary,
        narrowed(lab, 'primary'),
        narrowed(lab, 'secondary'),
        ...sign,
      ]);
      figures['pairPushToBothAppliedMs'] = Date.now() - at;
      expect(both.code, both.stderr).toBe(0);
      const out = JSON.parse(both.stdout) as Record<string, ReportedDoc>;
      expect(out['lab-a']).toMatchObject({ outcome: 'applied', version: 2 });
      expect(out['lab-b']).toMatchObject({ outcome: 'applied', version: 1 });
      expect(out['lab-a']!.pairHash).toBe(out['lab-b']!.pairHash);
      expect(out['lab-a']!.pairHash).not.toBe(before['lab-a']!.pairHash);
      for (const role of ['primary', 'secondary'] as const) {
        expect(readFileSync(join(lab.dir, role, 'twin6.json'), 'utf8')).toContain('2001:db8:1::8fff');
        await waitTwin6State(lab.stateDir(role), 'NORMAL', { partner: 'NORMAL', timeoutMs: 30_000 });
      }
      console.log(`[mqtt-config-push-pair.test] figures: ${JSON.stringify(figures)}`);
    });
  }, 240_000);
});

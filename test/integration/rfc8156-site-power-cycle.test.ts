// A site power cut on a twin6 failover pair (RFC 8156 §8.3, §8.4, §8.5–§8.7):
// the primary dies, the operator puts the secondary in PARTNER-DOWN, then the
// power goes (both SIGKILLed) and comes back on both at once. The pair must
// come back the RFC's way, with no error on either side: the secondary resumes
// PARTNER-DOWN (§8.3.2 step 5), the primary, whose partner went PARTNER-DOWN
// after it last operated, goes RECOVER → RECOVER-WAIT → RECOVER-DONE (§8.5–§8.7)
// and both reach NORMAL; every client keeps its address and prefix.
// Needs root, dhcpcd and dhclient; skips and says why without them (CI sets
// T6_LAB_REQUIRED=1, which turns the skip into a failure).

import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPERATING_TICK_MAX_SEC, SKEW_TOLERANCE_SEC } from '../../src/failover/states.js';
import {
  labUnavailableReason,
  poll,
  sleep,
  twin6Errors,
  twin6FailoverStatus,
  twin6Leases,
  twin6Server,
  twin6Transitions,
  waitTwin6State,
  withPairLab,
  type Binding,
  type PairRole,
} from '../../src/testing/lab/index.js';

const REQUIRED = process.env['T6_LAB_REQUIRED'] === '1';
const reason = await labUnavailableReason({ server: twin6Server(), clients: ['dhclient', 'dhcpcd'] });
if (reason && REQUIRED) throw new Error(`T6_LAB_REQUIRED=1 but the lab cannot run: ${reason}`);
if (reason) console.warn(`[rfc8156-site-power-cycle.test] skipping: ${reason}`);

/** twin6's floor (docs/config.md): RECOVER-WAIT lasts at most this long past the primary's last operation. */
const MCLT = 30;

const held = (b: Binding) => [...b.addresses.map((a) => `na ${a.address}`), ...b.prefixes.map((p) => `pd ${p.prefix}/${p.length}`)];

describe.skipIf(reason !== undefined)('a twin6 pair through a site power cycle (RFC 8156 §8.3)', () => {
  it('secondary in PARTNER-DOWN, both killed and started together: no error, STATE exchanged, primary RECOVER → RECOVER-WAIT → RECOVER-DONE → NORMAL, secondary PARTNER-DOWN → NORMAL, every client keeps its lease', async () => {
    const t0 = Date.now();
    await withPairLab({ clients: [{ kind: 'dhcpcd' }, { kind: 'dhclient' }], failover: { both: { mcltSec: MCLT } } }, async (lab) => {
      const dir = (role: PairRole) => lab.stateDir(role);
      const bound = new Map<string, Binding>();
      for (const c of lab.clients) bound.set(c.name, await c.waitForBinding({ timeoutMs: 30_000 }));
      await waitTwin6State(dir('primary'), 'NORMAL', { partner: 'NORMAL' });
      await waitTwin6State(dir('secondary'), 'NORMAL', { partner: 'NORMAL' });
      // Lazy updates (RFC 8156 §7.2): the primary's Reply may leave before the secondary has the
      // binding. A lease the secondary never heard of lasts only the MCLT and is lost with the
      // primary, as the RFC allows; the test is about the power cycle, so the secondary hears first.
      const wanted = [...bound.values()].flatMap(held);
      await poll(
        async () => {
          const active = (await twin6Leases(dir('secondary'))).filter((l) => l.state === 'active');
          const known = new Set(active.map((l) => (l.type === 'na' ? `na ${l.address}` : `pd ${l.address}/${l.prefixLength}`)));
          return wanted.every((w) => known.has(w)) ? true : undefined;
        },
        { what: "every client's binding on the secondary", timeoutMs: 30_000 },
      );

      // The primary dies; the operator declares it down on the secondary (§8.9.2).
      await lab.stop('primary', 'SIGKILL');
      const primaryDiedSec = Math.floor(Date.now() / 1000);
      await waitTwin6State(dir('secondary'), 'COMMUNICATIONS-INTERRUPTED', { timeoutMs: 20_000 });
      // Declared down clearly after the primary may last have served (its last recorded operation plus
      // OPERATING_TICK_MAX_SEC, plus the 5 s the RFC allows clocks, §7.1), so that §8.3.2 step 5 has one
      // answer for the primary: RECOVER.
      await sleep((OPERATING_TICK_MAX_SEC + SKEW_TOLERANCE_SEC + 1) * 1000);
      const pd = spawnSync(process.execPath, [resolve('dist/cli/twin6ctl.js'), '--state-dir', dir('secondary'), 'partner-down'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(pd.status, pd.stderr).toBe(0);
      const partnerDownSec = (await waitTwin6State(dir('secondary'), 'PARTNER-DOWN')).partnerDownSinceSec;

      // The site loses power, and gets it back: both start at once.
      await lab.stop('secondary', 'SIGKILL');
      const mark = { primary: lab.running('primary')!.log().length, secondary: lab.running('secondary')!.log().length };
      const poweredAt = Date.now();
      await Promise.all([lab.start('primary'), lab.start('secondary')]);
      const since = (role: PairRole) => lab.running(role)!.log().slice(mark[role]);
      const detail = () =>
        (['primary', 'secondary'] as const)
          .map(
            (r) =>
              `${r}: ${twin6Transitions(since(r))
                .map((t) => `${t.to} (${t.cause})`)
                .join(' → ')}\n${twin6Errors(since(r)).join('\n')}`,
          )
          .join('\n');

      await waitTwin6State(dir('primary'), 'NORMAL', { partner: 'NORMAL', timeoutMs: 75_000, detail });
      await waitTwin6State(dir('secondary'), 'NORMAL', { partner: 'NORMAL', timeoutMs: 10_000, detail });
      const backMs = Date.now() - poweredAt;

      // Soft from here: one run reports every departure from the RFC's way, and the clients are still checked.
      for (const role of ['primary', 'secondary'] as const) {
        expect.soft(twin6Errors(since(role)), `${role}: error or fatal lines after the power came back`).toEqual([]);
        const s = await twin6FailoverStatus(dir(role));
        expect(s.connected && s.commsOk, `${role}: STATE received from the partner`).toBe(true);
      }
      const states = (role: PairRole) => twin6Transitions(since(role)).map((t) => t.to);
      console.info(
        `[rfc8156-site-power-cycle.test] primary killed at ${primaryDiedSec} (Unix s), secondary PARTNER-DOWN since ${partnerDownSec}; ` +
          `back in NORMAL ${(backMs / 1000).toFixed(1)} s after power-on; primary ${states('primary').join(' → ')}; secondary ${states('secondary').join(' → ')}`,
      );
      // §8.3.2 step 5: the secondary resumes PARTNER-DOWN; the primary, whose partner entered PARTNER-DOWN after
      // the primary last operated, recovers. §8.4.2: PARTNER-DOWN → NORMAL once the partner is RECOVER-DONE.
      expect.soft(states('secondary')).toEqual(['STARTUP', 'PARTNER-DOWN', 'NORMAL']);
      expect.soft(states('primary')).toEqual(['STARTUP', 'RECOVER', 'RECOVER-WAIT', 'RECOVER-DONE', 'NORMAL']);

      // Every client renews (or rebinds) what it had, nothing else.
      for (const c of lab.clients) {
        const r = await c.waitForRenewal(bound.get(c.name)!, poweredAt, { timeoutMs: (lab.topology.lifetimes.validSec + 30) * 1000 });
        expect(held(r.binding)).toEqual(held(bound.get(c.name)!));
      }
    });
    console.info(`[rfc8156-site-power-cycle.test] ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 210_000);
});

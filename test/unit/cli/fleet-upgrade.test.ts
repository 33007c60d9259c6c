// The rolling pair upgrade's sequence (src/cli/fleet-upgrade.ts) against a
// fleet that answers like two devices would: the broker and the devices are
// the e2e test's (test/e2e/firmware-upgrade-pair.test.ts, minutes under
// QEMU); here each step and each way it stops, in milliseconds.

import { describe, expect, it } from 'vitest';
import { RolloutError, upgradePair } from '../../../src/cli/fleet-upgrade.js';
import type { FleetClient } from '../../../src/mgmt/requester.js';
import { deviceTopics } from '../../../src/mgmt/topics.js';
import { generateKeyPairSync } from 'node:crypto';

const PREFIX = 'fleet/v1';
const P = 'ap-a';
const S = 'ap-b';

type Outcome = 'staged' | 'committed' | 'rolled-back' | 'refused';

/** Two devices behind a broker: state documents as they would retain them, commands as they would answer. */
class FakePair {
  readonly opts = { prefix: PREFIX };
  readonly sent: string[] = [];
  private readonly listeners = new Map<string, (topic: string, payload: Buffer) => void>();
  private readonly docs = new Map<string, Record<string, unknown>>();
  private n = 0;

  constructor(private readonly outcomes: Record<string, Outcome[]>) {
    for (const [d, role] of [
      [P, 'primary'],
      [S, 'secondary'],
    ] as const)
      this.docs.set(d, {
        online: true,
        role,
        failover: { state: 'NORMAL' },
        firmware: { version: '0.1.0', slot: 'a', state: 'committed', last: null, upgrade: null, trial: null },
      });
  }

  async watch(filter: string, cb: (topic: string, payload: Buffer) => void): Promise<() => Promise<void>> {
    this.listeners.set(filter, cb);
    const d = [P, S].find((x) => deviceTopics(PREFIX, x).state === filter);
    if (d) this.publish(d); // retained
    return async () => void this.listeners.delete(filter);
  }

  async request(device: string, cmd: string, body: { args: Record<string, unknown> }): Promise<unknown> {
    this.sent.push(`${device} ${cmd}${body.args['stage'] ? ' stage' : ''}${body.args['action'] ? ` ${String(body.args['action'])}` : ''}`);
    if (cmd === 'failover.maintenance') {
      if (!body.args['confirmToken']) return { v: 1, ok: true, code: 'CONFIRM_REQUIRED', data: { confirmToken: 't' } };
      const other = device === P ? S : P;
      setTimeout(
        () => this.set(other, { failover: { state: body.args['action'] === 'start' ? 'COMMUNICATIONS-INTERRUPTED' : 'NORMAL' } }),
        5,
      );
      return { v: 1, ok: true, code: 'OK', data: {} };
    }
    const requestId = `r${++this.n}`;
    const outcome = this.outcomes[device]!.shift()!;
    setTimeout(() => {
      const fw = this.docs.get(device)!['firmware'] as Record<string, unknown>;
      const version = outcome === 'committed' ? String(body.args['version']) : String(fw['version']);
      this.set(device, { firmware: { ...fw, version, last: { requestId, version: body.args['version'], outcome, at: 'now' } } });
      // After a reboot (committed, rolled back) the pair comes back to NORMAL by itself.
      if (outcome === 'committed' || outcome === 'rolled-back')
        setTimeout(() => {
          this.set(P, { failover: { state: 'NORMAL' } });
          this.set(S, { failover: { state: 'NORMAL' } });
        }, 5);
    }, 5);
    return { v: 1, ok: true, code: 'OK', data: { requestId } };
  }

  private set(d: string, patch: Record<string, unknown>): void {
    this.docs.set(d, { ...this.docs.get(d)!, ...patch });
    this.publish(d);
  }

  private publish(d: string): void {
    this.listeners.get(deviceTopics(PREFIX, d).state)?.(deviceTopics(PREFIX, d).state, Buffer.from(JSON.stringify(this.docs.get(d))));
  }
}

const signer = { key: generateKeyPairSync('ed25519').privateKey, actor: 'test' };
const REQ = { url: 'https://[2001:db8::1]/v2.t6fw', sha256: 'ab'.repeat(32), size: 1000, version: '0.2.0' };

async function rollout(outcomes: Record<string, Outcome[]>) {
  const fleet = new FakePair(outcomes);
  const said: string[] = [];
  const run = upgradePair(fleet as unknown as FleetClient, P, S, REQ, {
    signer,
    timeoutMs: 5_000,
    normalTimeoutMs: 3_000,
    say: (l) => said.push(l),
  });
  return { fleet, said, run };
}

describe('twin6ctl fleet upgrade-pair', () => {
  it('stages, hands over and upgrades the secondary, then the primary; NORMAL after each', async () => {
    const { fleet, said, run } = await rollout({ [S]: ['staged', 'committed'], [P]: ['staged', 'committed'] });
    const steps = await run;
    expect(steps.map((s) => [s.device, s.outcome, s.version])).toEqual([
      [S, 'committed', '0.2.0'],
      [P, 'committed', '0.2.0'],
    ]);
    expect(fleet.sent).toEqual([
      `${S} firmware.upgrade stage`,
      `${S} failover.maintenance start`,
      `${S} failover.maintenance start`,
      `${S} firmware.upgrade`,
      `${P} firmware.upgrade stage`,
      `${P} failover.maintenance start`,
      `${P} failover.maintenance start`,
      `${P} firmware.upgrade`,
    ]);
    expect(said.filter((l) => l === `${P} and ${S}: NORMAL`)).toHaveLength(2);
  });

  it('a trial rolled back stops the rollout once the pair is NORMAL again, and the primary is never sent a thing', async () => {
    const { fleet, said, run } = await rollout({ [S]: ['staged', 'rolled-back'], [P]: [] });
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutError);
    expect((err as Error).message).toBe(`${S}: rolled-back: rollout stopped; ${P} was not touched`);
    // Seen, not given up on: the watch was still open while it waited (it was closed under it once).
    expect(said.at(-1)).toBe(`${P} and ${S}: NORMAL`);
    expect(fleet.sent.filter((l) => l.startsWith(P))).toEqual([]);
  });

  it('a refused write gives the secondary its clients back (maintenance cancel) and stops', async () => {
    const { fleet, said, run } = await rollout({ [S]: ['staged', 'refused'], [P]: [] });
    await expect(run).rejects.toThrow(`${S}: refused: rollout stopped; ${P} was not touched`);
    expect(fleet.sent.slice(-2)).toEqual([`${S} failover.maintenance cancel`, `${S} failover.maintenance cancel`]);
    expect(said.at(-1)).toBe(`${P} and ${S}: NORMAL`);
  });

  it('a bundle that does not stage stops before anything changes who serves', async () => {
    const { fleet, run } = await rollout({ [S]: ['refused'], [P]: [] });
    await expect(run).rejects.toThrow(`${S}: refused: rollout stopped`);
    expect(fleet.sent).toEqual([`${S} firmware.upgrade stage`]);
  });
});

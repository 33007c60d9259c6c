// The clock floor (docs/image.md §12): the marks, the verdict, and the core
// the daemon runs with a floor above its clock — nothing is granted, each
// message is counted as dropped for the clock, and the server answers as soon
// as the clock reaches the floor. The floor rises with every lease granted, so
// a clock set back below the last lease stops the answers again.

import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { parseConfig } from '../../../src/config/index.js';
import { ServerCore } from '../../../src/daemon/core.js';
import { highestMark, judgeClock, leaseMark, LEASE_MARK_SLACK_SEC, NO_FLOOR, parseMark } from '../../../src/daemon/clock-floor.js';
import type { FloorMark } from '../../../src/daemon/clock-floor.js';
import { MemoryLeaseStore } from '../../../src/store/index.js';
import { encodeMessage, type ClientServerMessage } from '../../../src/wire/index.js';
import { baseConfig, iaNa, msg, MsgType, SERVER_DUID, T0 } from '../engine/harness.js';
import { naLease } from '../store/helpers.js';

class GatedCore extends ServerCore {
  constructor(
    readonly now: { sec: number },
    floor: FloorMark | undefined,
  ) {
    super({
      config: parseConfig(baseConfig),
      store: new MemoryLeaseStore(),
      serverDuid: SERVER_DUID,
      log: pino({ level: 'silent' }),
      clock: { nowSec: () => now.sec },
      onStoreFailure: () => undefined,
      ...(floor ? { clockFloor: floor } : {}),
    });
  }
  protected async stopShell(): Promise<void> {}
}

async function setup(floor: FloorMark | undefined, nowSec: number) {
  const now = { sec: nowSec };
  const core = new GatedCore(now, floor);
  await core.store.open();
  let replies = 0;
  const solicit = async (client: number, type: number = MsgType.SOLICIT): Promise<number> => {
    const before = replies;
    const m: ClientServerMessage = msg(type, client, [iaNa(1)]);
    core.packetPath.onDatagram({
      data: Buffer.from(encodeMessage(m)),
      sourceAddress: 'fe80::1',
      sourcePort: 546,
      interface: 'lan0',
      unicast: false,
      reply: async () => {
        replies++;
      },
    });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    return replies - before;
  };
  return { core, now, solicit };
}

describe('the clock floor', () => {
  it('takes the highest mark; leases count from their latest client transaction, less the slack', () => {
    expect(highestMark([])).toEqual(NO_FLOOR);
    const leases = [naLease(1, { clttSec: T0 }), naLease(2, { clttSec: T0 + 100 }), naLease(3, { clttSec: T0 - 50 })];
    expect(leaseMark(leases)).toEqual({ source: 'leases', sec: T0 + 100 - LEASE_MARK_SLACK_SEC });
    expect(leaseMark([])).toEqual({ source: 'leases', sec: 0 });
    const build = { source: '/etc/twin6-build-time', sec: T0 + 500 };
    expect(highestMark([leaseMark(leases), build, { source: '/overlay/twin6-clock', sec: T0 + 200 }])).toBe(build);
  });

  it('reads a mark file as decimal Unix seconds, and nothing else', () => {
    expect(parseMark('1800000000\n')).toBe(1_800_000_000);
    expect(parseMark(' 1800000000 ')).toBe(1_800_000_000);
    for (const bad of ['', '0', '12', '1800000000.5', '-1800000000', 'soon', '99999999999', `1800000000${' '.repeat(80)}`])
      expect(parseMark(bad), bad).toBeUndefined();
  });

  it('trusts a clock at or above the floor, and says how far behind one is', () => {
    const floor = { source: 'leases', sec: T0 };
    expect(judgeClock(T0, floor)).toEqual({ trusted: true, behindSec: 0 });
    expect(judgeClock(T0 + 1, floor)).toEqual({ trusted: true, behindSec: 0 });
    expect(judgeClock(10, floor)).toEqual({ trusted: false, behindSec: T0 - 10 });
  });
});

describe('a server whose clock is below its floor', () => {
  it('answers nobody, counting each message, and answers once the clock reaches the floor', async () => {
    const t = await setup({ source: '/etc/twin6-build-time', sec: T0 }, 21); // a board that booted in 1970
    expect(t.core.clockStatus()).toEqual({
      trusted: false,
      nowSec: 21,
      floorSec: T0,
      floorSource: '/etc/twin6-build-time',
      behindSec: T0 - 21,
    });
    expect(await t.solicit(1)).toBe(0);
    expect(await t.solicit(2, MsgType.REQUEST)).toBe(0);
    expect(t.core.counters.get('drop.clock-behind')).toBe(2);
    expect(t.core.store.size).toBe(0);

    t.now.sec = T0; // NTP set the clock
    expect(t.core.clockStatus().trusted).toBe(true);
    expect(await t.solicit(1)).toBe(1);
    expect(t.core.counters.get('drop.clock-behind')).toBe(2);
  });

  it('raises the floor with every lease it grants: a clock set back below the last one stops the answers', async () => {
    const t = await setup({ source: 'leases', sec: 0 }, T0);
    await t.core.commit([{ op: 'put', lease: naLease(1, { clttSec: T0 + 60 }) }]);
    expect(t.core.clockStatus()).toMatchObject({ floorSec: T0 + 60 - LEASE_MARK_SLACK_SEC, floorSource: 'leases' });
    t.now.sec = T0 + 60 - LEASE_MARK_SLACK_SEC - 1; // set back past the slack
    expect(await t.solicit(3)).toBe(0);
    t.now.sec = T0 + 60 - LEASE_MARK_SLACK_SEC; // a step back within the slack stops nothing
    expect(await t.solicit(3)).toBe(1);
    // A partner's update carries no time of ours: it does not move the floor.
    await t.core.commit([{ op: 'put', lease: naLease(2, { clttSec: T0 + 9999 }) }], 'partner');
    expect(t.core.clockStatus().floorSec).toBe(T0 + 60 - LEASE_MARK_SLACK_SEC);
  });

  it('has no floor at all without one (the simulation)', async () => {
    const t = await setup(undefined, 5);
    expect(t.core.clockStatus()).toMatchObject({ trusted: true, floorSource: 'none' });
    expect(await t.solicit(1)).toBe(1);
  });
});

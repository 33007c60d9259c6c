// Storage health as the fleet sees it, without a broker: the uplink asks the
// Reporter for the state document every second and publishes what it emits as
// events, so driving the Reporter over a store whose sync the test holds is
// the whole path short of MQTT.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { Counters } from '../../../src/daemon/counters.js';
import { EVENT_CODES, poolSizes, type EventType } from '../../../src/mgmt/documents.js';
import type { ClockStatus, ManagementHost } from '../../../src/daemon/host.js';
import { Reporter } from '../../../src/mgmt/reporter.js';
import { MemoryDisk, MemoryLeaseStore, leaseKey } from '../../../src/store/index.js';
import { base } from '../config/helpers.js';
import { naLease, naResource, put, tick } from '../store/helpers.js';

const SLOW_WRITE_MS = 5000;

async function setup(disk = new MemoryDisk()) {
  const clock = { ms: 1_000_000 };
  let clockNow: ClockStatus = { trusted: true, nowSec: 1000, floorSec: 0, floorSource: 'none', behindSec: 0 };
  const store = new MemoryLeaseStore({ disk, now: () => clock.ms });
  await store.open();
  const d = {
    config: parseConfig({ ...base(), storage: { slowWriteMs: SLOW_WRITE_MS } }),
    store,
    counters: new Counters(),
    commands: { status: () => ({ pools: [] }) },
    serverDuid: new Uint8Array(14),
    startedMs: 0,
    clockStatus: () => clockNow,
  } as unknown as ManagementHost;
  const events: { type: EventType; fields: Record<string, unknown> }[] = [];
  const reporter = new Reporter(
    d,
    'dev-a',
    (type, fields) => events.push({ type, fields }),
    () => clock.ms,
  );
  /** Holds every write from now on until the returned function lets the first one land. */
  const holdWrites = (): (() => void) => {
    let land!: () => void;
    const held = new Promise<void>((resolve) => (land = resolve));
    disk.beforeWrite = () => held;
    return () => {
      disk.beforeWrite = undefined;
      land();
    };
  };
  const setClock = (s: ClockStatus) => (clockNow = s);
  return { clock, store, reporter, events, holdWrites, setClock };
}

describe('Reporter: storage health', () => {
  it('raises storage-degraded once a held write passes storage.slowWriteMs, and storage-recovered once writes are fast again', async () => {
    const { clock, store, reporter, events, holdWrites } = await setup();
    const land = holdWrites();
    const held = store.apply([put(naLease(1))]);
    await tick();
    expect((await reporter.state(1)).storage).toEqual({ status: 'ok', reasons: [] });

    clock.ms += SLOW_WRITE_MS; // at the threshold, not past it
    expect((await reporter.state(1)).storage.status).toBe('ok');
    expect(events).toEqual([]);

    clock.ms += 1;
    const stalled = { status: 'degraded', reasons: [`a write has been in flight for more than ${SLOW_WRITE_MS} ms`] };
    expect((await reporter.state(1)).storage).toEqual(stalled);
    expect(events).toEqual([
      {
        type: 'storage-degraded',
        fields: { code: 'STORE_DEGRADED', reasons: stalled.reasons, inFlightMs: SLOW_WRITE_MS + 1, lastCommitMs: 0 },
      },
    ]);
    expect(reporter.storageTelemetry()).toMatchObject({ health: stalled, inFlightChanges: 1, inFlightMs: SLOW_WRITE_MS + 1 });

    clock.ms += 60_000;
    expect((await reporter.state(1)).storage).toEqual(stalled); // the same document: nothing to republish
    expect(events).toHaveLength(1);
    expect(reporter.storageTelemetry()).toMatchObject({ inFlightMs: SLOW_WRITE_MS + 60_001 });

    land();
    await held;
    // Landed, but that slow: still degraded, and no second event for the same episode.
    expect((await reporter.state(1)).storage).toEqual({ status: 'degraded', reasons: [`last commit took ${SLOW_WRITE_MS + 60_001} ms`] });
    expect(events).toHaveLength(1);

    clock.ms += 1000;
    await store.apply([put(naLease(2))]);
    expect((await reporter.state(1)).storage).toEqual({ status: 'ok', reasons: [] });
    expect(events.slice(1)).toEqual([{ type: 'storage-recovered', fields: { code: 'STORE_RECOVERED', degradedMs: 61_000 } }]);
    expect(reporter.storageTelemetry()).toMatchObject({ inFlightChanges: 0, inFlightMs: 0 });
    await store.close();
  });

  it('raises storage-degraded again for a write that stalls while storage is already degraded for another reason', async () => {
    const disk = new MemoryDisk();
    disk.records.set(MemoryDisk.keyOf(leaseKey(naResource(9))), Uint8Array.of(1, 2, 3));
    const { clock, store, reporter, events, holdWrites } = await setup(disk);
    const corrupt = '1 record(s) failed their check at open and are not served';
    expect((await reporter.state(1)).storage).toEqual({ status: 'degraded', reasons: [corrupt] });
    expect(events.map((e) => e.type)).toEqual(['storage-degraded']);

    const land = holdWrites();
    const held = store.apply([put(naLease(1))]);
    await tick();
    clock.ms += SLOW_WRITE_MS + 1;
    await reporter.state(1);
    expect(events.slice(1)).toEqual([
      {
        type: 'storage-degraded',
        fields: {
          code: 'STORE_DEGRADED',
          reasons: [corrupt, `a write has been in flight for more than ${SLOW_WRITE_MS} ms`],
          inFlightMs: SLOW_WRITE_MS + 1,
          lastCommitMs: 0,
        },
      },
    ]);
    land();
    await held;
    await store.close();
  });
});

describe('Reporter: event codes', () => {
  it('gives every event it raises the log code its type carries (docs/log-codes.md)', async () => {
    const store = new MemoryLeaseStore({ disk: new MemoryDisk(), now: () => 0 });
    await store.open();
    const config = parseConfig(base());
    const [naPool] = [...poolSizes(config)].find(([key]) => key.includes('\0na\0'))!;
    const [subnet, , pool] = naPool.split('\0');
    let failoverState = 'NORMAL';
    let trusted = false;
    const d = {
      config,
      configFile: '/nonexistent/twin6.json',
      store,
      counters: new Counters(),
      commands: {
        status: () => ({ pools: [{ subnet, pool, kind: 'na', active: 0xf000 }] }),
        'failover.status': () => ({ role: 'primary', state: failoverState, partnerState: null }),
      },
      serverDuid: new Uint8Array(14),
      startedMs: 0,
      clockStatus: (): ClockStatus => ({
        trusted,
        nowSec: trusted ? 2000 : 10,
        floorSec: 1500,
        floorSource: 'leases',
        behindSec: trusted ? 0 : 1490,
      }),
    } as unknown as ManagementHost;
    const events: { type: EventType; fields: Record<string, unknown> }[] = [];
    const reporter = new Reporter(
      d,
      'dev-a',
      (type, fields) => events.push({ type, fields }),
      () => 0,
    );
    await reporter.state(1); // the pool is full; failover seen for the first time; the clock behind its floor
    failoverState = 'COMMUNICATIONS-INTERRUPTED';
    trusted = true;
    d.counters.add('config.rejected');
    reporter.configReloaded();
    await reporter.state(1);
    expect(events.map((e) => [e.type, e.fields['code']])).toEqual([
      ['pool-exhausted', 'DHCP_POOL_EXHAUSTED'],
      ['clock-behind', 'DAEMON_CLOCK_BEHIND'],
      ['config-reloaded', 'CONFIG_RELOADED'],
      ['failover-transition', 'FAILOVER_STATE_CHANGED'],
      ['clock-trusted', 'DAEMON_CLOCK_TRUSTED'],
      ['config-rejected', 'CONFIG_RELOAD_REJECTED'],
    ]);
    for (const e of events) expect(EVENT_CODES[e.type] as readonly unknown[]).toContain(e.fields['code']);
    await store.close();
  });
});

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { configVersion, dhcpTelemetry, event, poolSizes, storageHealth } from '../../../src/mgmt/documents.js';
import type { StoreStats } from '../../../src/store/index.js';
import { base } from '../config/helpers.js';

describe('documents', () => {
  it('names DHCP counters after TR-181 Device.DHCPv6.Server.Stats and keeps drop reasons apart', () => {
    const t = dhcpTelemetry(
      { 'rx.SOLICIT': 5, 'tx.ADVERTISE': 4, 'tx.REPLY': 3, 'rx.INFORMATION_REQUEST': 1, 'drop.total': 2, 'drop.decode.bad-duid': 2 },
      2000,
      1000,
    );
    expect(t).toMatchObject({
      v: 1,
      object: 'Device.DHCPv6.Server.Stats.',
      ts: '1970-01-01T00:00:02.000Z',
      countersSince: '1970-01-01T00:00:01.000Z',
    });
    expect(t.stats).toEqual({
      Solicit: 5,
      Advertise: 4,
      Request: 0,
      Confirm: 0,
      Renew: 0,
      Rebind: 0,
      Reply: 3,
      Release: 0,
      Decline: 0,
      InformationRequest: 1,
      DiscardedPackets: 2,
    });
    expect(t.discarded).toEqual({ 'decode.bad-duid': 2 });
  });

  it('sizes pools: addresses in a range, delegable prefixes in a pd pool', () => {
    const sizes = poolSizes(parseConfig(base()));
    expect([...sizes.values()]).toEqual([0xf000, 65536]);
  });

  it('gives the serving config a stable short version that changes with the config', () => {
    const a = configVersion(parseConfig(base()));
    expect(a).toMatch(/^cfg-[0-9a-f]{12}$/);
    expect(configVersion(parseConfig(base()))).toBe(a);
    expect(configVersion(parseConfig({ ...base(), declineHoldSec: 600 }))).not.toBe(a);
  });

  it('calls storage degraded with its reasons, a write still in flight judged by its age', () => {
    const ok = { state: 'open', corruptOnOpen: 0, lastCommitMs: 3, inFlightMs: 0 } as StoreStats;
    expect(storageHealth(ok, 1000)).toEqual({ status: 'ok', reasons: [] });
    expect(storageHealth({ ...ok, inFlightMs: 1000, lastCommitMs: 1000 }, 1000)).toEqual({ status: 'ok', reasons: [] });
    expect(storageHealth({ ...ok, corruptOnOpen: 2, lastCommitMs: 1500.4 }, 1000)).toEqual({
      status: 'degraded',
      reasons: ['2 record(s) failed their check at open and are not served', 'last commit took 1500 ms'],
    });
    expect(storageHealth({ ...ok, inFlightMs: 1001 }, 1000)).toEqual({
      status: 'degraded',
      reasons: ['a write has been in flight for more than 1000 ms'],
    });
    expect(storageHealth({ ...ok, inFlightMs: 4000 }, 5000).status).toBe('ok');
  });

  it('gives every event its log code, next to its type (docs/log-codes.md)', () => {
    const doc = event('pool-exhausted', 2000, { code: 'DHCP_POOL_EXHAUSTED', subnet: 'lan', used: 5, size: 5 });
    expect(JSON.stringify(doc)).toBe(
      '{"v":1,"type":"pool-exhausted","code":"DHCP_POOL_EXHAUSTED","ts":"1970-01-01T00:00:02.000Z","subnet":"lan","used":5,"size":5}',
    );
    // @ts-expect-error a code of another event type does not typecheck
    event('pool-exhausted', 0, { code: 'STORE_DEGRADED' });
    // @ts-expect-error nor does an event without a code
    event('storage-recovered', 0, { degradedMs: 1 });
  });
});

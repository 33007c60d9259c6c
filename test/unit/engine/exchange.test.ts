import { describe, expect, it } from 'vitest';
import { StatusCode, OptionCode } from '../../../src/wire/constants.js';
import { World, msg, iaNa, iaPd, oro, reply, granted, statuses, duidHex, SERVER_DUID, MsgType, T0 } from './harness.js';

const inPool = (a: string) => {
  const v = BigInt('0x' + a.split(':').slice(-1)[0]);
  return a.startsWith('2001:db8:1::') && v >= 0x1000n && v <= 0x1fffn;
};

describe('Solicit (RFC 8415 §18.3.1)', () => {
  it('advertises an address and a /56 without committing anything', async () => {
    const w = new World();
    const d = await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1), iaPd(2), oro(OptionCode.DNS_SERVERS)]));
    const m = reply(d);
    expect(m.type).toBe(MsgType.ADVERTISE);
    expect(d.kind === 'reply' && d.changes).toEqual([]);
    expect(w.store.size).toBe(0);
    const g = granted(m);
    expect(g).toHaveLength(2);
    expect(inPool(g[0]!.resource)).toBe(true);
    expect(g[1]!.resource).toMatch(/^2001:db8:80[0-9a-f]{2}:[0-9a-f]*00::\/56$|^2001:db8:80[0-9a-f]{2}::\/56$/);
    expect(g[0]).toMatchObject({ preferredSec: 3000, validSec: 4000 });
    expect(g[1]).toMatchObject({ preferredSec: 6000, validSec: 8000 });
    expect(m.options.find((o) => o.kind === 'SERVERID')).toEqual({ kind: 'SERVERID', duid: SERVER_DUID });
    expect(m.options.find((o) => o.kind === 'DNS_SERVERS')).toEqual({ kind: 'DNS_SERVERS', servers: ['2001:db8:1::53'] });
    expect(m.options.find((o) => o.kind === 'DOMAIN_LIST')).toBeUndefined(); // not in the ORO
  });

  it('gives every IA the same T1/T2 from the shortest preferred lifetime (§21.4: 0.5 and 0.8)', async () => {
    const w = new World();
    const g = granted(reply(await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1), iaPd(2)]))));
    for (const l of g) expect([l.t1Sec, l.t2Sec]).toEqual([1500, 2400]);
  });

  it('answers Rapid Commit with a committed Reply only where the subnet allows it (§18.3.1)', async () => {
    const plain = new World();
    expect(reply(await plain.send(msg(MsgType.SOLICIT, 1, [iaNa(1), { kind: 'RAPID_COMMIT' }]))).type).toBe(MsgType.ADVERTISE);
    const cfg = structuredClone((await import('./harness.js')).baseConfig) as { subnets: { rapidCommit?: boolean }[] };
    cfg.subnets[0]!.rapidCommit = true;
    const w = new World(cfg);
    const m = reply(await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1), { kind: 'RAPID_COMMIT' }])));
    expect(m.type).toBe(MsgType.REPLY);
    expect(m.options.some((o) => o.kind === 'RAPID_COMMIT')).toBe(true);
    expect(w.store.byIa(duidHex(1), 1, 'na')).toHaveLength(1);
  });

  it('hands out different addresses to different clients and to two IAs of one client', async () => {
    const w = new World();
    const seen = new Set<string>();
    for (let c = 1; c <= 50; c++) {
      const g = granted(reply(await w.send(msg(MsgType.REQUEST, c, [iaNa(1), iaNa(2), iaPd(3), iaPd(4)], true))));
      expect(g).toHaveLength(4);
      for (const l of g) {
        expect(seen.has(l.resource)).toBe(false);
        seen.add(l.resource);
      }
    }
  });

  it('drops a Solicit that carries a Server Identifier or lacks a Client Identifier (§16.2)', async () => {
    const w = new World();
    expect(await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1)], true))).toEqual({ kind: 'drop', reason: 'unexpected-server-id' });
    expect(await w.send(msg(MsgType.SOLICIT, undefined, [iaNa(1)]))).toEqual({ kind: 'drop', reason: 'missing-client-id' });
  });

  it('drops a Solicit sent to a unicast address (§16)', async () => {
    const w = new World();
    expect(await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1)]), { unicast: true })).toEqual({ kind: 'drop', reason: 'unicast-not-allowed' });
  });

  it('uses a valid hint from the client', async () => {
    const w = new World();
    const g = granted(reply(await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1, ['2001:db8:1::1234']), iaPd(2, ['2001:db8:80aa:bb00::/56'])]))));
    expect(g.map((l) => l.resource)).toEqual(['2001:db8:1::1234', '2001:db8:80aa:bb00::/56']);
  });
});

describe('Request (RFC 8415 §18.3.2)', () => {
  it('commits what the Advertise offered', async () => {
    const w = new World();
    const offered = granted(reply(await w.send(msg(MsgType.SOLICIT, 7, [iaNa(1), iaPd(2)])))).map((l) => l.resource);
    const d = await w.send(msg(MsgType.REQUEST, 7, [iaNa(1), iaPd(2)], true));
    expect(granted(reply(d)).map((l) => l.resource)).toEqual(offered);
    const lease = w.store.byResource(offered[0]!);
    expect(lease).toMatchObject({ duid: duidHex(7), iaid: 1, type: 'na', state: 'active', expiresAtSec: T0 + 4000, clttSec: T0 });
    expect(w.store.byResource(offered[1]!)).toMatchObject({ type: 'pd', iaid: 2, expiresAtSec: T0 + 8000 });
  });

  it('drops a Request without our Server Identifier (§16.4)', async () => {
    const w = new World();
    expect(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)]))).toEqual({ kind: 'drop', reason: 'missing-server-id' });
    const other = msg(MsgType.REQUEST, 1, [iaNa(1), { kind: 'SERVERID', duid: Uint8Array.from([0, 2, 0, 0, 0, 9, 1]) }]);
    expect(await w.send(other)).toEqual({ kind: 'drop', reason: 'not-our-server-id' });
  });

  it('answers a unicast Request with UseMulticast and nothing else (§18.4)', async () => {
    const w = new World();
    const m = reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true), { unicast: true }));
    expect(statuses(m)).toEqual({ top: StatusCode.UseMulticast });
    expect(granted(m)).toEqual([]);
    expect(w.store.size).toBe(0);
  });

  it('returns NotOnLink for an IA_NA naming an address off the client link', async () => {
    const w = new World();
    const m = reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1, ['2001:db8:99::1']), iaPd(2)], true)));
    expect(statuses(m)).toEqual({ 'IA_NA:1': StatusCode.NotOnLink });
    expect(granted(m).map((l) => l.type)).toEqual(['pd']);
  });

  it('returns NoAddrsAvail / NoPrefixAvail when the pools are exhausted', async () => {
    const w = new World({
      interfaces: ['lan0'],
      subnets: [
        {
          name: 'tiny',
          interface: 'lan0',
          prefix: '2001:db8:1::/64',
          pools: ['2001:db8:1::10-2001:db8:1::11'],
          pdPools: [{ prefix: '2001:db8:8000::/55', delegatedLength: 56 }],
        },
      ],
    });
    for (const c of [1, 2]) expect(granted(reply(await w.send(msg(MsgType.REQUEST, c, [iaNa(1), iaPd(2)], true))))).toHaveLength(2);
    const m = reply(await w.send(msg(MsgType.REQUEST, 3, [iaNa(1), iaPd(2)], true)));
    expect(statuses(m)).toEqual({ 'IA_NA:1': StatusCode.NoAddrsAvail, 'IA_PD:2': StatusCode.NoPrefixAvail });
    expect(granted(m)).toEqual([]);
  });

  it('never gives out the subnet-router anycast or reserved anycast identifiers (RFC 5453)', async () => {
    const w = new World({
      interfaces: ['lan0'],
      subnets: [{ name: 'edge', interface: 'lan0', prefix: '2001:db8:1::/64', pools: ['2001:db8:1::-2001:db8:1::1'] }],
    });
    const g = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true))));
    expect(g.map((l) => l.resource)).toEqual(['2001:db8:1::1']);
    const m = reply(await w.send(msg(MsgType.REQUEST, 2, [iaNa(1)], true)));
    expect(statuses(m)).toEqual({ 'IA_NA:1': StatusCode.NoAddrsAvail });
  });

  it('is deterministic: the same inputs give the same decision', async () => {
    const a = new World();
    const b = new World();
    for (let c = 1; c <= 20; c++) {
      const m = msg(MsgType.REQUEST, c, [iaNa(c), iaPd(c)], true);
      expect(await a.send(m)).toEqual(await b.send(m));
    }
  });
});

describe('Renew and Rebind (RFC 8415 §18.3.4, §18.3.5)', () => {
  it('Renew extends the binding and keeps the same address and prefix', async () => {
    const w = new World();
    const first = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1), iaPd(2)], true))));
    w.nowSec += 1500;
    const held = first.map((l) => l.resource);
    const m = reply(await w.send(msg(MsgType.RENEW, 1, [iaNa(1, [held[0]!]), iaPd(2, [held[1]!])], true)));
    expect(granted(m).map((l) => l.resource)).toEqual(held);
    expect(w.store.byResource(held[0]!)!.expiresAtSec).toBe(T0 + 1500 + 4000);
    expect(w.store.byResource(held[1]!)!.clttSec).toBe(T0 + 1500);
  });

  it('Renew with no binding reinstates the client lease when it is free (lease stability)', async () => {
    const w = new World();
    const m = reply(await w.send(msg(MsgType.RENEW, 1, [iaNa(1, ['2001:db8:1::1abc'])], true)));
    expect(granted(m).map((l) => [l.resource, l.validSec])).toEqual([['2001:db8:1::1abc', 4000]]);
    expect(w.store.byResource('2001:db8:1::1abc')?.duid).toBe(duidHex(1));
  });

  it('Renew for an address another client holds answers NoBinding', async () => {
    const w = new World();
    const taken = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true))))[0]!.resource;
    const m = reply(await w.send(msg(MsgType.RENEW, 2, [iaNa(1, [taken])], true)));
    expect(statuses(m)).toEqual({ 'IA_NA:1': StatusCode.NoBinding });
    expect(w.store.byResource(taken)?.duid).toBe(duidHex(1));
  });

  it('Rebind of an unknown IA with nothing to say is not answered', async () => {
    const w = new World();
    expect(await w.send(msg(MsgType.REBIND, 1, [iaNa(1)]))).toEqual({ kind: 'drop', reason: 'rebind-nothing-to-say' });
  });

  it('Rebind of an address not valid on the link answers it with zero lifetimes', async () => {
    const w = new World();
    const m = reply(await w.send(msg(MsgType.REBIND, 1, [iaNa(1, ['2001:db8:55::1'])])));
    expect(granted(m).map((l) => [l.resource, l.preferredSec, l.validSec])).toEqual([['2001:db8:55::1', 0, 0]]);
    expect(w.store.size).toBe(0);
  });

  it('Rebind extends a known binding', async () => {
    const w = new World();
    const held = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaPd(9)], true))))[0]!.resource;
    w.nowSec += 7000;
    const m = reply(await w.send(msg(MsgType.REBIND, 1, [iaPd(9, [held])])));
    expect(granted(m)[0]).toMatchObject({ resource: held, validSec: 8000 });
  });

  it('revokes with zero lifetimes a lease the configuration no longer covers', async () => {
    const w = new World();
    const held = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true))))[0]!.resource;
    const cfg = structuredClone((await import('./harness.js')).baseConfig);
    cfg.subnets[0]!.pools = ['2001:db8:1::2000-2001:db8:1::2fff'];
    const moved = new World(cfg);
    await moved.ready;
    await moved.store.apply([...w.store.all()].map((lease) => ({ op: 'put' as const, lease })));
    const g = granted(reply(await moved.send(msg(MsgType.RENEW, 1, [iaNa(1, [held])], true))));
    expect(g).toContainEqual(expect.objectContaining({ resource: held, preferredSec: 0, validSec: 0 }));
    expect(g.some((l) => l.validSec > 0)).toBe(false);
  });
});

describe('Release and Decline (RFC 8415 §18.3.7, §18.3.8)', () => {
  it('Release frees the lease; an unknown IA gets NoBinding; the client gets it back later (affinity)', async () => {
    const w = new World();
    const held = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1), iaPd(2)], true)))).map((l) => l.resource);
    const m = reply(await w.send(msg(MsgType.RELEASE, 1, [iaNa(1, [held[0]!]), iaPd(2, [held[1]!]), iaNa(5)], true)));
    expect(statuses(m)).toEqual({ top: StatusCode.Success, 'IA_NA:5': StatusCode.NoBinding });
    expect(w.store.byResource(held[0]!)?.state).toBe('released');
    expect(w.store.byResource(held[1]!)?.state).toBe('released');
    const again = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1), iaPd(2)], true)))).map((l) => l.resource);
    expect(again).toEqual(held);
  });

  it('a released address may go to another client', async () => {
    const w = new World({
      interfaces: ['lan0'],
      subnets: [{ name: 'one', interface: 'lan0', prefix: '2001:db8:1::/64', pools: ['2001:db8:1::10-2001:db8:1::10'] }],
    });
    await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true));
    await w.send(msg(MsgType.RELEASE, 1, [iaNa(1, ['2001:db8:1::10'])], true));
    expect(granted(reply(await w.send(msg(MsgType.REQUEST, 2, [iaNa(1)], true))))[0]?.resource).toBe('2001:db8:1::10');
    expect(w.store.byResource('2001:db8:1::10')?.duid).toBe(duidHex(2));
  });

  it('Decline holds the address back from every client until the hold ends', async () => {
    const w = new World({
      interfaces: ['lan0'],
      declineHoldSec: 600,
      subnets: [{ name: 'one', interface: 'lan0', prefix: '2001:db8:1::/64', pools: ['2001:db8:1::10-2001:db8:1::10'] }],
    });
    await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true));
    const m = reply(await w.send(msg(MsgType.DECLINE, 1, [iaNa(1, ['2001:db8:1::10'])], true)));
    expect(statuses(m)).toEqual({ top: StatusCode.Success });
    expect(w.store.byResource('2001:db8:1::10')).toMatchObject({ state: 'declined', expiresAtSec: T0 + 600 });
    for (const c of [1, 2])
      expect(statuses(reply(await w.send(msg(MsgType.REQUEST, c, [iaNa(1)], true))))).toEqual({ 'IA_NA:1': StatusCode.NoAddrsAvail });
    w.nowSec += 601;
    expect(await w.reclaim()).toBe(1);
    expect(granted(reply(await w.send(msg(MsgType.REQUEST, 2, [iaNa(1)], true))))[0]?.resource).toBe('2001:db8:1::10');
  });
});

describe('Confirm and Information-request (RFC 8415 §18.3.3, §18.3.6)', () => {
  it('Confirm answers Success when every address is on link, NotOnLink otherwise, nothing without addresses', async () => {
    const w = new World();
    expect(statuses(reply(await w.send(msg(MsgType.CONFIRM, 1, [iaNa(1, ['2001:db8:1::5'])]))))).toEqual({ top: StatusCode.Success });
    expect(statuses(reply(await w.send(msg(MsgType.CONFIRM, 1, [iaNa(1, ['2001:db8:1::5']), iaNa(2, ['2001:db8:7::5'])]))))).toEqual({
      top: StatusCode.NotOnLink,
    });
    expect(await w.send(msg(MsgType.CONFIRM, 1, [iaNa(1)]))).toEqual({ kind: 'drop', reason: 'confirm-undecidable' });
  });

  it('Information-request gets the requested options, with or without a Client Identifier', async () => {
    const w = new World();
    const m = reply(await w.send(msg(MsgType.INFORMATION_REQUEST, undefined, [oro(OptionCode.DNS_SERVERS, OptionCode.DOMAIN_LIST)])));
    expect(m.options.map((o) => o.kind)).toEqual(['SERVERID', 'DNS_SERVERS', 'DOMAIN_LIST']);
    expect(m.options[2]).toEqual({ kind: 'DOMAIN_LIST', domains: ['lab.example'] });
  });

  it('drops an Information-request that carries an IA (§16.12)', async () => {
    const w = new World();
    expect(await w.send(msg(MsgType.INFORMATION_REQUEST, 1, [iaNa(1)]))).toEqual({ kind: 'drop', reason: 'ia-in-information-request' });
  });
});

describe('what a server never accepts (§16)', () => {
  it.each([
    [MsgType.ADVERTISE, 'server-msg-type'],
    [MsgType.REPLY, 'server-msg-type'],
    [MsgType.RECONFIGURE, 'server-msg-type'],
    [99, 'unknown-msg-type'],
    [0, 'unknown-msg-type'],
  ])('drops message type %i as %s', async (type, reason) => {
    const w = new World();
    expect(await w.send(msg(type, 1, [iaNa(1)]))).toEqual({ kind: 'drop', reason });
  });
});

describe('reservations', () => {
  it('a reserved client gets its fixed address and prefix; nobody else ever does', async () => {
    const base = (await import('./harness.js')).baseConfig;
    const config = structuredClone(base) as typeof base & { subnets: Record<string, unknown>[] };
    config.subnets[0]!['reservations'] = [{ duid: duidHex(42), address: '2001:db8:1::1042', prefix: '2001:db8:8042::/56' }];
    const w = new World(config);
    const g = granted(reply(await w.send(msg(MsgType.REQUEST, 42, [iaNa(1), iaPd(2)], true))));
    expect(g.map((l) => l.resource)).toEqual(['2001:db8:1::1042', '2001:db8:8042::/56']);
    const other = granted(
      reply(await w.send(msg(MsgType.REQUEST, 43, [iaNa(1, ['2001:db8:1::1042']), iaPd(2, ['2001:db8:8042::/56'])], true))),
    );
    expect(other.map((l) => l.resource)).not.toContain('2001:db8:1::1042');
    expect(other.map((l) => l.resource)).not.toContain('2001:db8:8042::/56');
  });
});

describe('relayed clients (RFC 8415 §19)', () => {
  const relay = (linkAddress: string) => ({ type: 12 as const, hopCount: 0, linkAddress, peerAddress: 'fe80::1', options: [] });
  it('selects the subnet by the relay link-address', async () => {
    const w = new World();
    const g = granted(
      reply(await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1), iaPd(2)]), { iface: 'wan0', unicast: true, relays: [relay('2001:db8:2::1')] })),
    );
    expect(g[0]!.resource).toMatch(/^2001:db8:2::1[0-9a-f]{2}$/);
    expect(g[1]!.resource).toMatch(/^2001:db8:9000:[0-9a-f]*0::\/60$|^2001:db8:9000::\/60$/);
  });
  it('uses the innermost non-zero link-address of nested relays', async () => {
    const w = new World();
    const g = granted(
      reply(
        await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1)]), {
          iface: 'x',
          unicast: true,
          relays: [relay('2001:db8:1::1'), relay('2001:db8:2::1'), relay('::')],
        }),
      ),
    );
    expect(g[0]!.resource.startsWith('2001:db8:2::')).toBe(true);
  });
  it('drops a client on a link it serves no subnet for', async () => {
    const w = new World();
    expect(await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1)]), { iface: 'x', unicast: true, relays: [relay('2001:db8:77::1')] })).toEqual({
      kind: 'drop',
      reason: 'unknown-link',
    });
    expect(await w.send(msg(MsgType.SOLICIT, 1, [iaNa(1)]), { iface: 'eth9' })).toEqual({ kind: 'drop', reason: 'unknown-link' });
  });
});

describe('expiry', () => {
  it('an active lease past its valid lifetime expires, then returns to the pool after the affinity hold', async () => {
    const w = new World({
      interfaces: ['lan0'],
      affinitySec: 100,
      subnets: [{ name: 'one', interface: 'lan0', prefix: '2001:db8:1::/64', pools: ['2001:db8:1::10-2001:db8:1::10'] }],
    });
    await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true));
    w.nowSec += 7200;
    expect(await w.reclaim()).toBe(1);
    expect(w.store.byResource('2001:db8:1::10')).toMatchObject({ state: 'expired', expiresAtSec: w.nowSec + 100 });
    w.nowSec += 101;
    expect(await w.reclaim()).toBe(1);
    expect(w.store.size).toBe(0);
  });
  it('an address whose lease lapsed is free for another client even before reclaim runs', async () => {
    const w = new World({
      interfaces: ['lan0'],
      subnets: [{ name: 'one', interface: 'lan0', prefix: '2001:db8:1::/64', pools: ['2001:db8:1::10-2001:db8:1::10'] }],
    });
    await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true));
    w.nowSec += 7201;
    expect(granted(reply(await w.send(msg(MsgType.REQUEST, 2, [iaNa(1)], true))))[0]?.resource).toBe('2001:db8:1::10');
    expect(w.store.byIa(duidHex(1), 1, 'na')).toHaveLength(0);
  });
});

describe('failover policy hooks', () => {
  it('caps valid lifetimes and refuses to answer as the policy says', async () => {
    const w = new World();
    w.policy = { mayAnswer: (t) => t !== MsgType.REBIND, mayAllocate: () => true, capValidSec: () => 900 };
    const g = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1), iaPd(2)], true))));
    expect(g.map((l) => [l.preferredSec, l.validSec])).toEqual([
      [900, 900],
      [900, 900],
    ]);
    expect(g[0]).toMatchObject({ t1Sec: 450, t2Sec: 720 });
    expect(await w.send(msg(MsgType.REBIND, 1, [iaNa(1)]))).toEqual({ kind: 'drop', reason: 'policy' });
  });
  it('allocates only what the policy allows', async () => {
    const w = new World();
    w.policy = { mayAnswer: () => true, mayAllocate: (r) => r.endsWith('1'), capValidSec: (_r, _c, v) => v };
    const g = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true))));
    expect(g[0]!.resource.endsWith('1')).toBe(true);
  });
});

// Found by the failover simulation (src/testing/sim/): each of these let a partner's client lose a valid lease or two clients share one.
describe('failover policy hooks: what the simulation found', () => {
  const ONE = {
    interfaces: ['lan0'],
    affinitySec: 100,
    subnets: [{ name: 'one', interface: 'lan0', prefix: '2001:db8:1::/64', pools: ['2001:db8:1::10-2001:db8:1::1f'] }],
  };
  const notOurs = { mayAnswer: () => true, mayAllocate: () => false, capValidSec: (_r: string, _c: unknown, v: number) => v };

  it('Rebind of a lease that is not ours to hand out (a partner lease we have no record of) leaves it out instead of zeroing it (RFC 8415 §18.3.5)', async () => {
    const w = new World(ONE);
    w.policy = notOurs;
    expect(await w.send(msg(MsgType.REBIND, 1, [iaNa(1, ['2001:db8:1::11'])]))).toEqual({ kind: 'drop', reason: 'rebind-nothing-to-say' });
    // …but one bound to another client is still not this client's to keep.
    w.policy = { ...notOurs, mayAllocate: () => true };
    await w.send(msg(MsgType.REQUEST, 2, [iaNa(1, ['2001:db8:1::11'])], true));
    w.policy = notOurs;
    const m = reply(await w.send(msg(MsgType.REBIND, 1, [iaNa(1, ['2001:db8:1::11'])])));
    expect(granted(m).map((l) => [l.resource, l.validSec])).toEqual([['2001:db8:1::11', 0]]);
  });

  it("a client's own ended lease is a new allocation: the policy decides, told it is the same client", async () => {
    const w = new World(ONE);
    await w.send(msg(MsgType.REQUEST, 1, [iaNa(1, ['2001:db8:1::11'])], true));
    await w.send(msg(MsgType.RELEASE, 1, [iaNa(1, ['2001:db8:1::11'])], true));
    const asked: [string, boolean | undefined][] = [];
    w.policy = { ...notOurs, mayAllocate: (r, _t, same) => (asked.push([r, same]), false) };
    const m = reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1, ['2001:db8:1::11'])], true)));
    expect(granted(m).some((l) => l.resource === '2001:db8:1::11')).toBe(false);
    expect(asked).toContainEqual(['2001:db8:1::11', true]);
  });

  it('a renewal capped lower than what the client holds never shortens the record (a lost Reply leaves the client the longer lease)', async () => {
    const w = new World(ONE);
    const held = granted(reply(await w.send(msg(MsgType.REQUEST, 1, [iaNa(1)], true))))[0]!.resource;
    w.nowSec += 100;
    w.policy = { ...notOurs, capValidSec: () => 30 };
    const m = reply(await w.send(msg(MsgType.RENEW, 1, [iaNa(1, [held])], true)));
    expect(granted(m)[0]).toMatchObject({ resource: held, validSec: 30 });
    expect(w.store.byResource(held)).toMatchObject({ clttSec: T0 + 100, validSec: 30, expiresAtSec: T0 + 7200 });
  });

  it('takes a last-resort resource only once nothing else is free, a hint or its own last lease included', async () => {
    const w = new World(ONE);
    const odd = (r: string) => /[13579bdf]$/.test(r);
    // Client 1's last lease, odd, ended: free for it, but not preferred.
    await w.send(msg(MsgType.REQUEST, 1, [iaNa(1, ['2001:db8:1::11'])], true));
    await w.send(msg(MsgType.RELEASE, 1, [iaNa(1, ['2001:db8:1::11'])], true));
    expect(w.store.byResource('2001:db8:1::11')).toMatchObject({ duid: duidHex(1), state: 'released' });
    w.policy = { ...standalone(), lastResort: (r) => odd(r) };
    const got: string[] = [];
    for (let c = 1; c <= 8; c++)
      got.push(granted(reply(await w.send(msg(MsgType.REQUEST, c, [iaNa(1, ['2001:db8:1::13'])], true))))[0]!.resource);
    expect(got.filter(odd)).toEqual([]);
    expect(new Set(got).size).toBe(8);
    // The even half is gone: now the hint.
    expect(granted(reply(await w.send(msg(MsgType.REQUEST, 9, [iaNa(1, ['2001:db8:1::13'])], true))))[0]!.resource).toBe('2001:db8:1::13');
    expect(odd(granted(reply(await w.send(msg(MsgType.REQUEST, 10, [iaNa(1)], true))))[0]!.resource)).toBe(true);
  });

  it('reclaim keeps a released lease the policy may not forget yet, and looks again later', async () => {
    const w = new World(ONE);
    await w.send(msg(MsgType.REQUEST, 1, [iaNa(1, ['2001:db8:1::11'])], true));
    await w.send(msg(MsgType.RELEASE, 1, [iaNa(1, ['2001:db8:1::11'])], true));
    w.nowSec += 101;
    w.policy = { ...standalone(), mayForget: () => false };
    expect(await w.reclaim()).toBe(1);
    expect(w.store.byResource('2001:db8:1::11')).toMatchObject({ state: 'released', expiresAtSec: w.nowSec + 60 });
    w.nowSec += 60;
    w.policy = standalone();
    expect(await w.reclaim()).toBe(1);
    expect(w.store.size).toBe(0);
  });
});

function standalone() {
  return { mayAnswer: () => true, mayAllocate: () => true, capValidSec: (_r: string, _c: unknown, v: number) => v };
}

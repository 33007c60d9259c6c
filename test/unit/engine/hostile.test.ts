// What a hostile LAN host can make the engine do with well-formed messages:
// odd hints, thousands of IAs, one DUID taking a pool. Every test here failed
// on the engine before it checked hints at its edge and bounded IAs, leases
// per client and candidate checks per message (issue #16 A and B).

import { describe, expect, it } from 'vitest';
import { StatusCode } from '../../../src/wire/constants.js';
import { encodeLease } from '../../../src/store/record.js';
import { ALLOC_CHECKS_PER_MESSAGE } from '../../../src/engine/allocate.js';
import { HINTS_PER_IA_MAX } from '../../../src/engine/handle.js';
import { addressFromBigInt, addressToBigInt } from '../../../src/wire/address.js';
import { baseConfig, duidHex, granted, iaNa, iaPd, msg, MsgType, reply, statuses, World } from './harness.js';

const withLimits = (limits: Record<string, number>) => ({ ...baseConfig, limits });

describe('client hints are checked at the engine edge', () => {
  it('ignores an IAPREFIX hint with host bits set beyond its length; the granted prefix is canonical and storable', async () => {
    const w = new World();
    // The packet that killed twin6d: a /56 hint inside the pool with bits set past bit 56.
    const bad = '2001:db8:80fa:e00:0:2000::/56';
    for (const type of [MsgType.SOLICIT, MsgType.REQUEST]) {
      const d = await w.send(msg(type, 1, [iaPd(1, [bad])], type === MsgType.REQUEST));
      if (d.kind === 'drop') expect(d.reason).toBe('not-our-server-id'); // the Request names no server here: dropped, fine
      if (d.kind !== 'reply') continue;
      const rows = granted(d.reply);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.resource).not.toBe(bad);
      expect(d.refusals).toContain('hint-not-canonical');
    }
    // Rapid Commit commits: every change must encode.
    const rc = new World({ ...baseConfig, subnets: baseConfig.subnets.map((s) => ({ ...s, rapidCommit: true })) });
    const d = await rc.send(msg(MsgType.SOLICIT, 2, [iaPd(1, [bad]), { kind: 'RAPID_COMMIT' }]));
    expect(d.kind).toBe('reply');
    if (d.kind !== 'reply') return;
    expect(d.changes).toHaveLength(1);
    for (const c of d.changes) if (c.op === 'put') expect(() => encodeLease(c.lease, 1)).not.toThrow();
  });

  it('gives a Renew naming a non-canonical prefix no lease for it', async () => {
    const w = new World();
    const r = reply(await w.send(msg(MsgType.RENEW, 3, [iaPd(7, ['2001:db8:8000:101::/56'])], true)));
    expect(granted(r).filter((g) => g.validSec > 0)).toEqual([]);
    expect(w.store.size).toBe(0);
  });

  it(`looks at no more than ${HINTS_PER_IA_MAX} hints per IA`, async () => {
    const w = new World();
    const hints = Array.from({ length: 500 }, (_, i) => `2001:db8:1::${(0x1000 + i).toString(16)}`);
    const d = await w.send(msg(MsgType.SOLICIT, 4, [iaNa(1, hints)]));
    expect(d.kind === 'reply' && d.refusals).toContain('hints-per-ia');
    expect(granted(reply(d))).toHaveLength(1);
  });
});

describe('limits on IAs per message and leases per client', () => {
  it('serves at most limits.iasPerMessage IAs of each type and refuses the rest with a status', async () => {
    const w = new World(withLimits({ iasPerMessage: 2 }));
    const ias = [...Array.from({ length: 50 }, (_, i) => iaNa(i)), ...Array.from({ length: 50 }, (_, i) => iaPd(i))];
    const d = await w.send(msg(MsgType.REQUEST, 5, ias, true));
    const r = reply(d);
    expect(granted(r)).toHaveLength(4);
    expect(d.kind === 'reply' && d.changes).toHaveLength(4);
    const st = statuses(r);
    expect(st['IA_NA:2']).toBe(StatusCode.NoAddrsAvail);
    expect(st['IA_PD:49']).toBe(StatusCode.NoPrefixAvail);
    expect(d.kind === 'reply' && d.refusals?.filter((x) => x === 'ias-per-message')).toHaveLength(96);
  });

  it('defaults to 8 IAs of each type per message', async () => {
    const w = new World();
    const ias = Array.from({ length: 3000 }, (_, i) => iaNa(i));
    const d = await w.send(msg(MsgType.REQUEST, 6, ias, true));
    expect(d.kind === 'reply' && d.changes).toHaveLength(8);
  });

  it('stops a client at limits.leasesPerClient active leases across messages, and lets it renew what it holds', async () => {
    const w = new World(withLimits({ iasPerMessage: 4, leasesPerClient: 6 }));
    for (let m = 0; m < 5; m++) {
      await w.send(
        msg(
          MsgType.REQUEST,
          7,
          Array.from({ length: 4 }, (_, i) => iaNa(m * 4 + i)),
          true,
        ),
      );
    }
    expect(w.store.size).toBe(6);
    const refused = await w.send(msg(MsgType.REQUEST, 7, [iaPd(99)], true));
    expect(statuses(reply(refused))['IA_PD:99']).toBe(StatusCode.NoPrefixAvail);
    expect(refused.kind === 'reply' && refused.refusals).toEqual(['leases-per-client']);
    // Its own leases still renew.
    const held = [...w.store.all()].filter((l) => l.type === 'na');
    const renew = await w.send(
      msg(
        MsgType.RENEW,
        7,
        held.slice(0, 4).map((l) => iaNa(l.iaid, [l.resource])),
        true,
      ),
    );
    expect(granted(reply(renew)).filter((g) => g.validSec > 0)).toHaveLength(4);
    // Another client is not affected.
    const other = await w.send(msg(MsgType.REQUEST, 8, [iaNa(1), iaPd(1)], true));
    expect(granted(reply(other))).toHaveLength(2);
  });

  it('does not reinstate past the client limit on Renew either', async () => {
    const w = new World(withLimits({ leasesPerClient: 1 }));
    await w.send(msg(MsgType.REQUEST, 9, [iaNa(1)], true));
    const d = await w.send(msg(MsgType.RENEW, 9, [iaNa(2, ['2001:db8:1::1234'])], true));
    expect(statuses(reply(d))['IA_NA:2']).toBe(StatusCode.NoBinding);
    expect(w.store.size).toBe(1);
  });
});

describe('allocation work per message is bounded as pools fill', () => {
  it(`spends at most ${ALLOC_CHECKS_PER_MESSAGE} candidate checks on one message against an exhausted pool`, async () => {
    // A /52 → /64 prefix pool of 4096 entries, all taken: every IA of a many-IA Request scans it.
    const config = {
      ...baseConfig,
      limits: { iasPerMessage: 64, leasesPerClient: 4096 },
      subnets: [
        {
          ...baseConfig.subnets[0]!,
          pools: ['2001:db8:1::1000-2001:db8:1::1fff'],
          pdPools: [{ prefix: '2001:db8:8000::/52', delegatedLength: 64 }],
        },
      ],
    };
    const w = new World(config);
    await w.ready;
    const base = addressToBigInt('2001:db8:8000::');
    await w.store.apply(
      Array.from({ length: 4096 }, (_, i) => ({
        op: 'put' as const,
        lease: {
          resource: `${addressFromBigInt(base + (BigInt(i) << 64n))}/64`,
          type: 'pd' as const,
          duid: duidHex(100 + (i >> 6)),
          iaid: i & 63,
          state: 'active' as const,
          preferredSec: 6000,
          validSec: 8000,
          clttSec: w.nowSec,
          expiresAtSec: w.nowSec + 8000,
        },
      })),
    );
    expect(w.store.size).toBe(4096);
    let checks = 0;
    const view = w.store;
    const counting = new Proxy(view, {
      get(target, prop, recv) {
        if (prop === 'byResource') return (r: string) => (checks++, target.byResource(r));
        const v = Reflect.get(target, prop, recv) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const d = w.engine.handle(
      {
        message: msg(
          MsgType.REQUEST,
          999,
          Array.from({ length: 64 }, (_, i) => iaPd(i)),
          true,
        ),
        relays: [],
        interface: 'lan0',
        unicast: false,
      },
      { nowSec: w.nowSec, view: counting, policy: w.policy },
    );
    expect(d.kind === 'reply' && d.changes).toHaveLength(0);
    expect(d.kind === 'reply' && d.refusals).toContain('allocation-budget');
    // Each candidate costs one or two look-ups (the lease, then its own record); the old code made 64 × 4096 × 2.
    expect(checks).toBeLessThanOrEqual(2 * ALLOC_CHECKS_PER_MESSAGE + 64 * 4);
  });
});

import { describe, expect, it } from 'vitest';
import { failoverPolicy, type ServiceLevel } from '../../../src/failover/policy.js';
import { addressOwner, allPdPools, prefixOwner } from '../../../src/failover/ownership.js';
import { BackupPrefixes } from '../../../src/failover/backup-prefixes.js';
import { parseConfig } from '../../../src/config/index.js';
import { World, granted, iaPd, msg, reply, statuses, MsgType } from '../engine/harness.js';
import { serviceLevel } from '../../../src/failover/responsiveness.js';
import { ENDPOINT_STATES } from '../../../src/failover/states.js';
import { MemoryLeaseStore } from '../../../src/store/index.js';
import type { Lease } from '../../../src/engine/index.js';
import type { PrefixPool } from '../../../src/config/types.js';

const POOL: PrefixPool = { name: 'p', prefix: 0x2001_0db8_8000_0000_0000_0000_0000_0000n, prefixLength: 40, delegatedLength: 56 };
const NOW = 1_800_000_000;
const NORMAL: ServiceLevel = { answer: 'all', allocate: 'own', mcltCap: true };
const COMMS_INTERRUPTED: ServiceLevel = { answer: 'all', allocate: 'own', mcltCap: true };
const PARTNER_DOWN: ServiceLevel = { answer: 'all', allocate: 'partner-too', mcltCap: false };
const RENEW_ONLY: ServiceLevel = { answer: 'own-server-id', allocate: 'none', mcltCap: true };

function setup(role: 'primary' | 'secondary', service: ServiceLevel, opts: { partnerDownSinceSec?: number; now?: number } = {}) {
  const store = new MemoryLeaseStore();
  const backup = new BackupPrefixes([POOL], store);
  backup.add('2001:db8:8000:300::/56'); // handed to the secondary (§4.2.2)
  const policy = failoverPolicy({
    role,
    mcltSec: 3600,
    pdPools: () => [POOL],
    backup,
    service: () => service,
    partnerDownSinceSec: () => opts.partnerDownSinceSec,
    nowSec: () => opts.now ?? NOW,
    view: store,
  });
  return { store, policy };
}

const lease = (fo: Partial<NonNullable<Lease['fo']>>, over: Partial<Lease> = {}): Lease => ({
  resource: '2001:db8:1::11',
  type: 'na',
  duid: '00030001020000000001',
  iaid: 1,
  state: 'active',
  preferredSec: 100,
  validSec: 200,
  clttSec: NOW,
  expiresAtSec: NOW + 200,
  fo: { pending: false, partnerLifetimeSec: 0, ackedPartnerLifetimeSec: 0, expirationTimeSec: 0, startOfStateSec: NOW, ...fo },
  ...over,
});

describe('allocation split (RFC 8156 §4.2)', () => {
  it('gives odd addresses to the primary and even ones to the secondary (§4.2.1)', () => {
    expect(addressOwner('2001:db8:1::1')).toBe('primary');
    expect(addressOwner('2001:db8:1::ffff')).toBe('primary');
    expect(addressOwner('2001:db8:1::2')).toBe('secondary');
    expect(addressOwner('2001:db8:1::')).toBe('secondary');
  });

  it('gives the secondary the prefixes it was handed, the primary every other one of its pools (§4.2.2)', () => {
    const store = new MemoryLeaseStore();
    const backup = new BackupPrefixes([POOL], store);
    backup.add('2001:db8:8000:300::/56');
    const owner = (p: string) => prefixOwner(p, [POOL], (r) => backup.has(r));
    expect(owner('2001:db8:8000::/56')).toBe('primary');
    expect(owner('2001:db8:8000:300::/56')).toBe('secondary');
    expect(owner('2001:db9::/56')).toBeUndefined();
  });

  it('lets each side allocate only its own share while both run', () => {
    for (const role of ['primary', 'secondary'] as const) {
      const { policy } = setup(role, NORMAL);
      expect(policy.mayAllocate('2001:db8:1::11', 'na')).toBe(role === 'primary');
      expect(policy.mayAllocate('2001:db8:1::10', 'na')).toBe(role === 'secondary');
      expect(policy.mayAllocate('2001:db8:8000:300::/56', 'pd')).toBe(role === 'secondary');
    }
  });

  it('in PARTNER-DOWN uses the partner prefixes only after entry + MCLT, and never its addresses (§4.2.2.1)', () => {
    const early = setup('secondary', PARTNER_DOWN, { partnerDownSinceSec: NOW - 3599 }).policy;
    expect(early.mayAllocate('2001:db8:8000::/56', 'pd')).toBe(false);
    const late = setup('secondary', PARTNER_DOWN, { partnerDownSinceSec: NOW - 3600 }).policy;
    expect(late.mayAllocate('2001:db8:8000::/56', 'pd')).toBe(true);
    expect(late.mayAllocate('2001:db8:1::11', 'na')).toBe(false);
  });

  it('does not reallocate a released lease before the partner acknowledged the release (§7.4)', async () => {
    const { store, policy } = setup('primary', NORMAL);
    await store.open();
    await store.apply([{ op: 'put', lease: lease({ pending: true }, { state: 'released' }) }]);
    expect(policy.mayAllocate('2001:db8:1::11', 'na')).toBe(false);
    await store.apply([{ op: 'put', lease: lease({ pending: false }, { state: 'released' }) }]);
    expect(policy.mayAllocate('2001:db8:1::11', 'na')).toBe(true);
  });

  it('does not give a lease still active on record but past its end to another client: its expiry is not even reported yet (§7.4)', async () => {
    const { store, policy } = setup('primary', NORMAL);
    await store.open();
    await store.apply([{ op: 'put', lease: lease({ pending: false }, { expiresAtSec: NOW - 1 }) }]);
    expect(policy.mayAllocate('2001:db8:1::11', 'na')).toBe(false);
    expect(policy.mayAllocate('2001:db8:1::11', 'na', true)).toBe(true);
  });

  it('gives a client its own released lease back without waiting for the partner, but only from its own share', async () => {
    const { store, policy } = setup('secondary', COMMS_INTERRUPTED);
    await store.open();
    await store.apply([{ op: 'put', lease: lease({ pending: true }, { resource: '2001:db8:1::10', state: 'released' }) }]);
    expect(policy.mayAllocate('2001:db8:1::10', 'na')).toBe(false);
    expect(policy.mayAllocate('2001:db8:1::10', 'na', true)).toBe(true);
    await store.apply([{ op: 'put', lease: lease({ pending: true }, { state: 'released' }) }]);
    expect(policy.mayAllocate('2001:db8:1::11', 'na', true)).toBe(false); // the primary's address
  });

  it('keeps a released or expired lease on record until the partner acknowledged it (§7.4)', () => {
    const ended = lease({ pending: true, startOfStateSec: NOW - 100 }, { state: 'expired' });
    expect(setup('primary', NORMAL).policy.mayForget!(ended)).toBe(false);
    expect(setup('primary', NORMAL).policy.mayForget!({ ...ended, fo: { ...ended.fo!, pending: false } })).toBe(true);
  });

  it('in PARTNER-DOWN reuses an unacknowledged lease only MCLT past the latest the partner may believe it runs, and never before entry + MCLT (§8.4.1)', async () => {
    // Released here while the partner was down; its end (affinity hold) at NOW + 200, partner lifetime NOW + 500.
    const released = lease({ pending: true, partnerLifetimeSec: NOW + 500, startOfStateSec: NOW - 100 }, { state: 'released' });
    const at = (now: number, since = NOW) => {
      const { store, policy } = setup('primary', PARTNER_DOWN, { now, partnerDownSinceSec: since });
      return { store, policy };
    };
    for (const [now, ok] of [
      [NOW, false],
      [NOW + 500 + 3599, false],
      [NOW + 500 + 3600, true],
    ] as const) {
      const { store, policy } = at(now);
      await store.open();
      await store.apply([{ op: 'put', lease: released }]);
      expect([now - NOW, policy.mayAllocate(released.resource, 'na')]).toEqual([now - NOW, ok]);
      expect(policy.mayForget!(released)).toBe(ok);
      expect(policy.mayAllocate(released.resource, 'na', true)).toBe(true);
    }
    expect(at(NOW + 4100, NOW + 1000).policy.mayForget!(released)).toBe(false); // entry + MCLT not reached
  });

  it('allocates nothing in a state that forbids it', () => {
    expect(setup('primary', RENEW_ONLY).policy.mayAllocate('2001:db8:1::11', 'na')).toBe(false);
  });
});

describe('PARTNER-DOWN allocates from its own pool first (RFC 8156 §8.4.1)', () => {
  // 16 delegable /56s; the secondary was handed :300, :700, :b00 and :f00.
  const CONFIG = {
    interfaces: ['lan0'],
    subnets: [
      {
        name: 'lan',
        interface: 'lan0',
        prefix: '2001:db8:1::/64',
        pools: ['2001:db8:1::10-2001:db8:1::1f'],
        pdPools: [{ prefix: '2001:db8:8000::/52', delegatedLength: 56 }],
      },
    ],
  };
  const pools = allPdPools(parseConfig(CONFIG));
  const HANDED = ['2001:db8:8000:300::/56', '2001:db8:8000:700::/56', '2001:db8:8000:b00::/56', '2001:db8:8000:f00::/56'];
  const secondaryInPartnerDown = (sinceSec: number): World => {
    const w = new World(CONFIG);
    const backup = new BackupPrefixes(pools, w.store);
    for (const p of HANDED) backup.add(p);
    w.policy = failoverPolicy({
      role: 'secondary',
      mcltSec: 3600,
      backup,
      pdPools: () => pools,
      service: () => PARTNER_DOWN,
      partnerDownSinceSec: () => sinceSec,
      nowSec: () => w.nowSec,
      view: w.store,
    });
    return w;
  };
  const PARTNERS = '2001:db8:8000::/56';
  const request = async (w: World, client: number) => reply(await w.send(msg(MsgType.REQUEST, client, [iaPd(1, [PARTNERS])], true)));

  it("depletes its own share before the partner's, whatever the client hints, and takes the partner's only past entry + MCLT", async () => {
    const w = secondaryInPartnerDown(NOW - 3600);
    const owners: (string | undefined)[] = [];
    for (let c = 1; c <= 4; c++)
      owners.push(...granted(await request(w, c)).map((l) => prefixOwner(l.resource, pools, (r) => HANDED.includes(r))));
    expect(owners).toEqual(['secondary', 'secondary', 'secondary', 'secondary']);
    expect(granted(await request(w, 5)).map((l) => l.resource)).toEqual([PARTNERS]);

    const early = secondaryInPartnerDown(NOW - 3599);
    for (let c = 1; c <= 4; c++) await request(early, c);
    const m = await request(early, 5);
    expect([granted(m), statuses(m)['IA_PD:1']]).toEqual([[], 6]); // NoPrefixAvail
  });
});

describe('MCLT (RFC 8156 §4.4)', () => {
  it('starts a new lease at MCLT, whatever the desired lifetime', () => {
    const { policy } = setup('primary', NORMAL);
    expect(policy.capValidSec('x', undefined, 3 * 86_400)).toBe(3600);
    expect(policy.capValidSec('x', undefined, 600)).toBe(600);
  });

  it('allows MCLT beyond what the partner acknowledged (the §4.4.1 worked example)', () => {
    // t + ½h: Renew at T1 after the partner acked t + ½h + 3d.
    const t = NOW - 1800;
    const { policy } = setup('primary', NORMAL);
    const acked = lease({ ackedPartnerLifetimeSec: t + 1800 + 3 * 86_400 });
    expect(policy.capValidSec(acked.resource, acked, 3 * 86_400)).toBe(3 * 86_400);
    const little = lease({ ackedPartnerLifetimeSec: NOW + 600 });
    expect(policy.capValidSec(little.resource, little, 3 * 86_400)).toBe(600 + 3600);
  });

  it('caps at MCLT past max(acknowledged partner lifetime, now) in every state but PARTNER-DOWN, interrupted ones included (§3, §8.9.1, §8.11.1)', () => {
    // We acknowledged a long partner lifetime to the partner (expiration-time); it acknowledged little of ours.
    const known = lease({ ackedPartnerLifetimeSec: NOW + 600, expirationTimeSec: NOW + 7200 });
    const stale = lease({ ackedPartnerLifetimeSec: NOW - 100, expirationTimeSec: NOW + 7200 });
    for (const state of ENDPOINT_STATES) {
      for (const role of ['primary', 'secondary'] as const) {
        const { policy } = setup(role, serviceLevel(state, role));
        const expected = state === 'PARTNER-DOWN' ? [86_400, 86_400] : [600 + 3600, 3600];
        expect([state, role, policy.capValidSec(known.resource, known, 86_400), policy.capValidSec(stale.resource, stale, 86_400)]).toEqual(
          [state, role, ...expected],
        );
      }
    }
  });

  it('does not cap in PARTNER-DOWN (§8.4.1)', () => {
    expect(setup('secondary', PARTNER_DOWN).policy.capValidSec('x', undefined, 86_400)).toBe(86_400);
  });
});

describe('responsiveness (RFC 8156 §3)', () => {
  it('a renew-responsive server answers only messages carrying its own Server Identifier', () => {
    const { policy } = setup('secondary', RENEW_ONLY);
    expect(policy.mayAnswer(3, true)).toBe(true); // Request
    expect(policy.mayAnswer(5, true)).toBe(true); // Renew
    expect(policy.mayAnswer(5, false)).toBe(false);
    expect(policy.mayAnswer(1, false)).toBe(false); // Solicit
    expect(policy.mayAnswer(6, false)).toBe(false); // Rebind
  });
  it('an unresponsive server answers nothing; a responsive one everything', () => {
    expect(setup('primary', { ...NORMAL, answer: 'none' }).policy.mayAnswer(5, true)).toBe(false);
    expect(setup('primary', NORMAL).policy.mayAnswer(6, false)).toBe(true);
  });
});

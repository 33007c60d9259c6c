import { AssertionError } from 'node:assert';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeMeta, decodeSeqMarker, encodeMeta, encodeSeqMarker, leaseSeq } from '../../../src/store/record.js';
import { decodeLease, encodeLease, leaseKey, resourceOfKey } from '../../../src/store/index.js';
import { KEPT_BYTES_MAX, type Lease } from '../../../src/engine/lease.js';
import { naLease, pdLease } from './helpers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex');

// Written out by hand from the layout in record.ts, not produced by the encoder.
const FIXTURE_LEASE: Lease = {
  resource: '2001:db8:8000:100::/56',
  type: 'pd',
  duid: '00030001005056000001',
  iaid: 0xdeadbeef,
  state: 'released',
  preferredSec: 1800,
  validSec: 3600,
  clttSec: 1_750_000_000,
  expiresAtSec: 1_750_003_600,
};
const FIXTURE_KEY = hex(`
  6c                                # 'l'
  20010db8800001000000000000000000  # 2001:db8:8000:100::
  38                                # /56
`);
const FIXTURE_BODY = hex(`
  01          # version
  01          # pd
  02          # released
  0a          # duid length 10
  deadbeef    # iaid
  00000708    # preferred 1800
  00000e10    # valid 3600
  684ee180    # cltt 1750000000
  0000684eef90 # expires 1750003600 (u48)
  000000000007 # seq 7 (u48)
  00030001005056000001 # DUID-LL
`);
/** The fixture as a version-2 record with these extension bytes, sealed with its CRC. */
const fixtureWith = (ext: Buffer): Buffer => {
  const body = Buffer.concat([Buffer.from([2]), FIXTURE_BODY.subarray(1), ext]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body, crc32(FIXTURE_KEY)));
  return Buffer.concat([body, crc]);
};
const fixtureValue = (): Buffer => {
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(FIXTURE_BODY, crc32(FIXTURE_KEY)));
  return Buffer.concat([FIXTURE_BODY, crc]);
};

describe('lease record', () => {
  it('encodes to the documented layout, byte for byte', () => {
    const { key, value } = encodeLease(FIXTURE_LEASE, 7);
    expect(key.toString('hex')).toBe(FIXTURE_KEY.toString('hex'));
    expect(value.toString('hex')).toBe(fixtureValue().toString('hex'));
    expect(key.length + value.length).toBe(64);
  });

  it('decodes the hand-written fixture', () => {
    expect(decodeLease(FIXTURE_KEY, fixtureValue())).toEqual(FIXTURE_LEASE);
    expect(leaseSeq(fixtureValue())).toBe(7);
  });

  it('round-trips extremes: u32 limits, u48 expiry, the largest DUID, /0 and /128 prefixes', () => {
    const cases: Lease[] = [
      naLease(1, { iaid: 0, preferredSec: 0, validSec: 0, clttSec: 0, expiresAtSec: 0 }),
      naLease(2, { iaid: 0xffffffff, preferredSec: 0xffffffff, validSec: 0xffffffff, clttSec: 0xffffffff, expiresAtSec: 2 ** 48 - 1 }),
      naLease(3, { duid: 'ab'.repeat(130), state: 'expired' }),
      pdLease(4, { resource: '::/0' }),
      pdLease(5, { resource: '2001:db8::1/128', state: 'declined' }),
      naLease(6, { resource: '::' }),
    ];
    for (const l of cases) {
      const { key, value } = encodeLease(l, 2 ** 48 - 1);
      expect(decodeLease(key, value)).toEqual(l);
      expect(leaseSeq(value)).toBe(2 ** 48 - 1);
    }
  });

  it('keeps a bare address and its /128 apart', () => {
    expect(leaseKey('2001:db8::1').equals(leaseKey('2001:db8::1/128'))).toBe(false);
    expect(resourceOfKey(leaseKey('2001:db8::1/128'))).toBe('2001:db8::1/128');
  });

  it('refuses what it cannot store exactly', () => {
    const bad: Lease[] = [
      naLease(1, { resource: '2001:0db8::1' }),
      naLease(1, { resource: '2001:db8::1%eth0' }),
      pdLease(1, { resource: '2001:db8::/056' }),
      pdLease(1, { resource: '2001:db8::/129' }),
      naLease(1, { duid: '' }),
      naLease(1, { duid: 'ab'.repeat(131) }),
      naLease(1, { clttSec: -1 }),
      naLease(1, { expiresAtSec: 2 ** 48 }),
      naLease(1, { expiresAtSec: Number.POSITIVE_INFINITY }),
      naLease(1, { preferredSec: Number.NaN }),
      { ...naLease(1), type: 'ta' as never },
    ];
    for (const l of bad) expect(() => encodeLease(l, 1), JSON.stringify(l)).toThrow(AssertionError);
    expect(() => encodeLease(naLease(1), -1)).toThrow(AssertionError);
  });

  it('names what is wrong with a bad record instead of throwing', () => {
    const key = FIXTURE_KEY;
    const value = fixtureValue();
    const with_ = (i: number, b: number): Buffer => {
      const v = Buffer.from(value);
      v[i] = b;
      return v;
    };
    expect(decodeLease(key, with_(0, 3))).toBe('version');
    expect(decodeLease(key, with_(8, value[8]! ^ 1))).toBe('crc');
    expect(decodeLease(key, with_(value.length - 1, value[value.length - 1]! ^ 0x80))).toBe('crc');
    expect(decodeLease(key, with_(3, 11))).toBe('decode'); // duid length vs size
    expect(decodeLease(key, value.subarray(0, 20))).toBe('decode');
    expect(decodeLease(key, Buffer.alloc(0))).toBe('decode');
    // The same value under another key fails: the CRC covers the key.
    const other = Buffer.from(key);
    other[7] = 0x02; // 2001:db8:8000:200::/56, still a well-formed key
    expect(decodeLease(other, value)).toBe('crc');
    // Keys that cannot be a lease at all.
    expect(decodeLease(key.subarray(0, 17), value)).toBe('key');
    const hostBits = Buffer.from(key);
    hostBits[15] = 1;
    expect(decodeLease(hostBits, value)).toBe('key');
    const length = Buffer.from(key);
    length[17] = 200;
    expect(decodeLease(length, value)).toBe('key');
  });

  it('keeps failover state in a version-2 extension, and plain leases in version 1', () => {
    const fo = {
      pending: true,
      partnerLifetimeSec: 2_000_000_123,
      ackedPartnerLifetimeSec: 2 ** 40,
      expirationTimeSec: 7,
      startOfStateSec: 1_800_000_000,
    };
    const lease: Lease = { ...naLease(3), fo };
    const { key, value } = encodeLease(lease, 9);
    expect(value[0]).toBe(2);
    expect(value.length).toBe(encodeLease(naLease(3), 9).value.length + 27);
    expect(decodeLease(key, value)).toEqual(lease);
    expect(encodeLease(naLease(3), 9).value[0]).toBe(1);
  });

  it('skips an extension it does not know, and calls a malformed one corrupt', () => {
    const { key, value } = encodeLease(
      {
        ...pdLease(4),
        fo: { pending: false, partnerLifetimeSec: 1, ackedPartnerLifetimeSec: 2, expirationTimeSec: 3, startOfStateSec: 4 },
      },
      1,
    );
    const reseal = (v: Buffer) => {
      v.writeUInt32BE(crc32(v.subarray(0, v.length - 4), crc32(key)), v.length - 4);
      return v;
    };
    // An unknown tag 9 with 3 bytes, before the CRC.
    const body = value.subarray(0, value.length - 4);
    const withUnknown = reseal(Buffer.concat([body, Buffer.from([9, 3, 1, 2, 3]), Buffer.alloc(4)]));
    expect(decodeLease(key, withUnknown)).toEqual(decodeLease(key, value));
    // An extension whose length runs past the CRC.
    const overrun = reseal(Buffer.concat([body, Buffer.from([9, 200, 1]), Buffer.alloc(4)]));
    expect(decodeLease(key, overrun)).toBe('decode');
  });

  it('keeps the requesting router of a delegation in extension 2, byte for byte as documented', () => {
    const via = { address: 'fe80::f884:51ff:fe63:f775', interface: 'lan0' };
    const lease: Lease = { ...FIXTURE_LEASE, via };
    const { key, value } = encodeLease(lease, 7);
    // Written out by hand from the layout in record.ts.
    const ext = hex(`
      02 15                             # tag 2 (via), 21 bytes
      fe80000000000000f88451fffe63f775  # fe80::f884:51ff:fe63:f775
      04 6c616e30                       # "lan0"
    `);
    expect(value.toString('hex')).toBe(fixtureWith(ext).toString('hex'));
    expect(decodeLease(key, value)).toEqual(lease);
    // A relayed delegation also keeps the relay; failover state and via live side by side.
    const relayed: Lease = {
      ...lease,
      via: { address: 'fe80::1', interface: 'eth1.100', relay: '2001:db8:2::1' },
      fo: { pending: true, partnerLifetimeSec: 1, ackedPartnerLifetimeSec: 2, expirationTimeSec: 3, startOfStateSec: 4 },
    };
    const both = encodeLease(relayed, 8);
    expect(decodeLease(both.key, both.value)).toEqual(relayed);
    // A plain lease is still version 1 and unchanged.
    expect(encodeLease(FIXTURE_LEASE, 7).value.toString('hex')).toBe(fixtureValue().toString('hex'));
  });

  it("keeps the partner's raw CLT (tag 3) and the client's T1/T2 (tag 4) in extensions of their own, byte for byte as documented", () => {
    const fo = {
      pending: false,
      partnerLifetimeSec: 0,
      ackedPartnerLifetimeSec: 0,
      expirationTimeSec: 0,
      startOfStateSec: 1_750_000_000,
      partnerRawCltSec: 1_750_000_005,
    };
    const lease: Lease = { ...FIXTURE_LEASE, fo, timers: { t1Sec: 900, t2Sec: 1440 } };
    const { key, value } = encodeLease(lease, 7);
    const ext = hex(`
      01 19 00 000000000000 000000000000 000000000000 0000684ee180  # tag 1, 25 bytes: failover state
      03 06 0000684ee185                                           # tag 3: partner raw CLT 1750000005
      04 08 00000384 000005a0                                      # tag 4: T1 900, T2 1440
    `);
    expect(value.toString('hex')).toBe(fixtureWith(ext).toString('hex'));
    expect(decodeLease(key, value)).toEqual(lease);
    // A record written before tags 3 and 4 existed (tag 1 alone) still decodes, with neither.
    const old = fixtureWith(ext.subarray(0, 27));
    const { partnerRawCltSec: _, ...oldFo } = fo;
    expect(decodeLease(key, old)).toEqual({ ...FIXTURE_LEASE, fo: oldFo });
    // A malformed length is corrupt, not misread.
    const broken = Buffer.from(value);
    broken[broken.length - 4 - 10 + 1] = 7;
    broken.writeUInt32BE(crc32(broken.subarray(0, broken.length - 4), crc32(key)), broken.length - 4);
    expect(decodeLease(key, broken)).toBe('decode');
  });

  it('keeps the client data for the partner in tag 5 chunks of at most 255 octets, and refuses more than KEPT_BYTES_MAX', () => {
    const fo = {
      pending: false,
      partnerLifetimeSec: 0,
      ackedPartnerLifetimeSec: 0,
      expirationTimeSec: 0,
      startOfStateSec: 1,
      clientData: Uint8Array.from({ length: 600 }, (_, i) => i % 251),
    };
    const lease: Lease = { ...FIXTURE_LEASE, fo };
    const { key, value } = encodeLease(lease, 7);
    const tail = value.subarray(value.length - 4 - 606, value.length - 4);
    expect([tail[0], tail[1], tail[257], tail[258], tail[514], tail[515]]).toEqual([5, 255, 5, 255, 5, 90]);
    expect(decodeLease(key, value)).toEqual(lease);
    expect(() => encodeLease({ ...lease, fo: { ...fo, clientData: new Uint8Array(KEPT_BYTES_MAX + 1) } }, 7)).toThrow(AssertionError);
  });

  it('refuses a via it cannot store, and calls a malformed via extension corrupt', () => {
    expect(() => encodeLease({ ...pdLease(1), via: { address: 'fe80::1', interface: '' } }, 1)).toThrow(AssertionError);
    expect(() => encodeLease({ ...pdLease(1), via: { address: 'fe80::1', interface: 'a-very-long-ifname' } }, 1)).toThrow(AssertionError);
    expect(() => encodeLease({ ...pdLease(1), via: { address: 'not-an-address', interface: 'lan0' } }, 1)).toThrow(AssertionError);
    const { key, value } = encodeLease({ ...pdLease(2), via: { address: 'fe80::1', interface: 'lan0' } }, 1);
    const broken = Buffer.from(value);
    const at = value.length - 4 - 21; // the extension
    broken[at + 18] = 9; // interface length past the extension
    broken.writeUInt32BE(crc32(broken.subarray(0, broken.length - 4), crc32(key)), broken.length - 4);
    expect(decodeLease(key, broken)).toBe('decode');
  });

  it('rejects a record whose type contradicts its key, even with a valid CRC', () => {
    // A pd record under a bare-address key: re-sign it so only the type check can catch it.
    const { value } = encodeLease(naLease(1, { resource: '2001:db8:8000:100::' }), 1);
    const key = leaseKey('2001:db8:8000:100::');
    const v = Buffer.from(value);
    v[1] = 1;
    v.writeUInt32BE(crc32(v.subarray(0, v.length - 4), crc32(key)), v.length - 4);
    expect(decodeLease(key, v)).toBe('decode');
  });
});

describe('meta and seq records', () => {
  it('round-trip and catch corruption', () => {
    const { key, value } = encodeMeta('server-duid', Uint8Array.of(0, 1, 2));
    expect(decodeMeta(key, value)).toEqual({ name: 'server-duid', bytes: Uint8Array.of(0, 1, 2) });
    const v = Buffer.from(value);
    v[2]! ^= 1;
    expect(decodeMeta(key, v)).toBe('crc');
    const m = encodeSeqMarker(123456789);
    expect(decodeSeqMarker(m.key, m.value)).toBe(123456789);
    const s = Buffer.from(m.value);
    s[3]! ^= 1;
    expect(decodeSeqMarker(m.key, s)).toBe('crc');
  });

  it('limits meta names and sizes', () => {
    expect(() => encodeMeta('', Uint8Array.of())).toThrow(AssertionError);
    expect(() => encodeMeta('a/b', Uint8Array.of())).toThrow(AssertionError);
    expect(() => encodeMeta('x'.repeat(65), Uint8Array.of())).toThrow(AssertionError);
    expect(() => encodeMeta('x', new Uint8Array(4097))).toThrow(AssertionError);
  });
});

import { describe, expect, it } from 'vitest';
import {
  decodeRouterAdvertisement,
  decodeRouterSolicitation,
  encodeRouterAdvertisement,
  encodeRouterSolicitation,
  routerAdvertisementLength,
  type RouterAdvertisement,
} from '../../../src/wire/ndp.js';
import { seedText, testSeed } from '../../seed.js';

/** The random bytes of the decoders' no-throw test (test/seed.ts). */
const BYTES_SEED = testSeed(7);

const hex = (s: string): Buffer => Buffer.from(s.replace(/#[^\n]*/g, '').replace(/\s+/g, ''), 'hex');
const MAC = Uint8Array.from([0x02, 0x00, 0x5e, 0x00, 0x53, 0x01]);

// Written out by hand from RFC 4861 §4.2, §4.6 and RFC 8106 §5, not produced by the encoder.
const RA_BYTES = hex(`
  86 00 0000          # type 134, code 0, checksum (the kernel's)
  40                  # cur hop limit 64
  c0                  # M | O, preference medium (00)
  0708                # router lifetime 1800
  00000000            # reachable time
  00000000            # retrans timer
  01 01 02005e005301  # source link-layer address 02:00:5e:00:53:01
  05 01 0000 000005dc # MTU 1500
  03 04 40 c0         # prefix information, /64, L | A
    00278d00          #   valid 2592000
    00093a80          #   preferred 604800
    00000000          #   reserved
    20010db8000100000000000000000000 # 2001:db8:1::
  19 03 0000 00000708 # RDNSS, lifetime 1800
    20010db8000100000000000000000053 # 2001:db8:1::53
  1f 03 0000 00000708 # DNSSL, lifetime 1800
    04 686f6d65 07 6578616d706c65 00 # home.example
    0000              # padding to 24 octets
`);

const RA_VALUE: RouterAdvertisement = {
  curHopLimit: 64,
  managed: true,
  otherConfig: true,
  preference: 'medium',
  routerLifetimeSec: 1800,
  reachableTimeMs: 0,
  retransTimerMs: 0,
  options: [
    { kind: 'SOURCE_LL_ADDR', address: MAC },
    { kind: 'MTU', mtu: 1500 },
    {
      kind: 'PREFIX_INFO',
      prefix: '2001:db8:1::',
      prefixLength: 64,
      onLink: true,
      autonomous: true,
      validSec: 2_592_000,
      preferredSec: 604_800,
    },
    { kind: 'RDNSS', lifetimeSec: 1800, servers: ['2001:db8:1::53'] },
    { kind: 'DNSSL', lifetimeSec: 1800, domains: ['home.example'] },
  ],
};

/** decode(encode(v)) equals v, the length is what was written, and a second cycle gives the same octets. */
function roundTrip(ra: RouterAdvertisement): Buffer {
  const bytes = encodeRouterAdvertisement(ra);
  expect(bytes.length).toBe(routerAdvertisementLength(ra));
  expect(bytes.length % 8).toBe(0);
  const back = decodeRouterAdvertisement(bytes);
  expect(back).toEqual({ ok: true, value: ra });
  if (!back.ok) throw new Error('unreachable');
  expect(encodeRouterAdvertisement(back.value)).toEqual(bytes);
  return bytes;
}

describe('Router Advertisement (RFC 4861 §4.2)', () => {
  it('encodes to the hand-written octets and decodes them back', () => {
    expect(encodeRouterAdvertisement(RA_VALUE).toString('hex')).toBe(RA_BYTES.toString('hex'));
    expect(decodeRouterAdvertisement(RA_BYTES)).toEqual({ ok: true, value: RA_VALUE });
  });

  it('round-trips every preference, zero lifetimes, several RDNSS servers and DNSSL names, and unknown options', () => {
    for (const preference of ['high', 'medium', 'low'] as const) roundTrip({ ...RA_VALUE, preference });
    roundTrip({
      ...RA_VALUE,
      managed: false,
      otherConfig: false,
      routerLifetimeSec: 0,
      curHopLimit: 0,
      reachableTimeMs: 0xffff_ffff,
      retransTimerMs: 1,
    });
    roundTrip({
      ...RA_VALUE,
      options: [
        { kind: 'RDNSS', lifetimeSec: 0, servers: ['2001:db8::1', '2001:db8::2', 'fd00::53'] },
        { kind: 'DNSSL', lifetimeSec: 0xffff_ffff, domains: ['a.example', 'bb.example', 'c'] },
        { kind: 'UNKNOWN', type: 24, data: Uint8Array.from([48, 0x18, 0, 0, 0, 0x70, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0]) }, // RFC 4191 route info
        { kind: 'PREFIX_INFO', prefix: '2001:db8:2::', prefixLength: 48, onLink: false, autonomous: false, validSec: 0, preferredSec: 0 },
      ],
    });
    roundTrip({ ...RA_VALUE, options: [] });
  });

  it('puts the preference in bits 3-4 of the flags (RFC 4191 §2.2) and reads the reserved value as medium', () => {
    expect(encodeRouterAdvertisement({ ...RA_VALUE, preference: 'high', managed: false, otherConfig: false })[5]).toBe(0x08);
    expect(encodeRouterAdvertisement({ ...RA_VALUE, preference: 'low', managed: false, otherConfig: false })[5]).toBe(0x18);
    const reserved = Buffer.from(RA_BYTES);
    reserved[5] = 0xd0; // M | O | prf 10
    const got = decodeRouterAdvertisement(reserved);
    expect(got.ok && got.value.preference).toBe('medium');
  });

  it('pads DNSSL with zeros to a multiple of 8 (RFC 8106 §5.2)', () => {
    const bytes = encodeRouterAdvertisement({ ...RA_VALUE, options: [{ kind: 'DNSSL', lifetimeSec: 1, domains: ['example'] }] });
    // 8 header octets + 9 name octets → 24, 7 of them padding.
    expect(bytes.length).toBe(16 + 24);
    expect(bytes[17]).toBe(3);
    expect(bytes.subarray(16 + 17).every((b) => b === 0)).toBe(true);
  });

  it('refuses malformed advertisements with a reason', () => {
    expect(decodeRouterAdvertisement(RA_BYTES.subarray(0, 15))).toMatchObject({ ok: false, reason: 'short' });
    const rdnssBadLength = Buffer.from(RA_BYTES);
    rdnssBadLength[16 + 8 + 8 + 32 + 1] = 2; // RDNSS length 2: not 1 + 2n
    expect(decodeRouterAdvertisement(rdnssBadLength)).toMatchObject({ ok: false, reason: 'bad-option' });
    const dnsslJunk = Buffer.from(RA_BYTES);
    dnsslJunk[dnsslJunk.length - 1] = 1; // non-zero padding
    expect(decodeRouterAdvertisement(dnsslJunk)).toMatchObject({ ok: false, reason: 'bad-option' });
    const pioShort = Buffer.from(RA_BYTES);
    pioShort[16 + 16 + 1] = 3;
    expect(decodeRouterAdvertisement(pioShort).ok).toBe(false);
  });
});

describe('Router Solicitation (RFC 4861 §4.1, §6.1.1)', () => {
  // As dhcpcd sends it: reserved, then its source link-layer address.
  const RS_WITH_SLLA = hex(`
    85 00 1c2d          # type 133, code 0, checksum
    00000000            # reserved
    01 01 fa845163f775  # source link-layer address fa:84:51:63:f7:75
  `);

  it('decodes a solicitation with a source link-layer address', () => {
    expect(decodeRouterSolicitation(RS_WITH_SLLA, false)).toEqual({
      ok: true,
      value: { options: [{ kind: 'SOURCE_LL_ADDR', address: Uint8Array.from([0xfa, 0x84, 0x51, 0x63, 0xf7, 0x75]) }] },
    });
    expect(decodeRouterSolicitation(hex('85 00 0000 00000000'), true)).toEqual({ ok: true, value: { options: [] } });
    const encoded = encodeRouterSolicitation({ options: [{ kind: 'SOURCE_LL_ADDR', address: MAC }] });
    expect(decodeRouterSolicitation(encoded, false)).toEqual({ ok: true, value: { options: [{ kind: 'SOURCE_LL_ADDR', address: MAC }] } });
  });

  it('keeps options it does not interpret in a solicitation as raw octets', () => {
    const rs = hex('85 00 0000 00000000  03 01 000000000000');
    expect(decodeRouterSolicitation(rs, false)).toEqual({
      ok: true,
      value: { options: [{ kind: 'UNKNOWN', type: 3, data: new Uint8Array(6) }] },
    });
  });

  it('names what is wrong with each malformed solicitation', () => {
    const cases: [string, string, boolean][] = [
      ['85 00 0000 0000', 'short', false], // §6.1.1: ICMP length 8 or more
      ['85 00 0000', 'short', false],
      ['85 01 0000 00000000', 'bad-code', false], // ICMP code 0
      ['86 00 0000 00000000', 'bad-type', false],
      ['85 00 0000 00000000 01 00 000000000000', 'zero-length-option', false], // all options length > 0
      ['85 00 0000 00000000 01 02 fa845163f775', 'option-overflow', false],
      ['85 00 0000 00000000 01', 'option-overflow', false],
      ['85 00 0000 00000000 01 01 fa845163f775', 'slla-from-unspecified', true], // no SLLA from ::
    ];
    for (const [bytes, reason, unspecified] of cases) {
      expect(decodeRouterSolicitation(hex(bytes), unspecified), bytes).toMatchObject({ ok: false, reason });
    }
  });

  it(`never throws on arbitrary bytes (${seedText(BYTES_SEED)})`, () => {
    let seed = BYTES_SEED;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(Array.from({ length: Math.floor(rnd() * 48) }, () => Math.floor(rnd() * 256)));
      if (b.length > 0) b[0] = rnd() < 0.5 ? 133 : 134;
      if (b.length > 1 && rnd() < 0.8) b[1] = 0;
      expect(() => decodeRouterSolicitation(b, rnd() < 0.5)).not.toThrow();
      expect(() => decodeRouterAdvertisement(b)).not.toThrow();
    }
  });
});

// What a partner can get wrong, and the typed error each mistake gives. The
// header travels with the error whenever it was readable, so a refused BNDUPD
// can still be answered (RFC 8156 §7.5.3) and a refused CONNECT rejected (§6.1.2).

import { describe, expect, it } from 'vitest';
import {
  decodePartnerFrame,
  encodePartnerFrame,
  FAILOVER_DECODE_REASONS,
  type FailoverDecodeReason,
} from '../../../../src/wire/failover/index.js';
import { concat, tlv } from '../helpers.js';
import { NOW, samplePdus } from './helpers.js';

const T = [0x2f, 0xce, 0x54, 0x80]; // NOW as absolute time
const head = (type: number, xid = 0x000102) => [type, xid >> 16, (xid >> 8) & 0xff, xid & 0xff, ...T];
const u32 = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const addr = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1];
const duid = [0, 3, 0, 1, 1, 2, 3, 4, 5, 6];

function expectError(bytes: Uint8Array, reason: FailoverDecodeReason, offset?: number, header = true): string {
  const r = decodePartnerFrame(bytes, NOW);
  if (r.ok) throw new Error(`expected ${reason}, decoded ${JSON.stringify(r.pdu)}`);
  expect(r.error.reason, r.error.detail).toBe(reason);
  if (offset !== undefined) expect(r.error.offset, r.error.detail).toBe(offset);
  expect(r.error.detail).not.toBe('');
  if (header) expect(r.error.header).toEqual({ type: bytes[0], transactionId: (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]! });
  return r.error.detail;
}

const connectOptions = [tlv(127, [0, 1, 0, 0]), tlv(122, u32(3600)), tlv(128, u32(60)), tlv(121, u32(10)), tlv(115, [0, 0])];
const lease = (...extra: Uint8Array[]) => tlv(5, addr, u32(100), u32(200), ...extra);
const iaNa = (...leases: Uint8Array[]) => tlv(3, u32(1), u32(50), u32(80), ...leases);
const clientData = (...subs: Uint8Array[]) => tlv(45, ...subs);
const goodLease = lease(tlv(114, [1]), tlv(133, T));

describe('headers', () => {
  it.each([0, 1, 4, 7])('a failover message of %i octets', (n) => {
    expectError(Uint8Array.from(head(24).slice(0, n)), 'truncated-header', 0, false);
  });

  it.each([1, 3])('a STARTTLS of %i octets', (n) => {
    expectError(Uint8Array.from([23, 0, 0, 1].slice(0, n)), 'truncated-header', 0, false);
  });

  it.each([0, 1, 12, 22, 36, 255])('message type %i is not for the partner link', (type) => {
    expect(expectError(Uint8Array.from(head(type)), 'unknown-message-type', 0)).toContain(`${type}`);
  });

  it('option framing errors keep the shared reasons and frame offsets', () => {
    expectError(concat(head(35), [0, 1, 0, 9, 1]), 'option-overflow', 8);
    expectError(concat(head(35), tlv(1, [0, 1])), 'bad-duid', 8);
    expectError(concat(head(35), [0, 1]), 'option-overflow', 8);
  });
});

describe('CONNECT, CONNECTREPLY, STATE', () => {
  it('accepts the minimal CONNECT', () => {
    expect(decodePartnerFrame(concat(head(31), ...connectOptions), NOW).ok).toBe(true);
  });

  it.each([
    [127, 'F_PROTOCOL_VERSION'],
    [122, 'F_MCLT'],
    [128, 'F_KEEPALIVE_TIME'],
    [121, 'F_MAX_UNACKED_BNDUPD'],
    [115, 'F_CONNECT_FLAGS'],
  ])('CONNECT without option %i (%s, §6.1.1)', (code, name) => {
    const options = connectOptions.filter((o) => o[1] !== code);
    expect(expectError(concat(head(31, 42), ...options), 'missing-option', 8)).toContain(name);
  });

  it('a duplicate F_MCLT is placed at the second one', () => {
    const bytes = concat(head(31), ...connectOptions, tlv(122, u32(7200)));
    expectError(bytes, 'duplicate-option', bytes.length - 8);
  });

  it('a bad option body is placed at that option', () => {
    expectError(concat(head(31), connectOptions[0]!, tlv(122, [0, 0, 1]), ...connectOptions.slice(2)), 'bad-option', 16);
  });

  it('a rejecting CONNECTREPLY needs no parameters; an accepting one does (§6.1.2)', () => {
    expect(decodePartnerFrame(concat(head(32), tlv(13, [0, 14])), NOW)).toMatchObject({
      ok: true,
      pdu: { content: { status: { code: 14 } } },
    });
    expectError(concat(head(32)), 'missing-option', 8);
    expectError(concat(head(32), tlv(13, [0, 0], [0x6f, 0x6b])), 'missing-option', 8); // Success is not a rejection
    expectError(concat(head(32), tlv(13, [0, 14]), tlv(122, u32(1))), 'missing-option'); // half the parameters
  });

  it('STATE without its required options (§6.3), or with an undefined state', () => {
    const state = [tlv(132, [2]), tlv(131, [0]), tlv(133, T)];
    expect(decodePartnerFrame(concat(head(34), ...state), NOW).ok).toBe(true);
    for (const drop of [132, 131, 133]) expectError(concat(head(34), ...state.filter((o) => o[1] !== drop)), 'missing-option', 8);
    expectError(concat(head(34), tlv(132, [11]), ...state.slice(1)), 'bad-value', 8);
    expectError(concat(head(34), tlv(132, [4]), ...state.slice(1)), 'missing-option', 8); // PARTNER-DOWN needs F_PARTNER_DOWN_TIME
  });
});

describe('BNDUPD and BNDREPLY (§7.4–§7.6)', () => {
  const ok = (...subs: Uint8Array[]) => decodePartnerFrame(concat(head(24), ...subs), NOW);

  it('accepts the minimal client update', () => {
    expect(ok(clientData(tlv(1, duid), tlv(100, T), iaNa(goodLease)))).toMatchObject({ ok: true });
  });

  it('neither CLIENT_DATA nor IAPREFIX, or more than one', () => {
    expectError(concat(head(24)), 'missing-option', 8);
    const cd = clientData(tlv(1, duid), tlv(100, T), iaNa(goodLease));
    expectError(concat(head(24), cd, cd), 'bad-structure', 8 + cd.length);
    expectError(
      concat(head(24), cd, tlv(26, u32(0), u32(0), [48], addr, tlv(100, T), tlv(114, [5]), tlv(133, T))),
      'bad-structure',
      8 + cd.length,
    );
  });

  it.each([
    ['CLIENTID', [tlv(100, T), iaNa(goodLease)]],
    ['LQ_BASE_TIME', [tlv(1, duid), iaNa(goodLease)]],
    ['IA_NA, IA_TA or IA_PD', [tlv(1, duid), tlv(100, T)]],
    ['IAADDR', [tlv(1, duid), tlv(100, T), iaNa()]],
    ['F_BINDING_STATUS', [tlv(1, duid), tlv(100, T), iaNa(lease(tlv(133, T)))]],
    ['F_START_TIME_OF_STATE', [tlv(1, duid), tlv(100, T), iaNa(lease(tlv(114, [1])))]],
  ] as const)('a CLIENT_DATA without %s', (what, subs) => {
    const detail = expectError(concat(head(24, 7), clientData(...subs)), 'missing-option', 8);
    expect(detail).toContain(what.split(',')[0]);
  });

  it('names where the problem sits', () => {
    const detail = expectError(
      concat(head(24), clientData(tlv(1, duid), tlv(100, T), iaNa(lease(tlv(114, [0]), tlv(133, T))))),
      'bad-value',
      8,
    );
    expect(detail).toBe('BNDUPD CLIENT_DATA > IA_NA 1 > IAADDR 2001:db8::1 > F_BINDING_STATUS: binding-status 0 is not defined');
  });

  it('leases of the wrong kind for their IA', () => {
    const prefix = tlv(26, u32(0), u32(0), [56], addr, tlv(114, [1]), tlv(133, T));
    expectError(concat(head(24), clientData(tlv(1, duid), tlv(100, T), iaNa(goodLease, prefix))), 'bad-structure', 8);
    expectError(concat(head(24), clientData(tlv(1, duid), tlv(100, T), tlv(25, u32(1), u32(0), u32(0), goodLease))), 'bad-structure', 8);
  });

  it('duplicates inside a lease or a CLIENT_DATA', () => {
    expectError(
      concat(head(24), clientData(tlv(1, duid), tlv(100, T), iaNa(lease(tlv(114, [1]), tlv(133, T), tlv(133, T))))),
      'duplicate-option',
      8,
    );
    expectError(concat(head(24), clientData(tlv(1, duid), tlv(1, duid), tlv(100, T), iaNa(goodLease))), 'duplicate-option', 8);
  });

  it('a CLIENT_DATA whose body is not a list of options', () => {
    expectError(concat(head(24), clientData(Uint8Array.from([0, 1, 0, 200, 0, 0]))), 'option-overflow', 8);
  });

  it('a BNDREPLY with nothing to mirror and no Status Code', () => {
    expectError(concat(head(25)), 'missing-option', 8);
    expect(decodePartnerFrame(concat(head(25), tlv(13, [0, 18])), NOW)).toMatchObject({
      ok: true,
      pdu: { content: { form: 'bare', status: { code: 18 } } },
    });
  });
});

describe('truncations and garbage never throw', () => {
  it('every prefix of every sample message gives a value or a typed error inside the input', () => {
    for (const pdu of samplePdus()) {
      const payload = encodePartnerFrame(pdu).subarray(2);
      for (let n = 0; n < payload.length; n++) {
        const cut = payload.subarray(0, n);
        const r = decodePartnerFrame(cut, NOW);
        if (r.ok) continue; // e.g. a CONTACT cut after its last option
        expect(FAILOVER_DECODE_REASONS).toContain(r.error.reason);
        expect(r.error.offset).toBeGreaterThanOrEqual(0);
        expect(r.error.offset).toBeLessThanOrEqual(n);
      }
    }
  });
});

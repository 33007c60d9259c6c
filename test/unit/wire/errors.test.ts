// Malformed datagrams: each is dropped under the reason the server counts.

import { describe, expect, it } from 'vitest';
import { DECODE_REASONS, decodeMessage, decodeOptionList, RELAY_DEPTH_MAX } from '../../../src/wire/index.js';
import { concat, expectError, relayForward, tlv } from './helpers.js';

const header = [1, 0xaa, 0xbb, 0xcc]; // SOLICIT, transaction-id 0xaabbcc
const duidLl = [0, 3, 0, 1, 0x52, 0x54, 0, 0xab, 0xcd, 0xef];
const solicitBytes = concat(header, tlv(1, duidLl));
const zeros = (n: number): number[] => new Array<number>(n).fill(0);

describe('truncated headers (RFC 8415 §8, §9)', () => {
  it.each([[[]], [[1]], [[1, 0]], [[1, 0, 0]]])('client message of %j', (bytes) => {
    expectError(Uint8Array.from(bytes), 'truncated-header', 0);
  });

  it.each([1, 2, 18, 33])('relay message of %i octets (header is 34)', (n) => {
    expectError(Uint8Array.from([12, ...zeros(n - 1)]), 'truncated-header', 0);
    expectError(Uint8Array.from([13, ...zeros(n - 1)]), 'truncated-header', 0);
  });

  it('accepts the bare 4-octet header of a client message', () => {
    expect(decodeMessage(Uint8Array.from(header))).toEqual({
      ok: true,
      message: { type: 1, transactionId: 0xaabbcc, options: [] },
    });
  });

  it('an encapsulated message shorter than its header, at its own offset', () => {
    expectError(relayForward(Uint8Array.from([1, 0, 0])), 'truncated-header', 38);
    expectError(relayForward(Uint8Array.from([])), 'truncated-header', 38);
  });
});

describe('option framing (§21.1)', () => {
  it('an option-len past the end of the message', () => {
    const bytes = concat(header, [0, 1, 0, 14], duidLl); // says 14, carries 10
    expectError(bytes, 'option-overflow', 4);
  });

  it.each([1, 2, 3])('%i stray octets where an option header should be', (n) => {
    expectError(concat(solicitBytes, zeros(n)), 'option-overflow', solicitBytes.length);
  });

  it('a sub-option running past its IA_NA', () => {
    const ia = tlv(3, [0, 0, 0, 1], zeros(8), [0, 13, 0, 9, 0, 0]); // STATUS_CODE says 9, has 2
    expectError(concat(header, ia), 'option-overflow', 20);
  });

  it('an option running past the RELAY_MSG that holds it', () => {
    const inner = concat(header, [0, 1, 0, 20], duidLl); // CLIENTID says 20, inner message ends first
    expectError(concat(relayForward(inner), tlv(18, zeros(10))), 'option-overflow', 42);
  });
});

describe('option length rules (§21)', () => {
  const cases: [string, Uint8Array][] = [
    ['IA_NA shorter than 12', tlv(3, zeros(11))],
    ['IA_PD shorter than 12', tlv(25, zeros(4))],
    ['IA_TA shorter than 4', tlv(4, zeros(3))],
    ['IAADDR shorter than 24', tlv(3, zeros(12), tlv(5, zeros(23)))],
    ['IAPREFIX shorter than 25', tlv(25, zeros(12), tlv(26, zeros(24)))],
    ['IAPREFIX prefix-length 129', tlv(25, zeros(12), tlv(26, zeros(8), [129], zeros(16)))],
    ['ORO of odd length', tlv(6, [0, 23, 0])],
    ['PREFERENCE of 2 octets', tlv(7, [0, 0])],
    ['PREFERENCE of 0 octets', tlv(7)],
    ['ELAPSED_TIME of 1 octet', tlv(8, [0])],
    ['ELAPSED_TIME of 4 octets', tlv(8, zeros(4))],
    ['RAPID_COMMIT with data', tlv(14, [0])],
    ['RECONF_ACCEPT with data', tlv(20, [1])],
    ['STATUS_CODE shorter than 2', tlv(13, [0])],
    ['DNS_SERVERS not a multiple of 16', tlv(23, zeros(17))],
    ['INFORMATION_REFRESH_TIME of 3 octets', tlv(32, zeros(3))],
    ['SOL_MAX_RT of 5 octets', tlv(82, zeros(5))],
    ['INF_MAX_RT of 2 octets', tlv(83, zeros(2))],
    ['DOMAIN_LIST with a compression pointer (§10)', tlv(24, [3, 0x6c, 0x61, 0x62, 0xc0, 0x0c])],
    ['DOMAIN_LIST with a 64-octet label', tlv(24, [64], zeros(64), [0])],
    ['DOMAIN_LIST without the root label', tlv(24, [3, 0x63, 0x6f, 0x6d])],
    ['DOMAIN_LIST with a label past the option', tlv(24, [9, 0x63, 0x6f, 0x6d])],
    ['DOMAIN_LIST with a dot inside a label', tlv(24, [3, 0x61, 0x2e, 0x62, 0])],
    ['DOMAIN_LIST with a space in a label', tlv(24, [3, 0x61, 0x20, 0x62, 0])],
    ['DOMAIN_LIST name over 255 octets', tlv(24, ...[0, 1, 2, 3].map(() => [63, ...new Array(63).fill(0x61)]), [0])],
  ];
  it.each(cases)('%s is a bad option', (_name, option) => {
    expectError(concat(header, option), 'bad-option');
  });

  it('reports the offset of the offending option', () => {
    expectError(concat(solicitBytes, tlv(3, zeros(11))), 'bad-option', solicitBytes.length);
  });

  it('options nested deeper than OPTION_NESTING_MAX', () => {
    let option = tlv(13, [0, 0]);
    for (let i = 0; i < 9; i++) option = tlv(3, zeros(12), option);
    expectError(concat(header, option), 'bad-option');
    let ok = tlv(13, [0, 0]);
    for (let i = 0; i < 8; i++) ok = tlv(3, zeros(12), ok);
    expect(decodeMessage(concat(header, ok)).ok).toBe(true);
  });
});

describe('DUIDs (§11.1: 2-octet type plus 1..128 octets)', () => {
  it.each([0, 1, 2, 131, 200])('a CLIENTID of %i octets is a bad DUID', (n) => {
    expectError(concat(header, tlv(1, zeros(n))), 'bad-duid', 4);
  });
  it.each([0, 2, 131])('a SERVERID of %i octets is a bad DUID', (n) => {
    expectError(concat(header, tlv(2, zeros(n))), 'bad-duid', 4);
  });
  it.each([3, 130])('a DUID of %i octets is fine', (n) => {
    expect(decodeMessage(concat(header, tlv(1, zeros(n)))).ok).toBe(true);
  });
});

describe('relay structure (§9, §19)', () => {
  const nest = (levels: number): Uint8Array => {
    let bytes = solicitBytes;
    for (let i = 0; i < levels; i++) bytes = relayForward(bytes, levels - 1 - i);
    return bytes;
  };

  it(`accepts ${RELAY_DEPTH_MAX} relay levels`, () => {
    expect(decodeMessage(nest(RELAY_DEPTH_MAX)).ok).toBe(true);
  });

  it(`rejects ${RELAY_DEPTH_MAX + 1} relay levels as relay-too-deep`, () => {
    expectError(nest(RELAY_DEPTH_MAX + 1), 'relay-too-deep', 38 * RELAY_DEPTH_MAX);
  });

  it('stops 1700 levels (as deep as 65535 octets allow) at the limit', () => {
    expectError(nest(1700), 'relay-too-deep', 38 * RELAY_DEPTH_MAX);
  });

  it('RELAY_MSG chains through client messages are bounded too', () => {
    let bytes = solicitBytes;
    for (let i = 0; i < RELAY_DEPTH_MAX + 1; i++) bytes = concat(header, tlv(9, bytes));
    expectError(bytes, 'relay-too-deep');
  });

  it('a relay-forward without RELAY_MSG', () => {
    const bytes = concat([12, 0], zeros(32), tlv(18, [1, 2, 3]));
    expectError(bytes, 'relay-without-message', 0);
    expectError(concat([12, 0], zeros(32)), 'relay-without-message', 0);
  });

  it('a relay-forward with two RELAY_MSG', () => {
    expectError(concat(relayForward(solicitBytes), tlv(9, solicitBytes)), 'relay-extra-message', 0);
  });

  it('the check applies at every level', () => {
    const inner = concat([12, 0], zeros(32));
    expectError(relayForward(inner), 'relay-without-message', 38);
  });
});

describe('decodeOptionList', () => {
  it('decodes options behind some other header and never throws', () => {
    const bytes = concat(zeros(8), tlv(8, [0, 5]));
    expect(decodeOptionList(bytes, 8)).toEqual({ ok: true, options: [{ kind: 'ELAPSED_TIME', elapsedCs: 5 }] });
    const bad = decodeOptionList(concat(zeros(8), [0, 8, 0]), 8);
    expect(bad.ok ? 'ok' : bad.error.reason).toBe('option-overflow');
  });

  it('lists every reason once', () => {
    expect(new Set(DECODE_REASONS).size).toBe(DECODE_REASONS.length);
  });
});

describe('Leasequery message types 14–17 (RFC 5007 §4.1.1, RFC 5460 §5.2)', () => {
  it.each([14, 15, 16, 17])('type %i has the 4-octet client/server header: shorter is truncated-header', (type) => {
    for (const n of [1, 2, 3]) expectError(Uint8Array.from([type, ...zeros(n - 1)]), 'truncated-header', 0);
    expect(decodeMessage(Uint8Array.from([type, 0, 0, 1]))).toEqual({ ok: true, message: { type, transactionId: 1, options: [] } });
  });

  it.each([14, 15, 16, 17])('type %i with an LQ option running past the message is option-overflow', (type) => {
    expectError(concat([type, 0, 0, 1], [0, 44, 0, 17], [1]), 'option-overflow', 4);
  });

  it('a malformed LQ_QUERY body is not a decode error of the message: the Leasequery reader reports it (RFC 8415 §16)', () => {
    expect(decodeMessage(concat([14, 0, 0, 1], tlv(44, [1]))).ok).toBe(true);
  });
});

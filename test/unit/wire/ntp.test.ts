// The SNTP header (RFC 5905 §7.3) against bytes written by hand from the
// RFC's layout, and the offset and delay of one exchange (§8).

import { describe, expect, it } from 'vitest';
import { decodeNtp, encodeNtp, exchangeOffset, NTP_UNIX_OFFSET_SEC } from '../../../src/wire/ntp.js';

// A server's reply, field by field:
const REPLY = Buffer.from(
  [
    '24', // LI 0, VN 4, mode 4 (server)
    '02', // stratum 2
    '06', // poll 2^6
    'ec', // precision 2^-20
    '00000000', // root delay
    '00000000', // root dispersion
    '47505300', // reference id "GPS\0"
    'ed00378080000000', // reference: 2026-01-01T00:00:00.5Z (3976214400 = 0xed003780 s since 1900)
    '0102030405060708', // origin: the client's transmit octets, echoed
    'ed00378100000000', // receive: 2026-01-01T00:00:01Z
    'ed00378140000000', // transmit: 2026-01-01T00:00:01.25Z
  ].join(''),
  'hex',
);
const JAN_2026_MS = Date.UTC(2026, 0, 1);

describe('NTP header (RFC 5905 §7.3)', () => {
  it('decodes a server reply written by hand', () => {
    expect(3976214400 - NTP_UNIX_OFFSET_SEC).toBe(JAN_2026_MS / 1000); // the fixture's own arithmetic
    const p = decodeNtp(REPLY)!;
    expect(p).toMatchObject({ leap: 0, version: 4, mode: 4, stratum: 2, poll: 6, precision: -20, refId: 0x47505300 });
    expect(p.referenceMs).toBe(JAN_2026_MS + 500);
    expect(p.receiveMs).toBe(JAN_2026_MS + 1000);
    expect(p.transmitMs).toBe(JAN_2026_MS + 1250);
    expect(p.transmitRaw.toString('hex')).toBe('ed00378140000000');
  });

  it('encodes a reply that echoes the request transmit octets as its origin', () => {
    const bytes = encodeNtp({
      leap: 0,
      version: 4,
      mode: 4,
      stratum: 2,
      poll: 6,
      precision: -20,
      refId: 0x47505300,
      referenceMs: JAN_2026_MS + 500,
      originRaw: Buffer.from('0102030405060708', 'hex'),
      receiveMs: JAN_2026_MS + 1000,
      transmitMs: JAN_2026_MS + 1250,
    });
    expect(bytes.toString('hex')).toBe(REPLY.toString('hex'));
  });

  it('writes a client request with a random transmit field and zero times (RFC 9109 §5)', () => {
    const nonce = Buffer.from('a1b2c3d4e5f60718', 'hex');
    const bytes = encodeNtp({ leap: 0, version: 4, mode: 3, stratum: 0, transmitRaw: nonce });
    // LI 0, VN 4, mode 3; stratum, poll 0; precision 2^-20; then 36 zero octets and the nonce.
    expect(bytes.toString('hex')).toBe(`230000ec${'00'.repeat(36)}a1b2c3d4e5f60718`);
  });

  it('refuses what is no NTP header', () => {
    expect(decodeNtp(REPLY.subarray(0, 47))).toBeUndefined();
    expect(decodeNtp(Buffer.concat([Buffer.from([0x04]), REPLY.subarray(1)]))).toBeUndefined(); // version 0
  });

  it('finds the offset and the delay of one exchange (§8)', () => {
    // Sent at 10.000, received by the server at 15.010 on its clock, answered at 15.020, back at 10.040.
    expect(exchangeOffset(10_000, 15_010, 15_020, 10_040)).toEqual({ offsetMs: 4995, delayMs: 30 });
  });
});

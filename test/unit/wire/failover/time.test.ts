// RFC 8156 absolute time (§3): seconds since 2000-01-01T00:00:00Z modulo 2^32,
// and how we unwrap it near the receiver's clock (time.ts).

import { describe, expect, it } from 'vitest';
import { decodePartnerFrame, EPOCH_2000_UNIX_SEC, fromAbsoluteTime, toAbsoluteTime } from '../../../../src/wire/failover/index.js';
import { NOW } from './helpers.js';

const TWO_32 = 2 ** 32;
/** The wrap: 2000-01-01 + 2^32 s = 2136-02-07T06:28:16Z. */
const WRAP_UNIX = EPOCH_2000_UNIX_SEC + TWO_32;

describe('2000-epoch absolute time', () => {
  it('0 is 2000-01-01T00:00:00Z', () => {
    expect(EPOCH_2000_UNIX_SEC).toBe(Date.UTC(2000, 0, 1) / 1000);
    expect(toAbsoluteTime(EPOCH_2000_UNIX_SEC)).toBe(0);
    expect(fromAbsoluteTime(0, NOW)).toBe(EPOCH_2000_UNIX_SEC);
  });

  it('today', () => {
    expect(toAbsoluteTime(NOW)).toBe(NOW - 946_684_800);
    expect(toAbsoluteTime(NOW)).toBe(802_051_200);
    expect(fromAbsoluteTime(802_051_200, NOW)).toBe(NOW);
  });

  it('drops sub-second parts', () => {
    expect(toAbsoluteTime(NOW + 0.999)).toBe(802_051_200);
  });

  it('the wrap in 2136', () => {
    expect(new Date(WRAP_UNIX * 1000).toISOString()).toBe('2136-02-07T06:28:16.000Z');
    expect(toAbsoluteTime(WRAP_UNIX - 1)).toBe(0xffffffff);
    expect(toAbsoluteTime(WRAP_UNIX)).toBe(0);
    expect(toAbsoluteTime(WRAP_UNIX + 5)).toBe(5);
    // A receiver just past the wrap reads 0xfffffff0 as 16 s ago, and 5 as 5 s after it.
    expect(fromAbsoluteTime(0xfffffff0, WRAP_UNIX + 1)).toBe(WRAP_UNIX - 16);
    expect(fromAbsoluteTime(5, WRAP_UNIX - 10)).toBe(WRAP_UNIX + 5);
    expect(fromAbsoluteTime(0xffffffff, WRAP_UNIX - 1)).toBe(WRAP_UNIX - 1);
  });

  it('times before 2000 are the far end of the circle', () => {
    expect(toAbsoluteTime(EPOCH_2000_UNIX_SEC - 1)).toBe(0xffffffff);
    expect(fromAbsoluteTime(0xffffffff, NOW)).toBe(EPOCH_2000_UNIX_SEC - 1);
  });

  it('unwraps to the value within ±2^31 s of the reference', () => {
    for (const ref of [NOW, EPOCH_2000_UNIX_SEC, WRAP_UNIX, WRAP_UNIX - 1, WRAP_UNIX + 1, 0, 4_000_000_000, 2 ** 33 + 17]) {
      for (const delta of [0, 1, -1, 86_400 * 365 * 60, -(86_400 * 365 * 60), 2 ** 31 - 1, -(2 ** 31)]) {
        const t = ref + delta;
        expect(fromAbsoluteTime(toAbsoluteTime(t), ref), `ref ${ref} delta ${delta}`).toBe(t);
      }
    }
  });

  it('sent-time is converted at the boundary, across the wrap too', () => {
    const frame = (wire: number) => Uint8Array.from([35, 0, 0, 1, wire >>> 24, (wire >>> 16) & 0xff, (wire >>> 8) & 0xff, wire & 0xff]);
    expect(decodePartnerFrame(frame(802_051_200), NOW)).toMatchObject({ ok: true, pdu: { sentTimeSec: NOW } });
    expect(decodePartnerFrame(frame(0xfffffffe), WRAP_UNIX + 3)).toMatchObject({ ok: true, pdu: { sentTimeSec: WRAP_UNIX - 2 } });
    expect(decodePartnerFrame(frame(2), WRAP_UNIX - 3)).toMatchObject({ ok: true, pdu: { sentTimeSec: WRAP_UNIX + 2 } });
  });
});

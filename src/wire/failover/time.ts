// RFC 8156 "absolute time" (§3 Glossary, §5.2): seconds since
// 2000-01-01T00:00:00Z modulo 2^32. Inside twin6 times are ordinary Unix
// seconds; these two functions are the only place the wire form exists
// (docs/protocol.md §1.7: convert at the codec boundary).

import { EPOCH_2000_UNIX_SEC } from './constants.js';
import { programmerError } from '../writer.js';

const TWO_32 = 0x1_0000_0000;
const HALF = 0x8000_0000;

/** Unix seconds to the 32-bit wire value. Sub-second parts are dropped: the wire has whole seconds. */
export function toAbsoluteTime(unixSec: number): number {
  if (!Number.isFinite(unixSec)) programmerError(`absolute time of ${unixSec}`);
  const r = (Math.floor(unixSec) - EPOCH_2000_UNIX_SEC) % TWO_32;
  return r < 0 ? r + TWO_32 : r;
}

/**
 * The wire value back to Unix seconds. The wire keeps only the time modulo
 * 2^32 s (about 136 years), so one Unix time per 136-year window matches; we
 * take the one nearest `referenceUnixSec` (the receiver's clock), i.e. the
 * one in [reference − 2^31, reference + 2^31). Every time the protocol sends
 * (sent-time, lease and state times, partner-down time) lies within decades
 * of "now", far inside ±68 years, so this is exact today and keeps working
 * across the wrap in February 2136, when 0xffffffff is followed by 0.
 */
export function fromAbsoluteTime(wire: number, referenceUnixSec: number): number {
  if (wire >>> 0 !== wire) programmerError(`absolute time wire value ${wire}`);
  const ref = toAbsoluteTime(referenceUnixSec);
  let delta = wire - ref; // in (-2^32, 2^32)
  if (delta >= HALF) delta -= TWO_32;
  else if (delta < -HALF) delta += TWO_32;
  return Math.floor(referenceUnixSec) + delta;
}

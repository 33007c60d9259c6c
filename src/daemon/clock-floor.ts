// The clock floor (docs/image.md §12): the latest time this box is known to
// have seen, below which its wall clock is known to be wrong. A board without
// a real-time clock (a Raspberry Pi) powers up in 1970; every lease granted
// then would be stamped decades early and expire at once when the time is
// set, and an RFC 8156 partner refuses a clock more than 5 s from its own
// (§7.5.1). So twin6d grants nothing and does not start failover while the
// clock is below the floor, and starts as soon as it is not.
//
// The floor is the highest of a few marks: the time the image was built, the
// clock the appliance saved on its flash (periodically and at shutdown), and
// the latest client transaction twin6d recorded in a lease (its clttSec, on
// our own clock, so the store keeps the mark with no extra write). The
// decisions here are pure; the daemon reads the files and the clock.

import type { Lease } from '../engine/index.js';

export interface FloorMark {
  /** Where the mark comes from: "leases", "none", or the file it was read from. */
  readonly source: string;
  /** Wall clock, whole seconds since the Unix epoch. */
  readonly sec: number;
}

export const NO_FLOOR: FloorMark = { source: 'none', sec: 0 };

/**
 * Lease stamps are our own clock, and NTP may step it back by a fraction of a
 * second after a lease was stamped: a mark from the leases counts this much
 * less, so such a step does not stop the server. It is also the skew RFC 8156
 * §7.5.1 lets a pair's clocks have.
 */
export const LEASE_MARK_SLACK_SEC = 5;

/** A mark file holds at most this many characters: decimal seconds and a newline, with room for white space. */
const MARK_TEXT_MAX = 64;
/** 2001-09-09: no twin6 ran earlier, so a smaller number in a mark file is not a time. */
const MARK_MIN_SEC = 1_000_000_000;
/** 2106-02-07, where the store's u32 seconds end. */
const MARK_MAX_SEC = 0xffff_ffff;

/** The latest client transaction in `leases`, less the slack; 0 when there are none. */
export function leaseMark(leases: Iterable<Lease>): FloorMark {
  let latest = 0;
  for (const l of leases) if (l.clttSec > latest) latest = l.clttSec;
  return { source: 'leases', sec: latest > 0 ? latest - LEASE_MARK_SLACK_SEC : 0 };
}

/** The highest mark; NO_FLOOR when none is above 0. */
export function highestMark(marks: readonly FloorMark[]): FloorMark {
  return marks.reduce((best, m) => (m.sec > best.sec ? m : best), NO_FLOOR);
}

/** A mark file's text: decimal Unix seconds (`date +%s`), or undefined when it holds no plausible time. */
export function parseMark(text: string): number | undefined {
  if (text.length > MARK_TEXT_MAX) return undefined;
  const t = text.trim();
  if (!/^\d{1,10}$/.test(t)) return undefined;
  const sec = Number(t);
  return sec >= MARK_MIN_SEC && sec <= MARK_MAX_SEC ? sec : undefined;
}

export interface ClockVerdict {
  /** The clock is not known to be wrong: at or above the floor. */
  readonly trusted: boolean;
  /** How far the clock is below the floor, in seconds; 0 when trusted. */
  readonly behindSec: number;
}

/** Whether the wall clock can be trusted now: it is known to be wrong while below the floor. */
export function judgeClock(nowSec: number, floor: FloorMark): ClockVerdict {
  return nowSec >= floor.sec ? { trusted: true, behindSec: 0 } : { trusted: false, behindSec: floor.sec - nowSec };
}

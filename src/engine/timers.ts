// RFC 8415 §14.2, §21.4, §21.21: every IA in one Reply carries the same T1 and
// T2, derived from the shortest preferred lifetime the Reply grants, so the
// client renews everything in one exchange.

import { INFINITY_SEC } from '../wire/constants.js';
import type { Lifetimes } from '../config/types.js';

export interface Timers {
  readonly t1Sec: number;
  readonly t2Sec: number;
}

export const NO_TIMERS: Timers = { t1Sec: 0, t2Sec: 0 };

/** granted: the preferred lifetime of each lease being extended, with the lifetimes config it came from. */
export function commonTimers(granted: readonly { readonly preferredSec: number; readonly lifetimes: Lifetimes }[]): Timers {
  let shortest: (typeof granted)[number] | undefined;
  for (const g of granted) if (g.preferredSec > 0 && (!shortest || g.preferredSec < shortest.preferredSec)) shortest = g;
  if (!shortest) return NO_TIMERS;
  if (shortest.preferredSec === INFINITY_SEC) return { t1Sec: INFINITY_SEC, t2Sec: INFINITY_SEC };
  const t1Sec = Math.floor(shortest.preferredSec * shortest.lifetimes.renewRatio);
  const t2Sec = Math.floor(shortest.preferredSec * shortest.lifetimes.rebindRatio);
  // A client discards an IA whose T1 > T2 (§21.4); rounding must never produce that.
  return { t1Sec, t2Sec: Math.max(t1Sec, t2Sec) };
}

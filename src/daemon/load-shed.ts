// Shedding load before the event loop starves. Work per packet is bounded
// (engine limits), but a flood of bounded packets still fills the one thread
// that also serves the control socket, the partner link and the timers. When
// the loop falls behind, new conversations are dropped first: a client that
// already holds leases (Renew, Rebind, Release, Decline) is worth more than
// one that has none yet, and a dropped Solicit is retransmitted anyway
// (RFC 8415 §15: SOL_TIMEOUT 1 s, doubling).

import { MsgType } from '../wire/constants.js';

/**
 * 0 — serve everything.
 * 1 — drop new conversations: Solicit, Information-request, Confirm; and Leasequery, which serves
 *     no client (RFC 5007 §5: a flood of queries must not starve the clients).
 * 2 — also Request: only clients that hold leases (Renew, Rebind, Release, Decline) are served.
 */
export type ShedLevel = 0 | 1 | 2;

/** Loop lag at which each level starts, in ms; below LAG_SHED_NEW_MS the loop is keeping up. */
export const LAG_SHED_NEW_MS = 100;
export const LAG_SHED_MOST_MS = 500;
/** Replies waiting for their commit beyond which new conversations are dropped: the disk is the bottleneck. */
export const AWAITING_COMMIT_SHED = 10_000;

const NEW_CONVERSATIONS: ReadonlySet<number> = new Set([MsgType.SOLICIT, MsgType.INFORMATION_REQUEST, MsgType.CONFIRM, MsgType.LEASEQUERY]);

export function sheds(msgType: number, level: ShedLevel): boolean {
  if (level === 0) return false;
  if (NEW_CONVERSATIONS.has(msgType)) return true;
  return level === 2 && msgType === MsgType.REQUEST;
}

export function levelFor(lagMs: number, awaitingCommit: number): ShedLevel {
  if (lagMs >= LAG_SHED_MOST_MS) return 2;
  if (lagMs >= LAG_SHED_NEW_MS || awaitingCommit >= AWAITING_COMMIT_SHED) return 1;
  return 0;
}

/**
 * Event-loop lag, sampled by a timer: how late the timer fires is how long a
 * packet (or a control command) waits for the thread. The figure decays
 * slowly (×0.9 per tick, about a second to forget a 500 ms stall), so shedding
 * does not flap on and off with each burst.
 */
export class LoopLag {
  private lag = 0;
  private last: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs = 20,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = now();
  }

  start(): void {
    this.last = this.now();
    this.timer ??= setInterval(() => this.tick(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One timer firing; public for tests that drive the clock. */
  tick(): void {
    const t = this.now();
    const late = Math.max(0, t - this.last - this.intervalMs);
    this.last = t;
    this.lag = Math.max(late, this.lag * 0.9);
  }

  get lagMs(): number {
    return this.lag;
  }
}

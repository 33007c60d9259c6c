// When one interface sends its next multicast Router Advertisement (RFC 4861
// §6.2.4, §6.2.6). Pure: the caller passes the time and a random source and
// arms one timer at `nextAtMs`, so the rules can be tested without waiting.

// RFC 4861 §10, router constants.
export const MAX_INITIAL_RTR_ADVERT_INTERVAL_MS = 16_000;
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
export const MAX_FINAL_RTR_ADVERTISEMENTS = 3;
export const MIN_DELAY_BETWEEN_RAS_MS = 3_000;
export const MAX_RA_DELAY_TIME_MS = 500;

export interface RaTimingConfig {
  readonly minIntervalSec: number;
  readonly maxIntervalSec: number;
}

export class RaSchedule {
  private next: number;
  private last: number | undefined;
  private initialLeft = MAX_INITIAL_RTR_ADVERTISEMENTS;

  /** `random()` in [0, 1), like Math.random. The first advertisement is due at once. */
  constructor(
    private timing: RaTimingConfig,
    private readonly random: () => number,
    nowMs: number,
  ) {
    this.next = nowMs;
  }

  /** When the next multicast advertisement is due (ms, the caller's clock). */
  get nextAtMs(): number {
    return this.next;
  }

  get lastSentMs(): number | undefined {
    return this.last;
  }

  /**
   * §6.2.4: each advertisement is followed by an interval drawn uniformly from
   * [MinRtrAdvInterval, MaxRtrAdvInterval]; for the first
   * MAX_INITIAL_RTR_ADVERTISEMENTS it is at most MAX_INITIAL_RTR_ADVERT_INTERVAL.
   * Any multicast advertisement, solicited or not, restarts the interval.
   */
  sent(nowMs: number): void {
    this.last = nowMs;
    const minMs = this.timing.minIntervalSec * 1000;
    const maxMs = this.timing.maxIntervalSec * 1000;
    let interval = minMs + Math.floor(this.random() * (maxMs - minMs + 1));
    if (this.initialLeft > 0) {
      this.initialLeft--;
      interval = Math.min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL_MS);
    }
    this.next = nowMs + interval;
  }

  /**
   * §6.2.6: a solicitation is answered after a random delay of up to
   * MAX_RA_DELAY_TIME; if a multicast advertisement went out less than
   * MIN_DELAY_BETWEEN_RAS ago, the answer waits for MIN_DELAY_BETWEEN_RAS plus
   * that delay after it. An advertisement already due sooner is left alone, so
   * a flood of solicitations still yields at most one advertisement every
   * MIN_DELAY_BETWEEN_RAS. Returns the (possibly unchanged) due time.
   */
  solicited(nowMs: number): number {
    const delay = Math.floor(this.random() * (MAX_RA_DELAY_TIME_MS + 1));
    let at = nowMs + delay;
    if (this.last !== undefined && nowMs - this.last < MIN_DELAY_BETWEEN_RAS_MS) at = this.last + MIN_DELAY_BETWEEN_RAS_MS + delay;
    if (at < this.next) this.next = at;
    return this.next;
  }

  /**
   * §6.2.4: when what the router advertises changes, it may treat the next
   * advertisements as initial ones so hosts learn the change quickly.
   * MIN_DELAY_BETWEEN_RAS still holds.
   */
  changed(nowMs: number, timing: RaTimingConfig): void {
    this.timing = timing;
    this.initialLeft = MAX_INITIAL_RTR_ADVERTISEMENTS;
    const earliest = this.last === undefined ? nowMs : Math.max(nowMs, this.last + MIN_DELAY_BETWEEN_RAS_MS);
    this.next = Math.min(this.next, earliest);
  }
}

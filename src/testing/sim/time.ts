// Virtual time: one queue of events ordered by (time, insertion), run one at a
// time by the runner. Every node gets its own Timers view of it, which a
// crash kills: the node's pending timers never fire, and timers set later by
// promise continuations of the dead incarnation are ignored. Monotonic time
// is the true virtual time; each node's wall clock adds its own skew (world.ts).

import assert from 'node:assert/strict';
import type { TimerHandle, Timers } from '../../failover/host.js';

interface Event {
  readonly atMs: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Events one run may hold at once: a runaway timer loop fails the seed instead of eating memory. */
const EVENTS_PENDING_MAX = 200_000;

export class VirtualTime {
  nowMs = 0;
  private seq = 0;
  private readonly heap: Event[] = [];

  at(atMs: number, fn: () => void): Event {
    assert(Number.isFinite(atMs), `event at ${atMs}`);
    assert(this.heap.length < EVENTS_PENDING_MAX, 'too many pending events');
    const e: Event = { atMs: Math.max(atMs, this.nowMs), seq: this.seq++, fn, cancelled: false };
    this.push(e);
    return e;
  }

  after(ms: number, fn: () => void): Event {
    return this.at(this.nowMs + Math.max(0, ms), fn);
  }

  /** The next live event, time advanced to it; undefined when none is due by untilMs. */
  next(untilMs: number): Event | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.atMs > untilMs) return undefined;
      this.pop();
      if (top.cancelled) continue;
      this.nowMs = top.atMs;
      return top;
    }
  }

  get pending(): number {
    return this.heap.length;
  }

  private less(a: Event, b: Event): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/** One handle for a whole repeat(): clearing it stops the next firing too. */
class Series {
  cancelled = false;
  current: Event | undefined;
}

/** One node incarnation's timers; kill() at a crash. */
export class NodeTimers implements Timers {
  private alive = true;
  private readonly live = new Set<Event>();

  constructor(private readonly time: VirtualTime) {}

  set(fn: () => void, ms: number): TimerHandle {
    if (!this.alive) return undefined;
    const e = this.time.after(ms, () => {
      this.live.delete(e);
      if (this.alive) fn();
    });
    this.live.add(e);
    return e;
  }

  repeat(fn: () => void, ms: number): TimerHandle {
    assert(ms > 0, 'repeat every 0 ms');
    const series = new Series();
    const again = (): void => {
      series.current = this.set(() => {
        if (series.cancelled) return;
        again();
        fn();
      }, ms) as Event | undefined;
    };
    again();
    return series;
  }

  clear(handle: TimerHandle | undefined): void {
    if (handle instanceof Series) {
      handle.cancelled = true;
      this.clear(handle.current);
    } else if (handle !== undefined) {
      const e = handle as Event;
      e.cancelled = true;
      this.live.delete(e);
    }
  }

  nowMs(): number {
    return this.time.nowMs;
  }

  get dead(): boolean {
    return !this.alive;
  }

  kill(): void {
    this.alive = false;
    for (const e of this.live) e.cancelled = true;
    this.live.clear();
  }
}

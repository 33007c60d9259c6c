// One short line per event (VOPR style): "  412.250s P  BNDUPD 2001:db8:1::11 → S".
// A run keeps the last TRACE_LINES_MAX lines; a failing seed prints them, and
// --verbose prints every line as it happens.

import type { VirtualTime } from './time.js';

export const TRACE_LINES_MAX = 3000;

export class Trace {
  private readonly ring: string[] = [];
  private next = 0;
  private total = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly echo: ((line: string) => void) | undefined = undefined,
    private readonly keepMax = TRACE_LINES_MAX,
  ) {}

  /** who: P, S, a client (c3), net, or sim. */
  add(who: string, text: string): void {
    const line = `${(this.time.nowMs / 1000).toFixed(3).padStart(10)}s ${who.padEnd(4)} ${text}`;
    this.total++;
    this.echo?.(line);
    if (this.ring.length < this.keepMax) this.ring.push(line);
    else this.ring[this.next] = line;
    this.next = (this.next + 1) % this.keepMax;
  }

  /** The kept lines, oldest first. */
  lines(): string[] {
    return this.ring.length < this.keepMax ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  get count(): number {
    return this.total;
  }
}

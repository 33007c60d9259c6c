// Invariant 1, from the clients' side: which client holds which address or
// prefix, from the Reply it saw until its valid lifetime ends (counted from
// when the client first sent the request, so a slow reply never stretches a
// lease past the server's record) or until it released it or forgot it.
// Two clients holding one resource at once, beyond the clock tolerance, is a
// violation.

import type { VirtualTime } from './time.js';

export type InvariantName =
  | 'unique-lease'
  | 'lease-kept'
  | 'in-contact'
  | 'pair-unique'
  | 'pd-owner'
  | 'maintenance-silent'
  | 'maintenance-served'
  | 'liveness'
  | 'crash';

export interface Violation {
  readonly invariant: InvariantName;
  readonly text: string;
}

interface Hold {
  readonly client: string;
  untilMs: number;
}

export class Ledger {
  private readonly holds = new Map<string, Hold[]>();

  constructor(
    private readonly time: VirtualTime,
    /** Whole-second clocks and skew between the partners: an overlap this short is not a double lease. */
    readonly toleranceMs: number,
    private readonly violated: (v: Violation) => void,
  ) {}

  /** The client saw a Reply giving it resource until untilMs. */
  hold(client: string, resource: string, untilMs: number): void {
    const now = this.time.nowMs;
    const list = (this.holds.get(resource) ?? []).filter((h) => h.untilMs > now);
    for (const h of list) {
      if (h.client !== client && h.untilMs > now + this.toleranceMs) {
        this.violated({
          invariant: 'unique-lease',
          text: `${resource} given to ${client} while ${h.client} holds it for ${((h.untilMs - now) / 1000).toFixed(1)} s more`,
        });
      }
    }
    const mine = list.find((h) => h.client === client);
    if (mine) mine.untilMs = untilMs;
    else list.push({ client, untilMs });
    this.holds.set(resource, list);
  }

  /** The client stopped using it (Release sent, zero lifetime seen, client rebooted). */
  end(client: string, resource: string): void {
    const mine = this.holds.get(resource)?.find((h) => h.client === client);
    if (mine) mine.untilMs = Math.min(mine.untilMs, this.time.nowMs);
  }
}

// The client LAN: every client message is multicast (All_DHCP_Relay_Agents_and_
// Servers), so each server gets its own copy, each copy lost, delayed
// (reordered by the delays) or duplicated on its own. A server whose LAN side
// is cut hears nobody and reaches nobody; a client split off reaches one
// server only. Reachability is judged when a datagram arrives.

import type { Prng } from './prng.js';
import type { VirtualTime } from './time.js';
import type { Side } from './partner-net.js';

export interface DhcpNetOptions {
  readonly lossRate: number;
  readonly duplicateRate: number;
  readonly delayMinMs: number;
  readonly delayMeanMs: number;
}

export interface DhcpEnds {
  toServer(side: Side, clientIndex: number, data: Uint8Array): void;
  toClient(clientIndex: number, data: Uint8Array): void;
  lanCut(side: Side): boolean;
}

export class DhcpNet {
  /** Clients that reach only one server. */
  readonly split = new Map<number, Side>();
  /** Off in the liveness phase: no loss, no duplicates (delays stay). */
  faultsOn = true;

  constructor(
    private readonly time: VirtualTime,
    private readonly rng: Prng,
    private readonly opts: DhcpNetOptions,
    private readonly ends: DhcpEnds,
  ) {}

  reachable(clientIndex: number, side: Side): boolean {
    return !this.ends.lanCut(side) && (this.split.get(clientIndex) ?? side) === side;
  }

  fromClient(clientIndex: number, data: Uint8Array): void {
    for (const side of ['P', 'S'] as const) {
      this.carry(() => {
        if (this.reachable(clientIndex, side)) this.ends.toServer(side, clientIndex, data);
      });
    }
  }

  fromServer(side: Side, clientIndex: number, data: Uint8Array): void {
    this.carry(() => {
      if (this.reachable(clientIndex, side)) this.ends.toClient(clientIndex, data);
    });
  }

  private carry(deliver: () => void): void {
    const copies = this.faultsOn && this.rng.chance(this.opts.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (this.faultsOn && this.rng.chance(this.opts.lossRate)) continue;
      this.time.after(this.opts.delayMinMs + this.rng.exponential(this.opts.delayMeanMs), deliver);
    }
  }
}

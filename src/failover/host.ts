// What the failover runtime (endpoint.ts, replication.ts) needs from the
// world around it besides the server it runs in (FailoverHost, part of the
// host contract in daemon/host.ts): the partner connection
// (PartnerConnector, whose channels are link.ts's Channel) and time (Timers).
// The daemon passes the real ones — PartnerLink the TCP/TLS connector,
// realTimers Node's timers — and the simulation (src/testing/sim/) passes
// virtual ones, so the same code runs under a seed (docs/style.md §1.6:
// everything non-deterministic behind an interface).

import { performance } from 'node:perf_hooks';
import type { LinkEvents } from './link.js';

/** The partner connection: channels come and go with `up` and `down`; PartnerLink is the real one. */
export interface PartnerConnector {
  on<K extends keyof LinkEvents>(event: K, listener: (...args: LinkEvents[K]) => void): unknown;
  start(): Promise<void>;
  /** Closes the channel and stops connecting. */
  stop(): Promise<void>;
  /** Transaction ids for the messages we start (§5.4). */
  nextXid(): number;
  /** Keeps the link down while a reason holds (closes it, refuses the partner); undefined lets it come back. */
  hold(reason: string | undefined): void;
  /** The partner accepted the connection (CONNECT/CONNECTREPLY done): the re-dial back-off starts over (§6.1). */
  established(): void;
}

export type TimerHandle = unknown;

/** Timers for the runtime, injected so a simulation runs them on virtual time. */
export interface Timers {
  /** Runs fn once, after ms milliseconds. */
  set(fn: () => void, ms: number): TimerHandle;
  /** Runs fn every ms milliseconds until cleared. */
  repeat(fn: () => void, ms: number): TimerHandle;
  /** Cancels a set() or repeat(); undefined and spent handles are fine. */
  clear(handle: TimerHandle | undefined): void;
  /** Monotonic milliseconds: only differences mean anything (never compare with the wall clock). */
  nowMs(): number;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  repeat: (fn, ms) => setInterval(fn, ms),
  // Node's clearTimeout clears intervals too.
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
  nowMs: () => performance.now(),
};

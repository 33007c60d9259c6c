// Maintenance handover, so this box can be rebooted or rewired while its
// partner serves (`twin6ctl failover maintenance enter|leave`; the fleet's
// `failover.maintenance start|cancel`, docs/fleet.md §3). Not part of RFC
// 8156: it is built from what the RFC has. We stop answering clients, give
// the partner a moment to acknowledge our last binding updates, then say
// DISCONNECT (§5.3.10) and hold the link down; the partner finds
// communications interrupted and serves everyone (§8.9.1) until "leave" lets
// the link up and the pair returns to NORMAL (§8.9.2). docs/protocol.md §1.17.
//
// Refused while the partner could not take over — not connected, or either
// side not in NORMAL — unless forced: nobody would serve. That is also what
// refuses the secondary while the primary is in maintenance (the link is
// down). Not kept across a restart: a rebooted box comes back through STARTUP
// as usual and serves.

import type { Logger } from 'pino';
import type { Timers } from './host.js';
import type { EndpointStateName } from './states.js';
import type { ServiceLevel } from './policy.js';

/** Entering maintenance waits at most this long for the partner to acknowledge our updates before handing over. */
export const MAINTENANCE_DRAIN_MS = 5_000;
/** How often the wait looks at what is left unacknowledged. */
const MAINTENANCE_DRAIN_CHECK_MS = 100;

/** What the engine may do in maintenance, whatever the state: nothing. */
export const IN_MAINTENANCE: ServiceLevel = { answer: 'none', allocate: 'none', mcltCap: true };

/**
 * off: the state decides what we do. handing-over: we answer nobody while the
 * partner catches up on our updates. on: DISCONNECT sent, the link held down.
 */
export type MaintenanceMode = 'off' | 'handing-over' | 'on';

/** What the operator may ask: "start" and "cancel" are the fleet's names for the same. */
export type MaintenanceAction = 'enter' | 'leave';

/** The operator's word as a MaintenanceAction; undefined for anything else. */
export function maintenanceAction(action: unknown): MaintenanceAction | undefined {
  if (action === 'enter' || action === 'start') return 'enter';
  if (action === 'leave' || action === 'cancel') return 'leave';
  return undefined;
}

/** The pair as maintenance needs to see it: who could serve if we stopped. */
export interface PairView {
  readonly state: EndpointStateName;
  readonly partnerState: EndpointStateName | null;
  /** The partner connection is past its handshake (partner-connection.ts). */
  readonly connected: boolean;
}

export interface MaintenanceDeps {
  pair(): PairView;
  /** Binding updates the partner has not acknowledged yet (replication.ts). */
  unackedUpdates(): number;
  /** Whether updates can reach the partner at all now; when not, there is nothing to wait for. */
  mayStream(): boolean;
  /** Sends DISCONNECT with this message, if connected. */
  disconnect(message: string): void;
  /** Holds the partner link down (partner-connection.ts, 'maintenance'), or lets it up. */
  hold(on: boolean): void;
}

export class Maintenance {
  private mode: MaintenanceMode = 'off';

  constructor(
    private readonly log: Logger,
    private readonly scheduler: Timers,
    private readonly deps: MaintenanceDeps,
  ) {}

  /** Entered and not left: we answer nobody (IN_MAINTENANCE), whatever the state. */
  get answersNobody(): boolean {
    return this.mode !== 'off';
  }

  get current(): MaintenanceMode {
    return this.mode;
  }

  /** Carries out the operator's enter or leave; resolves to whether maintenance is on, throws a refusal. */
  async command(action: unknown, force: boolean): Promise<boolean> {
    const a = maintenanceAction(action);
    if (a === undefined) throw new Error('action must be "enter" or "leave"');
    if (a === 'enter' && this.mode === 'off') return this.enter(force);
    if (a === 'leave' && this.mode !== 'off') this.leave();
    return this.mode !== 'off';
  }

  private async enter(force: boolean): Promise<boolean> {
    const refusal = this.whyNotReady();
    if (refusal && !force) throw new Error(`${refusal}: nobody would serve the clients; add force to stop serving anyway`);
    this.mode = 'handing-over';
    const unacked = await this.drainUpdates();
    if (this.mode !== 'handing-over') return false; // left meanwhile
    this.log.warn({ unackedUpdates: unacked }, 'maintenance: handing the clients to the partner');
    this.deps.disconnect('maintenance: partner takes over');
    this.mode = 'on';
    this.deps.hold(true);
    return true;
  }

  private leave(): void {
    this.mode = 'off';
    this.log.warn('maintenance over: serving again once the pair is back in NORMAL');
    this.deps.hold(false);
  }

  /** Why the partner could not take over now; undefined when it can. */
  private whyNotReady(): string | undefined {
    const p = this.deps.pair();
    if (p.connected && p.state === 'NORMAL' && p.partnerState === 'NORMAL') return undefined;
    return `the partner cannot take over (we are ${p.state}, the partner ${p.partnerState ?? 'unknown'}, ${p.connected ? 'connected' : 'not connected'})`;
  }

  /** Waits (at most MAINTENANCE_DRAIN_MS) until the partner has acknowledged every update; returns how many it has not. */
  private drainUpdates(): Promise<number> {
    const left = () => this.deps.unackedUpdates();
    const startMs = this.scheduler.nowMs();
    return new Promise((resolve) => {
      if (left() === 0 || !this.deps.mayStream()) return resolve(left());
      const t = this.scheduler.repeat(() => {
        if (left() > 0 && this.deps.mayStream() && this.scheduler.nowMs() - startMs < MAINTENANCE_DRAIN_MS) return;
        this.scheduler.clear(t);
        resolve(left());
      }, MAINTENANCE_DRAIN_CHECK_MS);
    });
  }
}

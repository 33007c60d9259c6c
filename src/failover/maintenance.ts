// Maintenance handover, so this box can be rebooted or rewired while its
// partner serves (`twin6ctl failover maintenance enter|leave`; the fleet's
// `failover.maintenance start|cancel`, docs/fleet.md §3). Not part of RFC
// 8156: it is built from what the RFC has. We stop answering clients, give
// the partner a moment to acknowledge our last binding updates, then say
// DISCONNECT (§5.3.10); the partner closes the connection, finds
// communications interrupted and serves everyone (§8.9.1), and we hold the
// link down until "leave" lets it up and the pair returns to NORMAL (§8.9.2).
// docs/protocol.md §1.17.
//
// Refused while the partner could not take over — not connected, or either
// side not in NORMAL — unless forced: nobody would serve. That is also what
// refuses the secondary while the primary is in maintenance (the link is
// down). Checked again when the wait for acknowledgements ends, and the
// handover is called off if the partner left meanwhile. Both sides entering
// at once must not both hand over: so the connection stays open after our
// DISCONNECT until the partner closes it, and a DISCONNECT from the partner
// before that (it is handing over too, or shutting down) calls ours off — on
// both sides, when the two cross. Not kept across a restart: a rebooted box
// comes back through STARTUP as usual and serves.

import type { Logger } from 'pino';
import type { Timers } from './host.js';
import type { EndpointStateName } from './states.js';
import type { ServiceLevel } from './policy.js';

/** Entering maintenance waits at most this long for the partner to acknowledge our updates before handing over… */
export const MAINTENANCE_DRAIN_MS = 5_000;
/** …and then at most this long for the partner to close the connection after our DISCONNECT. */
export const MAINTENANCE_HANDOVER_MS = 5_000;
/** How often the wait for acknowledgements looks at what is left. */
const MAINTENANCE_DRAIN_CHECK_MS = 100;

/** What the engine may do in maintenance, whatever the state: nothing. */
export const IN_MAINTENANCE: ServiceLevel = { answer: 'none', allocate: 'none', mcltCap: true };

/**
 * off: the state decides what we do. In all the others we answer nobody:
 * draining, the partner catches up on our updates; disconnecting, our
 * DISCONNECT is on its way and the partner is to close the connection; on,
 * handed over, the link held down.
 */
export type MaintenanceMode = 'off' | 'draining' | 'disconnecting' | 'on';

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

/** Why a handover was called off after it began; the operator's command fails with it. */
const PARTNER_LEAVING = 'the partner said DISCONNECT while we were handing over (it is entering maintenance or shutting down too)';
const PARTNER_SILENT = `the partner did not close the connection within ${MAINTENANCE_HANDOVER_MS / 1000} s of our DISCONNECT`;

export class Maintenance {
  private mode: MaintenanceMode = 'off';
  /** Counts enters: the wait of one that was left (and entered again since) does not carry on as the new one's. */
  private attempt = 0;
  private force = false;
  /** The partner's DISCONNECT arrived during this handover. */
  private partnerLeaving = false;
  /** Why this handover was called off; undefined while it goes on, or when the operator left. */
  private calledOff: string | undefined;
  /** Ends the wait for the partner to close the connection. */
  private closed: (() => void) | undefined;

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

  /** The partner said DISCONNECT: if we are handing over, it will not take over. */
  partnerDisconnected(): void {
    if (this.mode === 'draining' || this.mode === 'disconnecting') this.partnerLeaving = true;
  }

  /**
   * The connection is gone. After our DISCONNECT that is the partner taking
   * over: the hold goes on at once, before the link can dial or accept again.
   */
  linkDown(): void {
    if (this.mode !== 'disconnecting') return;
    if (this.partnerLeaving && !this.force) this.callOff(PARTNER_LEAVING);
    else this.handOver();
    this.closed?.();
  }

  private async enter(force: boolean): Promise<boolean> {
    const refusal = this.whyNotReady();
    if (refusal && !force) throw new Error(`${refusal}: nobody would serve the clients; add force to stop serving anyway`);
    const attempt = ++this.attempt;
    this.mode = 'draining';
    this.force = force;
    this.partnerLeaving = false;
    this.calledOff = undefined;
    const unacked = await this.drainUpdates();
    if (this.mode !== 'draining' || this.attempt !== attempt) return false; // left meanwhile
    const gone = this.partnerLeaving ? PARTNER_LEAVING : this.whyNotReady();
    if (gone && !force) this.callOff(gone);
    else if (!this.deps.pair().connected)
      this.handOver(); // forced, with nobody to tell
    else await this.disconnect(unacked);
    // (current, not mode: TypeScript would keep mode narrowed to 'draining' across those calls.)
    if (this.attempt !== attempt) return false; // left, and entered again
    if (this.current === 'on') return true;
    if (this.calledOff) throw new Error(`${this.calledOff}: handover called off, still serving`);
    return false; // left meanwhile
  }

  /** Says DISCONNECT and waits until the partner closes the connection (linkDown), at most MAINTENANCE_HANDOVER_MS. */
  private async disconnect(unacked: number): Promise<void> {
    this.log.warn({ code: 'FAILOVER_MAINTENANCE_STARTED', unackedUpdates: unacked }, 'maintenance: handing the clients to the partner');
    this.mode = 'disconnecting';
    this.deps.disconnect('maintenance: partner takes over');
    await new Promise<void>((resolve) => {
      const t = this.scheduler.set(() => {
        if (this.mode === 'disconnecting') {
          if (this.force) this.handOver();
          else this.callOff(PARTNER_SILENT);
        }
        this.closed?.();
      }, MAINTENANCE_HANDOVER_MS);
      this.closed = () => {
        this.closed = undefined;
        this.scheduler.clear(t);
        resolve();
      };
    });
  }

  private handOver(): void {
    this.mode = 'on';
    this.deps.hold(true);
  }

  private callOff(why: string): void {
    this.mode = 'off';
    this.calledOff = why;
    this.log.error({ code: 'FAILOVER_MAINTENANCE_CALLED_OFF', why }, 'maintenance handover called off: serving again');
  }

  private leave(): void {
    this.mode = 'off';
    this.closed?.();
    this.log.warn({ code: 'FAILOVER_MAINTENANCE_ENDED' }, 'maintenance over: serving again once the pair is back in NORMAL');
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
        if (this.mode === 'draining' && left() > 0 && this.deps.mayStream() && this.scheduler.nowMs() - startMs < MAINTENANCE_DRAIN_MS)
          return;
        this.scheduler.clear(t);
        resolve(left());
      }, MAINTENANCE_DRAIN_CHECK_MS);
    });
  }
}

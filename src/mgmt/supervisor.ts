// Keeps one broker connection up. mqtt.js alone reconnects at a fixed period,
// so after a broker restart a whole fleet comes back in lock-step; here each
// retry waits a random time in [b, 2b) with b doubling per failed attempt
// (the TR-069 §3.2.1.1 session-retry window), capped at maxMs. The count only
// resets after a connection stayed up for stableMs, so a broker that accepts
// and then drops at once (ACL kick, duplicate client id) is still backed off.
// Timers, clock and randomness are injected for the unit tests.

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** The wait before retry number `attempt` (0-based): uniform in [b, min(2b, max)), b = min(initial·2^attempt, max). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  const top = Math.min(policy.maxMs, base * 2);
  return Math.round(base + random() * (top - base));
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** One established connection; `closed` resolves with the reason when it ends. */
export interface Connection {
  readonly closed: Promise<string>;
  /** Ends it without waiting; `closed` still resolves. */
  close(): void;
}

export type SupervisorEvent =
  | { readonly type: 'connecting'; readonly attempt: number }
  | { readonly type: 'connected'; readonly attempt: number }
  | { readonly type: 'failed'; readonly attempt: number; readonly reason: string }
  | { readonly type: 'closed'; readonly reason: string; readonly upMs: number }
  | { readonly type: 'retry'; readonly attempt: number; readonly delayMs: number };

export interface SupervisorOptions {
  /** One attempt: resolves once connected, rejects with the reason it could not. */
  readonly connect: () => Promise<Connection>;
  readonly backoff: BackoffPolicy;
  /** A connection that lasted this long counts as a success: the next retry starts from initialMs again. */
  readonly stableMs: number;
  readonly timers?: Timers;
  readonly random?: () => number;
  readonly nowMs?: () => number;
  readonly onEvent?: (e: SupervisorEvent) => void;
}

export type SupervisorState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

export class Supervisor {
  private stateNow: SupervisorState = 'idle';
  /** Retries scheduled since the last stable connection: the back-off exponent. */
  private retries = 0;
  private timer: unknown;
  private current: Connection | undefined;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly nowMs: () => number;
  private connects = 0;

  constructor(private readonly opts: SupervisorOptions) {
    this.timers = opts.timers ?? realTimers;
    this.random = opts.random ?? Math.random;
    this.nowMs = opts.nowMs ?? Date.now;
  }

  get state(): SupervisorState {
    return this.stateNow;
  }

  /** Successful connects so far. */
  get connections(): number {
    return this.connects;
  }

  get retriesSinceStable(): number {
    return this.retries;
  }

  start(): void {
    if (this.stateNow !== 'idle') return;
    this.attempt();
  }

  /** Drops the current connection (if any) and tries again after the usual back-off. */
  kick(): void {
    this.current?.close();
  }

  stop(): void {
    this.detach()?.close();
  }

  /** Stops supervising and hands over the live connection, if any, for a clean goodbye on it. */
  detach(): Connection | undefined {
    this.stateNow = 'stopped';
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const current = this.current;
    this.current = undefined;
    return current;
  }

  private emit(e: SupervisorEvent): void {
    this.opts.onEvent?.(e);
  }

  private attempt(): void {
    if (this.stateNow === 'stopped') return;
    this.stateNow = 'connecting';
    const attempt = this.retries;
    this.emit({ type: 'connecting', attempt });
    this.opts.connect().then(
      (conn) => this.up(conn, attempt),
      (e: unknown) => {
        if (this.stateNow === 'stopped') return;
        this.emit({ type: 'failed', attempt, reason: e instanceof Error ? e.message : String(e) });
        this.schedule();
      },
    );
  }

  private up(conn: Connection, attempt: number): void {
    if (this.stateNow === 'stopped') {
      conn.close();
      return;
    }
    this.current = conn;
    this.stateNow = 'connected';
    this.connects++;
    const since = this.nowMs();
    this.emit({ type: 'connected', attempt });
    void conn.closed.then((reason) => {
      if (this.current === conn) this.current = undefined;
      if (this.stateNow === 'stopped') return;
      const upMs = this.nowMs() - since;
      this.emit({ type: 'closed', reason, upMs });
      if (upMs >= this.opts.stableMs) this.retries = 0;
      this.schedule();
    });
  }

  private schedule(): void {
    const delayMs = backoffDelay(this.retries, this.opts.backoff, this.random);
    this.retries++;
    this.stateNow = 'waiting';
    this.emit({ type: 'retry', attempt: this.retries, delayMs });
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.attempt();
    }, delayMs);
  }
}

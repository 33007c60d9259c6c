// Group commit (docs/storage.md §3): one synced write at a time; whatever arrives
// while it is in flight waits and goes out as ONE batch when it completes.
// Every write start is paced, a full batch's too: no sooner than
// commitWindowMs after the one before started. For flash the bound on syncs
// is what matters, and a write that skipped the pacing once enough changes
// waited let syncs/s follow the disk's latency instead (1,531/s measured).
// So syncs per second never exceed 1000 / commitWindowMs (200 by default);
// more load makes the batches bigger instead, up to pendingChangesMax
// waiting changes, beyond which apply() answers 'busy'. A change that finds
// the store quiet (nothing in flight, the window since the last start over)
// is written at once: no idle wait in front of its fsync, the latency floor
// of holding every change for a window. Changes made in the same synchronous
// run always share a batch. Timers run only while something waits, so an
// idle store never syncs. drain() alone ignores the window: at close, what
// waits is written at once rather than lost. Writes never overlap: two
// batches in the libuv pool could land in either order, and a later batch
// must never be overtaken.

import { performance } from 'node:perf_hooks';
import { StoreError } from './lease-store.js';

export type BatchOp =
  { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: Uint8Array };

/** Writes one batch durably (sync) or rejects; the queue never calls it concurrently. */
export type WriteBatch = (ops: readonly BatchOp[]) => Promise<void>;

/** Injected so tests step time explicitly (MQTT.js get-timer.ts). */
export interface Timer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimer: Timer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface CommitOptions {
  /**
   * Least time between the starts of two writes, in milliseconds, however many
   * changes wait: at most 1000 / commitWindowMs syncs per second. Default 5
   * (200/s). 0 writes at the next microtask, which still groups everything
   * applied in the same synchronous run.
   */
  commitWindowMs?: number;
  /**
   * Changes allowed to wait behind the write in flight; beyond it apply() rejects
   * with 'busy' and applies nothing. Default 50,000: ten seconds of peak load
   * behind a stalled fsync, about 10 MB.
   */
  pendingChangesMax?: number;
  timer?: Timer;
  /** Monotonic milliseconds; injected with timer. */
  now?: () => number;
}

export const COMMIT_DEFAULTS = { commitWindowMs: 5, pendingChangesMax: 50_000 } as const;

interface Batch {
  readonly seq: number;
  readonly ops: BatchOp[];
  changes: number;
  bytes: number;
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

export interface CommitStats {
  batchesWritten: number;
  changesWritten: number;
  bytesWritten: number;
  lastBatchSize: number;
  maxBatchSize: number;
  pendingChanges: number;
  inFlightChanges: number;
  /** How long the write in flight (the only one, so the oldest) has run, in ms; 0 when none. */
  inFlightMs: number;
  lastCommitMs: number;
  maxCommitMs: number;
  lastSeq: number;
}

export class CommitQueue {
  private pending: Batch | undefined;
  private inFlight: Batch | undefined;
  private failure: StoreError | undefined;
  private timerHandle: unknown;
  private timerArmed = false;
  private armToken = 0;
  private nextSeq: number;
  private readonly windowMs: number;
  private readonly timer: Timer;
  private readonly now: () => number;
  /** When the last write started, so the write in flight's when there is one; undefined before the first. */
  private lastStartMs: number | undefined;
  private readonly counters: CommitStats;

  constructor(
    private readonly write: WriteBatch,
    lastSeq: number,
    options: CommitOptions,
    private readonly onFailure: (error: StoreError) => void,
  ) {
    this.windowMs = options.commitWindowMs ?? COMMIT_DEFAULTS.commitWindowMs;
    this.timer = options.timer ?? realTimer;
    this.now = options.now ?? (() => performance.now());
    if (!(this.windowMs >= 0)) throw new RangeError(`commitWindowMs must be ≥ 0, got ${this.windowMs}`);
    this.nextSeq = lastSeq + 1;
    this.counters = {
      batchesWritten: 0,
      changesWritten: 0,
      bytesWritten: 0,
      lastBatchSize: 0,
      maxBatchSize: 0,
      pendingChanges: 0,
      inFlightChanges: 0,
      inFlightMs: 0,
      lastCommitMs: 0,
      maxCommitMs: 0,
      lastSeq,
    };
  }

  /** The seq of the batch that the next enqueue() joins; records carry it. */
  get openSeq(): number {
    return this.pending?.seq ?? this.nextSeq;
  }

  /** Changes not yet handed to the backend. */
  get pendingChanges(): number {
    return this.pending?.changes ?? 0;
  }

  get failed(): StoreError | undefined {
    return this.failure;
  }

  /** Resolves when the batch holding ops was written and synced. */
  enqueue(ops: readonly BatchOp[], changes: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const batch = (this.pending ??= this.newBatch());
    for (const op of ops) {
      batch.ops.push(op);
      batch.bytes += op.key.length + (op.type === 'put' ? op.value.length : 0);
    }
    batch.changes += changes;
    if (this.inFlight === undefined) this.schedule();
    return batch.done;
  }

  /** Resolves once everything enqueued so far is durable; does not hurry it. */
  barrier(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return (this.pending ?? this.inFlight)?.done ?? Promise.resolve();
  }

  /** Writes whatever waits now, ignoring the window, and resolves when nothing is left. */
  async drain(): Promise<void> {
    for (;;) {
      const last = this.pending ?? this.inFlight;
      if (last === undefined) return;
      if (this.inFlight === undefined) this.flush();
      await last.done;
    }
  }

  stats(): CommitStats {
    return {
      ...this.counters,
      pendingChanges: this.pending?.changes ?? 0,
      inFlightChanges: this.inFlight?.changes ?? 0,
      // A hung fsync shows here, as the age of its write, long before it completes, if ever.
      inFlightMs: this.inFlight === undefined || this.lastStartMs === undefined ? 0 : this.now() - this.lastStartMs,
    };
  }

  private newBatch(): Batch {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers that fire and forget must not turn a write failure into an
    // unhandled rejection; those that await still see it.
    done.catch(() => undefined);
    return { seq: this.nextSeq++, ops: [], changes: 0, bytes: 0, done, resolve, reject };
  }

  /** Arms the write of what waits: at the next microtask, or when the window since the last start has passed. */
  private schedule(): void {
    if (this.timerArmed) return;
    this.timerArmed = true;
    const token = ++this.armToken;
    const fire = (): void => {
      if (token !== this.armToken) return;
      this.timerArmed = false;
      this.timerHandle = undefined;
      if (this.inFlight !== undefined) return;
      // Node measures a timeout from the event loop's cached, whole-millisecond
      // time, so it can fire before the window is over by this clock: the bound
      // holds only if such an early start waits for the rest.
      if (this.windowLeftMs() > 0) this.schedule();
      else this.flush();
    };
    const waitMs = this.windowLeftMs();
    if (waitMs <= 0) queueMicrotask(fire);
    else this.timerHandle = this.timer.set(fire, waitMs);
  }

  private windowLeftMs(): number {
    return this.lastStartMs === undefined ? 0 : this.lastStartMs + this.windowMs - this.now();
  }

  private disarm(): void {
    if (this.timerHandle !== undefined) this.timer.clear(this.timerHandle);
    this.timerHandle = undefined;
    this.timerArmed = false;
    this.armToken++; // a queued microtask cannot be cancelled: this makes it a no-op
  }

  private flush(): void {
    const batch = this.pending;
    if (batch === undefined || this.inFlight !== undefined) return;
    this.disarm();
    this.pending = undefined;
    this.inFlight = batch;
    const startMs = this.now();
    this.lastStartMs = startMs;
    let written: Promise<void>;
    try {
      written = this.write(batch.ops);
    } catch (error) {
      written = Promise.reject(error);
    }
    written.then(
      () => this.written(batch, this.now() - startMs),
      (error: unknown) => this.fail(batch, error),
    );
  }

  private written(batch: Batch, ms: number): void {
    const c = this.counters;
    c.batchesWritten++;
    c.changesWritten += batch.changes;
    c.bytesWritten += batch.bytes;
    c.lastBatchSize = batch.changes;
    c.maxBatchSize = Math.max(c.maxBatchSize, batch.changes);
    c.lastCommitMs = ms;
    c.maxCommitMs = Math.max(c.maxCommitMs, ms);
    c.lastSeq = batch.seq;
    this.inFlight = undefined;
    batch.resolve();
    // What waited goes next, once the window since this write's start is over, however much it is.
    if (this.pending !== undefined) this.schedule();
  }

  private fail(batch: Batch, cause: unknown): void {
    this.disarm();
    const error = new StoreError('write-failed', `batch ${batch.seq} (${batch.changes} changes) was not committed`, cause);
    this.failure = error;
    this.inFlight = undefined;
    const waiting = this.pending;
    this.pending = undefined;
    // Fail the store before any waiter runs, so an apply() made from a
    // rejection handler already sees the failed state.
    this.onFailure(error);
    batch.reject(error);
    waiting?.reject(error);
  }
}

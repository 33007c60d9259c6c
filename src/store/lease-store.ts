// The contract every lease store keeps. The engine decides from synchronous
// reads; the shell sends a Reply only after apply() resolved (docs/storage.md §1).

import type { BindingView, Lease, LeaseChange } from '../engine/lease.js';
import type { CorruptReason } from './record.js';

export type StoreState = 'new' | 'opening' | 'open' | 'closing' | 'closed' | 'failed';

export type StoreErrorCode =
  /** A batch write or sync failed: nothing in it, or queued after it, is durable. */
  | 'write-failed'
  /** apply()/putMeta() after a write failed: restart from disk (docs/storage.md §1), memory and disk may disagree. */
  | 'store-failed'
  /** Used before open() resolved or after close() began. */
  | 'not-open'
  /** pendingChangesMax changes already wait for the disk: nothing was applied, the store is fine; drop the request. */
  | 'busy'
  /** A change the record format cannot hold (a bug upstream): nothing was applied, the store is fine. */
  | 'rejected';

/** An operating error (docs/style.md §2.3): a typed value the daemon acts on, never an assert. */
export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    cause?: unknown,
  ) {
    super(`${code}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'StoreError';
  }
}

/** 'busy' means "not now": nothing was applied and the store is fine, only behind its disk. */
export const isStoreBusy = (e: unknown): boolean => e instanceof StoreError && e.code === 'busy';
/** A change the record format cannot hold: nothing was applied; the request that made it is refused, the store is fine. */
export const isStoreRejected = (e: unknown): boolean => e instanceof StoreError && e.code === 'rejected';

/**
 * Runs a write until the store takes it: after each 'busy', onBusy() (to
 * count it) and wait() (to let the disk catch up). Any other error is thrown.
 * write() runs afresh each time, so it can build its changes from what the
 * store holds by then.
 */
export async function writeWhenStoreHasRoom<T>(write: () => Promise<T>, wait: () => Promise<void>, onBusy: () => void): Promise<T> {
  for (;;) {
    try {
      return await write();
    } catch (e) {
      if (!isStoreBusy(e)) throw e;
      onBusy();
      await wait();
    }
  }
}

export interface OpenReport {
  /** Leases loaded and served. */
  readonly leases: number;
  readonly metaKeys: number;
  /** Records that failed their check: counted, reported, never served (docs/storage.md §2). */
  readonly corrupt: {
    readonly count: number;
    /** Hex of the raw keys, at most CORRUPT_KEYS_REPORTED of them. */
    readonly keys: readonly string[];
    readonly reasons: Readonly<Record<CorruptReason, number>>;
  };
  /** Highest commit batch seq found on disk (0 for a new store); new batches continue from it. */
  readonly lastSeq: number;
  /** Backend open (including log replay) and full scan, in milliseconds. */
  readonly openMs: number;
  readonly scanMs: number;
}

export const CORRUPT_KEYS_REPORTED = 64;

export interface StoreStats {
  readonly state: StoreState;
  readonly leases: number;
  /** Batches written; each was one synced write. */
  readonly batchesWritten: number;
  /** Lease changes and meta puts in those batches (seq markers not counted). */
  readonly changesWritten: number;
  /** Synced writes issued by this store (equals batchesWritten: one sync per batch). */
  readonly syncs: number;
  /** Key + value bytes handed to the backend in written batches. */
  readonly bytesEncoded: number;
  readonly lastBatchSize: number;
  readonly maxBatchSize: number;
  readonly pendingChanges: number;
  readonly inFlightChanges: number;
  /** Age of the write in flight (one at a time, so the oldest), in ms; 0 when none. A hung fsync shows here, never in lastCommitMs. */
  readonly inFlightMs: number;
  readonly lastCommitMs: number;
  readonly maxCommitMs: number;
  /** Seq of the last batch known durable. */
  readonly lastSeq: number;
  readonly corruptOnOpen: number;
  /** Puts identical to the lease already held: served from memory, never written. */
  readonly unchangedSkipped: number;
}

export interface LeaseStore extends BindingView {
  /** Loads every record and builds the indexes. Call once, before anything else. */
  open(): Promise<OpenReport>;
  /**
   * Makes the changes visible to every read at once, and resolves when the batch
   * holding them was written with sync. Rejects with a StoreError if that write
   * failed (then every later call rejects too), or with an AssertionError, having
   * applied nothing, if a change cannot be stored as given (a programmer error).
   * A put identical to the lease held is not written again; like apply([]), it
   * resolves once everything applied before it is durable.
   */
  apply(changes: readonly LeaseChange[]): Promise<void>;
  /** Durable small metadata (server DUID, failover state); name matches /^[A-Za-z0-9._-]{1,64}$/. */
  getMeta(name: string): Uint8Array | undefined;
  /** Visible to getMeta() at once; resolves when durable, in the same group commit as leases. */
  putMeta(name: string, value: Uint8Array): Promise<void>;
  all(): Iterable<Lease>;
  stats(): StoreStats;
  /** Writes whatever waits, then closes. Rejects if that last write failed. */
  close(): Promise<void>;
}

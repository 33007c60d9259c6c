// What MemoryLeaseStore and LevelLeaseStore share: both keep the same records
// (record.ts) behind the same index and commit queue, and differ only in where
// bytes go. The memory store is therefore a faithful stand-in: the engine's unit
// tests exercise the same checks, group commit and failure rules as the product.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { IaType, Lease, LeaseChange } from '../engine/lease.js';
import { COMMIT_DEFAULTS, CommitQueue, type BatchOp, type CommitOptions } from './commit-queue.js';
import { LeaseIndex } from './lease-index.js';
import {
  KEY_LEASE,
  KEY_META,
  KEY_SEQ,
  checkMetaName,
  decodeLease,
  decodeMeta,
  leaseSeq,
  decodeSeqMarker,
  encodeLease,
  encodeMeta,
  encodeSeqMarker,
  leaseKey,
  sameLease,
  type CorruptReason,
} from './record.js';
import { CORRUPT_KEYS_REPORTED, StoreError, type LeaseStore, type OpenReport, type StoreState, type StoreStats } from './lease-store.js';

export type RawEntry = readonly [key: Uint8Array, value: Uint8Array];

export abstract class RecordLeaseStore implements LeaseStore {
  private readonly index = new LeaseIndex();
  private readonly meta = new Map<string, Uint8Array>();
  private queue: CommitQueue | undefined;
  private storeState: StoreState = 'new';
  private failure: StoreError | undefined;
  private corruptOnOpen = 0;
  private unchangedSkipped = 0;
  private closing: Promise<void> | undefined;
  /** Seq of the batch that already carries a seq marker, so a batch holds at most one. */
  private markedSeq = -1;

  private readonly pendingChangesMax: number;

  protected constructor(private readonly commitOptions: CommitOptions) {
    this.pendingChangesMax = commitOptions.pendingChangesMax ?? COMMIT_DEFAULTS.pendingChangesMax;
  }

  protected abstract openBackend(): Promise<void>;
  /** Every stored record, in chunks (order does not matter). */
  protected abstract scanBackend(): AsyncIterable<readonly RawEntry[]>;
  protected abstract writeBackend(ops: readonly BatchOp[]): Promise<void>;
  protected abstract closeBackend(): Promise<void>;

  get state(): StoreState {
    return this.storeState;
  }

  get size(): number {
    return this.index.size;
  }

  byResource(resource: string): Lease | undefined {
    return this.index.byResource(resource);
  }

  byIa(duid: string, iaid: number, type: IaType): readonly Lease[] {
    return this.index.byIa(duid, iaid, type);
  }

  byClient(duid: string): readonly Lease[] {
    return this.index.byClient(duid);
  }

  dueBefore(nowSec: number, limit: number): readonly Lease[] {
    return this.index.dueBefore(nowSec, limit);
  }

  all(): Iterable<Lease> {
    return this.index.values();
  }

  async open(): Promise<OpenReport> {
    assert.equal(this.storeState, 'new', 'open() called twice');
    this.storeState = 'opening';
    try {
      const t0 = performance.now();
      await this.openBackend();
      const t1 = performance.now();
      const report = await this.load();
      const scanMs = performance.now() - t1;
      this.queue = new CommitQueue(
        (ops) => this.writeBackend(ops),
        report.lastSeq,
        this.commitOptions,
        (e) => this.failed(e),
      );
      this.storeState = 'open';
      return { ...report, openMs: t1 - t0, scanMs };
    } catch (error) {
      this.storeState = 'failed';
      throw error;
    }
  }

  private async load(): Promise<Omit<OpenReport, 'openMs' | 'scanMs'>> {
    const keys: string[] = [];
    const reasons: Record<CorruptReason, number> = { key: 0, version: 0, crc: 0, decode: 0 };
    let corrupt = 0;
    let lastSeq = 0;
    const reject = (key: Uint8Array, reason: CorruptReason): void => {
      corrupt++;
      reasons[reason]++;
      if (keys.length < CORRUPT_KEYS_REPORTED) keys.push(Buffer.from(key).toString('hex'));
    };
    for await (const chunk of this.scanBackend()) {
      for (const [key, value] of chunk) {
        switch (key[0]) {
          case KEY_LEASE: {
            const lease = decodeLease(key, value);
            if (typeof lease === 'string') reject(key, lease);
            else {
              this.index.put(lease, true);
              lastSeq = Math.max(lastSeq, leaseSeq(value));
            }
            break;
          }
          case KEY_META: {
            const meta = decodeMeta(key, value);
            if (typeof meta === 'string') reject(key, meta);
            else this.meta.set(meta.name, meta.bytes);
            break;
          }
          case KEY_SEQ: {
            const seq = decodeSeqMarker(key, value);
            if (typeof seq === 'string') reject(key, seq);
            else lastSeq = Math.max(lastSeq, seq);
            break;
          }
          default:
            reject(key, 'key');
        }
      }
    }
    this.corruptOnOpen = corrupt;
    return { leases: this.index.size, metaKeys: this.meta.size, corrupt: { count: corrupt, keys, reasons }, lastSeq };
  }

  apply(changes: readonly LeaseChange[]): Promise<void> {
    const queue = this.writable(changes.length);
    if (queue instanceof StoreError) return Promise.reject(queue);
    const seq = queue.openSeq;
    let encoded: BatchOp[];
    try {
      encoded = this.encode(changes, seq);
    } catch (error) {
      const what = error instanceof Error ? error.message : String(error);
      return Promise.reject(new StoreError('rejected', what, error));
    }
    const ops: BatchOp[] = [];
    let deletes = false;
    // Visible before durable: the engine must not hand a resource out again
    // while the batch holding it is in flight.
    for (let i = 0; i < changes.length; i++) {
      const c = changes[i]!;
      if (c.op === 'put') {
        // Rewriting a lease that did not change costs flash and buys nothing
        // (docs/storage.md §3, §6); it is durable once what is queued is.
        const held = this.index.byResource(c.lease.resource);
        if (held !== undefined && sameLease(held, c.lease)) {
          this.unchangedSkipped++;
          continue;
        }
        this.index.put(c.lease);
      } else {
        this.index.delete(c.resource);
        deletes = true;
      }
      ops.push(encoded[i]!);
    }
    if (ops.length === 0) return queue.barrier();
    const changed = ops.length;
    if (deletes && this.markedSeq !== seq) {
      ops.push({ type: 'put', ...encodeSeqMarker(seq) });
      this.markedSeq = seq;
    }
    return queue.enqueue(ops, changed);
  }

  /** One op per change, or a throw before the index or the queue is touched (all or nothing). */
  private encode(changes: readonly LeaseChange[], seq: number): BatchOp[] {
    return changes.map((c): BatchOp => {
      if (c.op === 'put') return { type: 'put', ...encodeLease(c.lease, seq) };
      assert.equal(c.op, 'delete', `bad change op: ${String((c as { op: unknown }).op)}`);
      return { type: 'del', key: leaseKey(c.resource) };
    });
  }

  getMeta(name: string): Uint8Array | undefined {
    const bytes = this.meta.get(name);
    return bytes === undefined ? undefined : new Uint8Array(bytes);
  }

  putMeta(name: string, value: Uint8Array): Promise<void> {
    const queue = this.writable(1);
    if (queue instanceof StoreError) return Promise.reject(queue);
    let op: BatchOp;
    try {
      checkMetaName(name);
      op = { type: 'put', ...encodeMeta(name, value) };
    } catch (error) {
      return Promise.reject(error);
    }
    this.meta.set(name, new Uint8Array(value));
    return queue.enqueue([op], 1);
  }

  stats(): StoreStats {
    const q = this.queue?.stats();
    return {
      state: this.storeState,
      leases: this.index.size,
      batchesWritten: q?.batchesWritten ?? 0,
      changesWritten: q?.changesWritten ?? 0,
      syncs: q?.batchesWritten ?? 0,
      bytesEncoded: q?.bytesWritten ?? 0,
      lastBatchSize: q?.lastBatchSize ?? 0,
      maxBatchSize: q?.maxBatchSize ?? 0,
      pendingChanges: q?.pendingChanges ?? 0,
      inFlightChanges: q?.inFlightChanges ?? 0,
      inFlightMs: q?.inFlightMs ?? 0,
      lastCommitMs: q?.lastCommitMs ?? 0,
      maxCommitMs: q?.maxCommitMs ?? 0,
      lastSeq: q?.lastSeq ?? 0,
      corruptOnOpen: this.corruptOnOpen,
      unchangedSkipped: this.unchangedSkipped,
    };
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    const state = this.storeState;
    if (state === 'new' || state === 'closed') {
      this.storeState = 'closed';
      return;
    }
    assert.notEqual(state, 'opening', 'close() while open() runs');
    this.storeState = 'closing';
    let flushError: unknown;
    if (state === 'open' && this.queue) {
      try {
        await this.queue.drain();
      } catch (error) {
        flushError = error;
      }
    }
    await this.closeBackend();
    this.storeState = 'closed';
    if (flushError !== undefined) throw flushError;
  }

  private writable(adding: number): CommitQueue | StoreError {
    if (this.storeState === 'failed' && this.failure) {
      return new StoreError('store-failed', 'an earlier write failed; restart and reconcile', this.failure);
    }
    if (this.storeState !== 'open' || this.queue === undefined) return new StoreError('not-open', `store is ${this.storeState}`);
    // An empty queue takes any call, however large, so a bulk load cannot be refused forever.
    const pending = this.queue.pendingChanges;
    if (pending > 0 && pending + adding > this.pendingChangesMax) {
      return new StoreError('busy', `${pending} changes already wait for the disk`);
    }
    return this.queue;
  }

  private failed(error: StoreError): void {
    this.failure = error;
    if (this.storeState === 'open') this.storeState = 'failed';
  }
}

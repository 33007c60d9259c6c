// The store for engine unit tests and simulation. Its "disk" is a Map of the
// same encoded records the Level store writes, kept in a MemoryDisk object that
// outlives the store: open a new MemoryLeaseStore over the same disk to model a
// restart, and set beforeWrite to inject write faults or delays (docs/storage.md §5, L2).

import type { BatchOp, CommitOptions } from './commit-queue.js';
import { RecordLeaseStore, type RawEntry } from './record-store.js';

export class MemoryDisk {
  /** Raw records by key (key bytes as a latin1 string). Tests may corrupt them directly. */
  readonly records = new Map<string, Uint8Array>();
  /** Runs before each batch lands; throw or reject to fail the write (nothing lands), await to delay it. */
  beforeWrite: ((ops: readonly BatchOp[]) => void | Promise<void>) | undefined;
  /** Batches that landed, i.e. simulated syncs. */
  writes = 0;

  static keyOf(key: Uint8Array): string {
    return Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
  }
}

export interface MemoryLeaseStoreOptions extends CommitOptions {
  disk?: MemoryDisk;
}

export class MemoryLeaseStore extends RecordLeaseStore {
  readonly disk: MemoryDisk;

  /** commitWindowMs defaults to 0 here so engine tests do not wait on wall-clock windows. */
  constructor(options: MemoryLeaseStoreOptions = {}) {
    super({ commitWindowMs: 0, ...options });
    this.disk = options.disk ?? new MemoryDisk();
  }

  protected async openBackend(): Promise<void> {}

  protected async *scanBackend(): AsyncIterable<readonly RawEntry[]> {
    const entries: RawEntry[] = [];
    for (const [k, v] of this.disk.records) entries.push([Buffer.from(k, 'latin1'), v]);
    yield entries;
  }

  protected async writeBackend(ops: readonly BatchOp[]): Promise<void> {
    // Yield first, as a real write does, so group commit behaves the same here.
    await Promise.resolve();
    await this.disk.beforeWrite?.(ops);
    for (const op of ops) {
      const key = MemoryDisk.keyOf(op.key);
      if (op.type === 'put') this.disk.records.set(key, new Uint8Array(op.value));
      else this.disk.records.delete(key);
    }
    this.disk.writes++;
  }

  protected async closeBackend(): Promise<void> {}
}

// The product store: records in LevelDB (classic-level 3, LevelDB 1.20), every
// batch written with sync: true. Async writes survive a process crash but not a
// power cut (docs/storage.md §1), so there is no unsynced mode.

import { Level } from 'level';
import type { BatchOp, CommitOptions } from './commit-queue.js';
import { RecordLeaseStore, type RawEntry } from './record-store.js';

/** Records read per native call while loading; bounds the memory a scan holds at once. */
const SCAN_CHUNK_RECORDS = 1024;

/** LevelDB open options the store lets a caller override (classic-level OpenOptions). */
export interface LevelTuning {
  writeBufferSize?: number;
  compression?: boolean;
  cacheSize?: number;
  maxOpenFiles?: number;
  blockSize?: number;
  maxFileSize?: number;
}

/**
 * Open options for a router (docs/storage.md §4).
 * - writeBufferSize 1 MiB: recovery replays at most one memtable of log, so this
 *   bounds open time after a crash regardless of lease count, and caps RAM.
 * - compression: Snappy on table files; the log itself is never compressed.
 * - cacheSize 512 KiB instead of 8 MiB: every read is served from memory after
 *   open, so the block cache only helps the one scan at startup.
 * - maxOpenFiles 64: 100k leases are a few 2 MiB tables; keeps fd use small.
 */
export const ROUTER_LEVEL_OPTIONS: Readonly<Required<Pick<LevelTuning, 'writeBufferSize' | 'compression' | 'cacheSize' | 'maxOpenFiles'>>> =
  {
    writeBufferSize: 1 << 20,
    compression: true,
    cacheSize: 512 << 10,
    maxOpenFiles: 64,
  };

/** The part of an abstract-level database the store uses; a wrapper may stand in (fault injection). */
export interface LevelHandle {
  readonly status: string;
  open(): Promise<void>;
  close(): Promise<void>;
  batch(
    ops: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }>,
    options: { sync: boolean; keyEncoding: 'view'; valueEncoding: 'view' },
  ): Promise<void>;
  iterator(options: { keyEncoding: 'buffer'; valueEncoding: 'buffer'; fillCache: boolean }): {
    nextv(size: number): Promise<Array<[Buffer, Buffer]>>;
    close(): Promise<void>;
  };
}

/** A LevelDB handle with the router options; not opened yet. */
export function createLevelDb(location: string, tuning: LevelTuning = {}): LevelHandle {
  return new Level<Uint8Array, Uint8Array>(location, {
    createIfMissing: true,
    errorIfExists: false,
    ...ROUTER_LEVEL_OPTIONS,
    ...tuning,
    keyEncoding: 'view',
    valueEncoding: 'view',
  }) satisfies LevelHandle;
}

export interface LevelLeaseStoreOptions extends CommitOptions {
  /** Overrides for ROUTER_LEVEL_OPTIONS; ignored when db is given. */
  tuning?: LevelTuning;
  /** A handle made elsewhere (tests wrap batch() to inject faults). The store closes it. */
  db?: LevelHandle;
}

export class LevelLeaseStore extends RecordLeaseStore {
  readonly db: LevelHandle;

  /** Like new Level(location, options); location is unused when options.db is given. */
  constructor(location: string, options: LevelLeaseStoreOptions = {}) {
    super(options);
    this.db = options.db ?? createLevelDb(location, options.tuning);
  }

  protected async openBackend(): Promise<void> {
    if (this.db.status !== 'open') await this.db.open();
  }

  protected async *scanBackend(): AsyncIterable<readonly RawEntry[]> {
    // fillCache off: this one pass would only evict what little the cache holds.
    const it = this.db.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer', fillCache: false });
    // The next chunk is read in the libuv pool while this one is decoded, so
    // disk and CPU overlap; still one read at a time, as the iterator requires.
    let reading = it.nextv(SCAN_CHUNK_RECORDS);
    try {
      for (;;) {
        const chunk = await reading;
        if (chunk.length === 0) return;
        reading = it.nextv(SCAN_CHUNK_RECORDS);
        yield chunk;
      }
    } finally {
      await reading.catch(() => undefined);
      await it.close();
    }
  }

  protected writeBackend(ops: readonly BatchOp[]): Promise<void> {
    return this.db.batch(ops as BatchOp[] as Parameters<LevelHandle['batch']>[0], {
      sync: true,
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
  }

  protected async closeBackend(): Promise<void> {
    await this.db.close();
  }
}

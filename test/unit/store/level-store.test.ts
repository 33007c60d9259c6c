import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_LEASE, LevelLeaseStore, ROUTER_LEVEL_OPTIONS, createLevelDb, type LevelHandle } from '../../../src/store/index.js';
import { describeLeaseStore } from './contract.js';
import { naLease, naResource, pdLease, put, rejectionOf, sleep, tick } from './helpers.js';

const tempDir = (): Promise<string> => mkdtemp(path.join(tmpdir(), 'twin6-store-'));

/** A raw handle, as an operator's tool or a test would open it, outside the store. */
async function withRawLevel(dir: string, fn: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

describeLeaseStore('LevelLeaseStore', async () => {
  const dir = await tempDir();
  let db: LevelHandle | undefined;
  return {
    create: (options) => {
      db = createLevelDb(dir);
      return new LevelLeaseStore(dir, { ...options, db });
    },
    failWrites: (error) => {
      if (db)
        db.batch = async () => {
          await sleep(10);
          throw error;
        };
    },
    writeRaw: (key, value) => withRawLevel(dir, (raw) => raw.put(key, value)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('LevelLeaseStore on LevelDB', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Wraps batch() the way an abstract-level fault shim would (docs/storage.md §5, L2). */
  function faulty(fault: (real: LevelHandle['batch'], ...args: Parameters<LevelHandle['batch']>) => Promise<void>): LevelHandle {
    const db = createLevelDb(dir);
    const real = db.batch.bind(db);
    db.batch = (ops, options) => fault(real, ops, options);
    return db;
  }

  it('writes every batch with sync: true, in the "view" encoding', async () => {
    const seen: unknown[] = [];
    const s = new LevelLeaseStore(dir, { db: faulty((real, ops, o) => (seen.push(o), real(ops, o))), commitWindowMs: 0 });
    await s.open();
    await s.apply([put(naLease(1))]);
    await s.putMeta('m', Uint8Array.of(1));
    await s.close();
    expect(seen).toEqual([
      { sync: true, keyEncoding: 'view', valueEncoding: 'view' },
      { sync: true, keyEncoding: 'view', valueEncoding: 'view' },
    ]);
  });

  it('never acknowledges a batch whose write landed but then reported an error', async () => {
    // "Throw after write": the data is on disk, yet nobody may be told it is.
    const s = new LevelLeaseStore(dir, {
      db: faulty(async (real, ops, o) => {
        await real(ops, o);
        throw new Error('fsync: EIO after write');
      }),
    });
    await s.open();
    const results = await Promise.allSettled([s.apply([put(naLease(1))]), s.apply([put(naLease(2))])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(s.stats()).toMatchObject({ state: 'failed', changesWritten: 0 });
    await s.close();
  });

  it('fails a slow write and everything queued behind it, never resolving any of them', async () => {
    let release!: (e: Error) => void;
    const s = new LevelLeaseStore(dir, {
      commitWindowMs: 0,
      db: faulty(() => new Promise((_, reject) => (release = reject))),
    });
    await s.open();
    let resolved = 0;
    const all = Array.from({ length: 50 }, (_, i) => s.apply([put(naLease(i))]).then(() => resolved++));
    await tick();
    all.push(...Array.from({ length: 50 }, (_, i) => s.apply([put(naLease(100 + i))]).then(() => resolved++)));
    // The first synchronous run went out as one write; everything later waits behind it.
    expect(s.stats()).toMatchObject({ inFlightChanges: 50, pendingChanges: 50 });
    release(new Error('ENOSPC'));
    const errors = await Promise.all(all.map(rejectionOf));
    expect(errors.every((e) => (e as { code?: string }).code === 'write-failed')).toBe(true);
    expect(resolved).toBe(0);
    expect(await rejectionOf(s.apply([put(naLease(999))]))).toMatchObject({ code: 'store-failed' });
    await s.close();
  });

  it('a throwing batch() (not a rejection) fails the store the same way', async () => {
    const s = new LevelLeaseStore(dir, {
      db: faulty(() => {
        throw new Error('sync throw');
      }),
    });
    await s.open();
    expect(await rejectionOf(s.apply([put(naLease(1))]))).toMatchObject({ code: 'write-failed' });
    expect(s.stats().state).toBe('failed');
    await s.close();
  });

  it('keeps records compact: 64–72 B of key and value for common DUIDs', async () => {
    const s = new LevelLeaseStore(dir);
    await s.open();
    await s.apply([put(naLease(1))]); // DUID-LLT, 14 bytes
    const llt = s.stats().bytesEncoded;
    await s.apply([put(pdLease(2, { duid: '00030001005056000001' }))]); // DUID-LL, 10 bytes
    const ll = s.stats().bytesEncoded - llt;
    await s.close();
    expect(llt).toBe(68);
    expect(ll).toBe(64);
  });

  it('stores leases under the one-byte prefix plus 17 bytes of address and length', async () => {
    const s = new LevelLeaseStore(dir);
    await s.open();
    await s.apply([put(naLease(1)), put(pdLease(1))]);
    await s.close();
    const keys: Uint8Array[] = [];
    await withRawLevel(dir, async (raw) => {
      for await (const k of raw.keys()) keys.push(k);
    });
    expect(keys.map((k) => [k.length, k[0], k[17]])).toEqual([
      [18, KEY_LEASE, 0xff],
      [18, KEY_LEASE, 56],
    ]);
    expect(Buffer.from(keys[0]!.subarray(1, 17)).toString('hex')).toBe('20010db8000100000000000000001001');
  });

  it('opens with the router options (1 MiB write buffer, compression)', () => {
    expect(ROUTER_LEVEL_OPTIONS).toMatchObject({ writeBufferSize: 1 << 20, compression: true });
  });

  it('survives many close/reopen cycles with interleaved changes', async () => {
    const model = new Map<string, ReturnType<typeof naLease>>();
    for (let round = 0; round < 5; round++) {
      const s = new LevelLeaseStore(dir, { commitWindowMs: 0 });
      await s.open();
      expect(new Map([...s.all()].map((l) => [l.resource, l]))).toEqual(model);
      const changes = [];
      for (let i = 0; i < 20; i++) {
        const n = round * 7 + i;
        if (n % 3 === 0 && model.has(naResource(n - 3))) {
          changes.push({ op: 'delete' as const, resource: naResource(n - 3) });
          model.delete(naResource(n - 3));
        } else {
          const l = naLease(n, { clttSec: 1000 + round, expiresAtSec: 5000 + round });
          changes.push(put(l));
          model.set(l.resource, l);
        }
      }
      await Promise.all(changes.map((c) => s.apply([c])));
      await s.close();
    }
  });
});

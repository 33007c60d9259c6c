// A delegation's requesting router (Lease.via) survives the store: the memory
// index keeps it, LevelDB keeps it across close and open, and a renewal that
// moves it is written, not skipped as unchanged.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LevelLeaseStore, MemoryLeaseStore } from '../../../src/store/index.js';
import { pdLease, put } from './helpers.js';

const via = { address: 'fe80::f884:51ff:fe63:f775', interface: 'lan0' };

describe('Lease.via in the store', () => {
  it('is kept by the memory store and replaced by a later put', async () => {
    const store = new MemoryLeaseStore();
    await store.open();
    await store.apply([put({ ...pdLease(1), via })]);
    expect(store.byResource(pdLease(1).resource)?.via).toEqual(via);
    const moved = { address: 'fe80::2', interface: 'lan1', relay: '2001:db8:2::1' };
    await store.apply([put({ ...pdLease(1), via: moved })]);
    expect(store.byResource(pdLease(1).resource)?.via).toEqual(moved);
    await store.close();
  });

  it('survives close and open of the LevelDB store', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'twin6-via-'));
    try {
      const first = new LevelLeaseStore(dir);
      await first.open();
      await first.apply([put({ ...pdLease(1), via }), put(pdLease(2))]);
      // Same lease but another router: must be written (sameLease compares via).
      await first.apply([put({ ...pdLease(1), via: { ...via, address: 'fe80::99' } })]);
      await first.close();
      const again = new LevelLeaseStore(dir);
      const report = await again.open();
      expect(report.corrupt.count).toBe(0);
      expect(again.byResource(pdLease(1).resource)?.via).toEqual({ ...via, address: 'fe80::99' });
      expect(again.byResource(pdLease(2).resource)?.via).toBeUndefined();
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { describe, expect, it } from 'vitest';
import { MemoryDisk, MemoryLeaseStore } from '../../../src/store/index.js';
import { describeLeaseStore } from './contract.js';
import { naLease, put, sleep, tick } from './helpers.js';

describeLeaseStore('MemoryLeaseStore', () => {
  const disk = new MemoryDisk();
  return {
    create: (options) => new MemoryLeaseStore({ ...options, disk }),
    failWrites: (error) => {
      disk.beforeWrite = async () => {
        await sleep(10);
        throw error;
      };
    },
    writeRaw: async (key, value) => {
      disk.records.set(MemoryDisk.keyOf(key), value);
    },
    cleanup: async () => {
      disk.beforeWrite = undefined;
    },
  };
});

describe('MemoryLeaseStore: a write that does not return', () => {
  it('reports the age of the write in flight, growing while its sync is held, and 0 once it lands', async () => {
    const clock = { ms: 1000 };
    const store = new MemoryLeaseStore({ now: () => clock.ms });
    let land!: () => void;
    store.disk.beforeWrite = () => new Promise<void>((resolve) => (land = resolve));
    await store.open();
    expect(store.stats().inFlightMs).toBe(0);
    const held = store.apply([put(naLease(1))]);
    await tick();
    expect(store.stats()).toMatchObject({ inFlightChanges: 1, inFlightMs: 0 });
    clock.ms += 2500;
    void store.apply([put(naLease(2))]); // waits behind it, not counted as in flight
    expect(store.stats()).toMatchObject({ inFlightChanges: 1, pendingChanges: 1, inFlightMs: 2500, lastCommitMs: 0 });
    clock.ms += 60_000;
    expect(store.stats().inFlightMs).toBe(62_500);
    store.disk.beforeWrite = undefined;
    land();
    await held;
    await tick(); // the change that waited behind it is written too
    expect(store.stats()).toMatchObject({ syncs: 2, maxCommitMs: 62_500, inFlightChanges: 0, pendingChanges: 0, inFlightMs: 0 });
    await store.close();
  });
});

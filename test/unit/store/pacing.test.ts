// The flash bound of group commit, checked with the product's default options
// under a load the disk could take far more syncs for: the bound has to come
// from the pacing, not from the disk being slow. Time is simulated, so every
// figure asserted here follows from the rules, not from the machine.

import { describe, expect, it } from 'vitest';
import { COMMIT_DEFAULTS, MemoryLeaseStore, type Timer } from '../../../src/store/index.js';
import { NOW_SEC, naLease, put, tick } from './helpers.js';

/** A clock that moves only from one armed deadline to the next. */
class SimClock implements Timer {
  ms = 0;
  private armed: { at: number; id: number; fn: () => void }[] = [];
  private nextId = 1;
  set(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.armed.push({ at: this.ms + ms, id, fn });
    return id;
  }
  clear(handle: unknown): void {
    this.armed = this.armed.filter((t) => t.id !== handle);
  }
  /** Moves to the earliest deadline, fires it, and lets every promise it settled run. */
  async step(): Promise<void> {
    this.armed.sort((a, b) => a.at - b.at || a.id - b.id);
    const t = this.armed.shift();
    if (t === undefined) throw new Error('nothing armed');
    this.ms = Math.max(this.ms, t.at);
    t.fn();
    await tick();
  }
}

/** Powers of two, so simulated times add up exactly. */
const SYNC_MS = 0.5; // a fast disk: 2000 syncs/s if nothing held them back
const ARRIVAL_MS = 1 / 16; // 16,000 changes/s
const LOAD_MS = 2048;

describe('group commit pacing, default options', () => {
  it('never starts more than 1000 / commitWindowMs syncs in any second, however full the batches, and grows them instead', async () => {
    const clock = new SimClock();
    const store = new MemoryLeaseStore({ ...COMMIT_DEFAULTS, timer: clock, now: () => clock.ms });
    const starts: number[] = [];
    store.disk.beforeWrite = () => {
      starts.push(clock.ms);
      return new Promise<void>((landed) => clock.set(landed, SYNC_MS));
    };
    await store.open();

    let applied = 0;
    let durable = 0;
    let slowestMs = 0;
    const failures: unknown[] = [];
    const arrive = (): void => {
      if (clock.ms >= LOAD_MS) return;
      const i = applied++;
      const at = clock.ms;
      store.apply([put(naLease(i % 512, { clttSec: NOW_SEC + i, expiresAtSec: NOW_SEC + 7200 + i }))]).then(
        () => {
          durable++;
          slowestMs = Math.max(slowestMs, clock.ms - at);
        },
        (e: unknown) => failures.push(e),
      );
      clock.set(arrive, ARRIVAL_MS);
    };
    clock.set(arrive, 0);
    while (clock.ms < LOAD_MS || durable + failures.length < applied) await clock.step();

    expect(failures).toEqual([]);
    expect(durable).toBe(LOAD_MS / ARRIVAL_MS);
    const bound = 1000 / COMMIT_DEFAULTS.commitWindowMs;
    let busiest = 0;
    for (let i = 0; i < starts.length; i++) {
      let j = i;
      while (j < starts.length && starts[j]! < starts[i]! + 1000) j++;
      busiest = Math.max(busiest, j - i);
    }
    expect(busiest, 'syncs started within one second').toBeLessThanOrEqual(bound);
    // The load never let up, so every window had its write: the bound is reached, not undercut.
    expect(starts.length).toBeGreaterThanOrEqual((LOAD_MS / 1000) * bound - 1);
    const st = store.stats();
    expect(st.syncs).toBe(starts.length);
    expect(st.maxBatchSize).toBeGreaterThanOrEqual(COMMIT_DEFAULTS.commitWindowMs / ARRIVAL_MS);
    // No change waits longer than one window and its own sync.
    expect(slowestMs).toBeLessThanOrEqual(COMMIT_DEFAULTS.commitWindowMs + SYNC_MS);

    // Once the store is quiet again, a change is written at once: no window in front of its sync.
    clock.set(() => undefined, 2 * COMMIT_DEFAULTS.commitWindowMs);
    await clock.step();
    const quietAt = clock.ms;
    const last = store.apply([put(naLease(600))]);
    await tick();
    expect(starts.at(-1)).toBe(quietAt);
    await clock.step();
    await last;
    await store.close();
  });
});

import { describe, expect, it } from 'vitest';
import { CommitQueue, type BatchOp, type Timer } from '../../../src/store/commit-queue.js';
import { StoreError } from '../../../src/store/index.js';
import { rejectionOf, tick } from './helpers.js';
import { seedText, testSeed } from '../../seed.js';

/** Arrivals and completions of the random-schedule test (test/seed.ts). */
const RANDOM_SEED = testSeed(12345);

/** Time moves only when the test says so (MQTT.js keepaliveManager tests). */
class ManualTimer implements Timer {
  readonly armed = new Map<number, { fn: () => void; ms: number }>();
  /** The clock the queue reads (CommitOptions.now). */
  ms = 1000;
  private next = 1;
  set(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.armed.set(id, { fn, ms });
    return id;
  }
  clear(handle: unknown): void {
    this.armed.delete(handle as number);
  }
  /** Moves the clock to the latest armed deadline and fires everything armed. */
  fireAll(): void {
    const due = [...this.armed.values()];
    this.armed.clear();
    if (due.length > 0) this.ms += Math.max(...due.map((t) => t.ms));
    for (const t of due) t.fn();
  }
}

/** A backend whose writes complete only when the test completes them. */
class ManualWriter {
  readonly batches: BatchOp[][] = [];
  /** When each write started, by the queue's clock (set by setup). */
  readonly startedAt: number[] = [];
  clock: () => number = () => 0;
  private waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  active = 0;
  maxActive = 0;
  readonly write = (ops: readonly BatchOp[]): Promise<void> => {
    this.batches.push([...ops]);
    this.startedAt.push(this.clock());
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  };
  async complete(error?: Error): Promise<void> {
    const w = this.waiting.shift();
    if (!w) throw new Error('no write in flight');
    this.active--;
    if (error) w.reject(error);
    else w.resolve();
    await tick();
  }
}

const op = (n: number): BatchOp => ({ type: 'put', key: Uint8Array.of(n), value: Uint8Array.of(n, n) });

function setup(options: { commitWindowMs?: number } = {}) {
  const timer = new ManualTimer();
  const writer = new ManualWriter();
  writer.clock = () => timer.ms;
  const failures: StoreError[] = [];
  const q = new CommitQueue(writer.write, 0, { commitWindowMs: 5, timer, now: () => timer.ms, ...options }, (e) => failures.push(e));
  return { q, timer, writer, failures };
}

describe('CommitQueue', () => {
  it('writes a change that finds the store quiet at once, with what the same run applied', async () => {
    const { q, timer, writer } = setup();
    const p = [q.enqueue([op(1)], 1), q.enqueue([op(2)], 1)];
    expect(writer.batches).toHaveLength(0); // the rest of this synchronous run may add to it
    await Promise.resolve();
    expect(writer.batches).toEqual([[op(1), op(2)]]);
    expect(timer.armed.size).toBe(0); // no window in front of the fsync
    await writer.complete();
    await Promise.all(p);
    expect(timer.armed.size).toBe(0); // idle: nothing armed, so no timer-driven sync
    expect(q.stats()).toMatchObject({ batchesWritten: 1, changesWritten: 2, bytesWritten: 6, lastSeq: 1 });
  });

  it('paces write starts by the window: a change soon after a write waits out the rest of it, and 1000/window syncs/s is the most', async () => {
    const { q, timer, writer } = setup();
    void q.enqueue([op(1)], 1);
    await Promise.resolve();
    timer.ms += 1;
    await writer.complete(); // written 1 ms after it started
    const second = q.enqueue([op(2)], 1);
    expect([...timer.armed.values()].map((t) => t.ms)).toEqual([4]); // 5 ms after the first start
    await Promise.resolve();
    expect(writer.batches).toHaveLength(1);
    void q.enqueue([op(3)], 1);
    timer.fireAll();
    expect(writer.batches).toEqual([[op(1)], [op(2), op(3)]]);
    expect(writer.startedAt).toEqual([1000, 1005]);
    // Completion after the window: what waited goes at once.
    void q.enqueue([op(4)], 1);
    timer.ms += 7;
    await writer.complete();
    await second;
    expect(writer.batches.at(-1)).toEqual([op(4)]);
    expect(writer.startedAt.at(-1)).toBe(1012);
  });

  it('paces a batch however large: it grows while it waits rather than starting early', async () => {
    const { q, timer, writer } = setup();
    void q.enqueue([op(0)], 1);
    await Promise.resolve();
    await writer.complete(); // the clock has not moved: the window since that start is not over
    for (let i = 1; i <= 100; i++) void q.enqueue([op(i)], 1);
    await Promise.resolve();
    expect(writer.batches).toHaveLength(1);
    expect([...timer.armed.values()].map((t) => t.ms)).toEqual([5]);
    timer.fireAll();
    expect(writer.batches[1]).toHaveLength(100);
    expect(writer.startedAt).toEqual([1000, 1005]);
  });

  it('does not start a write when its timer fires before the window is over by the queue clock', async () => {
    const { q, timer, writer } = setup();
    void q.enqueue([op(0)], 1);
    await Promise.resolve();
    await writer.complete();
    void q.enqueue([op(1)], 1);
    const [early] = [...timer.armed.values()];
    expect(early!.ms).toBe(5);
    timer.armed.clear();
    timer.ms += 3; // Node fired it by the event loop's cached time, 2 ms early by the queue's
    early!.fn();
    expect(writer.batches).toHaveLength(1);
    expect([...timer.armed.values()].map((t) => t.ms)).toEqual([2]);
    timer.fireAll();
    expect(writer.startedAt).toEqual([1000, 1005]);
  });

  it('collects everything that arrives during a write into ONE batch, written when it completes', async () => {
    const { q, timer, writer } = setup();
    const first = q.enqueue([op(0)], 1);
    await Promise.resolve();
    const later = Array.from({ length: 10 }, (_, i) => q.enqueue([op(i + 1)], 1));
    expect(timer.armed.size).toBe(0); // in flight: completion, not a timer, sends the next batch
    expect(writer.batches).toHaveLength(1);
    expect(q.stats()).toMatchObject({ inFlightChanges: 1, pendingChanges: 10 });
    await writer.complete();
    await first;
    timer.fireAll(); // the window since the first start
    expect(writer.batches).toHaveLength(2);
    expect(writer.batches[1]).toHaveLength(10);
    await writer.complete();
    await Promise.all(later);
    expect(q.stats()).toMatchObject({ batchesWritten: 2, changesWritten: 11, lastBatchSize: 10, maxBatchSize: 10, lastSeq: 2 });
    expect(writer.maxActive).toBe(1);
  });

  it('with a zero window, groups what was enqueued in the same turn', async () => {
    const { q, timer, writer } = setup({ commitWindowMs: 0 });
    const ps = [q.enqueue([op(1)], 1), q.enqueue([op(2)], 1)];
    expect(timer.armed.size).toBe(0);
    await Promise.resolve();
    expect(writer.batches).toEqual([[op(1), op(2)]]);
    await writer.complete();
    await Promise.all(ps);
  });

  it('hands out one seq per batch, and records can learn it before the write', async () => {
    const { q, timer, writer } = setup();
    expect(q.openSeq).toBe(1);
    void q.enqueue([op(1)], 1);
    expect(q.openSeq).toBe(1);
    await Promise.resolve();
    expect(q.openSeq).toBe(2); // batch 1 is in flight; the next enqueue opens batch 2
    void q.enqueue([op(2)], 1);
    expect(q.openSeq).toBe(2);
    await writer.complete();
    timer.fireAll(); // batch 2 starts a window after batch 1 did
    await writer.complete();
    expect(q.stats().lastSeq).toBe(2);
  });

  it('drain() writes at once, ignoring the window, and waits for the queue to empty', async () => {
    const { q, timer, writer } = setup({ commitWindowMs: 60_000 });
    const p = q.enqueue([op(1)], 1);
    const drained = q.drain();
    expect(writer.batches).toHaveLength(1);
    expect(timer.armed.size).toBe(0);
    await writer.complete();
    await drained;
    await p;
    await q.drain(); // empty: returns at once
  });

  it('on failure rejects the batch in flight and the one waiting, then every later call', async () => {
    const { q, timer, writer, failures } = setup();
    const inFlight = q.enqueue([op(1)], 1);
    await Promise.resolve();
    const waiting = q.enqueue([op(2)], 1);
    const barrier = q.barrier();
    const cause = new Error('EIO');
    await writer.complete(cause);
    for (const p of [inFlight, waiting, barrier]) {
      const e = await rejectionOf(p);
      expect(e).toBeInstanceOf(StoreError);
      expect(e).toMatchObject({ code: 'write-failed', cause });
    }
    expect(failures).toHaveLength(1);
    expect(writer.batches).toHaveLength(1); // the waiting batch was never written
    expect(await rejectionOf(q.enqueue([op(3)], 1))).toBe(q.failed);
    expect(q.stats()).toMatchObject({ batchesWritten: 0, changesWritten: 0, pendingChanges: 0, inFlightChanges: 0 });
    expect(timer.armed.size).toBe(0);
  });

  it(`never overlaps writes under random arrivals and completions (${seedText(RANDOM_SEED)})`, async () => {
    const { q, timer, writer } = setup();
    let seed = RANDOM_SEED;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const all: Promise<void>[] = [];
    let enqueued = 0;
    for (let step = 0; step < 2000; step++) {
      const r = rand(10);
      if (r < 6) {
        all.push(q.enqueue([op(enqueued & 0xff)], 1));
        enqueued++;
      } else if (r < 7) timer.fireAll();
      else if (r < 8) timer.ms += rand(4);
      else if (writer.active > 0) await writer.complete();
      if (rand(4) === 0) await Promise.resolve();
    }
    while (writer.active > 0 || q.stats().pendingChanges > 0) {
      timer.fireAll();
      await Promise.resolve();
      if (writer.active > 0) await writer.complete();
    }
    await Promise.all(all);
    expect(writer.maxActive).toBe(1);
    // Starts at least a window apart, however many changes waited.
    for (let i = 1; i < writer.batches.length; i++) {
      expect(writer.startedAt[i]! - writer.startedAt[i - 1]!, `write ${i}`).toBeGreaterThanOrEqual(5);
    }
    expect(q.stats().changesWritten).toBe(enqueued);
    expect(writer.batches.reduce((n, b) => n + b.length, 0)).toBe(enqueued);
  });

  it('rejects nonsense options', () => {
    const w = new ManualWriter();
    expect(() => new CommitQueue(w.write, 0, { commitWindowMs: -1 }, () => {})).toThrow(RangeError);
  });
});

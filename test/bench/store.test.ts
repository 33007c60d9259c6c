// The store's micro-benchmark: measurements, not checks, so not in any test
// tier (the numbers depend on the machine). `npm run bench:store` runs it
// (the opt-in vitest project `bench`, with TWIN6_BENCH=1; without it the file
// skips) and prints one line per figure; docs/benchmarks.md says what they
// were compared with, docs/storage.md §6 what they mean for flash.

import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'vitest';
import { LevelLeaseStore } from '../../src/store/index.js';
import { naLease, pdLease, put } from '../unit/store/helpers.js';

const run = process.env.TWIN6_BENCH === '1';
const line = (s: string): void => void process.stdout.write(`bench: ${s}\n`);
const mb = (n: number): string => (n / 2 ** 20).toFixed(1);
/** Bytes this process sent towards the block layer (the bench's bytes per lease, docs/storage.md §6, are the same counter). */
const writeBytes = (): number => Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
const p50p99 = (latencies: number[]): string => {
  latencies.sort((a, b) => a - b);
  const p = (q: number): string => latencies[Math.floor(q * (latencies.length - 1))]!.toFixed(1);
  return `latency p50 ${p(0.5)} p99 ${p(0.99)} ms`;
};

describe.runIf(run)('store figures', () => {
  it('grants/s with every lease synced, by concurrency', async () => {
    for (const clients of [1, 16, 64, 256]) {
      const dir = await mkdtemp(path.join(tmpdir(), 'twin6-bench-'));
      const s = new LevelLeaseStore(dir);
      await s.open();
      const latencies: number[] = [];
      const io0 = writeBytes();
      let n = 0;
      const endMs = performance.now() + 2000;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (performance.now() < endMs) {
            const t = performance.now();
            await s.apply([put(naLease(n++))]);
            latencies.push(performance.now() - t);
          }
        }),
      );
      const st = s.stats();
      const ioPerGrant = (writeBytes() - io0) / n;
      line(
        `${clients} clients: ${(n / 2).toFixed(0)} grants/s, ${st.syncs / 2} syncs/s, ${(st.changesWritten / st.syncs).toFixed(1)} changes/sync, ${p50p99(latencies)}, ${(st.bytesEncoded / st.changesWritten).toFixed(1)} B/record, ${ioPerGrant.toFixed(0)} B/grant written`,
      );
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  // Open loop, as DHCP clients are: the load does not wait for the disk, so
  // with a fast fsync only the pacing stands between it and the syncs/s bound.
  it('syncs/s at a fixed offered load (default options)', async () => {
    for (const rate of [2000, 8000, 20_000]) {
      const dir = await mkdtemp(path.join(tmpdir(), 'twin6-bench-'));
      const s = new LevelLeaseStore(dir);
      await s.open();
      const latencies: number[] = [];
      const acks: Promise<void>[] = [];
      let n = 0;
      const t0 = performance.now();
      await new Promise<void>((done) => {
        const offer = setInterval(() => {
          const elapsed = performance.now() - t0;
          for (const due = Math.min(elapsed, 2000) * (rate / 1000); n < due; n++) {
            const t = performance.now();
            acks.push(s.apply([put(naLease(n))]).then(() => void latencies.push(performance.now() - t)));
          }
          if (elapsed >= 2000) {
            clearInterval(offer);
            done();
          }
        }, 1);
      });
      await Promise.all(acks);
      const seconds = (performance.now() - t0) / 1000;
      const st = s.stats();
      line(
        `offered ${rate} changes/s: ${(n / seconds).toFixed(0)} durable/s, ${(st.syncs / seconds).toFixed(0)} syncs/s, ${(st.changesWritten / st.syncs).toFixed(1)} changes/sync, max batch ${st.maxBatchSize}, ${p50p99(latencies)}`,
      );
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('syncs for 1000 concurrent applies (default options)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'twin6-bench-'));
    const s = new LevelLeaseStore(dir);
    await s.open();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => s.apply([put(naLease(i))])));
    const st = s.stats();
    line(`1000 concurrent applies: ${st.syncs} syncs, batch sizes last ${st.lastBatchSize} max ${st.maxBatchSize}`);
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('open time and memory with 100k leases', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'twin6-bench-'));
    let s = new LevelLeaseStore(dir, { commitWindowMs: 0 });
    await s.open();
    const N = 100_000;
    const t0 = performance.now();
    for (let i = 0; i < N; i += 1000) {
      const batch = [];
      for (let j = i; j < i + 1000; j++) batch.push(put(j % 3 === 0 ? pdLease(j) : naLease(j)));
      await s.apply(batch);
    }
    line(`loaded ${N} leases in ${(performance.now() - t0).toFixed(0)} ms (batches of 1000)`);
    await s.close();
    globalThis.gc?.();
    const before = process.memoryUsage();
    s = new LevelLeaseStore(dir);
    const report = await s.open();
    globalThis.gc?.();
    const after = process.memoryUsage();
    line(
      `reopen ${N}: open ${report.openMs.toFixed(1)} ms + scan ${report.scanMs.toFixed(1)} ms; heap +${mb(after.heapUsed - before.heapUsed)} MB (${((after.heapUsed - before.heapUsed) / N).toFixed(0)} B/lease${globalThis.gc ? '' : ', no --expose-gc: rough'}), rss ${mb(after.rss)} MB`,
    );
    const t1 = performance.now();
    let due = 0;
    for (let k = 0; k < 1000; k++) due += s.dueBefore(2_000_000_000, 100).length;
    line(`dueBefore(limit 100) × 1000 over ${N}: ${(performance.now() - t1).toFixed(1)} ms (${due} results)`);
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }, 120_000);
});

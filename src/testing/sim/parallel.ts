// Seeds on several worker threads: each seed is deterministic on its own, so
// spreading them over threads changes nothing but the wall-clock time. The
// worker runs every jobs-th seed and posts one small result per seed (the
// trace only for a failure).

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runSeed, type SeedOptions, type SeedReport } from './runner.js';

export interface Batch {
  readonly from: number;
  readonly count: number;
  readonly jobs: number;
  readonly options: Omit<SeedOptions, 'echo'>;
}

interface Job {
  readonly batch: Batch;
  readonly index: number;
}

/** Runs the batch on `jobs` threads; onReport gets each seed's report as it finishes (any order). */
export function runParallel(batch: Batch, onReport: (r: SeedReport) => void): Promise<void> {
  const workers = Array.from({ length: batch.jobs }, (_, index) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { batch, index } satisfies Job });
    return new Promise<void>((resolve, reject) => {
      w.on('message', (r: SeedReport) => onReport(r));
      w.on('error', reject);
      w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`simulation worker exited with ${code}`))));
    });
  });
  return Promise.all(workers).then(() => undefined);
}

async function work(job: Job): Promise<void> {
  const { batch, index } = job;
  for (let i = index; i < batch.count; i += batch.jobs) parentPort!.postMessage(await runSeed(batch.from + i, batch.options));
}

if (!isMainThread && parentPort) void work(workerData as Job);

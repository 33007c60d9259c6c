// The deterministic simulation of a failover pair (src/testing/sim/, issue #5) in CI:
// a thousand small seeds and a hundred full ones, each holding every
// invariant and converging after the final heal; and one seed run twice to
// the same trace, because a seed that does not replay is worth nothing.
// `npm run sim -- --seeds N` runs more, on every CPU.

import { describe, expect, it } from 'vitest';
import { runSeed, type SeedReport } from '../../src/testing/sim/runner.js';
import type { SimSize } from '../../src/testing/sim/faults.js';

/** Lite seeds: about 50 ms each on one core of the 2-vCPU CI machine. */
const LITE_SEEDS = 1000;
/** Full seeds: about 200 ms each. */
const FULL_SEEDS = 100;
/** Trace lines shown with a failure; the replay command prints them all. */
const TRACE_TAIL = 150;

function failure(r: SeedReport, size: SimSize): string {
  const v = r.violation!;
  return [
    `SEED=${r.seed} ${v.invariant}: ${v.text}`,
    ...r.trace.slice(-TRACE_TAIL),
    `replay: npm run sim -- --seed ${r.seed}${size === 'lite' ? ' --lite' : ''} --verbose`,
  ].join('\n');
}

async function runSeeds(from: number, count: number, size: SimSize): Promise<{ failures: string[]; events: number }> {
  const failures: string[] = [];
  let events = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = await runSeed(seed, { size });
    events += r.events;
    if (r.violation) failures.push(failure(r, size));
  }
  return { failures, events };
}

describe('simulated failover pair (src/testing/sim, VOPR style)', () => {
  it(`holds every invariant and converges on ${LITE_SEEDS} lite seeds`, async () => {
    const { failures, events } = await runSeeds(1, LITE_SEEDS, 'lite');
    expect(failures.slice(0, 1)).toEqual([]);
    expect(events).toBeGreaterThan(LITE_SEEDS * 1000);
  }, 600_000);

  it(`holds every invariant and converges on ${FULL_SEEDS} full seeds`, async () => {
    const { failures } = await runSeeds(1_000_001, FULL_SEEDS, 'full');
    expect(failures.slice(0, 1)).toEqual([]);
  }, 600_000);

  it('replays a seed exactly: same events, same trace', async () => {
    const lines = async () => {
      const out: string[] = [];
      const r = await runSeed(424_242, { size: 'lite', echo: (l) => out.push(l) });
      return { events: r.events, out };
    };
    const [a, b] = [await lines(), await lines()];
    expect(a.events).toBe(b.events);
    expect(a.out.length).toBeGreaterThan(100);
    expect(b.out).toEqual(a.out);
  }, 60_000);
});

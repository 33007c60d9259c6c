// npm run sim -- [--seeds N] [--from SEED] [--seed SEED] [--lite] [--codec on|off] [--hazards] [--jobs J] [--verbose]
//
// Runs N seeds (from SEED, or from a random start printed first) of the
// deterministic simulation of a twin6 failover pair. A failing seed prints its
// options, its trace and the command that replays it; the exit status is 1 if
// any seed failed. --seed runs one seed; with --verbose every trace line is
// printed as it happens. --hazards adds the fault mixes known to fail today.
// --jobs runs seeds on that many threads (default: one per CPU).

import { parseArgs } from 'node:util';
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { runSeed, type SeedReport } from './runner.js';
import { runParallel } from './parallel.js';
import { optionsText, type SimSize } from './faults.js';

const USAGE = 'usage: npm run sim -- [--seeds N] [--from SEED] [--seed SEED] [--lite] [--codec on|off] [--hazards] [--jobs J] [--verbose]';
/** Failures printed in full; the rest get one line each. */
const FULL_REPORTS_MAX = 1;

interface Mode {
  readonly size: SimSize;
  readonly codec: string | undefined;
  readonly hazards: boolean;
}

function replayCommand(seed: number, m: Mode): string {
  return `npm run sim -- --seed ${seed}${m.size === 'lite' ? ' --lite' : ''}${m.codec ? ` --codec ${m.codec}` : ''}${m.hazards ? ' --hazards' : ''} --verbose`;
}

function printFailure(r: SeedReport, m: Mode, full: boolean): void {
  const v = r.violation!;
  process.stdout.write(`\nSEED=${r.seed} FAILED ${v.invariant}: ${v.text}\n`);
  if (full) {
    process.stdout.write(
      `options: ${optionsText(r.options)}\n--- trace (last ${r.trace.length} lines) ---\n${r.trace.join('\n')}\n--- end of trace ---\n`,
    );
  }
  process.stdout.write(`replay: ${replayCommand(r.seed, m)}\n`);
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        seeds: { type: 'string' },
        from: { type: 'string' },
        seed: { type: 'string' },
        lite: { type: 'boolean' },
        codec: { type: 'string' },
        hazards: { type: 'boolean' },
        jobs: { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const size: SimSize = args.lite ? 'lite' : 'full';
  const codecArg = args.codec;
  if (codecArg !== undefined && codecArg !== 'on' && codecArg !== 'off') {
    process.stderr.write(`--codec must be on or off\n${USAGE}\n`);
    return 2;
  }
  const codec = codecArg === undefined ? undefined : codecArg === 'on';
  const mode: Mode = { size, codec: codecArg, hazards: args.hazards === true };
  const one = args.seed === undefined ? undefined : Number(args.seed);
  const count = one !== undefined ? 1 : Number(args.seeds ?? 100);
  const from = one ?? (args.from !== undefined ? Number(args.from) : randomInt(0, 2 ** 40));
  const echo = args.verbose ? (line: string) => process.stdout.write(`${line}\n`) : undefined;
  const jobs = echo ? 1 : Math.min(count, Number(args.jobs ?? availableParallelism()));
  if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(jobs) || jobs < 1) {
    process.stderr.write(`seeds must be non-negative integers\n${USAGE}\n`);
    return 2;
  }
  process.stdout.write(
    `twin6 simulation: ${count} ${size} seed(s) from ${from}${mode.hazards ? ' with known hazards' : ''}, ${jobs} thread(s)\n`,
  );
  const startMs = performance.now();
  const failed: number[] = [];
  let done = 0;
  let events = 0;
  let convergeMaxSec = 0;
  const report = (r: SeedReport): void => {
    done++;
    events += r.events;
    convergeMaxSec = Math.max(convergeMaxSec, r.convergedAfterSec ?? 0);
    if (r.violation) {
      printFailure(r, mode, failed.length < FULL_REPORTS_MAX && !echo);
      failed.push(r.seed);
    }
    if (done % 100 === 0 || done === count) {
      const sec = (performance.now() - startMs) / 1000;
      process.stdout.write(`  ${done}/${count} seeds, ${failed.length} failed, ${events} events, ${sec.toFixed(1)} s\n`);
    }
  };
  const options = { size, hazards: mode.hazards, ...(codec === undefined ? {} : { codec }) };
  if (jobs > 1) await runParallel({ from, count, jobs, options }, report);
  else for (let i = 0; i < count; i++) report(await runSeed(from + i, { ...options, ...(echo ? { echo } : {}) }));
  failed.sort((a, b) => a - b);
  const sec = (performance.now() - startMs) / 1000;
  process.stdout.write(
    `${failed.length === 0 ? 'OK' : 'FAILED'}: ${count - failed.length}/${count} seeds passed in ${sec.toFixed(1)} s` +
      ` (${(events / Math.max(sec, 1e-9)).toFixed(0)} events/s, slowest convergence ${convergeMaxSec.toFixed(0)} s)\n`,
  );
  if (failed.length > 0) process.stdout.write(`failing seeds: ${failed.join(' ')}\n`);
  return failed.length === 0 ? 0 : 1;
}

void main().then((code) => process.exit(code));

// One seed, VOPR-style: options from the seed, a safety phase with faults on
// and the invariants checked after every event, then the liveness phase —
// everything healed, and the pair must reach NORMAL and agree within the
// budget — then invariant 2 on what the clients still hold.

import { Prng } from './prng.js';
import { optionsText, swarmOptions, type SimSize, type SwarmOptions } from './faults.js';
import { World, stackOf } from './world.js';
import { injectFaults } from './injector.js';
import { checkLeasesKept, checkPairUnique, checkPdOwners, notConverged } from './invariants.js';
import type { Violation } from './ledger.js';

export interface SeedOptions {
  readonly size: SimSize;
  /** Print every trace line as it happens. */
  readonly echo?: (line: string) => void;
  /** Force the partner codec on or off, whatever the seed chose. */
  readonly codec?: boolean;
  /** Also the fault mixes known to break today (see faults.ts). */
  readonly hazards?: boolean;
}

export interface SeedReport {
  readonly seed: number;
  readonly options: SwarmOptions;
  readonly violation: Violation | undefined;
  readonly events: number;
  /** Seconds from the heal to convergence; undefined if it never converged (or the run failed earlier). */
  readonly convergedAfterSec: number | undefined;
  /** The kept trace, for a failure. */
  readonly trace: readonly string[];
}

/** How often (virtual ms) the convergence check runs in the liveness phase. */
const CHECK_EVERY_MS = 250;

/** Lets every promise continuation of the last event run before the next event (nothing else is pending). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function runSeed(seed: number, so: SeedOptions): Promise<SeedReport> {
  const chosen = swarmOptions(new Prng(seed), so.size, so.hazards ?? false);
  const options = so.codec === undefined ? chosen : { ...chosen, codec: so.codec };
  const world = new World(seed, options, so.echo);
  world.trace.add('sim', `SEED=${seed} ${so.size} ${optionsText(options)}`);
  const onRejection = (e: unknown): void => world.violated({ invariant: 'crash', text: `unhandled rejection: ${stackOf(e)}` });
  process.on('unhandledRejection', onRejection);
  let events = 0;
  let convergedAfterSec: number | undefined;
  try {
    world.start();
    injectFaults(world);
    const safetyEndMs = options.safetySec * 1000;
    events += await runUntil(world, safetyEndMs, () => undefined);
    if (!world.violation) {
      world.heal();
      const deadlineMs = safetyEndMs + options.convergeSec * 1000;
      let missing: string | undefined = 'not checked';
      events += await runUntil(world, deadlineMs, () => {
        missing = notConverged(world);
        return missing === undefined;
      });
      if (missing === undefined) convergedAfterSec = (world.time.nowMs - safetyEndMs) / 1000;
      else world.violated({ invariant: 'liveness', text: `not converged ${options.convergeSec} s after the heal: ${missing}` });
      world.violated(checkLeasesKept(world));
    }
  } finally {
    process.off('unhandledRejection', onRejection);
  }
  return { seed, options, violation: world.violation, events, convergedAfterSec, trace: world.violation ? world.trace.lines() : [] };
}

/**
 * Runs events up to untilMs, or until a violation, or until check() says
 * done; check runs every CHECK_EVERY_MS of virtual time with the prefix-owner
 * and maintenance invariants, the pair-wide invariant after every event that
 * changed a lease. Returns the events run.
 */
async function runUntil(world: World, untilMs: number, check: () => boolean | void): Promise<number> {
  let events = 0;
  let nextCheckMs = world.time.nowMs + CHECK_EVERY_MS;
  for (;;) {
    const at = Math.min(untilMs, nextCheckMs);
    const e = world.time.next(at);
    if (!e) {
      world.time.nowMs = at;
      if (at >= nextCheckMs) {
        nextCheckMs += CHECK_EVERY_MS;
        world.violated(checkPdOwners(world));
        world.violated(world.maintenanceWatch.check());
        if (check() === true || world.violation) return events;
      }
      if (at >= untilMs) return events;
      continue;
    }
    try {
      e.fn();
    } catch (err) {
      world.violated({ invariant: 'crash', text: `event threw: ${stackOf(err)}` });
    }
    await settle();
    events++;
    // Invariant 1 across the pair, after every event that changed a lease (the clients check theirs on every Reply).
    if (world.leasesChanged) {
      world.leasesChanged = false;
      world.violated(checkPairUnique(world));
    }
    if (world.violation) return events;
  }
}

// The rate ladder: fixed-rate perfdhcp runs at rising rates until more than
// 2.5% of exchanges fail. Rates double first (cheap to find the bracket), then
// rise in steps of 1/8 of the bracket: the reported rate is at most one such
// step below the limit, for a third of the steps of a fine linear ladder.

import { sleep } from '../lab/proc.js';
import { BenchContext, CLIENT_IF, MAX_FAILED_RATIO } from './context.js';
import type { RunOrder } from './order.js';
import { runPerfdhcp, warmUp, type LeaseMode, type PerfResult } from './perfdhcp.js';
import { startServer, twin6Syncs, type ServerName } from './servers.js';

export interface StepResult {
  readonly rate: number;
  readonly clean: boolean;
  readonly failedRatio: number;
  readonly achievedRate: number;
  readonly solicitsSent: number;
  readonly repliesAccepted: number;
  readonly avgReplyMs: number;
  /** twin6 only: synced writes per second while perfdhcp sent, from its own counter. */
  readonly syncsPerSec?: number;
  /** The time syncsPerSec was measured over: inside the step's sending period (syncWindowMs). */
  readonly syncsWindowSec?: number;
  readonly note?: string;
  readonly attempt?: number;
  /** Pair mode: active leases each partner had persisted once both were stopped (twin6: its store; Kea: its memfile). */
  readonly pairLeases?: { readonly primary: number; readonly secondary: number };
}

export interface LadderResult {
  readonly server: ServerName;
  readonly mode: LeaseMode;
  /** Highest rate whose step stayed at or under 2.5% failed exchanges; 0 if none did. */
  readonly highestCleanRate: number;
  readonly steps: readonly StepResult[];
}

const MODE_SEED: Record<LeaseMode, number> = { na: 1, pd: 2, both: 3 };

/**
 * Where in a step twin6's sync counter is read, in ms after perfdhcp was
 * launched: inside the period it sends (it starts a little after launch and
 * stops `seconds` later), so the count and the time it is divided by cover
 * the same load, without perfdhcp's start or its wait for late Replies.
 */
export function syncWindowMs(seconds: number): { fromMs: number; toMs: number } {
  return { fromMs: Math.min(1000, seconds * 250), toMs: seconds * 1000 - Math.min(500, seconds * 100) };
}

/**
 * A step's result from its perfdhcp run, single server or pair alike: clean
 * when nothing else went wrong (`problem`: a crash, a pair that left its
 * serving state, named in the note), perfdhcp kept its own rate, and at most
 * MAX_FAILED_RATIO of the exchanges failed.
 */
export function judgeStep(rate: number, seconds: number, r: PerfResult, problem?: string): StepResult {
  // perfdhcp that could not keep its own rate measured itself, not the server.
  const clientLimited = r.solicit.sent < 0.9 * rate * seconds;
  const note = problem ?? (clientLimited ? 'perfdhcp could not send at this rate' : undefined);
  return {
    rate,
    clean: note === undefined && r.failedRatio <= MAX_FAILED_RATIO,
    failedRatio: r.failedRatio,
    achievedRate: r.achievedRate,
    solicitsSent: r.solicit.sent,
    repliesAccepted: r.solicit.sent - r.failed,
    avgReplyMs: r.request.avgMs,
    ...(note ? { note } : {}),
  };
}

async function step(ctx: BenchContext, server: ServerName, mode: LeaseMode, rate: number): Promise<StepResult> {
  const dir = ctx.newDir(`ladder-${server}-${mode}-${rate}`);
  const seconds = ctx.opts.stepSeconds;
  const srv = await startServer(server, ctx.server, dir, ctx.opts);
  let crashed: string | undefined;
  try {
    await warmUp(ctx.client, CLIENT_IF, mode, rate, ctx.opts.quick);
    const launched = Date.now();
    // Same seed for both servers: they see the same client DUIDs in the same order.
    const perf = runPerfdhcp(ctx.client, { iface: CLIENT_IF, mode, rate, seconds, seed: rate * 10 + MODE_SEED[mode] });
    // Awaited below; until then a failure must not count as unhandled.
    perf.catch(() => undefined);
    let syncs: { perSec: number; windowSec: number } | undefined;
    if (server === 'twin6') {
      const w = syncWindowMs(seconds);
      await sleep(w.fromMs - (Date.now() - launched));
      const s0 = await twin6Syncs(dir);
      await sleep(w.toMs - (Date.now() - launched));
      const s1 = srv.proc.running ? await twin6Syncs(dir) : undefined;
      if (s0 && s1 && s1.atMs > s0.atMs)
        syncs = { perSec: (s1.syncs - s0.syncs) / ((s1.atMs - s0.atMs) / 1000), windowSec: (s1.atMs - s0.atMs) / 1000 };
    }
    const r = await perf;
    if (!srv.proc.running)
      crashed = `${server} exited during the ${mode} step at ${rate}/s: ${JSON.stringify(srv.proc.exitStatus)}\n${srv.log()}`;
    return {
      ...judgeStep(rate, seconds, r, crashed ? 'server crashed' : undefined),
      ...(syncs ? { syncsPerSec: syncs.perSec, syncsWindowSec: syncs.windowSec } : {}),
    };
  } finally {
    if (crashed) ctx.problem(crashed);
    await ctx.stop(srv, `the ${mode} step at ${rate}/s`);
    ctx.dropDir(dir);
  }
}

function describe(s: StepResult): string {
  const pct = (s.failedRatio * 100).toFixed(2);
  const syncs = s.syncsPerSec !== undefined ? `, ${Math.round(s.syncsPerSec)} syncs/s` : '';
  const pair = s.pairLeases ? `, leases primary/secondary ${s.pairLeases.primary}/${s.pairLeases.secondary}` : '';
  return `${s.rate}/s: ${s.clean ? 'clean' : 'FAIL'} (${pct}% failed, ${s.achievedRate.toFixed(0)} done/s${syncs}${pair}${s.note ? `, ${s.note}` : ''})`;
}

/** Every server's single-server ladder for one lease mode, climbed together (see climbAll). */
export function ladders(ctx: BenchContext, mode: LeaseMode, order: RunOrder<ServerName>): Promise<LadderResult[]> {
  return climbAll(
    ctx,
    mode,
    order,
    ctx.opts.servers.map((s) => ({ server: s, label: s, runStep: (rate: number) => step(ctx, s, mode, rate) })),
  );
}

export interface SearchPlan {
  readonly startRate: number;
  readonly maxRate: number;
  readonly fineSteps: number;
  readonly quickRate?: number;
}

/**
 * The rate search of one ladder, a step at a time: rates double until one
 * fails, then rise from the last clean rate by 1/fineSteps of that bracket
 * until one fails. A failing rate is tried once more and counts only if it
 * fails again: on a shared machine one burst of someone else's work should
 * not end a ladder.
 */
export class RateSearch {
  private rate: number;
  private attempt = 1;
  private phase: 'double' | 'fine' | 'done';
  private inc = 0;
  private failed = Infinity;
  /** Highest rate found clean so far; 0 if none. */
  highestClean = 0;

  constructor(private readonly plan: SearchPlan) {
    this.rate = plan.quickRate ?? plan.startRate;
    this.phase = this.rate <= plan.maxRate ? 'double' : 'done';
  }

  /** The rate to run next and which attempt at it; undefined once the search is over. */
  next(): { rate: number; attempt: number } | undefined {
    return this.phase === 'done' ? undefined : { rate: this.rate, attempt: this.attempt };
  }

  record(clean: boolean): void {
    if (this.phase === 'done') throw new Error('the rate search is over');
    if (clean) {
      this.highestClean = this.rate;
      this.attempt = 1;
      this.rate = this.phase === 'double' ? this.rate * 2 : this.rate + this.inc;
      if (this.rate > this.plan.maxRate || this.rate >= this.failed) this.phase = 'done';
      return;
    }
    if (this.attempt === 1) {
      this.attempt = 2;
      return;
    }
    this.attempt = 1;
    if (this.phase === 'fine' || this.plan.fineSteps <= 0) {
      this.phase = 'done';
      return;
    }
    this.failed = this.rate;
    this.inc = Math.max(1, Math.round((this.failed - this.highestClean) / this.plan.fineSteps));
    this.rate = this.highestClean + this.inc;
    this.phase = this.rate < this.failed ? 'fine' : 'done';
  }
}

export interface Climber {
  readonly server: ServerName;
  /** How the notes name it ("twin6", "kea pair"). */
  readonly label: string;
  readonly runStep: (rate: number) => Promise<StepResult>;
}

/**
 * Climbs the ladders of all servers together, for any way of running one
 * step (a single server here, a failover pair in pair.ts): each round runs
 * the next step of every ladder still climbing, in the order `order` gives
 * that round, so neither server always runs first or always after the other.
 * A ladder whose step throws ends there (a problem), the others go on.
 */
export async function climbAll(
  ctx: BenchContext,
  mode: LeaseMode,
  order: RunOrder<ServerName>,
  climbers: readonly Climber[],
): Promise<LadderResult[]> {
  const state = climbers.map((c) => ({ c, search: new RateSearch(ctx.opts), steps: [] as StepResult[], broken: false }));
  const climbing = () => state.filter((s) => !s.broken && s.search.next() !== undefined);
  for (let live = climbing(); live.length > 0; live = climbing()) {
    for (const server of order.next(
      `ladder ${mode}`,
      live.map((s) => s.c.server),
    )) {
      const s = live.find((x) => x.c.server === server)!;
      const { rate, attempt } = s.search.next()!;
      try {
        const r = { ...(await s.c.runStep(rate)), attempt };
        s.steps.push(r);
        s.search.record(r.clean);
        ctx.note(`${s.c.label} ${mode} ${describe(r)}${attempt > 1 ? ' (retry)' : ''}`);
      } catch (e) {
        s.broken = true;
        ctx.problem(`ladder ${s.c.label} ${mode} failed at ${rate}/s: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  return state.filter((s) => !s.broken).map((s) => ({ server: s.c.server, mode, highestCleanRate: s.search.highestClean, steps: s.steps }));
}

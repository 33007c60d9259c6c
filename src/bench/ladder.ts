// The rate ladder: fixed-rate perfdhcp runs at rising rates until more than
// 2.5% of exchanges fail. Rates double first (cheap to find the bracket), then
// rise in steps of 1/8 of the bracket: the reported rate is at most one such
// step below the limit, for a third of the steps of a fine linear ladder.

import { BenchContext, CLIENT_IF, MAX_FAILED_RATIO } from './context.js';
import { runPerfdhcp, warmUp, type LeaseMode } from './perfdhcp.js';
import { startServer, twin6Syncs, type ServerName } from './servers.js';

export interface StepResult {
  readonly rate: number;
  readonly clean: boolean;
  readonly failedRatio: number;
  readonly achievedRate: number;
  readonly solicitsSent: number;
  readonly repliesAccepted: number;
  readonly avgReplyMs: number;
  /** twin6 only: synced writes per second during the step, from its own counter. */
  readonly syncsPerSec?: number;
  readonly note?: string;
  readonly attempt?: number;
  /** Pair mode: leases each partner holds after the step (twin6: store size; Kea: memfile CSV records). */
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

async function step(ctx: BenchContext, server: ServerName, mode: LeaseMode, rate: number): Promise<StepResult> {
  const dir = ctx.newDir(`ladder-${server}-${mode}-${rate}`);
  const seconds = ctx.opts.stepSeconds;
  const srv = await startServer(server, ctx.server, dir, ctx.opts);
  let crashed: string | undefined;
  try {
    await warmUp(ctx.client, CLIENT_IF, mode, rate, ctx.opts.quick);
    const syncs0 = server === 'twin6' ? await twin6Syncs(dir) : undefined;
    // Same seed for both servers: they see the same client DUIDs in the same order.
    const r = await runPerfdhcp(ctx.client, { iface: CLIENT_IF, mode, rate, seconds, seed: rate * 10 + MODE_SEED[mode] });
    const syncs1 = server === 'twin6' && srv.proc.running ? await twin6Syncs(dir) : undefined;
    const syncs = syncs0 !== undefined && syncs1 !== undefined ? syncs1 - syncs0 : undefined;
    if (!srv.proc.running) crashed = `${server} exited during the ${mode} step at ${rate}/s: ${JSON.stringify(srv.proc.exitStatus)}\n${srv.log()}`;
    // perfdhcp that could not keep its own rate measured itself, not the server.
    const clientLimited = r.solicit.sent < 0.9 * rate * seconds;
    const clean = !crashed && !clientLimited && r.failedRatio <= MAX_FAILED_RATIO;
    return {
      rate,
      clean,
      failedRatio: r.failedRatio,
      achievedRate: r.achievedRate,
      solicitsSent: r.solicit.sent,
      repliesAccepted: r.solicit.sent - r.failed,
      avgReplyMs: r.request.avgMs,
      ...(syncs !== undefined ? { syncsPerSec: syncs / seconds } : {}),
      ...(crashed ? { note: 'server crashed' } : clientLimited ? { note: 'perfdhcp could not send at this rate' } : {}),
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

export async function ladder(ctx: BenchContext, server: ServerName, mode: LeaseMode): Promise<LadderResult> {
  return climb(ctx, server, mode, server, (rate) => step(ctx, server, mode, rate));
}

/**
 * The rate search itself, for any way of running one step (a single server
 * here, a failover pair in pair.ts): doubling, then 1/8 of the bracket.
 */
export async function climb(
  ctx: BenchContext,
  server: ServerName,
  mode: LeaseMode,
  label: string,
  runStep: (rate: number) => Promise<StepResult>,
): Promise<LadderResult> {
  const steps: StepResult[] = [];
  // A failing step is run once more and counts only if it fails again: on a
  // shared machine one burst of someone else's work should not end a ladder.
  const tryRate = async (rate: number): Promise<boolean> => {
    for (let attempt = 1; attempt <= 2; attempt++) {
      const s = { ...(await runStep(rate)), attempt };
      steps.push(s);
      ctx.note(`${label} ${mode} ${describe(s)}${attempt > 1 ? ' (retry)' : ''}`);
      if (s.clean) return true;
    }
    return false;
  };
  const o = ctx.opts;
  let clean = 0;
  let failed: number | undefined;
  for (let rate = o.quickRate ?? o.startRate; rate <= o.maxRate; rate *= 2) {
    if (!(await tryRate(rate))) {
      failed = rate;
      break;
    }
    clean = rate;
  }
  if (failed !== undefined && o.fineSteps > 0) {
    const inc = Math.max(1, Math.round((failed - clean) / o.fineSteps));
    for (let rate = clean + inc; rate < failed; rate += inc) {
      if (!(await tryRate(rate))) break;
      clean = rate;
    }
  }
  return { server, mode, highestCleanRate: clean, steps };
}

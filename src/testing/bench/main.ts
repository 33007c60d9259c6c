#!/usr/bin/env node
// npm run bench: twin6d and ISC Kea side by side in one run, on one machine, in
// lab network namespaces, driven by ISC's perfdhcp. Needs root, kea-dhcp6,
// perfdhcp, strace and iproute2. See docs/benchmarks.md.

import { existsSync, mkdtempSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { trackDir, untrackDir } from '../lab/cleanup.js';
import { Lan, newLabId, type Namespace } from '../lab/netns.js';
import { run } from '../lab/proc.js';
import { BenchContext, FULL, QUICK, type BenchOptions } from './context.js';
import { ladders } from './ladder.js';
import { bindingsRun, latency } from './measure.js';
import { randomSeed, RunOrder } from './order.js';
import type { LeaseMode } from './perfdhcp.js';
import { createBenchPair, PAIR_LADDER, PAIR_PLAN, pairBench, pairTable, perfdhcpNamespace, type PairResults } from './pair.js';
import { bufferLine, figures, machine, socketSummary, table, type Results, type RmemLimits } from './report.js';
import { SERVER_NAMES, TWIN6D, type ServerName } from './servers.js';

const USAGE = `usage: node dist/testing/bench/main.js [--pair] [--quick] [--json FILE] [--servers twin6,kea]
                              [--kea-threads N] [--step-seconds N] [--order-seed N] [--keep] [--cpu-prof DIR]
  --pair          failover pairs instead: IA_NA ladder of a twin6 pair against a Kea hot-standby pair
  --quick         low rate, a few seconds per server (the smoke test)
  --json FILE     also write the figures as JSON
  --servers       measure only these (default both)
  --kea-threads   run Kea multi-threaded with N threads (default: Kea 2.2's default, single-threaded;
                  with --pair Kea is always multi-threaded, 0 = one thread per CPU)
  --step-seconds  perfdhcp period of each ladder step (default 5)
  --order-seed    who runs first: round k rotates the servers by (k + N) (default: random, printed)
  --keep          keep configs, logs and lease files of every run
  --cpu-prof DIR  run twin6d under node --cpu-prof, one .cpuprofile per start in DIR`;

const TMPFS_MAGIC = 0x01021994;

function parse(argv: readonly string[]): { opts: BenchOptions; json?: string; pair: boolean } {
  let pair = false;
  let quick = false;
  let keep = false;
  let json: string | undefined;
  let servers: ServerName[] = [...SERVER_NAMES];
  let keaThreads = 0;
  let stepSeconds: number | undefined;
  let cpuProf: string | undefined;
  let orderSeed = randomSeed();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') quick = true;
    else if (a === '--pair') pair = true;
    else if (a === '--keep') keep = true;
    else if (a === '--json') json = value();
    else if (a === '--kea-threads') keaThreads = Number(value());
    else if (a === '--step-seconds') stepSeconds = Number(value());
    else if (a === '--order-seed') orderSeed = Number(value());
    else if (a === '--cpu-prof') cpuProf = resolve(value());
    else if (a === '--servers') {
      servers = value().split(',') as ServerName[];
      if (servers.length === 0 || servers.some((s) => !SERVER_NAMES.includes(s))) throw new Error(`--servers: expected twin6 and/or kea`);
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(Number.isInteger(keaThreads) && keaThreads >= 0 && keaThreads <= 64)) throw new Error('--kea-threads: 0..64');
  if (!(Number.isInteger(orderSeed) && orderSeed >= 0)) throw new Error('--order-seed: a whole number ≥ 0');
  if (stepSeconds !== undefined && !(stepSeconds >= 1 && stepSeconds <= 120)) throw new Error('--step-seconds: 1..120');
  const base = quick ? QUICK : pair ? { ...FULL, ...PAIR_LADDER } : FULL;
  const extra = { ...(stepSeconds ? { stepSeconds } : {}), ...(cpuProf ? { twin6CpuProfDir: cpuProf } : {}) };
  if (pair && cpuProf) throw new Error('--cpu-prof is not supported with --pair');
  return { opts: { ...base, ...extra, servers, keaThreads, keep, orderSeed }, json, pair };
}

async function preflight(opts: BenchOptions, pair: boolean): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (network namespaces, port 547)');
  const tools = ['ip', 'perfdhcp', 'strace', ...(opts.servers.includes('kea') ? ['kea-dhcp6'] : [])];
  for (const t of tools) {
    const r = await run(['sh', '-c', 'command -v "$1"', 'sh', t], { check: false });
    if (r.code !== 0) throw new Error(`${t} is not installed (Debian: kea-dhcp6-server, kea-admin, strace, iproute2)`);
  }
  if (pair && opts.servers.includes('kea')) {
    for (const lib of ['libdhcp_ha.so', 'libdhcp_lease_cmds.so']) {
      if (!existsSync(join(PAIR_PLAN.keaHooks, lib))) throw new Error(`${join(PAIR_PLAN.keaHooks, lib)} missing (Debian: kea-common)`);
    }
  }
  if (opts.servers.includes('twin6')) {
    const r = await run([process.execPath, TWIN6D, '--help'], { check: false, timeoutMs: 15_000 });
    if (r.signal || /Cannot find module|SyntaxError/.test(r.stderr))
      throw new Error(`${TWIN6D} does not run (npm run build?):\n${r.stderr.slice(-1500)}`);
  }
}

async function phase<T>(ctx: BenchContext, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  const t0 = Date.now();
  try {
    return await fn();
  } catch (e) {
    ctx.problem(`${what} failed: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  } finally {
    ctx.note(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

async function bench(ctx: BenchContext, order: RunOrder<ServerName>): Promise<Results> {
  const o = ctx.opts;
  const results: Results = {
    ladders: [],
    latency: {},
    latencyLight: {},
    lightRate: o.lightRate,
    small: {},
    large: {},
    smallBindings: o.smallBindings,
    largeBindings: o.largeBindings,
  };
  const modes: LeaseMode[] = ['na', 'pd', 'both'];
  for (const mode of modes) {
    const l = await phase(ctx, `ladders ${mode}`, () => ladders(ctx, mode, order));
    if (l) results.ladders.push(...l);
  }
  const naRate = (s: ServerName): number => results.ladders.find((l) => l.server === s && l.mode === 'na')?.highestCleanRate ?? 0;
  // "At half of Kea's highest rate": a load both servers can carry, the same for both.
  const reference = o.servers.includes('kea') && naRate('kea') > 0 ? naRate('kea') : Math.max(...o.servers.map(naRate));
  const rate = Math.max(1, Math.round((reference > 0 ? reference : (o.quickRate ?? o.startRate)) / 2));
  const withRate = { ...results, latencyRate: rate };
  for (const s of order.next(`latency at ${rate}/s`)) {
    const l = await phase(ctx, `latency ${s} at ${rate}/s`, () => latency(ctx, s, rate));
    if (l) withRate.latency[s] = l;
  }
  for (const s of order.next(`latency at ${o.lightRate}/s`)) {
    const light = await phase(ctx, `latency ${s} at ${o.lightRate}/s`, () => latency(ctx, s, o.lightRate));
    if (light) withRate.latencyLight[s] = light;
  }
  for (const s of order.next(`${o.smallBindings} bindings`)) {
    const small = await phase(ctx, `${s} with ${o.smallBindings} bindings`, () => bindingsRun(ctx, s, o.smallBindings));
    if (small) withRate.small[s] = small;
  }
  for (const s of order.next(`${o.largeBindings} bindings + storage`)) {
    const large = await phase(ctx, `${s} with ${o.largeBindings} bindings + storage at ${rate}/s`, () =>
      bindingsRun(ctx, s, o.largeBindings, rate),
    );
    if (large) withRate.large[s] = large;
  }
  return { ...withRate, sockets: socketSummary(ctx.sockets) };
}

/** fsync on tmpfs costs nothing: the comparison would flatter twin6. */
function checkNotTmpfs(ctx: BenchContext, dir: string): void {
  if (statfsSync(dir).type === TMPFS_MAGIC) ctx.problem(`${dir} is on tmpfs: storage figures are meaningless`);
}

/** What caps and defaults the servers' receive buffers, in the server namespace (the host's where it is not per namespace). */
async function rmemLimits(ns: Namespace): Promise<RmemLimits | undefined> {
  const read = async (name: string): Promise<number> => {
    const file = `/proc/sys/net/core/${name}`;
    const r = await ns.exec(['cat', file], { check: false });
    return Number((r.code === 0 ? r.stdout : readFileSync(file, 'utf8')).trim());
  };
  try {
    return { rmemMaxBytes: await read('rmem_max'), rmemDefaultBytes: await read('rmem_default') };
  } catch {
    return undefined;
  }
}

/** The lines printed above the table: run order and receive buffers, both part of how to read the figures. */
function preamble(order: RunOrder<ServerName>, buffers: string): string {
  return `order: ${order.rule()}\n${buffers}\n`;
}

/** How one run (single-server or pair) began, for its report. */
interface RunStart {
  readonly root: string;
  readonly json: string | undefined;
  readonly started: Date;
  /** Other work on the machine moves every figure; the JSON says how busy it was. */
  readonly loadAtStart: number | undefined;
  readonly order: RunOrder<ServerName>;
}

/** The end of either run, after its table: the JSON, the problems, the run directory kept or not; returns the exit status. */
function finish(
  ctx: BenchContext,
  run: RunStart,
  what: { bench: string; mode: string; figures: unknown; sockets: unknown; details: unknown },
): number {
  const durationSec = Math.round((Date.now() - run.started.getTime()) / 1000);
  const doc = {
    bench: what.bench,
    version: 1,
    date: run.started.toISOString(),
    durationSec,
    mode: what.mode,
    machine: { ...machine(), loadAvg1mAtStart: run.loadAtStart, loadAvg1mAtEnd: loadavg()[0] },
    options: ctx.opts,
    figures: what.figures,
    order: { seed: run.order.seed, rule: run.order.rule(), rounds: run.order.history },
    sockets: what.sockets,
    details: what.details,
    problems: ctx.problems,
  };
  if (run.json) writeFileSync(run.json, `${JSON.stringify(doc, null, 2)}\n`);
  if (ctx.problems.length > 0)
    process.stdout.write(`\n${ctx.problems.length} problem(s):\n${ctx.problems.map((p) => `- ${p}`).join('\n')}\n`);
  if (ctx.opts.keep) {
    untrackDir(run.root);
    process.stdout.write(`run directories kept in ${run.root}\n`);
  }
  process.stdout.write(`bench took ${durationSec} s\n`);
  return ctx.problems.length > 0 ? 1 : 0;
}

/** --pair: the failover pairs' IA_NA ladders on the pair lab's topology (src/testing/lab/pair-topology.ts). */
async function pairMain(opts: BenchOptions, json: string | undefined): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), 't6-bench-pair-'));
  if (!opts.keep) trackDir(root);
  const started = new Date();
  const loadAtStart = loadavg()[0];
  const topo = await createBenchPair(root);
  // BenchContext's server is the primary's namespace (rmem limits are read there), its client perfdhcp's.
  const ctx = new BenchContext({ server: topo.server.primary, clients: [perfdhcpNamespace(topo)] }, root, opts);
  checkNotTmpfs(ctx, root);
  ctx.note(`namespaces ${topo.namespaces.map((n) => n.name).join(', ')}, run directory ${root}`);
  const order = new RunOrder(opts.orderSeed, opts.servers);
  let results: PairResults;
  let limits: RmemLimits | undefined;
  try {
    limits = await rmemLimits(ctx.server);
    results = await pairBench(ctx, topo, order);
  } finally {
    topo.removeSync();
  }
  const sockets = socketSummary(ctx.sockets);
  process.stdout.write(`\n${preamble(order, bufferLine(sockets, limits))}\n${pairTable(results)}\n`);
  return finish(
    ctx,
    { root, json, started, loadAtStart, order },
    {
      bench: 'twin6 failover pair vs ISC Kea hot-standby pair (npm run bench -- --pair)',
      mode: opts.quick ? 'pair-quick' : 'pair',
      figures: [
        {
          id: 'pair_rate_na',
          label: 'Highest clean rate, IA_NA, failover pair',
          unit: 'exchanges/s',
          better: 'higher',
          twin6: results.twin6,
          kea: results.kea,
          ratio: results.ratio,
        },
      ],
      sockets: { ...sockets, limits },
      details: results,
    },
  );
}

async function main(): Promise<number> {
  const { opts, json, pair } = parse(process.argv.slice(2));
  await preflight(opts, pair);
  if (pair) return pairMain(opts, json);
  const root = mkdtempSync(join(tmpdir(), 't6-bench-'));
  if (!opts.keep) trackDir(root);
  const started = new Date();
  const loadAtStart = loadavg()[0];
  const lan = await Lan.create({ id: `bench-${newLabId()}`, clients: 1, dir: root });
  const ctx = new BenchContext(lan, root, opts);
  checkNotTmpfs(ctx, root);
  ctx.note(`namespaces ${lan.server.name} / ${ctx.client.name}, run directory ${root}`);
  const order = new RunOrder(opts.orderSeed, opts.servers);
  let results: Results;
  let limits: RmemLimits | undefined;
  try {
    limits = await rmemLimits(ctx.server);
    results = await bench(ctx, order);
  } finally {
    lan.removeSync();
  }
  const figs = figures(results);
  process.stdout.write(`\n${preamble(order, bufferLine(results.sockets ?? {}, limits))}\n${table(figs)}\n`);
  return finish(
    ctx,
    { root, json, started, loadAtStart, order },
    {
      bench: 'twin6 vs ISC Kea (npm run bench)',
      mode: opts.quick ? 'quick' : 'full',
      figures: figs,
      sockets: { ...results.sockets, limits },
      details: results,
    },
  );
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);

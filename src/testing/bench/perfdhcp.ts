// Driving ISC's perfdhcp and reading its report. perfdhcp is what ISC uses to
// publish Kea's figures, so using it for both servers makes ours comparable.

import type { Namespace } from '../lab/netns.js';

export type LeaseMode = 'na' | 'pd' | 'both';

export const PERFDHCP_LEASE_TYPE: Record<LeaseMode, string> = {
  na: 'address-only',
  pd: 'prefix-only',
  both: 'address-and-prefix',
};

export interface ExchangeStats {
  sent: number;
  received: number;
  drops: number;
  rejected: number;
  orphans: number;
  minMs: number;
  avgMs: number;
  maxMs: number;
  stdMs: number;
  /** Per-exchange delays in ms (only with timestamps: true). */
  delaysMs?: number[];
}

export interface PerfResult {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  /** Completed 4-way exchanges per second, as perfdhcp measured it. */
  readonly achievedRate: number;
  readonly solicit: ExchangeStats;
  readonly request: ExchangeStats;
  readonly renew?: ExchangeStats;
  /** Exchanges started (Solicits sent) that did not end in an accepted Reply. */
  readonly failed: number;
  readonly failedRatio: number;
}

export interface PerfOptions {
  readonly iface: string;
  readonly mode: LeaseMode;
  readonly rate: number;
  readonly seconds: number;
  readonly seed: number;
  /** Per-exchange send/receive times for percentiles (perfdhcp -x t). */
  readonly timestamps?: boolean;
  /** Renews per second of leases obtained earlier in the same run (perfdhcp -f). */
  readonly renewRate?: number;
}

/** Distinct simulated clients: large, so that random DUIDs rarely repeat within a run. */
const CLIENTS = 1 << 24;

export function perfArgv(o: PerfOptions): string[] {
  const argv = [
    'perfdhcp',
    '-6',
    '-l',
    o.iface,
    '-e',
    PERFDHCP_LEASE_TYPE[o.mode],
    '-r',
    String(Math.round(o.rate)),
    '-p',
    String(o.seconds),
    '-R',
    String(CLIENTS),
    '-s',
    String(o.seed),
  ];
  if (o.renewRate) argv.push('-f', String(Math.round(o.renewRate)));
  if (o.timestamps) argv.push('-x', 't');
  return argv;
}

function num(block: string, key: string): number {
  const m = new RegExp(`^${key}:\\s*([-0-9.e+]+)`, 'm').exec(block);
  return m ? Number(m[1]) : NaN;
}

function section(text: string, header: string): string | undefined {
  const start = text.indexOf(`***${header}***`);
  if (start < 0) return undefined;
  const next = text.indexOf('***', start + header.length + 6);
  return text.slice(start, next < 0 ? undefined : next);
}

function exchange(text: string, name: string): ExchangeStats | undefined {
  const s = section(text, `Statistics for: ${name}`);
  if (!s) return undefined;
  const stats: ExchangeStats = {
    sent: num(s, 'sent packets'),
    received: num(s, 'received packets'),
    drops: num(s, 'drops'),
    rejected: num(s, 'rejected leases'),
    orphans: num(s, 'orphans'),
    minMs: num(s, 'min delay'),
    avgMs: num(s, 'avg delay'),
    maxMs: num(s, 'max delay'),
    stdMs: num(s, 'std deviation'),
  };
  const ts = section(text, `Timestamps for packets: ${name}`);
  if (ts) {
    stats.delaysMs = [...ts.matchAll(/sent \/ received: ([0-9.]+) \/ ([0-9.]+)/g)].map((m) => (Number(m[2]) - Number(m[1])) * 1000);
  }
  return stats;
}

export function parsePerfdhcp(text: string, argv: readonly string[], exitCode: number | null): PerfResult {
  const solicit = exchange(text, 'SOLICIT-ADVERTISE');
  const request = exchange(text, 'REQUEST-REPLY');
  if (!solicit || !request || !Number.isFinite(solicit.sent)) {
    throw new Error(`perfdhcp printed no exchange statistics (exit ${exitCode}):\n${text.slice(-2000)}`);
  }
  const rate = /^Rate:\s*([0-9.e+]+)/m.exec(text);
  // A Solicit without Advertise never becomes a Request, so "started minus
  // accepted Replies" counts drops in either half of the exchange once.
  const accepted = request.received - (Number.isFinite(request.rejected) ? request.rejected : 0);
  const failed = Math.max(0, solicit.sent - accepted);
  return {
    argv,
    exitCode,
    achievedRate: rate ? Number(rate[1]) : NaN,
    solicit,
    request,
    renew: exchange(text, 'RENEW-REPLY'),
    failed,
    failedRatio: solicit.sent > 0 ? failed / solicit.sent : 1,
  };
}

export async function runPerfdhcp(client: Namespace, o: PerfOptions): Promise<PerfResult> {
  const argv = perfArgv(o);
  // Bounded: the period, perfdhcp's 1 s drop time, and slack for start and report.
  const r = await client.exec(argv, { check: false, timeoutMs: (o.seconds + 20) * 1000 });
  if (r.signal) throw new Error(`perfdhcp killed by ${r.signal} (timeout?): ${argv.join(' ')}`);
  return parsePerfdhcp(`${r.stdout}\n${r.stderr}`, argv, r.code);
}

/** Warm-up traffic before each measured run: at most this rate, for this long. */
const WARM_RATE_MAX = 1000;
const WARM_SECONDS = 2;

/**
 * A cold twin6d drops a third of the first second's exchanges at 3000/s and
 * none after (V8 has not compiled the packet path yet); a cold Kea does not.
 * Measuring from cold would report a start-up transient as capacity, so every
 * measured run follows a short warm-up, the same for both servers.
 */
export async function warmUp(client: Namespace, iface: string, mode: LeaseMode, rate: number, quick: boolean): Promise<void> {
  await runPerfdhcp(client, {
    iface,
    mode,
    rate: Math.min(rate, WARM_RATE_MAX),
    seconds: quick ? 1 : WARM_SECONDS,
    // Other DUIDs than the measured run's, so that run still sees only new clients.
    seed: 999_983,
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // Nearest rank: the smallest value with at least p% of samples at or below it.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

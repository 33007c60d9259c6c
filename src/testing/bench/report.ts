// One table, one JSON document: the same figures in both, so docs/benchmarks.md
// can be refreshed from either.

import { execFileSync } from 'node:child_process';
import { cpus, release } from 'node:os';
import { readFileSync } from 'node:fs';
import type { LadderResult } from './ladder.js';
import type { BindingsResult, LatencyResult } from './measure.js';
import type { ServerName } from './servers.js';

export interface Figure {
  readonly id: string;
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly twin6: number | null;
  readonly kea: number | null;
  /** twin6 / Kea; null when either is missing or Kea's is 0. */
  readonly ratio: number | null;
}

/** One server's DHCPv6 sockets over all its starts (ss -m in the server namespace). */
export interface SocketSummary {
  /** sk_rcvbuf, smallest and largest seen: the buffer the kernel granted, twice SO_RCVBUF (socket(7)). */
  readonly rcvbufMinBytes: number;
  readonly rcvbufMaxBytes: number;
  /** Datagrams those sockets dropped, read before each stop (mostly a full buffer). */
  readonly drops: number;
}

/** The sysctls that cap and default a socket's receive buffer, as the server namespace sees them. */
export interface RmemLimits {
  readonly rmemMaxBytes: number;
  readonly rmemDefaultBytes: number;
}

export function socketSummary(
  seen: ReadonlyMap<ServerName, { rcvbuf: readonly number[]; drops: number }>,
): Partial<Record<ServerName, SocketSummary>> {
  const out: Partial<Record<ServerName, SocketSummary>> = {};
  for (const [s, v] of seen) {
    if (v.rcvbuf.length > 0) out[s] = { rcvbufMinBytes: Math.min(...v.rcvbuf), rcvbufMaxBytes: Math.max(...v.rcvbuf), drops: v.drops };
  }
  return out;
}

/** The report's line on receive buffers: what each server really had, next to what caps it. */
export function bufferLine(sockets: Partial<Record<ServerName, SocketSummary>>, limits: RmemLimits | undefined): string {
  const kib = (b: number): string => `${Math.round(b / 1024)} KiB`;
  const each = Object.entries(sockets).map(([s, v]) => {
    const range =
      v.rcvbufMinBytes === v.rcvbufMaxBytes ? kib(v.rcvbufMinBytes) : `${Math.round(v.rcvbufMinBytes / 1024)}–${kib(v.rcvbufMaxBytes)}`;
    return `${s} ${range} (${v.drops} datagrams dropped)`;
  });
  const caps = limits
    ? `; net.core.rmem_max ${kib(limits.rmemMaxBytes)}, rmem_default ${kib(limits.rmemDefaultBytes)} (a socket that asks for N gets 2N, at most 2 × rmem_max; one that does not ask gets rmem_default)`
    : '';
  return `receive buffer per socket on port 547 (ss -m skmem rb): ${each.join(', ') || 'not read'}${caps}`;
}

export interface Results {
  readonly ladders: LadderResult[];
  readonly latency: Partial<Record<ServerName, LatencyResult>>;
  readonly latencyRate?: number;
  readonly latencyLight: Partial<Record<ServerName, LatencyResult>>;
  readonly lightRate: number;
  readonly small: Partial<Record<ServerName, BindingsResult>>;
  readonly large: Partial<Record<ServerName, BindingsResult>>;
  readonly smallBindings: number;
  readonly largeBindings: number;
  readonly sockets?: Partial<Record<ServerName, SocketSummary>>;
}

const finite = (v: number | undefined): number | null => (v !== undefined && Number.isFinite(v) ? v : null);

export function figures(r: Results): Figure[] {
  const out: Figure[] = [];
  const add = (id: string, label: string, unit: string, better: Figure['better'], get: (s: ServerName) => number | undefined): void => {
    const twin6 = finite(get('twin6'));
    const kea = finite(get('kea'));
    out.push({ id, label, unit, better, twin6, kea, ratio: twin6 !== null && kea !== null && kea !== 0 ? twin6 / kea : null });
  };
  const rate = (mode: string) => (s: ServerName) => r.ladders.find((l) => l.server === s && l.mode === mode)?.highestCleanRate;
  add('rate_na', 'Highest clean rate, IA_NA', 'exchanges/s', 'higher', rate('na'));
  add('rate_pd', 'Highest clean rate, IA_PD', 'exchanges/s', 'higher', rate('pd'));
  add('rate_both', 'Highest clean rate, IA_NA+IA_PD', 'exchanges/s', 'higher', rate('both'));
  const at = r.latencyRate !== undefined ? ` at ${r.latencyRate}/s` : '';
  add('reply_p50_ms', `Reply latency p50${at}`, 'ms', 'lower', (s) => r.latency[s]?.replyP50Ms);
  add('reply_p99_ms', `Reply latency p99${at}`, 'ms', 'lower', (s) => r.latency[s]?.replyP99Ms);
  add('advertise_p99_ms', `Advertise latency p99${at}`, 'ms', 'lower', (s) => r.latency[s]?.advertiseP99Ms);
  add('reply_p50_light_ms', `Reply latency p50 at ${r.lightRate}/s`, 'ms', 'lower', (s) => r.latencyLight[s]?.replyP50Ms);
  add('reply_p99_light_ms', `Reply latency p99 at ${r.lightRate}/s`, 'ms', 'lower', (s) => r.latencyLight[s]?.replyP99Ms);
  add('rss_small_mib', `RSS, ${r.smallBindings} bindings`, 'MiB', 'lower', (s) => r.small[s]?.rssMiB);
  add('rss_large_mib', `RSS, ${r.largeBindings} bindings`, 'MiB', 'lower', (s) => r.large[s]?.rssMiB);
  add('bytes_per_grant', 'Bytes written per lease granted', 'bytes', 'lower', (s) => r.large[s]?.storage?.bytesPerGrant);
  add('bytes_per_renew', 'Bytes written per renew', 'bytes', 'lower', (s) => r.large[s]?.storage?.bytesPerRenew);
  add('syncs_per_sec', `Syncs/s while granting${at}`, 'syncs/s', 'lower', (s) => r.large[s]?.storage?.syncsPerSecGranting);
  add('syncs_per_sec_renewing', `Syncs/s while renewing${at}`, 'syncs/s', 'lower', (s) => r.large[s]?.storage?.syncsPerSecRenewing);
  add('syncs_per_sec_ladder_max', 'Syncs/s, busiest clean ladder step (twin6 counter)', 'syncs/s', 'lower', (s) => {
    const rates = r.ladders.filter((l) => l.server === s).flatMap((l) => l.steps.filter((x) => x.clean).map((x) => x.syncsPerSec ?? NaN));
    return rates.length > 0 ? Math.max(...rates) : undefined;
  });
  add('rcvbuf_kib', 'Receive buffer per socket on port 547 (smallest granted)', 'KiB', 'higher', (s) => {
    const b = r.sockets?.[s]?.rcvbufMinBytes;
    return b !== undefined ? b / 1024 : undefined;
  });
  add('start_small_ms', `Start to first Reply, ${r.smallBindings} bindings`, 'ms', 'lower', (s) => r.small[s]?.startToFirstReplyMs);
  add('start_large_ms', `Start to first Reply, ${r.largeBindings} bindings`, 'ms', 'lower', (s) => r.large[s]?.startToFirstReplyMs);
  return out;
}

function fmt(v: number | null, unit: string): string {
  if (v === null) return '—';
  if (unit === 'ms') return v < 10 ? v.toFixed(2) : v.toFixed(0);
  if (unit === 'MiB') return v.toFixed(1);
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

export function table(figs: readonly Figure[]): string {
  const rows = [
    ['figure', 'unit', 'twin6', 'Kea', 'twin6/Kea'],
    ...figs.map((f) => [f.label, f.unit, fmt(f.twin6, f.unit), fmt(f.kea, f.unit), f.ratio === null ? '—' : f.ratio.toFixed(2)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

function version(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 }).trim().split('\n')[0] ?? '';
  } catch {
    return 'unknown';
  }
}

export function machine(): Record<string, string | number> {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    /* not Linux */
  }
  return {
    nproc: Number(version(['nproc'])) || cpus().length,
    cpu,
    kernel: release(),
    memMiB: Math.round(Number(/^MemTotal:\s*(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024),
    node: process.version,
    kea: version(['kea-dhcp6', '-V']),
    perfdhcp: version(['perfdhcp', '-v']),
  };
}

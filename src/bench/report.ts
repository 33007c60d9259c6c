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
}

const finite = (v: number | undefined): number | null => (v !== undefined && Number.isFinite(v) ? v : null);

export function figures(r: Results): Figure[] {
  const out: Figure[] = [];
  const add = (
    id: string, label: string, unit: string, better: Figure['better'], get: (s: ServerName) => number | undefined,
  ): void => {
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

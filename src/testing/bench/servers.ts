// The two servers under test, configured alike: one subnet on lan0, the same
// address range, the same /40 → /56 prefix pool, the same lifetimes and T1/T2,
// the same DNS option, leases kept on disk (Kea: memfile CSV; twin6: LevelDB),
// logging at warn to a file. Each start gets its own state directory.

import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIPv6 } from '../lab/addr.js';
import type { Namespace } from '../lab/netns.js';
import { callControl, CONTROL_SOCKET_NAME } from '../../daemon/control.js';
import { poll, sleep, tail, type ExitStatus, type LabProcess } from '../lab/proc.js';

export type ServerName = 'twin6' | 'kea';
export const SERVER_NAMES: readonly ServerName[] = ['twin6', 'kea'];

export const PLAN = {
  iface: 'lan0',
  serverAddress: '2001:db8:1::1',
  subnet: '2001:db8:1::/64',
  // 2^24 addresses: no ladder step can run out, so NoAddrsAvail never counts as a drop.
  poolFirst: 0x2001_0db8_0001_0000_0000_0000_0100_0000n,
  poolLast: 0x2001_0db8_0001_0000_0000_0000_01ff_ffffn,
  // 2^20 /56s (a /40 has only 65536: one 8 s step at 9000/s would drain it and
  // NoPrefixAvail would pass for drops). Every ladder step starts from an empty store.
  pdPrefix: 0x2001_0db8_8000_0000_0000_0000_0000_0000n,
  pdPrefixLength: 36,
  pdDelegatedLength: 56,
  preferredSec: 3600,
  validSec: 7200,
  // RFC 8415 §21.4's recommended 0.5 and 0.8 of the preferred lifetime: twin6's default ratios.
  t1Sec: 1800,
  t2Sec: 2880,
  dnsServer: '2001:db8:1::53',
} as const;

export const poolRange = (): string => `${formatIPv6(PLAN.poolFirst)}-${formatIPv6(PLAN.poolLast)}`;
export const pdPrefixText = (): string => `${formatIPv6(PLAN.pdPrefix)}/${PLAN.pdPrefixLength}`;

/** dist/, from dist/testing/bench/servers.js. */
const DIST = fileURLToPath(new URL('../..', import.meta.url));
export const TWIN6D = join(DIST, 'cli', 'twin6d.js');

/** Syscalls that force data to storage; counted with strace when asked. */
const SYNC_CALLS = 'trace=fsync,fdatasync,syncfs,sync,sync_file_range,msync';

export interface ServerOptions {
  /** Kea's multi-threading thread-pool-size; 0 keeps Kea 2.2's default (single-threaded). */
  readonly keaThreads: number;
  /** Run twin6d with node --cpu-prof, writing a profile per start into this directory. */
  readonly twin6CpuProfDir?: string;
}

/** Kea's config for one start; `extra` adds or replaces Dhcp6 keys (pair mode: multi-threading, control socket, HA hooks). */
export function writeKeaConfig(dir: string, o: ServerOptions, extra: Record<string, unknown> = {}): string {
  const file = join(dir, 'kea-dhcp6.json');
  const config = {
    Dhcp6: {
      // The server DUID file lands here instead of /var/lib/kea.
      'data-directory': dir,
      'interfaces-config': { interfaces: [PLAN.iface] },
      'lease-database': { type: 'memfile', persist: true, name: join(dir, 'kea-leases6.csv'), 'lfc-interval': 0 },
      ...(o.keaThreads > 0
        ? { 'multi-threading': { 'enable-multi-threading': true, 'thread-pool-size': o.keaThreads, 'packet-queue-size': 64 } }
        : { 'multi-threading': { 'enable-multi-threading': false } }),
      'preferred-lifetime': PLAN.preferredSec,
      'valid-lifetime': PLAN.validSec,
      'renew-timer': PLAN.t1Sec,
      'rebind-timer': PLAN.t2Sec,
      'option-data': [{ name: 'dns-servers', data: PLAN.dnsServer }],
      subnet6: [
        {
          id: 1,
          subnet: PLAN.subnet,
          interface: PLAN.iface,
          pools: [{ pool: poolRange() }],
          'pd-pools': [{ prefix: formatIPv6(PLAN.pdPrefix), 'prefix-len': PLAN.pdPrefixLength, 'delegated-len': PLAN.pdDelegatedLength }],
        },
      ],
      loggers: [{ name: 'kea-dhcp6', output_options: [{ output: join(dir, 'kea.log') }], severity: 'WARN' }],
      ...extra,
    },
  };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function writeTwin6Config(dir: string): string {
  const file = join(dir, 'twin6.json');
  const lifetimes = { preferredSec: PLAN.preferredSec, validSec: PLAN.validSec };
  const config = {
    interfaces: [PLAN.iface],
    lifetimes,
    pdLifetimes: lifetimes,
    options: { dnsServers: [PLAN.dnsServer] },
    subnets: [
      {
        name: 'bench',
        interface: PLAN.iface,
        prefix: PLAN.subnet,
        pools: [poolRange()],
        pdPools: [{ prefix: pdPrefixText(), delegatedLength: PLAN.pdDelegatedLength }],
      },
    ],
    // storage: the product defaults (commit window and batch size) are what is measured.
    log: { level: 'warn' },
  };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** twin6d's own state directory inside a run directory; prefill.ts writes its store here. */
export const twin6StateDir = (dir: string): string => join(dir, 'twin6-state');

export interface StartOptions {
  /** Run under strace, logging sync calls with timestamps to this file. */
  readonly straceLog?: string;
}

export class RunningServer {
  /** sk_rcvbuf of each socket on port 547 once the server listened (ss -m "rb"). */
  rcvbufBytes: readonly number[] = [];

  constructor(
    /** The namespace it runs in: its sockets are read there. */
    readonly ns: Namespace,
    readonly name: ServerName,
    readonly dir: string,
    /** The process launched (strace when tracing, else the server itself). */
    readonly proc: LabProcess,
    /** The server's own pid, for /proc. */
    readonly pid: number,
    /** process.hrtime of the launch. */
    readonly launchedNs: bigint,
  ) {}

  private stopping: Promise<ExitStatus> | undefined;

  /** SIGTERM, as a supervisor would stop it; resolves with how it exited. Idempotent. */
  stop(): Promise<ExitStatus> {
    this.stopping ??= this.terminate();
    return this.stopping;
  }

  private async terminate(): Promise<ExitStatus> {
    // While strace runs, its tracee's pid cannot have been reused: strace has not reaped it yet.
    if (this.pid !== this.proc.pid && this.proc.running) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      // strace leaves once its tracee has, with the tracee's exit status.
      await Promise.race([this.proc.exited, sleep(10_000)]);
    }
    return this.proc.stop('SIGTERM', 10_000);
  }

  log(): string {
    const own = this.name === 'kea' ? join(this.dir, 'kea.log') : undefined;
    let text = this.proc.log();
    if (own) {
      try {
        text += readFileSync(own, 'utf8');
      } catch {
        /* not written yet */
      }
    }
    return tail(text, 30);
  }
}

/**
 * The traced server among strace's children. strace first forks short-lived
 * probes of its own (seccomp and ptrace feature checks), so the first child
 * seen is not necessarily the server: match the executable.
 */
function tracedChild(stracePid: number, exe: string): number | undefined {
  let kids: string[];
  try {
    kids = readFileSync(`/proc/${stracePid}/task/${stracePid}/children`, 'utf8').trim().split(/\s+/);
  } catch {
    return undefined;
  }
  for (const k of kids) {
    try {
      if (basename(readlinkSync(`/proc/${k}/exe`)) === exe) return Number(k);
    } catch {
      /* gone already */
    }
  }
  return undefined;
}

/**
 * Starts a server in the server namespace and resolves once it listens on
 * 547; the caller has already written its config (and any prefilled leases).
 */
export async function startServer(
  name: ServerName,
  ns: Namespace,
  dir: string,
  o: ServerOptions,
  s: StartOptions = {},
): Promise<RunningServer> {
  const argv =
    name === 'kea'
      ? ['kea-dhcp6', '-c', writeKeaConfig(dir, o)]
      : [
          process.execPath,
          ...(o.twin6CpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.twin6CpuProfDir] : []),
          TWIN6D,
          '--config',
          writeTwin6Config(dir),
          '--state-dir',
          twin6StateDir(dir),
        ];
  const traced = s.straceLog ? ['strace', '-f', '-qq', '--seccomp-bpf', '-ttt', '-e', SYNC_CALLS, '-o', s.straceLog, '--', ...argv] : argv;
  // Kea would otherwise put its pid and lock files under /run and /var.
  const env = { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir };
  const launchedNs = process.hrtime.bigint();
  const proc = ns.spawn(`${name}-server`, traced, { logFile: join(dir, `${name}.out`), env });
  const dead = (): string | undefined => (proc.running ? undefined : `${name} exited (${JSON.stringify(proc.exitStatus)})`);
  let pid = proc.pid;
  try {
    if (s.straceLog)
      pid = await poll(() => tracedChild(proc.pid, basename(argv[0]!)), {
        timeoutMs: 10_000,
        intervalMs: 5,
        what: `${name} under strace`,
        abortIf: dead,
      });
    await poll(async () => ((await ns.udpListeners(547)).length > 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: `${name} listening on port 547`,
      abortIf: dead,
      detail: () => proc.log(),
    });
  } catch (e) {
    await proc.stop('SIGKILL', 1000);
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${tail(proc.log(), 30)}`, { cause: e });
  }
  const srv = new RunningServer(ns, name, dir, proc, pid, launchedNs);
  await readBuffers(srv);
  return srv;
}

/** One UDP socket's memory as `ss -m` shows it (skmem): what the kernel granted, not what was asked. */
export interface SocketMem {
  readonly local: string;
  /** sk_rcvbuf: SO_RCVBUF doubled for bookkeeping (socket(7)), capped at twice net.core.rmem_max. */
  readonly rcvbuf: number;
  /** Bytes queued for the process now. */
  readonly queued: number;
  /** Datagrams dropped by this socket since it was opened (buffer full, mostly). */
  readonly drops: number;
}

/** `ss -H -u -l -n -m`: a socket line (State, Recv-Q, Send-Q, Local, Peer), its "skmem:(r…,rb…,…,d…)" on the next. */
export function parseSsSkmem(text: string): SocketMem[] {
  const out: SocketMem[] = [];
  let local: string | undefined;
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 5 && /^\d+$/.test(cols[1]!)) local = cols[3];
    const mem = /skmem:\(([^)]*)\)/.exec(line)?.[1];
    if (mem === undefined || local === undefined) continue;
    const field = (k: string): number => Number(new RegExp(`(?:^|,)${k}(\\d+)`).exec(mem)?.[1] ?? NaN);
    out.push({ local, rcvbuf: field('rb'), queued: field('r'), drops: field('d') });
    local = undefined;
  }
  return out;
}

/** The server's DHCPv6 sockets (port 547) in its namespace. */
export async function dhcpSockets(ns: Namespace): Promise<SocketMem[]> {
  const r = await ns.exec(['ss', '-H', '-u', '-l', '-n', '-m', 'sport = :547'], { check: false });
  return parseSsSkmem(r.stdout);
}

/** What the kernel granted each listening socket, read once it listens. */
export async function readBuffers(srv: RunningServer): Promise<void> {
  srv.rcvbufBytes = (await dhcpSockets(srv.ns)).map((m) => m.rcvbuf);
}

export interface ProcIo {
  readonly writeBytes: number;
  readonly wchar: number;
}

export function readIo(pid: number): ProcIo {
  const text = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (k: string): number => Number(new RegExp(`^${k}:\\s*(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { writeBytes: field('write_bytes'), wchar: field('wchar') };
}

export function readRssKiB(pid: number): number {
  const m = /^VmRSS:\s*(\d+)\s*kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/**
 * twin6's own count of synced writes, straight from its control socket (not
 * twin6ctl: a node start would put a few hundred ms between the read and its
 * timestamp), and when it was read; undefined if it does not answer.
 */
export async function twin6Syncs(dir: string): Promise<{ syncs: number; atMs: number } | undefined> {
  const t0 = Date.now();
  try {
    const a = await callControl(join(twin6StateDir(dir), CONTROL_SOCKET_NAME), { cmd: 'status' });
    const syncs = a.ok ? (a.result as { storage?: { syncs?: unknown } }).storage?.syncs : undefined;
    // The daemon read its counter somewhere inside the call: the middle is the best guess.
    return typeof syncs === 'number' ? { syncs, atMs: (t0 + Date.now()) / 2 } : undefined;
  } catch {
    return undefined;
  }
}

/** Sync calls in a strace -ttt log between two wall-clock times (ms since the epoch). */
export function countSyncs(straceLog: string, fromMs: number, toMs: number): number {
  let n = 0;
  for (const line of readFileSync(straceLog, 'utf8').split('\n')) {
    // "<pid> <epoch.usec> fdatasync(12) = 0" or "... fdatasync(12 <unfinished ...>"; "resumed" lines are the same call.
    const m = /^\d+\s+(\d+\.\d+)\s+(\w+)\(/.exec(line);
    if (!m) continue;
    const t = Number(m[1]) * 1000;
    if (t >= fromMs && t <= toMs) n++;
  }
  return n;
}

// npm run bench -- --pair: the highest clean IA_NA rate of a twin6 failover
// pair (RFC 8156) against a Kea 2.2 hot-standby pair (the HA hook), on the
// pair lab's topology (src/testing/lab/pair-topology.ts) with one client
// namespace, perfdhcp's:
//
//   t6-bench-<id>-a  lan0 2001:db8:1::1/64 ─┐                      ┌─ eth0  t6-bench-<id>-c1 (perfdhcp)
//                    p0   fd00:ffff::1/64   ├─ br0 (t6-bench-<id>-sw) ┘
//   t6-bench-<id>-b  lan0 2001:db8:1::2/64 ─┘
//                    p0   fd00:ffff::2/64   (veth a.p0 ↔ b.p0: the partner link)
//
// perfdhcp Solicits ff02::1:2 on br0: both servers hear every packet; only
// the serving one (twin6's primary in NORMAL, Kea's server1 in hot-standby)
// answers, and it must tell its partner about every lease (twin6: BNDUPD;
// Kea: lease6-bulk-apply over HTTP, the Reply parked until the standby acks).
// Every ladder step starts both partners on fresh, empty state and waits
// until they report a serving state before any traffic.

import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callControl, CONTROL_SOCKET_NAME } from '../../daemon/control.js';
import { newLabId, type Namespace } from '../lab/netns.js';
import { PAIR_LINK, PAIR_ROLES, pairFailoverSection, PairTopology, type PairRole } from '../lab/pair-topology.js';
import { poll, sleep, tail } from '../lab/proc.js';
import { BenchContext, CLIENT_IF, type BenchOptions } from './context.js';
import { parseKeaLeases6 } from '../lab/kea.js';
import { LevelLeaseStore } from '../../store/index.js';
import { climbAll, judgeStep, type LadderResult, type StepResult } from './ladder.js';
import type { RunOrder } from './order.js';
import { runPerfdhcp, warmUp } from './perfdhcp.js';
import { PLAN, readBuffers, RunningServer, TWIN6D, twin6StateDir, writeKeaConfig, writeTwin6Config, type ServerName } from './servers.js';

export const PAIR_PLAN = {
  /** twin6: RFC 8156's MCLT, its default. */
  mcltSec: 3600,
  /** Kea HA: the dedicated HTTP listener of each server, on the partner link. */
  keaHaPort: 8001,
  keaHeartbeatMs: 10_000,
  keaHooks: '/usr/lib/x86_64-linux-gnu/kea/hooks',
} as const;

/** How long both partners may take to reach their serving state (Kea's heartbeats are 10 s apart). */
const READY_TIMEOUT_MS = 90_000;

/** The bench's pair: the lab's pair topology, named t6-bench-<id>-…, with one client namespace for perfdhcp. */
export function createBenchPair(dir: string): Promise<PairTopology> {
  return PairTopology.create({
    id: `bench-${newLabId()}`,
    dir,
    clients: 1,
    topology: { serverIf: PLAN.iface, clientIf: CLIENT_IF, serverPrefixLength: 64 },
  });
}

/** perfdhcp's namespace in the bench's pair. */
export function perfdhcpNamespace(topo: PairTopology): Namespace {
  const c = topo.clients[0];
  if (!c) throw new Error('pair topology without a client namespace');
  return c;
}

// ---------------------------------------------------------------- configs

function writeTwin6PairConfig(dir: string, role: PairRole): string {
  const file = writeTwin6Config(dir);
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // The bench measures the protocol, not TLS: insecure (pairFailoverSection's default) must be said explicitly.
  config['failover'] = pairFailoverSection(role, { mcltSec: PAIR_PLAN.mcltSec, startupSec: 2 });
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

const KEA_NAME: Record<PairRole, string> = { primary: 'server1', secondary: 'server2' };
const keaSocket = (dir: string): string => join(dir, 'kea6.sock');

/** The single-server Kea config (servers.ts) plus multi-threading, a control socket and the HA hook in hot-standby. */
export function writeKeaPairConfig(dir: string, role: PairRole, threads: number, heartbeatMs: number = PAIR_PLAN.keaHeartbeatMs): string {
  const url = (r: PairRole): string => `http://[${PAIR_LINK[r]}]:${PAIR_PLAN.keaHaPort}/`;
  return writeKeaConfig(
    dir,
    { keaThreads: threads },
    {
      // HA's dedicated HTTP listener exists only with multi-threading (Kea ≥ 2.0);
      // without it every HA server needs a kea-ctrl-agent in front. 0 = one thread per CPU.
      'multi-threading': { 'enable-multi-threading': true, 'thread-pool-size': threads, 'packet-queue-size': 64 },
      'control-socket': { 'socket-type': 'unix', 'socket-name': keaSocket(dir) },
      'hooks-libraries': [
        { library: join(PAIR_PLAN.keaHooks, 'libdhcp_lease_cmds.so') },
        {
          library: join(PAIR_PLAN.keaHooks, 'libdhcp_ha.so'),
          parameters: {
            'high-availability': [
              {
                'this-server-name': KEA_NAME[role],
                mode: 'hot-standby',
                'heartbeat-delay': heartbeatMs,
                'max-response-delay': 60_000,
                'max-ack-delay': 5_000,
                'max-unacked-clients': 0,
                'sync-timeout': 60_000,
                // Lockstep: the active server parks each Reply until the standby acknowledged the lease.
                'send-lease-updates': true,
                'sync-leases': true,
                'wait-backup-ack': false,
                'multi-threading': {
                  'enable-multi-threading': true,
                  'http-dedicated-listener': true,
                  'http-listener-threads': 0,
                  'http-client-threads': 0,
                },
                peers: [
                  { name: KEA_NAME.primary, url: url('primary'), role: 'primary', 'auto-failover': true },
                  { name: KEA_NAME.secondary, url: url('secondary'), role: 'standby', 'auto-failover': true },
                ],
              },
            ],
          },
        },
      ],
    },
  );
}

// ---------------------------------------------------------------- control

/** One command over Kea's unix control socket; Kea closes the connection after its answer. */
export function keaCommand(socket: string, command: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`${command}: no answer on ${socket} within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf));
      } catch (e) {
        reject(new Error(`${command}: unparsable answer: ${buf.slice(0, 300)} (${String(e)})`));
      }
    };
    s.on('connect', () => s.write(JSON.stringify({ command })));
    s.on('data', (d) => {
      buf += d.toString('utf8');
      // Kea may keep the socket open: a complete JSON object is the answer.
      try {
        JSON.parse(buf);
        s.end();
      } catch {
        /* more to come */
      }
    });
    s.on('end', finish);
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

interface KeaHaStatus {
  local?: { role?: string; state?: string };
  remote?: { role?: string; 'last-state'?: string; 'in-touch'?: boolean };
}

/** Kea's status-get → its HA view: our state and what we last heard of the partner. */
async function keaHaState(dir: string): Promise<KeaHaStatus | undefined> {
  try {
    const a = (await keaCommand(keaSocket(dir), 'status-get')) as {
      result?: number;
      arguments?: { 'high-availability'?: { 'ha-servers'?: KeaHaStatus }[] };
    };
    return a.arguments?.['high-availability']?.[0]?.['ha-servers'];
  } catch {
    return undefined;
  }
}

async function twin6FailoverState(dir: string): Promise<{ state?: string; partnerState?: string } | undefined> {
  try {
    const a = await callControl(join(twin6StateDir(dir), CONTROL_SOCKET_NAME), { cmd: 'failover.status' });
    return a.ok ? (a.result as { state?: string; partnerState?: string }) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- one pair

export interface PairServers {
  readonly servers: Record<PairRole, RunningServer>;
  /** What each partner said last while we waited for it (for the report). */
  readonly ready: string;
  readonly readyMs: number;
}

async function startOne(name: ServerName, role: PairRole, ns: Namespace, dir: string, opts: BenchOptions): Promise<RunningServer> {
  const argv =
    name === 'kea'
      ? // --quick measures nothing: a 2 s heartbeat only shortens the HA handshake (the smoke test's time).
        ['kea-dhcp6', '-c', writeKeaPairConfig(dir, role, opts.keaThreads, opts.quick ? 2000 : PAIR_PLAN.keaHeartbeatMs)]
      : [process.execPath, TWIN6D, '--config', writeTwin6PairConfig(dir, role), '--state-dir', twin6StateDir(dir)];
  const env = { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir };
  const launchedNs = process.hrtime.bigint();
  const proc = ns.spawn(`${name}-${role}`, argv, { logFile: join(dir, `${name}.out`), env });
  return new RunningServer(ns, name, dir, proc, proc.pid, launchedNs);
}

/** Both partners on fresh state; resolves once both report their serving state. */
export async function startPair(ctx: BenchContext, topo: PairTopology, name: ServerName, label: string): Promise<PairServers> {
  const t0 = Date.now();
  const servers: Partial<Record<PairRole, RunningServer>> = {};
  try {
    for (const role of PAIR_ROLES) {
      const dir = ctx.newDir(`${label}-${role}`);
      servers[role] = await startOne(name, role, topo.server[role], dir, ctx.opts);
    }
    const both = servers as Record<PairRole, RunningServer>;
    const dead = (): string | undefined => {
      for (const role of PAIR_ROLES)
        if (!both[role].proc.running) return `${name} ${role} exited (${JSON.stringify(both[role].proc.exitStatus)})\n${both[role].log()}`;
      return undefined;
    };
    let last = '';
    await poll(
      async () => {
        if (name === 'twin6') {
          const [p, s] = await Promise.all([twin6FailoverState(both.primary.dir), twin6FailoverState(both.secondary.dir)]);
          last = `primary ${p?.state}/${p?.partnerState}, secondary ${s?.state}/${s?.partnerState}`;
          return [p?.state, p?.partnerState, s?.state, s?.partnerState].every((x) => x === 'NORMAL') ? true : undefined;
        }
        const [p, s] = await Promise.all([keaHaState(both.primary.dir), keaHaState(both.secondary.dir)]);
        last = `server1 ${p?.local?.state}/${p?.remote?.['last-state']}, server2 ${s?.local?.state}/${s?.remote?.['last-state']}`;
        return p?.local?.state === 'hot-standby' && s?.local?.state === 'hot-standby' ? true : undefined;
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 200, what: `${name} pair in its serving state`, abortIf: dead, detail: () => last },
    );
    // Both must also listen on 547 (twin6's secondary listens but leaves Solicits to the primary).
    for (const role of PAIR_ROLES) {
      await poll(async () => ((await topo.server[role].udpListeners(547)).length > 0 ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 50,
        what: `${name} ${role} on port 547`,
        abortIf: dead,
      });
      await readBuffers(both[role]);
    }
    return { servers: both, ready: last, readyMs: Date.now() - t0 };
  } catch (e) {
    await Promise.allSettled(Object.values(servers).map((s) => s.stop()));
    const logs = Object.entries(servers)
      .map(([r, s]) => `--- ${r}:\n${tail(s.log(), 15)}`)
      .join('\n');
    for (const s of Object.values(servers)) ctx.dropDir(s.dir);
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${logs}`, { cause: e });
  }
}

const PAIR_SEED = 7;

async function pairStep(ctx: BenchContext, topo: PairTopology, name: ServerName, rate: number): Promise<StepResult> {
  const pair = await startPair(ctx, topo, name, `pair-${name}-${rate}`);
  const seconds = ctx.opts.stepSeconds;
  let crashed: string | undefined;
  let leases: { primary: number; secondary: number } | undefined;
  let result: StepResult | undefined;
  try {
    ctx.note(`${name} pair serving after ${(pair.readyMs / 1000).toFixed(1)} s (${pair.ready})`);
    await warmUp(perfdhcpNamespace(topo), CLIENT_IF, 'na', rate, ctx.opts.quick);
    const r = await runPerfdhcp(perfdhcpNamespace(topo), { iface: CLIENT_IF, mode: 'na', rate, seconds, seed: rate * 10 + PAIR_SEED });
    for (const role of PAIR_ROLES) {
      const s = pair.servers[role];
      if (!s.proc.running)
        crashed = `${name} ${role} exited during the pair step at ${rate}/s: ${JSON.stringify(s.proc.exitStatus)}\n${s.log()}`;
    }
    // Still a pair after the load? (A partner that fell out of NORMAL/hot-standby would not have been lockstep.)
    const after =
      name === 'twin6'
        ? await Promise.all(PAIR_ROLES.map(async (r) => (await twin6FailoverState(pair.servers[r].dir))?.state ?? '?'))
        : await Promise.all(PAIR_ROLES.map(async (r) => (await keaHaState(pair.servers[r].dir))?.local?.state ?? '?'));
    const serving = name === 'twin6' ? 'NORMAL' : 'hot-standby';
    // Lease updates may trail the Replies (twin6: RFC 8156 §4.4, within the
    // MCLT; Kea: queued behind parked Replies); both get the same moment.
    await sleep(1000);
    const leftPair = after.some((s) => s !== serving);
    result = judgeStep(
      rate,
      seconds,
      r,
      crashed ? 'server crashed' : leftPair ? `pair left its serving state: ${after.join(' / ')}` : undefined,
    );
  } finally {
    if (crashed) ctx.problem(crashed);
    for (const role of PAIR_ROLES) await ctx.stop(pair.servers[role], `the ${name} pair step at ${rate}/s (${role})`);
    const [p, s] = await Promise.all(PAIR_ROLES.map((r) => persistedActiveLeases(name, pair.servers[r].dir)));
    if (p !== undefined && s !== undefined) leases = { primary: p, secondary: s };
    for (const role of PAIR_ROLES) ctx.dropDir(pair.servers[role].dir);
  }
  return leases ? { ...result, pairLeases: leases } : result;
}

/**
 * Distinct active, unexpired leases a stopped server left on disk, counted
 * the same way for both: each server's own persisted state after SIGTERM
 * (twin6 commits before it exits; Kea's memfile is a journal, one line per
 * change, so its latest line per lease decides).
 */
export async function persistedActiveLeases(name: ServerName, dir: string, nowSec = Date.now() / 1000): Promise<number | undefined> {
  try {
    if (name === 'kea')
      return parseKeaLeases6(readFileSync(join(dir, 'kea-leases6.csv'), 'utf8'), nowSec).filter((l) => l.state === 'active').length;
    const store = new LevelLeaseStore(join(twin6StateDir(dir), 'leases'));
    await store.open();
    try {
      return [...store.all()].filter((l) => l.state === 'active' && l.expiresAtSec > nowSec).length;
    } finally {
      await store.close();
    }
  } catch {
    return undefined;
  }
}

export interface PairResults {
  readonly ladders: LadderResult[];
  readonly twin6: number | null;
  readonly kea: number | null;
  readonly ratio: number | null;
}

/** The pair ladders: IA_NA only, a shorter ladder than the single-server one, both pairs' steps alternating (order.ts). */
export async function pairBench(ctx: BenchContext, topo: PairTopology, order: RunOrder<ServerName>): Promise<PairResults> {
  const t0 = Date.now();
  const ladders: LadderResult[] = await climbAll(
    ctx,
    'na',
    order,
    ctx.opts.servers.map((s) => ({
      server: s,
      label: `${s} pair`,
      runStep: async (rate: number) => {
        try {
          return await pairStep(ctx, topo, s, rate);
        } finally {
          // Let sockets and timers of this pair wind down before the next one binds the same ports.
          await sleep(500);
        }
      },
    })),
  );
  ctx.note(`pair ladders: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const rate = (s: ServerName): number | null => ladders.find((l) => l.server === s)?.highestCleanRate ?? null;
  const t = rate('twin6');
  const k = rate('kea');
  return { ladders, twin6: t, kea: k, ratio: t !== null && k !== null && k > 0 ? t / k : null };
}

export function pairTable(r: PairResults): string {
  const fmt = (v: number | null): string => (v === null ? '—' : String(v));
  const rows = [
    ['figure', 'unit', 'twin6 pair', 'Kea pair', 'twin6/Kea'],
    ['Highest clean rate, IA_NA, failover pair', 'exchanges/s', fmt(r.twin6), fmt(r.kea), r.ratio === null ? '—' : r.ratio.toFixed(2)],
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => `| ${row.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  return [
    line(rows[0]!),
    `|${w.map((n, i) => (i < 2 ? '-'.repeat(n + 2) : `${'-'.repeat(n + 1)}:`)).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

/** Shorter than the single-server ladder: each step costs two server starts and a HA handshake. */
export const PAIR_LADDER = { startRate: 250, fineSteps: 4 } as const;

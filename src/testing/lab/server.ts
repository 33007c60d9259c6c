// The DHCPv6 server under test, as a parameter: kea-dhcp6 as the reference
// today, twin6d tomorrow. A ServerSpec says how to configure and start it in
// the server namespace and, optionally, how to read its leases so that tests
// can check the server's side of a renewal or release.

import { join, resolve } from 'node:path';
import { callControl, CONTROL_SOCKET_NAME } from '../../daemon/control.js';
import { writeFileSync, mkdirSync } from 'node:fs';
import type { FailoverStatus } from '../../failover/endpoint.js';
import type { Namespace } from './netns.js';
import { labEnv, LabProcess, poll, tail } from './proc.js';
import type { LabTopology } from './topology.js';

export interface ServerCommand {
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface ServerContext {
  readonly ns: Namespace;
  /** The server's private directory (config, state, logs, sockets). */
  readonly dir: string;
  readonly topology: LabTopology;
}

export type ServerLeaseState = 'active' | 'released' | 'expired' | 'declined';

export interface ServerLease {
  readonly type: 'na' | 'pd';
  /** Address, or prefix without its length. */
  readonly address: string;
  /** 128 for addresses. */
  readonly prefixLength: number;
  /** Client DUID, lowercase hex with colons. */
  readonly duid: string;
  readonly iaid: number;
  readonly validLifetime: number;
  readonly preferredLifetime: number;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly state: ServerLeaseState;
}

export interface ServerSpec {
  readonly name: string;
  /** Binaries that must be on PATH, or files (paths with a slash) that must exist; for skip messages. */
  readonly requires?: readonly string[];
  /** Writes config files into ctx.dir. */
  prepare?(ctx: ServerContext): void | Promise<void>;
  command(ctx: ServerContext): ServerCommand;
  /** Resolves when the server answers; default: UDP 547 bound and ff02::1:2 joined on the LAN interface. */
  ready?(ctx: ServerContext, proc: LabProcess): Promise<void>;
  /** Current view of the server's lease store, latest state per lease. */
  leases?(ctx: ServerContext): ServerLease[] | Promise<ServerLease[]>;
}

export const ALL_DHCP_RELAY_AGENTS_AND_SERVERS = 'ff02::1:2';

export async function defaultReady(ctx: ServerContext, proc: LabProcess, timeoutMs = 15_000): Promise<void> {
  const ifname = ctx.topology.serverIf;
  await poll(
    async () => {
      const udp = await ctx.ns.udpListeners(547);
      const groups = await ctx.ns.multicastGroups(ifname);
      return udp.length > 0 && groups.includes(ALL_DHCP_RELAY_AGENTS_AND_SERVERS) ? true : undefined;
    },
    {
      timeoutMs,
      intervalMs: 100,
      what: `server ${proc.name} listening on UDP 547 and joined ${ALL_DHCP_RELAY_AGENTS_AND_SERVERS} on ${ifname}`,
      abortIf: () => (proc.exitStatus ? `server exited (${proc.exitStatus.code ?? proc.exitStatus.signal})` : undefined),
      detail: () => tail(proc.log()),
    },
  );
}

export class RunningServer {
  constructor(
    readonly spec: ServerSpec,
    readonly ctx: ServerContext,
    readonly process: LabProcess,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get hasLeases(): boolean {
    return this.spec.leases !== undefined;
  }

  async leases(): Promise<ServerLease[]> {
    if (!this.spec.leases) throw new Error(`server ${this.spec.name} does not expose its leases`);
    return this.spec.leases(this.ctx);
  }

  /** Polls the lease store until pred finds a lease. */
  async waitForLease(pred: (l: ServerLease) => boolean, what: string, timeoutMs = 10_000): Promise<ServerLease> {
    let last: ServerLease[] = [];
    return poll(
      async () => {
        last = await this.leases();
        return last.find(pred);
      },
      { timeoutMs, intervalMs: 200, what: `${this.name}: ${what}`, detail: () => JSON.stringify(last, null, 1) },
    );
  }

  log(): string {
    return this.process.log();
  }

  async stop(): Promise<void> {
    if (this.process.running) await this.process.stop('SIGTERM', 5_000);
  }
}

export async function startServer(spec: ServerSpec, ctx: ServerContext): Promise<RunningServer> {
  mkdirSync(ctx.dir, { recursive: true });
  await spec.prepare?.(ctx);
  const cmd = spec.command(ctx);
  const proc = ctx.ns.spawn(`server-${spec.name}`, cmd.argv, {
    logFile: join(ctx.dir, 'server.log'),
    env: labEnv(cmd.env ?? {}),
    cwd: cmd.cwd ?? ctx.dir,
  });
  const server = new RunningServer(spec, ctx, proc);
  try {
    await (spec.ready ? spec.ready(ctx, proc) : defaultReady(ctx, proc));
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/** Wraps a bare command (startLab's serverCmd) as a spec without lease access. */
export function commandServer(name: string, command: (ctx: ServerContext) => ServerCommand): ServerSpec {
  return { name, command };
}

export interface Twin6Options {
  /** Returns the daemon's config file text; default twin6LabConfig. */
  readonly config?: (ctx: ServerContext) => string;
  readonly leases?: (ctx: ServerContext) => ServerLease[] | Promise<ServerLease[]>;
  /** Default dist/cli/twin6d.js, resolved from the current directory. */
  readonly entry?: string;
  /** More command-line arguments for twin6d (e.g. --clock-floor-files). */
  readonly args?: (ctx: ServerContext) => readonly string[];
}

/**
 * A twin6 config (docs/config.md) for the lab topology: the same subnet,
 * pools, lifetimes and DNS option as the Kea config, so tests expect the same.
 */
export function twin6LabConfig(ctx: ServerContext): string {
  const t = ctx.topology;
  const lifetimes = {
    preferredSec: t.lifetimes.preferredSec,
    validSec: t.lifetimes.validSec,
    renewRatio: t.lifetimes.t1Sec / t.lifetimes.preferredSec,
    rebindRatio: t.lifetimes.t2Sec / t.lifetimes.preferredSec,
  };
  return (
    JSON.stringify(
      {
        interfaces: [t.serverIf],
        lifetimes,
        pdLifetimes: lifetimes,
        options: { dnsServers: t.dnsServers },
        subnets: [
          {
            name: 'lab',
            interface: t.serverIf,
            prefix: t.subnet,
            pools: [`${t.pool.first}-${t.pool.last}`],
            pdPools: [{ prefix: `${t.pdPool.prefix}/${t.pdPool.prefixLength}`, delegatedLength: t.pdPool.delegatedLength }],
            // What a CPE LAN needs so stock hosts start DHCPv6 (issue #8); the lab's
            // clients force DHCPv6 on and ignore RAs, so they are served the same either way.
            routerAdvertisements: { enabled: true },
          },
        ],
        log: { level: 'debug' },
      },
      null,
      2,
    ) + '\n'
  );
}

/** twin6d as the server under test: `node dist/cli/twin6d.js --config FILE --state-dir DIR`. */
export function twin6Server(opts: Twin6Options = {}): ServerSpec {
  const entry = resolve(opts.entry ?? 'dist/cli/twin6d.js');
  return {
    name: 'twin6',
    requires: [entry],
    prepare(ctx) {
      mkdirSync(join(ctx.dir, 'state'), { recursive: true });
      writeFileSync(join(ctx.dir, 'twin6.json'), (opts.config ?? twin6LabConfig)(ctx));
    },
    command(ctx) {
      // T6_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") reaches node itself, for profiling a lab run.
      const nodeArgs = (process.env['T6_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
      return {
        argv: [
          process.execPath,
          ...nodeArgs,
          entry,
          '--config',
          join(ctx.dir, 'twin6.json'),
          '--state-dir',
          join(ctx.dir, 'state'),
          ...(opts.args?.(ctx) ?? []),
        ],
      };
    },
    leases: opts.leases ?? ((ctx) => twin6Leases(join(ctx.dir, 'state'))),
  };
}

/** twin6d's own view, read page by page from its control socket (what `twin6ctl leases` uses). */
export async function twin6Leases(stateDir: string): Promise<ServerLease[]> {
  const out: ServerLease[] = [];
  for (let offset = 0; ;) {
    const answer = await callControl(join(stateDir, CONTROL_SOCKET_NAME), { cmd: 'leases', offset });
    if (!answer.ok) throw new Error(`twin6d leases: ${answer.error}`);
    const page = answer.result as {
      total: number;
      leases: {
        type: 'na' | 'pd';
        resource: string;
        duid: string;
        iaid: number;
        state: ServerLeaseState;
        validSec: number;
        preferredSec: number;
        expiresAtSec: number;
      }[];
    };
    for (const l of page.leases) {
      const [address, length] = l.resource.split('/') as [string, string | undefined];
      out.push({
        type: l.type,
        address,
        prefixLength: length === undefined ? 128 : Number(length),
        duid: l.duid.replace(/(..)(?!$)/g, '$1:'),
        iaid: l.iaid,
        validLifetime: l.validSec,
        preferredLifetime: l.preferredSec,
        expiresAt: l.expiresAtSec,
        state: l.state,
      });
    }
    offset += page.leases.length;
    if (page.leases.length === 0 || offset >= page.total) return out;
  }
}

/** twin6d's RFC 8156 state, from its control socket (what `twin6ctl failover --json` prints). */
export async function twin6FailoverStatus(stateDir: string): Promise<FailoverStatus> {
  const answer = await callControl(join(stateDir, CONTROL_SOCKET_NAME), { cmd: 'failover.status' });
  if (!answer.ok) throw new Error(`twin6d failover.status: ${answer.error}`);
  return answer.result as FailoverStatus;
}

/** Polls twin6d until it is in `state` (and its partner in `partner`, when given). */
export async function waitTwin6State(
  stateDir: string,
  state: string,
  opts: { partner?: string; timeoutMs?: number; detail?: () => string } = {},
): Promise<FailoverStatus> {
  let last: FailoverStatus | string | undefined;
  return poll(
    async () => {
      const s = await twin6FailoverStatus(stateDir).catch((e: Error) => e.message);
      last = s;
      return typeof s !== 'string' && s.state === state && (opts.partner === undefined || s.partnerState === opts.partner) ? s : undefined;
    },
    {
      timeoutMs: opts.timeoutMs ?? 30_000,
      intervalMs: 250,
      what: `twin6d in ${state}${opts.partner ? ` with partner ${opts.partner}` : ''}`,
      detail: () => `last: ${JSON.stringify(last)}${opts.detail ? `\n${opts.detail()}` : ''}`,
    },
  );
}

export interface Twin6Transition {
  readonly from: string | null;
  readonly to: string;
  readonly partner: string | null;
  readonly cause: string;
}

/** The failover state transitions twin6d logged ("failover state transition"), in order. */
export function twin6Transitions(log: string): Twin6Transition[] {
  const out: Twin6Transition[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"msg":"failover state transition"')) continue;
    try {
      const o = JSON.parse(line) as Twin6Transition;
      out.push({ from: o.from ?? null, to: o.to, partner: o.partner ?? null, cause: o.cause });
    } catch {
      /* a torn line at the end of the file */
    }
  }
  return out;
}

/** Log lines at pino's error (50) or fatal (60) level. */
export function twin6Errors(log: string): string[] {
  return log.split('\n').filter((l) => /"level":(50|60)[,}]/.test(l));
}

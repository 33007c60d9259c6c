// What every measurement shares: the lab LAN, the run's scratch directory and
// the knobs that differ between the full bench and the smoke run.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Lan, Namespace } from '../lab/netns.js';
import { dhcpSockets, type RunningServer, type ServerName, type ServerOptions } from './servers.js';

export interface BenchOptions extends ServerOptions {
  readonly quick: boolean;
  readonly servers: readonly ServerName[];
  /** perfdhcp -p of each ladder step. */
  readonly stepSeconds: number;
  /** First rate of the ladder; doubled until a step fails, then refined. */
  readonly startRate: number;
  readonly maxRate: number;
  /** Refinement steps between the last clean and the first failing doubled rate. */
  readonly fineSteps: number;
  /** Quick mode: the only ladder rate. */
  readonly quickRate?: number;
  readonly latencySeconds: number;
  /** A load far below either server's limit: latency there is the floor, not queueing. */
  readonly lightRate: number;
  readonly storageSeconds: number;
  readonly smallBindings: number;
  readonly largeBindings: number;
  /** Keep run directories (configs, logs, lease files) for a post-mortem. */
  readonly keep: boolean;
  /** Which server goes first in each round (order.ts); printed with the results. */
  readonly orderSeed: number;
}

export const FULL: Omit<BenchOptions, 'servers' | 'keaThreads' | 'keep' | 'orderSeed'> = {
  quick: false,
  stepSeconds: 5,
  startRate: 250,
  maxRate: 64_000,
  fineSteps: 8,
  latencySeconds: 10,
  lightRate: 100,
  storageSeconds: 8,
  smallBindings: 10_000,
  largeBindings: 100_000,
};

export const QUICK: Omit<BenchOptions, 'servers' | 'keaThreads' | 'keep' | 'orderSeed'> = {
  quick: true,
  stepSeconds: 2,
  startRate: 50,
  maxRate: 50,
  fineSteps: 0,
  quickRate: 50,
  latencySeconds: 2,
  lightRate: 20,
  storageSeconds: 2,
  smallBindings: 1_000,
  largeBindings: 2_000,
};

/** A failure ratio above this ends the ladder, as in ISC's Kea performance reports. */
export const MAX_FAILED_RATIO = 0.025;
export const CLIENT_IF = 'eth0';

export class BenchContext {
  private seq = 0;
  /** Things that went wrong but did not stop the bench (a server crash, a failed phase). */
  readonly problems: string[] = [];
  /** Per server, over all its starts: the receive buffer each socket on 547 got, and datagrams those sockets dropped. */
  readonly sockets = new Map<ServerName, { rcvbuf: number[]; drops: number }>();

  constructor(
    /** The single-server LAN, or (pair mode) the pair's primary namespace and its client. */
    readonly lan: Pick<Lan, 'server' | 'clients'>,
    readonly root: string,
    readonly opts: BenchOptions,
  ) {}

  get server(): Namespace {
    return this.lan.server;
  }

  get client(): Namespace {
    const c = this.lan.clients[0];
    if (!c) throw new Error('lab LAN without a client namespace');
    return c;
  }

  /** A fresh directory per server start: no run sees another's leases. */
  newDir(label: string): string {
    const dir = join(this.root, `${String(++this.seq).padStart(3, '0')}-${label}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Lease files of finished runs add up to gigabytes over a full bench. */
  dropDir(dir: string): void {
    if (!this.opts.keep) rmSync(dir, { recursive: true, force: true });
  }

  note(msg: string): void {
    process.stderr.write(`[bench] ${msg}\n`);
  }

  /** Stops a server and reports it when it did not exit cleanly: SIGTERM must end twin6d after its last commit. */
  async stop(srv: RunningServer, what: string): Promise<void> {
    const wasRunning = srv.proc.running;
    if (wasRunning) {
      const seen = this.sockets.get(srv.name) ?? { rcvbuf: [], drops: 0 };
      seen.rcvbuf.push(...srv.rcvbufBytes);
      for (const m of await dhcpSockets(srv.ns).catch(() => [])) seen.drops += m.drops;
      this.sockets.set(srv.name, seen);
    }
    const st = await srv.stop();
    if (wasRunning && st.code !== 0)
      this.problem(`${srv.name} did not exit cleanly on SIGTERM after ${what}: ${JSON.stringify(st)}\n${srv.log()}`);
  }

  problem(msg: string): void {
    this.problems.push(msg);
    this.note(`PROBLEM: ${msg}`);
  }
}

// The fixture: one call builds namespaces, LAN, server and clients; stop()
// takes all of it down again, and so does the process-exit hook if stop() is
// never reached.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepDirs, sweepStaleLabs, trackDir, untrackDir } from './cleanup.js';
import { createClient, type ClientSpec, type Dhcp6Client } from './clients.js';
import { Lan, newLabId } from './netns.js';
import { tail } from './proc.js';
import { commandServer, startServer, type RunningServer, type ServerCommand, type ServerContext, type ServerSpec } from './server.js';
import { LAB_TOPOLOGY, type LabTopology } from './topology.js';

export interface LabOptions {
  readonly clients: readonly ClientSpec[];
  /** The server under test. */
  readonly server?: ServerSpec;
  /** Shortcut for a server given only as a command (no lease access). */
  readonly serverCmd?: (ctx: ServerContext) => ServerCommand;
  /** Default: a bridge when there is more than one client. */
  readonly bridge?: boolean;
  /** Start the clients right away (default true); otherwise call client.start(). */
  readonly startClients?: boolean;
  readonly topology?: LabTopology;
  /** Keep the lab directory after stop() (also: env T6_LAB_KEEP=1). */
  readonly keepDir?: boolean;
}

export interface Lab {
  readonly id: string;
  readonly dir: string;
  readonly lan: Lan;
  readonly topology: LabTopology;
  /** The server as now running; a new object after restartServer(). */
  readonly server: RunningServer | undefined;
  readonly clients: readonly Dhcp6Client[];
  /**
   * Stops the server with the signal (SIGKILL: a crash, no clean shutdown) and
   * starts it again on the same state directory; its log is appended to.
   */
  restartServer(signal: 'SIGTERM' | 'SIGKILL'): Promise<RunningServer>;
  client(name: string): Dhcp6Client;
  /** Logs and events of everything, for a failing test's message. */
  diagnostics(): string;
  stop(): Promise<void>;
}

function clientNames(specs: readonly ClientSpec[]): string[] {
  const count = new Map<string, number>();
  for (const s of specs) count.set(s.kind, (count.get(s.kind) ?? 0) + 1);
  const seen = new Map<string, number>();
  const names = specs.map((s) => {
    if (s.name) return s.name;
    const n = (seen.get(s.kind) ?? 0) + 1;
    seen.set(s.kind, n);
    return (count.get(s.kind) ?? 0) > 1 ? `${s.kind}-${n}` : s.kind;
  });
  if (new Set(names).size !== names.length) throw new Error(`client names must be unique: ${names.join(', ')}`);
  for (const n of names) if (!/^[A-Za-z0-9_.-]+$/.test(n)) throw new Error(`bad client name ${n}`);
  return names;
}

export async function startLab(opts: LabOptions): Promise<Lab> {
  if (opts.clients.length === 0) throw new Error('startLab: no clients');
  const names = clientNames(opts.clients);
  sweepStaleLabs();
  const topology = opts.topology ?? LAB_TOPOLOGY;
  const id = newLabId();
  const dir = mkdtempSync(join(tmpdir(), `t6-lab-${id}-`));
  trackDir(dir);
  const keep = opts.keepDir ?? keepDirs();

  let lan: Lan | undefined;
  let server: RunningServer | undefined;
  const clients: Dhcp6Client[] = [];
  let stopped = false;

  const diagnostics = (): string => {
    const parts = [`lab ${id} in ${dir}`];
    if (server) parts.push(`--- server ${server.name} log (tail):\n${tail(server.log(), 60)}`);
    for (const c of clients) parts.push(c.diagnostics());
    return parts.join('\n');
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Clients first, without Release, so the server does not log errors for
    // a vanished link; then the server; then the namespaces (which also
    // kills anything that outlived its signal).
    await Promise.allSettled(clients.map((c) => c.stop()));
    await server?.stop();
    lan?.removeSync();
    untrackDir(dir);
    if (!keep) rmSync(dir, { recursive: true, force: true });
  };

  try {
    lan = await Lan.create({
      id,
      clients: opts.clients.length,
      dir,
      topology,
      ...(opts.bridge !== undefined ? { bridge: opts.bridge } : {}),
    });
    const spec = opts.server ?? (opts.serverCmd ? commandServer('server', opts.serverCmd) : undefined);
    if (spec) server = await startServer(spec, { ns: lan.server, dir: join(dir, 'server'), topology });
    for (const [i, s] of opts.clients.entries()) {
      const ns = lan.clients[i];
      const name = names[i];
      if (!ns || !name) throw new Error('unreachable');
      clients.push(createClient(s, name, ns, topology.clientIf, join(dir, name)));
    }
    if (opts.startClients ?? true) for (const c of clients) await c.start();
  } catch (e) {
    const diag = diagnostics();
    await stop();
    if (e instanceof Error) e.message += `\n${diag}`;
    throw e;
  }

  const l = lan;
  const serverSpec = opts.server ?? (opts.serverCmd ? commandServer('server', opts.serverCmd) : undefined);
  return {
    id,
    dir,
    lan: l,
    topology,
    get server() {
      return server;
    },
    clients,
    async restartServer(signal) {
      if (!server || !serverSpec) throw new Error('restartServer: the lab has no server');
      const ctx = server.ctx;
      await server.process.stop(signal);
      server = await startServer(serverSpec, ctx);
      return server;
    },
    client(name: string): Dhcp6Client {
      const c = clients.find((x) => x.name === name);
      if (!c) throw new Error(`no client ${name} (have ${clients.map((x) => x.name).join(', ')})`);
      return c;
    },
    diagnostics,
    stop,
  };
}

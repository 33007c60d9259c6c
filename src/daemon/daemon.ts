// The running server as one object: configuration, lease store, engine,
// sockets, control socket, and the hooks through which the features that
// build on it (failover, routes and router advertisements, the MQTT uplink)
// see committed lease changes, register commands and take part in shutdown.
// cli/twin6d.ts creates it with the real clock and starts the features.

import { EventEmitter } from 'node:events';
import path from 'node:path';
import type net from 'node:net';
import { pino, type Logger } from 'pino';
import { loadConfigFile } from '../config/index.js';
import type { ServerConfig } from '../config/types.js';
import { createEngine, standalonePolicy, type Engine, type FailoverPolicy, type LeaseChange } from '../engine/index.js';
import { LevelLeaseStore, type LeaseStore } from '../store/index.js';
import { duidFromHex, duidToHex } from '../wire/duid.js';
import { openDhcpSockets, type DhcpSockets } from '../net/dhcp-socket.js';
import { PacketPath } from './server.js';
import { Counters } from './counters.js';
import { prepareStateDir, serveControl, CONTROL_SOCKET_NAME } from './control.js';
import type { CommitOrigin, CommitStamp, ControlHandler, DaemonClock, DaemonEvents, Host } from './host.js';
import { makeServerDuid } from './server-duid.js';
import { controlCommands } from './commands.js';
import { reclaimer, RECLAIM_INTERVAL_MS } from './reclaim.js';
import { LoopLag } from './load-shed.js';

const unresponsivePolicy: FailoverPolicy = {
  mayAnswer: () => false,
  mayAllocate: () => false,
  capValidSec: () => 0,
};

export const systemClock: DaemonClock = { nowSec: () => Math.floor(Date.now() / 1000) };

export class Daemon extends EventEmitter<DaemonEvents> implements Host {
  readonly counters = new Counters();
  readonly startedMs = Date.now();
  private engineNow: Engine;
  private policyNow: FailoverPolicy = standalonePolicy;
  private stamp: CommitStamp | undefined;
  private sockets: DhcpSockets | undefined;
  private control: net.Server | undefined;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private readonly stopHooks: (() => Promise<void>)[] = [];
  private readonly commandTable: Record<string, ControlHandler>;
  private stopping = false;
  private readonly packetPath: PacketPath;
  private readonly loopLag = new LoopLag();
  private resolveStarted!: () => void;
  /** Resolves at markStarted(). */
  private readonly startedAll = new Promise<void>((resolve) => (this.resolveStarted = resolve));

  private constructor(
    private configNow: ServerConfig,
    readonly configFile: string,
    readonly stateDir: string,
    readonly store: LeaseStore,
    readonly serverDuid: Uint8Array,
    readonly log: Logger,
    readonly clock: DaemonClock,
  ) {
    super();
    // A failover server answers nobody until its endpoint has decided what its state allows.
    if (configNow.failover) this.policyNow = unresponsivePolicy;
    this.engineNow = createEngine(configNow, serverDuid);
    this.packetPath = new PacketPath(this.engineNow, {
      store,
      policy: () => this.policyNow,
      commit: (changes) => this.commit(changes),
      counters: this.counters,
      log,
      nowSec: () => clock.nowSec(),
      onStoreFailure: (e) => this.storeFailed(e),
      onUnanswered: (m) => this.emit('unanswered', m),
      loopLagMs: () => this.loopLag.lagMs,
    });
    this.commandTable = controlCommands({
      store,
      counters: this.counters,
      config: () => this.configNow,
      serverDuid: duidToHex(serverDuid),
      startedMs: this.startedMs,
      bound: () => this.sockets?.bound ?? [],
      load: () => ({ loopLagMs: Math.round(this.loopLag.lagMs), shedLevel: this.packetPath.shedLevel() }),
    });
  }

  /** Loads the config (refusing a bad one before anything is opened), opens the store, binds the sockets. */
  static async start(configFile: string, stateDir: string, clock: DaemonClock = systemClock): Promise<Daemon> {
    const config = await loadConfigFile(configFile);
    const log = pino({ level: config.logLevel, base: { svc: 'twin6d', pid: process.pid } });
    const { tightenedFrom } = await prepareStateDir(stateDir);
    if (tightenedFrom !== undefined) log.warn({ stateDir, mode: tightenedFrom.toString(8) }, 'state directory was open to other users; now 0700');
    const store = new LevelLeaseStore(path.join(stateDir, 'leases'), config.storage);
    const opened = await store.open();
    if (opened.corrupt.count > 0) {
      log.error({ corrupt: opened.corrupt.count, reasons: opened.corrupt.reasons, keys: opened.corrupt.keys }, 'lease records failed their check and are not served');
    }
    const serverDuid = await serverDuidFor(config, store, clock);
    const daemon = new Daemon(config, configFile, stateDir, store, serverDuid, log, clock);
    daemon.loopLag.start();
    await daemon.openSockets();
    daemon.control = await serveControl(path.join(stateDir, CONTROL_SOCKET_NAME), daemon.commandTable, daemon.startedAll);
    daemon.reclaimTimer = setInterval(() => daemon.reclaim(), RECLAIM_INTERVAL_MS);
    return daemon;
  }

  get config(): ServerConfig {
    return this.configNow;
  }

  get engine(): Engine {
    return this.engineNow;
  }

  get bound(): readonly string[] {
    return this.sockets?.bound ?? [];
  }

  /** Failover replaces the standalone policy with a view of its endpoint state. */
  setPolicy(policy: FailoverPolicy): void {
    this.policyNow = policy;
  }

  get policy(): FailoverPolicy {
    return this.policyNow;
  }

  /** The program calls this once every feature has started and registered its commands (control.ts waits for it). */
  markStarted(): void {
    this.resolveStarted();
  }

  /** Adds a command to the control socket (and so to everything that serves the same table). */
  registerCommand(name: string, handler: ControlHandler): void {
    this.commandTable[name] = handler;
  }

  get commands(): Readonly<Record<string, ControlHandler>> {
    return this.commandTable;
  }

  /** Runs at shutdown, after the sockets close and before the store does; last registered runs first. */
  onStop(hook: () => Promise<void>): void {
    this.stopHooks.unshift(hook);
  }

  /** Failover's hook on every local change; the stamp runs synchronously, before the write. */
  setCommitStamp(stamp: CommitStamp | undefined): void {
    this.stamp = stamp;
  }

  /** Makes lease changes durable, then tells the features. The only write path to the store. */
  async commit(changes: readonly LeaseChange[], origin: CommitOrigin = 'local'): Promise<void> {
    if (changes.length === 0) return;
    const written = origin === 'local' && this.stamp ? this.stamp(changes) : changes;
    await this.store.apply(written);
    this.emit('leases-committed', written, origin);
  }

  private async openSockets(): Promise<void> {
    this.sockets = await openDhcpSockets(
      { interfaces: this.configNow.interfaces, port: this.configNow.port },
      (d) => this.packetPath.onDatagram(d),
      (e) => this.log.error({ err: e }, 'socket error'),
    );
  }

  private readonly reclaim = reclaimer(this, () => this.stopping);

  /** SIGHUP: a good config replaces the old one; a bad one is refused with its reason and the old one keeps serving. */
  async reload(): Promise<boolean> {
    try {
      const next = await loadConfigFile(this.configFile);
      const socketsChanged = next.interfaces.join() !== this.configNow.interfaces.join() || next.port !== this.configNow.port;
      this.configNow = next;
      this.engineNow = createEngine(next, this.serverDuid);
      this.packetPath.setEngine(this.engineNow);
      this.log.level = next.logLevel;
      if (socketsChanged) {
        await this.sockets?.close();
        await this.openSockets();
      }
      this.counters.add('config.reloads');
      this.log.info({ interfaces: next.interfaces, subnets: next.subnets.length }, 'configuration reloaded');
      this.emit('config-reloaded', next);
      return true;
    } catch (e) {
      this.counters.add('config.rejected');
      this.log.error({ err: e instanceof Error ? e.message : e }, 'new configuration refused; still serving the old one');
      return false;
    }
  }

  /** The store can no longer be trusted: stop, so the supervisor restarts from what is on disk. */
  storeFailed(e: unknown): void {
    if (this.stopping) return;
    this.log.fatal({ err: e }, 'lease store write failed; stopping so the supervisor restarts from what is on disk');
    process.exit(70);
  }

  /** Stops serving, lets features finish, writes what waits for its commit, closes the store. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.reclaimTimer);
    this.loopLag.stop();
    await this.sockets?.close();
    this.control?.close();
    for (const hook of this.stopHooks) {
      try {
        await hook();
      } catch (e) {
        this.log.error({ err: e }, 'shutdown hook failed');
      }
    }
    await this.store.close();
  }
}

async function serverDuidFor(config: ServerConfig, store: LeaseStore, clock: DaemonClock): Promise<Uint8Array> {
  if (config.serverDuid) {
    const fixed = duidFromHex(config.serverDuid);
    if (!fixed) throw new Error(`serverDuid: not a DUID: ${config.serverDuid}`);
    return fixed;
  }
  const kept = store.getMeta('server-duid');
  if (kept) return kept;
  const made = makeServerDuid(config.interfaces, clock.nowSec());
  await store.putMeta('server-duid', made);
  return made;
}

// The running server as one object: configuration, lease store, engine,
// sockets, control socket, and the hooks through which the features that
// build on it (failover, routes and router advertisements, the MQTT uplink)
// see committed lease changes, register commands and take part in shutdown.
// What it shares with the simulation (engine, policy, packet path, commit
// path, commands, stop hooks, reclaim) is core.ts; this file is the shell:
// state directory, sockets, control socket, loop-lag probe, reload, exit.
// cli/twin6d.ts creates it with the real clock and starts the features.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type net from 'node:net';
import { pino, type Logger } from 'pino';
import { loadConfigFile } from '../config/index.js';
import type { ServerConfig } from '../config/types.js';
import { LevelLeaseStore, type LeaseStore } from '../store/index.js';
import { duidFromHex, duidToHex } from '../wire/duid.js';
import { openDhcpSockets, type DhcpSockets } from '../net/dhcp-socket.js';
import { prepareStateDir, serveControl, CONTROL_SOCKET_NAME } from './control.js';
import { ServerCore } from './core.js';
import type { DaemonClock, Host } from './host.js';
import { makeServerDuid } from './server-duid.js';
import { controlCommands } from './commands.js';
import { RECLAIM_INTERVAL_MS } from './reclaim.js';
import { LoopLag } from './load-shed.js';
import { highestMark, leaseMark, parseMark, type FloorMark } from './clock-floor.js';

/** While the clock is behind its floor it is looked at this often, so service starts within a second of the time being set. */
export const CLOCK_POLL_MS = 1000;

export interface DaemonOptions {
  readonly clock?: DaemonClock;
  /**
   * Files holding a time this box has seen, in decimal Unix seconds (the
   * image's build time, the clock the appliance saved on flash): the clock
   * floor's marks besides the leases (docs/image.md §12). A missing or
   * unreadable file is no mark.
   */
  readonly floorFiles?: readonly string[];
}

export const systemClock: DaemonClock = { nowSec: () => Math.floor(Date.now() / 1000) };

export class Daemon extends ServerCore implements Host {
  readonly startedMs = Date.now();
  private sockets: DhcpSockets | undefined;
  private control: net.Server | undefined;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private clockTimer: NodeJS.Timeout | undefined;
  private clockWasTrusted = true;
  private readonly clockWaiters: (() => void)[] = [];
  private resolveStarted!: () => void;
  /** Why the last reload failed; undefined after one that took. */
  lastReloadError: string | undefined;
  /** Resolves at markStarted(). */
  private readonly startedAll = new Promise<void>((resolve) => (this.resolveStarted = resolve));

  private constructor(
    config: ServerConfig,
    readonly configFile: string,
    readonly stateDir: string,
    store: LeaseStore,
    serverDuid: Uint8Array,
    log: Logger,
    clock: DaemonClock,
    private readonly loopLag: LoopLag,
    clockFloor: FloorMark,
  ) {
    super({
      config,
      store,
      serverDuid,
      log,
      clock,
      onStoreFailure: (e) => exitOnStoreFailure(log, e),
      loopLagMs: () => loopLag.lagMs,
      clockFloor,
    });
    Object.assign(
      this.commandTable,
      controlCommands({
        store,
        counters: this.counters,
        config: () => this.config,
        serverDuid: duidToHex(serverDuid),
        startedMs: this.startedMs,
        bound: () => this.sockets?.bound ?? [],
        load: () => ({ loopLagMs: Math.round(loopLag.lagMs), shedLevel: this.packetPath.shedLevel() }),
        clock: () => this.clockStatus(),
      }),
    );
  }

  /** Loads the config (refusing a bad one before anything is opened), opens the store, binds the sockets. */
  static async start(configFile: string, stateDir: string, opts: DaemonOptions = {}): Promise<Daemon> {
    const clock = opts.clock ?? systemClock;
    const config = await loadConfigFile(configFile);
    const log = pino({ level: config.logLevel, base: { svc: 'twin6d', pid: process.pid } });
    const { tightenedFrom } = await prepareStateDir(stateDir);
    if (tightenedFrom !== undefined)
      log.warn(
        { code: 'DAEMON_STATE_DIR_TIGHTENED', stateDir, mode: tightenedFrom.toString(8) },
        'state directory was open to other users; now 0700',
      );
    const store = new LevelLeaseStore(path.join(stateDir, 'leases'), config.storage);
    const opened = await store.open();
    if (opened.corrupt.count > 0) {
      log.error(
        { code: 'STORE_CORRUPT_RECORDS', corrupt: opened.corrupt.count, reasons: opened.corrupt.reasons, keys: opened.corrupt.keys },
        'lease records failed their check and are not served',
      );
    }
    const serverDuid = await serverDuidFor(config, store, clock);
    const floor = highestMark([leaseMark(store.all()), ...(await readMarks(opts.floorFiles ?? []))]);
    const daemon = new Daemon(config, configFile, stateDir, store, serverDuid, log, clock, new LoopLag(), floor);
    daemon.loopLag.start();
    daemon.watchClock();
    await daemon.openSockets();
    daemon.control = await serveControl(path.join(stateDir, CONTROL_SOCKET_NAME), daemon.commandTable, daemon.startedAll);
    daemon.reclaimTimer = setInterval(() => daemon.reclaim(), RECLAIM_INTERVAL_MS);
    return daemon;
  }

  /**
   * Resolves once the wall clock is at or above its floor: at once when it is.
   * Until then the packet path answers nothing (drop.clock-behind), and
   * twin6d starts failover only after it (docs/image.md §12).
   */
  clockTrustworthy(): Promise<void> {
    if (this.clockTrusted()) return Promise.resolve();
    return new Promise((resolve) => this.clockWaiters.push(resolve));
  }

  /** Logs when the clock falls below its floor and when it is back, checked every CLOCK_POLL_MS. */
  private watchClock(): void {
    const check = (): void => {
      const s = this.clockStatus();
      if (s.trusted === this.clockWasTrusted) return;
      this.clockWasTrusted = s.trusted;
      const fields = {
        now: new Date(s.nowSec * 1000).toISOString(),
        floor: new Date(s.floorSec * 1000).toISOString(),
        floorSource: s.floorSource,
      };
      if (!s.trusted) {
        this.counters.add('clock.behind');
        this.log.warn(
          { code: 'DAEMON_CLOCK_BEHIND', ...fields, behindSec: s.behindSec },
          'clock is behind the last time this box saw: granting nothing and not starting failover until it is set',
        );
        return;
      }
      this.log.info({ code: 'DAEMON_CLOCK_TRUSTED', ...fields }, 'clock is at or past its floor: starting');
      for (const resolve of this.clockWaiters.splice(0)) resolve();
    };
    check();
    this.clockTimer = setInterval(check, CLOCK_POLL_MS);
  }

  get bound(): readonly string[] {
    return this.sockets?.bound ?? [];
  }

  /** The program calls this once every feature has started and registered its commands (control.ts waits for it). */
  markStarted(): void {
    this.resolveStarted();
  }

  private async openSockets(): Promise<void> {
    this.sockets = await openDhcpSockets(
      { interfaces: this.config.interfaces, port: this.config.port },
      (d) => this.packetPath.onDatagram(d),
      (e) => this.log.error({ code: 'DHCP_SOCKET_ERROR', err: e }, 'socket error'),
    );
  }

  /** SIGHUP: a good config replaces the old one; a bad one is refused with its reason and the old one keeps serving. */
  async reload(): Promise<boolean> {
    try {
      const next = await loadConfigFile(this.configFile);
      const socketsChanged = next.interfaces.join() !== this.config.interfaces.join() || next.port !== this.config.port;
      this.replaceConfig(next);
      this.log.level = next.logLevel;
      if (socketsChanged) {
        await this.sockets?.close();
        // Until the new ones are open nothing is bound: `bound` must not name closed sockets.
        this.sockets = undefined;
        await this.openSockets();
      }
      this.lastReloadError = undefined;
      this.counters.add('config.reloads');
      this.log.info({ code: 'CONFIG_RELOADED', interfaces: next.interfaces, subnets: next.subnets.length }, 'configuration reloaded');
      this.emit('config-reloaded', next);
      return true;
    } catch (e) {
      this.lastReloadError = e instanceof Error ? e.message : String(e);
      this.counters.add('config.rejected');
      this.log.error(
        { code: 'CONFIG_RELOAD_REJECTED', err: e instanceof Error ? e.message : e },
        'new configuration refused; still serving the old one',
      );
      return false;
    }
  }

  /** Stops serving before the features finish: no reclaim, no packets, no control commands. */
  protected async stopShell(): Promise<void> {
    clearInterval(this.reclaimTimer);
    clearInterval(this.clockTimer);
    this.loopLag.stop();
    await this.sockets?.close();
    this.control?.close();
  }
}

/** Exit status 70 (EX_SOFTWARE): the supervisor restarts the daemon from what is on disk. */
function exitOnStoreFailure(log: Logger, e: unknown): never {
  log.fatal({ code: 'STORE_WRITE_FAILED', err: e }, 'lease store write failed; stopping so the supervisor restarts from what is on disk');
  process.exit(70);
}

/** The floor files' marks; a file that is missing or holds no plausible time gives none. */
async function readMarks(files: readonly string[]): Promise<FloorMark[]> {
  const marks: FloorMark[] = [];
  for (const file of files) {
    const sec = await readFile(file, 'utf8').then(parseMark, () => undefined);
    if (sec !== undefined) marks.push({ source: file, sec });
  }
  return marks;
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

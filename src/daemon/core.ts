// What the running server is apart from its I/O, shared by Daemon and the
// simulation's SimHost (docs/architecture.md §4): the engine and the policy it
// is given (unresponsive at first on a failover server), the packet path, the
// commit path with failover's stamp, the command table, the stop hooks in
// their order, and the reclaim tick. The shells add what differs — sockets,
// the control socket and an exit for the daemon; virtual timers for the
// simulation — so the simulation runs this code, not a copy of it
// (docs/style.md §1.6).

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config/types.js';
import { createEngine, standalonePolicy, type Engine, type FailoverPolicy, type LeaseChange } from '../engine/index.js';
import type { LeaseStore } from '../store/index.js';
import { Counters } from './counters.js';
import type { ClockStatus, CommitOrigin, CommitStamp, ControlHandler, DaemonClock, DaemonEvents, FailoverHost } from './host.js';
import { highestMark, judgeClock, leaseMark, NO_FLOOR, type FloorMark } from './clock-floor.js';
import { reclaimer } from './reclaim.js';
import { PacketPath } from './server.js';

/** A failover server answers nobody until its endpoint has decided what its state allows. */
const unresponsivePolicy: FailoverPolicy = {
  mayAnswer: () => false,
  mayAllocate: () => false,
  capValidSec: () => 0,
};

export interface CoreParts {
  readonly config: ServerConfig;
  readonly store: LeaseStore;
  readonly serverDuid: Uint8Array;
  readonly log: Logger;
  readonly clock: DaemonClock;
  /**
   * The store can no longer be trusted: the daemon exits (status 70) and its
   * supervisor restarts it from disk; the simulation does the same to the node.
   * Called once, and never while stopping.
   */
  readonly onStoreFailure: (e: unknown) => void;
  /** Event-loop lag now, in ms (load-shed.ts); absent: never shed for lag. */
  readonly loopLagMs?: () => number;
  /**
   * The clock floor at start (clock-floor.ts): while the wall clock is below
   * it, and below the latest lease this server stamps from then on, no packet
   * is answered. Absent: no floor (the simulation's virtual clocks).
   */
  readonly clockFloor?: FloorMark;
}

export abstract class ServerCore extends EventEmitter<DaemonEvents> implements FailoverHost {
  readonly counters = new Counters();
  readonly store: LeaseStore;
  readonly serverDuid: Uint8Array;
  readonly log: Logger;
  readonly clock: DaemonClock;
  /** Where the shell hands each datagram. */
  readonly packetPath: PacketPath;
  protected readonly commandTable: Record<string, ControlHandler> = {};
  /** One bounded reclaim batch (reclaim.ts); the shell runs it every RECLAIM_INTERVAL_MS on its own timers. */
  protected readonly reclaim: () => void;
  private configNow: ServerConfig;
  private engineNow: Engine;
  private policyNow: FailoverPolicy;
  private stamp: CommitStamp | undefined;
  private readonly stopHooks: (() => Promise<void>)[] = [];
  private readonly onStoreFailure: (e: unknown) => void;
  private stoppingNow = false;
  /** Raised by every local commit; undefined: the clock is never judged. */
  private floor: FloorMark | undefined;

  protected constructor(parts: CoreParts) {
    super();
    this.store = parts.store;
    this.serverDuid = parts.serverDuid;
    this.log = parts.log;
    this.clock = parts.clock;
    this.onStoreFailure = parts.onStoreFailure;
    this.configNow = parts.config;
    this.floor = parts.clockFloor;
    this.policyNow = parts.config.failover ? unresponsivePolicy : standalonePolicy;
    this.engineNow = createEngine(parts.config, parts.serverDuid);
    this.packetPath = new PacketPath(this.engineNow, {
      store: parts.store,
      policy: () => this.policyNow,
      commit: (changes) => this.commit(changes),
      counters: this.counters,
      log: parts.log,
      nowSec: () => parts.clock.nowSec(),
      onStoreFailure: (e) => this.storeFailed(e),
      onUnanswered: (m) => this.emit('unanswered', m),
      loopLagMs: parts.loopLagMs,
      ...(parts.clockFloor ? { clockTrusted: () => this.clockTrusted() } : {}),
    });
    this.reclaim = reclaimer(this, () => this.stoppingNow);
  }

  get config(): ServerConfig {
    return this.configNow;
  }

  get engine(): Engine {
    return this.engineNow;
  }

  get policy(): FailoverPolicy {
    return this.policyNow;
  }

  get commands(): Readonly<Record<string, ControlHandler>> {
    return this.commandTable;
  }

  /** From the first stop() or store failure on: no new work is taken. */
  get stopping(): boolean {
    return this.stoppingNow;
  }

  /** Failover replaces the standalone (or unresponsive) policy with a view of its endpoint state. */
  setPolicy(policy: FailoverPolicy): void {
    this.policyNow = policy;
  }

  /** Failover's hook on every local change; the stamp runs synchronously, before the write. */
  setCommitStamp(stamp: CommitStamp | undefined): void {
    this.stamp = stamp;
  }

  /** Adds a command to the table the control socket (and the MQTT uplink) serves. */
  registerCommand(name: string, handler: ControlHandler): void {
    this.commandTable[name] = handler;
  }

  onStop(hook: () => Promise<void>): void {
    this.stopHooks.unshift(hook);
  }

  /** Makes lease changes durable, then tells the features. The only write path to the store. */
  async commit(changes: readonly LeaseChange[], origin: CommitOrigin = 'local'): Promise<void> {
    if (changes.length === 0) return;
    const written = origin === 'local' && this.stamp ? this.stamp(changes) : changes;
    await this.store.apply(written);
    // Our own stamps only: a partner's update carries no time of ours (failover/bindings.ts applyIncoming).
    if (this.floor && origin === 'local')
      this.floor = highestMark([this.floor, leaseMark(written.flatMap((c) => (c.op === 'put' ? [c.lease] : [])))]);
    this.emit('leases-committed', written, origin);
  }

  /** Whether the wall clock is at or above the floor (always, without one). Cheap: read per packet. */
  clockTrusted(): boolean {
    return this.floor === undefined || this.clock.nowSec() >= this.floor.sec;
  }

  clockStatus(): ClockStatus {
    const nowSec = this.clock.nowSec();
    const floor = this.floor ?? NO_FLOOR;
    const { trusted, behindSec } = judgeClock(nowSec, floor);
    return { trusted, nowSec, floorSec: floor.sec, floorSource: floor.source, behindSec };
  }

  storeFailed(e: unknown): void {
    if (this.stoppingNow) return;
    this.stoppingNow = true;
    this.onStoreFailure(e);
  }

  /** Stops taking work, lets the features finish (DISCONNECT, the final advertisement), writes what waits, closes the store. */
  async stop(): Promise<void> {
    if (this.stoppingNow) return;
    this.stoppingNow = true;
    await this.stopShell();
    for (const hook of this.stopHooks) {
      try {
        await hook();
      } catch (e) {
        this.log.error({ code: 'DAEMON_SHUTDOWN_HOOK_FAILED', err: e }, 'shutdown hook failed');
      }
    }
    await this.store.close();
  }

  /** A new configuration: later packets see its engine; packets in flight finish with the old one. */
  protected replaceConfig(next: ServerConfig): void {
    this.configNow = next;
    this.engineNow = createEngine(next, this.serverDuid);
    this.packetPath.setEngine(this.engineNow);
  }

  /** The shell's part of stop(), before the hooks run: its timers and sockets. */
  protected abstract stopShell(): Promise<void>;
}

// A small daemon for the simulation: what src/daemon/daemon.ts gives the
// failover runtime (a FailoverHost), over a MemoryLeaseStore and the real
// packet path (wire decode → engine → commit → encode), with no sockets, no
// control socket and no real clock or timers. commit() repeats Daemon's few
// lines on purpose (the daemon's own loop is this thin); reclaim is the
// daemon's (daemon/reclaim.ts).

import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import type { ServerConfig } from '../../config/types.js';
import { createEngine, type Engine, type FailoverPolicy, type LeaseChange } from '../../engine/index.js';
import type { MemoryLeaseStore } from '../../store/index.js';
import { Counters } from '../../daemon/counters.js';
import type { CommitOrigin, CommitStamp, ControlHandler, DaemonClock, DaemonEvents, FailoverHost } from '../../daemon/host.js';
import { PacketPath } from '../../daemon/server.js';
import { reclaimer, RECLAIM_INTERVAL_MS } from '../../daemon/reclaim.js';
import type { TimerHandle } from '../../failover/host.js';
import type { NodeTimers } from './time.js';


/** As daemon.ts: a failover server answers nobody until its endpoint has set a policy. */
const unresponsive: FailoverPolicy = { mayAnswer: () => false, mayAllocate: () => false, capValidSec: () => 0 };

/** A pino logger that hands each enabled call to `line` and serialises nothing. */
export function simLogger(line: (level: number, obj: unknown, msg: string | undefined) => void): Logger {
  return pino({
    level: 'info',
    base: null,
    timestamp: false,
    hooks: {
      logMethod(args, _method, level) {
        const [first, second] = args as unknown[];
        if (typeof first === 'string') line(level, undefined, first);
        else line(level, first, typeof second === 'string' ? second : undefined);
      },
    },
  }, { write: () => undefined });
}

export class SimHost extends EventEmitter<DaemonEvents> implements FailoverHost {
  readonly counters = new Counters();
  readonly engine: Engine;
  readonly packetPath: PacketPath;
  readonly commands: Record<string, ControlHandler> = {};
  private policyNow: FailoverPolicy = unresponsive;
  private stamp: CommitStamp | undefined;
  private readonly stopHooks: (() => Promise<void>)[] = [];
  private reclaimTimer: TimerHandle | undefined;
  stopping = false;

  constructor(
    readonly config: ServerConfig,
    readonly store: MemoryLeaseStore,
    serverDuid: Uint8Array,
    readonly log: Logger,
    readonly clock: DaemonClock,
    private readonly timers: NodeTimers,
    /** The daemon would exit (status 70) and be restarted by its supervisor. */
    private readonly fatal: (e: unknown) => void,
  ) {
    super();
    this.engine = createEngine(config, serverDuid);
    this.packetPath = new PacketPath(this.engine, {
      store,
      policy: () => this.policyNow,
      commit: (changes) => this.commit(changes),
      counters: this.counters,
      log,
      nowSec: () => clock.nowSec(),
      onStoreFailure: (e) => this.storeFailed(e),
      onUnanswered: (m) => this.emit('unanswered', m),
    });
    this.reclaimTimer = timers.repeat(() => this.reclaim(), RECLAIM_INTERVAL_MS);
  }

  setPolicy(policy: FailoverPolicy): void {
    this.policyNow = policy;
  }

  get policy(): FailoverPolicy {
    return this.policyNow;
  }

  setCommitStamp(stamp: CommitStamp | undefined): void {
    this.stamp = stamp;
  }

  registerCommand(name: string, handler: ControlHandler): void {
    this.commands[name] = handler;
  }

  onStop(hook: () => Promise<void>): void {
    this.stopHooks.unshift(hook);
  }

  async commit(changes: readonly LeaseChange[], origin: CommitOrigin = 'local'): Promise<void> {
    if (changes.length === 0) return;
    const written = origin === 'local' && this.stamp ? this.stamp(changes) : changes;
    await this.store.apply(written);
    this.emit('leases-committed', written, origin);
  }

  storeFailed(e: unknown): void {
    if (this.stopping) return;
    this.stopping = true;
    this.fatal(e);
  }

  private readonly reclaim = reclaimer(this, () => this.stopping);

  /** SIGTERM, as Daemon.stop: no more packets, the features finish, what waits is written. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timers.clear(this.reclaimTimer);
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

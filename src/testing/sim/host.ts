// A small daemon for the simulation: the daemon's own core (daemon/core.ts —
// engine and policy, the real packet path, the commit path, commands, stop
// hooks, reclaim) over a MemoryLeaseStore, with no sockets, no control socket
// and no real clock or timers. It gives the failover runtime the same
// FailoverHost the daemon does (daemon/host.ts).

import { pino, type Logger } from 'pino';
import type { ServerConfig } from '../../config/types.js';
import type { MemoryLeaseStore } from '../../store/index.js';
import { ServerCore } from '../../daemon/core.js';
import type { DaemonClock } from '../../daemon/host.js';
import { RECLAIM_INTERVAL_MS } from '../../daemon/reclaim.js';
import type { TimerHandle } from '../../failover/host.js';
import type { NodeTimers } from './time.js';

/** A pino logger that hands each enabled call to `line` and serialises nothing. */
export function simLogger(line: (level: number, obj: unknown, msg: string | undefined) => void): Logger {
  return pino(
    {
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
    },
    { write: () => undefined },
  );
}

export class SimHost extends ServerCore {
  /** The simulation reaches into its disk (write faults, latency). */
  declare readonly store: MemoryLeaseStore;
  private readonly reclaimTimer: TimerHandle;

  constructor(
    config: ServerConfig,
    store: MemoryLeaseStore,
    serverDuid: Uint8Array,
    log: Logger,
    clock: DaemonClock,
    private readonly timers: NodeTimers,
    /** The daemon would exit (status 70) and be restarted by its supervisor. */
    fatal: (e: unknown) => void,
  ) {
    super({ config, store, serverDuid, log, clock, onStoreFailure: fatal });
    this.reclaimTimer = timers.repeat(() => this.reclaim(), RECLAIM_INTERVAL_MS);
  }

  protected async stopShell(): Promise<void> {
    this.timers.clear(this.reclaimTimer);
  }
}

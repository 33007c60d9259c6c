// Background reclaim of ended leases (engine/reclaim.ts decides which): one
// bounded batch at a time, committed through the host's write path, never
// while the host stops. The daemon and the simulation's host run this same
// loop, so the simulation checks the product's reclaim, not a copy of it.

import type { Engine, FailoverPolicy, LeaseChange } from '../engine/index.js';
import { isStoreBusy, type LeaseStore } from '../store/index.js';
import type { Counters } from './counters.js';
import type { DaemonClock } from './host.js';

/** Expiry work per tick: bounded so a backlog after downtime never stalls the packet path. */
export const RECLAIM_BATCH_MAX = 1000;
export const RECLAIM_INTERVAL_MS = 1000;

export interface ReclaimHost {
  readonly engine: Engine;
  readonly clock: DaemonClock;
  readonly store: LeaseStore;
  readonly policy: FailoverPolicy;
  readonly counters: Counters;
  commit(changes: readonly LeaseChange[]): Promise<void>;
  storeFailed(e: unknown): void;
}

/** The tick to run every RECLAIM_INTERVAL_MS: skips while a batch is still being committed or the host stops. */
export function reclaimer(host: ReclaimHost, stopping: () => boolean): () => void {
  let busy = false;
  return () => {
    if (busy || stopping()) return;
    const changes = host.engine.reclaim({ nowSec: host.clock.nowSec(), view: host.store, policy: host.policy }, RECLAIM_BATCH_MAX);
    if (changes.length === 0) return;
    busy = true;
    host
      .commit(changes)
      .then(() => host.counters.add('leases.reclaimed', changes.length))
      .catch((e: unknown) => {
        // A disk that is behind has failed nothing: the next tick finds the same leases again.
        if (isStoreBusy(e)) host.counters.add('deferred.store-busy.reclaim');
        else host.storeFailed(e);
      })
      .finally(() => (busy = false));
  };
}

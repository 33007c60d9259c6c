// What the daemon answers on its control socket. Read-only for now; the
// failover and MQTT work adds commands to this same table.

import type { ServerConfig } from '../config/types.js';
import type { Lease } from '../engine/index.js';
import type { LeaseStore } from '../store/index.js';
import type { Counters } from './counters.js';
import type { ClockStatus, ControlHandler } from './host.js';
import { addressToBigInt, prefixContains } from '../wire/address.js';

export interface CommandDeps {
  readonly store: LeaseStore;
  readonly counters: Counters;
  readonly config: () => ServerConfig;
  readonly serverDuid: string;
  readonly startedMs: number;
  readonly bound: () => readonly string[];
  /** Event-loop lag and the shedding level it leads to (load-shed.ts). */
  readonly load: () => { readonly loopLagMs: number; readonly shedLevel: number };
  /** The wall clock against its floor (clock-floor.ts). */
  readonly clock: () => ClockStatus;
}

/** Leases listed in one answer at most; the caller pages with offset. */
const LEASES_PAGE_MAX = 10_000;

interface PoolUse {
  readonly subnet: string;
  readonly pool: string;
  readonly kind: 'na' | 'pd';
  readonly active: number;
}

function poolUse(config: ServerConfig, leases: Iterable<Lease>, nowSec: number): PoolUse[] {
  const rows: (PoolUse & { test: (l: Lease) => boolean })[] = [];
  for (const s of config.subnets) {
    for (const p of s.pools) {
      rows.push({
        subnet: s.name,
        pool: p.name,
        kind: 'na',
        active: 0,
        test: (l) => {
          const a = addressToBigInt(l.resource);
          return a >= p.first && a <= p.last;
        },
      });
    }
    for (const p of s.pdPools) {
      rows.push({
        subnet: s.name,
        pool: p.name,
        kind: 'pd',
        active: 0,
        test: (l) => {
          const a = addressToBigInt(l.resource.slice(0, l.resource.indexOf('/')));
          return prefixContains(p.prefix, p.prefixLength, a);
        },
      });
    }
  }
  const counts = rows.map(() => 0);
  for (const l of leases) {
    if (l.state !== 'active' || l.expiresAtSec <= nowSec) continue;
    const i = rows.findIndex((r) => r.kind === l.type && r.test(l));
    if (i >= 0) counts[i]!++;
  }
  return rows.map(({ subnet, pool, kind }, i) => ({ subnet, pool, kind, active: counts[i]! }));
}

export function controlCommands(deps: CommandDeps): Record<string, ControlHandler> {
  return {
    status: () => {
      const nowSec = Math.floor(Date.now() / 1000);
      return {
        serverDuid: deps.serverDuid,
        pid: process.pid,
        uptimeSec: Math.floor((Date.now() - deps.startedMs) / 1000),
        bound: deps.bound(),
        leases: deps.store.size,
        pools: poolUse(deps.config(), deps.store.all(), nowSec),
        storage: deps.store.stats(),
        counters: deps.counters.snapshot(),
        load: deps.load(),
        clock: deps.clock(),
        memory: { rssBytes: process.memoryUsage().rss },
      };
    },
    leases: (args) => {
      const state = typeof args['state'] === 'string' ? args['state'] : undefined;
      const duid = typeof args['duid'] === 'string' ? args['duid'].replaceAll(':', '').toLowerCase() : undefined;
      const offset = typeof args['offset'] === 'number' ? args['offset'] : 0;
      const limit = Math.min(typeof args['limit'] === 'number' ? args['limit'] : LEASES_PAGE_MAX, LEASES_PAGE_MAX);
      const matching = [...deps.store.all()].filter((l) => (!state || l.state === state) && (!duid || l.duid === duid));
      return { total: matching.length, offset, leases: matching.slice(offset, offset + limit) };
    },
  };
}

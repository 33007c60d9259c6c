// ISC Kea (kea-dhcp6, 2.2 in Debian 12) as the reference server. Everything it
// writes goes to the server's lab directory: config, memfile leases, server
// DUID (data-directory), control socket, log, and the pid/lock files that it
// otherwise puts under /run (KEA_PIDFILE_DIR, KEA_LOCKFILE_DIR).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerContext, ServerLease, ServerLeaseState, ServerSpec } from './server.js';
import type { LabLifetimes } from './topology.js';

export interface KeaOptions {
  readonly lifetimes?: LabLifetimes;
  readonly rapidCommit?: boolean;
  readonly severity?: 'DEBUG' | 'INFO' | 'WARN';
  readonly debugLevel?: number;
}

export function keaFiles(dir: string): { config: string; leases: string; socket: string; log: string } {
  return {
    config: join(dir, 'kea-dhcp6.json'),
    leases: join(dir, 'kea-leases6.csv'),
    socket: join(dir, 'kea6.sock'),
    log: join(dir, 'kea-dhcp6.log'),
  };
}

export function keaConfig(ctx: ServerContext, opts: KeaOptions = {}): unknown {
  const t = ctx.topology;
  const l = opts.lifetimes ?? t.lifetimes;
  const f = keaFiles(ctx.dir);
  return {
    Dhcp6: {
      'interfaces-config': { interfaces: [t.serverIf] },
      // Kea 2.2 keeps its generated server DUID here; a fixed EN DUID that is
      // not persisted means nothing is written outside the lab directory.
      'data-directory': ctx.dir,
      'server-id': { type: 'EN', 'enterprise-id': 2495, identifier: '7477696e366c6162', persist: false },
      'control-socket': { 'socket-type': 'unix', 'socket-name': f.socket },
      // lfc-interval 0: no lease-file cleanup process, so the CSV is an
      // append-only journal the lab can read (including releases).
      'lease-database': { type: 'memfile', persist: true, name: f.leases, 'lfc-interval': 0 },
      'preferred-lifetime': l.preferredSec,
      'valid-lifetime': l.validSec,
      'renew-timer': l.t1Sec,
      'rebind-timer': l.t2Sec,
      'option-data': [{ name: 'dns-servers', data: t.dnsServers.join(', ') }],
      subnet6: [
        {
          id: 1,
          subnet: t.subnet,
          // Directly connected clients are matched to a subnet by interface.
          interface: t.serverIf,
          'rapid-commit': opts.rapidCommit ?? false,
          pools: [{ pool: `${t.pool.first}-${t.pool.last}` }],
          'pd-pools': [{ prefix: t.pdPool.prefix, 'prefix-len': t.pdPool.prefixLength, 'delegated-len': t.pdPool.delegatedLength }],
        },
      ],
      loggers: [
        {
          name: 'kea-dhcp6',
          output_options: [{ output: f.log }],
          severity: opts.severity ?? 'INFO',
          debuglevel: opts.debugLevel ?? 0,
        },
      ],
    },
  };
}

/**
 * Reads Kea's memfile CSV. With LFC off the file is a journal: each line is
 * the latest state of (type, address) at write time, and a deleted (released)
 * lease is written with valid_lifetime 0.
 */
export function parseKeaLeases6(csv: string, nowSec = Date.now() / 1000): ServerLease[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift()?.split(',') ?? [];
  const col = (name: string): number => header.indexOf(name);
  const c = {
    address: col('address'),
    duid: col('duid'),
    valid: col('valid_lifetime'),
    expire: col('expire'),
    pref: col('pref_lifetime'),
    type: col('lease_type'),
    iaid: col('iaid'),
    plen: col('prefix_len'),
    state: col('state'),
  };
  const latest = new Map<string, ServerLease>();
  for (const line of lines) {
    const v = line.split(',');
    const get = (i: number): string => (i >= 0 ? (v[i] ?? '') : '');
    const leaseType = Number(get(c.type)); // 0 NA, 1 TA, 2 PD
    if (leaseType !== 0 && leaseType !== 2) continue;
    const valid = Number(get(c.valid));
    const expiresAt = Number(get(c.expire));
    const st = Number(get(c.state));
    let state: ServerLeaseState;
    if (valid === 0) state = 'released';
    else if (st === 1) state = 'declined';
    else if (st === 2 || expiresAt <= nowSec) state = 'expired';
    else state = 'active';
    const lease: ServerLease = {
      type: leaseType === 2 ? 'pd' : 'na',
      address: get(c.address),
      prefixLength: Number(get(c.plen)),
      duid: get(c.duid).toLowerCase(),
      iaid: Number(get(c.iaid)),
      validLifetime: valid,
      preferredLifetime: Number(get(c.pref)),
      expiresAt,
      state,
    };
    latest.set(`${lease.type} ${lease.address}`, lease);
  }
  return [...latest.values()];
}

export function keaServer(opts: KeaOptions = {}): ServerSpec {
  return {
    name: 'kea-dhcp6',
    requires: ['kea-dhcp6'],
    prepare(ctx) {
      writeFileSync(keaFiles(ctx.dir).config, JSON.stringify(keaConfig(ctx, opts), null, 2));
    },
    command(ctx) {
      return {
        argv: ['kea-dhcp6', '-c', keaFiles(ctx.dir).config],
        env: {
          KEA_PIDFILE_DIR: ctx.dir,
          KEA_LOCKFILE_DIR: ctx.dir,
          // Where Kea logs before it has read the config's loggers.
          KEA_LOGGER_DESTINATION: join(ctx.dir, 'kea-dhcp6-early.log'),
        },
      };
    },
    leases(ctx) {
      const file = keaFiles(ctx.dir).leases;
      return existsSync(file) ? parseKeaLeases6(readFileSync(file, 'utf8')) : [];
    },
  };
}

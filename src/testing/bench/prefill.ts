// Puts N bindings in a server's lease storage before it starts, identically for
// both servers: N/2 bench clients (DUID benchDuid(i), IAID 1), each holding one
// address (pool first + i) and one /56 (the i-th of the prefix pool) — what a
// home router behind a CPE asks for. client.ts renews exactly these addresses.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIPv6 } from '../lab/addr.js';
import { LevelLeaseStore } from '../../store/index.js';
import type { Lease, LeaseChange } from '../../engine/lease.js';
import { benchDuid } from './dhcp6.js';
import { PLAN, twin6StateDir } from './servers.js';

interface Binding {
  readonly duid: Buffer;
  readonly address: string;
  readonly prefix: string;
}

export function clientsFor(bindings: number): number {
  return Math.floor(bindings / 2);
}

function* bindingsOf(bindings: number): Generator<Binding> {
  const shift = BigInt(128 - PLAN.pdDelegatedLength);
  const clients = clientsFor(bindings);
  if (clients > 2 ** (PLAN.pdDelegatedLength - PLAN.pdPrefixLength)) throw new Error(`prefix pool too small for ${clients} clients`);
  for (let i = 0; i < clients; i++) {
    yield {
      duid: benchDuid(i),
      address: formatIPv6(PLAN.poolFirst + BigInt(i)),
      prefix: `${formatIPv6(PLAN.pdPrefix + (BigInt(i) << shift))}/${PLAN.pdDelegatedLength}`,
    };
  }
}

const colons = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** Kea's memfile CSV (schema 4.0 of Kea 2.2), which Kea loads at start. */
export function prefillKea(dir: string, bindings: number, nowSec: number): void {
  const header =
    'address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source';
  const expire = nowSec + PLAN.validSec;
  const lines = [header];
  for (const b of bindingsOf(bindings)) {
    const common = `${colons(b.duid)},${PLAN.validSec},${expire},1,${PLAN.preferredSec}`;
    // lease_type 0 = IA_NA, 2 = IA_PD; state 0 = default (assigned).
    lines.push(`${b.address},${common},0,1,128,0,0,,,0,,0,0`);
    lines.push(`${b.prefix.split('/')[0]},${common},2,1,${PLAN.pdDelegatedLength},0,0,,,0,,0,0`);
  }
  writeFileSync(join(dir, 'kea-leases6.csv'), `${lines.join('\n')}\n`);
}

/** Writes through twin6's own store, so records are exactly what twin6d would have written. */
export async function prefillTwin6(dir: string, bindings: number, nowSec: number): Promise<void> {
  const stateDir = twin6StateDir(dir);
  mkdirSync(stateDir, { recursive: true });
  const store = new LevelLeaseStore(join(stateDir, 'leases'));
  await store.open();
  try {
    const lease = (resource: string, type: 'na' | 'pd', duid: string): Lease => ({
      resource,
      type,
      duid,
      iaid: 1,
      state: 'active',
      preferredSec: PLAN.preferredSec,
      validSec: PLAN.validSec,
      clttSec: nowSec,
      expiresAtSec: nowSec + PLAN.validSec,
    });
    let batch: LeaseChange[] = [];
    for (const b of bindingsOf(bindings)) {
      const duid = b.duid.toString('hex');
      batch.push({ op: 'put', lease: lease(b.address, 'na', duid) }, { op: 'put', lease: lease(b.prefix, 'pd', duid) });
      if (batch.length >= 5000) {
        await store.apply(batch);
        batch = [];
      }
    }
    await store.apply(batch);
  } finally {
    await store.close();
  }
}

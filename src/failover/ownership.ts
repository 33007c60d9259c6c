// Which partner may hand out a free address or prefix to a new client
// (RFC 8156 §4.2):
//  - addresses, §4.2.1 independent allocation: the primary owns the addresses
//    whose lowest bit is 1, the secondary those whose lowest bit is 0;
//  - prefixes, §4.2.2 proportional allocation: the secondary owns the free
//    prefixes the primary handed it with FREE-BACKUP BNDUPDs, the primary
//    all the others (backup-prefixes.ts holds that set, handoff.ts moves it).

import type { PrefixPool, ServerConfig } from '../config/types.js';
import { addressToBigInt, prefixContains } from '../wire/address.js';

export type Role = 'primary' | 'secondary';

export function addressOwner(address: string): Role {
  return (addressToBigInt(address) & 1n) === 1n ? 'primary' : 'secondary';
}

/** The configured pool a delegable prefix belongs to (its delegated length, within the pool's prefix). */
export function pdPoolOf(resource: string, pools: readonly PrefixPool[]): PrefixPool | undefined {
  const slash = resource.indexOf('/');
  if (slash < 0) return undefined;
  const length = Number(resource.slice(slash + 1));
  const prefix = addressToBigInt(resource.slice(0, slash));
  return pools.find((p) => p.delegatedLength === length && prefixContains(p.prefix, p.prefixLength, prefix));
}

/** §4.2.2: the secondary owns what it was handed (backup), the primary every other free prefix of a pool. */
export function prefixOwner(resource: string, pools: readonly PrefixPool[], backup: (resource: string) => boolean): Role | undefined {
  if (!pdPoolOf(resource, pools)) return undefined;
  return backup(resource) ? 'secondary' : 'primary';
}

export function allPdPools(config: ServerConfig): PrefixPool[] {
  return config.subnets.flatMap((s) => s.pdPools);
}

/** Our interface on the link of a delegated prefix: that of the subnet whose pool holds it (none for relayed-only subnets). */
export function interfaceOfPrefix(resource: string, config: ServerConfig): string | undefined {
  const slash = resource.indexOf('/');
  if (slash < 0) return undefined;
  const prefix = addressToBigInt(resource.slice(0, slash));
  return config.subnets.find((s) => s.pdPools.some((p) => prefixContains(p.prefix, p.prefixLength, prefix)))?.interface;
}

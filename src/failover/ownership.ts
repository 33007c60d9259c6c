// Which partner may hand out a free address or prefix to a new client
// (RFC 8156 §4.2). Both sides compute the same answer from the configuration
// alone, so nothing about it crosses the wire:
//  - addresses, §4.2.1 independent allocation: the primary owns the addresses
//    whose lowest bit is 1, the secondary those whose lowest bit is 0;
//  - prefixes, §4.2.2 proportional allocation: the secondary owns every
//    n-th delegable prefix of each pool (n = round(1 / secondaryPdShare)),
//    the primary the rest. A fixed, configured proportion instead of a
//    balance moved by BNDUPDs: see the issue note for why.

import type { PrefixPool, ServerConfig } from '../config/types.js';
import { addressToBigInt, prefixContains } from '../wire/address.js';

export type Role = 'primary' | 'secondary';

export function addressOwner(address: string): Role {
  return (addressToBigInt(address) & 1n) === 1n ? 'primary' : 'secondary';
}

export function prefixOwner(resource: string, pools: readonly PrefixPool[], secondaryShare: number): Role | undefined {
  const slash = resource.indexOf('/');
  const length = Number(resource.slice(slash + 1));
  const prefix = addressToBigInt(resource.slice(0, slash));
  const pool = pools.find((p) => p.delegatedLength === length && prefixContains(p.prefix, p.prefixLength, prefix));
  if (!pool) return undefined;
  const index = (prefix - pool.prefix) >> BigInt(128 - length);
  const every = BigInt(Math.max(1, Math.round(1 / secondaryShare)));
  return index % every === every - 1n ? 'secondary' : 'primary';
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

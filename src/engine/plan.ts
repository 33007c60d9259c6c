// What the engine precomputes from a config once, instead of per packet:
// reservation look-ups in both directions, and pool sizes.

import type { AddressPool, PrefixPool, ServerConfig, Subnet } from '../config/types.js';
import { addressToBigInt, prefixContains } from '../wire/address.js';
import type { IaType } from './lease.js';

export interface SubnetPlan {
  readonly subnet: Subnet;
  /** duid → reserved address / prefix resource, for this subnet. */
  readonly reservedFor: ReadonlyMap<string, { readonly na?: string; readonly pd?: string }>;
}

export interface ServingPlan {
  readonly config: ServerConfig;
  readonly subnets: readonly SubnetPlan[];
  /** Every reserved resource → the DUID it belongs to; no other client may get it. */
  readonly reservedBy: ReadonlyMap<string, string>;
}

export function makePlan(config: ServerConfig): ServingPlan {
  const reservedBy = new Map<string, string>();
  const subnets = config.subnets.map((subnet): SubnetPlan => {
    const reservedFor = new Map<string, { na?: string; pd?: string }>();
    for (const r of subnet.reservations) {
      reservedFor.set(r.duid, { na: r.address, pd: r.prefix });
      if (r.address) reservedBy.set(r.address, r.duid);
      if (r.prefix) reservedBy.set(r.prefix, r.duid);
    }
    return { subnet, reservedFor };
  });
  return { config, subnets, reservedBy };
}

export const poolSize = (pool: AddressPool): bigint => pool.last - pool.first + 1n;
export const prefixPoolSize = (pool: PrefixPool): bigint => 1n << BigInt(pool.delegatedLength - pool.prefixLength);

/** Whether a resource of this type may be served on this subnet at all (in a pool, or reserved here for this client). */
export function fitsSubnet(plan: SubnetPlan, type: IaType, resource: string, duid: string): boolean {
  const reserved = plan.reservedFor.get(duid);
  if (reserved && reserved[type] === resource) return true;
  if (type === 'na') {
    const a = addressToBigInt(resource);
    return plan.subnet.pools.some((p) => a >= p.first && a <= p.last);
  }
  const slash = resource.indexOf('/');
  const length = Number(resource.slice(slash + 1));
  const prefix = addressToBigInt(resource.slice(0, slash));
  return plan.subnet.pdPools.some((p) => p.delegatedLength === length && prefixContains(p.prefix, p.prefixLength, prefix));
}

/** Whether an address is on the subnet's link (RFC 8415 §18.3.2 NotOnLink, §18.3.3 Confirm). */
export const onLink = (subnet: Subnet, address: string): boolean =>
  prefixContains(subnet.prefix, subnet.prefixLength, addressToBigInt(address));

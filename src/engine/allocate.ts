// Picking a free address or prefix for an IA. Candidates come from a hash of
// (DUID, IAID), as odhcpd's assign_na does: a client tends to get the same
// lease back even when its record is gone, and both failover partners would
// propose the same one. Bounded probes first, then a bounded linear scan so
// that a nearly full small pool still finds its last free entries.

import type { AddressPool, PrefixPool } from '../config/types.js';
import { addressFromBigInt } from '../wire/address.js';
import type { IaType } from './lease.js';
import { poolSize, prefixPoolSize } from './plan.js';

export const ALLOC_PROBES_MAX = 32;
/** Pools up to this many entries are scanned entry by entry once the probes fail. */
export const ALLOC_SCAN_MAX = 1 << 17;
/**
 * Candidate checks one message may spend across all its IAs. Without it a
 * message with many IAs against nearly exhausted pools costs IAs × pool size
 * (a lab run wedged the daemon that way). A lone free entry far from every
 * probe may be missed in a pool this full; the client's retransmission probes
 * elsewhere.
 */
export const ALLOC_CHECKS_PER_MESSAGE = 4096;

/** What is left of a message's candidate checks; shared by its IAs. */
export interface AllocationBudget {
  checksLeft: number;
}

/** 64-bit FNV-1a of the string, as a bigint: cheap, stable across versions and platforms. */
export function hash64(text: string): bigint {
  let lo = 0x84222325;
  let hi = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    lo ^= text.charCodeAt(i);
    // multiply (hi:lo) by the FNV prime 0x100000001b3 in 32-bit halves
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x1_0000_0000);
    hi = (Math.imul(hi, 0x1b3) + Math.imul(lo, 0x100) + carry) >>> 0;
    lo = loMul >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** One pool seen as a sequence of candidate resources. */
interface CandidateSpace {
  readonly size: bigint;
  /** The resource at this offset, or undefined where no client may have it. */
  resourceAt(offset: bigint): string | undefined;
}

function addressSpace(pool: AddressPool): CandidateSpace {
  return {
    size: poolSize(pool),
    resourceAt: (o) => {
      const a = pool.first + o;
      return isReservedInterfaceId(a) ? undefined : addressFromBigInt(a);
    },
  };
}

function prefixSpace(pool: PrefixPool): CandidateSpace {
  const shift = BigInt(128 - pool.delegatedLength);
  const suffix = `/${pool.delegatedLength}`;
  return { size: prefixPoolSize(pool), resourceAt: (o) => addressFromBigInt(pool.prefix + (o << shift)) + suffix };
}

/**
 * RFC 5453 / RFC 7136: interface identifiers a server must not hand out — the
 * subnet-router anycast (all zeros) and the reserved anycast range at the top
 * of the /64 space.
 */
export function isReservedInterfaceId(address: bigint): boolean {
  const iid = address & 0xffff_ffff_ffff_ffffn;
  return iid === 0n || iid >= 0xfdff_ffff_ffff_ff80n;
}

/**
 * Returns the first candidate that `isFree` accepts, or undefined when the
 * pools are exhausted (as far as the bounded search can tell).
 */
export function pickFree(
  type: IaType,
  pools: readonly AddressPool[] | readonly PrefixPool[],
  seed: string,
  isFree: (resource: string) => boolean,
  budget: AllocationBudget = { checksLeft: Infinity },
): string | undefined {
  const spaces = type === 'na' ? (pools as readonly AddressPool[]).map(addressSpace) : (pools as readonly PrefixPool[]).map(prefixSpace);
  return pickFreeIn(spaces, seed, isFree, budget);
}

/** The same search over a list of resources (a server's own part of a pool) instead of a whole pool. */
export function pickListed(
  list: readonly string[],
  seed: string,
  isFree: (resource: string) => boolean,
  budget: AllocationBudget,
): string | undefined {
  if (list.length === 0) return undefined;
  return pickFreeIn([{ size: BigInt(list.length), resourceAt: (o) => list[Number(o)] }], seed, isFree, budget);
}

function pickFreeIn(
  spaces: readonly CandidateSpace[],
  seed: string,
  isFree: (resource: string) => boolean,
  budget: AllocationBudget,
): string | undefined {
  const usable = (r: string | undefined): r is string => r !== undefined && isFree(r);
  for (const space of spaces) {
    for (let k = 0; k < ALLOC_PROBES_MAX; k++) {
      if (budget.checksLeft-- <= 0) return undefined;
      const r = space.resourceAt(hash64(`${seed}#${k}`) % space.size);
      if (usable(r)) return r;
    }
  }
  for (const space of spaces) {
    const n = space.size < BigInt(ALLOC_SCAN_MAX) ? space.size : BigInt(ALLOC_SCAN_MAX);
    const start = hash64(seed) % space.size;
    for (let i = 0n; i < n; i++) {
      if (budget.checksLeft-- <= 0) return undefined;
      const r = space.resourceAt((start + i) % space.size);
      if (usable(r)) return r;
    }
  }
  return undefined;
}

// Lease builders shared by the store tests. Resources come from wire's own
// formatter so they are in the canonical form the engine produces.

import { addressFromBigInt } from '../../../src/wire/address.js';
import type { Lease } from '../../../src/engine/lease.js';

const NA_BASE = 0x2001_0db8_0001_0000_0000_0000_0000_1000n;
const PD_BASE = 0x2001_0db8_8000_0000_0000_0000_0000_0000n;
export const NOW_SEC = 1_750_000_000;

export const naResource = (i: number): string => addressFromBigInt(NA_BASE + BigInt(i));
/** /56 prefixes: host part is the low 72 bits. */
export const pdResource = (i: number): string => `${addressFromBigInt(PD_BASE + (BigInt(i + 1) << 72n))}/56`;

/** A DUID-LLT (14 bytes, the most common kind) unique per client number. */
export const duidOf = (client: number): string => `000100012f1c2d3e0050${(0x5600_0000 + client).toString(16).padStart(8, '0')}`;

export function naLease(i: number, over: Partial<Lease> = {}): Lease {
  return {
    resource: naResource(i),
    type: 'na',
    duid: duidOf(i),
    iaid: i * 7 + 1,
    state: 'active',
    preferredSec: 3600,
    validSec: 7200,
    clttSec: NOW_SEC,
    expiresAtSec: NOW_SEC + 7200,
    ...over,
  };
}

export function pdLease(i: number, over: Partial<Lease> = {}): Lease {
  return { ...naLease(i), resource: pdResource(i), type: 'pd', iaid: 0xffff_fff0 - i, ...over };
}

export const put = (lease: Lease) => ({ op: 'put', lease }) as const;
export const del = (resource: string) => ({ op: 'delete', resource }) as const;

/** Settles p and returns its rejection reason, failing if it resolved. */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a resolution');
}

export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// The `leasequery` section (docs/config.md#leasequery): who may ask this
// server about its clients with RFC 5007 Leasequery. A lease says where a
// customer is and since when, so the default is nobody: without the section,
// or with an empty list, every LEASEQUERY is answered NotAllowed (RFC 5007
// §4.4.1 lets a server restrict requestors so).

import { addressFromBigInt } from '../wire/address.js';
import { LIMITS } from './defaults.js';
import { listOf, object, optional, textOf } from './schema.js';
import type { LeasequeryConfig, RequestorPrefix } from './types.js';
import { parsePrefix, parseUnicast } from './values.js';

type Parse<T> = T | { problem: string };

/** An address (one requestor, /128) or a prefix (every host in it). */
function parseRequestor(text: string): Parse<RequestorPrefix> {
  if (text.includes('/')) {
    const p = parsePrefix(text);
    return 'problem' in p ? p : { prefix: p.prefix, length: p.length, name: `${addressFromBigInt(p.prefix)}/${p.length}` };
  }
  const a = parseUnicast(text);
  return typeof a === 'bigint' ? { prefix: a, length: 128, name: `${addressFromBigInt(a)}/128` } : a;
}

export const leasequeryShape = object({
  requestors: optional(
    listOf(textOf('a requestor address or prefix', parseRequestor), { min: 0, max: LIMITS.leasequeryRequestors, uniqueBy: (r) => r.name }),
  ),
});

type LeasequeryInput = NonNullable<ReturnType<typeof leasequeryShape>>;

/** Present only when the file has the section, so configs without it resolve as before. */
export function resolveLeasequery(input: LeasequeryInput | undefined): { leasequery?: LeasequeryConfig } {
  if (input === undefined) return {};
  return { leasequery: { requestors: input.requestors ?? [] } };
}

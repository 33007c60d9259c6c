// Rules that relate subnets to each other. Each problem is reported on the
// later of the two entries in file order, naming the earlier one, so the
// operator is pointed at the line that was most likely added last.

import { addressFromBigInt } from '../wire/address.js';
import type { Issues } from './schema.js';
import { keyPath } from './schema.js';
import type { SubnetInput } from './shape.js';
import { lastOf, prefixText } from './values.js';

interface Span {
  readonly first: bigint;
  readonly last: bigint;
  readonly path: string;
  readonly label: string;
  /** Position in the file, to tell which of two overlapping entries came later. */
  readonly order: number;
}

export function checkAcrossSubnets(subnets: readonly SubnetInput[], issues: Issues): void {
  checkUnique(
    subnets,
    (s) => s.name,
    'name',
    (first) => `another subnet is already named so (${first})`,
    issues,
  );
  checkUnique(
    subnets,
    (s) => s.interface,
    'interface',
    // Directly connected clients are matched to a subnet by their interface alone.
    (first) => `this interface is already served by ${first}; one subnet per interface`,
    issues,
  );
  reportOverlaps(linkAndDelegatedSpans(subnets), issues);
  reportOverlaps(addressPoolSpans(subnets), issues);
  checkReservedOnce(subnets, issues);
}

function checkUnique(
  subnets: readonly SubnetInput[],
  keyOf: (s: SubnetInput) => string | undefined,
  key: string,
  problem: (first: string) => string,
  issues: Issues,
): void {
  const seen = new Map<string, string>();
  for (const s of subnets) {
    const value = keyOf(s);
    if (value === undefined) continue;
    const first = seen.get(value);
    if (first === undefined) seen.set(value, s.path);
    else issues.report(keyPath(s.path, key), problem(first));
  }
}

/**
 * On-link prefixes and pd pools share one address space: a delegated prefix
 * inside an on-link prefix would be routed to two places, and two subnets on
 * one prefix would make a relay's link-address ambiguous.
 */
function linkAndDelegatedSpans(subnets: readonly SubnetInput[]): Span[] {
  const spans: Span[] = [];
  for (const s of subnets) {
    if (s.prefix !== undefined) {
      spans.push({
        first: s.prefix.prefix,
        last: lastOf(s.prefix),
        path: keyPath(s.path, 'prefix'),
        label: prefixText(s.prefix),
        order: spans.length,
      });
    }
    for (const p of s.pdPools ?? []) {
      if (p.prefix === undefined) continue;
      spans.push({
        first: p.prefix.prefix,
        last: lastOf(p.prefix),
        path: keyPath(p.path, 'prefix'),
        label: prefixText(p.prefix),
        order: spans.length,
      });
    }
  }
  return spans;
}

function addressPoolSpans(subnets: readonly SubnetInput[]): Span[] {
  return subnets.flatMap((s) => s.pools ?? []).map((p, order) => ({ first: p.first, last: p.last, path: p.path, label: p.name, order }));
}

/** One sweep in address order: O(n log n) even for the largest allowed file. */
function reportOverlaps(spans: readonly Span[], issues: Issues): void {
  const sorted = [...spans].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : a.order - b.order));
  const reported = new Set<string>();
  let reach: Span | undefined; // the span seen so far that ends last
  for (const s of sorted) {
    if (reach !== undefined && s.first <= reach.last) {
      const [earlier, later] = reach.order < s.order ? [reach, s] : [s, reach];
      if (!reported.has(later.path)) {
        reported.add(later.path);
        issues.report(later.path, `overlaps ${earlier.path} (${earlier.label})`);
      }
    }
    if (reach === undefined || s.last > reach.last) reach = s;
  }
}

/** A reserved address or prefix can belong to one client only, whatever the subnet. */
function checkReservedOnce(subnets: readonly SubnetInput[], issues: Issues): void {
  const owners = new Map<string, string>();
  const claim = (resource: string, path: string): void => {
    const first = owners.get(resource);
    if (first === undefined) owners.set(resource, path);
    else issues.report(path, `${resource} is already reserved by ${first}`);
  };
  for (const s of subnets) {
    for (const r of s.reservations ?? []) {
      if (r.address !== undefined) claim(addressFromBigInt(r.address), keyPath(r.path, 'address'));
      if (r.prefix !== undefined) claim(prefixText(r.prefix), keyPath(r.path, 'prefix'));
    }
  }
}

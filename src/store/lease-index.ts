// The in-memory side of the store: every read the engine makes is answered from
// here, synchronously. Lean because a router holds 100k leases in a 64 MB RSS
// budget (measured ~300 B/lease here vs ~480 B with per-IA key strings and arrays):
//   - one Map resource → Lease; the stored Lease is our own copy, so every lease
//     has one hidden class and nothing the caller mutates later leaks in;
//   - one Map duid → Lease | Lease[]: a client has one to a few leases, so byIa()
//     filters that short list instead of keeping an "iaKey" string and array per IA;
//     the DUID string is interned through this map (a client's NA and PD share it);
//   - an ExpiryHeap with lazy deletion for dueBefore().

import type { BindingView, IaType, Lease } from '../engine/lease.js';
import { ExpiryHeap } from './expiry-heap.js';

/** Stale heap entries tolerated beyond 2 × live leases before an O(n) rebuild. */
const EXPIRY_SLACK_ENTRIES = 1024;
const NONE: readonly Lease[] = Object.freeze([]);

export class LeaseIndex implements BindingView {
  private readonly leases = new Map<string, Lease>();
  private readonly clients = new Map<string, Lease | Lease[]>();
  private readonly expiry = new ExpiryHeap();

  get size(): number {
    return this.leases.size;
  }

  byResource(resource: string): Lease | undefined {
    return this.leases.get(resource);
  }

  byIa(duid: string, iaid: number, type: IaType): readonly Lease[] {
    const entry = this.clients.get(duid);
    if (entry === undefined) return NONE;
    if (!Array.isArray(entry)) return entry.iaid === iaid && entry.type === type ? [entry] : NONE;
    return entry.filter((l) => l.iaid === iaid && l.type === type);
  }

  byClient(duid: string): readonly Lease[] {
    const entry = this.clients.get(duid);
    if (entry === undefined) return NONE;
    return Array.isArray(entry) ? entry : [entry];
  }

  dueBefore(nowSec: number, limit: number): readonly Lease[] {
    const due: Lease[] = [];
    // Entries are taken off the heap while reading and put back after, so the
    // cost is O(limit · log n) and stale entries met on the way are dropped for good.
    while (due.length < limit) {
      const key = this.expiry.topKey();
      const resource = this.expiry.topResource();
      if (key === undefined || resource === undefined || key > nowSec) break;
      this.expiry.pop();
      const lease = this.leases.get(resource);
      if (lease === undefined || lease.expiresAtSec !== key) continue;
      // A resource deleted and put back with the same expiry has two live entries;
      // ties sort by resource, so the twin is always the one just taken.
      if (due.length > 0 && due[due.length - 1] === lease) continue;
      due.push(lease);
    }
    for (const lease of due) this.expiry.push(lease.expiresAtSec, lease.resource);
    return due;
  }

  values(): IterableIterator<Lease> {
    return this.leases.values();
  }

  /**
   * owned: the caller made this object and drops it (the loader), so it may be
   * kept as is when no string is there to share, saving a copy per lease at open.
   */
  put(lease: Lease, owned = false): void {
    const old = this.leases.get(lease.resource);
    const heldDuid = old?.duid === lease.duid ? old.duid : this.heldDuid(lease.duid);
    const stored: Lease =
      owned && old === undefined && heldDuid === undefined
        ? lease
        : {
            // Reusing the strings already held means a renewal allocates one object, no strings.
            resource: old?.resource ?? lease.resource,
            type: lease.type,
            duid: heldDuid ?? lease.duid,
            iaid: lease.iaid,
            state: lease.state,
            preferredSec: lease.preferredSec,
            validSec: lease.validSec,
            clttSec: lease.clttSec,
            expiresAtSec: lease.expiresAtSec,
            // Optional parts travel as they are: they are rare (failover) or small.
            ...(lease.fo ? { fo: lease.fo } : {}),
            ...(lease.via ? { via: lease.via } : {}),
            ...(lease.timers ? { timers: lease.timers } : {}),
          };
    if (old !== undefined) this.unlink(old);
    this.leases.set(stored.resource, stored);
    this.link(stored);
    // An unchanged expiry keeps its heap entry valid: it matches by (key, resource).
    if (old === undefined || old.expiresAtSec !== stored.expiresAtSec) this.expiry.push(stored.expiresAtSec, stored.resource);
    this.compactExpiry();
  }

  delete(resource: string): void {
    const old = this.leases.get(resource);
    if (old === undefined) return;
    this.leases.delete(resource);
    this.unlink(old);
    this.compactExpiry();
  }

  /** The DUID string this client's other leases already hold, so they share one. */
  private heldDuid(duid: string): string | undefined {
    const entry = this.clients.get(duid);
    if (entry === undefined) return undefined;
    return Array.isArray(entry) ? entry[0]!.duid : entry.duid;
  }

  private link(lease: Lease): void {
    const entry = this.clients.get(lease.duid);
    if (entry === undefined) this.clients.set(lease.duid, lease);
    else if (Array.isArray(entry)) entry.push(lease);
    else this.clients.set(lease.duid, [entry, lease]);
  }

  private unlink(lease: Lease): void {
    const entry = this.clients.get(lease.duid);
    if (entry === lease) {
      this.clients.delete(lease.duid);
      return;
    }
    if (!Array.isArray(entry)) return;
    const i = entry.indexOf(lease);
    if (i >= 0) entry.splice(i, 1);
    if (entry.length === 1) this.clients.set(lease.duid, entry[0]!);
  }

  /** Bounds the heap when dueBefore() is rarely called and renewals pile up stale entries. */
  private compactExpiry(): void {
    if (this.expiry.length <= 2 * this.leases.size + EXPIRY_SLACK_ENTRIES) return;
    const entries: [number, string][] = [];
    for (const l of this.leases.values()) entries.push([l.expiresAtSec, l.resource]);
    this.expiry.rebuild(entries);
  }

  /** For tests: heap entries including stale ones. */
  get expiryEntries(): number {
    return this.expiry.length;
  }
}

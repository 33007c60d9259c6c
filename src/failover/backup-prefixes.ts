// Which free delegable prefixes the secondary owns (RFC 8156 §4.2.2: the
// FREE-BACKUP prefixes the primary handed it); every other free one is the
// primary's. Both partners keep the same set: the primary from what it sent,
// the secondary from what it accepted. A prefix leaves the set the moment a
// client lease is recorded for it (§4.2.2: a delegated prefix is owned by
// neither server, and once free again it is the primary's) or when the
// secondary accepts a FREE for it (the primary takes it back).
//
// Kept as one bitmap per pool in the store's metadata rather than as lease
// records: a free prefix has no client, and a record state for "owned, no
// client" would reach every reader of the lease table (the engine, expiry,
// per-client limits, replication). The bitmap covers the first SPAN_MAX
// prefixes of a pool (16 KiB, four meta values of 4096 bytes); prefixes past
// it are never handed off, which only matters for pools of more than 131,072
// prefixes.

import type { PrefixPool } from '../config/types.js';
import { prefixPoolSize } from '../engine/plan.js';
import { addressFromBigInt, addressToBigInt, prefixContains } from '../wire/address.js';
import { META_VALUE_BYTES_MAX } from '../store/record.js';

/** Prefixes of one pool the hand-off may use: the engine's linear scan reaches no further either (ALLOC_SCAN_MAX). */
export const SPAN_MAX = 1 << 17;
const CHUNK_BITS = META_VALUE_BYTES_MAX * 8;

export interface MetaStore {
  getMeta(name: string): Uint8Array | undefined;
  putMeta(name: string, value: Uint8Array): Promise<void>;
}

class PoolSet {
  readonly span: number;
  readonly bits: Uint8Array;
  /** The members, for a search that walks them (the engine's, on a secondary) instead of probing the pool. */
  readonly members: string[] = [];
  private readonly at = new Map<string, number>();
  readonly dirty = new Set<number>();
  private readonly shift: bigint;
  private readonly suffix: string;
  readonly name: string;

  constructor(readonly pool: PrefixPool) {
    const size = prefixPoolSize(pool);
    this.span = size < BigInt(SPAN_MAX) ? Number(size) : SPAN_MAX;
    this.bits = new Uint8Array(Math.ceil(this.span / 8));
    this.shift = BigInt(128 - pool.delegatedLength);
    this.suffix = `/${pool.delegatedLength}`;
    this.name = `pd-backup.${pool.prefix.toString(16).padStart(32, '0')}.${pool.prefixLength}.${pool.delegatedLength}`;
  }

  resourceAt(index: number): string {
    return addressFromBigInt(this.pool.prefix + (BigInt(index) << this.shift)) + this.suffix;
  }

  /** The index of a prefix of this pool, or undefined when it is not one (or lies past the span). */
  indexOf(resource: string): number | undefined {
    const slash = resource.indexOf('/');
    if (slash < 0 || resource.slice(slash) !== this.suffix) return undefined;
    const a = addressToBigInt(resource.slice(0, slash));
    if (!prefixContains(this.pool.prefix, this.pool.prefixLength, a)) return undefined;
    const index = Number((a - this.pool.prefix) >> this.shift);
    return index < this.span ? index : undefined;
  }

  has(index: number): boolean {
    return (this.bits[index >> 3]! & (1 << (index & 7))) !== 0;
  }

  set(index: number, on: boolean, resource = this.resourceAt(index)): boolean {
    if (this.has(index) === on) return false;
    this.bits[index >> 3]! ^= 1 << (index & 7);
    this.dirty.add(Math.floor(index / CHUNK_BITS));
    if (on) {
      this.at.set(resource, this.members.length);
      this.members.push(resource);
    } else {
      const i = this.at.get(resource)!;
      const last = this.members.pop()!;
      if (last !== resource) {
        this.members[i] = last;
        this.at.set(last, i);
      }
      this.at.delete(resource);
    }
    return true;
  }

  chunkName(chunk: number): string {
    return `${this.name}.${chunk}`;
  }

  chunkBytes(chunk: number): Uint8Array {
    const from = chunk * META_VALUE_BYTES_MAX;
    const bytes = this.bits.subarray(from, Math.min(this.bits.length, from + META_VALUE_BYTES_MAX));
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0) end--; // an empty chunk costs a few bytes of flash, not 4 KiB
    return bytes.slice(0, end);
  }

  load(meta: MetaStore): void {
    for (let chunk = 0; chunk * CHUNK_BITS < this.span; chunk++) {
      const bytes = meta.getMeta(this.chunkName(chunk));
      if (!bytes) continue;
      const base = chunk * CHUNK_BITS;
      for (let i = 0; i < bytes.length * 8 && base + i < this.span; i++) {
        if (bytes[i >> 3]! & (1 << (i & 7))) this.set(base + i, true);
      }
    }
    this.dirty.clear();
  }
}

export class BackupPrefixes {
  private readonly sets: PoolSet[];
  private writing: Promise<void> = Promise.resolve();

  constructor(
    pools: readonly PrefixPool[],
    private readonly meta: MetaStore,
  ) {
    this.sets = pools.map((p) => new PoolSet(p));
  }

  /** Loads the stored sets, then drops every prefix with a lease on record: a crash may have come between the lease and the set's write. */
  load(leases: Iterable<{ readonly resource: string; readonly type: string }>): void {
    for (const s of this.sets) s.load(this.meta);
    for (const l of leases) if (l.type === 'pd') this.delete(l.resource);
  }

  private find(resource: string): { set: PoolSet; index: number } | undefined {
    for (const set of this.sets) {
      const index = set.indexOf(resource);
      if (index !== undefined) return { set, index };
    }
    return undefined;
  }

  has(resource: string): boolean {
    const f = this.find(resource);
    return f !== undefined && f.set.has(f.index);
  }

  /** False when it was in already, or is no prefix the set can hold. */
  add(resource: string): boolean {
    const f = this.find(resource);
    return f !== undefined && f.set.set(f.index, true, resource);
  }

  delete(resource: string): boolean {
    const f = this.find(resource);
    return f !== undefined && f.set.set(f.index, false, resource);
  }

  /** Empties the set; true when it held anything. */
  clear(): boolean {
    let any = false;
    for (const s of this.sets) for (const r of [...s.members]) any = this.delete(r) || any;
    return any;
  }

  /** The secondary's prefixes of this pool (same pool by value, not identity); undefined for a pool not configured. */
  members(pool: PrefixPool): readonly string[] | undefined {
    return this.setOf(pool)?.members;
  }

  setOf(
    pool: PrefixPool,
  ):
    | { readonly span: number; readonly members: readonly string[]; resourceAt(index: number): string; has(index: number): boolean }
    | undefined {
    return this.sets.find(
      (s) => s.pool.prefix === pool.prefix && s.pool.prefixLength === pool.prefixLength && s.pool.delegatedLength === pool.delegatedLength,
    );
  }

  /**
   * Writes what changed since the last flush; resolves once it is durable.
   * Writes are chained so a later state of a chunk never lands before an earlier one.
   */
  flush(write: (name: string, bytes: Uint8Array) => Promise<void> = (n, b) => this.meta.putMeta(n, b)): Promise<void> {
    const writes: [string, Uint8Array][] = [];
    for (const s of this.sets) {
      for (const chunk of s.dirty) writes.push([s.chunkName(chunk), s.chunkBytes(chunk)]);
      s.dirty.clear();
    }
    if (writes.length === 0) return this.writing;
    this.writing = this.writing.then(() => Promise.all(writes.map(([n, b]) => write(n, b)))).then(() => undefined);
    return this.writing;
  }
}

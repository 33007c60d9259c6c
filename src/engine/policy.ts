// The one narrow interface through which failover (RFC 8156) limits what the
// engine may do. Standalone servers pass `standalonePolicy`; the failover
// layer passes a view of its endpoint state, so the engine never learns
// about partners, states or MCLT.

import type { PrefixPool } from '../config/types.js';
import type { IaType, Lease } from './lease.js';

export interface FailoverPolicy {
  /**
   * Whether this server answers a client message at all (RFC 8156 §3:
   * responsive, renew-responsive, unresponsive). addressedToUs is true when the
   * message carries our own Server Identifier.
   */
  mayAnswer(msgType: number, addressedToUs: boolean): boolean;
  /**
   * Whether this server may bind the resource to a client that does not hold
   * it now. sameClient: the resource's last lease (released or expired) was
   * this client's own.
   */
  mayAllocate(resource: string, type: IaType, sameClient?: boolean): boolean;
  /**
   * Whether a resource mayAllocate permits is a last resort for a new lease:
   * taken only when the search finds no other candidate free (RFC 8156 §8.4.1:
   * a server in PARTNER-DOWN depletes its own pool before its partner's).
   * Absent means never.
   */
  lastResort?(resource: string, type: IaType): boolean;
  /**
   * When this server owns an explicit, possibly small, set of a prefix pool
   * (RFC 8156 §4.2.2: a secondary's FREE-BACKUP prefixes): that set, searched
   * before the pool, where probes would mostly miss it; `only`: the pool itself
   * need not be searched, nothing else in it may be taken. Absent or
   * undefined: the pool is searched as usual.
   */
  ownedPrefixes?(pool: PrefixPool): { readonly prefixes: readonly string[]; readonly only: boolean } | undefined;
  /** The longest valid lifetime grantable now for this lease (RFC 8156 §4.4 MCLT); `current` is undefined for a new lease. */
  capValidSec(resource: string, current: Lease | undefined, proposedSec: number): number;
  /**
   * Whether a released, expired or declined lease whose hold is over may be
   * forgotten (its resource back in the pool). Failover keeps it until the
   * partner has acknowledged it (RFC 8156 §7.4); absent means yes.
   */
  mayForget?(lease: Lease): boolean;
}

export const standalonePolicy: FailoverPolicy = {
  mayAnswer: () => true,
  mayAllocate: () => true,
  capValidSec: (_resource, _current, proposedSec) => proposedSec,
};

// The FailoverPolicy the engine is given while failover runs: what the
// endpoint's state permits (RFC 8156 §8 table, via the state machine's
// service level), which part of the pools is ours (§4.2) and, in
// PARTNER-DOWN, that it goes before the partner's (§8.4.1), the MCLT cap on
// lifetimes (§3, §4.4), and the reallocation rule (§7.4: a released or expired
// lease goes to another client only once the partner acknowledged it).

import { MsgType } from '../wire/constants.js';
import type { BindingView, FailoverPolicy, IaType, Lease } from '../engine/index.js';
import type { PrefixPool } from '../config/types.js';
import { addressOwner, prefixOwner, type Role } from './ownership.js';

/** What an endpoint state lets a server do (docs/protocol.md §1.13). */
export interface ServiceLevel {
  /** all: responsive; own-server-id: renew responsive; none: unresponsive (§3). */
  readonly answer: 'all' | 'own-server-id' | 'none';
  /** own: new leases from our own share; partner-too: PARTNER-DOWN, the partner's prefixes after entry + MCLT; none. */
  readonly allocate: 'own' | 'partner-too' | 'none';
  /** Whether lifetimes are capped by MCLT (all states but PARTNER-DOWN, §8.4.1). */
  readonly mcltCap: boolean;
}

export interface PolicyContext {
  readonly role: Role;
  readonly mcltSec: number;
  pdPools(): readonly PrefixPool[];
  /** The free prefixes the secondary owns (§4.2.2 FREE-BACKUP), the same set on both partners. */
  readonly backup: { has(resource: string): boolean; members(pool: PrefixPool): readonly string[] | undefined };
  service(): ServiceLevel;
  /** In PARTNER-DOWN: when we entered it (the partner's prefixes become usable MCLT later). */
  partnerDownSinceSec(): number | undefined;
  nowSec(): number;
  readonly view: BindingView;
}

/** The messages a renew-responsive server answers: those carrying its own Server Identifier (§3). */
const RENEW_RESPONSIVE = new Set<number>([MsgType.REQUEST, MsgType.RENEW, MsgType.RELEASE, MsgType.DECLINE, MsgType.INFORMATION_REQUEST]);

export function failoverPolicy(ctx: PolicyContext): FailoverPolicy {
  const owner = (resource: string, type: IaType): Role | undefined =>
    type === 'na' ? addressOwner(resource) : prefixOwner(resource, ctx.pdPools(), (r) => ctx.backup.has(r));
  /** Whether a resource another client held may go to a new one now. */
  const reusable = (held: Lease, service: ServiceLevel): boolean => {
    // Its end acknowledged by the partner: free. A lease still active on record (even past its
    // end: not reported expired yet) or an unacknowledged release or expiry is not (§7.4) —
    // the partner may still hold it bound, or have extended it (§8.9.1).
    if (held.state !== 'active' && !held.fo?.pending) return true;
    if (service.allocate !== 'partner-too') return false;
    // §8.4.1, PARTNER-DOWN: no acknowledgement will come. MCLT past the latest time the partner
    // may believe the lease runs to, and never before entry + MCLT.
    const fo = held.fo;
    const now = ctx.nowSec();
    const latest = Math.max(
      held.expiresAtSec,
      fo?.startOfStateSec ?? 0,
      fo?.partnerLifetimeSec ?? 0,
      fo?.ackedPartnerLifetimeSec ?? 0,
      fo?.expirationTimeSec ?? 0,
    );
    return now >= Math.max(latest, ctx.partnerDownSinceSec() ?? now) + ctx.mcltSec;
  };
  return {
    mayAnswer(msgType, addressedToUs) {
      const answer = ctx.service().answer;
      if (answer === 'all') return true;
      return answer === 'own-server-id' && addressedToUs && RENEW_RESPONSIVE.has(msgType);
    },
    mayAllocate(resource, type, sameClient = false) {
      const service = ctx.service();
      if (service.allocate === 'none') return false;
      const held = ctx.view.byResource(resource);
      if (!sameClient && held && !reusable(held, service)) return false;
      const mine = owner(resource, type);
      if (mine === ctx.role) return true;
      if (service.allocate !== 'partner-too' || type === 'na') return false; // §4.2.1: the partner's addresses SHOULD NOT be used
      const since = ctx.partnerDownSinceSec();
      return since !== undefined && ctx.nowSec() >= since + ctx.mcltSec; // §4.2.2.1
    },
    lastResort(resource, type) {
      // §8.4.1 MUST (and §4.2.2's SHOULD): our own pool is depleted before the partner's is
      // touched, so that two servers both in PARTNER-DOWN do not hand out the same prefix.
      return ctx.service().allocate === 'partner-too' && owner(resource, type) !== ctx.role;
    },
    ownedPrefixes(pool) {
      // §4.2.2, §8.9.1: a secondary allocates only its FREE-BACKUP prefixes; in PARTNER-DOWN the
      // primary's come after them (lastResort), so the pool is searched too.
      if (ctx.role !== 'secondary') return undefined;
      const service = ctx.service();
      if (service.allocate === 'none') return undefined;
      return { prefixes: ctx.backup.members(pool) ?? [], only: service.allocate !== 'partner-too' };
    },
    mayForget(lease) {
      // Forgotten, the resource is free for anyone at once: only when it could go to another client.
      return reusable(lease, ctx.service());
    },
    capValidSec(_resource, current: Lease | undefined, proposedSec) {
      const service = ctx.service();
      if (!service.mcltCap) return proposedSec;
      const now = ctx.nowSec();
      const acked = current?.fo?.ackedPartnerLifetimeSec ?? 0;
      // §3, §4.4, and the MUST of §8.9.1 and §8.11.1 for the interrupted states: MCLT past the
      // later of the partner lifetime the partner acknowledged and now. Draft -06 let those two
      // states build on the lifetime we had acknowledged to the partner as well; the published
      // text dropped that: only an acknowledged partner lifetime is the partner's stable-storage
      // promise about the binding this server hands out.
      const capSec = Math.max(acked, now) + ctx.mcltSec - now;
      return Math.min(proposedSec, capSec);
    },
  };
}

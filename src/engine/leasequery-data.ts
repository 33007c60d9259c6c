// What a LEASEQUERY-REPLY says about one client on one link (RFC 5007
// §4.1.2.2, §4.4.2): its DUID, its live addresses and prefixes with the
// lifetimes left as of now, and how long ago the server last heard from it.

import { INFINITY_SEC } from '../wire/constants.js';
import { addressToBigInt, prefixContains } from '../wire/address.js';
import { duidToHex } from '../wire/duid.js';
import type { ClientData } from '../wire/leasequery/index.js';
import type { IaAddrOption, IaPrefixOption } from '../wire/types.js';
import type { BindingView, Lease } from './lease.js';
import { onLink, type ServingPlan, type SubnetPlan } from './plan.js';

/** What a query is answered from: the clock reading and the lease view, nothing else. */
export interface LeasequeryEnv {
  /** Wall clock, whole seconds since the Unix epoch. */
  readonly nowSec: number;
  readonly view: BindingView;
}

/**
 * Leases listed in one answer. A client holds at most `limits.leasesPerClient`
 * active leases (16 by default), but a failover partner's updates are not
 * held to ours, and one datagram must stay bounded: past this, the rest are
 * left out and the answer is counted as truncated (docs/protocol.md §3).
 */
export const LEASES_PER_ANSWER_MAX = 64;

/** §4.1.2.2: "with a non-zero valid lifetime". */
export const live = (lease: Lease, nowSec: number): boolean => lease.state === 'active' && lease.expiresAtSec > nowSec;

/** The link (subnet) a lease is on: an address's on-link prefix, a delegation's PD pool or reservation. */
export function linkOf(plan: ServingPlan, lease: Lease): SubnetPlan | undefined {
  if (lease.type === 'na') return plan.subnets.find((s) => onLink(s.subnet, lease.resource));
  const slash = lease.resource.indexOf('/');
  const length = Number(lease.resource.slice(slash + 1));
  const prefix = addressToBigInt(lease.resource.slice(0, slash));
  const pooled = plan.subnets.find((s) =>
    s.subnet.pdPools.some((p) => p.delegatedLength === length && prefixContains(p.prefix, p.prefixLength, prefix)),
  );
  if (pooled) return pooled;
  const holder = plan.reservedBy.get(lease.resource);
  return holder === undefined ? undefined : plan.subnets.find((s) => s.reservedFor.get(holder)?.pd === lease.resource);
}

/** Lifetimes left at nowSec; infinity stays infinity (RFC 8415 §7.7). */
function leftSec(lease: Lease, nowSec: number): { preferredSec: number; validSec: number } {
  const validSec = lease.validSec === INFINITY_SEC ? INFINITY_SEC : Math.min(lease.expiresAtSec - nowSec, INFINITY_SEC - 1);
  const preferredEnd = lease.clttSec + lease.preferredSec;
  const preferredSec = lease.preferredSec === INFINITY_SEC ? INFINITY_SEC : Math.max(0, Math.min(preferredEnd - nowSec, validSec));
  return { preferredSec, validSec };
}

/**
 * §4.1.2.3: seconds since the last transaction with the client on that link.
 * A lease only the failover partner served has clttSec 0 and the partner's
 * own time in fo.partnerRawCltSec; the latest of either is the answer. None
 * known: no CLT_TIME, rather than an invented one (a requestor then discards
 * the data, §4.3.3, which is right: the server cannot vouch for it).
 */
function cltSecOf(leases: readonly Lease[], nowSec: number): number | undefined {
  let latest = 0;
  for (const l of leases) latest = Math.max(latest, l.clttSec, l.fo?.partnerRawCltSec ?? 0);
  return latest === 0 ? undefined : Math.max(0, nowSec - latest);
}

/**
 * The client's data on `link`, or none when it holds nothing live there.
 * Leases are listed addresses first, each in resource order, so the same
 * bindings give the same octets whatever order the store keeps them in.
 */
export function clientDataOf(
  plan: ServingPlan,
  env: LeasequeryEnv,
  clientDuid: Uint8Array,
  link: SubnetPlan,
): { clientData?: ClientData; truncated: boolean } {
  const all = env.view
    .byClient(duidToHex(clientDuid))
    .filter((l) => live(l, env.nowSec) && linkOf(plan, l) === link)
    .sort((a, b) => (a.type === b.type ? (a.resource < b.resource ? -1 : 1) : a.type === 'na' ? -1 : 1));
  if (all.length === 0) return { truncated: false };
  const listed = all.slice(0, LEASES_PER_ANSWER_MAX);
  const addresses: IaAddrOption[] = [];
  const prefixes: IaPrefixOption[] = [];
  for (const l of listed) {
    const left = leftSec(l, env.nowSec);
    if (l.type === 'na') {
      addresses.push({ kind: 'IAADDR', address: l.resource, ...left, options: [] });
    } else {
      const slash = l.resource.indexOf('/');
      prefixes.push({
        kind: 'IAPREFIX',
        ...left,
        prefixLength: Number(l.resource.slice(slash + 1)),
        prefix: l.resource.slice(0, slash),
        options: [],
      });
    }
  }
  const cltSec = cltSecOf(listed, env.nowSec);
  // LQ_RELAY_DATA (§4.1.2.4) is left out: the store does not keep the relay message a client
  // last came through, and the option "MUST NOT be returned" without it (docs/protocol.md §3).
  return {
    clientData: { clientDuid, addresses, prefixes, ...(cltSec === undefined ? {} : { cltSec }) },
    truncated: all.length > listed.length,
  };
}

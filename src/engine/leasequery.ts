// RFC 5007 Leasequery over UDP: one LEASEQUERY in, one LEASEQUERY-REPLY (or a
// drop) out. Pure like the rest of the engine: the caller passes the clock
// reading and the lease view. A query never changes a binding (§4.4.1), so the
// answer carries no lease changes and failover's policy is not asked: both
// partners answer from their own copy (docs/protocol.md §3).
//
// Section numbers are RFC 5007's unless another RFC is named.

import { StatusCode } from '../wire/constants.js';
import { findOption } from '../wire/find.js';
import { addressFromBigInt, addressToBigInt, isAddress, networkOf, prefixContains, prefixKey } from '../wire/address.js';
import { duidFromHex, duidToHex } from '../wire/duid.js';
import {
  QueryType,
  isBulkQueryType,
  leasequeryReply,
  readQuery,
  queryTypeName,
  type LeasequeryAnswer,
  type LqQuery,
} from '../wire/leasequery/index.js';
import type { ClientServerMessage } from '../wire/types.js';
import type { RequestorPrefix } from '../config/types.js';
import type { DropReason, Inbound } from './inbound.js';
import type { BindingView, Lease } from './lease.js';
import type { ServingPlan, SubnetPlan } from './plan.js';
import { clientDataOf, LEASES_PER_ANSWER_MAX, linkOf, live, type LeasequeryEnv } from './leasequery-data.js';

export { LEASES_PER_ANSWER_MAX, type LeasequeryEnv };

/**
 * What became of an answered query; the shell counts each (`leasequery.<outcome>`).
 *  answered      — one client's data (§4.4.2)
 *  client-links  — the client is on several links: their list, no data (§4.4.1)
 *  empty         — nothing matched: neither client data nor links (§4.3.3 variant 3)
 *  not-allowed   — the requestor is not in leasequery.requestors (§4.4.1)
 *  bulk-over-udp — an RFC 5460 query-type over UDP, refused NotAllowed (RFC 5460 §4)
 *  unknown-query-type, malformed-query, not-configured — the §4.1.3 status of that name
 */
export type LeasequeryOutcome =
  'answered' | 'client-links' | 'empty' | 'not-allowed' | 'bulk-over-udp' | 'unknown-query-type' | 'malformed-query' | 'not-configured';

export type LeasequeryDecision =
  | {
      readonly kind: 'reply';
      readonly reply: ClientServerMessage;
      readonly outcome: LeasequeryOutcome;
      /** More live leases than LEASES_PER_ANSWER_MAX: the rest were left out. */
      readonly truncated?: true;
    }
  | { readonly kind: 'drop'; readonly reason: DropReason };

interface Ctx {
  readonly plan: ServingPlan;
  readonly env: LeasequeryEnv;
  readonly answer: (outcome: LeasequeryOutcome, body: LeasequeryAnswer, truncated?: boolean) => LeasequeryDecision;
  readonly refuse: (outcome: LeasequeryOutcome, status: number, text: string) => LeasequeryDecision;
}

export function answerLeasequery(plan: ServingPlan, serverDuid: Uint8Array, inbound: Inbound, env: LeasequeryEnv): LeasequeryDecision {
  const msg = inbound.message;
  // §4.2.1: discard without a Client Identifier, with another server's Identifier, or without a query.
  if (!findOption(msg.options, 'CLIENTID')) return { kind: 'drop', reason: 'missing-client-id' };
  const serverId = findOption(msg.options, 'SERVERID');
  if (serverId && duidToHex(serverId.duid) !== duidToHex(serverDuid)) return { kind: 'drop', reason: 'not-our-server-id' };
  const read = readQuery(msg);
  if (!read.ok && read.problem === 'missing') return { kind: 'drop', reason: 'missing-lq-query' };

  const answer = (outcome: LeasequeryOutcome, body: LeasequeryAnswer, truncated = false): LeasequeryDecision => ({
    kind: 'reply',
    reply: leasequeryReply(msg, serverDuid, body),
    outcome,
    ...(truncated ? { truncated: true } : {}),
  });
  const refuse = (outcome: LeasequeryOutcome, status: number, text: string) =>
    answer(outcome, { status: { kind: 'STATUS_CODE', status, message: text } });

  // Checked before the query is even read: a stranger learns nothing, not even what was wrong with it.
  if (!requestorAllowed(inbound, plan.config.leasequery?.requestors ?? [])) {
    return refuse('not-allowed', StatusCode.NotAllowed, 'requestor not allowed');
  }
  if (!read.ok) return refuse('malformed-query', StatusCode.MalformedQuery, read.error.detail);
  const ctx: Ctx = { plan, env, answer, refuse };
  const q = read.query;
  if (q.queryType === QueryType.BY_ADDRESS) return byAddress(ctx, q);
  if (q.queryType === QueryType.BY_CLIENTID) return byClientId(ctx, q);
  // RFC 5460 §4: a server that also takes Bulk Leasequery "MUST NOT accept Bulk Leasequery
  // query-types in UDP Leasequery messages" and answers NotAllowed (docs/protocol.md §3).
  if (isBulkQueryType(q.queryType)) {
    return refuse('bulk-over-udp', StatusCode.NotAllowed, `${queryTypeName(q.queryType)} only over TCP (RFC 5460)`);
  }
  return refuse('unknown-query-type', StatusCode.UnknownQueryType, `query-type ${q.queryType} not supported`);
}

/**
 * §4.4.1 lets a server restrict who may query, and §5 warns that a relay may
 * forward queries from anyone: a relayed query is answered only when both the
 * relay that sent it (the datagram's source) and the requestor it names (the
 * innermost peer-address) are listed, since anyone can build a Relay-forward
 * naming an allowed peer-address. Without a known source nothing is allowed.
 */
function requestorAllowed(inbound: Inbound, requestors: readonly RequestorPrefix[]): boolean {
  const listed = (address: string): boolean => {
    // The socket layer hands over plain IPv6 text; anything else is no one we know, never a throw.
    if (!isAddress(address)) return false;
    const a = addressToBigInt(address);
    return requestors.some((r) => prefixContains(r.prefix, r.length, a));
  };
  if (requestors.length === 0 || inbound.sourceAddress === undefined || !listed(inbound.sourceAddress)) return false;
  const innermost = inbound.relays[inbound.relays.length - 1];
  return innermost === undefined || listed(innermost.peerAddress);
}

/** The subnet a non-zero link-address names (§4.4.1: "MUST use the link-address to find the appropriate link"). */
const subnetAt = (plan: ServingPlan, linkAddress: string): SubnetPlan | undefined => {
  const a = addressToBigInt(linkAddress);
  return plan.subnets.find((s) => prefixContains(s.subnet.prefix, s.subnet.prefixLength, a));
};

/**
 * §4.1.2.1 QUERY_BY_ADDRESS: the client bound to the address, or delegated a
 * prefix containing it. With link-address 0::0 the address itself finds the
 * link (§4.4.1); a link this server does not serve is NotConfigured.
 */
function byAddress(ctx: Ctx, q: LqQuery): LeasequeryDecision {
  const iaaddr = findOption(q.options, 'IAADDR');
  if (!iaaddr) return ctx.refuse('malformed-query', StatusCode.MalformedQuery, 'QUERY_BY_ADDRESS without OPTION_IAADDR');
  const { plan, env } = ctx;
  const a = addressToBigInt(iaaddr.address);
  const holds = (s: SubnetPlan): boolean =>
    prefixContains(s.subnet.prefix, s.subnet.prefixLength, a) || s.subnet.pdPools.some((p) => prefixContains(p.prefix, p.prefixLength, a));
  const named = q.linkAddress === '::' ? undefined : subnetAt(plan, q.linkAddress);
  const links = q.linkAddress === '::' ? plan.subnets.filter(holds) : named ? [named] : [];
  if (links.length === 0)
    return ctx.refuse(
      'not-configured',
      StatusCode.NotConfigured,
      `no link here for ${q.linkAddress === '::' ? iaaddr.address : q.linkAddress}`,
    );

  const lease = leaseHolding(env.view, links, iaaddr.address, a, env.nowSec);
  const link = lease && linkOf(plan, lease);
  if (!lease || !link || !links.includes(link)) return ctx.answer('empty', {});
  const data = clientDataOf(plan, env, duidFromHex(lease.duid)!, link);
  return ctx.answer('answered', { clientData: data.clientData }, data.truncated);
}

/** The live lease on the address, or on the delegated prefix of one of the links' PD pools that contains it. */
function leaseHolding(view: BindingView, links: readonly SubnetPlan[], address: string, a: bigint, nowSec: number): Lease | undefined {
  const na = view.byResource(address);
  if (na && live(na, nowSec)) return na;
  for (const s of links) {
    for (const p of s.subnet.pdPools) {
      if (!prefixContains(p.prefix, p.prefixLength, a)) continue;
      const pd = view.byResource(prefixKey(addressFromBigInt(networkOf(a, p.delegatedLength)), p.delegatedLength));
      if (pd && live(pd, nowSec)) return pd;
    }
  }
  return undefined;
}

/**
 * §4.1.2.1 QUERY_BY_CLIENTID. With a link-address: the client's data on that
 * link. With 0::0 every link is searched (§4.4.1 MUST): one link gives its
 * data, several give OPTION_LQ_CLIENT_LINK and no data (§4.4.1 MUST NOT).
 */
function byClientId(ctx: Ctx, q: LqQuery): LeasequeryDecision {
  const clientId = findOption(q.options, 'CLIENTID');
  if (!clientId) return ctx.refuse('malformed-query', StatusCode.MalformedQuery, 'QUERY_BY_CLIENTID without OPTION_CLIENTID');
  const { plan, env } = ctx;
  if (q.linkAddress !== '::') {
    const link = subnetAt(plan, q.linkAddress);
    if (!link) return ctx.refuse('not-configured', StatusCode.NotConfigured, `no link here for ${q.linkAddress}`);
    const data = clientDataOf(plan, env, clientId.duid, link);
    return data.clientData ? ctx.answer('answered', { clientData: data.clientData }, data.truncated) : ctx.answer('empty', {});
  }
  const links: SubnetPlan[] = [];
  for (const lease of env.view.byClient(duidToHex(clientId.duid))) {
    const link = live(lease, env.nowSec) ? linkOf(plan, lease) : undefined;
    if (link && !links.includes(link)) links.push(link);
  }
  if (links.length === 0) return ctx.answer('empty', {});
  if (links.length > 1) {
    // In configuration order, so the same bindings give the same octets.
    const ordered = plan.subnets.filter((s) => links.includes(s));
    return ctx.answer('client-links', { clientLinks: ordered.map((s) => addressFromBigInt(s.subnet.prefix)) });
  }
  const data = clientDataOf(plan, env, clientId.duid, links[0]!);
  return ctx.answer('answered', { clientData: data.clientData }, data.truncated);
}

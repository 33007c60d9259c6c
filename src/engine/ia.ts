// One IA_NA or IA_PD of one client message: which leases the client gets,
// with which lifetimes, and what changes in the database. RFC 8415 §18.3.1
// (Solicit), §18.3.2 (Request), §18.3.4 (Renew), §18.3.5 (Rebind).

import { StatusCode } from '../wire/constants.js';
import type { Lifetimes, PrefixPool } from '../config/types.js';
import type { BindingView, IaType, Lease, LeaseChange, RequestedVia } from './lease.js';
import type { FailoverPolicy } from './policy.js';
import { fitsSubnet, type ServingPlan, type SubnetPlan } from './plan.js';
import { pickFree, pickListed, type AllocationBudget } from './allocate.js';
import type { Refusal } from './inbound.js';

/**
 * advertise — Solicit without Rapid Commit: say what a Request would get, change nothing.
 * assign    — Request, or Solicit with Rapid Commit.
 * renew     — Renew: extend the IA's leases; no binding ⇒ NoBinding unless the client's own lease can be reinstated.
 * rebind    — Rebind: as renew, but an unknown IA is answered only when there is something to say.
 */
export type IaMode = 'advertise' | 'assign' | 'renew' | 'rebind';

export interface IaRequest {
  readonly type: IaType;
  readonly iaid: number;
  /** Resources the client listed in the IA (IAADDR addresses, IAPREFIX prefixes with a non-zero prefix). */
  readonly hints: readonly string[];
}

export interface GrantedLease {
  readonly resource: string;
  readonly preferredSec: number;
  readonly validSec: number;
}

export interface IaResult {
  readonly type: IaType;
  readonly iaid: number;
  readonly leases: readonly GrantedLease[];
  readonly status?: { readonly code: number; readonly text: string };
}

/** Everything one decision shares across its IAs. */
export interface IaContext {
  readonly plan: ServingPlan;
  readonly subnet: SubnetPlan;
  readonly nowSec: number;
  readonly view: BindingView;
  readonly policy: FailoverPolicy;
  readonly duid: string;
  /** Changes the decision will commit, in order. */
  readonly changes: LeaseChange[];
  /** Resources granted earlier in this same decision, so two IAs never get one. */
  readonly taken: Set<string>;
  /** The requesting router, recorded with every delegation granted (routes follow it); absent when unknown. */
  readonly via?: RequestedVia;
  /** Candidate checks left for this message (allocate.ts). */
  readonly budget: AllocationBudget;
  /** New leases this client may still take in this message: `limits.leasesPerClient` less what it holds. */
  readonly quota: { newLeases: number };
  /** What was refused on the way, for the shell to count. */
  readonly refusals: Refusal[];
}

export function processIa(ctx: IaContext, mode: IaMode, req: IaRequest): IaResult {
  const bound = activeLeases(ctx, req);
  const fitting = bound.filter((l) => fitsSubnet(ctx.subnet, req.type, l.resource, ctx.duid));
  const revoked = bound.filter((l) => !fitting.includes(l)).map((l) => revoke(ctx, mode, l));

  if (fitting.length > 0) return result(req, [...fitting.map((l) => grant(ctx, mode, req, l)), ...revoked]);

  if (mode === 'renew' || mode === 'rebind') {
    const reinstated = reinstate(ctx, mode, req);
    if (reinstated) return result(req, [reinstated, ...revoked]);
    // RFC 8415 §18.3.5: zero lifetimes for leases that are not appropriate for the link — off
    // our pools, or bound to another client. One that is merely not ours to hand out (a failover
    // partner's lease we have no record of yet) may well be valid: we say nothing about it, and
    // the client keeps it until its lifetime ends or its server answers.
    const stale = req.hints
      .filter((r) => !ctx.taken.has(r) && (!fitsSubnet(ctx.subnet, req.type, r, ctx.duid) || boundElsewhere(ctx, req, r)))
      .map((r) => ({ resource: r, preferredSec: 0, validSec: 0 }));
    if (mode === 'rebind') return result(req, [...revoked, ...stale]);
    return result(req, revoked, { code: StatusCode.NoBinding, text: 'no binding for this IA' });
  }

  if (ctx.quota.newLeases <= 0) {
    ctx.refusals.push('leases-per-client');
    return result(req, revoked, unavailable(req.type, 'lease limit of this client reached'));
  }
  const resource = choose(ctx, req);
  if (!resource) {
    if (ctx.budget.checksLeft <= 0) ctx.refusals.push('allocation-budget');
    return result(req, revoked, unavailable(req.type, req.type === 'na' ? 'no addresses available' : 'no prefixes available'));
  }
  ctx.quota.newLeases--;
  return result(req, [grant(ctx, mode, req, ctx.view.byResource(resource), resource), ...revoked]);
}

/** The status of an IA that gets nothing: NoAddrsAvail for IA_NA, NoPrefixAvail for IA_PD (RFC 8415 §21.13). */
export function unavailable(type: IaType, text: string): { code: number; text: string } {
  return { code: type === 'na' ? StatusCode.NoAddrsAvail : StatusCode.NoPrefixAvail, text };
}

function result(req: IaRequest, leases: GrantedLease[], status?: IaResult['status']): IaResult {
  return status ? { type: req.type, iaid: req.iaid, leases, status } : { type: req.type, iaid: req.iaid, leases };
}

function activeLeases(ctx: IaContext, req: IaRequest): Lease[] {
  return ctx.view
    .byIa(ctx.duid, req.iaid, req.type)
    .filter((l) => l.state === 'active' && l.expiresAtSec > ctx.nowSec && !ctx.taken.has(l.resource));
}

const lifetimesOf = (ctx: IaContext, type: IaType): Lifetimes =>
  type === 'na' ? ctx.subnet.subnet.lifetimes : ctx.subnet.subnet.pdLifetimes;

/** Binds (or extends) resource for this IA with fresh lifetimes; records the change unless advertising. */
function grant(ctx: IaContext, mode: IaMode, req: IaRequest, current: Lease | undefined, resource = current!.resource): GrantedLease {
  const configured = lifetimesOf(ctx, req.type);
  const mine = current && current.duid === ctx.duid && current.iaid === req.iaid && current.type === req.type;
  const validSec = ctx.policy.capValidSec(resource, mine ? current : undefined, configured.validSec);
  const preferredSec = Math.min(configured.preferredSec, validSec);
  ctx.taken.add(resource);
  if (mode !== 'advertise') {
    // A renewal may grant less than the client already holds (a lower cap now). If this Reply
    // is lost the client keeps the earlier, longer lease: the record must not end before it.
    const heldUntilSec = mine && current.state === 'active' ? current.expiresAtSec : 0;
    const lease: Lease = {
      resource,
      type: req.type,
      duid: ctx.duid,
      iaid: req.iaid,
      state: 'active',
      preferredSec,
      validSec,
      clttSec: ctx.nowSec,
      expiresAtSec: Math.max(ctx.nowSec + validSec, heldUntilSec),
      // A renewal from another interface or relay moves the route with it.
      ...viaFor(ctx, req, mine ? current : undefined),
    };
    ctx.changes.push({ op: 'put', lease });
  }
  return { resource, preferredSec, validSec };
}

/** Delegations record their requesting router; without a fresh one (no source known) the lease keeps its old one. */
function viaFor(ctx: IaContext, req: IaRequest, current: Lease | undefined): { via?: RequestedVia } {
  if (req.type !== 'pd') return {};
  const via = ctx.via ?? current?.via;
  return via ? { via } : {};
}

/** A bound lease no longer appropriate for the link: zero lifetimes tell the client to stop using it (§18.3.4). */
function revoke(ctx: IaContext, mode: IaMode, lease: Lease): GrantedLease {
  if (mode !== 'advertise') {
    ctx.changes.push({ op: 'put', lease: { ...lease, state: 'expired', expiresAtSec: ctx.nowSec + ctx.plan.config.affinitySec } });
  }
  return { resource: lease.resource, preferredSec: 0, validSec: 0 };
}

/**
 * Whether the resource could be bound to this client's IA now: not reserved
 * for someone else, not declined, not held by another client's live lease.
 */
export function isFreeFor(ctx: IaContext, req: IaRequest, resource: string): boolean {
  if (ctx.taken.has(resource)) return false;
  const owner = ctx.plan.reservedBy.get(resource);
  if (owner !== undefined && owner !== ctx.duid) return false;
  const lease = ctx.view.byResource(resource);
  if (!lease) return ctx.policy.mayAllocate(resource, req.type);
  const live = lease.state === 'active' && lease.expiresAtSec > ctx.nowSec;
  if (lease.duid === ctx.duid && lease.iaid === req.iaid && lease.type === req.type) {
    if (lease.state === 'declined') return false;
    // Its own live lease is the client's to keep; one that ended is a new allocation and
    // the policy's call (a failover partner may have handed the resource out since).
    return live || ctx.policy.mayAllocate(resource, req.type, true);
  }
  if (lease.state === 'declined' || live) return false;
  return ctx.policy.mayAllocate(resource, req.type);
}

/** Reserved for, declined by, or bound to a live lease of someone else: the resource is not this IA's to keep. */
function boundElsewhere(ctx: IaContext, req: IaRequest, resource: string): boolean {
  const owner = ctx.plan.reservedBy.get(resource);
  if (owner !== undefined && owner !== ctx.duid) return true;
  const lease = ctx.view.byResource(resource);
  if (lease === undefined) return false;
  if (lease.state === 'declined') return true;
  if (lease.duid === ctx.duid && lease.iaid === req.iaid && lease.type === req.type) return false;
  return lease.state === 'active' && lease.expiresAtSec > ctx.nowSec;
}

/**
 * Renew or Rebind of an IA we hold nothing for (a lost record, or a partner's
 * lease after a takeover): give the client back what it asks for if that is
 * free and belongs here, so its address and prefix stay stable.
 */
function reinstate(ctx: IaContext, mode: IaMode, req: IaRequest): GrantedLease | undefined {
  for (const r of req.hints) {
    if (fitsSubnet(ctx.subnet, req.type, r, ctx.duid) && isFreeFor(ctx, req, r)) {
      if (ctx.quota.newLeases <= 0) {
        ctx.refusals.push('leases-per-client');
        return undefined;
      }
      ctx.quota.newLeases--;
      return grant(ctx, mode, req, ctx.view.byResource(r), r);
    }
  }
  return undefined;
}

/**
 * Reservation first, then the client's hint, then its last lease (affinity),
 * then the pools; a resource the policy holds as a last resort only when none
 * of those finds another. One search under the message's budget: the first
 * last resort met on the way is kept for when it ends without a better one.
 * A reservation is never held back: both partners keep it for the same
 * client, so it cannot go to two.
 */
function choose(ctx: IaContext, req: IaRequest): string | undefined {
  const free = (r: string) => isFreeFor(ctx, req, r);
  const reserved = ctx.subnet.reservedFor.get(ctx.duid)?.[req.type];
  if (reserved !== undefined && free(reserved)) return reserved;
  let lastResort: string | undefined;
  const preferred = (r: string): boolean => {
    if (!free(r)) return false;
    if (!ctx.policy.lastResort?.(r, req.type)) return true;
    lastResort ??= r;
    return false;
  };
  const hint = req.hints.find((r) => fitsSubnet(ctx.subnet, req.type, r, ctx.duid) && preferred(r));
  if (hint) return hint;
  const previous = ctx.view
    .byIa(ctx.duid, req.iaid, req.type)
    .find((l) => l.state !== 'declined' && fitsSubnet(ctx.subnet, req.type, l.resource, ctx.duid) && preferred(l.resource));
  if (previous) return previous.resource;
  const seed = `${ctx.duid}|${req.iaid}|${req.type}`;
  if (req.type === 'na') return pickFree('na', ctx.subnet.subnet.pools, seed, preferred, ctx.budget) ?? lastResort;
  // A server that owns only a listed part of a pool searches that part first: probing a large
  // pool for a few hundred owned prefixes would spend the message's budget on misses.
  const pools: PrefixPool[] = [];
  for (const pool of ctx.subnet.subnet.pdPools) {
    const owned = ctx.policy.ownedPrefixes?.(pool);
    if (owned) {
      const r = pickListed(owned.prefixes, seed, preferred, ctx.budget);
      if (r !== undefined) return r;
    }
    if (!owned?.only) pools.push(pool);
  }
  return pickFree('pd', pools, seed, preferred, ctx.budget) ?? lastResort;
}

// The engine's entry point: one client message in, one decision out. Pure and
// deterministic — the caller passes the clock reading, the lease view and the
// failover policy, and carries out the decision (commit, then send).

import { MsgType, StatusCode } from '../wire/constants.js';
import type { ClientServerMessage, IaNaOption, IaPdOption, Option } from '../wire/types.js';
import { findOption } from '../wire/find.js';
import { duidToHex } from '../wire/duid.js';
import type { ServerConfig } from '../config/types.js';
import type { DropReason, Inbound, Refusal } from './inbound.js';
import type { BindingView, LeaseChange } from './lease.js';
import type { FailoverPolicy } from './policy.js';
import { makePlan, onLink, type ServingPlan, type SubnetPlan } from './plan.js';
import { checkMessage } from './validate.js';
import { selectSubnet } from './link.js';
import { processIa, unavailable, type IaContext, type IaMode, type IaRequest, type IaResult } from './ia.js';
import { ALLOC_CHECKS_PER_MESSAGE } from './allocate.js';
import { addressToBigInt } from '../wire/address.js';
import { commonTimers, NO_TIMERS, type Timers } from './timers.js';
import { requestedOptions } from './options.js';
import { releaseOrDecline } from './release.js';
import { reclaimDue } from './reclaim.js';
import { requestedVia } from './via.js';
import { answerLeasequery, type LeasequeryDecision, type LeasequeryEnv } from './leasequery.js';

export interface EngineEnv {
  /** Wall clock, whole seconds since the Unix epoch, read once per message by the caller. */
  readonly nowSec: number;
  readonly view: BindingView;
  readonly policy: FailoverPolicy;
}

export type Decision =
  | {
      readonly kind: 'reply';
      readonly reply: ClientServerMessage;
      readonly changes: readonly LeaseChange[];
      /** Parts of the message not served although it was answered (limits, bad hints); absent when none. */
      readonly refusals?: readonly Refusal[];
    }
  | { readonly kind: 'drop'; readonly reason: DropReason };

export interface Engine {
  readonly serverDuid: Uint8Array;
  readonly plan: ServingPlan;
  handle(inbound: Inbound, env: EngineEnv): Decision;
  /** An RFC 5007 LEASEQUERY: read-only, so no policy and no changes (engine/leasequery.ts). */
  leasequery(inbound: Inbound, env: LeasequeryEnv): LeasequeryDecision;
  /** Lease state changes that are due (expiry, end of decline or affinity hold), at most limit. */
  reclaim(env: EngineEnv, limit: number): LeaseChange[];
}

export function createEngine(config: ServerConfig, serverDuid: Uint8Array): Engine {
  const plan = makePlan(config);
  return {
    serverDuid,
    plan,
    handle: (inbound, env) => handleMessage(plan, serverDuid, inbound, env),
    leasequery: (inbound, env) => answerLeasequery(plan, serverDuid, inbound, env),
    reclaim: (env, limit) => reclaimDue(env.view, env.nowSec, config.affinitySec, limit, env.policy),
  };
}

const drop = (reason: DropReason): Decision => ({ kind: 'drop', reason });

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function handleMessage(plan: ServingPlan, serverDuid: Uint8Array, inbound: Inbound, env: EngineEnv): Decision {
  const msg = inbound.message;
  const clientId = findOption(msg.options, 'CLIENTID');
  const serverId = findOption(msg.options, 'SERVERID');
  const serverIdIsOurs = serverId !== undefined && sameBytes(serverId.duid, serverDuid);
  const clientSentUnicast = inbound.unicast && inbound.relays.length === 0;
  const verdict = checkMessage(
    msg.type,
    { clientId: clientId !== undefined, serverId: serverId !== undefined, serverIdIsOurs },
    clientSentUnicast,
  );
  if (!verdict.ok) return drop(verdict.reason);
  if (!env.policy.mayAnswer(msg.type, serverIdIsOurs)) return drop('policy');

  const head: Option[] = [{ kind: 'SERVERID', duid: serverDuid }];
  if (clientId) head.push(clientId);
  const reply = (options: Option[], type: number = MsgType.REPLY): ClientServerMessage => ({
    type,
    transactionId: msg.transactionId,
    options: [...head, ...options],
  });
  // §18.4: we never hand out the Server Unicast option, so a unicast Request/Renew/Release/Decline is told to multicast.
  if (verdict.useMulticast) {
    return { kind: 'reply', reply: reply([status(StatusCode.UseMulticast, 'use multicast')]), changes: [] };
  }

  if (msg.type === MsgType.INFORMATION_REQUEST) {
    if (msg.options.some((o) => o.kind === 'IA_NA' || o.kind === 'IA_TA' || o.kind === 'IA_PD')) {
      return drop('ia-in-information-request'); // §16.12
    }
  }
  const subnet = selectSubnet(plan, inbound.interface, inbound.relays);
  if (!subnet) return drop('unknown-link');
  const oro = findOption(msg.options, 'ORO');
  const extras = () => requestedOptions(msg.type, oro, subnet.subnet.options);

  if (msg.type === MsgType.INFORMATION_REQUEST) return { kind: 'reply', reply: reply(extras()), changes: [] };

  const duid = duidToHex(clientId!.duid);
  const via = requestedVia(inbound);
  const ctx: IaContext = {
    plan,
    subnet,
    nowSec: env.nowSec,
    view: env.view,
    policy: env.policy,
    duid,
    changes: [],
    taken: new Set(),
    ...(via ? { via } : {}),
    budget: { checksLeft: ALLOC_CHECKS_PER_MESSAGE },
    quota: { newLeases: plan.config.limits.leasesPerClient - activeLeaseCount(env, duid) },
    refusals: [],
  };
  const answered = (d: Decision): Decision => (d.kind === 'reply' && ctx.refusals.length > 0 ? { ...d, refusals: ctx.refusals } : d);

  return answered(decide(ctx, msg, subnet, reply, extras));
}

/** The answer to a message that carries IAs (or Confirm, Release, Decline), once the message passed its checks. */
function decide(
  ctx: IaContext,
  msg: ClientServerMessage,
  subnet: SubnetPlan,
  reply: (options: Option[], type?: number) => ClientServerMessage,
  extras: () => Option[],
): Decision {
  switch (msg.type) {
    case MsgType.SOLICIT: {
      const rapid = subnet.subnet.rapidCommit && findOption(msg.options, 'RAPID_COMMIT') !== undefined;
      const ias = answerIas(ctx, rapid ? 'assign' : 'advertise', msg, false);
      const more: Option[] = [];
      if (rapid) more.push({ kind: 'RAPID_COMMIT' });
      else if (subnet.subnet.preference > 0) more.push({ kind: 'PREFERENCE', preference: subnet.subnet.preference });
      return {
        kind: 'reply',
        reply: reply([...ias, ...more, ...extras()], rapid ? MsgType.REPLY : MsgType.ADVERTISE),
        changes: ctx.changes,
      };
    }
    case MsgType.REQUEST:
      return { kind: 'reply', reply: reply([...answerIas(ctx, 'assign', msg, true), ...extras()]), changes: ctx.changes };
    case MsgType.RENEW:
      return { kind: 'reply', reply: reply([...answerIas(ctx, 'renew', msg, false), ...extras()]), changes: ctx.changes };
    case MsgType.REBIND: {
      const ias = answerIas(ctx, 'rebind', msg, false);
      if (ias.length === 0) return drop('rebind-nothing-to-say'); // §18.3.5: another server may own the binding
      return { kind: 'reply', reply: reply([...ias, ...extras()]), changes: ctx.changes };
    }
    case MsgType.CONFIRM:
      return confirm(subnet, msg, reply);
    case MsgType.RELEASE:
    case MsgType.DECLINE: {
      const { options, changes } = releaseOrDecline(ctx, msg);
      return { kind: 'reply', reply: reply(options), changes };
    }
    default:
      return drop('unknown-msg-type');
  }
}

export const status = (code: number, message: string): Option => ({ kind: 'STATUS_CODE', status: code, message });

/** Hints looked at per IA: a client lists the one or two it held; the rest are ignored. */
export const HINTS_PER_IA_MAX = 4;

/** Active, unexpired leases the client holds now, whatever the IA: what `limits.leasesPerClient` counts. */
function activeLeaseCount(env: EngineEnv, duid: string): number {
  let n = 0;
  for (const l of env.view.byClient(duid)) if (l.state === 'active' && l.expiresAtSec > env.nowSec) n++;
  return n;
}

/**
 * Hints of one IA: addresses for IA_NA, non-zero prefixes for IA_PD. A hint is
 * client data and is checked here, at the engine's edge: an IAPREFIX with bits
 * set beyond its length names no prefix and is ignored (RFC 8415 §18.3.1: the
 * server may ignore hints), so nothing the client wrote reaches the store
 * except through a resource the engine made itself or found in its pools.
 */
function iaRequest(ia: IaNaOption | IaPdOption, refusals: Refusal[]): IaRequest {
  const hints: string[] = [];
  for (const o of ia.options) {
    let hint: string | undefined;
    if (ia.kind === 'IA_NA' && o.kind === 'IAADDR') hint = o.address;
    if (ia.kind === 'IA_PD' && o.kind === 'IAPREFIX' && o.prefix !== '::') {
      if (hostBitsClear(o.prefix, o.prefixLength)) hint = `${o.prefix}/${o.prefixLength}`;
      else refusals.push('hint-not-canonical');
    }
    if (hint === undefined) continue;
    if (hints.length === HINTS_PER_IA_MAX) {
      refusals.push('hints-per-ia');
      break;
    }
    hints.push(hint);
  }
  return { type: ia.kind === 'IA_NA' ? 'na' : 'pd', iaid: ia.iaid, hints };
}

function hostBitsClear(prefix: string, length: number): boolean {
  if (length >= 128) return true;
  return (addressToBigInt(prefix) & ((1n << BigInt(128 - length)) - 1n)) === 0n;
}

/**
 * Runs every IA of the message through processIa and renders the IA options
 * with one common T1/T2. strictOnLink: a Request listing an address off the
 * client's link gets NotOnLink for that IA (§18.3.2).
 */
function answerIas(ctx: IaContext, mode: IaMode, msg: ClientServerMessage, strictOnLink: boolean): Option[] {
  const seen = new Set<string>();
  const perType = { na: 0, pd: 0 };
  const results: IaResult[] = [];
  const taOptions: Option[] = [];
  for (const o of msg.options) {
    if (o.kind === 'IA_TA') {
      // Temporary addresses are not offered (IA_TA is on its way out, rfc8415bis).
      if (mode !== 'renew' && mode !== 'rebind') {
        taOptions.push({ kind: 'IA_TA', iaid: o.iaid, options: [status(StatusCode.NoAddrsAvail, 'temporary addresses are not offered')] });
      }
      continue;
    }
    if (o.kind !== 'IA_NA' && o.kind !== 'IA_PD') continue;
    const key = `${o.kind}|${o.iaid}`;
    if (seen.has(key)) continue; // §21.4: IAIDs are unique per IA type; ignore repeats
    seen.add(key);
    const type = o.kind === 'IA_NA' ? 'na' : 'pd';
    perType[type]++;
    if (perType[type] > ctx.plan.config.limits.iasPerMessage) {
      ctx.refusals.push('ias-per-message');
      results.push({ type, iaid: o.iaid, leases: [], status: unavailable(type, 'IA limit per message reached') });
      continue;
    }
    const req = iaRequest(o, ctx.refusals);
    if (strictOnLink && req.type === 'na' && req.hints.some((a) => !onLink(ctx.subnet.subnet, a))) {
      results.push({ type: 'na', iaid: req.iaid, leases: [], status: { code: StatusCode.NotOnLink, text: 'address not on link' } });
      continue;
    }
    results.push(processIa(ctx, mode, req));
  }
  const timers = commonTimers(
    results.flatMap((r) =>
      r.leases
        .filter((l) => l.validSec > 0)
        .map((l) => ({
          preferredSec: l.preferredSec,
          lifetimes: r.type === 'na' ? ctx.subnet.subnet.lifetimes : ctx.subnet.subnet.pdLifetimes,
        })),
    ),
  );
  stampTimers(ctx.changes, results, timers);
  const rendered = results
    .filter((r) => r.leases.length > 0 || r.status !== undefined)
    .map((r) => renderIa(r, r.leases.some((l) => l.validSec > 0) ? timers : NO_TIMERS));
  return [...rendered, ...taOptions];
}

/** Each lease granted records the T1/T2 its client was given: a failover partner is told them (RFC 8156 §7.4). */
function stampTimers(changes: LeaseChange[], results: readonly IaResult[], timers: Timers): void {
  const granted = new Set(results.flatMap((r) => r.leases.filter((l) => l.validSec > 0).map((l) => l.resource)));
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]!;
    if (c.op === 'put' && c.lease.state === 'active' && granted.has(c.lease.resource))
      changes[i] = { op: 'put', lease: { ...c.lease, timers } };
  }
}

function renderIa(r: IaResult, timers: Timers): Option {
  const inner: Option[] =
    r.type === 'na'
      ? r.leases.map((l) => ({ kind: 'IAADDR', address: l.resource, preferredSec: l.preferredSec, validSec: l.validSec, options: [] }))
      : r.leases.map((l) => {
          const slash = l.resource.indexOf('/');
          return {
            kind: 'IAPREFIX',
            prefix: l.resource.slice(0, slash),
            prefixLength: Number(l.resource.slice(slash + 1)),
            preferredSec: l.preferredSec,
            validSec: l.validSec,
            options: [],
          };
        });
  if (r.status) inner.push(status(r.status.code, r.status.text));
  return { kind: r.type === 'na' ? 'IA_NA' : 'IA_PD', iaid: r.iaid, t1Sec: timers.t1Sec, t2Sec: timers.t2Sec, options: inner };
}

/** §18.3.3: are the client's addresses on its link? No addresses, or no way to tell ⇒ no Reply. */
function confirm(subnet: SubnetPlan, msg: ClientServerMessage, reply: (o: Option[]) => ClientServerMessage): Decision {
  const addresses: string[] = [];
  for (const o of msg.options) {
    if (o.kind !== 'IA_NA' && o.kind !== 'IA_TA') continue;
    for (const a of o.options) if (a.kind === 'IAADDR') addresses.push(a.address);
  }
  if (addresses.length === 0) return drop('confirm-undecidable');
  const fits = addresses.every((a) => onLink(subnet.subnet, a));
  const s = fits ? status(StatusCode.Success, 'all addresses on link') : status(StatusCode.NotOnLink, 'address not on link');
  return { kind: 'reply', reply: reply([s]), changes: [] };
}

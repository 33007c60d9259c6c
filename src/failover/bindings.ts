// Leases to and from the partner's binding updates (RFC 8156 §7.4, §7.5),
// and whether an incoming update replaces what we hold (§7.5.4, the
// accept/reject table). Pure: time comes in as an argument.

import {
  BindingStatus,
  decodeKept,
  encodeKept,
  FoStatusCode,
  SKEW_TOLERANCE_SEC,
  type BindingStatusCode,
  type ClientBindingUpdate,
  type LeaseState as WireLeaseState,
  type Status,
} from '../wire/failover/index.js';
import type { IaType, Lease, LeaseChange, LeaseFailover, LeaseState, RequestedVia } from '../engine/lease.js';
import { encodeRequestedVia, readRequestedVia, type WireRequestedVia } from '../wire/failover/twin6-via.js';
import type { Role } from './states.js';

const STATUS_OF: Record<LeaseState, BindingStatusCode> = {
  active: BindingStatus.ACTIVE,
  expired: BindingStatus.EXPIRED,
  released: BindingStatus.RELEASED,
  declined: BindingStatus.ABANDONED, // §7.2: a Decline makes the lease unusable
};

/** Statuses after which the resource is simply free again: we keep no record of it. */
const FREEING = new Set<number>([BindingStatus.FREE, BindingStatus.FREE_BACKUP, BindingStatus.PENDING_FREE, BindingStatus.RESET]);

const STATE_OF: Partial<Record<number, LeaseState>> = {
  [BindingStatus.ACTIVE]: 'active',
  [BindingStatus.EXPIRED]: 'expired',
  [BindingStatus.RELEASED]: 'released',
  [BindingStatus.ABANDONED]: 'declined',
};

export const sameBinding = (a: Lease, b: { duid: string; iaid: number; type: IaType }): boolean =>
  a.duid === b.duid && a.iaid === b.iaid && a.type === b.type;

/**
 * One lease as a BNDUPD (§7.4, CLIENT_DATA form): one IA holding one IAADDR or
 * IAPREFIX. enterpriseNumber: failover.vendorEnterpriseNumber, twin6's vendor option.
 */
export function updateFor(lease: Lease, nowSec: number, enterpriseNumber: number): ClientBindingUpdate {
  const fo = lease.fo;
  const state: WireLeaseState = {
    status: STATUS_OF[lease.state],
    startTimeOfStateSec: fo?.startOfStateSec || lease.clttSec,
    // Every status we keep has a timeout: the valid lifetime, the decline hold, the affinity hold.
    stateExpirationTimeSec: lease.expiresAtSec,
    // §7.4: CLT_TIME is our own last interaction with the client, and absent when we never had one.
    ...(lease.clttSec > 0 ? { clientLastTransactionTimeSec: Math.min(lease.clttSec, nowSec) } : {}),
    partnerLifetimeSec: fo?.partnerLifetimeSec || lease.expiresAtSec,
    ...(fo?.partnerRawCltSec ? { partnerRawCltTimeSec: fo.partnerRawCltSec } : {}),
    ...(fo && fo.expirationTimeSec > 0 ? { expirationTimeSec: fo.expirationTimeSec } : {}),
  };
  // What the partner sent that we only keep goes back where it came from (§7.4).
  const { reconfigure, relayData, clientFqdn, dnsRemovalInfo } = fo?.clientData ? decodeKept(fo.clientData, nowSec) : {};
  const kept = { ...(clientFqdn ? { clientFqdn } : {}), ...(dnsRemovalInfo ? { dnsRemovalInfo } : {}) };
  const times = { preferredSec: lease.preferredSec, validSec: lease.validSec };
  // §7.4: the T1 and T2 sent to the client; 0 (the client chooses) for a record that does not know them.
  const t = { t1Sec: lease.timers?.t1Sec ?? 0, t2Sec: lease.timers?.t2Sec ?? 0 };
  const ia =
    lease.type === 'na'
      ? { type: 'IA_NA' as const, iaid: lease.iaid, ...t, leases: [{ address: lease.resource, ...times, ...state, ...kept }] }
      : {
          type: 'IA_PD' as const,
          iaid: lease.iaid,
          ...t,
          leases: [
            {
              prefix: lease.resource.slice(0, lease.resource.indexOf('/')),
              prefixLength: Number(lease.resource.slice(lease.resource.indexOf('/') + 1)),
              ...times,
              ...state,
              ...kept,
            },
          ],
        };
  // The requesting router goes along, so a partner that takes over can route the prefix at once.
  const via =
    lease.type === 'pd' && lease.via
      ? {
          vendorOptions: [
            encodeRequestedVia({ address: lease.via.address, ...(lease.via.relay ? { relay: lease.via.relay } : {}) }, enterpriseNumber),
          ],
        }
      : {};
  const client = { ...(reconfigure ? { reconfigure } : {}), ...(relayData ? { relayData } : {}) };
  return { form: 'client', clientDuid: Buffer.from(lease.duid, 'hex'), baseTimeSec: nowSec, ...client, ...via, ias: [ia] };
}

/** One lease of an incoming update, flattened. */
export interface IncomingLease {
  readonly resource: string;
  readonly type: IaType;
  readonly duid: string;
  readonly iaid: number;
  readonly wire: WireLeaseState & { readonly preferredSec: number; readonly validSec: number };
  /** The requesting router of a delegation, when the partner sent it (IA_PD only). */
  readonly via?: WireRequestedVia;
  /** T1 and T2 of the IA, as the partner gave them to the client. */
  readonly timers: { readonly t1Sec: number; readonly t2Sec: number };
  /** What we keep only to send back (§7.4), as option octets (wire/failover/kept.ts). */
  readonly kept?: Uint8Array;
}

/**
 * The leases of an incoming update. The requesting router is read from our own
 * vendor option (enterpriseNumber); another vendor's is ignored, and ours when
 * it does not parse, told to onViaProblem.
 */
export function incomingLeases(
  update: ClientBindingUpdate,
  enterpriseNumber: number,
  onViaProblem: (problem: string) => void = () => {},
): IncomingLease[] {
  const duid = Buffer.from(update.clientDuid).toString('hex');
  const read = readRequestedVia(update.vendorOptions ?? [], enterpriseNumber);
  if (read && 'problem' in read) onViaProblem(read.problem);
  const requestedVia = read && 'via' in read ? read.via : undefined;
  const out: IncomingLease[] = [];
  for (const ia of update.ias) {
    if (ia.type === 'IA_TA') continue; // we never lease temporary addresses
    for (const l of ia.leases) {
      const resource = 'address' in l ? l.address : `${l.prefix}/${l.prefixLength}`;
      const via = ia.type === 'IA_PD' && requestedVia ? { via: requestedVia } : {};
      const kept = encodeKept({
        reconfigure: update.reconfigure,
        relayData: update.relayData,
        clientFqdn: l.clientFqdn,
        dnsRemovalInfo: l.dnsRemovalInfo,
      });
      out.push({
        resource,
        type: ia.type === 'IA_NA' ? 'na' : 'pd',
        duid,
        iaid: ia.iaid,
        wire: l,
        timers: { t1Sec: ia.t1Sec, t2Sec: ia.t2Sec },
        ...via,
        ...(kept ? { kept } : {}),
      });
    }
  }
  return out;
}

/** One side of a binding, as a resolved conflict is logged. */
export interface BindingVersion {
  readonly client: string;
  readonly state: string;
  readonly clttSec: number;
  readonly endsSec: number | undefined;
}

const STATUS_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(BindingStatus).map(([name, code]) => [code, name.toLowerCase().replace('_', '-')]),
);

/**
 * Both versions of a binding when they disagree — another client, or another
 * state — for the log of a resolved conflict (RFC 7031 §5 requirement 8:
 * after a partition the operator must be able to see what was decided);
 * undefined when they agree or we held nothing.
 */
export function versions(local: Lease | undefined, incoming: IncomingLease): { ours: BindingVersion; theirs: BindingVersion } | undefined {
  if (!local) return undefined;
  const w = incoming.wire;
  if (sameBinding(local, incoming) && STATUS_OF[local.state] === w.status) return undefined;
  return {
    ours: { client: `${local.duid}/${local.iaid}`, state: local.state, clttSec: local.clttSec, endsSec: local.expiresAtSec },
    theirs: {
      client: `${incoming.duid}/${incoming.iaid}`,
      state: STATUS_NAME[w.status] ?? String(w.status),
      clttSec: w.clientLastTransactionTimeSec ?? w.startTimeOfStateSec,
      endsSec: w.stateExpirationTimeSec,
    },
  };
}

/**
 * §7.5.4: which time an update is judged by — CLT_TIME for ACTIVE, EXPIRED
 * and RELEASED (start of state if absent), the later of the two otherwise.
 */
function incomingTime(w: WireLeaseState): number {
  const clt = w.clientLastTransactionTimeSec;
  if (w.status === BindingStatus.ACTIVE || w.status === BindingStatus.EXPIRED || w.status === BindingStatus.RELEASED)
    return clt ?? w.startTimeOfStateSec;
  return Math.max(clt ?? 0, w.startTimeOfStateSec);
}

/** §7.5.1: times within 5 s of each other are the same time, so "later" means later by more than that. */
const clearlyLater = (a: number, b: number): boolean => a > b + SKEW_TOLERANCE_SEC;

export type Verdict = { readonly accept: true } | { readonly accept: false; readonly status: Status };

const ACCEPT: Verdict = { accept: true };
const outdated: Verdict = { accept: false, status: { code: FoStatusCode.OutdatedBindingInformation, message: 'our binding is newer' } };

export interface JudgeOptions {
  /**
   * twin6's stricter rules over a live ACTIVE lease (config failover.keepLongerLease,
   * docs/rfc8156-conformance.md): never let the partner's word end it sooner
   * than we hold it — a same-client ACTIVE that ends sooner is refused however
   * recent, and another client's RELEASED is refused. Off: Figure 4 exactly.
   */
  readonly keepLongerLease: boolean;
}

/**
 * The accept/reject table of §7.5.4, Figure 4 (docs/protocol.md §1.16). Our
 * time is the client-last-transaction-time, or the start-time-of-state without
 * one; a lease we still record as active past its end is in the EXPIRED row.
 * We keep no FREE, FREE-BACKUP or RESET record (those delete it), so those
 * rows are "nothing held: accept".
 */
export function judge(local: Lease | undefined, incoming: IncomingLease, role: Role, nowSec: number, opts: JudgeOptions): Verdict {
  if (!local) return ACCEPT;
  const w = incoming.wire;
  const ours = local.clttSec || local.fo?.startOfStateSec || 0;
  const accept = (): Verdict => (clearlyLater(incomingTime(w), ours) ? ACCEPT : outdated);
  if (local.state !== 'active' || local.expiresAtSec <= nowSec) return accept();
  switch (w.status) {
    case BindingStatus.ACTIVE:
      return acceptThree(local, incoming, role, opts);
    case BindingStatus.EXPIRED:
    case BindingStatus.FREE:
    case BindingStatus.FREE_BACKUP:
    case BindingStatus.PENDING_FREE: // not in Figure 4; a FREE on its way, judged as one
      // time(1): our state-expiration-time is still ahead here, so the lease stays.
      return outdated;
    case BindingStatus.RELEASED:
      // keepLongerLease: another client's release says nothing about the live binding we hold.
      if (opts.keepLongerLease && !sameBinding(local, incoming)) return outdated;
      return accept();
    default: // RESET, ABANDONED
      return accept();
  }
}

/** accept(3): the same client is accepted; another one by time(2), or because we are the secondary. */
function acceptThree(local: Lease, incoming: IncomingLease, role: Role, opts: JudgeOptions): Verdict {
  const w = incoming.wire;
  if (sameBinding(local, incoming)) {
    // keepLongerLease: a copy that would end the lease sooner than ours is refused. The client
    // may hold the longer one: a stale update re-sent after a partition while it renewed here
    // since, or both partners answering one Rebind with different caps (clocks 5 s apart cannot
    // tell which came later). Ended early on both records, the resource would go to another
    // client while it is still in use; ours goes back instead.
    if (opts.keepLongerLease && w.stateExpirationTimeSec !== undefined && w.stateExpirationTimeSec < local.expiresAtSec) return outdated;
    return ACCEPT;
  }
  // time(2): CLT_TIME, if it appears, later than our start-time-of-state.
  const clt = w.clientLastTransactionTimeSec;
  const timeTwo = clt !== undefined && clearlyLater(clt, local.fo?.startOfStateSec || local.clttSec);
  if (timeTwo || role === 'secondary') return ACCEPT;
  return {
    accept: false,
    status: { code: FoStatusCode.AddressInUse, message: `bound here to another client (${local.duid}/${local.iaid})` },
  };
}

/**
 * What refusing an update as outdated does to our own lease (§7.5.4): it is
 * flagged for the partner, and sent at once only if it was not flagged
 * already — flagged before, it goes with the next resend, so two partners
 * that cannot agree do not trade updates in a loop. When neither side holds
 * it active (released, expired, abandoned) the partner has no newer binding on
 * its way, and Figure 4 cannot order two such records within 5 s of each
 * other: flagged on both sides they would stay so for good. Ours is cleared
 * then, and sent once more if it was flagged, so that a partner still waiting
 * for our acknowledgement can take it. Neither side holds the resource for a
 * client, so handing it out again is as safe as after an acknowledgement —
 * unless an update of ours for it is still unacknowledged (oursUnacked): the
 * partner wrote the update we are judging before ours reached it, and its
 * record will be ours (active, perhaps) once it does.
 */
export function afterOutdated(
  local: Lease,
  fo: LeaseFailover,
  incoming: IncomingLease,
  oursUnacked = false,
): { change?: LeaseChange; resend: boolean } {
  const flagged = (pending: boolean): LeaseChange => ({ op: 'put', lease: { ...local, fo: { ...fo, pending } } });
  const idle = !oursUnacked && local.state !== 'active' && incoming.wire.status !== BindingStatus.ACTIVE;
  if (idle) return fo.pending ? { change: flagged(false), resend: true } : { resend: false };
  return fo.pending ? { resend: false } : { change: flagged(true), resend: true };
}

/**
 * The change that applying an accepted incoming lease makes to our database.
 * interfaceOf: our own interface on the link of a delegation (the sender's
 * device name means nothing here); a requesting router the partner did not
 * name keeps the one we recorded for this binding, if any.
 */
export function applyIncoming(
  local: Lease | undefined,
  incoming: IncomingLease,
  interfaceOf: (resource: string) => string | undefined = () => undefined,
): LeaseChange {
  const w = incoming.wire;
  const state = STATE_OF[w.status];
  if (!state || FREEING.has(w.status)) return { op: 'delete', resource: incoming.resource };
  const same = local !== undefined && sameBinding(local, incoming);
  const mine = same ? local.fo : undefined;
  // §7.5.5 (Figure 5): CLT_TIME becomes partner-raw-clt-time as it is; our own
  // client-last-transaction-time moves only to a later F_PARTNER_RAW_CLT_TIME (our
  // own time, echoed), so it never holds a time read off the partner's clock.
  const ourCltt = Math.max(same ? local.clttSec : 0, w.partnerRawCltTimeSec ?? 0);
  const partnerRawCltSec = w.clientLastTransactionTimeSec ?? mine?.partnerRawCltSec ?? 0;
  const fo: LeaseFailover = {
    pending: false,
    // §7.5.5 f: F_EXPIRATION_TIME replaces partner-lifetime only if later.
    partnerLifetimeSec: Math.max(mine?.partnerLifetimeSec ?? 0, w.expirationTimeSec ?? 0),
    ackedPartnerLifetimeSec: mine?.ackedPartnerLifetimeSec ?? 0,
    // §7.5.5 b: F_PARTNER_LIFETIME is stored in expiration-time, which §7.3 defines as the greatest we acked.
    expirationTimeSec: Math.max(mine?.expirationTimeSec ?? 0, w.partnerLifetimeSec ?? 0),
    startOfStateSec: w.startTimeOfStateSec,
    ...(partnerRawCltSec > 0 ? { partnerRawCltSec } : {}),
    ...(incoming.kept ? { clientData: incoming.kept } : {}),
  };
  return {
    op: 'put',
    lease: {
      resource: incoming.resource,
      type: incoming.type,
      duid: incoming.duid,
      iaid: incoming.iaid,
      state,
      preferredSec: w.preferredSec,
      validSec: w.validSec,
      clttSec: ourCltt,
      expiresAtSec: w.stateExpirationTimeSec ?? (w.clientLastTransactionTimeSec ?? w.startTimeOfStateSec) + w.validSec,
      fo,
      timers: incoming.timers,
      ...viaOf(incoming, same ? local.via : undefined, interfaceOf),
    },
  };
}

function viaOf(
  incoming: IncomingLease,
  recorded: RequestedVia | undefined,
  interfaceOf: (resource: string) => string | undefined,
): { via?: RequestedVia } {
  if (incoming.type !== 'pd') return {};
  if (!incoming.via) return recorded ? { via: recorded } : {};
  const { address, relay } = incoming.via;
  return { via: { address, interface: interfaceOf(incoming.resource) ?? recorded?.interface ?? '', ...(relay ? { relay } : {}) } };
}

/**
 * The partner lifetime to send for a lease (§4.4: implementation-defined;
 * only the MCLT invariant is mandatory). For an active lease: far enough
 * ahead that the next renewal can be given the desired lifetime in full —
 * the client's last transaction plus 1.5 desired lifetimes; for any other
 * status, the end of that status.
 */
export function partnerLifetimeFor(lease: Lease, desiredValidSec: number): number {
  if (lease.state !== 'active') return lease.expiresAtSec;
  return Math.max(lease.expiresAtSec, lease.clttSec + Math.ceil(1.5 * Math.max(desiredValidSec, lease.validSec)));
}

/** Stamps a local change with what failover must remember about it (§7.3): pending, until the partner acknowledges. */
export function stampLocal(lease: Lease, current: Lease | undefined, desiredValidSec: number, nowSec: number): Lease {
  const same = current !== undefined && sameBinding(current, lease);
  const before = same ? current.fo : undefined;
  const fo: LeaseFailover = {
    pending: true,
    partnerLifetimeSec: partnerLifetimeFor(lease, desiredValidSec),
    ackedPartnerLifetimeSec: before?.ackedPartnerLifetimeSec ?? 0,
    expirationTimeSec: before?.expirationTimeSec ?? 0,
    startOfStateSec: same && current.state === lease.state ? before?.startOfStateSec || lease.clttSec : nowSec,
    ...(before?.partnerRawCltSec ? { partnerRawCltSec: before.partnerRawCltSec } : {}),
    ...(before?.clientData ? { clientData: before.clientData } : {}),
  };
  return { ...lease, fo };
}

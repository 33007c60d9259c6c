// Leases to and from the partner's binding updates (RFC 8156 §7.4, §7.5),
// and whether an incoming update replaces what we hold (§7.5.4, the
// accept/reject table). Pure: time comes in as an argument.

import { BindingStatus, FoStatusCode, type BindingStatusCode, type ClientBindingUpdate, type LeaseState as WireLeaseState, type Status } from '../wire/failover/index.js';
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
    clientLastTransactionTimeSec: Math.min(lease.clttSec, nowSec),
    partnerLifetimeSec: fo?.partnerLifetimeSec || lease.expiresAtSec,
    ...(fo && fo.expirationTimeSec > 0 ? { expirationTimeSec: fo.expirationTimeSec } : {}),
  };
  const times = { preferredSec: lease.preferredSec, validSec: lease.validSec };
  const ia =
    lease.type === 'na'
      ? { type: 'IA_NA' as const, iaid: lease.iaid, t1Sec: 0, t2Sec: 0, leases: [{ address: lease.resource, ...times, ...state }] }
      : {
          type: 'IA_PD' as const,
          iaid: lease.iaid,
          t1Sec: 0,
          t2Sec: 0,
          leases: [{ prefix: lease.resource.slice(0, lease.resource.indexOf('/')), prefixLength: Number(lease.resource.slice(lease.resource.indexOf('/') + 1)), ...times, ...state }],
        };
  // The requesting router goes along, so a partner that takes over can route the prefix at once.
  const via =
    lease.type === 'pd' && lease.via
      ? { vendorOptions: [encodeRequestedVia({ address: lease.via.address, ...(lease.via.relay ? { relay: lease.via.relay } : {}) }, enterpriseNumber)] }
      : {};
  return { form: 'client', clientDuid: Buffer.from(lease.duid, 'hex'), baseTimeSec: nowSec, ...via, ias: [ia] };
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
}

/**
 * The leases of an incoming update. The requesting router is read from our own
 * vendor option (enterpriseNumber); another vendor's is ignored, and ours when
 * it does not parse, told to onViaProblem.
 */
export function incomingLeases(update: ClientBindingUpdate, enterpriseNumber: number, onViaProblem: (problem: string) => void = () => {}): IncomingLease[] {
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
      out.push({ resource, type: ia.type === 'IA_NA' ? 'na' : 'pd', duid, iaid: ia.iaid, wire: l, ...via });
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

const STATUS_NAME: Record<number, string> = Object.fromEntries(Object.entries(BindingStatus).map(([name, code]) => [code, name.toLowerCase().replace('_', '-')]));

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
    theirs: { client: `${incoming.duid}/${incoming.iaid}`, state: STATUS_NAME[w.status] ?? String(w.status), clttSec: w.clientLastTransactionTimeSec ?? w.startTimeOfStateSec, endsSec: w.stateExpirationTimeSec },
  };
}

/**
 * §7.5.4: which time an update is judged by — CLT_TIME for ACTIVE, EXPIRED
 * and RELEASED (start of state if absent), the later of the two otherwise —
 * against our cltt.
 */
function incomingTime(w: WireLeaseState): number {
  const clt = w.clientLastTransactionTimeSec;
  if (w.status === BindingStatus.ACTIVE || w.status === BindingStatus.EXPIRED || w.status === BindingStatus.RELEASED) return clt ?? w.startTimeOfStateSec;
  return Math.max(clt ?? 0, w.startTimeOfStateSec);
}

const SKEW_SEC = 5;

export type Verdict = { readonly accept: true } | { readonly accept: false; readonly status: Status };

const outdated: Verdict = { accept: false, status: { code: FoStatusCode.OutdatedBindingInformation, message: 'our binding is newer' } };

/**
 * The accept/reject table of §7.5.4 (docs/protocol.md §1.16). strict: in
 * POTENTIAL-CONFLICT "later" means later by more than 5 s; in the states
 * where one side leads, an update is accepted unless it is older by more than
 * that (both clocks are trusted to 5 s, §7.1).
 */
export function judge(local: Lease | undefined, incoming: IncomingLease, role: Role, nowSec: number, strict: boolean): Verdict {
  if (!local) return { accept: true };
  const theirs = incomingTime(incoming.wire);
  const ours = local.clttSec || local.fo?.startOfStateSec || 0;
  const newer = strict ? theirs > ours + SKEW_SEC : theirs >= ours - SKEW_SEC;
  const status = incoming.wire.status;
  if (local.state === 'active' && local.expiresAtSec > nowSec) {
    if (status === BindingStatus.ACTIVE) {
      if (sameBinding(local, incoming)) {
        // accept(3), same client — except a copy that would end the lease sooner than ours. The
        // client may hold the longer one: a stale update re-sent after a partition while it
        // renewed here since, or both partners answering one Rebind with different caps (clocks
        // 5 s apart cannot tell which came later). Ended early on both records, the resource
        // would go to another client while it is still in use; ours goes back instead.
        const endsSec = incoming.wire.stateExpirationTimeSec;
        if (endsSec !== undefined && endsSec < local.expiresAtSec) return outdated;
        return { accept: true };
      }
      // accept(3), different client: the later client interaction wins; on a tie the primary's binding does.
      if (theirs > (local.fo?.startOfStateSec || ours) + SKEW_SEC || role === 'secondary') return { accept: true };
      return { accept: false, status: { code: FoStatusCode.AddressInUse, message: `bound here to another client (${local.duid}/${local.iaid})` } };
    }
    // time(1): EXPIRED or FREE for a lease we hold active only once our own state has run out.
    if (status === BindingStatus.EXPIRED || FREEING.has(status)) return local.expiresAtSec <= nowSec ? { accept: true } : outdated;
    if (status === BindingStatus.RELEASED) {
      // accept, made safe: another client's release says nothing about the live binding we
      // hold, and one of this client's must be later than its last renewal here — within the
      // 5 s of clock doubt the lease stays active (held longer, never handed out twice).
      return sameBinding(local, incoming) && theirs > ours + (strict ? SKEW_SEC : 0) ? { accept: true } : outdated;
    }
    return newer ? { accept: true } : outdated;
  }
  return newer ? { accept: true } : outdated;
}

/**
 * The change that applying an accepted incoming lease makes to our database.
 * interfaceOf: our own interface on the link of a delegation (the sender's
 * device name means nothing here); a requesting router the partner did not
 * name keeps the one we recorded for this binding, if any.
 */
export function applyIncoming(local: Lease | undefined, incoming: IncomingLease, interfaceOf: (resource: string) => string | undefined = () => undefined): LeaseChange {
  const w = incoming.wire;
  const state = STATE_OF[w.status];
  if (!state || FREEING.has(w.status)) return { op: 'delete', resource: incoming.resource };
  const cltt = w.clientLastTransactionTimeSec ?? w.startTimeOfStateSec;
  const mine = local && sameBinding(local, incoming) ? local.fo : undefined;
  const fo: LeaseFailover = {
    pending: false,
    partnerLifetimeSec: 0,
    ackedPartnerLifetimeSec: mine?.ackedPartnerLifetimeSec ?? 0,
    // §7.5.5: the partner lifetime received becomes our expiration-time: what we acknowledge to it.
    expirationTimeSec: Math.max(mine?.expirationTimeSec ?? 0, w.partnerLifetimeSec ?? 0),
    startOfStateSec: w.startTimeOfStateSec,
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
      clttSec: cltt,
      expiresAtSec: w.stateExpirationTimeSec ?? cltt + w.validSec,
      fo,
      ...viaOf(incoming, local && sameBinding(local, incoming) ? local.via : undefined, interfaceOf),
    },
  };
}

function viaOf(incoming: IncomingLease, recorded: RequestedVia | undefined, interfaceOf: (resource: string) => string | undefined): { via?: RequestedVia } {
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
  };
  return { ...lease, fo };
}

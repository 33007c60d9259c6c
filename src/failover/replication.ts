// Lazy binding updates (RFC 8156 §4.3, §7.4–§7.8): a lease change is
// committed and answered locally first, stamped "pending"; a BNDUPD follows,
// at most the partner's max-unacked in flight; the partner's BNDREPLY,
// sent only after its own commit, clears the stamp and raises the
// acknowledged partner lifetime the MCLT cap builds on. Pending stamps are on
// disk, so what was not acknowledged before a crash or a cut link is sent
// again. Also the receiving side (accept/reject, commit, then BNDREPLY) and
// the answers to UPDREQ / UPDREQALL (stream, then UPDDONE once all are acked).

import type { Logger } from 'pino';
import type { CommitOrigin, FailoverHost } from '../daemon/host.js';
import type { FailoverConfig } from '../config/types.js';
import type { Lease, LeaseChange } from '../engine/index.js';
import { KEPT_BYTES_MAX } from '../engine/lease.js';
import { addressToBigInt } from '../wire/address.js';
import { bindingReplyFor, FoMsgType, FoStatusCode, type BindingReply, type BindingUpdate, type Status } from '../wire/failover/index.js';
import type { FailoverPdu } from './link.js';
import { storableProblem, writeWhenStoreHasRoom } from '../store/index.js';
import {
  afterOutdated,
  applyIncoming,
  incomingLeases,
  judge,
  sameBinding,
  stampLocal,
  updateFor,
  versions,
  type IncomingLease,
  type Verdict,
} from './bindings.js';
import { allPdPools, interfaceOfPrefix, pdPoolOf } from './ownership.js';

const VSS_REFUSED: Status = { code: FoStatusCode.ConfigurationConflict, message: 'no VPN is configured here (OPTION_VSS)' };
const TA_REFUSED: Status = { code: FoStatusCode.ConfigurationConflict, message: 'temporary addresses (IA_TA) are not leased here' };

export interface ReplicationDeps {
  send(pdu: FailoverPdu): void;
  nextXid(): number;
  /** Whether our state lets us stream updates now (connected, comms OK, a state that sends). */
  canSend(): boolean;
  /** The partner's OPTION_F_MAX_UNACKED_BNDUPD. */
  window(): number;
  /** POTENTIAL-CONFLICT and RESOLUTION-INTERRUPTED: every disagreement is logged as a conflict. */
  strict(): boolean;
  /** Resolves after ms milliseconds (on the endpoint's timers). */
  wait(ms: number): Promise<void>;
}

/** How long a write the store refused as busy waits before it is tried again. */
export const STORE_BUSY_RETRY_MS = 250;

interface Judged {
  readonly local: Lease | undefined;
  readonly inc: IncomingLease;
  readonly verdict: Verdict;
  /** What to commit: the accepted lease, or our own re-flagged for the partner (afterOutdated). */
  readonly changes: readonly LeaseChange[];
  /** Send ours to the partner after the BNDREPLY (§7.5.4: ours is newer). */
  readonly resend: boolean;
}

interface InFlight {
  readonly resource: string;
  readonly sent: Lease;
}

export class Replication {
  /** Resources with an update to send, in the order they changed. */
  private readonly queue = new Set<string>();
  private readonly inflight = new Map<number, InFlight>();
  private readonly inflightResources = new Set<string>();
  /** Counts connections: an answer computed on one is not sent on the next. */
  private connection = 0;
  /** The partner's UPDREQ/UPDREQALL we are answering: UPDDONE goes once every one of these is acknowledged. */
  private served: { readonly xid: number; readonly remaining: Set<string> } | undefined;

  constructor(
    private readonly daemon: FailoverHost,
    private readonly config: FailoverConfig,
    private readonly log: Logger,
    private readonly deps: ReplicationDeps,
  ) {}

  private nowSec(): number {
    return this.daemon.clock.nowSec();
  }

  /** The longest valid lifetime the configuration would give a lease of this type. */
  private desiredValidSec(type: 'na' | 'pd'): number {
    return Math.max(...this.daemon.config.subnets.map((s) => (type === 'na' ? s.lifetimes.validSec : s.pdLifetimes.validSec)));
  }

  /** Daemon commit stamp: every local change is pending until the partner acknowledges it (§7.3). */
  stamp(changes: readonly LeaseChange[]): LeaseChange[] {
    const now = this.nowSec();
    return changes.map((c) =>
      c.op === 'put'
        ? { op: 'put', lease: stampLocal(c.lease, this.daemon.store.byResource(c.lease.resource), this.desiredValidSec(c.lease.type), now) }
        : c,
    );
  }

  /** After a commit: local changes go to the partner. */
  committed(changes: readonly LeaseChange[], origin: CommitOrigin): void {
    if (origin !== 'local') return;
    for (const c of changes) {
      if (c.op !== 'put') continue;
      this.queue.add(c.lease.resource);
      // A change made while we answer an UPDREQ joins the answer: UPDDONE says "you know all I
      // did" (§5.3.5, §5.3.7). Otherwise a lease granted in PARTNER-DOWN after the request (from
      // the partner's pool, §8.4.1) could still be on its way when the partner, past RECOVER,
      // allocates the same prefix in NORMAL (found by the simulation, seed 442182161220).
      this.served?.remaining.add(c.lease.resource);
    }
    this.pump();
  }

  resendUnacked(): void {
    for (const l of this.daemon.store.all()) if (l.fo?.pending) this.queue.add(l.resource);
    this.pump();
  }

  unackedCount(): number {
    let n = 0;
    for (const l of this.daemon.store.all()) if (l.fo?.pending) n++;
    return n;
  }

  /** Whether a BNDUPD of ours with this transaction-id waits for its BNDREPLY. */
  awaitsReply(xid: number): boolean {
    return this.inflight.has(xid);
  }

  inFlightCount(): number {
    return this.inflight.size;
  }

  linkDown(): void {
    this.connection++;
    for (const f of this.inflight.values()) this.queue.add(f.resource);
    this.inflight.clear();
    this.inflightResources.clear();
    this.served = undefined;
  }

  /** Sends queued updates while the partner's window has room (§6.1: never more than its max-unacked). */
  pump(): void {
    if (!this.deps.canSend() && this.served === undefined) return;
    const window = this.deps.window();
    if (window <= 0) return;
    const now = this.nowSec();
    for (const resource of this.queue) {
      if (this.inflight.size >= window) break;
      if (this.inflightResources.has(resource)) continue; // one at a time per lease: the newer goes after the ack
      this.queue.delete(resource);
      const lease = this.daemon.store.byResource(resource);
      if (!lease) {
        this.settled(resource);
        continue;
      }
      const xid = this.deps.nextXid();
      this.inflight.set(xid, { resource, sent: lease });
      this.inflightResources.add(resource);
      this.deps.send({
        type: FoMsgType.BNDUPD,
        transactionId: xid,
        sentTimeSec: now,
        content: updateFor(lease, now, this.config.vendorEnterpriseNumber),
      });
      this.daemon.counters.add('failover.bndupd.sent');
    }
  }

  private settled(resource: string): void {
    const served = this.served;
    if (!served) return;
    served.remaining.delete(resource);
    if (served.remaining.size === 0) {
      this.served = undefined;
      this.deps.send({ type: FoMsgType.UPDDONE, transactionId: served.xid, sentTimeSec: this.nowSec(), content: {} });
      this.log.info('answered the partner update request: UPDDONE');
    }
  }

  /** §7.7: record what the partner acknowledged. */
  async onReply(xid: number, reply: BindingReply): Promise<void> {
    const f = this.inflight.get(xid);
    if (!f) {
      this.log.debug({ xid }, 'BNDREPLY for no outstanding BNDUPD');
      return;
    }
    this.inflight.delete(xid);
    this.inflightResources.delete(f.resource);
    const ack = reply.form === 'client' ? reply.ias[0]?.leases[0] : reply.form === 'prefix' ? reply : undefined;
    // §7.6, §7.7: an error on the CLIENT_DATA rejects everything in it, one on an IA all its
    // leases; only then does the lease's own Status Code count.
    const levels =
      reply.form === 'client' ? [reply.status, reply.ias[0]?.status, ack?.status] : [reply.form === 'bare' ? reply.status : ack?.status];
    const status: Status | undefined =
      levels.find((s) => s !== undefined && s.code !== FoStatusCode.Success) ?? levels.find((s) => s !== undefined);
    const rejected = status !== undefined && status.code !== FoStatusCode.Success;
    if (rejected) {
      this.daemon.counters.add(`failover.bndupd.rejected.${status.code}`);
      this.log.warn({ code: 'FAILOVER_BNDUPD_REJECTED', resource: f.resource, status }, 'partner rejected a binding update');
    }
    // Built from the lease as it is when the store takes the write: it may change while the disk is behind.
    const recorded = (): LeaseChange[] => {
      const current = this.daemon.store.byResource(f.resource);
      if (!current?.fo || !sameBinding(current, f.sent)) return [];
      const unchanged =
        current.clttSec === f.sent.clttSec && current.state === f.sent.state && current.expiresAtSec === f.sent.expiresAtSec;
      if (rejected) {
        // §7.7: a rejection is recorded, nothing more; re-sending the same data would only repeat it.
        // But a release or expiry the partner refused stays pending: it holds a newer binding
        // (on its way to us, §7.5.4), and until that arrives the resource must not go to
        // another client (§7.4) nor be forgotten.
        return unchanged && current.state === 'active' ? [{ op: 'put', lease: { ...current, fo: { ...current.fo, pending: false } } }] : [];
      }
      const acked = Math.max(current.fo.ackedPartnerLifetimeSec, ack?.partnerLifetimeSentSec ?? f.sent.fo?.partnerLifetimeSec ?? 0);
      return [
        {
          op: 'put',
          lease: { ...current, fo: { ...current.fo, ackedPartnerLifetimeSec: acked, pending: unchanged ? false : current.fo.pending } },
        },
      ];
    };
    if (!(await this.commitWhenStoreHasRoom(() => this.daemon.commit(recorded(), 'failover'), 'ack'))) return;
    this.settled(f.resource);
    this.pump();
  }

  /**
   * A store that is behind its disk ('busy') is waited for and write() run
   * again; only a real write failure stops the daemon. False when it did.
   */
  private async commitWhenStoreHasRoom(write: () => Promise<void>, what: string): Promise<boolean> {
    try {
      await writeWhenStoreHasRoom(
        write,
        () => this.deps.wait(STORE_BUSY_RETRY_MS),
        () => this.daemon.counters.add(`deferred.store-busy.${what}`),
      );
      return true;
    } catch (e) {
      this.daemon.storeFailed(e);
      return false;
    }
  }

  private viaUnreadable(problem: string): void {
    this.daemon.counters.add('failover.bndupd.via-unreadable');
    this.log.warn(
      { code: 'FAILOVER_BNDUPD_VIA_UNREADABLE', problem, vendorEnterpriseNumber: this.config.vendorEnterpriseNumber },
      'requesting router in a partner binding update unreadable; does the partner use the same vendorEnterpriseNumber?',
    );
  }

  /** Is this lease one our configuration serves at all? Otherwise ConfigurationConflict (§7.5.4). */
  private configured(l: IncomingLease): boolean {
    if (this.daemon.engine.plan.reservedBy.has(l.resource)) return true;
    if (l.type === 'pd') return pdPoolOf(l.resource, allPdPools(this.daemon.config)) !== undefined;
    const a = addressToBigInt(l.resource);
    return this.daemon.config.subnets.some((s) => s.pools.some((p) => a >= p.first && a <= p.last));
  }

  /**
   * §7.5: judge each lease, commit what we accept, and only then answer (§7.6:
   * the ack means "on stable storage"). While the store is busy the update is
   * neither acknowledged (§7.5.2: not before the database is updated) nor
   * rejected (§7.7: the partner only remembers a rejection and drops the
   * update, and no status of §5.6 means "try again"): it is judged and
   * committed again once the disk has room, and meanwhile it holds a place in
   * the partner's window of unacknowledged updates (§5.5.5), which slows the
   * partner down.
   */
  async onUpdate(xid: number, update: BindingUpdate): Promise<void> {
    this.daemon.counters.add('failover.bndupd.received');
    const connection = this.connection;
    // §7.5.4: a VPN we do not have rejects the whole CLIENT_DATA/IAPREFIX, and we configure none
    // (RFC 6607 is not supported); the reply still carries the OPTION_VSS back (§7.6).
    const whole: Status | undefined = update.vss ? VSS_REFUSED : undefined;
    let judged: Judged[] = [];
    const commit = () => {
      judged = whole ? [] : this.judgeUpdate(update);
      return this.daemon.commit(
        judged.flatMap((j) => j.changes),
        'partner',
      );
    };
    if (!(await this.commitWhenStoreHasRoom(commit, 'bndupd'))) return;
    const verdicts = new Map<string, Verdict>();
    const resend: string[] = [];
    for (const { local, inc, verdict, resend: again } of judged) {
      verdicts.set(inc.resource, verdict);
      if (!verdict.accept) this.daemon.counters.add(`failover.bndupd.refused.${verdict.status.code}`);
      if (again && local) resend.push(local.resource);
      this.logConflict(local, inc, verdict);
    }
    // A reply belongs to the connection the update came on: on a later one its xid could name another message.
    if (connection !== this.connection) return;
    const reply = bindingReplyFor(
      update,
      (l, ia) => {
        // Stored nowhere, so never acknowledged: we lease no temporary addresses (§7.5.4).
        if (ia?.type === 'IA_TA') return TA_REFUSED;
        const resource = 'address' in l ? l.address : `${l.prefix}/${l.prefixLength}`;
        const v = verdicts.get(resource);
        return v && !v.accept ? v.status : undefined;
      },
      whole,
    );
    this.deps.send({ type: FoMsgType.BNDREPLY, transactionId: xid, sentTimeSec: this.nowSec(), content: reply });
    // §7.5.4: the BNDREPLY first, then ours.
    for (const r of resend) this.queue.add(r);
    this.pump();
  }

  /**
   * Each lease of an update judged against what the store holds now, with the
   * changes to commit. An accepted lease our record format cannot hold (a
   * prefix with bits past its length, an over-long DUID) is refused as not in
   * our configuration: nothing the partner sends may reach a store assertion.
   */
  private judgeUpdate(update: BindingUpdate): Judged[] {
    if (update.form !== 'client') return [];
    const now = this.nowSec();
    return incomingLeases(update, this.config.vendorEnterpriseNumber, (problem) => this.viaUnreadable(problem)).map((inc): Judged => {
      const local = this.daemon.store.byResource(inc.resource);
      let verdict: Verdict = !this.configured(inc)
        ? { accept: false, status: { code: FoStatusCode.ConfigurationConflict, message: `${inc.resource} is not in our configuration` } }
        : (inc.kept?.length ?? 0) > KEPT_BYTES_MAX
          ? // Kept whole or refused: acknowledged, it would be sent back cut short.
            {
              accept: false,
              status: {
                code: FoStatusCode.ConfigurationConflict,
                message: `${inc.kept!.length} octets of client data; ${KEPT_BYTES_MAX} are kept here`,
              },
            }
          : judge(local, inc, this.config.role, now, { keepLongerLease: this.config.keepLongerLease === true });
      if (verdict.accept) {
        const change = applyIncoming(local, inc, (r) => interfaceOfPrefix(r, this.daemon.config));
        const problem = change.op === 'put' ? storableProblem(change.lease) : undefined;
        if (problem === undefined) return { local, inc, verdict, changes: [change], resend: false };
        verdict = { accept: false, status: { code: FoStatusCode.ConfigurationConflict, message: `cannot be stored here: ${problem}` } };
      }
      if (local?.fo && verdict.status.code === FoStatusCode.OutdatedBindingInformation) {
        const outcome = afterOutdated(local, local.fo, inc, this.inflightResources.has(inc.resource));
        return { local, inc, verdict, changes: outcome.change ? [outcome.change] : [], resend: outcome.resend };
      }
      return { local, inc, verdict, changes: [], resend: false };
    });
  }

  /**
   * A conflict is two versions that disagree where it matters: another client
   * for the resource, an update we refuse, or any disagreement while the
   * databases are reconciled (POTENTIAL-CONFLICT). Both go to the log side by
   * side with what was kept. A release or expiry arriving in NORMAL is news,
   * not a conflict.
   */
  private logConflict(local: Lease | undefined, inc: IncomingLease, verdict: Verdict): void {
    const both = versions(local, inc);
    if (!both) {
      // Same client, same state: only the times differ (ours runs longer).
      if (!verdict.accept)
        this.log.info(
          {
            resource: inc.resource,
            status: verdict.status,
            oursEndsSec: local?.expiresAtSec,
            theirsEndsSec: inc.wire.stateExpirationTimeSec,
          },
          'refused a partner binding update',
        );
      return;
    }
    if (!(both.ours.client !== both.theirs.client || !verdict.accept || this.deps.strict())) return;
    this.daemon.counters.add('failover.conflicts');
    this.log.warn(
      {
        code: 'FAILOVER_BINDING_CONFLICT',
        resource: inc.resource,
        ours: both.ours,
        theirs: both.theirs,
        kept: verdict.accept ? 'theirs' : 'ours',
        ...(verdict.accept ? {} : { status: verdict.status }),
      },
      'binding conflict resolved',
    );
  }

  /** §8.5.2: UPDREQ — everything not yet acknowledged; UPDREQALL — the whole database. */
  onRequest(xid: number, all: boolean): void {
    const resources: string[] = [];
    for (const l of this.daemon.store.all()) if (all || l.fo?.pending) resources.push(l.resource);
    // In-flight ones are re-sent as well: their BNDREPLY may be lost with an earlier connection.
    this.served = { xid, remaining: new Set(resources) };
    for (const r of resources) this.queue.add(r);
    this.log.info({ all, leases: resources.length }, 'partner asked for updates');
    if (resources.length === 0) {
      this.served = undefined;
      this.deps.send({ type: FoMsgType.UPDDONE, transactionId: xid, sentTimeSec: this.nowSec(), content: {} });
      return;
    }
    this.pump();
  }
}

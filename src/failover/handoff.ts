// Prefix hand-off (RFC 8156 §4.2.2): the primary moves free delegable
// prefixes to the secondary with top-level IAPREFIX BNDUPDs in FREE-BACKUP
// (§7.4, second form) until the secondary holds `secondaryPdShare` of the
// free ones, and takes surplus back with FREE; the secondary keeps what it is
// given and refuses a take-back of a prefix it has delegated. Both sides
// record the set in backup-prefixes.ts before they send or acknowledge, so
// after a restart neither uses what the other may own.
//
// The primary balances on POOLREQ (§4.2.2 SHOULD, §5.3.3) and, past a
// threshold, on its tick (§4.2.2: "whenever the number ... changes by more
// than a predetermined amount"). One pass queues at most BATCH prefixes per
// pool; the next pass starts when the partner has acknowledged them, so a
// 65,536-prefix pool is handed off in steps and never floods the link
// beyond the partner's window of unacknowledged BNDUPDs (§6.1, shared with
// lease replication).

import type { Logger } from 'pino';
import type { FailoverHost } from '../daemon/host.js';
import type { FailoverConfig } from '../config/types.js';
import type { LeaseChange } from '../engine/index.js';
import { prefixPoolSize } from '../engine/plan.js';
import {
  BindingStatus,
  bindingReplyFor,
  FoMsgType,
  FoStatusCode,
  type BindingReply,
  type PoolPrefixUpdate,
  type Status,
} from '../wire/failover/index.js';
import type { FailoverPdu } from './link.js';
import { writeWhenStoreHasRoom } from '../store/index.js';
import type { BackupPrefixes } from './backup-prefixes.js';
import { allPdPools, pdPoolOf } from './ownership.js';

/** Prefixes one balancing pass queues per pool. */
export const BATCH = 256;
/** The primary rebalances on its own only once the secondary's holding is off by this part of its target, and by 2 at least (§4.2.2 threshold SHOULD). */
const REBALANCE_FRACTION = 0.1;

export interface HandoffDeps {
  send(pdu: FailoverPdu): void;
  nextXid(): number;
  /** Whether we may send binding updates now. */
  canSend(): boolean;
  /** What is left of the partner's window of unacknowledged BNDUPDs after lease replication's. */
  window(): number;
  wait(ms: number): Promise<void>;
  /** How long a write the store refused as busy waits before it is tried again. */
  readonly retryMs: number;
}

type Move = typeof BindingStatus.FREE_BACKUP | typeof BindingStatus.FREE;

export class PrefixHandoff {
  /** Prefixes to send, with the status each goes with. */
  private readonly queue = new Map<string, Move>();
  private readonly inflight = new Map<number, { resource: string; status: Move }>();
  /** A pass queued something: another follows once all of it is acknowledged. */
  private continuing = false;
  /**
   * Whether the set was announced to the partner since we started: a FREE-BACKUP sent before a
   * restart may never have reached it, and sending it again is harmless (§7.5.4: accepted, or
   * refused by a secondary that has leased it).
   */
  private announced = false;

  constructor(
    private readonly daemon: FailoverHost,
    private readonly config: FailoverConfig,
    private readonly log: Logger,
    private readonly backup: BackupPrefixes,
    private readonly deps: HandoffDeps,
  ) {}

  awaitsReply(xid: number): boolean {
    return this.inflight.has(xid);
  }

  inFlightCount(): number {
    return this.inflight.size;
  }

  /** Prefixes the secondary owns now (§4.2.2), as this side knows them. */
  count(): number {
    return allPdPools(this.daemon.config).reduce((n, p) => n + (this.backup.members(p)?.length ?? 0), 0);
  }

  /**
   * Primary: the secondary may have lost the prefixes we gave it — it dropped them on our
   * PARTNER-DOWN, or lost its database (UPDREQALL) — so the whole set goes again.
   */
  reannounce(): void {
    if (this.config.role === 'primary') this.announced = false;
  }

  /**
   * Secondary: the primary is in PARTNER-DOWN, where it may use our prefixes after the MCLT
   * (§4.2.2, §4.2.2.1) and will not tell us when a lease on one ends. None is surely ours any
   * more: the primary hands them again once the pair is in NORMAL.
   */
  primaryPartnerDown(): void {
    if (this.config.role !== 'secondary' || !this.backup.clear()) return;
    this.log.warn(
      { code: 'FAILOVER_PD_PREFIXES_RETURNED' },
      'the primary is in PARTNER-DOWN: our delegable prefixes are its again until it hands them back',
    );
    void this.persist();
  }

  linkDown(): void {
    for (const f of this.inflight.values()) this.queue.set(f.resource, f.status);
    this.inflight.clear();
  }

  /**
   * A prefix leased to a client, here or by the partner: it belongs to neither server now, and
   * to the primary once free (§4.2.2). Only an active lease moves it: a released or expired
   * record says nothing new about ownership (the active one before it already did), and a
   * partner's late copy of one — resent on UPDREQ after the primary had reclaimed the prefix
   * and handed it back as FREE-BACKUP — must not take it out of the set the secondary holds.
   */
  committed(changes: readonly LeaseChange[]): void {
    let changed = false;
    for (const c of changes) {
      if (c.op === 'put' && c.lease.type === 'pd' && c.lease.state === 'active' && this.backup.delete(c.lease.resource)) changed = true;
    }
    if (changed) void this.persist();
  }

  /** Makes the set durable; false when the store failed (the daemon stops). */
  private async persist(): Promise<boolean> {
    const store = this.daemon.store;
    try {
      await this.backup.flush((name, bytes) =>
        writeWhenStoreHasRoom(
          () => store.putMeta(name, bytes),
          () => this.deps.wait(this.deps.retryMs),
          () => this.daemon.counters.add('deferred.store-busy.pd-backup'),
        ),
      );
      return true;
    } catch (e) {
      this.daemon.storeFailed(e);
      return false;
    }
  }

  // ---- primary ----------------------------------------------------------

  /** §5.3.4: POOLRESP says the task is taken, not that it is done; the BNDUPDs follow. */
  onPoolRequest(xid: number): void {
    this.deps.send({ type: FoMsgType.POOLRESP, transactionId: xid, sentTimeSec: this.daemon.clock.nowSec(), content: {} });
    if (this.config.role !== 'primary') return;
    this.daemon.counters.add('failover.poolreq.received');
    void this.balance('poolreq');
  }

  /** Brings the secondary's holding to its share of each pool's free prefixes, one bounded pass at a time. */
  async balance(why: 'poolreq' | 'tick' | 'continue'): Promise<void> {
    if (this.config.role !== 'primary') return;
    if (!this.deps.canSend() || this.queue.size > 0 || this.inflight.size > 0) {
      // A pass is under way; an explicit request is served by the pass after it.
      if (why === 'poolreq') this.continuing = true;
      return;
    }
    this.continuing = false;
    const pools = allPdPools(this.daemon.config);
    if (!this.announced) {
      this.announced = true;
      for (const p of pools) for (const r of this.backup.members(p) ?? []) this.queue.set(r, BindingStatus.FREE_BACKUP);
    }
    const held = new Map<string, number>();
    for (const l of this.daemon.store.all()) {
      if (l.type !== 'pd') continue;
      const pool = pdPoolOf(l.resource, pools);
      if (pool) held.set(poolKey(pool), (held.get(poolKey(pool)) ?? 0) + 1);
    }
    let given = 0;
    let asked = 0;
    for (const pool of pools) {
      const set = this.backup.setOf(pool)!;
      const size = prefixPoolSize(pool);
      const free = Number(size > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : size) - (held.get(poolKey(pool)) ?? 0);
      const target = Math.min(Math.round(this.config.secondaryPdShare * free), set.span);
      const need = target - set.members.length;
      // An explicit request is met to the last prefix; otherwise small drifts are let be, so that
      // every lease granted or ended does not move a prefix back and forth.
      const threshold = Math.max(2, Math.ceil(target * REBALANCE_FRACTION));
      if (need >= (why === 'tick' ? threshold : 1)) given += this.giveOut(set, Math.min(need, BATCH));
      else if (-need >= threshold) asked += this.takeBack(set.members, Math.min(-need, BATCH));
    }
    if (given + asked === 0 && this.queue.size === 0) return;
    this.continuing = given + asked > 0;
    this.log.info(
      { why, handedOff: given, takingBack: asked, secondaryHolds: this.count() },
      'balancing delegable prefixes with the secondary (§4.2.2)',
    );
    // §4.2.2: "once the message is sent, the primary MUST NOT use these prefixes" — and not after a restart either.
    if (given > 0 && !(await this.persist())) return;
    this.pump();
  }

  /** Free prefixes of the pool, from its end (the engine's probes start anywhere; this keeps the two apart), into the set. */
  private giveOut(set: NonNullable<ReturnType<BackupPrefixes['setOf']>>, n: number): number {
    let given = 0;
    for (let i = set.span - 1; i >= 0 && given < n; i--) {
      if (set.has(i)) continue;
      const r = set.resourceAt(i);
      if (this.daemon.store.byResource(r) || this.daemon.engine.plan.reservedBy.has(r)) continue;
      this.backup.add(r);
      this.queue.set(r, BindingStatus.FREE_BACKUP);
      given++;
    }
    return given;
  }

  /** §4.2.2: the primary "can attempt to take an available delegable prefix away ... with the state FREE"; it stays the secondary's until accepted. */
  private takeBack(members: readonly string[], n: number): number {
    let asked = 0;
    for (let i = members.length - 1; i >= 0 && asked < n; i--) {
      const r = members[i]!;
      // One with a lease just recorded leaves the set as the commit completes: not ours to ask for.
      if (this.queue.has(r) || this.daemon.store.byResource(r)) continue;
      this.queue.set(r, BindingStatus.FREE);
      asked++;
    }
    return asked;
  }

  pump(): void {
    if (!this.deps.canSend()) return;
    const now = this.daemon.clock.nowSec();
    for (const [resource, status] of this.queue) {
      if (this.inflight.size >= this.deps.window()) break;
      this.queue.delete(resource);
      // What was queued may have been leased (or returned) since: only a prefix still in the set moves.
      if (!this.backup.has(resource) || this.daemon.store.byResource(resource)) continue;
      const slash = resource.indexOf('/');
      const xid = this.deps.nextXid();
      this.inflight.set(xid, { resource, status });
      const update: PoolPrefixUpdate = {
        form: 'prefix',
        prefix: resource.slice(0, slash),
        prefixLength: Number(resource.slice(slash + 1)),
        preferredSec: 0,
        validSec: 0,
        baseTimeSec: now,
        status,
        startTimeOfStateSec: now,
      };
      this.deps.send({ type: FoMsgType.BNDUPD, transactionId: xid, sentTimeSec: now, content: update });
      this.daemon.counters.add('failover.bndupd.sent');
    }
    // The next pass in a later job: a pass whose every prefix was skipped here must not recurse.
    if (this.queue.size === 0 && this.inflight.size === 0 && this.continuing) {
      this.continuing = false;
      void Promise.resolve().then(() => this.balance('continue'));
    }
  }

  async onReply(xid: number, reply: BindingReply): Promise<void> {
    const f = this.inflight.get(xid);
    if (!f) return;
    this.inflight.delete(xid);
    const status: Status | undefined = reply.form === 'client' ? (reply.ias[0]?.leases[0]?.status ?? reply.status) : reply.status;
    if (status !== undefined && status.code !== FoStatusCode.Success) {
      // Refused: the secondary holds a binding for it, which is on its way to us. The prefix stays
      // out of our own allocation meanwhile; the binding, once here, takes it out of the set.
      this.daemon.counters.add(`failover.bndupd.rejected.${status.code}`);
      this.log.warn(
        { code: 'FAILOVER_PD_MOVE_REFUSED', resource: f.resource, status, sent: f.status === BindingStatus.FREE ? 'FREE' : 'FREE-BACKUP' },
        'partner refused a delegable prefix move',
      );
    } else if (f.status === BindingStatus.FREE) {
      if (this.backup.delete(f.resource) && !(await this.persist())) return;
      this.daemon.counters.add('failover.pd.taken-back');
    } else {
      this.daemon.counters.add('failover.pd.handed-off');
    }
    this.pump();
  }

  // ---- either side: a BNDUPD for a delegable prefix (§7.4, second form) ----

  async onUpdate(xid: number, update: PoolPrefixUpdate): Promise<void> {
    this.daemon.counters.add('failover.bndupd.received');
    const resource = `${update.prefix}/${update.prefixLength}`;
    const verdict = this.judge(resource, update.status);
    if (verdict === undefined && !(await this.persist())) return;
    if (verdict) {
      this.daemon.counters.add(`failover.bndupd.refused.${verdict.code}`);
      this.log.info({ resource, status: verdict }, 'refused a delegable prefix move');
    }
    this.deps.send({
      type: FoMsgType.BNDREPLY,
      transactionId: xid,
      sentTimeSec: this.daemon.clock.nowSec(),
      content: bindingReplyFor(update, () => verdict),
    });
  }

  /** Applies an accepted move to the set (undefined), or says why not. */
  private judge(resource: string, status: number): Status | undefined {
    if (!pdPoolOf(resource, allPdPools(this.daemon.config)))
      return { code: FoStatusCode.ConfigurationConflict, message: `${resource} is not a delegable prefix of our configuration` };
    const lease = this.daemon.store.byResource(resource);
    if (status === BindingStatus.FREE_BACKUP) {
      // The primary hands off only prefixes it holds no binding for: one we hold is newer news (§7.5.4).
      if (lease) return { code: FoStatusCode.OutdatedBindingInformation, message: `${resource} has a binding here (${lease.state})` };
      if (!this.backup.add(resource) && !this.backup.has(resource)) {
        return { code: FoStatusCode.ConfigurationConflict, message: `${resource} lies past the part of its pool we hand off` };
      }
      return undefined;
    }
    if (status === BindingStatus.FREE || status === BindingStatus.PENDING_FREE || status === BindingStatus.RESET) {
      // §4.2.2: the secondary "MUST reject that BNDUPD message if it has already allocated that lease".
      if (lease) return { code: FoStatusCode.AddressInUse, message: `${resource} is delegated here (${lease.state})` };
      this.backup.delete(resource);
      return undefined;
    }
    return {
      code: FoStatusCode.MissingBindingInformation,
      message: 'a delegable prefix without a client is only ever FREE or FREE-BACKUP',
    };
  }
}

const poolKey = (p: { prefix: bigint; prefixLength: number; delegatedLength: number }): string =>
  `${p.prefix}/${p.prefixLength}/${p.delegatedLength}`;

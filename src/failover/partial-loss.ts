// Partial communication loss (RFC 7031 §4.7): the partner link is fine but
// one server no longer reaches the clients. Two ways it shows, and the one
// answer to both — hold the partner link down, so both partners find
// communications interrupted and the one that still reaches the clients
// serves them all (RFC 8156 §8.9.1):
//   - our own client-facing interfaces are all down: we step back ourselves
//     for as long as that lasts ('lan-down');
//   - secondary, both partners in NORMAL: clients the primary should answer go
//     on retransmitting while it serves nobody ('partner-not-serving', for
//     UNSERVED_RULE.holdMs). The rule, and why each part of it, is in
//     unserved.ts; this is its wiring: what the secondary hears, its timers,
//     and the hold. docs/protocol.md §1.17.

import type { Logger } from 'pino';
import { readFileSync } from 'node:fs';
import type { TimerHandle, Timers } from './host.js';
import type { CommitOrigin, FailoverHost } from '../daemon/host.js';
import type { Role } from './states.js';
import type { HoldReason } from './partner-connection.js';
import { UnservedDetector, type Waiting } from './unserved.js';
import type { LeaseChange } from '../engine/index.js';
import type { ClientServerMessage } from '../wire/types.js';
import { findOption } from '../wire/find.js';
import { duidToHex } from '../wire/duid.js';
import { msgTypeName } from '../wire/constants.js';

/** How often our own client-facing interfaces are looked at. */
const LAN_CHECK_MS = 1000;
/** A binding update about a client served this recently (its OPTION_F_PARTNER_RAW_CLT_TIME, RFC 8156 §5.5.10; clocks within 5 s) shows the primary serving. */
const PARTNER_SERVED_RECENT_SEC = 30;

/** Whether any of these interfaces is up; the real one reads their operstate in /sys. */
export type LanUp = (interfaces: readonly string[]) => boolean;

export function anyInterfaceUp(interfaces: readonly string[]): boolean {
  return interfaces.some((ifname) => {
    try {
      const state = readFileSync(`/sys/class/net/${ifname}/operstate`, 'utf8').trim();
      return state === 'up' || state === 'unknown'; // "unknown": drivers that do not report carrier
    } catch {
      return false;
    }
  });
}

export interface PartialLossDeps {
  /** Both partners in NORMAL: the one time the primary alone answers the clients (RFC 8156 §8.8.1). */
  pairInNormal(): boolean;
  /** Why the partner link is held down now (partner-connection.ts). */
  held(): ReadonlySet<HoldReason>;
  /** Holds the partner link down for this reason, or lets go of it. */
  hold(reason: HoldReason, on: boolean): void;
}

export class PartialLoss {
  private lanTimer: TimerHandle | undefined;
  private holdTimer: TimerHandle | undefined;
  private readonly decideTimers = new Set<TimerHandle>();
  /** Secondary: clients left waiting by the primary. */
  private readonly unserved = new UnservedDetector();

  constructor(
    private readonly daemon: FailoverHost,
    private readonly role: Role,
    private readonly log: Logger,
    private readonly scheduler: Timers,
    private readonly lanUp: LanUp,
    private readonly deps: PartialLossDeps,
  ) {}

  /** Starts listening to the packet path and the commits, and looking at the LAN. */
  start(): void {
    this.daemon.on('unanswered', (m) => this.noteUnanswered(m));
    this.daemon.on('leases-committed', (changes, origin) => this.notePartnerServed(changes, origin));
    this.lanTimer = this.scheduler.repeat(() => this.checkLan(), LAN_CHECK_MS);
  }

  /** A state transition: whatever was watched was watched under another state. */
  reset(): void {
    this.unserved.reset();
  }

  stop(): void {
    this.scheduler.clear(this.lanTimer);
    this.scheduler.clear(this.holdTimer);
    for (const t of this.decideTimers) this.scheduler.clear(t);
  }

  /**
   * An appliance whose client-facing interfaces are all down steps back — it
   * drops the partner link, so the partner finds communications interrupted
   * and becomes responsive — and comes back when they are up again.
   */
  private checkLan(): void {
    const up = this.lanUp(this.daemon.config.interfaces);
    if (!up && !this.deps.held().has('lan-down')) {
      this.daemon.counters.add('failover.alarms.lan-down');
      this.log.error(
        { code: 'FAILOVER_LAN_DOWN', interfaces: this.daemon.config.interfaces },
        'every client-facing interface is down: stepping back so the partner serves',
      );
    }
    this.deps.hold('lan-down', !up);
  }

  /**
   * Secondary, both partners in NORMAL: the client messages we leave to the
   * primary tell whether it answers them. When it does not, we drop the link
   * for a while: both partners find communications interrupted, and we serve.
   */
  private noteUnanswered(m: ClientServerMessage): void {
    if (!this.watching()) return;
    const client = findOption(m.options, 'CLIENTID');
    if (!client) return;
    const duid = duidToHex(client.duid);
    const v = this.unserved.observe({
      atMs: this.scheduler.nowMs(),
      duid,
      type: m.type,
      xid: m.transactionId,
      elapsedCs: findOption(m.options, 'ELAPSED_TIME')?.elapsedCs ?? 0,
      known: this.knownClient(duid, m),
    });
    if (v.kind === 'watching' && v.client.transmissions > 1) this.log.debug(waitingLog(v.client), 'client retransmitting to the primary');
    if (v.kind !== 'suspect') return;
    this.log.info(waitingLog(v.client), 'a client is waiting for the primary: unserved unless the primary serves someone meanwhile');
    const t = this.scheduler.set(
      () => {
        this.decideTimers.delete(t);
        this.decide();
      },
      Math.max(0, v.decideAtMs - this.scheduler.nowMs()),
    );
    this.decideTimers.add(t);
  }

  /** Only the secondary watches, only while the primary alone answers, and not while the link is held down anyway. */
  private watching(): boolean {
    return this.role === 'secondary' && this.deps.pairInNormal() && this.deps.held().size === 0;
  }

  private decide(): void {
    if (!this.watching()) return;
    const d = this.unserved.decide(this.scheduler.nowMs());
    if (d.kind === 'none') return;
    this.daemon.counters.add('failover.unserved-clients', d.fresh.length);
    if (d.kind === 'unserved') {
      this.log.warn(
        { code: 'FAILOVER_CLIENTS_UNANSWERED', clients: d.fresh.map(waitingLog), unserved: d.count, needed: this.unserved.rule.clientsMin },
        'clients left unanswered by the primary',
      );
      return;
    }
    const { rule } = this.unserved;
    this.daemon.counters.add('failover.alarms.partner-not-serving');
    this.log.error(
      {
        code: 'FAILOVER_PRIMARY_NOT_SERVING',
        clients: d.clients.map(waitingLog),
        rule: {
          waitedSecMin: rule.watchedMsMin / 1000,
          elapsedSecMin: rule.elapsedCsMin / 100,
          thenNobodyServedSec: rule.confirmMs / 1000,
          clientsMin: rule.clientsMin,
        },
        holdSec: rule.holdMs / 1000,
      },
      'the primary leaves clients unanswered: taking over (partner link held down)',
    );
    this.deps.hold('partner-not-serving', true);
    this.scheduler.clear(this.holdTimer);
    this.holdTimer = this.scheduler.set(() => this.deps.hold('partner-not-serving', false), rule.holdMs);
  }

  /**
   * A binding update from the primary for an active lease it has just granted
   * or extended (client last transaction time within PARTNER_SERVED_RECENT_SEC):
   * it reaches its clients, whatever some of them say (unserved.ts).
   */
  private notePartnerServed(changes: readonly LeaseChange[], origin: CommitOrigin): void {
    if (origin !== 'partner' || this.role !== 'secondary') return;
    const recentSec = this.daemon.clock.nowSec() - PARTNER_SERVED_RECENT_SEC;
    // The primary's CLT is kept as partner-raw-clt-time (RFC 8156 §7.5.5); our clttSec is only ours.
    if (changes.some((c) => c.op === 'put' && c.lease.state === 'active' && (c.lease.fo?.partnerRawCltSec ?? 0) >= recentSec))
      this.unserved.primaryServed(this.scheduler.nowMs());
  }

  /** Whether we hold an active lease for one of the IAs in the message: a client the primary must answer. */
  private knownClient(duid: string, m: ClientServerMessage): boolean {
    const nowSec = this.daemon.clock.nowSec();
    return m.options.some((o) => {
      if (o.kind !== 'IA_NA' && o.kind !== 'IA_PD') return false;
      return this.daemon.store
        .byIa(duid, o.iaid, o.kind === 'IA_NA' ? 'na' : 'pd')
        .some((l) => l.state === 'active' && l.expiresAtSec > nowSec);
    });
  }
}

/** A waiting client, for the logs. */
function waitingLog(c: Waiting): Record<string, unknown> {
  return {
    duid: c.duid,
    msg: msgTypeName(c.type),
    xid: c.xid,
    transmissions: c.transmissions,
    elapsedSec: c.elapsedCs / 100,
    watchedSec: Math.round(c.watchedMs) / 1000,
  };
}

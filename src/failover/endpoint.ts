// One failover endpoint at run time: the state machine's effects carried out
// (persist, STATE, timers, alarms, update requests), and the parts wired to
// it and to the daemon. The parts, each in its own file:
//   partner-connection.ts  the CONNECT handshake, keepalives, DISCONNECT (RFC 8156 §6)
//   replication.ts         lease binding updates (§7) and the answers to UPDREQ/UPDREQALL
//   handoff.ts             the secondary's delegable prefixes (§4.2.2)
//   partial-loss.ts        partial communication loss (RFC 7031 §4.7; the rule in unserved.ts)
//   maintenance.ts         the operator's handover to the partner
// Here: the triggers fed to the state machine one at a time, the messages of
// the failover proper routed to the part they are for, the policy the engine
// is given, the stamp on every local lease change, and the commands.
// Everything it touches comes through daemon/host.ts (the host) and
// failover/host.ts (the partner link, timers) so the simulation (src/testing/sim/) runs this same code on
// virtual time (docs/style.md §1.6).

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { PartnerConnector, TimerHandle, Timers } from './host.js';
import type { FailoverHost } from '../daemon/host.js';
import { realTimers } from './host.js';
import type { FailoverConfig } from '../config/types.js';
import { FoMsgType, serverStateFromRfcName, serverStateRfcName, type ServerStateValue } from '../wire/failover/index.js';
import { DIAL_GAP_SEC_MAX, PartnerLink } from './link.js';
import { startup, step, type StepContext, type Trigger } from './state-machine.js';
import { decodeEndpointRecord, encodeEndpointRecord, storedPart, type EndpointRecord } from './state-record.js';
import { isEndpointStateName, type EndpointStateName } from './states.js';
import { ALARM_CODE, type Effect, type TimerName } from './effects.js';
import { leadsLink, serviceLevel } from './responsiveness.js';
import { failoverPolicy, type ServiceLevel } from './policy.js';
import { allPdPools } from './ownership.js';
import { Replication, STORE_BUSY_RETRY_MS } from './replication.js';
import { BackupPrefixes } from './backup-prefixes.js';
import { PrefixHandoff } from './handoff.js';
import { PartnerConnection, type HoldReason, type SessionPdu } from './partner-connection.js';
import { PartialLoss, anyInterfaceUp, type LanUp } from './partial-loss.js';
import { IN_MAINTENANCE, Maintenance, type MaintenanceMode } from './maintenance.js';
import { writeWhenStoreHasRoom } from '../store/index.js';

const RECORD_META = 'failover-endpoint';
/** §8.3: the machine needs a tick at least every 60 s while serving; it records the last time of operation. */
const TICK_MS = 15_000;
/** A secondary's STARTUP lasts the primary's longest gap between dials plus this, for the connection and CONNECT. */
const STARTUP_MARGIN_SEC = 2;

/** What the simulation replaces (src/testing/sim/); each defaults to the real thing. */
export interface EndpointIo {
  /** The partner connection, given our logger; default: PartnerLink (TCP, TLS). */
  readonly link?: (log: Logger) => PartnerConnector;
  readonly timers?: Timers;
  /** Whether any client-facing interface is up; default: their operstate in /sys. */
  readonly lanUp?: LanUp;
}

const TIMER_TRIGGER: Record<TimerName, Trigger['kind']> = {
  startup: 'startup-timer-expired',
  'auto-partner-down': 'auto-partner-down-expired',
  'recover-wait': 'recover-wait-expired',
};

export interface FailoverStatus {
  readonly role: 'primary' | 'secondary';
  readonly state: EndpointStateName;
  readonly stateSinceSec: number;
  /** The same, for the MQTT state document. */
  readonly since: number;
  readonly partnerState: EndpointStateName | null;
  readonly connected: boolean;
  readonly secure: boolean;
  readonly commsOk: boolean;
  readonly mcltSec: number;
  readonly unackedUpdates: number;
  readonly inFlightUpdates: number;
  readonly lastContactSec: number | null;
  readonly skewSec: number | null;
  readonly partnerDownSinceSec: number | null;
  /** Why the partner link is held down: maintenance, lan-down, partner-not-serving. */
  readonly held: readonly HoldReason[];
}

export interface EndpointEvents {
  transition: [from: EndpointStateName | null, to: EndpointStateName, partner: EndpointStateName | null, cause: string];
  /** Whether this partner leads the link now (responsiveness.ts leadsLink): what routes and the default router follow. */
  serving: [serving: boolean];
}

export class FailoverEndpoint extends EventEmitter<EndpointEvents> {
  private record!: EndpointRecord;
  private readonly scheduler: Timers;
  private readonly connection: PartnerConnection;
  private readonly partialLoss: PartialLoss;
  private readonly maintenance: Maintenance;
  private readonly timers = new Map<TimerName, TimerHandle>();
  private tickTimer: TimerHandle | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly requests = new Map<number, number>(); // xid of our UPDREQ/UPDREQALL → its seq
  private readonly log: Logger;
  private servingNow: boolean | undefined;
  readonly replication: Replication;
  readonly handoff: PrefixHandoff;
  /** The secondary's delegable prefixes (§4.2.2), as this side knows them. */
  readonly backup: BackupPrefixes;

  private constructor(
    private readonly daemon: FailoverHost,
    private readonly config: FailoverConfig,
    io: EndpointIo,
  ) {
    super();
    this.log = daemon.log.child({ part: 'failover', role: config.role });
    this.scheduler = io.timers ?? realTimers;
    const link = io.link ? io.link(this.log) : new PartnerLink(config, this.log, () => daemon.clock.nowSec());
    this.connection = new PartnerConnection(daemon, config, this.log, link, this.scheduler, {
      connected: () => void this.trigger({ kind: 'connected' }),
      disconnected: () => {
        this.maintenance.partnerDisconnected();
        void this.trigger({ kind: 'disconnect' });
      },
      message: (pdu) => this.onMessage(pdu),
      down: (reason) => this.onDown(reason),
      awaitsReply: (xid) => this.requests.has(xid) || this.replication.awaitsReply(xid) || this.handoff.awaitsReply(xid),
    });
    const send = this.connection.send.bind(this.connection);
    const nextXid = this.connection.nextXid.bind(this.connection);
    this.replication = new Replication(daemon, config, this.log, {
      send,
      nextXid,
      canSend: () => this.mayStream(),
      // One window of unacknowledged BNDUPDs (§6.1) for leases and delegable prefixes alike.
      window: () => this.connection.partnerWindow - this.handoff.inFlightCount(),
      strict: () => this.record.state === 'POTENTIAL-CONFLICT' || this.record.state === 'RESOLUTION-INTERRUPTED',
      wait: (ms) => this.pause(ms),
    });
    this.backup = new BackupPrefixes(allPdPools(daemon.config), daemon.store);
    this.handoff = new PrefixHandoff(daemon, config, this.log, this.backup, {
      send,
      nextXid,
      // Only in NORMAL: in PARTNER-DOWN the secondary gives up what it holds (handoff.primaryPartnerDown).
      canSend: () => this.mayStream() && this.record.state === 'NORMAL',
      window: () => this.connection.partnerWindow - this.replication.inFlightCount(),
      wait: (ms) => this.pause(ms),
      retryMs: STORE_BUSY_RETRY_MS,
    });
    this.partialLoss = new PartialLoss(daemon, config.role, this.log, this.scheduler, io.lanUp ?? anyInterfaceUp, {
      pairInNormal: () => this.record.state === 'NORMAL' && this.record.partnerState === 'NORMAL',
      held: () => this.connection.held,
      hold: (reason, on) => this.setHold(reason, on),
    });
    this.maintenance = new Maintenance(this.log, this.scheduler, {
      pair: () => ({ state: this.record.state, partnerState: this.record.partnerState, connected: this.connection.connected }),
      unackedUpdates: () => this.replication.unackedCount(),
      mayStream: () => this.mayStream(),
      disconnect: (message) => this.connection.disconnect(message),
      hold: (on) => this.setHold('maintenance', on),
    });
  }

  /** io: what the simulation replaces; the daemon passes nothing and gets the real link, timers and interfaces. */
  static async start(daemon: FailoverHost, config: FailoverConfig, io: EndpointIo = {}): Promise<FailoverEndpoint> {
    const e = new FailoverEndpoint(daemon, config, io);
    await e.begin();
    return e;
  }

  private ctx(): StepContext {
    return {
      role: this.config.role,
      nowSec: this.daemon.clock.nowSec(),
      mcltSec: this.connection.mcltSec,
      // §8.3.2: STARTUP is the partner's chance to get in touch, and only the primary dials.
      startupSec:
        this.config.role === 'secondary' ? Math.max(this.config.startupSec, DIAL_GAP_SEC_MAX + STARTUP_MARGIN_SEC) : this.config.startupSec,
      ...(this.config.autoPartnerDownSec === undefined ? {} : { autoPartnerDownSec: this.config.autoPartnerDownSec }),
    };
  }

  private async begin(): Promise<void> {
    const { daemon, config } = this;
    const bytes = daemon.store.getMeta(RECORD_META);
    const decoded = bytes ? decodeEndpointRecord(bytes) : undefined;
    if (decoded && !decoded.ok)
      this.log.error(
        { code: 'FAILOVER_STATE_RECORD_UNREADABLE', reason: decoded.reason, detail: decoded.detail },
        'stored failover state unreadable; starting as if new',
      );
    const first = startup(decoded?.ok ? decoded.value : undefined, this.ctx());
    this.record = first.record;
    this.backup.load(daemon.store.all());
    daemon.setPolicy(
      failoverPolicy({
        role: config.role,
        mcltSec: this.connection.mcltSec,
        pdPools: () => allPdPools(daemon.config),
        backup: this.backup,
        service: () => this.service(),
        partnerDownSinceSec: () => (this.record.state === 'PARTNER-DOWN' ? (this.record.partnerDownSinceSec ?? undefined) : undefined),
        nowSec: () => daemon.clock.nowSec(),
        view: daemon.store,
      }),
    );
    daemon.setCommitStamp((changes) => this.replication.stamp(changes));
    daemon.on('leases-committed', (changes, origin) => this.replication.committed(changes, origin));
    daemon.on('leases-committed', (changes) => this.handoff.committed(changes));
    // The names the MQTT uplink and twin6ctl share (src/mgmt/handlers.ts holds the standalone answers).
    daemon.registerCommand('failover.status', () => this.status());
    daemon.registerCommand('failover.partner-down', (args) => this.partnerDown(args['force'] === true));
    daemon.registerCommand('failover.maintenance', async (args) => {
      const on = await this.maintenance.command(args['action'], args['force'] === true);
      return { ...this.status(), maintenance: on };
    });
    this.partialLoss.start();
    this.on('transition', () => this.partialLoss.reset());
    this.on('transition', (from) => {
      if (from === 'PARTNER-DOWN') this.handoff.reannounce();
    });
    daemon.onStop(() => this.stop());
    await this.run(first.effects);
    this.noteServing();
    this.tickTimer = this.scheduler.repeat(() => {
      void this.trigger({ kind: 'tick' });
      // §4.2.2: the primary keeps the balance as leases come and go, not only when asked.
      if (this.record.state === 'NORMAL' && this.record.partnerState === 'NORMAL') void this.handoff.balance('tick');
    }, TICK_MS);
    await this.connection.start();
  }

  /** What the engine may do now: what the state allows (docs/protocol.md §1.13), nothing in maintenance. */
  private service(): ServiceLevel {
    return this.maintenance.answersNobody ? IN_MAINTENANCE : serviceLevel(this.record.state, this.config.role);
  }

  /** Whether this partner leads the link (holds the routes, is the default router); undefined until the state decides it. */
  get serving(): boolean | undefined {
    return this.servingNow;
  }

  /** Where the operator's maintenance stands (maintenance.ts); the simulation's invariants read it. */
  get maintenanceMode(): MaintenanceMode {
    return this.maintenance.current;
  }

  private noteServing(): void {
    // In maintenance the partner leads; in a passing state nothing changes.
    const now = this.connection.held.has('maintenance') ? false : (leadsLink(this.record.state, this.config.role) ?? this.servingNow);
    if (now === undefined || now === this.servingNow) return;
    this.servingNow = now;
    this.log.info(
      {
        code: now ? 'FAILOVER_LEADING_LINK' : 'FAILOVER_STANDING_DOWN',
        serving: now,
        state: this.record.state,
        held: [...this.connection.held],
      },
      now ? 'leading the link: delegations routed here, default router' : 'standing down: routes withdrawn, not default router',
    );
    this.emit('serving', now);
  }

  /** Keeps the partner link down for this reason, or lets it up when no reason is left. */
  private setHold(reason: HoldReason, on: boolean): void {
    if (this.connection.hold(reason, on)) this.noteServing();
  }

  // ---- the state machine ----------------------------------------------

  /** Triggers are handled one at a time, effects in order, so a STATE never overtakes its persist. */
  private trigger(t: Trigger): Promise<void> {
    this.chain = this.chain
      .then(async () => {
        const result = step(this.record, t, this.ctx());
        if (result.ignored && t.kind !== 'tick') this.log.debug({ trigger: t.kind, ...result.ignored }, 'trigger ignored');
        this.record = result.record;
        await this.run(result.effects);
        this.noteServing();
      })
      .catch((e: unknown) => this.log.error({ code: 'FAILOVER_EFFECT_FAILED', err: e }, 'failover effect failed'));
    return this.chain;
  }

  private async run(effects: readonly Effect[]): Promise<void> {
    for (const e of effects) {
      switch (e.kind) {
        case 'persist':
          try {
            // A store behind its disk is waited for, with everything after the persist (§6.3: STATE
            // only once it is on stable storage); meanwhile later triggers queue behind this one.
            await writeWhenStoreHasRoom(
              () => this.daemon.store.putMeta(RECORD_META, encodeEndpointRecord(storedPart(this.record))),
              () => this.pause(STORE_BUSY_RETRY_MS),
              () => this.daemon.counters.add('deferred.store-busy.failover-state'),
            );
          } catch (e) {
            // The state could not be made durable, so nothing after it may be sent (§8.1): and a
            // store that failed once is failed for good — the daemon must stop and be restarted.
            this.daemon.storeFailed(e);
            throw e;
          }
          break;
        case 'log-transition':
          this.log.info(
            { code: 'FAILOVER_STATE_CHANGED', from: e.from, to: e.to, partner: e.partnerState, cause: e.cause },
            'failover state transition',
          );
          this.daemon.counters.add(`failover.transitions.${e.to}`);
          this.emit('transition', e.from, e.to, e.partnerState, e.cause);
          break;
        case 'cancel-timer':
          this.scheduler.clear(this.timers.get(e.timer));
          this.timers.delete(e.timer);
          break;
        case 'start-timer': {
          this.scheduler.clear(this.timers.get(e.timer));
          const ms = Math.max(0, (e.atSec - this.daemon.clock.nowSec()) * 1000);
          const kind = TIMER_TRIGGER[e.timer];
          this.timers.set(
            e.timer,
            this.scheduler.set(() => void this.trigger({ kind } as Trigger), ms),
          );
          break;
        }
        case 'raise-alarm':
          this.daemon.counters.add(`failover.alarms.${e.reason}`);
          this.log.warn({ code: ALARM_CODE[e.reason], alarm: e.reason, detail: e.detail }, 'failover alarm');
          break;
        case 'send-state': {
          const m = e.message;
          this.connection.sendNew({
            type: FoMsgType.STATE,
            content: {
              serverState: serverStateFromRfcName(m.state) as ServerStateValue,
              serverFlags: m.flags,
              startTimeOfStateSec: m.startTimeOfStateSec,
              ...(m.partnerDownTimeSec === undefined ? {} : { partnerDownTimeSec: m.partnerDownTimeSec }),
            },
          });
          break;
        }
        case 'send-updreq':
        case 'send-updreqall': {
          const xid = this.connection.nextXid();
          this.requests.set(xid, e.seq);
          this.connection.send({
            type: e.kind === 'send-updreq' ? FoMsgType.UPDREQ : FoMsgType.UPDREQALL,
            transactionId: xid,
            sentTimeSec: this.daemon.clock.nowSec(),
            content: {},
          });
          break;
        }
        case 'resend-unacked':
          this.replication.resendUnacked();
          break;
        case 'send-poolreq':
          // §4.2.2, §8.8: the secondary asks for its share on entering NORMAL; the primary answers with FREE-BACKUP BNDUPDs.
          this.connection.sendNew({ type: FoMsgType.POOLREQ, content: {} });
          break;
        case 'drop-connection':
          this.connection.close(e.reason);
          break;
      }
    }
    this.replication.pump();
    this.handoff.pump();
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.set(resolve, ms));
  }

  // ---- the partner's messages ------------------------------------------

  /** The connection is gone: no request or update on it will be answered; the state machine hears comms-lost. */
  private onDown(reason: string): void {
    this.maintenance.linkDown();
    this.requests.clear();
    this.replication.linkDown();
    this.handoff.linkDown();
    void this.trigger({ kind: 'comms-lost', cause: reason });
  }

  /** A message of the failover proper, to the part it is for (the connection's own are handled in partner-connection.ts). */
  private onMessage(pdu: SessionPdu): void {
    switch (pdu.type) {
      case FoMsgType.STATE: {
        const name = serverStateRfcName(pdu.content.serverState);
        if (!name || !isEndpointStateName(name)) return this.connection.close(`STATE with unknown server state ${pdu.content.serverState}`);
        if (name === 'PARTNER-DOWN') this.handoff.primaryPartnerDown();
        void this.trigger({
          kind: 'partner-state',
          state: name,
          flags: pdu.content.serverFlags,
          startTimeSec: pdu.content.startTimeOfStateSec,
          ...(pdu.content.partnerDownTimeSec === undefined ? {} : { partnerDownTimeSec: pdu.content.partnerDownTimeSec }),
        });
        return;
      }
      // §7.4: a BNDUPD carries a client's bindings (CLIENT_DATA) or, on its own, a delegable prefix (IAPREFIX).
      case FoMsgType.BNDUPD:
        if (pdu.content.form === 'prefix') return void this.handoff.onUpdate(pdu.transactionId, pdu.content);
        return void this.replication.onUpdate(pdu.transactionId, pdu.content);
      case FoMsgType.BNDREPLY:
        // Either kind of update frees a place in the shared window: both sides may send again.
        if (this.handoff.awaitsReply(pdu.transactionId))
          return void this.handoff.onReply(pdu.transactionId, pdu.content).then(() => this.replication.pump());
        return void this.replication.onReply(pdu.transactionId, pdu.content).then(() => this.handoff.pump());
      case FoMsgType.UPDREQALL:
        this.handoff.reannounce();
        return this.replication.onRequest(pdu.transactionId, true);
      case FoMsgType.UPDREQ:
        return this.replication.onRequest(pdu.transactionId, false);
      case FoMsgType.UPDDONE: {
        const seq = this.requests.get(pdu.transactionId);
        this.requests.delete(pdu.transactionId);
        void this.trigger(seq === undefined ? { kind: 'upddone' } : { kind: 'upddone', seq });
        return;
      }
      case FoMsgType.POOLREQ:
        return this.handoff.onPoolRequest(pdu.transactionId);
      case FoMsgType.POOLRESP:
        return;
    }
  }

  // ---- what operators see and do ---------------------------------------

  /** RFC 8156 state names, the partner's view, and the update backlog. */
  status(): FailoverStatus {
    const r = this.record;
    return {
      role: this.config.role,
      state: r.state,
      stateSinceSec: r.stateStartSec,
      since: r.stateStartSec,
      partnerState: r.partnerState,
      connected: this.connection.connected,
      secure: this.connection.secure,
      commsOk: r.session.commsOk,
      mcltSec: this.connection.mcltSec,
      unackedUpdates: this.replication.unackedCount(),
      inFlightUpdates: this.replication.inFlightCount(),
      lastContactSec: this.connection.lastContactSec,
      skewSec: this.connection.skewSec,
      partnerDownSinceSec: r.partnerDownSinceSec,
      held: [...this.connection.held],
    };
  }

  /** §8.4: only when the partner is really down; refused while it is reachable unless forced. */
  private async partnerDown(force: boolean): Promise<FailoverStatus> {
    if (this.connection.connected && !force) {
      throw new Error('the partner is reachable: PARTNER-DOWN would let both sides hand out the same leases; add force to override');
    }
    await this.trigger({ kind: 'operator-partner-down', force });
    return this.status();
  }

  /** Whether binding updates may go to the partner now: connected, communications OK, and a state that sends them. */
  private mayStream(): boolean {
    if (!this.connection.connected || !this.record.session.commsOk) return false;
    const s = this.record.state;
    return s === 'NORMAL' || s === 'CONFLICT-DONE' || s === 'RECOVER-DONE' || s === 'PARTNER-DOWN' || s === 'COMMUNICATIONS-INTERRUPTED';
  }

  private async stop(): Promise<void> {
    this.scheduler.clear(this.tickTimer);
    this.partialLoss.stop();
    for (const t of this.timers.values()) this.scheduler.clear(t);
    this.connection.disconnect('shutting down');
    await this.chain;
    await this.connection.stop();
  }
}

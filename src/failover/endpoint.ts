// One failover endpoint at run time: the state machine's effects carried out
// (persist, STATE, timers, alarms, update requests), the CONNECT handshake
// and keepalives on the partner link (RFC 8156 §6), and the wiring into the
// daemon — the policy the engine is given, the stamp on every local lease
// change, and the commands. Lease replication itself is in replication.ts.
// Everything it touches comes through failover/host.ts (the host, the partner
// link, timers) so the simulation (src/testing/sim/) runs this same code on virtual time.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { PartnerConnector, TimerHandle, Timers } from './host.js';
import type { CommitOrigin, FailoverHost } from '../daemon/host.js';
import { realTimers } from './host.js';
import type { FailoverConfig } from '../config/types.js';
import {
  FoMsgType,
  FoStatusCode,
  PROTOCOL_VERSION,
  SKEW_TOLERANCE_SEC,
  serverStateFromRfcName,
  serverStateRfcName,
  type BindingReply,
  type ConnectParams,
  type ServerStateValue,
} from '../wire/failover/index.js';
import { DIAL_GAP_SEC_MAX, PartnerLink, type Channel, type FailoverPdu } from './link.js';
import { msgTypeName } from '../wire/constants.js';
import { findOption } from '../wire/find.js';
import type { ClientServerMessage } from '../wire/types.js';
import { startup, step, stateMessage, type StepContext, type Trigger } from './state-machine.js';
import { decodeEndpointRecord, encodeEndpointRecord, storedPart, type EndpointRecord } from './state-record.js';
import { isEndpointStateName, type EndpointStateName } from './states.js';
import type { Effect, TimerName } from './effects.js';
import { leadsLink, serviceLevel } from './responsiveness.js';
import { failoverPolicy, type ServiceLevel } from './policy.js';
import { allPdPools } from './ownership.js';
import { Replication, STORE_BUSY_RETRY_MS } from './replication.js';
import { BackupPrefixes } from './backup-prefixes.js';
import { PrefixHandoff } from './handoff.js';
import { writeWhenStoreHasRoom } from '../store/index.js';
import { UnservedDetector, type Waiting } from './unserved.js';
import { duidToHex } from '../wire/duid.js';
import type { LeaseChange } from '../engine/index.js';

const RECORD_META = 'failover-endpoint';
/** §8.3: the machine needs a tick at least every 60 s while serving; it records the last time of operation. */
const TICK_MS = 15_000;
/** A secondary's STARTUP lasts the primary's longest gap between dials plus this, for the connection and CONNECT. */
const STARTUP_MARGIN_SEC = 2;
/** How often our own client-facing interfaces are looked at (RFC 7031 §4.7, partial communication loss). */
const LAN_CHECK_MS = 1000;
/** A binding update about a client served this recently (its CLTT, RFC 8156 §5.5.2; clocks within 5 s) shows the primary serving. */
const PARTNER_SERVED_RECENT_SEC = 30;
/** Entering maintenance waits at most this long for the partner to acknowledge our updates before handing over. */
const MAINTENANCE_DRAIN_MS = 5_000;
const MAINTENANCE_DRAIN_CHECK_MS = 100;

const MAINTENANCE = { answer: 'none', allocate: 'none', mcltCap: true } as const;

/** What the simulation replaces (src/testing/sim/); each defaults to the real thing. */
export interface EndpointIo {
  /** The partner connection, given our logger; default: PartnerLink (TCP, TLS). */
  readonly link?: (log: Logger) => PartnerConnector;
  readonly timers?: Timers;
  /** Whether any client-facing interface is up; default: their operstate in /sys. */
  readonly lanUp?: (interfaces: readonly string[]) => boolean;
}

function anyInterfaceUp(interfaces: readonly string[]): boolean {
  return interfaces.some((ifname) => {
    try {
      const state = readFileSync(`/sys/class/net/${ifname}/operstate`, 'utf8').trim();
      return state === 'up' || state === 'unknown'; // "unknown": drivers that do not report carrier
    } catch {
      return false;
    }
  });
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
  readonly held: readonly string[];
}

export interface EndpointEvents {
  transition: [from: EndpointStateName | null, to: EndpointStateName, partner: EndpointStateName | null, cause: string];
  /** Whether this partner leads the link now (responsiveness.ts leadsLink): what routes and the default router follow. */
  serving: [serving: boolean];
}

export class FailoverEndpoint extends EventEmitter<EndpointEvents> {
  private record!: EndpointRecord;
  private readonly link: PartnerConnector;
  private readonly scheduler: Timers;
  private readonly lanUp: (interfaces: readonly string[]) => boolean;
  private channel: Channel | undefined;
  private partner: ConnectParams | undefined;
  private mcltSec: number;
  private readonly timers = new Map<TimerName, TimerHandle>();
  private recvTimer: TimerHandle | undefined;
  private contactTimer: TimerHandle | undefined;
  private tickTimer: TimerHandle | undefined;
  private lastSentMs = 0;
  private chain: Promise<void> = Promise.resolve();
  private lastContactSec: number | null = null;
  private skewSec: number | null = null;
  private readonly requests = new Map<number, number>(); // xid of our UPDREQ/UPDREQALL → its seq
  /** Why the partner link is held down; empty: it may be up. */
  private readonly holds = new Set<'maintenance' | 'lan-down' | 'partner-not-serving'>();
  private lanTimer: TimerHandle | undefined;
  private unservedHoldTimer: TimerHandle | undefined;
  private readonly unservedTimers = new Set<TimerHandle>();
  /** Secondary: clients left waiting by the primary (RFC 7031 §4.7), see unserved.ts. */
  private readonly unserved = new UnservedDetector();
  /** Maintenance: off; handing over (we answer nobody, the partner is catching up); on (link held down). */
  private maintenanceMode: 'off' | 'handing-over' | 'on' = 'off';
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
    this.mcltSec = config.mcltSec;
    this.link = io.link ? io.link(this.log) : new PartnerLink(config, this.log, () => daemon.clock.nowSec());
    this.scheduler = io.timers ?? realTimers;
    this.lanUp = io.lanUp ?? anyInterfaceUp;
    this.replication = new Replication(daemon, config, this.log, {
      send: (pdu) => this.send(pdu),
      nextXid: () => this.nextXid(),
      canSend: () => this.mayStream(),
      // One window of unacknowledged BNDUPDs (§6.1) for leases and delegable prefixes alike.
      window: () => (this.partner?.maxUnackedBndupd ?? 0) - this.handoff.inFlightCount(),
      strict: () => this.record.state === 'POTENTIAL-CONFLICT' || this.record.state === 'RESOLUTION-INTERRUPTED',
      wait: (ms) => this.pause(ms),
    });
    this.backup = new BackupPrefixes(allPdPools(daemon.config), daemon.store);
    this.handoff = new PrefixHandoff(daemon, config, this.log, this.backup, {
      send: (pdu) => this.send(pdu),
      nextXid: () => this.nextXid(),
      // Only in NORMAL: in PARTNER-DOWN the secondary gives up what it holds (handoff.primaryPartnerDown).
      canSend: () => this.mayStream() && this.record.state === 'NORMAL',
      window: () => (this.partner?.maxUnackedBndupd ?? 0) - this.replication.inFlightCount(),
      wait: (ms) => this.pause(ms),
      retryMs: STORE_BUSY_RETRY_MS,
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
      mcltSec: this.mcltSec,
      // §8.3.2: STARTUP is the partner's chance to get in touch, and only the primary dials.
      startupSec: this.config.role === 'secondary' ? Math.max(this.config.startupSec, DIAL_GAP_SEC_MAX + STARTUP_MARGIN_SEC) : this.config.startupSec,
      ...(this.config.autoPartnerDownSec === undefined ? {} : { autoPartnerDownSec: this.config.autoPartnerDownSec }),
    };
  }

  private async begin(): Promise<void> {
    const { daemon, config } = this;
    const bytes = daemon.store.getMeta(RECORD_META);
    const decoded = bytes ? decodeEndpointRecord(bytes) : undefined;
    if (decoded && !decoded.ok) this.log.error({ reason: decoded.reason, detail: decoded.detail }, 'stored failover state unreadable; starting as if new');
    const first = startup(decoded?.ok ? decoded.value : undefined, this.ctx());
    this.record = first.record;
    this.backup.load(daemon.store.all());
    daemon.setPolicy(
      failoverPolicy({
        role: config.role,
        mcltSec: this.mcltSec,
        pdPools: () => allPdPools(daemon.config),
        backup: this.backup,
        // In maintenance the partner serves: we answer nobody and allocate nothing.
        service: () => this.service(),
        partnerDownSinceSec: () => (this.record.state === 'PARTNER-DOWN' ? (this.record.partnerDownSinceSec ?? undefined) : undefined),
        nowSec: () => daemon.clock.nowSec(),
        view: daemon.store,
      }),
    );
    daemon.setCommitStamp((changes) => this.replication.stamp(changes));
    daemon.on('leases-committed', (changes, origin) => this.replication.committed(changes, origin));
    daemon.on('leases-committed', (changes) => this.handoff.committed(changes));
    this.link.on('up', (channel) => this.onUp(channel));
    this.link.on('pdu', (pdu, channel) => this.onPdu(pdu, channel));
    this.link.on('unusable-update', (xid, reply, reason, channel) => this.onUnusableUpdate(xid, reply, reason, channel));
    this.link.on('down', (reason) => this.onDown(reason));
    this.link.on('refused', () => daemon.counters.add('failover.connections.refused'));
    // The names the MQTT uplink and twin6ctl share (src/mgmt/handlers.ts holds the standalone answers).
    daemon.registerCommand('failover.status', () => this.status());
    daemon.registerCommand('failover.partner-down', (args) => this.partnerDown(args['force'] === true));
    daemon.registerCommand('failover.maintenance', (args) => this.maintenance(args['action'], args['force'] === true));
    daemon.on('unanswered', (m) => this.noteUnanswered(m));
    daemon.on('leases-committed', (changes, origin) => this.notePartnerServed(changes, origin));
    this.on('transition', () => this.unserved.reset());
    this.on('transition', (from) => {
      if (from === 'PARTNER-DOWN') this.handoff.reannounce();
    });
    this.lanTimer = this.scheduler.repeat(() => this.checkLan(), LAN_CHECK_MS);
    daemon.onStop(() => this.stop());
    await this.run(first.effects);
    this.noteServing();
    this.tickTimer = this.scheduler.repeat(() => {
      void this.trigger({ kind: 'tick' });
      // §4.2.2: the primary keeps the balance as leases come and go, not only when asked.
      if (this.record.state === 'NORMAL' && this.record.partnerState === 'NORMAL') void this.handoff.balance('tick');
    }, TICK_MS);
    await this.link.start();
  }

  /** In maintenance the partner serves: we answer nobody and allocate nothing. */
  private service(): ServiceLevel {
    return this.maintenanceMode !== 'off' ? MAINTENANCE : serviceLevel(this.record.state, this.config.role);
  }

  /** Whether this partner leads the link (holds the routes, is the default router); undefined until the state decides it. */
  get serving(): boolean | undefined {
    return this.servingNow;
  }

  private noteServing(): void {
    // In maintenance the partner leads; in a passing state nothing changes.
    const now = this.holds.has('maintenance') ? false : (leadsLink(this.record.state, this.config.role) ?? this.servingNow);
    if (now === undefined || now === this.servingNow) return;
    this.servingNow = now;
    this.log.info({ serving: now, state: this.record.state, held: [...this.holds] }, now ? 'leading the link: delegations routed here, default router' : 'standing down: routes withdrawn, not default router');
    this.emit('serving', now);
  }

  // ---- the state machine ----------------------------------------------

  /** Triggers are handled one at a time, effects in order, so a STATE never overtakes its persist. */
  private trigger(t: Trigger): Promise<void> {
    this.chain = this.chain.then(async () => {
      const result = step(this.record, t, this.ctx());
      if (result.ignored && t.kind !== 'tick') this.log.debug({ trigger: t.kind, ...result.ignored }, 'trigger ignored');
      this.record = result.record;
      await this.run(result.effects);
      this.noteServing();
    }).catch((e: unknown) => this.log.error({ err: e }, 'failover effect failed'));
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
          this.log.info({ from: e.from, to: e.to, partner: e.partnerState, cause: e.cause }, 'failover state transition');
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
          this.timers.set(e.timer, this.scheduler.set(() => void this.trigger({ kind } as Trigger), ms));
          break;
        }
        case 'raise-alarm':
          this.daemon.counters.add(`failover.alarms.${e.reason}`);
          this.log.warn({ alarm: e.reason, detail: e.detail }, 'failover alarm');
          break;
        case 'send-state': {
          const m = e.message;
          this.send({
            type: FoMsgType.STATE,
            transactionId: this.nextXid(),
            sentTimeSec: this.daemon.clock.nowSec(),
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
          const xid = this.nextXid();
          this.requests.set(xid, e.seq);
          this.send({ type: e.kind === 'send-updreq' ? FoMsgType.UPDREQ : FoMsgType.UPDREQALL, transactionId: xid, sentTimeSec: this.daemon.clock.nowSec(), content: {} });
          break;
        }
        case 'resend-unacked':
          this.replication.resendUnacked();
          break;
        case 'send-poolreq':
          // §4.2.2, §8.8: the secondary asks for its share on entering NORMAL; the primary answers with FREE-BACKUP BNDUPDs.
          this.send({ type: FoMsgType.POOLREQ, transactionId: this.nextXid(), sentTimeSec: this.daemon.clock.nowSec(), content: {} });
          break;
        case 'drop-connection':
          this.channel?.close(e.reason);
          break;
      }
    }
    this.replication.pump();
    this.handoff.pump();
  }

  /**
   * §5.4: unique among our messages still outstanding. The link's counter
   * wraps at 2^24, and an UPDREQ/UPDREQALL may wait long for its UPDDONE (as
   * may a BNDUPD for its BNDREPLY): their ids are skipped until answered.
   */
  private nextXid(): number {
    for (;;) {
      const xid = this.link.nextXid();
      if (!this.requests.has(xid) && !this.replication.awaitsReply(xid) && !this.handoff.awaitsReply(xid)) return xid;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.set(resolve, ms));
  }

  // ---- the link --------------------------------------------------------

  private send(pdu: FailoverPdu): void {
    if (!this.channel) return;
    this.channel.send(pdu);
    this.lastSentMs = this.scheduler.nowMs();
  }

  private ourParams(): ConnectParams {
    return {
      protocolVersion: PROTOCOL_VERSION,
      mcltSec: this.mcltSec,
      keepaliveSec: this.config.keepaliveSec,
      maxUnackedBndupd: this.config.maxUnackedBndupd,
      relationshipName: this.config.relationshipName,
      // §4.2.2: every prefix carved from one pool has that pool's configured length.
      connectFlags: { fixedPdLength: true },
    };
  }

  private onUp(channel: Channel): void {
    this.channel = channel;
    this.partner = undefined;
    this.armReceive();
    if (this.config.role === 'primary') {
      this.send({ type: FoMsgType.CONNECT, transactionId: this.nextXid(), sentTimeSec: this.daemon.clock.nowSec(), content: this.ourParams() });
    }
  }

  private onDown(reason: string): void {
    this.channel = undefined;
    this.partner = undefined;
    this.scheduler.clear(this.recvTimer);
    this.scheduler.clear(this.contactTimer);
    this.requests.clear();
    this.replication.linkDown();
    this.handoff.linkDown();
    this.daemon.counters.add('failover.connections.lost');
    void this.trigger({ kind: 'comms-lost', cause: reason });
  }

  /** §6.6: nothing received for our keepalive time means the partner is gone. */
  private armReceive(): void {
    this.scheduler.clear(this.recvTimer);
    this.recvTimer = this.scheduler.set(() => this.channel?.close(`nothing received for ${this.config.keepaliveSec} s (keepalive)`), this.config.keepaliveSec * 1000);
  }

  /** §6.5: a CONTACT whenever nothing else went out for a quarter of the partner's keepalive time. */
  private armContact(partnerKeepaliveSec: number): void {
    this.scheduler.clear(this.contactTimer);
    const everyMs = Math.max(250, (partnerKeepaliveSec * 1000) / 4);
    this.contactTimer = this.scheduler.repeat(() => {
      if (this.scheduler.nowMs() - this.lastSentMs >= everyMs * 0.9) {
        this.send({ type: FoMsgType.CONTACT, transactionId: this.nextXid(), sentTimeSec: this.daemon.clock.nowSec(), content: {} });
      }
    }, everyMs);
  }

  private onPdu(pdu: FailoverPdu, channel: Channel): void {
    if (channel !== this.channel) return;
    const nowSec = this.daemon.clock.nowSec();
    this.armReceive();
    this.lastContactSec = nowSec;
    this.skewSec = pdu.sentTimeSec - nowSec;
    // §7.5.1: a difference over 5 s either way drops the connection (§7.1: every time comparison
    // of §7.5.4 assumes clocks within 5 s). A message held up on the way looks like a clock
    // behind ours; the connection it arrives on is then slow enough to be worth re-making.
    if (Math.abs(this.skewSec) > SKEW_TOLERANCE_SEC) {
      this.daemon.counters.add('failover.alarms.clock-skew');
      this.log.error({ skewSec: this.skewSec }, 'partner clock differs by more than 5 s');
      if (pdu.type === FoMsgType.CONNECT) this.connectReply(pdu.transactionId, { code: FoStatusCode.ExcessiveTimeSkew, message: `clocks differ by ${this.skewSec} s` });
      channel.close(`clock skew ${this.skewSec} s`);
      return;
    }
    if (this.partner === undefined && pdu.type !== FoMsgType.CONNECT && pdu.type !== FoMsgType.CONNECTREPLY) {
      channel.close(`message type ${pdu.type} before CONNECT/CONNECTREPLY`);
      return;
    }
    switch (pdu.type) {
      case FoMsgType.CONNECT:
        return this.onConnect(pdu.transactionId, pdu.content);
      case FoMsgType.CONNECTREPLY:
        return this.onConnectReply(pdu.content);
      case FoMsgType.STATE: {
        const name = serverStateRfcName(pdu.content.serverState);
        if (!name || !isEndpointStateName(name)) return channel.close(`STATE with unknown server state ${pdu.content.serverState}`);
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
      case FoMsgType.CONTACT:
        return;
      case FoMsgType.DISCONNECT:
        this.log.info({ status: pdu.content.status }, 'partner sent DISCONNECT');
        void this.trigger({ kind: 'disconnect' });
        return channel.close('partner disconnected');
      case FoMsgType.BNDUPD:
        if (pdu.content.form === 'prefix') return void this.handoff.onUpdate(pdu.transactionId, pdu.content);
        return void this.replication.onUpdate(pdu.transactionId, pdu.content);
      case FoMsgType.BNDREPLY:
        // Either kind of update frees a place in the shared window: both sides may send again.
        if (this.handoff.awaitsReply(pdu.transactionId)) return void this.handoff.onReply(pdu.transactionId, pdu.content).then(() => this.replication.pump());
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

  /** §7.5.3, §7.6: a BNDUPD we could not read is still answered, so the partner's window drains and the connection stays. */
  private onUnusableUpdate(xid: number, reply: BindingReply, reason: string, channel: Channel): void {
    if (channel !== this.channel) return;
    this.armReceive();
    this.lastContactSec = this.daemon.clock.nowSec();
    if (this.partner === undefined) return channel.close('BNDUPD before CONNECT/CONNECTREPLY');
    this.daemon.counters.add('failover.bndupd.unusable');
    this.log.warn({ xid, reason }, 'binding update unusable: answered with MissingBindingInformation');
    this.send({ type: FoMsgType.BNDREPLY, transactionId: xid, sentTimeSec: this.daemon.clock.nowSec(), content: reply });
  }

  private connectReply(xid: number, status?: { code: number; message: string }): void {
    this.send({
      type: FoMsgType.CONNECTREPLY,
      transactionId: xid,
      sentTimeSec: this.daemon.clock.nowSec(),
      content: status ? { status } : { params: this.ourParams() },
    });
  }

  /**
   * §6.1.2, §6.1.3: whether we can take what the partner's OPTION_F_CONNECT_FLAGS
   * announce. Every prefix we delegate from a pool has that pool's one length
   * (§4.2.2), and an update for a prefix of another length out of one of our
   * pools has no place here: a partner that delegates variable lengths is refused.
   */
  private connectFlagsProblem(p: ConnectParams): string | undefined {
    if (p.connectFlags.fixedPdLength || allPdPools(this.daemon.config).length === 0) return undefined;
    return 'partner delegates prefixes of variable length (FIXED_PD_LENGTH not set); every pool here has one length';
  }

  /** Secondary, §6.1.2: check the primary's CONNECT, adopt its MCLT, answer, then STATE. */
  private onConnect(xid: number, p: ConnectParams): void {
    if (this.config.role !== 'secondary') return this.channel?.close('CONNECT received by the primary');
    if (p.protocolVersion.major !== PROTOCOL_VERSION.major) {
      this.connectReply(xid, { code: FoStatusCode.NotSupported, message: `protocol ${p.protocolVersion.major}.${p.protocolVersion.minor} not supported` });
      return this.channel?.close('unsupported protocol version');
    }
    if (p.relationshipName !== undefined && p.relationshipName !== this.config.relationshipName) {
      this.connectReply(xid, { code: FoStatusCode.ConfigurationConflict, message: `no relationship "${p.relationshipName}" here` });
      return this.channel?.close(`relationship "${p.relationshipName}" is not ours`);
    }
    const flags = this.connectFlagsProblem(p);
    if (flags) {
      this.connectReply(xid, { code: FoStatusCode.ConfigurationConflict, message: flags });
      return this.channel?.close(flags);
    }
    if (p.mcltSec !== this.mcltSec) this.log.info({ ours: this.mcltSec, primary: p.mcltSec }, 'adopting the primary MCLT');
    this.mcltSec = p.mcltSec;
    this.partner = p;
    this.connectReply(xid);
    this.armContact(p.keepaliveSec);
    void this.trigger({ kind: 'connected' });
  }

  /** Primary, §6.1.3. */
  private onConnectReply(c: { params?: ConnectParams; status?: { code: number; message: string } }): void {
    if (this.config.role !== 'primary') return this.channel?.close('CONNECTREPLY received by the secondary');
    if (c.status && c.status.code !== FoStatusCode.Success) {
      this.log.error({ status: c.status }, 'partner refused CONNECT');
      return this.channel?.close(`partner refused CONNECT: ${c.status.message}`);
    }
    const p = c.params;
    if (!p || p.mcltSec !== this.mcltSec || p.protocolVersion.major !== PROTOCOL_VERSION.major) {
      this.send({ type: FoMsgType.DISCONNECT, transactionId: this.nextXid(), sentTimeSec: this.daemon.clock.nowSec(), content: { status: { code: FoStatusCode.ConfigurationConflict, message: 'CONNECTREPLY does not match our CONNECT' } } });
      return this.channel?.close('CONNECTREPLY with another MCLT or protocol version');
    }
    const flags = this.connectFlagsProblem(p);
    if (flags) {
      this.send({ type: FoMsgType.DISCONNECT, transactionId: this.link.nextXid(), sentTimeSec: this.daemon.clock.nowSec(), content: { status: { code: FoStatusCode.ConfigurationConflict, message: flags } } });
      return this.channel?.close(flags);
    }
    this.partner = p;
    this.link.established();
    this.armContact(p.keepaliveSec);
    void this.trigger({ kind: 'connected' });
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
      connected: this.partner !== undefined,
      secure: this.channel?.secure ?? false,
      commsOk: r.session.commsOk,
      mcltSec: this.mcltSec,
      unackedUpdates: this.replication.unackedCount(),
      inFlightUpdates: this.replication.inFlightCount(),
      lastContactSec: this.lastContactSec,
      skewSec: this.skewSec,
      partnerDownSinceSec: r.partnerDownSinceSec,
      held: [...this.holds],
    };
  }

  /** §8.4: only when the partner is really down; refused while it is reachable unless forced. */
  private async partnerDown(force: boolean): Promise<FailoverStatus> {
    if (this.partner !== undefined && !force) {
      throw new Error('the partner is reachable: PARTNER-DOWN would let both sides hand out the same leases; add force to override');
    }
    await this.trigger({ kind: 'operator-partner-down', force });
    return this.status();
  }

  /** Keeps the partner link down for these reasons (or lets it up when none is left). */
  private setHold(reason: 'maintenance' | 'lan-down' | 'partner-not-serving', on: boolean): void {
    if (on === this.holds.has(reason)) return;
    if (on) this.holds.add(reason);
    else this.holds.delete(reason);
    this.log.warn({ reason, on, holds: [...this.holds] }, on ? 'partner link held down' : 'partner link released');
    const first = this.holds.values().next().value;
    this.link.hold(first);
    this.noteServing();
  }

  /**
   * RFC 7031 §4.7: an appliance whose client-facing interfaces are all down
   * steps back — it drops the partner link, so the partner finds
   * communications interrupted and becomes responsive — and comes back when
   * they are up again.
   */
  private checkLan(): void {
    const up = this.lanUp(this.daemon.config.interfaces);
    if (!up && !this.holds.has('lan-down')) {
      this.daemon.counters.add('failover.alarms.lan-down');
      this.log.error({ interfaces: this.daemon.config.interfaces }, 'every client-facing interface is down: stepping back so the partner serves');
    }
    this.setHold('lan-down', !up);
  }

  /**
   * Secondary, both partners in NORMAL: the client messages we leave to the
   * primary tell whether it answers them (RFC 7031 §4.7, partial communication
   * loss; the rule is in unserved.ts). When it does not, we drop the link for a
   * while: both partners find communications interrupted, and we serve.
   */
  private noteUnanswered(m: ClientServerMessage): void {
    if (!this.watchingForUnserved()) return;
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
    const t = this.scheduler.set(() => {
      this.unservedTimers.delete(t);
      this.decideUnserved();
    }, Math.max(0, v.decideAtMs - this.scheduler.nowMs()));
    this.unservedTimers.add(t);
  }

  private watchingForUnserved(): boolean {
    const r = this.record;
    return this.config.role === 'secondary' && r.state === 'NORMAL' && r.partnerState === 'NORMAL' && this.holds.size === 0;
  }

  private decideUnserved(): void {
    if (!this.watchingForUnserved()) return;
    const d = this.unserved.decide(this.scheduler.nowMs());
    if (d.kind === 'none') return;
    this.daemon.counters.add('failover.unserved-clients', d.fresh.length);
    if (d.kind === 'unserved') {
      this.log.warn({ clients: d.fresh.map(waitingLog), unserved: d.count, needed: this.unserved.rule.clientsMin }, 'clients left unanswered by the primary');
      return;
    }
    const { rule } = this.unserved;
    this.daemon.counters.add('failover.alarms.partner-not-serving');
    this.log.error(
      {
        clients: d.clients.map(waitingLog),
        rule: { waitedSecMin: rule.watchedMsMin / 1000, elapsedSecMin: rule.elapsedCsMin / 100, thenNobodyServedSec: rule.confirmMs / 1000, clientsMin: rule.clientsMin },
        holdSec: rule.holdMs / 1000,
      },
      'the primary leaves clients unanswered: taking over (partner link held down)',
    );
    this.setHold('partner-not-serving', true);
    this.scheduler.clear(this.unservedHoldTimer);
    this.unservedHoldTimer = this.scheduler.set(() => this.setHold('partner-not-serving', false), rule.holdMs);
  }

  /**
   * A binding update from the primary for an active lease it has just granted
   * or extended (client last transaction time within PARTNER_SERVED_RECENT_SEC):
   * it reaches its clients, whatever some of them say (unserved.ts).
   */
  private notePartnerServed(changes: readonly LeaseChange[], origin: CommitOrigin): void {
    if (origin !== 'partner' || this.config.role !== 'secondary') return;
    const recentSec = this.daemon.clock.nowSec() - PARTNER_SERVED_RECENT_SEC;
    // The primary's CLT is kept as partner-raw-clt-time (RFC 8156 §7.5.5); our clttSec is only ours.
    if (changes.some((c) => c.op === 'put' && c.lease.state === 'active' && (c.lease.fo?.partnerRawCltSec ?? 0) >= recentSec)) this.unserved.primaryServed(this.scheduler.nowMs());
  }

  /** Whether we hold an active lease for one of the IAs in the message: a client the primary must answer. */
  private knownClient(duid: string, m: ClientServerMessage): boolean {
    const nowSec = this.daemon.clock.nowSec();
    return m.options.some((o) => {
      if (o.kind !== 'IA_NA' && o.kind !== 'IA_PD') return false;
      return this.daemon.store.byIa(duid, o.iaid, o.kind === 'IA_NA' ? 'na' : 'pd').some((l) => l.state === 'active' && l.expiresAtSec > nowSec);
    });
  }

  /**
   * Maintenance handover, so this box can be rebooted: we stop answering
   * clients, give the partner a moment to acknowledge our last updates, then
   * say DISCONNECT and keep the link down; the partner finds communications
   * interrupted and serves everyone (RFC 8156 §8.9.1) until "leave" lets the
   * link up and the pair returns to NORMAL. "start" and "cancel" (the fleet's
   * names, docs/fleet.md) are the same. Refused while the partner could not
   * take over, unless forced. Not kept across a restart: a rebooted box comes
   * back through STARTUP as usual.
   */
  private async maintenance(action: unknown, force: boolean): Promise<FailoverStatus & { maintenance: boolean }> {
    const enter = action === 'enter' || action === 'start';
    if (!enter && action !== 'leave' && action !== 'cancel') throw new Error('action must be "enter" or "leave"');
    if (enter && this.maintenanceMode === 'off') {
      const r = this.record;
      const partnerReady = this.partner !== undefined && r.state === 'NORMAL' && r.partnerState === 'NORMAL';
      if (!partnerReady && !force) {
        throw new Error(`the partner cannot take over (we are ${r.state}, the partner ${r.partnerState ?? 'unknown'}, ${this.partner ? 'connected' : 'not connected'}): nobody would serve the clients; add force to stop serving anyway`);
      }
      this.maintenanceMode = 'handing-over';
      const unacked = await this.drainUpdates();
      if (this.maintenanceMode !== 'handing-over') return { ...this.status(), maintenance: false }; // left meanwhile
      this.log.warn({ unackedUpdates: unacked }, 'maintenance: handing the clients to the partner');
      if (this.channel && this.partner) {
        this.send({ type: FoMsgType.DISCONNECT, transactionId: this.nextXid(), sentTimeSec: this.daemon.clock.nowSec(), content: { status: { code: FoStatusCode.ServerShuttingDown, message: 'maintenance: partner takes over' } } });
      }
      this.maintenanceMode = 'on';
      this.setHold('maintenance', true);
    } else if (!enter && this.maintenanceMode !== 'off') {
      this.maintenanceMode = 'off';
      this.log.warn('maintenance over: serving again once the pair is back in NORMAL');
      this.setHold('maintenance', false);
    }
    return { ...this.status(), maintenance: this.maintenanceMode !== 'off' };
  }

  /** Waits (at most MAINTENANCE_DRAIN_MS) until the partner has acknowledged every update; returns how many it has not. */
  private drainUpdates(): Promise<number> {
    const left = () => this.replication.unackedCount();
    const startMs = this.scheduler.nowMs();
    return new Promise((resolve) => {
      if (left() === 0 || !this.mayStream()) return resolve(left());
      const t = this.scheduler.repeat(() => {
        if (left() > 0 && this.mayStream() && this.scheduler.nowMs() - startMs < MAINTENANCE_DRAIN_MS) return;
        this.scheduler.clear(t);
        resolve(left());
      }, MAINTENANCE_DRAIN_CHECK_MS);
    });
  }

  private mayStream(): boolean {
    if (!this.channel || this.partner === undefined || !this.record.session.commsOk) return false;
    const s = this.record.state;
    return s === 'NORMAL' || s === 'CONFLICT-DONE' || s === 'RECOVER-DONE' || s === 'PARTNER-DOWN' || s === 'COMMUNICATIONS-INTERRUPTED';
  }

  private async stop(): Promise<void> {
    this.scheduler.clear(this.tickTimer);
    this.scheduler.clear(this.lanTimer);
    this.scheduler.clear(this.unservedHoldTimer);
    for (const t of this.unservedTimers) this.scheduler.clear(t);
    for (const t of this.timers.values()) this.scheduler.clear(t);
    if (this.channel && this.partner) {
      this.send({ type: FoMsgType.DISCONNECT, transactionId: this.nextXid(), sentTimeSec: this.daemon.clock.nowSec(), content: { status: { code: FoStatusCode.ServerShuttingDown, message: 'shutting down' } } });
    }
    await this.chain;
    await this.link.stop();
    this.scheduler.clear(this.recvTimer);
    this.scheduler.clear(this.contactTimer);
  }
}

/** A waiting client, for the logs. */
function waitingLog(c: Waiting): Record<string, unknown> {
  return { duid: c.duid, msg: msgTypeName(c.type), xid: c.xid, transmissions: c.transmissions, elapsedSec: c.elapsedCs / 100, watchedSec: Math.round(c.watchedMs) / 1000 };
}

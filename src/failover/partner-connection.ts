// The partner connection (RFC 8156 §6): what turns a channel of the partner
// link (link.ts) into a failover connection and keeps it honest. The primary
// sends CONNECT when a channel comes up; the secondary checks it and answers
// CONNECTREPLY (§6.1.2); the primary checks that (§6.1.3). From then on a
// CONTACT goes out whenever nothing else has for a while and a silent partner
// is given up (§6.5, §6.6), every message's sent-time is held against our
// clock (§7.5.1), and DISCONNECT says goodbye (§5.3.10). Also: the reasons
// the link is held down (maintenance.ts, partial-loss.ts) and the transaction
// ids of the messages we start (§5.4). The messages of the failover proper
// — STATE, binding updates, update and pool requests — go to the endpoint,
// which routes them.

import type { Logger } from 'pino';
import type { PartnerConnector, TimerHandle, Timers } from './host.js';
import type { FailoverHost } from '../daemon/host.js';
import type { FailoverConfig } from '../config/types.js';
import {
  FoMsgType,
  FoStatusCode,
  PROTOCOL_VERSION,
  SKEW_TOLERANCE_SEC,
  type BindingReply,
  type ConnectParams,
  type Status,
} from '../wire/failover/index.js';
import type { Channel, FailoverPdu } from './link.js';
import { allPdPools } from './ownership.js';

/** Why the partner link is kept down: an operator's maintenance, our own LAN dead, or a primary that leaves clients unanswered. */
export type HoldReason = 'maintenance' | 'lan-down' | 'partner-not-serving';

/** The messages of the connection itself, handled here. */
type ConnectionMsgType = typeof FoMsgType.CONNECT | typeof FoMsgType.CONNECTREPLY | typeof FoMsgType.CONTACT | typeof FoMsgType.DISCONNECT;

/** What reaches the endpoint: a message of the failover proper, on a connection past its handshake. */
export type SessionPdu = Exclude<FailoverPdu, { readonly type: ConnectionMsgType }>;

/** A message we start, before it gets its transaction id and sent-time. */
type Outgoing = { [P in FailoverPdu as P['type']]: { readonly type: P['type']; readonly content: P['content'] } }[FailoverPdu['type']];

/** §6.5: FO_CONTACT_PER_KEEPALIVE_TIME, CONTACTs within the partner's keepalive time. */
const CONTACTS_PER_KEEPALIVE = 4;
/** A partner keepalive so short it would have us send CONTACT in a busy loop gets no more than one every this. */
const CONTACT_EVERY_MS_MIN = 250;

export interface PartnerConnectionDeps {
  /** The handshake is done (§6.1.2, §6.1.3): the state machine's 'connected'. */
  connected(): void;
  /** The partner said DISCONNECT (§5.3.10); the channel is closed right after. */
  disconnected(): void;
  /** A message of the failover proper; `close` refuses one that makes no sense. */
  message(pdu: SessionPdu): void;
  /** The channel is gone, for whatever reason: nothing sent on it will be answered. */
  down(reason: string): void;
  /** Whether one of our messages with this transaction id still waits for its answer (§5.4). */
  awaitsReply(xid: number): boolean;
}

export class PartnerConnection {
  private channel: Channel | undefined;
  /** What the partner's CONNECT or CONNECTREPLY carried; set once the handshake is done, until the channel goes. */
  private partner: ConnectParams | undefined;
  private mclt: number;
  private recvTimer: TimerHandle | undefined;
  private contactTimer: TimerHandle | undefined;
  private lastSentMs = 0;
  private lastContact: number | null = null;
  private skew: number | null = null;
  private readonly holds = new Set<HoldReason>();

  constructor(
    private readonly daemon: FailoverHost,
    private readonly config: FailoverConfig,
    private readonly log: Logger,
    private readonly link: PartnerConnector,
    private readonly scheduler: Timers,
    private readonly deps: PartnerConnectionDeps,
  ) {
    this.mclt = config.mcltSec;
    link.on('up', (channel) => this.onUp(channel));
    link.on('pdu', (pdu, channel) => this.onPdu(pdu, channel));
    link.on('unusable-update', (xid, reply, reason, channel) => this.onUnusableUpdate(xid, reply, reason, channel));
    link.on('down', (reason) => this.onDown(reason));
    link.on('refused', () => daemon.counters.add('failover.connections.refused'));
  }

  /** Starts dialling (primary) or listening (secondary). */
  start(): Promise<void> {
    return this.link.start();
  }

  /** Closes the channel and stops connecting; the timers go with it. */
  async stop(): Promise<void> {
    await this.link.stop();
    this.scheduler.clear(this.recvTimer);
    this.scheduler.clear(this.contactTimer);
  }

  /** The handshake is done on the current channel: messages of the failover proper may cross. */
  get connected(): boolean {
    return this.partner !== undefined;
  }

  get secure(): boolean {
    return this.channel?.secure ?? false;
  }

  /** The relationship's MCLT: ours, or on the secondary the primary's once it has connected (§6.1.2). */
  get mcltSec(): number {
    return this.mclt;
  }

  /** The partner's OPTION_F_MAX_UNACKED_BNDUPD; 0 while not connected. */
  get partnerWindow(): number {
    return this.partner?.maxUnackedBndupd ?? 0;
  }

  /** When the last message from the partner arrived (wall clock), and its sent-time less our clock then. */
  get lastContactSec(): number | null {
    return this.lastContact;
  }

  get skewSec(): number | null {
    return this.skew;
  }

  // ---- sending ---------------------------------------------------------

  send(pdu: FailoverPdu): void {
    if (!this.channel) return;
    this.channel.send(pdu);
    this.lastSentMs = this.scheduler.nowMs();
  }

  /** A message we start: a fresh transaction id, sent now. */
  sendNew(m: Outgoing): void {
    this.send({ ...m, transactionId: this.nextXid(), sentTimeSec: this.daemon.clock.nowSec() } as FailoverPdu);
  }

  /**
   * §5.4: unique among our messages still outstanding. The link's counter
   * wraps at 2^24, and an UPDREQ/UPDREQALL may wait long for its UPDDONE (as
   * may a BNDUPD for its BNDREPLY): their ids are skipped until answered.
   */
  nextXid(): number {
    for (;;) {
      const xid = this.link.nextXid();
      if (!this.deps.awaitsReply(xid)) return xid;
    }
  }

  /** §5.3.10: DISCONNECT with ServerShuttingDown and why, on a connection past its handshake. */
  disconnect(message: string): void {
    if (this.channel && this.partner)
      this.sendNew({ type: FoMsgType.DISCONNECT, content: { status: { code: FoStatusCode.ServerShuttingDown, message } } });
  }

  /** Closes the current channel (the link dials or listens again unless held). */
  close(reason: string): void {
    this.channel?.close(reason);
  }

  // ---- holding the link down -------------------------------------------

  /** Why the partner link is held down now; empty: it may be up. */
  get held(): ReadonlySet<HoldReason> {
    return this.holds;
  }

  /** Keeps the link down for this reason, or lets go of it; whether that changed anything. */
  hold(reason: HoldReason, on: boolean): boolean {
    if (on === this.holds.has(reason)) return false;
    if (on) this.holds.add(reason);
    else this.holds.delete(reason);
    this.log.warn(
      { code: on ? 'FAILOVER_LINK_HELD' : 'FAILOVER_LINK_RELEASED', reason, on, holds: [...this.holds] },
      on ? 'partner link held down' : 'partner link released',
    );
    this.link.hold(this.holds.values().next().value);
    return true;
  }

  // ---- the channel -----------------------------------------------------

  private ourParams(): ConnectParams {
    return {
      protocolVersion: PROTOCOL_VERSION,
      mcltSec: this.mclt,
      keepaliveSec: this.config.keepaliveSec,
      maxUnackedBndupd: this.config.maxUnackedBndupd,
      relationshipName: this.config.relationshipName,
      // §4.2.2: every prefix carved from one pool has that pool's configured length.
      connectFlags: { fixedPdLength: true },
    };
  }

  private onUp(channel: Channel): void {
    // The link closes what it has when a hold begins and refuses what comes later, but a hold
    // that begins as one connection replaces another (the old one's close is the first we hear
    // of the partner taking over from our maintenance) finds the new one not yet current.
    const held = this.holds.values().next().value;
    if (held !== undefined) return channel.close(`link held: ${held}`);
    this.channel = channel;
    this.partner = undefined;
    this.armReceive();
    if (this.config.role === 'primary') this.sendNew({ type: FoMsgType.CONNECT, content: this.ourParams() });
  }

  private onDown(reason: string): void {
    this.channel = undefined;
    this.partner = undefined;
    this.scheduler.clear(this.recvTimer);
    this.scheduler.clear(this.contactTimer);
    this.daemon.counters.add('failover.connections.lost');
    this.deps.down(reason);
  }

  /** §6.6: nothing received for our keepalive time means the partner is gone. */
  private armReceive(): void {
    this.scheduler.clear(this.recvTimer);
    this.recvTimer = this.scheduler.set(
      () => this.channel?.close(`nothing received for ${this.config.keepaliveSec} s (keepalive)`),
      this.config.keepaliveSec * 1000,
    );
  }

  /** §6.6: a CONTACT whenever nothing else went out for the partner's keepalive time over FO_CONTACT_PER_KEEPALIVE_TIME. */
  private armContact(partnerKeepaliveSec: number): void {
    this.scheduler.clear(this.contactTimer);
    const everyMs = Math.max(CONTACT_EVERY_MS_MIN, (partnerKeepaliveSec * 1000) / CONTACTS_PER_KEEPALIVE);
    this.contactTimer = this.scheduler.repeat(() => {
      if (this.scheduler.nowMs() - this.lastSentMs >= everyMs * 0.9) this.sendNew({ type: FoMsgType.CONTACT, content: {} });
    }, everyMs);
  }

  /** Every message on the current channel: it shows the partner alive (§6.6), its clock is checked (§7.5.1), then it is handled. */
  private onPdu(pdu: FailoverPdu, channel: Channel): void {
    if (channel !== this.channel) return;
    const nowSec = this.daemon.clock.nowSec();
    this.armReceive();
    this.lastContact = nowSec;
    this.skew = pdu.sentTimeSec - nowSec;
    // §7.5.1: a difference over 5 s either way drops the connection (§7.1: every time comparison
    // of §7.5.4 assumes clocks within 5 s). A message held up on the way looks like a clock
    // behind ours; the connection it arrives on is then slow enough to be worth re-making.
    if (Math.abs(this.skew) > SKEW_TOLERANCE_SEC) {
      this.daemon.counters.add('failover.alarms.clock-skew');
      this.log.error({ code: 'FAILOVER_PARTNER_CLOCK_SKEW', skewSec: this.skew }, 'partner clock differs by more than 5 s');
      if (pdu.type === FoMsgType.CONNECT)
        this.connectReply(pdu.transactionId, { code: FoStatusCode.ExcessiveTimeSkew, message: `clocks differ by ${this.skew} s` });
      channel.close(`clock skew ${this.skew} s`);
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
      case FoMsgType.CONTACT:
        return;
      case FoMsgType.DISCONNECT:
        this.log.info({ status: pdu.content.status }, 'partner sent DISCONNECT');
        this.deps.disconnected();
        return channel.close('partner disconnected');
      default:
        return this.deps.message(pdu);
    }
  }

  /** §7.5.3, §7.6: a BNDUPD we could not read is still answered, so the partner's window drains and the connection stays. */
  private onUnusableUpdate(xid: number, reply: BindingReply, reason: string, channel: Channel): void {
    if (channel !== this.channel) return;
    this.armReceive();
    this.lastContact = this.daemon.clock.nowSec();
    if (this.partner === undefined) return channel.close('BNDUPD before CONNECT/CONNECTREPLY');
    this.daemon.counters.add('failover.bndupd.unusable');
    this.log.warn({ code: 'FAILOVER_BNDUPD_UNUSABLE', xid, reason }, 'binding update unusable: answered with MissingBindingInformation');
    this.send({ type: FoMsgType.BNDREPLY, transactionId: xid, sentTimeSec: this.daemon.clock.nowSec(), content: reply });
  }

  private connectReply(xid: number, status?: Status): void {
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
      this.connectReply(xid, {
        code: FoStatusCode.NotSupported,
        message: `protocol ${p.protocolVersion.major}.${p.protocolVersion.minor} not supported`,
      });
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
    if (p.mcltSec !== this.mclt) this.log.info({ ours: this.mclt, primary: p.mcltSec }, 'adopting the primary MCLT');
    this.mclt = p.mcltSec;
    this.partner = p;
    this.connectReply(xid);
    this.armContact(p.keepaliveSec);
    this.deps.connected();
  }

  /** Primary, §6.1.3: the secondary's answer must match what we sent; a refusal leaves the link's back-off growing (§6.1). */
  private onConnectReply(c: { params?: ConnectParams; status?: Status }): void {
    if (this.config.role !== 'primary') return this.channel?.close('CONNECTREPLY received by the secondary');
    if (c.status && c.status.code !== FoStatusCode.Success) {
      this.log.error({ code: 'FAILOVER_PARTNER_REJECTED_CONNECT', status: c.status }, 'partner refused CONNECT');
      return this.channel?.close(`partner refused CONNECT: ${c.status.message}`);
    }
    const p = c.params;
    if (!p || p.mcltSec !== this.mclt || p.protocolVersion.major !== PROTOCOL_VERSION.major) {
      this.refuseReply('CONNECTREPLY does not match our CONNECT');
      return this.channel?.close('CONNECTREPLY with another MCLT or protocol version');
    }
    const flags = this.connectFlagsProblem(p);
    if (flags) {
      this.refuseReply(flags);
      return this.channel?.close(flags);
    }
    this.partner = p;
    this.link.established();
    this.armContact(p.keepaliveSec);
    this.deps.connected();
  }

  /** §6.1.3: a CONNECTREPLY we cannot work with is answered with DISCONNECT before the connection is dropped. */
  private refuseReply(message: string): void {
    this.sendNew({ type: FoMsgType.DISCONNECT, content: { status: { code: FoStatusCode.ConfigurationConflict, message } } });
  }
}

// The path of one packet (docs/architecture.md §3): datagram → wire decode →
// relay unwrap → engine → store commit (group fsync) → encode → send. Nothing
// thrown below escapes onDatagram: a bad packet is counted and dropped, and
// the server keeps serving.

import type { Logger } from 'pino';
import { decodeMessage, encodeMessage, unwrapRelay, wrapRelayReply } from '../wire/index.js';
import { MsgType, msgTypeName } from '../wire/constants.js';
import type { ClientServerMessage, RelayMessage } from '../wire/types.js';
import type { Engine, FailoverPolicy, LeaseChange, LeasequeryOutcome } from '../engine/index.js';
import { isStoreBusy, isStoreRejected, type LeaseStore } from '../store/index.js';
import type { Datagram } from '../net/dhcp-socket.js';
import type { Counters } from './counters.js';
import { levelFor, sheds, type ShedLevel } from './load-shed.js';

/**
 * The largest UDP payload an IPv6 socket sends without jumbograms (65,535 less
 * the 8-octet UDP header); a larger one fails with EMSGSIZE. RFC 8415 §16 and
 * RFC 8200 §5 leave fragmentation to the stack, so this is the only hard bound.
 */
export const UDP6_PAYLOAD_MAX = 65_527;

/** Leasequery outcomes that answer the query; the others refuse it with a status (RFC 5007 §4.1.3). */
const LEASEQUERY_ANSWERED: ReadonlySet<LeasequeryOutcome> = new Set(['answered', 'client-links', 'empty']);

export interface PacketPathDeps {
  /** Read side of the lease database, for the engine. */
  readonly store: LeaseStore;
  /** What failover allows right now (read per packet: it changes with the endpoint state). */
  readonly policy: () => FailoverPolicy;
  /** Makes changes durable; resolves only once they are on stable storage. */
  readonly commit: (changes: readonly LeaseChange[]) => Promise<void>;
  readonly counters: Counters;
  readonly log: Logger;
  /** Wall clock in whole seconds. */
  readonly nowSec: () => number;
  /** Called when the store can no longer be trusted: the daemon must stop. */
  readonly onStoreFailure: (e: unknown) => void;
  /** A client message left for the partner to answer (policy, or its Server Identifier): failover watches these. */
  readonly onUnanswered?: (message: ClientServerMessage) => void;
  /** Event-loop lag now, in ms (load-shed.ts); absent: never shed for lag. */
  readonly loopLagMs?: () => number;
  /** Whether the wall clock is at or above its floor (clock-floor.ts); absent: always. */
  readonly clockTrusted?: () => boolean;
}

export class PacketPath {
  private engine: Engine;
  /** Replies decided and waiting for their commit. */
  private awaitingCommit = 0;

  constructor(
    engine: Engine,
    private readonly deps: PacketPathDeps,
  ) {
    this.engine = engine;
  }

  /** SIGHUP: later packets see the new configuration; packets in flight finish with the old one. */
  setEngine(engine: Engine): void {
    this.engine = engine;
  }

  onDatagram(d: Datagram): void {
    this.handle(d).catch((e: unknown) => {
      this.deps.counters.add('drop.internal-error');
      this.deps.log.error({ code: 'DHCP_PACKET_FAILED', err: e }, 'packet handling failed');
    });
  }

  private async handle(d: Datagram): Promise<void> {
    const { counters, log, store } = this.deps;
    counters.add('rx.packets');
    const decoded = decodeMessage(d.data);
    if (!decoded.ok) return this.dropped(d, `decode.${decoded.error.reason}`, decoded.error.detail);
    const unwrapped = unwrapRelay(decoded.message);
    if (!unwrapped.ok) return this.dropped(d, `decode.${unwrapped.error.reason}`, unwrapped.error.detail);
    const { client, relays } = unwrapped;
    // RFC 8415 §16: a server never accepts a Relay-reply, at any level.
    if (relays.some((r) => r.type === 13)) return this.dropped(d, 'engine.server-msg-type', 'RELAY_REPL');
    counters.add(`rx.${msgTypeName(client.type)}`);
    // docs/image.md §12: a clock known to be wrong would stamp every lease with a wrong time.
    if (this.deps.clockTrusted?.() === false) return this.dropped(d, 'clock-behind', msgTypeName(client.type));
    if (sheds(client.type, this.shedLevel())) {
      counters.add(`shed.${msgTypeName(client.type)}`);
      return this.dropped(d, 'shed', msgTypeName(client.type));
    }
    if (client.type === MsgType.LEASEQUERY) return this.leasequery(d, client, relays);

    const decision = this.engine.handle(
      { message: client, relays, interface: d.interface, unicast: d.unicast, sourceAddress: d.sourceAddress },
      { nowSec: this.deps.nowSec(), view: store, policy: this.deps.policy() },
    );
    if (decision.kind === 'drop') {
      // Left to the partner: by policy, or addressed to the partner's Server Identifier (a Renew of its lease).
      if (decision.reason === 'policy' || decision.reason === 'not-our-server-id') this.deps.onUnanswered?.(client);
      return this.dropped(d, `engine.${decision.reason}`, msgTypeName(client.type));
    }

    for (const r of decision.refusals ?? []) counters.add(`refused.${r}`);

    // Sized before anything is committed: a lease promised in a Reply that cannot be sent would
    // stay allocated, unknown to its client, until it expired.
    const out = this.encodeFor(d, client, decision.reply, relays);
    if (!out) return;

    if (decision.changes.length > 0) {
      this.awaitingCommit++;
      try {
        // The Reply promises these leases: it leaves only once they are on stable storage.
        await this.deps.commit(decision.changes);
      } catch (e) {
        // Too much waiting for the disk: shed this request (the client retransmits), the store is fine.
        if (isStoreBusy(e)) return this.dropped(d, 'store-busy', msgTypeName(client.type));
        // A change the record format cannot hold was refused before anything was written: a bug
        // on this side, but no reason to stop serving everyone else.
        if (isStoreRejected(e)) {
          log.error(
            { code: 'STORE_CHANGE_REJECTED', err: e, type: msgTypeName(client.type) },
            'lease change refused by the store; request dropped',
          );
          return this.dropped(d, 'store-rejected', msgTypeName(client.type));
        }
        counters.add('drop.commit-failed');
        this.deps.onStoreFailure(e);
        return;
      } finally {
        this.awaitingCommit--;
      }
    }
    if (await this.send(d, out, decision.reply)) {
      log.debug({ to: d.sourceAddress, type: msgTypeName(decision.reply.type), changes: decision.changes.length }, 'reply sent');
    }
  }

  /**
   * RFC 5007 Leasequery (docs/protocol.md §3): read-only, so no commit, and never reported to
   * failover as unanswered — a requestor is not a client the partner should serve.
   */
  private async leasequery(d: Datagram, query: ClientServerMessage, relays: readonly RelayMessage[]): Promise<void> {
    const decision = this.engine.leasequery(
      { message: query, relays, interface: d.interface, unicast: d.unicast, sourceAddress: d.sourceAddress },
      { nowSec: this.deps.nowSec(), view: this.deps.store },
    );
    if (decision.kind === 'drop') return this.dropped(d, `engine.${decision.reason}`, msgTypeName(query.type));
    const { counters } = this.deps;
    counters.add(LEASEQUERY_ANSWERED.has(decision.outcome) ? `leasequery.${decision.outcome}` : `leasequery.refused.${decision.outcome}`);
    if (decision.truncated) counters.add('leasequery.truncated');
    const out = this.encodeFor(d, query, decision.reply, relays);
    if (!out) return;
    if (await this.send(d, out, decision.reply)) {
      this.deps.log.debug({ from: d.sourceAddress, outcome: decision.outcome }, 'leasequery answered');
    }
  }

  /** The reply's octets, wrapped for its relays (RFC 8415 §19.3); undefined, counted, when too large to send. */
  private encodeFor(
    d: Datagram,
    query: ClientServerMessage,
    reply: ClientServerMessage,
    relays: readonly RelayMessage[],
  ): Buffer | undefined {
    const out = encodeMessage(relays.length > 0 ? wrapRelayReply(reply, relays) : reply);
    if (out.length <= UDP6_PAYLOAD_MAX) return out;
    this.dropped(d, 'reply-too-large', `${msgTypeName(query.type)}: ${out.length} octets`);
    return undefined;
  }

  /** Relayed: back to the relay's address and port (RFC 8415 §19.3, RFC 8357); direct: to the client's source. */
  private async send(d: Datagram, out: Buffer, reply: ClientServerMessage): Promise<boolean> {
    const { counters, log } = this.deps;
    try {
      await d.reply(out, d.sourceAddress, d.sourcePort);
    } catch (e) {
      counters.add('tx.failed');
      log.warn({ code: 'DHCP_REPLY_SEND_FAILED', err: e, to: d.sourceAddress, type: msgTypeName(reply.type) }, 'reply could not be sent');
      return false;
    }
    counters.add(`tx.${msgTypeName(reply.type)}`);
    return true;
  }

  /** How much to shed now: by event-loop lag, and by replies stuck behind the disk. */
  shedLevel(): ShedLevel {
    return levelFor(this.deps.loopLagMs?.() ?? 0, this.awaitingCommit);
  }

  private dropped(d: Datagram, reason: string, detail: string): void {
    this.deps.counters.add('drop.total');
    this.deps.counters.add(`drop.${reason}`);
    this.deps.log.debug({ from: d.sourceAddress, iface: d.interface, reason, detail }, 'packet dropped');
  }
}

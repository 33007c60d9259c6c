import type { ClientServerMessage, RelayMessage } from '../wire/types.js';

/** A client message as the socket layer saw it, after relay unwrapping. */
export interface Inbound {
  readonly message: ClientServerMessage;
  /** Relay-forward levels it came through, outermost first; empty when the client is on our link. */
  readonly relays: readonly RelayMessage[];
  /** Interface the datagram arrived on. */
  readonly interface: string;
  /** True when the datagram's destination was a unicast address (RFC 8415 §16, §18.4). */
  readonly unicast: boolean;
  /**
   * The datagram's source address, without zone: the client itself, or the
   * relay that sent it. Recorded with delegations (Lease.via); optional so that
   * callers without a socket (tests, benches) need not invent one.
   */
  readonly sourceAddress?: string;
}

/** Why the engine sent nothing. Each reason is its own counter. */
export type DropReason =
  | 'unknown-msg-type'
  | 'server-msg-type' // Advertise, Reply, Reconfigure, Relay-reply: never accepted by a server (§16)
  | 'missing-client-id'
  | 'missing-server-id'
  | 'missing-lq-query' // a LEASEQUERY without OPTION_LQ_QUERY (RFC 5007 §4.2.1)
  | 'unexpected-server-id'
  | 'not-our-server-id'
  | 'ia-in-information-request'
  | 'unicast-not-allowed'
  | 'unknown-link'
  | 'confirm-undecidable'
  | 'rebind-nothing-to-say'
  | 'policy';

/**
 * Why part of a message was not served although the message was answered.
 * Each is its own counter (`refused.<reason>`), so an operator sees what a
 * hostile or broken client tried.
 *
 * hint-not-canonical — an IAPREFIX hint with bits set beyond its length: ignored (RFC 8415 §18.3.1 lets the server).
 * hints-per-ia       — more hints in one IA than are looked at; the rest ignored.
 * ias-per-message    — more IAs of one type than `limits.iasPerMessage`; the rest get NoAddrsAvail/NoPrefixAvail.
 * leases-per-client  — the DUID holds `limits.leasesPerClient` active leases; a new IA gets NoAddrsAvail/NoPrefixAvail.
 * allocation-budget  — the message used up its candidate checks before a free entry was found.
 */
export type Refusal = 'hint-not-canonical' | 'hints-per-ia' | 'ias-per-message' | 'leases-per-client' | 'allocation-budget';

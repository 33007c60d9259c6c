// A lease is one address (IA_NA) or one delegated prefix (IA_PD) bound to one
// client's IA. It is the unit the store persists, the failover partner will
// replicate, and the engine reasons about.

export type IaType = 'na' | 'pd';

/**
 * active   — bound to the client and valid until expiresAtSec.
 * declined — the client reported the address in use (RFC 8415 §18.3.8); held back
 *            from allocation until expiresAtSec.
 * released — the client gave it back; kept (until expiresAtSec) so the same client
 *            can get it again, while any other client may take it.
 * expired  — its valid lifetime ran out; kept for affinity like released.
 */
export type LeaseState = 'active' | 'declined' | 'released' | 'expired';

export interface Lease {
  /**
   * What is leased, and the store's primary key: an address for IA_NA
   * ("2001:db8:1::1000"), a prefix with its length for IA_PD ("2001:db8:8000:100::/56").
   */
  readonly resource: string;
  readonly type: IaType;
  /** Client DUID as lowercase hex, no separators. */
  readonly duid: string;
  readonly iaid: number;
  readonly state: LeaseState;
  /** Lifetimes last granted to the client, in seconds. */
  readonly preferredSec: number;
  readonly validSec: number;
  /** Client last transaction time: wall clock, seconds since the Unix epoch. */
  readonly clttSec: number;
  /** Wall-clock second at which the current state ends (valid lifetime, decline hold, affinity hold). */
  readonly expiresAtSec: number;
  /** What the failover partner knows of this lease (RFC 8156 §7.3); absent on a standalone server. */
  readonly fo?: LeaseFailover;
  /** Who asked for a delegated prefix, so the shell can route it there (net/routes.ts); IA_PD leases only. */
  readonly via?: RequestedVia;
  /**
   * T1 and T2 of the IA the client was last given this lease in (RFC 8415
   * §21.4): a failover partner must be told them (RFC 8156 §7.4). Absent when
   * not known (a record from before they were kept).
   */
  readonly timers?: { readonly t1Sec: number; readonly t2Sec: number };
}

/**
 * The requesting router of a delegation (RFC 8415 §6.3): where traffic for the
 * prefix must go. Recorded by the engine from the packet, never read by it.
 */
export interface RequestedVia {
  /** The client's source address when it is on our link; the innermost relay's peer-address when relayed (§9). */
  readonly address: string;
  /** Interface the request arrived on. */
  readonly interface: string;
  /** The relay that sent the request to us (the datagram's source), when it is not `address` itself. */
  readonly relay?: string;
}

/**
 * The per-lease times RFC 8156 §4.4 and §7.3 make a failover server keep. All
 * are absolute wall-clock seconds, 0 when unknown. The engine never reads or
 * writes them: failover stamps them on commit and reads them in its policy.
 */
export interface LeaseFailover {
  /** This lease changed and the partner has not acknowledged the change yet (send a BNDUPD). */
  readonly pending: boolean;
  /** The partner lifetime sent (or to send) in the BNDUPD for the current change. */
  readonly partnerLifetimeSec: number;
  /** The greatest partner lifetime the partner acknowledged: the base of the MCLT cap (§4.4). */
  readonly ackedPartnerLifetimeSec: number;
  /** The greatest partner lifetime we acknowledged to the partner ("expiration-time", §7.3). */
  readonly expirationTimeSec: number;
  /** When the binding status took its current value (§7.3 start-time-of-state; conflict resolution). */
  readonly startOfStateSec: number;
  /**
   * The partner's last interaction with the client, on the partner's clock,
   * exactly as received (§7.3 partner-raw-clt-time: never adjusted); absent or
   * 0 when the partner never told us one. clttSec stays our own.
   */
  readonly partnerRawCltSec?: number;
  /**
   * What the partner sent about the client that we keep only to send back
   * (RFC 8156 §7.4: reconfigure data, relay data, CLIENT_FQDN, DNS removal
   * info), as option octets (wire/failover/kept.ts); at most KEPT_BYTES_MAX.
   */
  readonly clientData?: Uint8Array;
}

/** The most client data a lease keeps for the partner (four record extensions of 255 octets). */
export const KEPT_BYTES_MAX = 1020;

export type LeaseChange = { readonly op: 'put'; readonly lease: Lease } | { readonly op: 'delete'; readonly resource: string };

/** Read-only, synchronous view of the lease database that the engine decides from. */
export interface BindingView {
  byResource(resource: string): Lease | undefined;
  /** Every lease (any state) recorded for this client's IA. */
  byIa(duid: string, iaid: number, type: IaType): readonly Lease[];
  /** Every lease (any state, any IA) recorded for this client: what the per-client limit counts. */
  byClient(duid: string): readonly Lease[];
  /** Leases whose expiresAtSec ≤ nowSec, soonest first, at most limit. */
  dueBefore(nowSec: number, limit: number): readonly Lease[];
  readonly size: number;
}

export const iaKey = (duid: string, iaid: number, type: IaType): string => `${type}|${duid}|${iaid}`;

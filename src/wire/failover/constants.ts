// RFC 8156 protocol numbers. The draft this project read (-06, see
// docs/protocol.md §0) says "TBDn" everywhere; the numbers are IANA's, as
// Kea (dhcp6.h), systemd (sd-dhcp6-protocol.h) and the RFC 8415 option table
// print them. Plain `as const` objects, like ../constants.ts.

/**
 * Message types on the partner connection. 24–35 are RFC 8156 §5.3 and use
 * its 8-octet header (§5.2). STARTTLS (23, RFC 7653 §6.2.2) and REPLY (7,
 * RFC 8415) come from the TLS set-up that RFC 8156 §6.1 borrows from RFC 7653
 * §8.2/§9.1; they are ordinary DHCPv6 messages with the 4-octet header
 * (RFC 8415 §8). [verify] RFC 8156 does not restate their header; -06 §5.2
 * defines the 8-octet header for "failover messages defined below" only.
 */
export const FoMsgType = {
  REPLY: 7,
  STARTTLS: 23,
  BNDUPD: 24,
  BNDREPLY: 25,
  POOLREQ: 26,
  POOLRESP: 27,
  UPDREQ: 28,
  UPDREQALL: 29,
  UPDDONE: 30,
  CONNECT: 31,
  CONNECTREPLY: 32,
  DISCONNECT: 33,
  STATE: 34,
  CONTACT: 35,
} as const;
export type FoMsgTypeCode = (typeof FoMsgType)[keyof typeof FoMsgType];
/** The types with the 8-octet failover header (RFC 8156 §5.2). */
export type FailoverMsgTypeCode = Exclude<FoMsgTypeCode, 7 | 23>;
/** The types with the 4-octet RFC 8415 §8 header. */
export type TlsMsgTypeCode = 7 | 23;

export const isFailoverMsgType = (t: number): t is FailoverMsgTypeCode => t >= 24 && t <= 35;
export const isTlsMsgType = (t: number): t is TlsMsgTypeCode => t === 7 || t === 23;

export const foMsgTypeName = (type: number): string =>
  (Object.keys(FoMsgType) as (keyof typeof FoMsgType)[]).find((k) => FoMsgType[k] === type) ?? `MSG_${type}`;

/**
 * Option codes a failover message carries that the DHCPv6 table in
 * ../options.ts does not model: RFC 8156 §5.5 (114–134) and the RFC 5007 /
 * RFC 7653 / RFC 6607 / RFC 4704 options BNDUPD reuses (§7.4). They travel
 * through the shared codec as UNKNOWN options, byte for byte; options.ts in
 * this folder gives them types.
 */
export const FoOptionCode = {
  CLIENT_FQDN: 39, // RFC 4704, kept as octets
  CLIENT_DATA: 45, // RFC 5007 §4.1.2.2
  CLT_TIME: 46, // RFC 5007 §4.1.2.3, relative seconds
  LQ_RELAY_DATA: 47, // RFC 5007 §4.1.2.4, kept as octets
  VSS: 68, // RFC 6607 §3.4, kept as octets
  LQ_BASE_TIME: 100, // RFC 7653 §6.3.1, absolute time
  F_BINDING_STATUS: 114,
  F_CONNECT_FLAGS: 115,
  F_DNS_REMOVAL_INFO: 116,
  F_DNS_HOST_NAME: 117,
  F_DNS_ZONE_NAME: 118,
  F_DNS_FLAGS: 119,
  F_EXPIRATION_TIME: 120,
  F_MAX_UNACKED_BNDUPD: 121,
  F_MCLT: 122,
  F_PARTNER_LIFETIME: 123,
  F_PARTNER_LIFETIME_SENT: 124,
  F_PARTNER_DOWN_TIME: 125,
  F_PARTNER_RAW_CLT_TIME: 126,
  F_PROTOCOL_VERSION: 127,
  F_KEEPALIVE_TIME: 128,
  F_RECONFIGURE_DATA: 129,
  F_RELATIONSHIP_NAME: 130,
  F_SERVER_FLAGS: 131,
  F_SERVER_STATE: 132,
  F_START_TIME_OF_STATE: 133,
  F_STATE_EXPIRATION_TIME: 134,
} as const;
export type FoOptionName = keyof typeof FoOptionCode;

/** RFC 8156 §5.5.1 / §7.2. 0 is reserved and, like 9..255, rejected on receipt. */
export const BindingStatus = {
  ACTIVE: 1,
  EXPIRED: 2,
  RELEASED: 3,
  PENDING_FREE: 4,
  FREE: 5,
  FREE_BACKUP: 6,
  ABANDONED: 7,
  RESET: 8,
} as const;
export type BindingStatusCode = (typeof BindingStatus)[keyof typeof BindingStatus];
export const isBindingStatus = (v: number): v is BindingStatusCode => Number.isInteger(v) && v >= 1 && v <= 8;

/**
 * Endpoint states (RFC 8156 §8), valued with their OPTION_F_SERVER_STATE
 * codes (§5.5.16). There is no SHUTDOWN state: the draft's table (-06) had
 * one at 7, where the RFC puts RECOVER-WAIT.
 */
export const ServerState = {
  STARTUP: 1, // never sent: shown by the STARTUP server flag (§5.5.16 note 1, §8.3.1)
  NORMAL: 2,
  COMMUNICATIONS_INTERRUPTED: 3,
  PARTNER_DOWN: 4,
  POTENTIAL_CONFLICT: 5,
  RECOVER: 6,
  RECOVER_WAIT: 7,
  RECOVER_DONE: 8,
  RESOLUTION_INTERRUPTED: 9,
  CONFLICT_DONE: 10,
} as const;
export type ServerStateValue = (typeof ServerState)[keyof typeof ServerState];
/** What OPTION_F_SERVER_STATE carries: every state has its code. */
export type ServerStateCode = ServerStateValue;

export const isServerStateCode = (v: number): v is ServerStateCode => Number.isInteger(v) && v >= 1 && v <= 10;

export const serverStateName = (s: number): string =>
  (Object.keys(ServerState) as (keyof typeof ServerState)[]).find((k) => ServerState[k] === s) ?? `STATE_${s}`;

/**
 * The RFC's spelling of a state ("COMMUNICATIONS-INTERRUPTED",
 * "RECOVER-WAIT"), which src/failover/ uses as its state names, and back.
 * Undefined for values that are not states.
 */
export const serverStateRfcName = (s: number): string | undefined => {
  const key = (Object.keys(ServerState) as (keyof typeof ServerState)[]).find((k) => ServerState[k] === s);
  return key?.replace(/_/g, '-');
};

export const serverStateFromRfcName = (name: string): ServerStateValue | undefined => {
  const key = name.replace(/-/g, '_');
  return Object.hasOwn(ServerState, key) ? ServerState[key as keyof typeof ServerState] : undefined;
};

/**
 * OPTION_F_SERVER_FLAGS bits (§5.5.15). Bits are numbered from the most
 * significant, so bit 7 (C) is 0x01. Bits 0–4 are MBZ: never sent, ignored
 * on receipt (a later revision may give them a meaning).
 */
export const ServerFlag = { COMMUNICATED: 0x01, STARTUP: 0x02, ACK_STARTUP: 0x04 } as const;

/** OPTION_F_CONNECT_FLAGS bit 15, FIXED_PD_LENGTH (§5.5.2); bits 0–14 MBZ, ignored on receipt. */
export const ConnectFlag = { FIXED_PD_LENGTH: 0x0001 } as const;

/** OPTION_F_DNS_FLAGS bits 12–15 (§5.5.3.3), kept as the raw 16-bit value. */
export const DnsFlag = {
  FWD_UPTODATE: 0x0001,
  REV_UPTODATE: 0x0002,
  SYNTHESIZED_NAME: 0x0004,
  USING_REQUESTED_FQDN: 0x0008,
} as const;

/** Status codes on the partner connection: RFC 7653 (14, 15) and RFC 8156 §5.6 (16–22). */
export const FoStatusCode = {
  Success: 0,
  NotSupported: 14,
  TLSConnectionRefused: 15,
  AddressInUse: 16,
  ConfigurationConflict: 17,
  MissingBindingInformation: 18,
  OutdatedBindingInformation: 19,
  ServerShuttingDown: 20,
  DNSUpdateNotSupported: 21,
  ExcessiveTimeSkew: 22,
} as const;

export const foStatusName = (code: number): string =>
  (Object.keys(FoStatusCode) as (keyof typeof FoStatusCode)[]).find((k) => FoStatusCode[k] === code) ?? `STATUS_${code}`;

/** §5.5.11: "Initially 1" and "Initially 0". */
export const PROTOCOL_VERSION = { major: 1, minor: 0 } as const;

/** §5.1, §6.1: the dhcp-failover port. */
export const FAILOVER_TCP_PORT = 647;

/** Unix time of 2000-01-01T00:00:00Z, the epoch of "absolute time" (§3 Glossary). */
export const EPOCH_2000_UNIX_SEC = 946_684_800;

/** RFC 5460 §5.1: the length prefix is 2 octets, so no message is longer. */
export const FRAME_LENGTH_MAX = 0xffff;
export const FRAME_PREFIX_LENGTH = 2;

/** §5.2: msg-type(1) transaction-id(3) sent-time(4). */
export const FAILOVER_HEADER_LENGTH = 8;
/** RFC 8415 §8: msg-type(1) transaction-id(3), for STARTTLS and REPLY. */
export const TLS_HEADER_LENGTH = 4;

/** §7.1, §7.5.1: clocks within 5 s; times within ±5 s compare equal. */
export const SKEW_TOLERANCE_SEC = 5;

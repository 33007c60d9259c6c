// Protocol numbers, grouped by the RFC that assigns them. Plain `as const`
// objects rather than `const enum`, so that every tool (tsc, esbuild, vitest)
// compiles them the same way file by file.

/** RFC 8415 §7.3 message types (plus later registrations a server may see). */
export const MsgType = {
  SOLICIT: 1,
  ADVERTISE: 2,
  REQUEST: 3,
  CONFIRM: 4,
  RENEW: 5,
  REBIND: 6,
  REPLY: 7,
  RELEASE: 8,
  DECLINE: 9,
  RECONFIGURE: 10,
  INFORMATION_REQUEST: 11,
  RELAY_FORW: 12,
  RELAY_REPL: 13,
  LEASEQUERY: 14, // RFC 5007 §4.1.1
  LEASEQUERY_REPLY: 15, // RFC 5007 §4.1.1
  LEASEQUERY_DATA: 16, // RFC 5460 §5.2.1, TCP only
  LEASEQUERY_DONE: 17, // RFC 5460 §5.2.2, TCP only
} as const;
export type KnownMsgType = (typeof MsgType)[keyof typeof MsgType];

export const msgTypeName = (type: number): string =>
  (Object.keys(MsgType) as (keyof typeof MsgType)[]).find((k) => MsgType[k] === type) ?? `MSG_${type}`;

/** RFC 8415 §21 option codes, and the ones from related RFCs the server emits. */
export const OptionCode = {
  CLIENTID: 1,
  SERVERID: 2,
  IA_NA: 3,
  IA_TA: 4,
  IAADDR: 5,
  ORO: 6,
  PREFERENCE: 7,
  ELAPSED_TIME: 8,
  RELAY_MSG: 9,
  AUTH: 11,
  UNICAST: 12,
  STATUS_CODE: 13,
  RAPID_COMMIT: 14,
  USER_CLASS: 15,
  VENDOR_CLASS: 16,
  VENDOR_OPTS: 17,
  INTERFACE_ID: 18,
  RECONF_MSG: 19,
  RECONF_ACCEPT: 20,
  DNS_SERVERS: 23, // RFC 3646
  DOMAIN_LIST: 24, // RFC 3646
  IA_PD: 25,
  IAPREFIX: 26,
  INFORMATION_REFRESH_TIME: 32,
  SOL_MAX_RT: 82,
  INF_MAX_RT: 83,
} as const;

/** RFC 8415 §21.13 status codes. */
export const StatusCode = {
  Success: 0,
  UnspecFail: 1,
  NoAddrsAvail: 2,
  NoBinding: 3,
  NotOnLink: 4,
  UseMulticast: 5,
  NoPrefixAvail: 6,
  // RFC 5007 §4.1.3: Leasequery's status codes, in the same registry.
  UnknownQueryType: 7,
  MalformedQuery: 8,
  NotConfigured: 9,
  NotAllowed: 10,
} as const;
export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

/** RFC 8415 §11 DUID types. Treated as opaque; the type only matters for display. */
export const DuidType = { LLT: 1, EN: 2, LL: 3, UUID: 4 } as const;

/** RFC 8415 §11.1: a DUID is a 2-octet type plus at most 128 octets. */
export const DUID_LENGTH_MAX = 130;
export const DUID_LENGTH_MIN = 3;

/** 0xffffffff means "infinity" in every lifetime and T1/T2 field (RFC 8415 §7.7). */
export const INFINITY_SEC = 0xffff_ffff;

/**
 * Relay nesting the parser accepts. RFC 8415 §7.6 sets HOP_COUNT_LIMIT = 8 for
 * relays; a server has no normative limit, so we keep RFC 3315's 32 as a
 * safety bound on recursion over untrusted input.
 */
export const RELAY_DEPTH_MAX = 32;

export const SERVER_PORT = 547;
export const CLIENT_PORT = 546;
export const ALL_DHCP_RELAY_AGENTS_AND_SERVERS = 'ff02::1:2';
export const ALL_DHCP_SERVERS = 'ff05::1:3';

/** RFC 8415 §7.6 */
export const IRT_DEFAULT_SEC = 86_400;
export const IRT_MINIMUM_SEC = 600;

/**
 * Encapsulation depth of options inside one message (IA_NA > IAADDR > STATUS_CODE
 * is 2; IA_PD > IAPREFIX > PD_EXCLUDE is 2). A bound on recursion over untrusted
 * input, far above anything RFC 8415 §21 defines.
 */
export const OPTION_NESTING_MAX = 8;

/** RFC 1035 §2.3.4: labels are 1..63 octets, whole names at most 255 octets on the wire. */
export const DNS_LABEL_LENGTH_MAX = 63;
export const DNS_NAME_LENGTH_MAX = 255;

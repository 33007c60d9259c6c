// The typed shape of DHCPv6 messages (RFC 8415 §8, §9) and options (§21).
// Addresses travel as canonical RFC 5952 strings ("2001:db8::1") so that they
// compare with === and serve as map keys; DUIDs and opaque fields as bytes.

/** Option carrying an opaque DUID (RFC 8415 §11). */
export interface DuidOption<K extends 'CLIENTID' | 'SERVERID'> {
  readonly kind: K;
  readonly duid: Uint8Array;
}

export interface IaNaOption {
  readonly kind: 'IA_NA';
  readonly iaid: number;
  readonly t1Sec: number;
  readonly t2Sec: number;
  readonly options: readonly Option[];
}

export interface IaTaOption {
  readonly kind: 'IA_TA';
  readonly iaid: number;
  readonly options: readonly Option[];
}

export interface IaPdOption {
  readonly kind: 'IA_PD';
  readonly iaid: number;
  readonly t1Sec: number;
  readonly t2Sec: number;
  readonly options: readonly Option[];
}

export interface IaAddrOption {
  readonly kind: 'IAADDR';
  readonly address: string;
  readonly preferredSec: number;
  readonly validSec: number;
  readonly options: readonly Option[];
}

export interface IaPrefixOption {
  readonly kind: 'IAPREFIX';
  readonly preferredSec: number;
  readonly validSec: number;
  readonly prefixLength: number;
  /** The prefix's address part, canonical form ("2001:db8:8000:100::"). */
  readonly prefix: string;
  readonly options: readonly Option[];
}

export interface OroOption {
  readonly kind: 'ORO';
  readonly codes: readonly number[];
}

export interface PreferenceOption {
  readonly kind: 'PREFERENCE';
  readonly preference: number;
}

export interface ElapsedTimeOption {
  readonly kind: 'ELAPSED_TIME';
  /** Hundredths of a second; 0xffff means "at least 655.35 s". */
  readonly elapsedCs: number;
}

export interface RelayMsgOption {
  readonly kind: 'RELAY_MSG';
  readonly message: Message;
}

export interface StatusCodeOption {
  readonly kind: 'STATUS_CODE';
  readonly status: number;
  /** UTF-8 text for humans, no NUL terminator (RFC 8415 §21.13). */
  readonly message: string;
}

export interface FlagOption<K extends 'RAPID_COMMIT' | 'RECONF_ACCEPT'> {
  readonly kind: K;
}

export interface InterfaceIdOption {
  readonly kind: 'INTERFACE_ID';
  readonly id: Uint8Array;
}

export interface DnsServersOption {
  readonly kind: 'DNS_SERVERS';
  readonly servers: readonly string[];
}

export interface DomainListOption {
  readonly kind: 'DOMAIN_LIST';
  /** Domain names without the trailing dot ("example.com"). */
  readonly domains: readonly string[];
}

export interface SecondsOption<K extends 'INFORMATION_REFRESH_TIME' | 'SOL_MAX_RT' | 'INF_MAX_RT'> {
  readonly kind: K;
  readonly seconds: number;
}

/** Any option this codec does not model: kept byte for byte (RFC 8415 §16: ignore, never drop). */
export interface UnknownOption {
  readonly kind: 'UNKNOWN';
  readonly code: number;
  readonly data: Uint8Array;
}

export type Option =
  | DuidOption<'CLIENTID'>
  | DuidOption<'SERVERID'>
  | IaNaOption
  | IaTaOption
  | IaPdOption
  | IaAddrOption
  | IaPrefixOption
  | OroOption
  | PreferenceOption
  | ElapsedTimeOption
  | RelayMsgOption
  | StatusCodeOption
  | FlagOption<'RAPID_COMMIT'>
  | FlagOption<'RECONF_ACCEPT'>
  | InterfaceIdOption
  | DnsServersOption
  | DomainListOption
  | SecondsOption<'INFORMATION_REFRESH_TIME'>
  | SecondsOption<'SOL_MAX_RT'>
  | SecondsOption<'INF_MAX_RT'>
  | UnknownOption;

export type OptionKind = Option['kind'];
export type OptionOf<K extends OptionKind> = Extract<Option, { kind: K }>;

/** Client/server message (RFC 8415 §8): msg-type, 24-bit transaction-id, options. */
export interface ClientServerMessage {
  readonly type: number; // any value but 12/13; unknown types decode too, the engine drops them
  readonly transactionId: number;
  readonly options: readonly Option[];
}

/** Relay-forward / Relay-reply (RFC 8415 §9). */
export interface RelayMessage {
  readonly type: 12 | 13;
  readonly hopCount: number;
  readonly linkAddress: string;
  readonly peerAddress: string;
  readonly options: readonly Option[];
}

export type Message = ClientServerMessage | RelayMessage;

export const isRelay = (m: Message): m is RelayMessage => m.type === 12 || m.type === 13;

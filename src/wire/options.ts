// One codec per option layout of types.ts, as symmetric triples in the style
// of dns-packet (docs/style.md §1.3) with Kea's registry row (code, name, RFC
// section). Bodies only: the 4-octet code/length header (RFC 8415 §21.1) is
// written and checked once, in encodeOptions/decodeOptions.
//
// Length rules come from each option's section; a body that breaks them is a
// malformed option and the datagram is dropped ('bad-option'), while codes
// this table does not know are kept byte for byte (§16: ignore, never drop).
//
// The message header codec lives here too: RELAY_MSG holds a whole message,
// so messages and options recurse into each other, and one module avoids an
// import cycle. message.ts is the public, never-throwing face of it.

import { DUID_LENGTH_MAX, DUID_LENGTH_MIN, OPTION_NESTING_MAX, OptionCode, RELAY_DEPTH_MAX } from './constants.js';
import { nameLength, readName, writeName } from './domain.js';
import { fail, type DecodeReason, type Reader } from './reader.js';
import {
  isRelay,
  type DuidOption,
  type IaNaOption,
  type IaPdOption,
  type Message,
  type Option,
  type OptionKind,
  type OptionOf,
  type SecondsOption,
} from './types.js';
import { programmerError, type Writer } from './writer.js';

/** Mutable state of one decodeMessage call, bounding recursion over untrusted input. */
export interface DecodeContext {
  /** RELAY_MSG encapsulations above the current message. */
  relayDepth: number;
  /** Container options above the current option list, within the current message. */
  nesting: number;
}

export interface OptionCodec<O extends { readonly kind: OptionKind }> {
  readonly kind: OptionKind;
  /** Option code; -1 for UNKNOWN, whose code travels in the value. */
  readonly code: number;
  readonly name: string;
  readonly rfc: string;
  /** Body length in octets, without the 4-octet option header. */
  encodingLength(value: O): number;
  encode(value: O, w: Writer): void;
  /** Reads exactly `length` octets; the reader's end is already narrowed to the body. */
  decode(r: Reader, length: number, code: number, ctx: DecodeContext): O;
}

const bodyError = (r: Reader, name: string, rule: string, length: number, reason: DecodeReason = 'bad-option') =>
  fail(reason, r.offset - 4, `${name}: option-len ${length}, ${rule}`);

function fixed<K extends OptionKind>(
  kind: K,
  rfc: string,
  size: number,
  read: (r: Reader) => OptionOf<K>,
  write: (v: OptionOf<K>, w: Writer) => void,
): OptionCodec<OptionOf<K>> {
  return {
    kind,
    code: OptionCode[kind as keyof typeof OptionCode],
    name: kind,
    rfc,
    encodingLength: () => size,
    encode: write,
    decode(r, length) {
      if (length !== size) bodyError(r, kind, `must be ${size}`, length);
      return read(r);
    },
  };
}

const flag = <K extends 'RAPID_COMMIT' | 'RECONF_ACCEPT'>(kind: K, rfc: string) =>
  fixed(
    kind,
    rfc,
    0,
    () => ({ kind }) as OptionOf<K>,
    () => {},
  );

const seconds = <K extends 'INFORMATION_REFRESH_TIME' | 'SOL_MAX_RT' | 'INF_MAX_RT'>(kind: K, rfc: string) =>
  fixed(
    kind,
    rfc,
    4,
    (r) => ({ kind, seconds: r.u32() }) as OptionOf<K>,
    (v, w) => w.u32((v as SecondsOption<K>).seconds),
  );

function duid<K extends 'CLIENTID' | 'SERVERID'>(kind: K, rfc: string): OptionCodec<DuidOption<K>> {
  return {
    kind,
    code: OptionCode[kind],
    name: kind,
    rfc,
    encodingLength: (v) => v.duid.length,
    encode(v, w) {
      if (v.duid.length < DUID_LENGTH_MIN || v.duid.length > DUID_LENGTH_MAX) {
        programmerError(`${kind} DUID of ${v.duid.length} octets`);
      }
      w.bytes(v.duid);
    },
    decode(r, length) {
      // RFC 8415 §11.1: a 2-octet type and 1..128 octets of identifier.
      if (length < DUID_LENGTH_MIN || length > DUID_LENGTH_MAX) {
        bodyError(r, kind, `DUID must be ${DUID_LENGTH_MIN}..${DUID_LENGTH_MAX} octets`, length, 'bad-duid');
      }
      return { kind, duid: r.bytes(length) };
    },
  };
}

/** Options inside a container (§21.4–§21.6, §21.21, §21.22): same table, one level deeper. */
function nested(r: Reader, ctx: DecodeContext): Option[] {
  if (ctx.nesting >= OPTION_NESTING_MAX) {
    fail('bad-option', r.offset, `options nested more than ${OPTION_NESTING_MAX} deep`);
  }
  ctx.nesting++;
  const options = decodeOptions(r, ctx);
  ctx.nesting--;
  return options;
}

function ia<O extends IaNaOption | IaPdOption>(kind: O['kind'], rfc: string): OptionCodec<O> {
  return {
    kind,
    code: OptionCode[kind],
    name: kind,
    rfc,
    encodingLength: (v) => 12 + optionsLength(v.options),
    encode(v, w) {
      w.u32(v.iaid);
      w.u32(v.t1Sec);
      w.u32(v.t2Sec);
      encodeOptions(v.options, w);
    },
    decode(r, length, _code, ctx) {
      if (length < 12) bodyError(r, kind, 'IAID, T1 and T2 need 12', length);
      const iaid = r.u32();
      const t1Sec = r.u32();
      const t2Sec = r.u32();
      return { kind, iaid, t1Sec, t2Sec, options: nested(r, ctx) } as IaNaOption | IaPdOption as O;
    },
  };
}

const iaTa: OptionCodec<OptionOf<'IA_TA'>> = {
  kind: 'IA_TA',
  code: OptionCode.IA_TA,
  name: 'IA_TA',
  rfc: '8415 §21.5',
  encodingLength: (v) => 4 + optionsLength(v.options),
  encode(v, w) {
    w.u32(v.iaid);
    encodeOptions(v.options, w);
  },
  decode(r, length, _code, ctx) {
    if (length < 4) bodyError(r, 'IA_TA', 'IAID needs 4', length);
    const iaid = r.u32();
    return { kind: 'IA_TA', iaid, options: nested(r, ctx) };
  },
};

const iaAddr: OptionCodec<OptionOf<'IAADDR'>> = {
  kind: 'IAADDR',
  code: OptionCode.IAADDR,
  name: 'IAADDR',
  rfc: '8415 §21.6',
  encodingLength: (v) => 24 + optionsLength(v.options),
  encode(v, w) {
    w.address(v.address);
    w.u32(v.preferredSec);
    w.u32(v.validSec);
    encodeOptions(v.options, w);
  },
  decode(r, length, _code, ctx) {
    if (length < 24) bodyError(r, 'IAADDR', 'address and lifetimes need 24', length);
    const address = r.address();
    const preferredSec = r.u32();
    const validSec = r.u32();
    return { kind: 'IAADDR', address, preferredSec, validSec, options: nested(r, ctx) };
  },
};

const iaPrefix: OptionCodec<OptionOf<'IAPREFIX'>> = {
  kind: 'IAPREFIX',
  code: OptionCode.IAPREFIX,
  name: 'IAPREFIX',
  rfc: '8415 §21.22',
  encodingLength: (v) => 25 + optionsLength(v.options),
  encode(v, w) {
    if (v.prefixLength > 128) programmerError(`IAPREFIX prefix-length ${v.prefixLength}`);
    w.u32(v.preferredSec);
    w.u32(v.validSec);
    w.u8(v.prefixLength);
    w.address(v.prefix);
    encodeOptions(v.options, w);
  },
  decode(r, length, _code, ctx) {
    if (length < 25) bodyError(r, 'IAPREFIX', 'lifetimes, prefix-length and prefix need 25', length);
    const preferredSec = r.u32();
    const validSec = r.u32();
    const prefixLength = r.u8();
    if (prefixLength > 128) fail('bad-option', r.offset - 1, `IAPREFIX: prefix-length ${prefixLength} > 128`);
    const prefix = r.address();
    return { kind: 'IAPREFIX', preferredSec, validSec, prefixLength, prefix, options: nested(r, ctx) };
  },
};

const oro: OptionCodec<OptionOf<'ORO'>> = {
  kind: 'ORO',
  code: OptionCode.ORO,
  name: 'ORO',
  rfc: '8415 §21.7',
  encodingLength: (v) => 2 * v.codes.length,
  encode(v, w) {
    for (const c of v.codes) w.u16(c);
  },
  decode(r, length) {
    if (length % 2 !== 0) bodyError(r, 'ORO', 'must be a list of 2-octet codes', length);
    const codes = new Array<number>(length / 2);
    for (let i = 0; i < codes.length; i++) codes[i] = r.u16();
    return { kind: 'ORO', codes };
  },
};

const relayMsg: OptionCodec<OptionOf<'RELAY_MSG'>> = {
  kind: 'RELAY_MSG',
  code: OptionCode.RELAY_MSG,
  name: 'RELAY_MSG',
  rfc: '8415 §21.10',
  encodingLength: (v) => messageLength(v.message),
  encode: (v, w) => encodeMessageBody(v.message, w),
  decode(r, _length, _code, ctx) {
    // §7.6/§19.1.2 bound relays at HOP_COUNT_LIMIT; a server needs some bound
    // too, because every level is a recursion on attacker-chosen bytes. Relay
    // headers are checked in decodeMessageBody; this catches RELAY_MSG chains
    // through client messages, which no relay builds but an attacker can.
    if (ctx.relayDepth >= RELAY_DEPTH_MAX) {
      fail('relay-too-deep', r.offset, `more than ${RELAY_DEPTH_MAX} nested relay messages`);
    }
    const outerNesting = ctx.nesting;
    ctx.relayDepth++;
    ctx.nesting = 0;
    const message = decodeMessageBody(r, ctx);
    ctx.relayDepth--;
    ctx.nesting = outerNesting;
    return { kind: 'RELAY_MSG', message };
  },
};

const statusCode: OptionCodec<OptionOf<'STATUS_CODE'>> = {
  kind: 'STATUS_CODE',
  code: OptionCode.STATUS_CODE,
  name: 'STATUS_CODE',
  rfc: '8415 §21.13',
  encodingLength: (v) => 2 + Buffer.byteLength(v.message, 'utf8'),
  encode(v, w) {
    w.u16(v.status);
    w.utf8(v.message, Buffer.byteLength(v.message, 'utf8'));
  },
  decode(r, length) {
    if (length < 2) bodyError(r, 'STATUS_CODE', 'status-code needs 2', length);
    // Invalid UTF-8 becomes U+FFFD rather than a drop: the text is only for humans.
    return { kind: 'STATUS_CODE', status: r.u16(), message: r.utf8(length - 2) };
  },
};

const interfaceId: OptionCodec<OptionOf<'INTERFACE_ID'>> = {
  kind: 'INTERFACE_ID',
  code: OptionCode.INTERFACE_ID,
  name: 'INTERFACE_ID',
  rfc: '8415 §21.18',
  encodingLength: (v) => v.id.length,
  encode: (v, w) => w.bytes(v.id),
  decode: (r, length) => ({ kind: 'INTERFACE_ID', id: r.bytes(length) }),
};

const dnsServers: OptionCodec<OptionOf<'DNS_SERVERS'>> = {
  kind: 'DNS_SERVERS',
  code: OptionCode.DNS_SERVERS,
  name: 'DNS_SERVERS',
  rfc: '3646 §3',
  encodingLength: (v) => 16 * v.servers.length,
  encode(v, w) {
    for (const s of v.servers) w.address(s);
  },
  decode(r, length) {
    if (length % 16 !== 0) bodyError(r, 'DNS_SERVERS', 'must be a list of 16-octet addresses', length);
    const servers = new Array<string>(length / 16);
    for (let i = 0; i < servers.length; i++) servers[i] = r.address();
    return { kind: 'DNS_SERVERS', servers };
  },
};

const domainList: OptionCodec<OptionOf<'DOMAIN_LIST'>> = {
  kind: 'DOMAIN_LIST',
  code: OptionCode.DOMAIN_LIST,
  name: 'DOMAIN_LIST',
  rfc: '3646 §4',
  encodingLength(v) {
    let n = 0;
    for (const d of v.domains) n += nameLength(d);
    return n;
  },
  encode(v, w) {
    for (const d of v.domains) writeName(d, w);
  },
  decode(r) {
    const domains: string[] = [];
    while (r.offset < r.end) domains.push(readName(r));
    return { kind: 'DOMAIN_LIST', domains };
  },
};

const unknown: OptionCodec<OptionOf<'UNKNOWN'>> = {
  kind: 'UNKNOWN',
  code: -1,
  name: 'UNKNOWN',
  rfc: '8415 §16',
  encodingLength: (v) => v.data.length,
  encode: (v, w) => w.bytes(v.data),
  decode: (r, length, code) => ({ kind: 'UNKNOWN', code, data: r.bytes(length) }),
};

/** The table, keyed by kind; the mapped type makes a missing codec a compile error. */
export const optionCodecs: { readonly [K in OptionKind]: OptionCodec<OptionOf<K>> } = {
  CLIENTID: duid('CLIENTID', '8415 §21.2'),
  SERVERID: duid('SERVERID', '8415 §21.3'),
  IA_NA: ia<IaNaOption>('IA_NA', '8415 §21.4'),
  IA_TA: iaTa,
  IAADDR: iaAddr,
  ORO: oro,
  PREFERENCE: fixed(
    'PREFERENCE',
    '8415 §21.8',
    1,
    (r) => ({ kind: 'PREFERENCE', preference: r.u8() }),
    (v, w) => w.u8(v.preference),
  ),
  ELAPSED_TIME: fixed(
    'ELAPSED_TIME',
    '8415 §21.9',
    2,
    (r) => ({ kind: 'ELAPSED_TIME', elapsedCs: r.u16() }),
    (v, w) => w.u16(v.elapsedCs),
  ),
  RELAY_MSG: relayMsg,
  STATUS_CODE: statusCode,
  RAPID_COMMIT: flag('RAPID_COMMIT', '8415 §21.14'),
  RECONF_ACCEPT: flag('RECONF_ACCEPT', '8415 §21.20'),
  INTERFACE_ID: interfaceId,
  DNS_SERVERS: dnsServers,
  DOMAIN_LIST: domainList,
  IA_PD: ia<IaPdOption>('IA_PD', '8415 §21.21'),
  IAPREFIX: iaPrefix,
  INFORMATION_REFRESH_TIME: seconds('INFORMATION_REFRESH_TIME', '8415 §21.23'),
  SOL_MAX_RT: seconds('SOL_MAX_RT', '8415 §21.24'),
  INF_MAX_RT: seconds('INF_MAX_RT', '8415 §21.25'),
  UNKNOWN: unknown,
};

type AnyCodec = OptionCodec<Option>;
const byKind = optionCodecs as unknown as Readonly<Record<OptionKind, AnyCodec>>;

/** Codes are < 256 today; a sparse array indexed by code is the cheapest lookup. */
const byCode: (AnyCodec | undefined)[] = [];
for (const codec of Object.values(byKind)) if (codec.code >= 0) byCode[codec.code] = codec;

export const codecForCode = (code: number): AnyCodec => byCode[code] ?? byKind.UNKNOWN;

/** The wire code of an option value. */
export const optionCode = (o: Option): number => (o.kind === 'UNKNOWN' ? o.code : byKind[o.kind].code);

/** "IA_NA", or "OPTION_<n>" for codes the table does not model (as dns-packet names them). */
export const optionName = (code: number): string => byCode[code]?.name ?? `OPTION_${code}`;

export function optionsLength(options: readonly Option[]): number {
  let n = 0;
  for (const o of options) n += 4 + byKind[o.kind].encodingLength(o);
  return n;
}

export function encodeOptions(options: readonly Option[], w: Writer): void {
  for (const o of options) {
    const codec = byKind[o.kind];
    const length = codec.encodingLength(o);
    if (length > 0xffff) programmerError(`${o.kind} body of ${length} octets does not fit option-len`);
    w.u16(optionCode(o));
    w.u16(length);
    codec.encode(o, w);
  }
}

/** Decodes options from r.offset to r.end (RFC 8415 §21.1: code(2) length(2) data, no padding). */
export function decodeOptions(r: Reader, ctx: DecodeContext): Option[] {
  const out: Option[] = [];
  const end = r.end;
  while (r.offset < end) {
    const start = r.offset;
    if (end - start < 4) fail('option-overflow', start, `${end - start} octets left, an option header needs 4`);
    const code = r.u16();
    const length = r.u16();
    const bodyEnd = r.offset + length;
    if (bodyEnd > end) {
      fail('option-overflow', start, `${optionName(code)}: option-len ${length} runs ${bodyEnd - end} octets past its container`);
    }
    const codec = codecForCode(code);
    r.end = bodyEnd;
    out.push(codec.decode(r, length, code, ctx));
    if (r.offset !== bodyEnd) fail('bad-option', r.offset, `${optionName(code)}: ${bodyEnd - r.offset} trailing octets`);
    r.end = end;
  }
  return out;
}

const RELAY_HEADER_LENGTH = 34; // §9: msg-type, hop-count, link-address, peer-address
const CLIENT_HEADER_LENGTH = 4; // §8: msg-type, transaction-id

export const messageLength = (m: Message): number => (isRelay(m) ? RELAY_HEADER_LENGTH : CLIENT_HEADER_LENGTH) + optionsLength(m.options);

export function encodeMessageBody(m: Message, w: Writer): void {
  if (isRelay(m)) {
    w.u8(m.type);
    w.u8(m.hopCount);
    w.address(m.linkAddress);
    w.address(m.peerAddress);
  } else {
    w.u8(m.type);
    w.u24(m.transactionId);
  }
  encodeOptions(m.options, w);
}

/** Decodes the message from r.offset to r.end; throws DecodeFailure. */
export function decodeMessageBody(r: Reader, ctx: DecodeContext): Message {
  const start = r.offset;
  const available = r.end - start;
  if (available < 1) fail('truncated-header', start, 'empty message');
  const type = r.buf[start]!;
  if (type === 12 || type === 13) {
    if (available < RELAY_HEADER_LENGTH) {
      fail('truncated-header', start, `relay message of ${available} octets, header needs ${RELAY_HEADER_LENGTH}`);
    }
    if (ctx.relayDepth >= RELAY_DEPTH_MAX) {
      fail('relay-too-deep', start, `relay level ${ctx.relayDepth + 1}, at most ${RELAY_DEPTH_MAX} accepted`);
    }
    r.offset++;
    const hopCount = r.u8();
    const linkAddress = r.address();
    const peerAddress = r.address();
    const options = decodeOptions(r, ctx);
    checkRelayMsgCount(options, start);
    return { type, hopCount, linkAddress, peerAddress, options };
  }
  // Types this server does not handle still decode (§8 layout) so the engine
  // can count and drop them by type (§16); a relay must forward them anyway.
  if (available < CLIENT_HEADER_LENGTH) {
    fail('truncated-header', start, `message of ${available} octets, header needs ${CLIENT_HEADER_LENGTH}`);
  }
  r.offset++;
  const transactionId = r.u24();
  return { type, transactionId, options: decodeOptions(r, ctx) };
}

/** §9.1/§9.2: a relay message carries the relayed message in exactly one Relay Message option. */
function checkRelayMsgCount(options: readonly Option[], offset: number): void {
  let count = 0;
  for (const o of options) if (o.kind === 'RELAY_MSG') count++;
  if (count === 0) fail('relay-without-message', offset, 'relay message without a RELAY_MSG option');
  if (count > 1) fail('relay-extra-message', offset, `relay message with ${count} RELAY_MSG options`);
}

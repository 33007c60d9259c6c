// Types for the options of RFC 8156 §5.5 and those it reuses (§7.4), one
// encode/decode pair per option in the style of ../options.ts.
//
// On the wire these are ordinary DHCPv6 TLVs (§5.2: "options ... defined in
// the DHCPv6 Option Codes registry"), and they pass through the shared codec
// as UNKNOWN options, byte for byte. They are deliberately not added to the
// shared `Option` union: the client path would then start dropping Solicits
// whose (meaningless there) option 46 or 114 has a bad length, where RFC 8415
// §16 says to ignore what it does not use; and every exhaustive consumer of
// that union would have to grow cases it can never see. This module is the
// typed face of those raw options; message readers and builders use it, the
// failover layer above uses the typed records and never a raw option.

import {
  FoOptionCode,
  isBindingStatus,
  isServerStateCode,
  type BindingStatusCode,
  type FoOptionName,
  type ServerStateCode,
} from './constants.js';
import { attempt, foFail, type FailoverResult } from './errors.js';
import { fromAbsoluteTime, toAbsoluteTime } from './time.js';
import { decodeOptionList } from '../message.js';
import { encodeOptions, optionCode, optionsLength } from '../options.js';
import type { Option, UnknownOption } from '../types.js';
import { programmerError, Writer } from '../writer.js';

/** How readers unwrap times and place errors. */
export interface ReadContext {
  /** The receiver's clock, Unix seconds: the reference for unwrapping absolute times. */
  readonly nowUnixSec: number;
  /** Offset reported for content errors: the top-level option being read. */
  at: number;
  /** Path for error details, e.g. "CLIENT_DATA > IA_NA 7 > IAADDR 2001:db8::1 > ". */
  where: string;
  /** Frame offsets of the top-level options, when they came from bytes. */
  readonly offsets?: ReadonlyMap<Option, number>;
}

export interface ProtocolVersion {
  readonly major: number;
  readonly minor: number;
}
export interface ServerFlags {
  readonly communicated: boolean;
  readonly startup: boolean;
  readonly ackStartup: boolean;
}
export interface ConnectFlags {
  readonly fixedPdLength: boolean;
}
/** §5.5.16: when the reconfigure key was created, and the key itself. */
export interface ReconfigureData {
  /** Absolute, Unix seconds. */
  readonly timeSec: number;
  readonly key: Uint8Array;
}
/** §5.5.3–§5.5.6. Names stay in RFC 1035 wire format: twin6 does no RFC 4704 DNS updates (§9 is optional). */
export interface DnsRemovalInfo {
  readonly hostName?: Uint8Array;
  readonly zoneName?: Uint8Array;
  readonly flags?: number;
}

/** The typed value of each option. Absolute times are Unix seconds; CLT_TIME is relative seconds. */
export interface FoOptionValues {
  CLIENT_FQDN: Uint8Array;
  CLIENT_DATA: readonly Option[];
  CLT_TIME: number;
  LQ_RELAY_DATA: Uint8Array;
  VSS: Uint8Array;
  LQ_BASE_TIME: number;
  F_BINDING_STATUS: BindingStatusCode;
  F_CONNECT_FLAGS: ConnectFlags;
  F_DNS_REMOVAL_INFO: DnsRemovalInfo;
  F_DNS_HOST_NAME: Uint8Array;
  F_DNS_ZONE_NAME: Uint8Array;
  F_DNS_FLAGS: number;
  F_EXPIRATION_TIME: number;
  F_MAX_UNACKED_BNDUPD: number;
  F_MCLT: number;
  F_PARTNER_LIFETIME: number;
  F_PARTNER_LIFETIME_SENT: number;
  F_PARTNER_DOWN_TIME: number;
  F_PARTNER_RAW_CLT_TIME: number;
  F_PROTOCOL_VERSION: ProtocolVersion;
  F_KEEPALIVE_TIME: number;
  F_RECONFIGURE_DATA: ReconfigureData;
  F_RELATIONSHIP_NAME: string;
  F_SERVER_FLAGS: ServerFlags;
  F_SERVER_STATE: ServerStateCode;
  F_START_TIME_OF_STATE: number;
  F_STATE_EXPIRATION_TIME: number;
}

interface FoCodec<V> {
  readonly rfc: string;
  encode(value: V): Uint8Array;
  /** `data` is the option body; throws FailoverFailure. */
  decode(data: Uint8Array, ctx: ReadContext, name: string): V;
}

function build(length: number, write: (w: Writer) => void): Uint8Array {
  const buf = Buffer.alloc(length);
  const w = new Writer(buf);
  write(w);
  if (w.offset !== length) programmerError(`failover option wrote ${w.offset} of ${length} octets`);
  return new Uint8Array(buf.buffer, buf.byteOffset, length);
}

const view = (d: Uint8Array): DataView => new DataView(d.buffer, d.byteOffset, d.byteLength);

function need(data: Uint8Array, length: number, ctx: ReadContext, name: string, atLeast = false): void {
  if (atLeast ? data.length < length : data.length !== length) {
    foFail('bad-option', ctx.at, `${ctx.where}${name}: option-len ${data.length}, must be ${atLeast ? 'at least ' : ''}${length}`);
  }
}

const copy = (d: Uint8Array): Uint8Array => Uint8Array.from(d);

const raw: FoCodec<Uint8Array> = { rfc: '', encode: copy, decode: (d) => copy(d) };

const u8: FoCodec<number> = {
  rfc: '',
  encode: (v) => build(1, (w) => w.u8(v)),
  decode(d, ctx, name) {
    need(d, 1, ctx, name);
    return d[0]!;
  },
};
const u16: FoCodec<number> = {
  rfc: '',
  encode: (v) => build(2, (w) => w.u16(v)),
  decode(d, ctx, name) {
    need(d, 2, ctx, name);
    return view(d).getUint16(0);
  },
};
const u32: FoCodec<number> = {
  rfc: '',
  encode: (v) => build(4, (w) => w.u32(v)),
  decode(d, ctx, name) {
    need(d, 4, ctx, name);
    return view(d).getUint32(0);
  },
};
/** Absolute time (§3): 2000 epoch, modulo 2^32, unwrapped near the receiver's clock. */
const abs: FoCodec<number> = {
  rfc: '',
  encode: (v) => u32.encode(toAbsoluteTime(v)),
  decode: (d, ctx, name) => fromAbsoluteTime(u32.decode(d, ctx, name), ctx.nowUnixSec),
};

/** Sub-options as DHCPv6 TLVs (CLIENT_DATA, F_DNS_REMOVAL_INFO), decoded by the shared codec. */
const list: FoCodec<readonly Option[]> = {
  rfc: '',
  encode: (v) => build(optionsLength(v), (w) => encodeOptions(v, w)),
  decode(d, ctx, name) {
    const r = decodeOptionList(d);
    if (!r.ok) return foFail(r.error.reason, ctx.at, `${ctx.where}${name}: ${r.error.detail} (at +${r.error.offset})`);
    return r.options;
  },
};

const withRfc = <V>(rfc: string, c: FoCodec<V>): FoCodec<V> => ({ ...c, rfc });

function valued<V extends number>(rfc: string, base: FoCodec<number>, ok: (v: number) => v is V, what: string): FoCodec<V> {
  return {
    rfc,
    encode(v) {
      if (!ok(v)) programmerError(`${what} ${v}`);
      return base.encode(v);
    },
    decode(d, ctx, name) {
      const v = base.decode(d, ctx, name);
      if (!ok(v)) return foFail('bad-value', ctx.at, `${ctx.where}${name}: ${what} ${v} is not defined`);
      return v;
    },
  };
}

const codecs: { readonly [K in FoOptionName]: FoCodec<FoOptionValues[K]> } = {
  CLIENT_FQDN: withRfc('4704 §4', raw),
  CLIENT_DATA: withRfc('5007 §4.1.2.2', list),
  CLT_TIME: withRfc('5007 §4.1.2.3', u32),
  LQ_RELAY_DATA: withRfc('5007 §4.1.2.4', raw),
  VSS: withRfc('6607 §3.4', raw),
  LQ_BASE_TIME: withRfc('7653 §6.3.1', abs),
  F_BINDING_STATUS: valued('8156 §5.5.1', u8, isBindingStatus, 'binding-status'),
  F_CONNECT_FLAGS: {
    rfc: '8156 §5.5.2',
    encode: (v) => u16.encode(v.fixedPdLength ? 1 : 0),
    decode: (d, ctx, name) => ({ fixedPdLength: (u16.decode(d, ctx, name) & 1) !== 0 }),
  },
  F_DNS_REMOVAL_INFO: {
    rfc: '8156 §5.5.3',
    encode(v) {
      const subs: Option[] = [];
      if (v.hostName) subs.push(foOption('F_DNS_HOST_NAME', v.hostName));
      if (v.zoneName) subs.push(foOption('F_DNS_ZONE_NAME', v.zoneName));
      if (v.flags !== undefined) subs.push(foOption('F_DNS_FLAGS', v.flags));
      return list.encode(subs);
    },
    decode(d, ctx, name) {
      const subs = list.decode(d, ctx, name);
      const inner = { ...ctx, where: `${ctx.where}${name} > ` };
      const hostName = readOptional(subs, 'F_DNS_HOST_NAME', inner);
      const zoneName = readOptional(subs, 'F_DNS_ZONE_NAME', inner);
      const flags = readOptional(subs, 'F_DNS_FLAGS', inner);
      return {
        ...(hostName && { hostName }),
        ...(zoneName && { zoneName }),
        ...(flags !== undefined && { flags }),
      };
    },
  },
  F_DNS_HOST_NAME: withRfc('8156 §5.5.4', raw),
  F_DNS_ZONE_NAME: withRfc('8156 §5.5.5', raw),
  F_DNS_FLAGS: withRfc('8156 §5.5.6', u16),
  F_EXPIRATION_TIME: withRfc('8156 §5.5.7', abs),
  F_MAX_UNACKED_BNDUPD: withRfc('8156 §5.5.8', u32),
  F_MCLT: withRfc('8156 §5.5.9', u32),
  F_PARTNER_LIFETIME: withRfc('8156 §5.5.10', abs),
  F_PARTNER_LIFETIME_SENT: withRfc('8156 §5.5.11', abs),
  F_PARTNER_DOWN_TIME: withRfc('8156 §5.5.12', abs),
  F_PARTNER_RAW_CLT_TIME: withRfc('8156 §5.5.13', abs),
  F_PROTOCOL_VERSION: {
    rfc: '8156 §5.5.14',
    encode: (v) => build(4, (w) => (w.u16(v.major), w.u16(v.minor))),
    decode(d, ctx, name) {
      need(d, 4, ctx, name);
      return { major: view(d).getUint16(0), minor: view(d).getUint16(2) };
    },
  },
  F_KEEPALIVE_TIME: withRfc('8156 §5.5.15', u32),
  F_RECONFIGURE_DATA: {
    rfc: '8156 §5.5.16',
    encode: (v) => build(4 + v.key.length, (w) => (w.u32(toAbsoluteTime(v.timeSec)), w.bytes(v.key))),
    decode(d, ctx, name) {
      need(d, 4, ctx, name, true);
      return { timeSec: fromAbsoluteTime(view(d).getUint32(0), ctx.nowUnixSec), key: copy(d.subarray(4)) };
    },
  },
  F_RELATIONSHIP_NAME: {
    rfc: '8156 §5.5.17',
    // UTF-8, not NUL-terminated. Invalid UTF-8 becomes U+FFFD: the name is
    // matched against configuration, where such a name never matches.
    encode: (v) => new Uint8Array(Buffer.from(v, 'utf8')),
    decode: (d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('utf8'),
  },
  F_SERVER_FLAGS: {
    rfc: '8156 §5.5.18',
    encode: (v) => u8.encode((v.communicated ? 0x01 : 0) | (v.startup ? 0x02 : 0) | (v.ackStartup ? 0x04 : 0)),
    decode(d, ctx, name) {
      const b = u8.decode(d, ctx, name);
      return { communicated: (b & 0x01) !== 0, startup: (b & 0x02) !== 0, ackStartup: (b & 0x04) !== 0 };
    },
  },
  F_SERVER_STATE: valued('8156 §5.5.16', u8, isServerStateCode, 'server-state'),
  F_START_TIME_OF_STATE: withRfc('8156 §5.5.20', abs),
  F_STATE_EXPIRATION_TIME: withRfc('8156 §5.5.21', abs),
};

/** The option's RFC section, for logs and docs. */
export const foOptionRfc = (name: FoOptionName): string => codecs[name].rfc;

/** A typed value as the raw TLV the shared codec carries. Throws only on programmer errors. */
export function foOption<K extends FoOptionName>(name: K, value: FoOptionValues[K]): UnknownOption {
  const data = codecs[name].encode(value);
  if (data.length > 0xffff) programmerError(`${name} body of ${data.length} octets`);
  return { kind: 'UNKNOWN', code: FoOptionCode[name], data };
}

export const isFo = (o: Option, name: FoOptionName): o is UnknownOption => o.kind === 'UNKNOWN' && o.code === FoOptionCode[name];

/** Decodes one raw option as `name`; throws FailoverFailure. */
export function decodeFo<K extends FoOptionName>(name: K, o: Option, ctx: ReadContext): FoOptionValues[K] {
  const here = at(o, ctx);
  if (!isFo(o, name)) return foFail('bad-structure', here.at, `${ctx.where}${name}: option ${optionCode(o)} is not ${name}`);
  return codecs[name].decode(o.data, here, name);
}

/** The context re-aimed at `o` when `o` is a top-level option with a known offset. */
export function at(o: Option, ctx: ReadContext): ReadContext {
  const offset = ctx.offsets?.get(o);
  return offset === undefined || offset === ctx.at ? ctx : { ...ctx, at: offset };
}

/** The one option of that name in a list level, decoded, or undefined; throws on duplicates and bad bodies. */
export function readOptional<K extends FoOptionName>(options: readonly Option[], name: K, ctx: ReadContext): FoOptionValues[K] | undefined {
  let found: Option | undefined;
  for (const o of options) {
    if (!isFo(o, name)) continue;
    if (found) foFail('duplicate-option', at(o, ctx).at, `${ctx.where}${name} appears more than once`);
    found = o;
  }
  return found && decodeFo(name, found, ctx);
}

export function readRequired<K extends FoOptionName>(options: readonly Option[], name: K, ctx: ReadContext): FoOptionValues[K] {
  const v = readOptional(options, name, ctx);
  if (v === undefined) return foFail('missing-option', ctx.at, `${ctx.where}${name} is required`);
  return v;
}

/** Public, never-throwing decode of one raw option (for tests and diagnostics). */
export function readFoOption<K extends FoOptionName>(name: K, o: Option, nowUnixSec: number): FailoverResult<FoOptionValues[K]> {
  return attempt(() => decodeFo(name, o, { nowUnixSec, at: 0, where: '' }));
}

// Typed values of the RFC 5007 options (§4.1.2), one symmetric
// length/encode/decode triple per option in the style of ../options.ts.
//
// On the wire they are ordinary DHCPv6 TLVs and the shared codec keeps them as
// UNKNOWN options, byte for byte. They are deliberately not in the shared
// `Option` union, for the reason ../failover/options.ts gives: a Solicit that
// carries a (meaningless there) option 44 of a bad length would start being
// dropped, where RFC 8415 §16 says to ignore what is not used; and RFC 8156
// already reads 45–47 from UNKNOWN inside BNDUPD. This module is their typed
// face: the Leasequery reader and builder (./message.ts) use it.
//
// Reading never throws: a body that breaks its layout is a DecodeError value
// with the reasons the shared codec uses ('bad-option', 'option-overflow', …),
// its offset counted from the start of the option's body.

import { LQ_QUERY_HEADER_LENGTH, LQ_RELAY_DATA_HEADER_LENGTH, LqOptionCode } from './constants.js';
import { decodeOptions, encodeOptions, optionsLength } from '../options.js';
import { DecodeFailure, fail, Reader, type DecodeError } from '../reader.js';
import type { Option, UnknownOption } from '../types.js';
import { programmerError, Writer } from '../writer.js';

/** OPTION_LQ_QUERY (§4.1.2.1): what is asked, on which link. */
export interface LqQuery {
  /** QueryType, or any other value a requestor sent (answered UnknownQueryType). */
  readonly queryType: number;
  /** The link the query applies to; "::" when unspecified. */
  readonly linkAddress: string;
  /** query-options: IAADDR (by address), CLIENTID (by client id), ORO, … decoded by the shared table. */
  readonly options: readonly Option[];
}

/** OPTION_LQ_RELAY_DATA (§4.1.2.4): the last relayed message, without the client's own. */
export interface LqRelayData {
  /** The relay the server received the message from. */
  readonly peerAddress: string;
  /** The (perhaps multi-hop) RELAY-FORW as octets, its innermost RELAY_MSG removed. */
  readonly relayMessage: Uint8Array;
}

/** The typed value of each option. */
export interface LqOptionValues {
  LQ_QUERY: LqQuery;
  /** client-options: CLIENTID, IAADDR, IAPREFIX, CLT_TIME, LQ_RELAY_DATA (as UNKNOWN), … (§4.1.2.2). */
  CLIENT_DATA: readonly Option[];
  /** Seconds since the server last communicated with the client (§4.1.2.3). */
  CLT_TIME: number;
  LQ_RELAY_DATA: LqRelayData;
  /** Global addresses, one per link the client has bindings on (§4.1.2.5). */
  LQ_CLIENT_LINK: readonly string[];
}
export type LqOptionName = keyof LqOptionValues;

export type LqRead<V> = { readonly ok: true; readonly value: V } | { readonly ok: false; readonly error: DecodeError };

interface LqCodec<V> {
  readonly rfc: string;
  /** Body length in octets, without the 4-octet option header. */
  length(value: V): number;
  encode(value: V, w: Writer): void;
  /** Reads the whole body, r.offset to r.end; throws DecodeFailure. */
  decode(r: Reader): V;
}

const bodyError = (r: Reader, name: string, rule: string): never => fail('bad-option', 0, `${name}: option-len ${r.end}, ${rule}`);

/** Options inside a body, to its end, one level of nesting down (the shared OPTION_NESTING_MAX bounds the rest). */
const nested = (r: Reader): Option[] => decodeOptions(r, { relayDepth: 0, nesting: 1 });

const codecs: { readonly [K in LqOptionName]: LqCodec<LqOptionValues[K]> } = {
  LQ_QUERY: {
    rfc: '5007 §4.1.2.1',
    length: (v) => LQ_QUERY_HEADER_LENGTH + optionsLength(v.options),
    encode(v, w) {
      if (!Number.isInteger(v.queryType) || v.queryType < 0 || v.queryType > 255) programmerError(`query-type ${v.queryType}`);
      w.u8(v.queryType);
      w.address(v.linkAddress);
      encodeOptions(v.options, w);
    },
    decode(r) {
      if (r.end < LQ_QUERY_HEADER_LENGTH) bodyError(r, 'LQ_QUERY', `query-type and link-address need ${LQ_QUERY_HEADER_LENGTH}`);
      const queryType = r.u8();
      const linkAddress = r.address();
      return { queryType, linkAddress, options: nested(r) };
    },
  },
  CLIENT_DATA: {
    rfc: '5007 §4.1.2.2',
    length: (v) => optionsLength(v),
    encode: (v, w) => encodeOptions(v, w),
    decode: (r) => nested(r),
  },
  CLT_TIME: {
    rfc: '5007 §4.1.2.3',
    length: () => 4,
    encode: (v, w) => w.u32(v),
    decode(r) {
      if (r.end !== 4) bodyError(r, 'CLT_TIME', 'must be 4');
      return r.u32();
    },
  },
  LQ_RELAY_DATA: {
    rfc: '5007 §4.1.2.4',
    length: (v) => LQ_RELAY_DATA_HEADER_LENGTH + v.relayMessage.length,
    encode(v, w) {
      w.address(v.peerAddress);
      w.bytes(v.relayMessage);
    },
    decode(r) {
      if (r.end < LQ_RELAY_DATA_HEADER_LENGTH) bodyError(r, 'LQ_RELAY_DATA', `peer-address needs ${LQ_RELAY_DATA_HEADER_LENGTH}`);
      const peerAddress = r.address();
      // Kept as octets: the requestor, not the server, reads a relay's options.
      return { peerAddress, relayMessage: r.bytes(r.end - r.offset) };
    },
  },
  LQ_CLIENT_LINK: {
    rfc: '5007 §4.1.2.5',
    length: (v) => 16 * v.length,
    encode(v, w) {
      for (const a of v) w.address(a);
    },
    decode(r) {
      if (r.end % 16 !== 0) bodyError(r, 'LQ_CLIENT_LINK', 'must be a multiple of 16');
      const links = new Array<string>(r.end / 16);
      for (let i = 0; i < links.length; i++) links[i] = r.address();
      return links;
    },
  },
};

/** The shared codec's form of an RFC 5007 option: an UNKNOWN option of its code. */
export function lqOption<K extends LqOptionName>(name: K, value: LqOptionValues[K]): UnknownOption {
  const codec = codecs[name];
  const length = codec.length(value);
  if (length > 0xffff) programmerError(`${name} body of ${length} octets does not fit option-len`);
  const buf = Buffer.alloc(length);
  const w = new Writer(buf);
  codec.encode(value, w);
  if (w.offset !== length) programmerError(`${name}: length said ${length}, encoder wrote ${w.offset}`);
  return { kind: 'UNKNOWN', code: LqOptionCode[name], data: new Uint8Array(buf.buffer, buf.byteOffset, length) };
}

/** Whether an option is the named RFC 5007 option (still raw). */
export const isLqOption = (o: Option, name: LqOptionName): o is UnknownOption => o.kind === 'UNKNOWN' && o.code === LqOptionCode[name];

/** Reads an option's body as the named RFC 5007 option. Never throws. */
export function readLqOption<K extends LqOptionName>(o: UnknownOption, name: K): LqRead<LqOptionValues[K]> {
  if (o.code !== LqOptionCode[name]) programmerError(`option ${o.code} read as ${name}`);
  try {
    const r = new Reader(o.data);
    const value = codecs[name].decode(r);
    if (r.offset !== r.end) fail('bad-option', r.offset, `${name}: ${r.end - r.offset} trailing octets`);
    return { ok: true, value };
  } catch (e) {
    if (e instanceof DecodeFailure) return { ok: false, error: e.error };
    // Not reachable by design (the reader checks its bounds); still a value, never a throw.
    return { ok: false, error: { reason: 'bad-option', offset: 0, detail: `internal decoder error: ${String(e)}` } };
  }
}

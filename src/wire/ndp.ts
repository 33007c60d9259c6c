// Neighbor Discovery messages a router sends and hears (RFC 4861 §4.1, §4.2):
// Router Solicitation (133) and Router Advertisement (134), with the options
// twin6 uses — source link-layer address (§4.6.1), prefix information
// (§4.6.2), MTU (§4.6.4), RDNSS and DNSSL (RFC 8106 §5.1, §5.2). Any other
// option survives decode and encode byte for byte.
//
// The ICMPv6 checksum (octets 2-3) is written as zero and never checked here:
// on a raw ICMPv6 socket the kernel computes it on send and verifies it on
// receive (RFC 3542 §3.1). The IP hop limit is not part of these bytes either;
// net/ra.ts says what it does about RFC 4861 §6.1.1's hop-limit rule.
//
// Decoding never throws: it returns the message or a drop reason, one counter
// each (ra.drop.<reason>).

import { addressFromBytes } from './address.js';
import { nameLength, readName, writeName } from './domain.js';
import { DecodeFailure, Reader } from './reader.js';
import { programmerError, Writer } from './writer.js';

export const ND_ROUTER_SOLICIT = 133;
export const ND_ROUTER_ADVERT = 134;

/** Option types, RFC 4861 §4.6 and RFC 8106 §5. */
export const NdOptionType = { SOURCE_LL_ADDR: 1, PREFIX_INFO: 3, MTU: 5, RDNSS: 25, DNSSL: 31 } as const;

/** RFC 4191 §2.2: Default Router Preference, two bits of the RA flags. */
export type RouterPreference = 'high' | 'medium' | 'low';
const PRF_BITS: Record<RouterPreference, number> = { high: 0b01, medium: 0b00, low: 0b11 };

export type NdOption =
  | { readonly kind: 'SOURCE_LL_ADDR'; readonly address: Uint8Array }
  | {
      readonly kind: 'PREFIX_INFO';
      readonly prefix: string;
      readonly prefixLength: number;
      /** L flag: the prefix is on-link. */
      readonly onLink: boolean;
      /** A flag: hosts may form addresses from it (SLAAC, RFC 4862 §5.5.3). */
      readonly autonomous: boolean;
      readonly validSec: number;
      readonly preferredSec: number;
    }
  | { readonly kind: 'MTU'; readonly mtu: number }
  | { readonly kind: 'RDNSS'; readonly lifetimeSec: number; readonly servers: readonly string[] }
  | { readonly kind: 'DNSSL'; readonly lifetimeSec: number; readonly domains: readonly string[] }
  /** data: every octet after type and length; 2 + data.length is a multiple of 8. */
  | { readonly kind: 'UNKNOWN'; readonly type: number; readonly data: Uint8Array };

export interface RouterAdvertisement {
  /** 0 means unspecified (§4.2). */
  readonly curHopLimit: number;
  /** M: addresses are available via DHCPv6. */
  readonly managed: boolean;
  /** O: other configuration (DNS, …) is available via DHCPv6. */
  readonly otherConfig: boolean;
  readonly preference: RouterPreference;
  /** 0: not a default router (§6.3.4). */
  readonly routerLifetimeSec: number;
  readonly reachableTimeMs: number;
  readonly retransTimerMs: number;
  readonly options: readonly NdOption[];
}

export interface RouterSolicitation {
  readonly options: readonly NdOption[];
}

/**
 * short              ICMP length below the message's fixed part (§6.1.1: 8 octets for an RS)
 * bad-type           not the message expected
 * bad-code           ICMP code not 0
 * zero-length-option an option with length 0 (§6.1.1, §4.6)
 * option-overflow    an option runs past the end of the message
 * bad-option         a known option whose body does not fit its layout
 * slla-from-unspecified  a source link-layer address option although the source is :: (§6.1.1)
 */
export type NdDropReason =
  'short' | 'bad-type' | 'bad-code' | 'zero-length-option' | 'option-overflow' | 'bad-option' | 'slla-from-unspecified';

export type NdResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: NdDropReason; readonly detail: string };

const RA_FIXED_BYTES = 16;
const RS_FIXED_BYTES = 8;
const PREFIX_INFO_BYTES = 32;

class NdFailure {
  constructor(
    readonly reason: NdDropReason,
    readonly detail: string,
  ) {}
}

const pad8 = (n: number): number => (n + 7) & ~7;

/** Octets one option takes, header included. */
export function optionLength(o: NdOption): number {
  switch (o.kind) {
    case 'SOURCE_LL_ADDR':
      return pad8(2 + o.address.length);
    case 'PREFIX_INFO':
      return PREFIX_INFO_BYTES;
    case 'MTU':
      return 8;
    case 'RDNSS':
      return 8 + 16 * o.servers.length;
    case 'DNSSL':
      return pad8(8 + o.domains.reduce((n, d) => n + nameLength(d), 0));
    case 'UNKNOWN':
      return 2 + o.data.length;
  }
}

export const routerAdvertisementLength = (ra: RouterAdvertisement): number =>
  RA_FIXED_BYTES + ra.options.reduce((n, o) => n + optionLength(o), 0);

/** The RA as it goes to a raw ICMPv6 socket (checksum zero, filled in by the kernel). */
export function encodeRouterAdvertisement(ra: RouterAdvertisement): Buffer {
  const buf = Buffer.alloc(routerAdvertisementLength(ra));
  const w = new Writer(buf);
  w.u8(ND_ROUTER_ADVERT);
  w.u8(0); // code
  w.u16(0); // checksum
  w.u8(ra.curHopLimit);
  w.u8((ra.managed ? 0x80 : 0) | (ra.otherConfig ? 0x40 : 0) | (PRF_BITS[ra.preference] << 3));
  w.u16(ra.routerLifetimeSec);
  w.u32(ra.reachableTimeMs);
  w.u32(ra.retransTimerMs);
  for (const o of ra.options) writeOption(o, w);
  if (w.offset !== buf.length) programmerError('RA length mismatch');
  return buf;
}

function writeOption(o: NdOption, w: Writer): void {
  const length = optionLength(o);
  if (length % 8 !== 0 || length > 255 * 8) programmerError(`ND option ${o.kind} of ${length} octets`);
  const end = w.offset + length;
  const type = o.kind === 'UNKNOWN' ? o.type : NdOptionType[o.kind];
  w.u8(type);
  w.u8(length / 8);
  switch (o.kind) {
    case 'SOURCE_LL_ADDR':
      w.bytes(o.address);
      break;
    case 'PREFIX_INFO':
      if (o.prefixLength > 128) programmerError(`prefix length ${o.prefixLength}`);
      w.u8(o.prefixLength);
      w.u8((o.onLink ? 0x80 : 0) | (o.autonomous ? 0x40 : 0));
      w.u32(o.validSec);
      w.u32(o.preferredSec);
      w.u32(0); // Reserved2
      w.address(o.prefix);
      break;
    case 'MTU':
      w.u16(0);
      w.u32(o.mtu);
      break;
    case 'RDNSS':
      w.u16(0);
      w.u32(o.lifetimeSec);
      for (const s of o.servers) w.address(s);
      break;
    case 'DNSSL':
      w.u16(0);
      w.u32(o.lifetimeSec);
      for (const d of o.domains) writeName(d, w);
      break;
    case 'UNKNOWN':
      w.bytes(o.data);
      break;
  }
  // Padding (SLLA, DNSSL) is zero: the buffer was allocated zeroed.
  w.offset = end;
}

export function decodeRouterAdvertisement(bytes: Uint8Array): NdResult<RouterAdvertisement> {
  return guarded(() => {
    const r = fixedPart(bytes, ND_ROUTER_ADVERT, RA_FIXED_BYTES);
    const curHopLimit = r.u8();
    const flags = r.u8();
    const prf = (flags >> 3) & 0b11;
    return {
      curHopLimit,
      managed: (flags & 0x80) !== 0,
      otherConfig: (flags & 0x40) !== 0,
      // RFC 4191 §2.2: the reserved value 10 is treated as medium.
      preference: prf === 0b01 ? 'high' : prf === 0b11 ? 'low' : 'medium',
      routerLifetimeSec: r.u16(),
      reachableTimeMs: r.u32(),
      retransTimerMs: r.u32(),
      options: readOptions(r, true),
    };
  });
}

/**
 * RFC 4861 §6.1.1, everything the ICMP bytes can show: code 0, at least 8
 * octets, no zero-length option, no source link-layer address from ::. Only
 * that option is interpreted in an RS; others are kept as they came.
 */
export function decodeRouterSolicitation(bytes: Uint8Array, sourceIsUnspecified: boolean): NdResult<RouterSolicitation> {
  return guarded(() => {
    const r = fixedPart(bytes, ND_ROUTER_SOLICIT, RS_FIXED_BYTES);
    r.skip(4); // Reserved
    const options = readOptions(r, false);
    if (sourceIsUnspecified && options.some((o) => o.kind === 'SOURCE_LL_ADDR')) {
      throw new NdFailure('slla-from-unspecified', 'source link-layer address option from ::');
    }
    return { options };
  });
}

export function encodeRouterSolicitation(rs: RouterSolicitation): Buffer {
  const buf = Buffer.alloc(RS_FIXED_BYTES + rs.options.reduce((n, o) => n + optionLength(o), 0));
  const w = new Writer(buf);
  w.u8(ND_ROUTER_SOLICIT);
  w.offset = RS_FIXED_BYTES;
  for (const o of rs.options) writeOption(o, w);
  return buf;
}

function guarded<T>(decode: () => T): NdResult<T> {
  try {
    return { ok: true, value: decode() };
  } catch (e) {
    if (e instanceof NdFailure) return { ok: false, reason: e.reason, detail: e.detail };
    if (e instanceof DecodeFailure) return { ok: false, reason: 'bad-option', detail: e.error.detail };
    throw e;
  }
}

function fixedPart(bytes: Uint8Array, type: number, fixedBytes: number): Reader {
  if (bytes.length < fixedBytes) throw new NdFailure('short', `${bytes.length} octets, needs ${fixedBytes}`);
  if (bytes[0] !== type) throw new NdFailure('bad-type', `ICMPv6 type ${bytes[0]}`);
  if (bytes[1] !== 0) throw new NdFailure('bad-code', `ICMPv6 code ${bytes[1]}`);
  const r = new Reader(bytes);
  r.skip(4); // type, code, checksum
  return r;
}

/** Walks the options to the end; the bounds checks live here, in the loop over untrusted input. */
function readOptions(r: Reader, inAdvertisement: boolean): NdOption[] {
  const options: NdOption[] = [];
  const end = r.end;
  while (r.offset < end) {
    const at = r.offset;
    if (end - at < 2) throw new NdFailure('option-overflow', `option header at ${at} cut off`);
    const type = r.buf[at]!;
    const units = r.buf[at + 1]!;
    // §4.6: "Nodes MUST silently discard an ND packet that contains an option with length zero."
    if (units === 0) throw new NdFailure('zero-length-option', `option ${type} at ${at}`);
    if (at + units * 8 > end) throw new NdFailure('option-overflow', `option ${type} at ${at}: ${units * 8} octets, ${end - at} left`);
    r.offset = at + 2;
    r.end = at + units * 8;
    options.push(readOption(r, type, inAdvertisement || type === NdOptionType.SOURCE_LL_ADDR));
    r.offset = r.end;
    r.end = end;
  }
  return options;
}

function readOption(r: Reader, type: number, interpret: boolean): NdOption {
  if (interpret) {
    switch (type) {
      case NdOptionType.SOURCE_LL_ADDR:
        return { kind: 'SOURCE_LL_ADDR', address: readLinkLayerAddress(r) };
      case NdOptionType.PREFIX_INFO:
        return readPrefixInfo(r);
      case NdOptionType.MTU:
        if (r.remaining !== 6) throw new NdFailure('bad-option', 'MTU option length is not 1');
        r.skip(2);
        return { kind: 'MTU', mtu: r.u32() };
      case NdOptionType.RDNSS:
        return readRdnss(r);
      case NdOptionType.DNSSL:
        return readDnssl(r);
    }
  }
  return { kind: 'UNKNOWN', type, data: r.bytes(r.remaining) };
}

/** Ethernet: 6 octets, the option then exactly 8 (§4.6.1, RFC 2464 §6); other links keep their padding as part of it. */
function readLinkLayerAddress(r: Reader): Uint8Array {
  return r.bytes(r.remaining);
}

function readPrefixInfo(r: Reader): NdOption {
  if (r.remaining !== PREFIX_INFO_BYTES - 2) throw new NdFailure('bad-option', 'prefix information length is not 4');
  const prefixLength = r.u8();
  if (prefixLength > 128) throw new NdFailure('bad-option', `prefix length ${prefixLength}`);
  const flags = r.u8();
  const validSec = r.u32();
  const preferredSec = r.u32();
  r.skip(4);
  const prefix = addressFromBytes(r.bytes(16));
  return {
    kind: 'PREFIX_INFO',
    prefix,
    prefixLength,
    onLink: (flags & 0x80) !== 0,
    autonomous: (flags & 0x40) !== 0,
    validSec,
    preferredSec,
  };
}

/** RFC 8106 §5.1: length 1 + 2n, n ≥ 1. */
function readRdnss(r: Reader): NdOption {
  if (r.remaining < 22 || (r.remaining - 6) % 16 !== 0) throw new NdFailure('bad-option', 'RDNSS length is not 3, 5, 7, …');
  r.skip(2);
  const lifetimeSec = r.u32();
  const servers: string[] = [];
  while (r.remaining > 0) servers.push(r.address());
  return { kind: 'RDNSS', lifetimeSec, servers };
}

/** RFC 8106 §5.2: uncompressed names, then zero padding to the option's end. */
function readDnssl(r: Reader): NdOption {
  if (r.remaining < 14) throw new NdFailure('bad-option', 'DNSSL length below 2');
  r.skip(2);
  const lifetimeSec = r.u32();
  const domains: string[] = [];
  while (r.remaining > 0 && r.buf[r.offset] !== 0) domains.push(readName(r));
  while (r.remaining > 0) if (r.u8() !== 0) throw new NdFailure('bad-option', 'DNSSL padding is not zero');
  if (domains.length === 0) throw new NdFailure('bad-option', 'DNSSL without a domain');
  return { kind: 'DNSSL', lifetimeSec, domains };
}

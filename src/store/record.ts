// The on-disk form of a lease, small because every byte is written to flash at
// least twice (log, then table) and again on every compaction (docs/storage.md §6).
//
// Lease key, 18 bytes:
//   0      u8    0x6c 'l' (KEY_LEASE)
//   1..16  16 B  address, network byte order
//   17     u8    prefix length 0..128 for a delegated prefix ("…::/56"),
//                0xff for a bare address (IA_NA). The length byte comes from the
//                resource text, not the IA type, so "a" and "a/128" stay two keys.
//
// Lease value, 36 + duidLength bytes (64–72 B with a typical DUID, key included):
//   0      u8    format version (1)
//   1      u8    type: 0 na, 1 pd
//   2      u8    state: 0 active, 1 declined, 2 released, 3 expired
//   3      u8    duidLength, 1..130 (RFC 8415 §11.1: type code + ≤ 128 octets)
//   4      u32   iaid
//   8      u32   preferredSec
//   12     u32   validSec
//   16     u32   clttSec (wall clock; u32 lasts until 2106)
//   20     u48   expiresAtSec (u48 because now + an infinite 0xffffffff lifetime overflows u32)
//   26     u48   seq: the commit batch that wrote it (docs/storage.md §2, §4)
//   32     …     duid bytes
//   32+n   …     version 2 only: extensions, each tag(u8) ‖ length(u8) ‖ data, until the CRC:
//                  tag 1, 25 B: failover state (Lease.fo): flags(u8: bit 0 pending) ‖
//                               u48 partnerLifetimeSec ‖ u48 ackedPartnerLifetimeSec ‖
//                               u48 expirationTimeSec ‖ u48 startOfStateSec
//                  tag 2, 18+m or 34+m B: requesting router of a delegation (Lease.via):
//                               16 B address ‖ u8 m ‖ m B interface name (1..15) ‖
//                               [16 B relay address, when relayed by another node]
//                  tag 3, 6 B:  u48 partner-raw-clt-time (Lease.fo.partnerRawCltSec, RFC 8156 §7.3),
//                               only with tag 1 and only when non-zero
//                  tag 4, 8 B:  u32 T1 ‖ u32 T2 given to the client (Lease.timers)
//                  tag 5, 1..255 B, repeated: Lease.fo.clientData, the option octets kept for
//                               the partner (RFC 8156 §7.4), in order; the chunks concatenate.
//                               Only with tag 1; at most KEPT_BYTES_MAX in all.
//                An unknown tag is skipped by its length, so a newer field never
//                makes an older reader call the record corrupt.
//   end    u32   CRC-32 over key ‖ value[0, end). Covering the key too means a
//                record that lands under the wrong key is caught, not served.
//
// Version 1 is written whenever a lease has no extension (a standalone server
// keeps 64-72 B records); version 2 only when it has one.
//
// Metadata: key 'm' + UTF-8 name; value = version(1) ‖ bytes ‖ CRC-32(key ‖ version ‖ bytes).
// Sequence marker: key 's'; value = version(1) ‖ u48 seq ‖ CRC-32(key ‖ …). Written
// only in batches that delete, because only a delete can take away the record
// holding the highest seq.
//
// All integers big-endian. A new field means a new version byte, never a reinterpretation.

import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { addressToBytes } from '../wire/address.js';
import { resourceText } from './resource-text.js';
import { KEPT_BYTES_MAX, type IaType, type Lease, type LeaseFailover, type LeaseState, type RequestedVia } from '../engine/lease.js';

export const KEY_LEASE = 0x6c; // 'l'
export const KEY_META = 0x6d; // 'm'
export const KEY_SEQ = 0x73; // 's'
export const RECORD_VERSION = 1;
/** Version 1 plus trailing extensions. */
export const RECORD_VERSION_EXT = 2;
const EXT_FAILOVER = 1;
const EXT_FAILOVER_BYTES = 25;
const EXT_VIA = 2;
const EXT_PARTNER_CLT = 3;
const EXT_PARTNER_CLT_BYTES = 6;
const EXT_TIMERS = 4;
const EXT_TIMERS_BYTES = 8;
const EXT_KEPT = 5;
const EXT_CHUNK_MAX = 255;
/** Linux IFNAMSIZ - 1, in bytes (dev_valid_name()). */
const IFNAME_BYTES_MAX = 15;
const ifnameOk = (name: string): boolean => {
  const n = Buffer.byteLength(name);
  return n >= 1 && n <= IFNAME_BYTES_MAX && !/[\s/:]/.test(name) && name !== '.' && name !== '..';
};
export const LEASE_KEY_BYTES = 18;
const BARE_ADDRESS = 0xff;
const FIXED_BYTES = 32;
const CRC_BYTES = 4;
export const DUID_BYTES_MAX = 130;
export const META_NAME_BYTES_MAX = 64;
export const META_VALUE_BYTES_MAX = 4096;
const U32_MAX = 0xffff_ffff;
const U48_MAX = 2 ** 48 - 1;

const TYPES: readonly IaType[] = ['na', 'pd'];
const STATES: readonly LeaseState[] = ['active', 'declined', 'released', 'expired'];
const TYPE_CODE: Record<IaType, number> = { na: 0, pd: 1 };
const STATE_CODE: Record<LeaseState, number> = { active: 0, declined: 1, released: 2, expired: 3 };
const DUID_RE = /^(?:[0-9a-f]{2})+$/;
const META_NAME_RE = /^[A-Za-z0-9._-]+$/;

/** Why a stored record is not served. Decoders return the value or one of these, never throw. */
export type CorruptReason = 'key' | 'version' | 'crc' | 'decode';

/** The 18-byte key of a resource; throws (programmer error) on text that is not canonical. */
export function leaseKey(resource: string): Buffer {
  const key = keyBytes(resource);
  const back = resourceOfKey(key);
  assert.equal(back, resource, `resource not in RFC 5952 form: ${resource}`);
  return key;
}

/** Parses without the canonical-form check; encodeLease gets that from its round trip. */
function keyBytes(resource: string): Buffer {
  const slash = resource.indexOf('/');
  const key = Buffer.allocUnsafe(LEASE_KEY_BYTES);
  key[0] = KEY_LEASE;
  try {
    addressToBytes(slash < 0 ? resource : resource.slice(0, slash), key, 1);
  } catch {
    assert.fail(`not an IPv6 resource: ${resource}`);
  }
  if (slash < 0) {
    key[17] = BARE_ADDRESS;
    return key;
  }
  const lengthText = resource.slice(slash + 1);
  const length = Number(lengthText);
  assert.ok(Number.isInteger(length) && length >= 0 && length <= 128 && String(length) === lengthText, `bad prefix length: ${resource}`);
  assert.ok(hostBitsZero(key, length), `prefix has host bits set: ${resource}`);
  key[17] = length;
  return key;
}

function hostBitsZero(key: Uint8Array, length: number): boolean {
  let i = 1 + (length >> 3);
  if (length & 7 && key[i++]! & (0xff >> (length & 7))) return false;
  for (; i <= 16; i++) if (key[i] !== 0) return false;
  return true;
}

export function resourceOfKey(key: Uint8Array): string | undefined {
  if (key.length !== LEASE_KEY_BYTES || key[0] !== KEY_LEASE) return undefined;
  const length = key[17]!;
  if (length === BARE_ADDRESS) return resourceText(key, 1);
  if (length > 128 || !hostBitsZero(key, length)) return undefined;
  return resourceText(key, 1, length);
}

const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= U32_MAX;

/** Checks everything the record format cannot represent; a failure is a bug in the caller. */
export function checkLease(lease: Lease): void {
  assert.ok(lease.type === 'na' || lease.type === 'pd', `bad type: ${String(lease.type)}`);
  assert.ok(STATE_CODE[lease.state] !== undefined, `bad state: ${String(lease.state)}`);
  const isPrefix = lease.resource.includes('/');
  assert.equal(isPrefix, lease.type === 'pd', `IA_${lease.type.toUpperCase()} lease with resource ${lease.resource}`);
  assert.ok(DUID_RE.test(lease.duid) && lease.duid.length <= 2 * DUID_BYTES_MAX, `bad duid: ${lease.duid}`);
  assert.ok(isU32(lease.iaid), `bad iaid: ${lease.iaid}`);
  assert.ok(isU32(lease.preferredSec) && isU32(lease.validSec), `bad lifetimes: ${lease.preferredSec}/${lease.validSec}`);
  assert.ok(isU32(lease.clttSec), `bad clttSec: ${lease.clttSec}`);
  assert.ok(isU48(lease.expiresAtSec), `bad expiresAtSec: ${lease.expiresAtSec}`);
  if (lease.fo) {
    const f = lease.fo;
    assert.ok(
      isU48(f.partnerLifetimeSec) && isU48(f.ackedPartnerLifetimeSec) && isU48(f.expirationTimeSec) && isU48(f.startOfStateSec),
      `bad failover times: ${JSON.stringify(f)}`,
    );
    assert.ok(f.partnerRawCltSec === undefined || isU48(f.partnerRawCltSec), `bad partner raw CLT: ${f.partnerRawCltSec}`);
    assert.ok(
      f.clientData === undefined || (f.clientData.length > 0 && f.clientData.length <= KEPT_BYTES_MAX),
      `bad kept client data: ${f.clientData?.length} B`,
    );
  }
  if (lease.timers) assert.ok(isU32(lease.timers.t1Sec) && isU32(lease.timers.t2Sec), `bad timers: ${JSON.stringify(lease.timers)}`);
  if (lease.via) {
    const { address, interface: ifname, relay } = lease.via;
    assert.ok(ifnameOk(ifname), `bad via interface: ${ifname}`);
    for (const a of relay === undefined ? [address] : [address, relay]) {
      try {
        addressToBytes(a, Buffer.alloc(16));
      } catch {
        assert.fail(`bad via address: ${a}`);
      }
    }
  }
}

const isU48 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= U48_MAX;

// The Level scan already hands out Buffers; wrapping them again is pure garbage at open.
const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));

const recordCrc = (key: Uint8Array, body: Uint8Array): number => crc32(body, crc32(key));

/**
 * Why the record format cannot hold this lease, or undefined when it can: the
 * checks of encodeLease without the throw, for data that came from outside
 * (a partner's binding update) and must be refused, not asserted on.
 */
export function storableProblem(lease: Lease): string | undefined {
  try {
    encodeLease(lease, 0);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Encodes and then decodes again, asserting the round trip (the "before put" half of the paired check). */
export function encodeLease(lease: Lease, seq: number): { key: Buffer; value: Buffer } {
  checkLease(lease);
  assert.ok(Number.isInteger(seq) && seq >= 0 && seq <= U48_MAX, `bad seq: ${seq}`);
  const key = keyBytes(lease.resource);
  const duidLength = lease.duid.length >> 1;
  const exts = extensionsOf(lease);
  const extBytes = exts.reduce((n, e) => n + 2 + e.bytes, 0);
  const value = Buffer.allocUnsafe(FIXED_BYTES + duidLength + extBytes + CRC_BYTES);
  value[0] = extBytes > 0 ? RECORD_VERSION_EXT : RECORD_VERSION;
  value[1] = TYPE_CODE[lease.type];
  value[2] = STATE_CODE[lease.state];
  value[3] = duidLength;
  value.writeUInt32BE(lease.iaid, 4);
  value.writeUInt32BE(lease.preferredSec, 8);
  value.writeUInt32BE(lease.validSec, 12);
  value.writeUInt32BE(lease.clttSec, 16);
  value.writeUIntBE(lease.expiresAtSec, 20, 6);
  value.writeUIntBE(seq, 26, 6);
  value.write(lease.duid, FIXED_BYTES, duidLength, 'hex');
  let at = FIXED_BYTES + duidLength;
  for (const e of exts) {
    value[at] = e.tag;
    value[at + 1] = e.bytes;
    e.write(value, at + 2);
    at += 2 + e.bytes;
  }
  const end = FIXED_BYTES + duidLength + extBytes;
  value.writeUInt32BE(recordCrc(key, value.subarray(0, end)), end);
  const back = decodeLease(key, value);
  assert.ok(typeof back !== 'string', `record fails its own check (${String(back)}): ${lease.resource}`);
  // Key bytes format back to one text only, so this also proves the resource canonical.
  assert.equal(back.resource, lease.resource, `resource not in RFC 5952 form: ${lease.resource}`);
  assert.ok(sameLease(back, lease) && leaseSeq(value) === seq, `record round trip failed: ${lease.resource}`);
  return { key, value };
}

interface Extension {
  readonly tag: number;
  readonly bytes: number;
  /** Writes the extension's data (after tag and length) at `at`. */
  write(value: Buffer, at: number): void;
}

/** The extensions a lease needs, in tag order; a field an old reader does not know gets a tag of its own. */
function extensionsOf(lease: Lease): Extension[] {
  const out: Extension[] = [];
  const { fo, via, timers } = lease;
  if (fo) out.push({ tag: EXT_FAILOVER, bytes: EXT_FAILOVER_BYTES, write: (v, at) => writeFailoverExt(v, at, fo) });
  if (via) out.push({ tag: EXT_VIA, bytes: viaExtBytes(via), write: (v, at) => writeViaExt(v, at, via) });
  const raw = fo?.partnerRawCltSec;
  if (raw) out.push({ tag: EXT_PARTNER_CLT, bytes: EXT_PARTNER_CLT_BYTES, write: (v, at) => void v.writeUIntBE(raw, at, 6) });
  const kept = fo?.clientData;
  for (let at = 0; kept && at < kept.length; at += EXT_CHUNK_MAX) {
    const chunk = kept.subarray(at, at + EXT_CHUNK_MAX);
    out.push({ tag: EXT_KEPT, bytes: chunk.length, write: (v, to) => void v.set(chunk, to) });
  }
  if (timers) {
    out.push({
      tag: EXT_TIMERS,
      bytes: EXT_TIMERS_BYTES,
      write: (v, at) => {
        v.writeUInt32BE(timers.t1Sec, at);
        v.writeUInt32BE(timers.t2Sec, at + 4);
      },
    });
  }
  return out;
}

function writeFailoverExt(value: Buffer, at: number, f: LeaseFailover): void {
  value[at] = f.pending ? 1 : 0;
  value.writeUIntBE(f.partnerLifetimeSec, at + 1, 6);
  value.writeUIntBE(f.ackedPartnerLifetimeSec, at + 7, 6);
  value.writeUIntBE(f.expirationTimeSec, at + 13, 6);
  value.writeUIntBE(f.startOfStateSec, at + 19, 6);
}

function readFailoverExt(v: Buffer, at: number): LeaseFailover {
  return {
    pending: (v[at]! & 1) === 1,
    partnerLifetimeSec: v.readUIntBE(at + 1, 6),
    ackedPartnerLifetimeSec: v.readUIntBE(at + 7, 6),
    expirationTimeSec: v.readUIntBE(at + 13, 6),
    startOfStateSec: v.readUIntBE(at + 19, 6),
  };
}

const viaExtBytes = (via: RequestedVia): number => 17 + Buffer.byteLength(via.interface) + (via.relay === undefined ? 0 : 16);

function writeViaExt(value: Buffer, at: number, via: RequestedVia): void {
  const m = Buffer.byteLength(via.interface);
  addressToBytes(via.address, value, at);
  value[at + 16] = m;
  value.write(via.interface, at + 17, m, 'utf8');
  if (via.relay !== undefined) addressToBytes(via.relay, value, at + 17 + m);
}

/** undefined when the extension does not hold together (then the record is corrupt). */
function readViaExt(v: Buffer, at: number, length: number): RequestedVia | undefined {
  if (length < 18) return undefined;
  const m = v[at + 16]!;
  if (m < 1 || m > IFNAME_BYTES_MAX || (length !== 17 + m && length !== 33 + m)) return undefined;
  const ifname = v.toString('utf8', at + 17, at + 17 + m);
  if (!ifnameOk(ifname) || Buffer.byteLength(ifname) !== m) return undefined;
  const address = resourceText(v, at);
  return length === 17 + m ? { address, interface: ifname } : { address, interface: ifname, relay: resourceText(v, at + 17 + m) };
}

const sameVia = (a: RequestedVia | undefined, b: RequestedVia | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a.address === b.address && a.interface === b.interface && a.relay === b.relay);

const sameFailover = (a: LeaseFailover | undefined, b: LeaseFailover | undefined): boolean =>
  a === b ||
  (a !== undefined &&
    b !== undefined &&
    a.pending === b.pending &&
    a.partnerLifetimeSec === b.partnerLifetimeSec &&
    a.ackedPartnerLifetimeSec === b.ackedPartnerLifetimeSec &&
    a.expirationTimeSec === b.expirationTimeSec &&
    a.startOfStateSec === b.startOfStateSec &&
    (a.partnerRawCltSec || 0) === (b.partnerRawCltSec || 0) &&
    sameBytes(a.clientData, b.clientData));

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && Buffer.compare(a, b) === 0);

const sameTimers = (a: Lease['timers'], b: Lease['timers']): boolean =>
  a === b || (a !== undefined && b !== undefined && a.t1Sec === b.t1Sec && a.t2Sec === b.t2Sec);

export function sameLease(a: Lease, b: Lease): boolean {
  return (
    a.resource === b.resource &&
    a.type === b.type &&
    a.duid === b.duid &&
    a.iaid === b.iaid &&
    a.state === b.state &&
    a.preferredSec === b.preferredSec &&
    a.validSec === b.validSec &&
    a.clttSec === b.clttSec &&
    a.expiresAtSec === b.expiresAtSec &&
    sameFailover(a.fo, b.fo) &&
    sameVia(a.via, b.via) &&
    sameTimers(a.timers, b.timers)
  );
}

/**
 * The "after get" half of the paired check: never throws, names what is wrong
 * instead. Returns the bare Lease (no result wrapper: open() runs this 100k times).
 */
export function decodeLease(key: Uint8Array, value: Uint8Array): Lease | CorruptReason {
  if (key.length !== LEASE_KEY_BYTES || key[0] !== KEY_LEASE) return 'key';
  const prefixLength = key[17]!;
  const bare = prefixLength === BARE_ADDRESS;
  if (!bare && (prefixLength > 128 || !hostBitsZero(key, prefixLength))) return 'key';
  if (value.length < FIXED_BYTES + 1 + CRC_BYTES) return 'decode';
  const version = value[0];
  if (version !== RECORD_VERSION && version !== RECORD_VERSION_EXT) return 'version';
  const duidLength = value[3]!;
  const duidEnd = FIXED_BYTES + duidLength;
  const end = value.length - CRC_BYTES;
  if (duidLength === 0 || duidLength > DUID_BYTES_MAX || end < duidEnd || (version === RECORD_VERSION && end !== duidEnd)) return 'decode';
  const v = asBuffer(value);
  if (v.readUInt32BE(end) !== recordCrc(key, v.subarray(0, end))) return 'crc';
  const type = TYPES[v[1]!];
  const state = STATES[v[2]!];
  if (type === undefined || state === undefined || (type === 'pd') === bare) return 'decode';
  let fo: LeaseFailover | undefined;
  let via: RequestedVia | undefined;
  let partnerRawCltSec = 0;
  let timers: Lease['timers'];
  const kept: Buffer[] = [];
  for (let at = duidEnd; at < end;) {
    if (at + 2 > end || at + 2 + v[at + 1]! > end) return 'decode';
    const tag = v[at]!;
    const length = v[at + 1]!;
    if (tag === EXT_FAILOVER) {
      if (length !== EXT_FAILOVER_BYTES) return 'decode';
      fo = readFailoverExt(v, at + 2);
    } else if (tag === EXT_VIA) {
      via = readViaExt(v, at + 2, length);
      if (via === undefined) return 'decode';
    } else if (tag === EXT_PARTNER_CLT) {
      if (length !== EXT_PARTNER_CLT_BYTES) return 'decode';
      partnerRawCltSec = v.readUIntBE(at + 2, 6);
    } else if (tag === EXT_TIMERS) {
      if (length !== EXT_TIMERS_BYTES) return 'decode';
      timers = { t1Sec: v.readUInt32BE(at + 2), t2Sec: v.readUInt32BE(at + 6) };
    } else if (tag === EXT_KEPT) {
      if (length === 0) return 'decode';
      kept.push(v.subarray(at + 2, at + 2 + length));
    }
    at += 2 + length;
  }
  const lease: Lease = {
    resource: bare ? resourceText(key, 1) : resourceText(key, 1, prefixLength),
    type,
    duid: v.toString('hex', FIXED_BYTES, duidEnd),
    iaid: v.readUInt32BE(4),
    state,
    preferredSec: v.readUInt32BE(8),
    validSec: v.readUInt32BE(12),
    clttSec: v.readUInt32BE(16),
    expiresAtSec: v.readUIntBE(20, 6),
  };
  // A partner CLT without the failover extension it belongs to is left out, as is a 0 (never written).
  if (fo && partnerRawCltSec > 0) fo = { ...fo, partnerRawCltSec };
  if (kept.length > 0) {
    const clientData = new Uint8Array(Buffer.concat(kept));
    if (clientData.length > KEPT_BYTES_MAX) return 'decode';
    if (fo) fo = { ...fo, clientData };
  }
  return fo || via || timers ? { ...lease, ...(fo ? { fo } : {}), ...(via ? { via } : {}), ...(timers ? { timers } : {}) } : lease;
}

/** The commit batch that wrote a lease record; meaningful once decodeLease() accepted it. */
export const leaseSeq = (value: Uint8Array): number => asBuffer(value).readUIntBE(26, 6);

export function checkMetaName(name: string): void {
  assert.ok(META_NAME_RE.test(name) && Buffer.byteLength(name) <= META_NAME_BYTES_MAX, `bad meta name: ${name}`);
}

export function encodeMeta(name: string, bytes: Uint8Array): { key: Buffer; value: Buffer } {
  checkMetaName(name);
  assert.ok(bytes.length <= META_VALUE_BYTES_MAX, `meta ${name} too large: ${bytes.length} B`);
  const key = Buffer.concat([Buffer.of(KEY_META), Buffer.from(name)]);
  const value = Buffer.allocUnsafe(1 + bytes.length + CRC_BYTES);
  value[0] = RECORD_VERSION;
  value.set(bytes, 1);
  value.writeUInt32BE(recordCrc(key, value.subarray(0, 1 + bytes.length)), 1 + bytes.length);
  return { key, value };
}

export function decodeMeta(key: Uint8Array, value: Uint8Array): { name: string; bytes: Uint8Array } | CorruptReason {
  const name = Buffer.from(key.buffer, key.byteOffset + 1, key.length - 1).toString();
  if (key[0] !== KEY_META || !META_NAME_RE.test(name)) return 'key';
  if (value.length < 1 + CRC_BYTES) return 'decode';
  if (value[0] !== RECORD_VERSION) return 'version';
  const v = asBuffer(value);
  const end = v.length - CRC_BYTES;
  if (v.readUInt32BE(end) !== recordCrc(key, v.subarray(0, end))) return 'crc';
  return { name, bytes: new Uint8Array(v.subarray(1, end)) };
}

const SEQ_KEY = Buffer.of(KEY_SEQ);

export function encodeSeqMarker(seq: number): { key: Buffer; value: Buffer } {
  const value = Buffer.allocUnsafe(1 + 6 + CRC_BYTES);
  value[0] = RECORD_VERSION;
  value.writeUIntBE(seq, 1, 6);
  value.writeUInt32BE(recordCrc(SEQ_KEY, value.subarray(0, 7)), 7);
  return { key: SEQ_KEY, value };
}

export function decodeSeqMarker(key: Uint8Array, value: Uint8Array): number | CorruptReason {
  if (key.length !== 1 || key[0] !== KEY_SEQ) return 'key';
  if (value.length !== 1 + 6 + CRC_BYTES) return 'decode';
  if (value[0] !== RECORD_VERSION) return 'version';
  const v = asBuffer(value);
  if (v.readUInt32BE(7) !== recordCrc(key, v.subarray(0, 7))) return 'crc';
  return v.readUIntBE(1, 6);
}

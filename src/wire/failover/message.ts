// Partner messages: the 8-octet header of RFC 8156 §5.2 (4 octets for the
// STARTTLS/REPLY of the TLS set-up) over ordinary DHCPv6 options, and the
// typed "PDU" view with one content record per message type.
//
//   bytes ──decodePartnerMessage──► PartnerMessage (header + Option[]) ──readPartnerMessage──► PartnerPdu
//   bytes ◄─encodePartnerMessage─── PartnerMessage ◄──────toPartnerMessage─────────────────── PartnerPdu
//
// decodePartnerFrame does both steps and is the one function that sees bytes
// from the partner; it never throws.

import {
  FAILOVER_HEADER_LENGTH,
  FoMsgType,
  foMsgTypeName,
  FRAME_LENGTH_MAX,
  FRAME_PREFIX_LENGTH,
  isFailoverMsgType,
  isTlsMsgType,
  TLS_HEADER_LENGTH,
  type FailoverMsgTypeCode,
  type TlsMsgTypeCode,
} from './constants.js';
import { attempt, foFail, type FailoverDecodeError, type FailoverResult } from './errors.js';
import { fromAbsoluteTime, toAbsoluteTime } from './time.js';
import {
  connectCodec,
  connectReplyCodec,
  emptyCodec,
  stateCodec,
  statusOnlyCodec,
  type ConnectParams,
  type ConnectReplyContent,
  type ContentCodec,
  type EmptyContent,
  type StateContent,
  type StatusOnlyContent,
} from './content.js';
import { bindingUpdateCodec, type BindingUpdate } from './binding.js';
import { bindingReplyCodec, type BindingReply } from './binding-reply.js';
import type { ReadContext } from './options.js';
import { decodeOptionList } from '../message.js';
import { encodeOptions, optionsLength } from '../options.js';
import type { Option } from '../types.js';
import { programmerError, Writer } from '../writer.js';

/** RFC 8156 §5.2: msg-type, transaction-id, sent-time, options. */
export interface FailoverMessage {
  readonly type: FailoverMsgTypeCode;
  /** 24 bits, set by the initiator and copied by the answer (§5.4). */
  readonly transactionId: number;
  /** The sender's clock at transmission, Unix seconds (2000-epoch modulo 2^32 on the wire). */
  readonly sentTimeSec: number;
  readonly options: readonly Option[];
}

/** STARTTLS (23) and its REPLY (7): RFC 8415 §8 header, no sent-time (RFC 7653 §6.2.2, §8.2). */
export interface TlsNegotiationMessage {
  readonly type: TlsMsgTypeCode;
  readonly transactionId: number;
  readonly options: readonly Option[];
}

export type PartnerMessage = FailoverMessage | TlsNegotiationMessage;

/** The content record of each message type. */
export interface PartnerContentMap {
  [FoMsgType.REPLY]: StatusOnlyContent;
  [FoMsgType.STARTTLS]: EmptyContent;
  [FoMsgType.BNDUPD]: BindingUpdate;
  [FoMsgType.BNDREPLY]: BindingReply;
  [FoMsgType.POOLREQ]: EmptyContent;
  [FoMsgType.POOLRESP]: EmptyContent;
  [FoMsgType.UPDREQ]: EmptyContent;
  [FoMsgType.UPDREQALL]: EmptyContent;
  [FoMsgType.UPDDONE]: EmptyContent;
  [FoMsgType.CONNECT]: ConnectParams;
  [FoMsgType.CONNECTREPLY]: ConnectReplyContent;
  [FoMsgType.DISCONNECT]: StatusOnlyContent;
  [FoMsgType.STATE]: StateContent;
  [FoMsgType.CONTACT]: EmptyContent;
}

/** A decoded partner message: header fields plus the typed content of its type. */
export type PartnerPdu = {
  [T in keyof PartnerContentMap]: T extends FailoverMsgTypeCode
    ? { readonly type: T; readonly transactionId: number; readonly sentTimeSec: number; readonly content: PartnerContentMap[T] }
    : { readonly type: T; readonly transactionId: number; readonly content: PartnerContentMap[T] };
}[keyof PartnerContentMap];

export type PduOf<T extends keyof PartnerContentMap> = Extract<PartnerPdu, { type: T }>;

const contentCodecs: { readonly [T in keyof PartnerContentMap]: ContentCodec<PartnerContentMap[T]> } = {
  [FoMsgType.REPLY]: statusOnlyCodec,
  [FoMsgType.STARTTLS]: emptyCodec,
  [FoMsgType.BNDUPD]: bindingUpdateCodec,
  [FoMsgType.BNDREPLY]: bindingReplyCodec,
  [FoMsgType.POOLREQ]: emptyCodec,
  [FoMsgType.POOLRESP]: emptyCodec,
  [FoMsgType.UPDREQ]: emptyCodec,
  [FoMsgType.UPDREQALL]: emptyCodec,
  [FoMsgType.UPDDONE]: emptyCodec,
  [FoMsgType.CONNECT]: connectCodec,
  [FoMsgType.CONNECTREPLY]: connectReplyCodec,
  [FoMsgType.DISCONNECT]: statusOnlyCodec,
  [FoMsgType.STATE]: stateCodec,
  [FoMsgType.CONTACT]: emptyCodec,
};

const codecOf = (type: keyof PartnerContentMap): ContentCodec<unknown> => contentCodecs[type] as unknown as ContentCodec<unknown>;

const hasSentTime = (m: PartnerMessage | PartnerPdu): m is FailoverMessage => isFailoverMsgType(m.type);

// ---- PDU <-> message -----------------------------------------------------

/** Builds the message for a PDU. Throws only on programmer errors (a record the RFC does not allow). */
export function toPartnerMessage(pdu: PartnerPdu): PartnerMessage {
  const options = codecOf(pdu.type).encode(pdu.content);
  if ('sentTimeSec' in pdu) return { type: pdu.type, transactionId: pdu.transactionId, sentTimeSec: pdu.sentTimeSec, options };
  return { type: pdu.type, transactionId: pdu.transactionId, options };
}

/**
 * Reads the content of a message. `nowUnixSec` is the reference for the
 * absolute times inside (see time.ts); `offsets` places errors when the
 * message came from bytes. Never throws.
 */
export function readPartnerMessage(
  m: PartnerMessage,
  nowUnixSec: number,
  offsets?: ReadonlyMap<Option, number>,
): FailoverResult<PartnerPdu> {
  const header = { type: m.type, transactionId: m.transactionId };
  return attempt(() => {
    if (!isFailoverMsgType(m.type) && !isTlsMsgType(m.type)) {
      return foFail('unknown-message-type', 0, `message type ${m.type}`);
    }
    const ctx: ReadContext = {
      nowUnixSec,
      at: hasSentTime(m) ? FAILOVER_HEADER_LENGTH : TLS_HEADER_LENGTH,
      where: `${foMsgTypeName(m.type)} `,
      ...(offsets && { offsets }),
    };
    const content = codecOf(m.type).read(m.options, ctx);
    return (hasSentTime(m) ? { ...header, sentTimeSec: m.sentTimeSec, content } : { ...header, content }) as PartnerPdu;
  }, header);
}

// ---- message <-> bytes ---------------------------------------------------

export function partnerMessageLength(m: PartnerMessage): number {
  return (hasSentTime(m) ? FAILOVER_HEADER_LENGTH : TLS_HEADER_LENGTH) + optionsLength(m.options);
}

function writeMessage(m: PartnerMessage, w: Writer): void {
  if (!isFailoverMsgType(m.type) && !isTlsMsgType(m.type)) programmerError(`partner message type ${m.type}`);
  w.u8(m.type);
  w.u24(m.transactionId);
  if (hasSentTime(m)) w.u32(toAbsoluteTime(m.sentTimeSec));
  encodeOptions(m.options, w);
}

/** The message alone, as the payload of one frame. */
export function encodePartnerMessage(m: PartnerMessage): Buffer {
  const length = partnerMessageLength(m);
  const buf = Buffer.allocUnsafe(length);
  const w = new Writer(buf);
  writeMessage(m, w);
  if (w.offset !== length) programmerError(`partner message: computed ${length} octets, wrote ${w.offset}`);
  return buf;
}

/** The message behind its 2-octet length prefix (RFC 5460 §5.1), in one allocation, ready for the socket. */
export function encodePartnerFrame(m: PartnerMessage | PartnerPdu): Buffer {
  const message = 'options' in m ? m : toPartnerMessage(m);
  const length = partnerMessageLength(message);
  if (length > FRAME_LENGTH_MAX) programmerError(`partner message of ${length} octets exceeds ${FRAME_LENGTH_MAX} (RFC 5460 §5.1)`);
  const buf = Buffer.allocUnsafe(FRAME_PREFIX_LENGTH + length);
  const w = new Writer(buf);
  w.u16(length);
  writeMessage(message, w);
  if (w.offset !== buf.length) programmerError(`partner frame: computed ${buf.length} octets, wrote ${w.offset}`);
  return buf;
}

export type PartnerMessageResult =
  { ok: true; message: PartnerMessage; offsets: ReadonlyMap<Option, number> } | { ok: false; error: FailoverDecodeError };

/** Header and options of one frame's payload. Never throws. */
export function decodePartnerMessage(bytes: Uint8Array, nowUnixSec: number): PartnerMessageResult {
  const type = bytes.length > 0 ? bytes[0]! : -1;
  const tls = isTlsMsgType(type);
  const headerLength = tls ? TLS_HEADER_LENGTH : FAILOVER_HEADER_LENGTH;
  if (bytes.length < headerLength) {
    const detail = `message of ${bytes.length} octets, header needs ${headerLength}`;
    return { ok: false, error: { reason: 'truncated-header', offset: 0, detail } };
  }
  const transactionId = (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!;
  const header = { type, transactionId };
  if (!tls && !isFailoverMsgType(type)) {
    return { ok: false, error: { reason: 'unknown-message-type', offset: 0, detail: `message type ${type}`, header } };
  }
  const list = decodeOptionList(bytes, headerLength);
  if (!list.ok) return { ok: false, error: { ...list.error, header } };
  const offsets = topLevelOffsets(bytes, headerLength, list.options);
  if (tls) return { ok: true, message: { type: type as TlsMsgTypeCode, transactionId, options: list.options }, offsets };
  const wire = bytes[4]! * 0x1000000 + ((bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!);
  const sentTimeSec = fromAbsoluteTime(wire, nowUnixSec);
  return { ok: true, message: { type: type as FailoverMsgTypeCode, transactionId, sentTimeSec, options: list.options }, offsets };
}

/** Where each top-level option starts; the list already decoded, so the TLV walk cannot overrun. */
function topLevelOffsets(bytes: Uint8Array, start: number, options: readonly Option[]): Map<Option, number> {
  const map = new Map<Option, number>();
  let offset = start;
  for (const o of options) {
    map.set(o, offset);
    offset += 4 + ((bytes[offset + 2]! << 8) | bytes[offset + 3]!);
  }
  return map;
}

export type PartnerFrameResult = { ok: true; pdu: PartnerPdu; message: PartnerMessage } | { ok: false; error: FailoverDecodeError };

/**
 * One frame's payload (as FrameParser emits it) to a typed PDU. Never
 * throws. On failure `error.header` is set whenever the header could be read,
 * so a refused BNDUPD can still get its BNDREPLY (§7.5.3) and a refused
 * CONNECT its CONNECTREPLY (§6.1.2).
 */
export function decodePartnerFrame(payload: Uint8Array, nowUnixSec: number): PartnerFrameResult {
  try {
    const decoded = decodePartnerMessage(payload, nowUnixSec);
    if (!decoded.ok) return decoded;
    const read = readPartnerMessage(decoded.message, nowUnixSec, decoded.offsets);
    return read.ok ? { ok: true, pdu: read.value, message: decoded.message } : read;
  } catch (e) {
    // Not reachable by design; a codec bug still only costs this message.
    return { ok: false, error: { reason: 'bad-option', offset: 0, detail: `internal decoder error: ${String(e)}` } };
  }
}

// The public edge of the codec: whole datagrams in and out (RFC 8415 §8, §9).
// decodeMessage is the one function that sees bytes from the network, so it
// turns every failure into a value; the receive loop counts it by reason.

import { decodeMessageBody, decodeOptions, encodeMessageBody, messageLength, type DecodeContext } from './options.js';
import { DecodeFailure, Reader, type DecodeError } from './reader.js';
import type { Message, Option } from './types.js';
import { programmerError, Writer } from './writer.js';

export { messageLength };

export type DecodeResult = { ok: true; message: Message } | { ok: false; error: DecodeError };

/** Never throws, whatever the bytes. */
export function decodeMessage(bytes: Uint8Array): DecodeResult {
  try {
    const r = new Reader(bytes);
    const ctx: DecodeContext = { relayDepth: 0, nesting: 0 };
    return { ok: true, message: decodeMessageBody(r, ctx) };
  } catch (e) {
    return { ok: false, error: asDecodeError(e) };
  }
}

/**
 * Options alone, from offset to end: for codecs that frame options behind
 * another header (RFC 8156's 8-octet failover header). Never throws.
 */
export function decodeOptionList(
  bytes: Uint8Array,
  offset = 0,
  end = bytes.length,
): { ok: true; options: Option[] } | { ok: false; error: DecodeError } {
  try {
    const r = new Reader(bytes, offset, end);
    return { ok: true, options: decodeOptions(r, { relayDepth: 0, nesting: 0 }) };
  } catch (e) {
    return { ok: false, error: asDecodeError(e) };
  }
}

function asDecodeError(e: unknown): DecodeError {
  if (e instanceof DecodeFailure) return e.error;
  // Not reachable by design; if a codec bug throws anyway (a RangeError, a
  // stack overflow), the datagram is still only dropped, under a reason that
  // is counted, and the detail says it was our fault.
  return { reason: 'bad-option', offset: 0, detail: `internal decoder error: ${String(e)}` };
}

/** Encodes into a new Buffer of exactly messageLength(m) octets. Throws only on programmer errors. */
export function encodeMessage(m: Message): Buffer {
  const length = messageLength(m);
  const buf = Buffer.allocUnsafe(length);
  encodeMessageInto(m, buf, 0, length);
  return buf;
}

/**
 * Encodes into buf at offset (e.g. behind a 2-octet TCP length prefix,
 * RFC 5460 §5.1) and returns the octets written.
 */
export function encodeMessageInto(m: Message, buf: Buffer, offset = 0, length = messageLength(m)): number {
  if (offset + length > buf.length) programmerError(`buffer of ${buf.length} octets, message needs ${offset + length}`);
  const w = new Writer(buf, offset, offset + length);
  encodeMessageBody(m, w);
  if (w.offset !== offset + length) {
    programmerError(`encodingLength said ${length}, encoder wrote ${w.offset - offset}`);
  }
  return length;
}

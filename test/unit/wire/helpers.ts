// Shared test helpers for the wire codec (docs/style.md §1.3: one round-trip
// helper for every type, after dns-packet's testEncoder).

import { isDeepStrictEqual } from 'node:util';
import { expect } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  encodeMessageInto,
  messageLength,
  optionCodecs,
  type ClientServerMessage,
  type Message,
  type Option,
} from '../../../src/wire/index.js';

/**
 * decode(encode(v)) deep-equals v; messageLength equals the octets written;
 * a second cycle gives the same octets; encoding at offset 10 of a larger
 * buffer writes the same octets and nothing outside them.
 */
export function roundTrip(value: Message): Buffer {
  const bytes = encodeMessage(value);
  expect(bytes.length).toBe(messageLength(value));

  const decoded = decodeMessage(bytes);
  expect(decoded).toEqual({ ok: true, message: value });
  if (!decoded.ok) throw new Error('unreachable');

  const again = encodeMessage(decoded.message);
  expect(again).toEqual(bytes);
  expect(decodeMessage(again)).toEqual({ ok: true, message: value });

  const big = Buffer.alloc(bytes.length + 20, 0xa5);
  expect(encodeMessageInto(value, big, 10)).toBe(bytes.length);
  expect(big.subarray(10, 10 + bytes.length)).toEqual(bytes);
  expect(big.subarray(0, 10).every((b) => b === 0xa5)).toBe(true);
  expect(big.subarray(10 + bytes.length).every((b) => b === 0xa5)).toBe(true);
  return bytes;
}

/** Round-trips one option inside a Solicit and checks its codec's length against the octets. */
export function roundTripOption(option: Option): Buffer {
  const bytes = roundTrip(solicit([option]));
  const body = optionCodecs[option.kind].encodingLength(option as never);
  expect(bytes.length).toBe(4 + 4 + body);
  return bytes.subarray(4);
}

export const solicit = (options: Option[], transactionId = 0x123456): ClientServerMessage => ({
  type: 1,
  transactionId,
  options,
});

/** Bytes from an annotated hex listing: whitespace and `//` comments ignored. */
export function hex(listing: string): Uint8Array {
  const digits = listing
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`bad hex listing: ${digits}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (h) => parseInt(h, 16));
}

export const u8 = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);

export const concat = (...parts: (Uint8Array | number[])[]): Uint8Array =>
  new Uint8Array(Buffer.concat(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)))));

/** An option TLV built by hand from RFC 8415 §21.1, independent of the encoder. */
export const tlv = (code: number, ...body: (Uint8Array | number[])[]): Uint8Array => {
  const data = concat(...body);
  if (data.length > 0xffff) throw new Error('option body too long for a test TLV');
  return concat([code >> 8, code & 0xff, data.length >> 8, data.length & 0xff], data);
};

/** A Relay-forward header (§9) around `inner`, built by hand. */
export function relayForward(inner: Uint8Array, hopCount = 0, extra: Uint8Array[] = []): Uint8Array {
  const link = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  const peer = [0xfe, 0x80, ...new Array(13).fill(0), 2];
  return concat([12, hopCount], link, peer, ...extra, tlv(9, inner));
}

export function expectError(bytes: Uint8Array, reason: string, offset?: number): void {
  const result = decodeMessage(bytes);
  if (result.ok) throw new Error(`expected ${reason}, decoded ${JSON.stringify(result.message)}`);
  expect(result.error.reason).toBe(reason);
  if (offset !== undefined) expect(result.error.offset).toBe(offset);
  expect(result.error.detail).not.toBe('');
}

export const sameValue = (a: unknown, b: unknown): boolean => isDeepStrictEqual(a, b);

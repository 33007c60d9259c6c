// A reader over untrusted bytes that checks its own bounds. pg-protocol's
// BufferReader leans on Buffer's RangeError, which is fine on a database socket
// but not for datagrams any host on the link may send (docs/style.md §1.4).
//
// Every read past `end` throws a DecodeFailure: a plain object, not an Error,
// so a flood of garbage packets does not pay for stack traces. decodeMessage
// catches it; nothing else may let it escape the wire/ layer.

import { addressFromBytes } from './address.js';

/**
 * Why a datagram was dropped. Few and stable on purpose: the server keeps one
 * drop counter per reason.
 *  - truncated-header       shorter than the 4-octet (§8) or 34-octet (§9) header
 *  - option-overflow        an option header or its option-len runs past the enclosing data (§21.1)
 *  - bad-option             an option's body does not fit its layout (§21.x length rules, RFC 3646)
 *  - bad-duid               CLIENTID/SERVERID not 3..130 octets (§11.1)
 *  - relay-too-deep         more than RELAY_DEPTH_MAX relay levels (§7.6, §19.1.2)
 *  - relay-without-message  a relay message with no Relay Message option (§9)
 *  - relay-extra-message    a relay message with more than one Relay Message option (§9, §21.10)
 */
export type DecodeReason =
  'truncated-header' | 'option-overflow' | 'bad-option' | 'bad-duid' | 'relay-too-deep' | 'relay-without-message' | 'relay-extra-message';

export const DECODE_REASONS: readonly DecodeReason[] = [
  'truncated-header',
  'option-overflow',
  'bad-option',
  'bad-duid',
  'relay-too-deep',
  'relay-without-message',
  'relay-extra-message',
];

export interface DecodeError {
  readonly reason: DecodeReason;
  /** Byte offset in the datagram where the problem was found. */
  readonly offset: number;
  /** For the debug log; not for counting. */
  readonly detail: string;
}

/** Internal throwable; converted to a DecodeError result at the API edge. */
export class DecodeFailure {
  constructor(readonly error: DecodeError) {}
}

export const fail = (reason: DecodeReason, offset: number, detail: string): never => {
  throw new DecodeFailure({ reason, offset, detail });
};

export class Reader {
  /** A Buffer view (no copy) for its fast utf8/latin1 decoding. */
  readonly buf: Buffer;
  offset: number;
  /** Reads stop here. Containers narrow it to one option body and restore it after. */
  end: number;
  /** Reason reported when a read would pass `end`. */
  underflow: DecodeReason;

  constructor(bytes: Uint8Array, offset = 0, end = bytes.length, underflow: DecodeReason = 'bad-option') {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
    this.end = Math.min(end, this.buf.length);
    this.underflow = underflow;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Throws unless n more bytes are available. */
  need(n: number, what: string): void {
    if (this.end - this.offset < n) {
      fail(this.underflow, this.offset, `${what}: needs ${n} bytes, ${this.end - this.offset} left`);
    }
  }

  u8(): number {
    this.need(1, 'u8');
    return this.buf[this.offset++]!;
  }

  u16(): number {
    this.need(2, 'u16');
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 2;
    return (b[o]! << 8) | b[o + 1]!;
  }

  u24(): number {
    this.need(3, 'u24');
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 3;
    return (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
  }

  u32(): number {
    this.need(4, 'u32');
    const b = this.buf;
    const o = this.offset;
    this.offset = o + 4;
    // `* 2 ** 24` rather than `<< 24` keeps values ≥ 2^31 positive.
    return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
  }

  /** A copy, so decoded values never alias a receive buffer the socket layer may reuse. */
  bytes(n: number): Uint8Array {
    this.need(n, 'bytes');
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.offset, this.offset + n));
    this.offset += n;
    return out;
  }

  /** 16 octets as canonical RFC 5952 text. */
  address(): string {
    this.need(16, 'address');
    const text = addressFromBytes(this.buf, this.offset);
    this.offset += 16;
    return text;
  }

  utf8(n: number): string {
    this.need(n, 'utf8');
    const text = this.buf.toString('utf8', this.offset, this.offset + n);
    this.offset += n;
    return text;
  }

  latin1(n: number): string {
    this.need(n, 'latin1');
    const text = this.buf.toString('latin1', this.offset, this.offset + n);
    this.offset += n;
    return text;
  }

  skip(n: number): void {
    this.need(n, 'skip');
    this.offset += n;
  }
}

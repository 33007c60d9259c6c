// Writes into a buffer that was sized beforehand by the codecs' encodingLength
// (dns-packet's "size first, then one write", docs/style.md §1.3): one allocation
// per datagram, no growing, no copying.
//
// Out-of-range values are programmer errors (the engine built a bad Message),
// so they fail loudly here instead of being masked onto the wire.

import { AssertionError } from 'node:assert';
import { addressToBytes } from './address.js';

export class Writer {
  readonly buf: Buffer;
  offset: number;
  private readonly limit: number;

  constructor(buf: Buffer, offset = 0, limit = buf.length) {
    this.buf = buf;
    this.offset = offset;
    this.limit = limit;
  }

  private room(n: number): void {
    if (this.offset + n > this.limit) programmerError(`write of ${n} bytes past the computed length`);
  }

  u8(v: number): void {
    if (!((v & 0xff) === v)) programmerError(`u8 out of range: ${v}`);
    this.room(1);
    this.buf[this.offset++] = v;
  }

  u16(v: number): void {
    if (!((v & 0xffff) === v)) programmerError(`u16 out of range: ${v}`);
    this.room(2);
    const b = this.buf;
    const o = this.offset;
    b[o] = v >>> 8;
    b[o + 1] = v & 0xff;
    this.offset = o + 2;
  }

  u24(v: number): void {
    if (!((v & 0xffffff) === v)) programmerError(`u24 out of range: ${v}`);
    this.room(3);
    const b = this.buf;
    const o = this.offset;
    b[o] = v >>> 16;
    b[o + 1] = (v >>> 8) & 0xff;
    b[o + 2] = v & 0xff;
    this.offset = o + 3;
  }

  u32(v: number): void {
    if (!(v >>> 0 === v)) programmerError(`u32 out of range: ${v}`);
    this.room(4);
    const b = this.buf;
    const o = this.offset;
    b[o] = v >>> 24;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
    this.offset = o + 4;
  }

  bytes(data: Uint8Array): void {
    this.room(data.length);
    this.buf.set(data, this.offset);
    this.offset += data.length;
  }

  /** Throws on text that is not an IPv6 address (a programmer error: config/ validates user text). */
  address(text: string): void {
    this.room(16);
    addressToBytes(text, this.buf, this.offset);
    this.offset += 16;
  }

  /** Writes exactly `byteLength` bytes, which the caller got from Buffer.byteLength(text, 'utf8'). */
  utf8(text: string, byteLength: number): void {
    this.room(byteLength);
    const n = this.buf.write(text, this.offset, byteLength, 'utf8');
    if (n !== byteLength) programmerError('utf8 length changed between size and write');
    this.offset += n;
  }

  latin1(text: string): void {
    this.room(text.length);
    this.buf.write(text, this.offset, text.length, 'latin1');
    this.offset += text.length;
  }
}

// Messages are built only on failure: no string formatting per write.
export function programmerError(message: string): never {
  throw new AssertionError({ message: `wire: ${message}` });
}

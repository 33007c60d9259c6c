// RFC 5460 §5.1 framing, which RFC 8156 §5.1 adopts: every message is
// preceded by a 2-octet length in network order, on TCP and inside TLS
// (RFC 7653 §6.1). TCP hands us arbitrary chunks; FrameParser turns them back
// into whole message payloads, in the manner of pg-protocol's Parser.
//
// Limits (docs/style.md §2.2, "limit everything"): at most one partial frame is held,
// of at most maxFrameLength octets, and it is filled in place, so a peer
// dribbling one octet at a time costs one copy per octet, not a re-copy of
// everything buffered so far. A bad length prefix poisons the parser: the
// stream has lost its frame boundaries and cannot be resynchronised, so the
// connection must close (and log why).

import { FRAME_LENGTH_MAX, FRAME_PREFIX_LENGTH, TLS_HEADER_LENGTH } from './constants.js';
import type { FailoverDecodeError } from './errors.js';
import { programmerError } from '../writer.js';

export interface FramePushResult {
  /** Payloads completed by this chunk, in order; each may be a view into the chunk, so decode before reusing its memory. */
  readonly frames: Buffer[];
  /** Set once the stream is broken; frames before the bad prefix are still delivered. */
  readonly error?: FailoverDecodeError;
}

export class FrameParser {
  readonly maxFrameLength: number;
  private prefix = -1; // first octet of a split length prefix, or -1
  private body: Buffer | undefined; // the partial frame being filled
  private filled = 0;
  private consumed = 0; // stream octets seen before the current chunk, for error offsets
  private broken: FailoverDecodeError | undefined;

  /** `maxFrameLength` may be lowered below 65535 to bound memory on a small appliance. */
  constructor(maxFrameLength: number = FRAME_LENGTH_MAX) {
    if (!Number.isInteger(maxFrameLength) || maxFrameLength < TLS_HEADER_LENGTH || maxFrameLength > FRAME_LENGTH_MAX) {
      programmerError(`maxFrameLength ${maxFrameLength} outside ${TLS_HEADER_LENGTH}..${FRAME_LENGTH_MAX}`);
    }
    this.maxFrameLength = maxFrameLength;
  }

  /** Octets held for an incomplete frame (prefix included). */
  get bufferedLength(): number {
    if (this.body) return FRAME_PREFIX_LENGTH + this.filled;
    return this.prefix >= 0 ? 1 : 0;
  }

  get error(): FailoverDecodeError | undefined {
    return this.broken;
  }

  push(chunk: Uint8Array): FramePushResult {
    const frames: Buffer[] = [];
    if (this.broken) return { frames, error: this.broken };
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let i = 0;
    while (i < data.length) {
      if (this.body) {
        const n = Math.min(this.body.length - this.filled, data.length - i);
        data.copy(this.body, this.filled, i, i + n);
        this.filled += n;
        i += n;
        if (this.filled === this.body.length) {
          frames.push(this.body);
          this.body = undefined;
        }
        continue;
      }
      // A length prefix, possibly split across chunks.
      const prefixAt = this.consumed + i - (this.prefix >= 0 ? 1 : 0);
      let length: number;
      if (this.prefix >= 0) {
        length = (this.prefix << 8) | data[i]!;
        this.prefix = -1;
        i += 1;
      } else if (data.length - i >= 2) {
        length = (data[i]! << 8) | data[i + 1]!;
        i += 2;
      } else {
        // The last octet of the chunk: the rest of the prefix comes with the next one.
        this.prefix = data[i]!;
        break;
      }
      const bad = this.check(length, prefixAt);
      if (bad) {
        this.consumed += i;
        return { frames, error: bad };
      }
      if (data.length - i >= length) {
        frames.push(data.subarray(i, i + length)); // whole frame in this chunk: no copy
        i += length;
      } else {
        this.body = Buffer.allocUnsafe(length);
        this.filled = 0;
      }
    }
    this.consumed += data.length;
    return { frames };
  }

  private check(length: number, offset: number): FailoverDecodeError | undefined {
    // A frame carries one message (RFC 5460 §5.1), and no message is empty.
    if (length === 0) this.broken = { reason: 'frame-empty', offset, detail: 'length prefix of 0' };
    else if (length > this.maxFrameLength) {
      this.broken = { reason: 'frame-too-large', offset, detail: `length prefix ${length} > maximum ${this.maxFrameLength}` };
    }
    return this.broken;
  }
}

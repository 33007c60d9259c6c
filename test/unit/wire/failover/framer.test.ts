// RFC 5460 §5.1 framing (RFC 8156 §5.1): whatever way TCP cuts the stream,
// the same frames come out. pg-protocol splits a few places; we split at
// every one.

import { describe, expect, it } from 'vitest';
import { encodePartnerFrame, FoMsgType, FrameParser, FRAME_LENGTH_MAX } from '../../../../src/wire/failover/index.js';
import { clientUpdate, connectParams, NOW } from './helpers.js';

const frames = [
  encodePartnerFrame({ type: FoMsgType.STARTTLS, transactionId: 1, content: {} }), // 4-octet payload
  encodePartnerFrame({ type: FoMsgType.CONNECT, transactionId: 2, sentTimeSec: NOW, content: connectParams }),
  encodePartnerFrame({ type: FoMsgType.BNDUPD, transactionId: 3, sentTimeSec: NOW, content: clientUpdate }), // > 255 octets: both prefix octets matter
];
const stream = Buffer.concat(frames);
const payloads = frames.map((f) => f.subarray(2));

function feed(parser: FrameParser, chunks: Uint8Array[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    const r = parser.push(c);
    expect(r.error).toBeUndefined();
    out.push(...r.frames.map((f) => Buffer.from(f))); // copy: frames may view the chunk
  }
  return out;
}

describe('FrameParser', () => {
  it('the sample stream has what the test needs', () => {
    expect(payloads.map((p) => p.length)).toEqual([4, expect.any(Number), expect.any(Number)]);
    expect(payloads[2]!.length).toBeGreaterThan(255);
  });

  it('one chunk holding all three frames', () => {
    expect(feed(new FrameParser(), [stream])).toEqual(payloads);
  });

  it(`split into two chunks at every offset 0..${stream.length}`, () => {
    for (let k = 0; k <= stream.length; k++) {
      const parser = new FrameParser();
      const got = feed(parser, [stream.subarray(0, k), stream.subarray(k)]);
      expect(got, `split at ${k}`).toEqual(payloads);
      expect(parser.bufferedLength).toBe(0);
    }
  });

  it('split into three chunks at every pair of offsets', () => {
    let cases = 0;
    for (let i = 0; i <= stream.length; i += 1) {
      for (let j = i; j <= stream.length; j += 1) {
        const parser = new FrameParser();
        const got = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)].flatMap((c) => {
          const r = parser.push(c);
          if (r.error) throw new Error(`split at ${i}, ${j}: ${r.error.detail}`);
          return r.frames;
        });
        if (got.length !== 3 || !got.every((f, n) => f.equals(payloads[n]!))) throw new Error(`split at ${i}, ${j}`);
        cases++;
      }
    }
    expect(cases).toBe(((stream.length + 1) * (stream.length + 2)) / 2);
  });

  it('one octet at a time, reporting what it holds', () => {
    const parser = new FrameParser();
    const got: Buffer[] = [];
    for (let k = 0; k < stream.length; k++) {
      got.push(...feed(parser, [stream.subarray(k, k + 1)]));
      const done = frames.reduce(
        (n, f, idx) => (frames.slice(0, idx + 1).reduce((s, g) => s + g.length, 0) <= k + 1 ? n + f.length : n),
        0,
      );
      expect(parser.bufferedLength).toBe(k + 1 - done);
    }
    expect(got).toEqual(payloads);
  });

  it('frames completed across chunks are copies; whole ones view the chunk', () => {
    const chunk = Buffer.from(stream);
    const [a] = new FrameParser().push(chunk).frames;
    chunk.fill(0);
    expect(a!.every((b) => b === 0)).toBe(true); // a view: decode before reusing the chunk
    const parser = new FrameParser();
    const first = Buffer.from(stream.subarray(0, 3));
    const second = Buffer.from(stream.subarray(3, 6));
    parser.push(first);
    const [b] = parser.push(second).frames;
    first.fill(0);
    second.fill(0);
    expect(b).toEqual(payloads[0]);
  });

  it('a frame of exactly 65535 octets is accepted (RFC 5460 §5.1)', () => {
    const big = Buffer.alloc(2 + FRAME_LENGTH_MAX, 0x5a);
    big.writeUInt16BE(FRAME_LENGTH_MAX, 0);
    const r = new FrameParser().push(big);
    expect(r.error).toBeUndefined();
    expect(r.frames.map((f) => f.length)).toEqual([FRAME_LENGTH_MAX]);
  });
});

describe('FrameParser refuses broken streams', () => {
  it('a zero-length frame, after delivering the frames before it', () => {
    const parser = new FrameParser();
    const r = parser.push(Buffer.concat([frames[0]!, Buffer.from([0, 0]), frames[1]!]));
    expect(r.frames.map((f) => Buffer.from(f))).toEqual([payloads[0]]);
    expect(r.error).toEqual({ reason: 'frame-empty', offset: frames[0]!.length, detail: expect.any(String) });
    // The stream has lost its boundaries: nothing more is parsed.
    expect(parser.push(frames[2]!)).toEqual({ frames: [], error: r.error });
    expect(parser.error).toBe(r.error);
  });

  it('a frame over the configured maximum, detected from its prefix alone', () => {
    const parser = new FrameParser(100);
    expect(parser.push(Buffer.from([0, 100, ...new Array<number>(100).fill(1)])).frames.length).toBe(1);
    const r = parser.push(Buffer.from([0, 101])); // no body needed to refuse it
    expect(r.error).toEqual({ reason: 'frame-too-large', offset: 102, detail: 'length prefix 101 > maximum 100' });
  });

  it('a too-large prefix split across chunks is placed at its first octet', () => {
    const parser = new FrameParser(1000);
    expect(parser.push(Buffer.from([...frames[0]!, 0xff])).error).toBeUndefined();
    expect(parser.bufferedLength).toBe(1);
    expect(parser.push(Buffer.from([0xff]))).toMatchObject({ frames: [], error: { reason: 'frame-too-large', offset: frames[0]!.length } });
  });

  it('holds at most one partial frame of at most the maximum', () => {
    const parser = new FrameParser(512);
    parser.push(Buffer.from([0x02, 0x00, 1, 2, 3])); // 512 announced, 3 arrived
    expect(parser.bufferedLength).toBe(5);
    parser.push(Buffer.alloc(509));
    expect(parser.bufferedLength).toBe(0);
  });

  it.each([0, 3, 65_536, 1.5])('rejects a maximum of %s (programmer error)', (max) => {
    expect(() => new FrameParser(max)).toThrow(/wire/);
  });
});

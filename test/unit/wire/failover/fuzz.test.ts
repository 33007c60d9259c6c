// Seeded fuzzing of the partner codec (replay a failure with
// T6_SEED=<n> FUZZ_ITERATIONS=<n> npx vitest run test/unit/wire/failover/fuzz.test.ts;
// test/seed.ts).
// Properties, for every input:
//  - decodePartnerFrame returns instead of throwing;
//  - a failure names a known reason, an offset inside the input, a detail,
//    and a header that matches the input's first octets when it has one;
//  - a success re-encodes without a programmer error (what the readers
//    accept, the builders accept) and decodes to the same PDU, and the raw
//    message re-encodes to the input octets (unless U+FFFD stood in for
//    invalid UTF-8);
//  - FrameParser, fed any stream in any chunks, never throws and agrees with
//    a one-chunk parse.

import { describe, expect, it } from 'vitest';
import { isDeepStrictEqual } from 'node:util';
import {
  decodePartnerFrame,
  encodePartnerFrame,
  encodePartnerMessage,
  FAILOVER_DECODE_REASONS,
  FrameParser,
  type FailoverDecodeReason,
} from '../../../../src/wire/failover/index.js';
import { concat, tlv } from '../helpers.js';
import { NOW, samplePdus } from './helpers.js';
import { prng, seedText, testSeed } from '../../../seed.js';

const SEED = testSeed(0x8156);
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 10_000);

const CODES = [1, 3, 4, 5, 13, 25, 26, 39, 45, 46, 47, 68, 100, ...Array.from({ length: 21 }, (_, i) => 114 + i), 0, 0xffff];
const TYPES = [7, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35];

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  const pick = (n: number): number => rand() % Math.max(n, 1);
  let bytes = Array.from(input);
  for (let k = 1 + pick(4); k > 0; k--) {
    const at = pick(bytes.length);
    switch (pick(8)) {
      case 0:
        bytes[at] = (bytes[at] ?? 0) ^ (1 << pick(8));
        break;
      case 1:
        bytes[at] = pick(256);
        break;
      case 2:
        bytes = bytes.slice(0, at);
        break;
      case 3:
        bytes.splice(at, 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256)));
        break;
      case 4:
        bytes.splice(at, 1 + pick(8));
        break;
      case 5: // nudge what may be a 16-bit length
        if (at + 1 < bytes.length) {
          const v = (((bytes[at]! << 8) | bytes[at + 1]!) + (pick(2) ? 1 : -1)) & 0xffff;
          bytes[at] = v >> 8;
          bytes[at + 1] = v & 0xff;
        }
        break;
      case 6: // duplicate a range: repeated options, sometimes a second CLIENT_DATA
        bytes.splice(at, 0, ...bytes.slice(at, at + 1 + pick(40)));
        break;
      default:
        bytes.push(
          ...tlv(
            CODES[pick(CODES.length)]!,
            Array.from({ length: pick(12) }, () => pick(256)),
          ),
        );
    }
  }
  return Uint8Array.from(bytes);
}

function randomMessage(rand: () => number): Uint8Array {
  const pick = (n: number): number => rand() % n;
  const type = pick(5) === 0 ? pick(256) : TYPES[pick(TYPES.length)]!;
  const head = Array.from({ length: type === 7 || type === 23 ? 4 : 8 }, () => pick(256));
  head[0] = type;
  const options: Uint8Array[] = [];
  for (let i = pick(6); i > 0; i--) {
    const code = CODES[pick(CODES.length)]!;
    const size = [0, 1, 2, 4, 4, 4, 8, pick(30)][pick(8)]!;
    options.push(
      tlv(
        code,
        Array.from({ length: size }, () => pick(256)),
      ),
    );
  }
  return concat(head, ...options);
}

const hasReplacement = (v: unknown): boolean =>
  typeof v === 'string'
    ? v.includes('\ufffd')
    : v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && Object.values(v).some(hasReplacement);

function check(input: Uint8Array): string | FailoverDecodeReason | 'ok' {
  let r;
  try {
    r = decodePartnerFrame(input, NOW);
  } catch (e) {
    throw new Error(`decodePartnerFrame threw ${String(e)}`, { cause: e });
  }
  if (!r.ok) {
    const { reason, offset, detail, header } = r.error;
    if (!FAILOVER_DECODE_REASONS.includes(reason)) throw new Error(`unknown reason ${reason}`);
    if (!(offset >= 0 && offset <= input.length) || !detail) throw new Error(`bad error ${JSON.stringify(r.error)}`);
    if (header && (header.type !== input[0] || header.transactionId !== ((input[1]! << 16) | (input[2]! << 8) | input[3]!))) {
      throw new Error(`header ${JSON.stringify(header)} does not match the input`);
    }
    return reason;
  }
  const frame = encodePartnerFrame(r.pdu); // throws on a programmer error: a reader/builder mismatch
  const again = decodePartnerFrame(frame.subarray(2), NOW);
  if (!again.ok || !isDeepStrictEqual(again.pdu, r.pdu)) throw new Error('re-decoded PDU differs');
  const raw = encodePartnerMessage(r.message);
  if (!raw.equals(input) && !hasReplacement(r.message)) throw new Error('raw re-encoding changed the octets');
  return 'ok';
}

describe(`partner codec fuzz (${seedText(SEED)}, ${ITERATIONS} iterations)`, () => {
  const corpus = samplePdus().map((p) => encodePartnerFrame(p).subarray(2));

  it('decodePartnerFrame never throws, and what it accepts round-trips', () => {
    const rand = prng(SEED);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      const input = i % 4 === 0 ? randomMessage(rand) : mutate(corpus[rand() % corpus.length]!, rand);
      let outcome;
      try {
        outcome = check(input);
      } catch (e) {
        throw new Error(`${seedText(SEED)} iteration ${i}: ${(e as Error).message}; input ${Buffer.from(input).toString('hex')}`, {
          cause: e,
        });
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    if (process.env.FUZZ_VERBOSE) console.log(Object.fromEntries(outcomes));
    // The inputs must get past the header, or the fuzzer tests little.
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(ITERATIONS / 10);
    for (const reason of [
      'truncated-header',
      'option-overflow',
      'missing-option',
      'duplicate-option',
      'bad-option',
      'bad-value',
      'unknown-message-type',
    ] as const) {
      expect(outcomes.get(reason) ?? 0, reason).toBeGreaterThan(0);
    }
  });

  it('FrameParser never throws, whatever the stream and however it is cut', () => {
    const rand = prng(SEED ^ 0x5460);
    for (let i = 0; i < ITERATIONS / 10; i++) {
      const parts = Array.from({ length: 1 + (rand() % 4) }, () => corpus[rand() % corpus.length]!);
      let stream = Buffer.concat(parts.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 0xff]), p]));
      if (rand() % 2) stream = Buffer.from(mutate(stream, rand));
      const whole = new FrameParser(rand() % 3 === 0 ? 300 : undefined);
      const once = whole.push(stream);
      const cut = new FrameParser(whole.maxFrameLength);
      const frames: Buffer[] = [];
      let error;
      for (let at = 0; at < stream.length;) {
        const n = 1 + (rand() % 64);
        const r = cut.push(stream.subarray(at, at + n));
        frames.push(...r.frames.map((f) => Buffer.from(f)));
        error ??= r.error;
        at += n;
      }
      expect(frames, `${seedText(SEED)} stream ${i}`).toEqual(once.frames.map((f) => Buffer.from(f)));
      expect(error).toEqual(once.error);
      for (const f of frames) check(f);
    }
  });
});

// Seeded fuzzing of decodeMessage (TigerBeetle-style: a seed replays any
// failure; T6_SEED=<n> FUZZ_ITERATIONS=<n> npx vitest run test/unit/wire/message.fuzz.test.ts;
// test/seed.ts).
// Properties, for every input: decodeMessage returns instead of throwing; a
// failure names a known reason and an offset inside the input; a success
// re-encodes to a value that decodes equal, twice over, and to the very input
// octets unless replacement characters stood in for invalid UTF-8.

import { describe, expect, it } from 'vitest';
import {
  DECODE_REASONS,
  decodeMessage,
  encodeMessage,
  isRelay,
  type DecodeReason,
  type Message,
  type Option,
} from '../../../src/wire/index.js';
import { lqOption, leasequeryMessage, leasequeryReply, readLeasequeryReply, readQuery } from '../../../src/wire/leasequery/index.js';
import { DHCLIENT_SOLICIT, DHCPCD_SOLICIT, REPLY } from './captures.js';
import { concat, relayForward, sameValue, solicit, tlv } from './helpers.js';
import { samples } from './samples.js';
import { prng, seedText, testSeed } from '../../seed.js';

const SEED = testSeed(0x7717e6);
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 20_000);

// 44–48: RFC 5007's Leasequery options, raw in the shared codec and read by wire/leasequery.
const KNOWN_CODES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 14, 18, 20, 23, 24, 25, 26, 32, 82, 83, 39, 44, 45, 46, 47, 48, 0, 0xffff];

function seedCorpus(): Uint8Array[] {
  const values: Message[] = [
    solicit(Object.values(samples).flat() as Option[]),
    { type: 7, transactionId: 1, options: [samples.IA_NA[0]!, samples.IA_PD[0]!, samples.DOMAIN_LIST[1]!] },
  ];
  const duid = (samples.CLIENTID[0] as { duid: Uint8Array }).duid;
  const query = leasequeryMessage(0x4217, duid, {
    queryType: 1,
    linkAddress: '::',
    options: [samples.IAADDR[0]!, { kind: 'ORO', codes: [47] }],
  });
  const answer = leasequeryReply(query, duid, {
    clientData: {
      clientDuid: duid,
      addresses: samples.IAADDR as never,
      prefixes: samples.IAPREFIX as never,
      cltSec: 90,
      relayData: { peerAddress: 'fe80::1', relayMessage: Uint8Array.from([12, 0]) },
    },
  });
  values.push(
    query,
    answer,
    leasequeryReply(query, duid, { clientLinks: ['2001:db8:1::', '2001:db8:2::'] }),
    { type: 16, transactionId: 1, options: [lqOption('CLT_TIME', 5)] }, // LEASEQUERY-DATA (RFC 5460 §5.2.1)
    { type: 17, transactionId: 1, options: [] }, // LEASEQUERY-DONE (RFC 5460 §5.2.2)
  );
  const inner = concat(DHCLIENT_SOLICIT);
  return [
    DHCLIENT_SOLICIT,
    DHCPCD_SOLICIT,
    REPLY,
    relayForward(inner, 0, [tlv(18, [0x65, 0x74, 0x68, 0x31])]),
    relayForward(relayForward(relayForward(REPLY, 0), 1), 2),
    ...values.map((v) => new Uint8Array(encodeMessage(v))),
  ];
}

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  const pick = (n: number): number => rand() % Math.max(n, 1);
  let bytes = Array.from(input);
  const rounds = 1 + pick(4);
  for (let k = 0; k < rounds; k++) {
    const at = pick(bytes.length);
    switch (pick(8)) {
      case 0: // flip a bit
        bytes[at] = (bytes[at] ?? 0) ^ (1 << pick(8));
        break;
      case 1: // overwrite a byte
        bytes[at] = pick(256);
        break;
      case 2: // truncate
        bytes = bytes.slice(0, at);
        break;
      case 3: // insert random bytes
        bytes.splice(at, 0, ...Array.from({ length: 1 + pick(8) }, () => pick(256)));
        break;
      case 4: // delete a range
        bytes.splice(at, 1 + pick(8));
        break;
      case 5: // nudge what may be a 16-bit length field
        if (at + 1 < bytes.length) {
          const v = (((bytes[at]! << 8) | bytes[at + 1]!) + (pick(2) ? 1 : -1)) & 0xffff;
          bytes[at] = v >> 8;
          bytes[at + 1] = v & 0xff;
        }
        break;
      case 6: // duplicate a range (repeats options, sometimes RELAY_MSG)
        bytes.splice(at, 0, ...bytes.slice(at, at + 1 + pick(40)));
        break;
      default: // append a plausible option
        bytes.push(
          ...tlv(
            KNOWN_CODES[pick(KNOWN_CODES.length)]!,
            Array.from({ length: pick(30) }, () => pick(256)),
          ),
        );
    }
  }
  return Uint8Array.from(bytes);
}

function randomDatagram(rand: () => number): Uint8Array {
  const pick = (n: number): number => rand() % n;
  const type = pick(4) === 0 ? pick(256) : 1 + pick(17); // 14–17: Leasequery (RFC 5007, RFC 5460)
  const head = type === 12 || type === 13 ? 34 : 4;
  const parts: Uint8Array[] = [Uint8Array.from({ length: pick(8) === 0 ? pick(head + 1) : head }, () => pick(256))];
  parts[0]![0] = type;
  if (pick(3) === 0) {
    parts.push(Uint8Array.from({ length: pick(200) }, () => pick(256)));
  } else {
    for (let i = pick(6); i > 0; i--) {
      const code = KNOWN_CODES[pick(KNOWN_CODES.length)]!;
      parts.push(
        tlv(
          code,
          Array.from({ length: pick(40) }, () => pick(256)),
        ),
      );
    }
  }
  return concat(...parts);
}

function hasReplacementText(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\ufffd');
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return false;
  return Object.values(value).some(hasReplacementText);
}

/**
 * The Leasequery readers on whatever decoded: they return a value or a problem
 * with a known reason, never throw, and a query they accept builds back into
 * one that reads the same.
 */
function checkLeasequery(m: Message): string | undefined {
  if (isRelay(m)) return undefined;
  try {
    const q = readQuery(m);
    if (!q.ok && q.problem !== 'missing' && !DECODE_REASONS.includes(q.error.reason)) return `readQuery: unknown reason ${q.error.reason}`;
    if (q.ok) {
      const again = readQuery(leasequeryMessage(m.transactionId, Uint8Array.of(0, 3, 0), q.query));
      if (!again.ok || !sameValue(again.query, q.query)) return 'readQuery: rebuilt query reads differently';
    }
    const r = readLeasequeryReply(m);
    if (!r.ok && !DECODE_REASONS.includes(r.error.reason)) return `readLeasequeryReply: unknown reason ${r.error.reason}`;
  } catch (e) {
    return `a Leasequery reader threw ${String(e)}`;
  }
  return undefined;
}

/** Returns a description of the broken property, or undefined. */
function check(input: Uint8Array): string | undefined {
  let result;
  try {
    result = decodeMessage(input);
  } catch (e) {
    return `decodeMessage threw ${String(e)}`;
  }
  if (result.ok) {
    const problem = checkLeasequery(result.message);
    if (problem) return problem;
  }
  if (!result.ok) {
    const { reason, offset, detail } = result.error;
    if (!DECODE_REASONS.includes(reason)) return `unknown reason ${reason}`;
    if (offset < 0 || offset > input.length || !detail) return `bad error ${JSON.stringify(result.error)}`;
    return undefined;
  }
  const encoded = encodeMessage(result.message);
  const again = decodeMessage(encoded);
  if (!again.ok || !sameValue(again.message, result.message)) return 're-decoded value differs';
  if (!encodeMessage(again.message).equals(encoded)) return 'second encoding differs';
  if (!encoded.equals(input) && !hasReplacementText(result.message)) return 're-encoding changed the octets';
  return undefined;
}

describe(`decodeMessage fuzz (${seedText(SEED)}, ${ITERATIONS} iterations)`, () => {
  it('never throws, and everything it accepts round-trips', () => {
    const rand = prng(SEED);
    const corpus = seedCorpus();
    const outcomes = new Map<DecodeReason | 'ok', number>();
    let queriesRead = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const input = i % 5 < 2 ? randomDatagram(rand) : mutate(corpus[rand() % corpus.length]!, rand);
      const problem = check(input);
      if (problem) {
        throw new Error(`${seedText(SEED)} iteration ${i}: ${problem}; input ${Buffer.from(input).toString('hex')}`);
      }
      const r = decodeMessage(input);
      const key = r.ok ? 'ok' : r.error.reason;
      if (r.ok && !isRelay(r.message) && readQuery(r.message).ok) queriesRead++;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    if (process.env.FUZZ_VERBOSE) console.log(Object.fromEntries(outcomes));
    // Some inputs must be whole queries, or the Leasequery readers are tested on nothing.
    expect(queriesRead).toBeGreaterThan(ITERATIONS / 200);
    // The inputs must reach past the header checks, or the fuzzer tests little.
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(ITERATIONS / 10);
    for (const reason of ['truncated-header', 'option-overflow', 'bad-option', 'bad-duid'] as const) {
      expect(outcomes.get(reason) ?? 0, reason).toBeGreaterThan(0);
    }
  });
});

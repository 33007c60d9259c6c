// Property: nothing a decoded packet carries can reach an assertion of the
// store. Random client messages are built as octets (so they can say what our
// encoder refuses to: odd DUIDs, prefixes with host bits, lengths of 0 or 128,
// thousands of IAs, repeated IAIDs, relays with any addresses), decoded and
// unwrapped as the daemon does, run through the engine under a standalone and
// a restrictive policy, and every decision must encode (reply) and store
// (changes) without a throw. Seeded: T6_SEED=<n> PROP_ITERATIONS=<n> (test/seed.ts).

import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, unwrapRelay, wrapRelayReply } from '../../../src/wire/index.js';
import { encodeLease, leaseKey } from '../../../src/store/record.js';
import type { FailoverPolicy } from '../../../src/engine/index.js';
import { baseConfig, SERVER_DUID, World } from './harness.js';
import { concat, relayForward, tlv } from '../wire/helpers.js';
import { xorshift32 } from '../../../src/testing/lab/program.js';
import { seedText, testSeed } from '../../seed.js';

const SEED = testSeed(0x5eed16);
const ITERATIONS = Number(process.env['PROP_ITERATIONS'] ?? 3000);

const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

function generator(rand: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[rand() % xs.length]!;
  const bytes = (n: number): number[] => Array.from({ length: n }, () => rand() & 0xff);
  // Addresses near the configured pools, so that many hints land inside them.
  const bases = [
    [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0],
    [0x20, 0x01, 0x0d, 0xb8, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0x20, 0x01, 0x0d, 0xb8, 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
    [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
  ];
  const address = (): number[] => {
    const a = [...pick(bases)];
    const r = rand() % 4;
    if (r === 0) return bytes(16);
    if (r === 1) a[15] = rand() & 0xff;
    if (r === 2) for (let i = 4 + (rand() % 12); i < 16; i++) a[i] = rand() & 0xff;
    if (r === 3) a[5 + (rand() % 3)] = rand() & 0xff;
    return a;
  };
  const duid = (): number[] => {
    const r = rand() % 10;
    if (r === 0) return bytes(1 + (rand() % 140));
    return [0, 3, 0, 1, ...[2, 0, 0, 0, 0, rand() % 24]];
  };
  const iaAddr = () => tlv(5, address(), u32(rand()), u32(rand()));
  const iaPrefix = () => {
    const length = pick([0, 48, 56, 56, 56, 60, 60, 64, 128, rand() & 0xff]);
    return tlv(26, u32(rand()), u32(rand()), [length], address());
  };
  const ia = (code: 3 | 25) => {
    const inner: Uint8Array[] = [];
    const n = rand() % 4 === 0 ? rand() % 12 : rand() % 2;
    for (let i = 0; i < n; i++) inner.push(code === 3 ? iaAddr() : iaPrefix());
    return tlv(code, u32(rand() % 8), u32(rand() % 4000), u32(rand() % 8000), ...inner);
  };
  return function message(): Uint8Array {
    const type = pick([1, 1, 3, 3, 4, 5, 6, 8, 9, 11, 7, 2, 10, rand() & 0xff]);
    const options: Uint8Array[] = [];
    if (rand() % 20 !== 0) options.push(tlv(1, duid()));
    if (rand() % 3 === 0) options.push(tlv(2, rand() % 2 === 0 ? Array.from(SERVER_DUID) : duid()));
    const many = rand() % 30 === 0;
    const ias = many ? 200 + (rand() % 2000) : rand() % 4;
    // A datagram holds at most 65,527 octets; leave room for relays around it.
    let size = 0;
    for (let i = 0; i < ias && size < 60_000; i++) {
      const o = ia(rand() % 2 === 0 ? 3 : 25);
      size += o.length;
      options.push(o);
    }
    if (rand() % 4 === 0) options.push(tlv(14));
    if (rand() % 3 === 0) options.push(tlv(6, [0, 23, 0, 24]));
    if (rand() % 10 === 0) options.push(tlv(4, u32(rand()), tlv(5, address(), u32(1), u32(1)))); // IA_TA
    let m = concat([type, rand() & 0xff, rand() & 0xff, rand() & 0xff], ...options);
    const relays = rand() % 5 === 0 && size < 60_000 ? 1 + (rand() % 3) : 0;
    for (let r = 0; r < relays; r++) {
      const link = rand() % 2 === 0 ? [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] : address();
      const extra = rand() % 2 === 0 ? [tlv(18, bytes(rand() % 40))] : [];
      const relayed = relayForward(m, r, extra);
      relayed.set(link, 2);
      relayed.set(address(), 18);
      m = relayed;
    }
    return m;
  };
}

const restrictive: FailoverPolicy = {
  mayAnswer: () => true,
  mayAllocate: (resource) => resource.charCodeAt(resource.length - 1) % 2 === 0,
  capValidSec: (_r, _c, proposed) => Math.min(proposed, 3600),
};

describe('decoded messages through engine and store (property)', () => {
  it(`never throws from engine, reply encoding or lease encoding (${ITERATIONS} messages, ${seedText(SEED)})`, async () => {
    const rand = xorshift32(SEED);
    const next = generator(rand);
    const w = new World({ ...baseConfig, subnets: baseConfig.subnets.map((s) => ({ ...s, rapidCommit: true })) });
    await w.ready;
    let decoded = 0;
    let replies = 0;
    let committed = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const bytes = next();
      const d = decodeMessage(bytes);
      if (!d.ok) continue;
      const u = unwrapRelay(d.message);
      if (!u.ok) continue;
      decoded++;
      w.policy = i % 3 === 0 ? restrictive : w.policy;
      const where = `${seedText(SEED)} message ${i}: ${Buffer.from(bytes).toString('hex').slice(0, 400)}`;
      let decision;
      try {
        decision = w.engine.handle(
          { message: u.client, relays: u.relays, interface: 'lan0', unicast: rand() % 5 === 0, sourceAddress: 'fe80::1' },
          { nowSec: w.nowSec, view: w.store, policy: w.policy },
        );
        if (decision.kind !== 'reply') continue;
        replies++;
        encodeMessage(u.relays.length > 0 ? wrapRelayReply(decision.reply, u.relays) : decision.reply);
        for (const c of decision.changes) {
          if (c.op === 'put') encodeLease(c.lease, 1);
          else leaseKey(c.resource);
        }
      } catch (e) {
        expect.fail(`${where}\n${e instanceof Error ? e.stack : String(e)}`);
      }
      if (decision.changes.length > 0) {
        await w.store.apply(decision.changes);
        committed += decision.changes.length;
      }
      w.nowSec += rand() % 50;
    }
    // The generator must reach the engine and the store, or the property says nothing.
    // Floors with room for any seed: 3000 messages commit 100-142 changes on the seeds tried.
    expect(decoded).toBeGreaterThan(ITERATIONS / 3);
    expect(replies).toBeGreaterThan(ITERATIONS / 10);
    expect(committed).toBeGreaterThan(ITERATIONS / 60);
  }, 120_000);
});

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  argsHash,
  canonicalJson,
  commandKeyText,
  NonceMemory,
  parseCommandKey,
  signCommand,
  SignatureGate,
  type CommandClaims,
} from '../../../src/mgmt/signature.js';

const signer = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const NOW = 1_800_000_000;

function gate(opts: { now?: () => number; mono?: () => number; notBefore?: number; keys?: 'pinned' | 'none'; nonces?: NonceMemory } = {}) {
  const pinned = parseCommandKey(commandKeyText(signer.publicKey));
  if ('problem' in pinned) throw new Error(pinned.problem);
  const nonces = opts.nonces ?? new NonceMemory({ notBeforeSec: opts.notBefore ?? NOW - 3600, monoMs: opts.mono ?? (() => 0) });
  return new SignatureGate({ keys: opts.keys === 'none' ? [] : [pinned], deviceId: 'dev-a', nowSec: opts.now ?? (() => NOW), nonces });
}

const args = { reason: 'partner burnt', confirmToken: 'tok' };
const claims = (patch: Partial<CommandClaims> = {}): CommandClaims => ({
  sub: 'dev-a',
  cmd: 'failover.partner-down',
  argsHash: argsHash(args),
  iat: NOW - 5,
  exp: NOW + 55,
  nonce: `n-${Math.random()}`,
  actor: 'alice',
  ...patch,
});
const token = (patch: Partial<CommandClaims> = {}, key = signer.privateKey) => signCommand(key, claims(patch));

describe('canonical args hash', () => {
  it('does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    expect(argsHash({ a: 1, b: 2 })).toBe(argsHash({ b: 2, a: 1 }));
    expect(argsHash({ a: 1 })).not.toBe(argsHash({ a: 2 }));
  });
});

describe('pinned keys', () => {
  it('round-trips the config form of a key', () => {
    const text = commandKeyText(signer.privateKey);
    expect(text).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(parseCommandKey(text)).not.toHaveProperty('problem');
    expect(parseCommandKey('short')).toHaveProperty('problem');
  });
});

describe('signature gate', () => {
  it('accepts a fresh token signed by a pinned key and returns its claims', () => {
    const v = gate().check(token(), 'failover.partner-down', args);
    expect(v).toMatchObject({ ok: true, claims: { actor: 'alice', sub: 'dev-a' } });
  });

  it('refuses a missing token, and any token when no key is pinned', () => {
    expect(gate().check(undefined, 'failover.partner-down', args)).toMatchObject({
      ok: false,
      code: 'NOT_AUTHORIZED',
      reason: expect.stringMatching(/needs a signature/),
    });
    expect(gate({ keys: 'none' }).check(token(), 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/no command signing key is configured/),
    });
  });

  it('refuses a token signed by another key, tampered, malformed, or with another algorithm', () => {
    const g = gate();
    expect(g.check(token({}, stranger.privateKey), 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: 'signature does not verify against any pinned command key',
    });
    const [h, b, s] = token().split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims(), actor: 'mallory' })).toString('base64url');
    expect(g.check(`${h}.${forged}.${s}`, 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: 'signature does not verify against any pinned command key',
    });
    expect(g.check('not.a.jws!', 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: '"auth" is not a well-formed compact JWS',
    });
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${b}.${s}`;
    expect(g.check(none, 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: 'signature algorithm must be EdDSA, got "none"',
    });
  });

  it('binds the signature to the device, the command and the arguments', () => {
    const g = gate();
    expect(g.check(token({ sub: 'dev-b' }), 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: 'signed for device "dev-b", this is "dev-a"',
    });
    expect(g.check(token({ cmd: 'failover.maintenance' }), 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: 'signed for command "failover.maintenance", not "failover.partner-down"',
    });
    expect(g.check(token(), 'failover.partner-down', { ...args, reason: 'other' })).toMatchObject({
      ok: false,
      reason: "the signed arguments differ from the request's",
    });
  });

  it('refuses expired, future, too long-lived and pre-boot tokens', () => {
    const g = gate({ notBefore: NOW - 100 });
    expect(g.check(token({ iat: NOW - 120, exp: NOW - 60 }), 'failover.partner-down', args)).toMatchObject({
      ok: false,
      code: 'EXPIRED',
      reason: 'signature expired 60 s ago',
    });
    expect(g.check(token({ iat: NOW + 31, exp: NOW + 90 }), 'failover.partner-down', args)).toMatchObject({
      ok: false,
      code: 'NOT_AUTHORIZED',
      reason: expect.stringMatching(/in the future/),
    });
    expect(g.check(token({ iat: NOW, exp: NOW + 301 }), 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: 'signature validity must be 1 to 300 s, got 301 s',
    });
    // Signed before this device started: its nonce cannot be known to be unused.
    expect(g.check(token({ iat: NOW - 101, exp: NOW + 50 }), 'failover.partner-down', args)).toMatchObject({
      ok: false,
      code: 'EXPIRED',
      reason: expect.stringMatching(/before this device started/),
    });
    // Up to 30 s of signer clock lead is tolerated.
    expect(g.check(token({ iat: NOW + 20, exp: NOW + 80 }), 'failover.partner-down', args)).toMatchObject({ ok: true });
  });

  it('accepts a nonce once: a replay is refused until the token has expired anyway', () => {
    let now = NOW;
    const g = gate({ now: () => now });
    const once = token({ nonce: 'fixed' });
    expect(g.check(once, 'failover.partner-down', args).ok).toBe(true);
    expect(g.check(once, 'failover.partner-down', args)).toMatchObject({
      ok: false,
      code: 'NOT_AUTHORIZED',
      reason: 'nonce already used: this signed request was replayed',
    });
    now = NOW + 60;
    expect(g.check(once, 'failover.partner-down', args)).toMatchObject({ ok: false, code: 'EXPIRED' });
  });

  it('keeps a used nonce by the monotonic clock: a wall clock step forward and back does not reopen it', () => {
    let now = NOW;
    let mono = 0;
    const g = gate({ now: () => now, mono: () => mono });
    const once = token({ nonce: 'stepped', iat: NOW - 5, exp: NOW + 55 });
    expect(g.check(once, 'failover.partner-down', args).ok).toBe(true);
    // The wall clock jumps 2 minutes ahead; another command goes through meanwhile.
    now = NOW + 120;
    mono = 5_000;
    expect(g.check(token({ iat: NOW + 115, exp: NOW + 175 }), 'failover.partner-down', args).ok).toBe(true);
    // ...and is stepped back: the first token is within its validity again, its nonce still known.
    now = NOW + 10;
    mono = 10_000;
    expect(g.check(once, 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: 'nonce already used: this signed request was replayed',
    });
  });

  it('forgets a nonce after 330 monotonic seconds, and refuses its token if a backward wall step makes it current again', () => {
    let now = NOW;
    let mono = 0;
    const g = gate({ now: () => now, mono: () => mono });
    const once = token({ nonce: 'old', iat: NOW - 5, exp: NOW + 55 });
    expect(g.check(once, 'failover.partner-down', args).ok).toBe(true);
    now = NOW + 330;
    mono = 330_000;
    expect(g.check(token({ iat: NOW + 325, exp: NOW + 385 }), 'failover.partner-down', args).ok).toBe(true); // forgets "old"
    now = NOW + 10;
    expect(g.check(once, 'failover.partner-down', args)).toMatchObject({
      ok: false,
      code: 'EXPIRED',
      reason: expect.stringMatching(/already forgotten/),
    });
    // A token signed after the step, expiring later than anything forgotten, is still taken.
    expect(g.check(token({ iat: NOW + 5, exp: NOW + 65 }), 'failover.partner-down', args).ok).toBe(true);
  });

  it('shares one nonce memory between gates, as the uplinks before and after a reload do', () => {
    const nonces = new NonceMemory({ notBeforeSec: NOW - 3600, monoMs: () => 0 });
    const once = token({ nonce: 'reloaded' });
    expect(gate({ nonces }).check(once, 'failover.partner-down', args).ok).toBe(true);
    expect(gate({ nonces }).check(once, 'failover.partner-down', args)).toMatchObject({
      ok: false,
      reason: 'nonce already used: this signed request was replayed',
    });
  });

  it('keeps a bounded nonce memory and says BUSY rather than forgetting a live nonce', () => {
    const g = gate();
    for (let i = 0; i < 1024; i++) expect(g.check(token(), 'failover.partner-down', args).ok).toBe(true);
    expect(g.check(token(), 'failover.partner-down', args)).toMatchObject({ ok: false, code: 'BUSY' });
  });
});

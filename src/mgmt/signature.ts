// Signed commands (docs/fleet.md §1, §6). The broker ACL decides who may
// publish to cmd/#, but it cannot say "operator X may force partner-down on
// device Y"; dangerous commands therefore carry a compact JWS (EdDSA over
// Ed25519) from the fleet's command-signing key, pinned in the device config.
// The claims bind the signature to one device, one command, one argument set
// and a short time window; a nonce makes it single-use.

import { createHash, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

export interface CommandClaims {
  /** The device id the command is for: a signature for one device is worthless on another. */
  readonly sub: string;
  readonly cmd: string;
  /** argsHash() of the request's args. */
  readonly argsHash: string;
  /** Issued at / expires at, Unix seconds. */
  readonly iat: number;
  readonly exp: number;
  readonly nonce: string;
  /** Who signed, for the audit event. */
  readonly actor: string;
}

/** Longest validity a signature may claim; the nonce memory must outlive it. */
export const SIGNATURE_LIFETIME_MAX_SEC = 300;
/** How far the signer's clock may run ahead of the device's. */
export const CLOCK_SKEW_SEC = 30;
const NONCES_MAX = 1024;
const TOKEN_BYTES_MAX = 4096;
const HEADER = { alg: 'EdDSA', typ: 'twin6-cmd+jws' } as const;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON with object keys sorted at every level: the same args hash the same on both ends. */
export function canonicalJson(value: unknown): string {
  const norm = (v: unknown): Json => {
    if (Array.isArray(v)) return v.map(norm);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, Json> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = norm(x);
      }
      return out;
    }
    return v as Json;
  };
  return JSON.stringify(norm(value));
}

export function argsHash(args: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(args ?? {}))
    .digest('base64url');
}

/** A pinned key as the config holds it: base64 (or base64url) of the raw 32-byte Ed25519 public key. */
export function parseCommandKey(text: string): KeyObject | { problem: string } {
  const clean = text.trim();
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(clean)) {
    return {
      problem: `expected an Ed25519 public key as base64 of its 32 bytes (43-44 characters), got ${JSON.stringify(clean.length > 20 ? `${clean.slice(0, 17)}...` : clean)}`,
    };
  }
  const raw = Buffer.from(clean.replaceAll('+', '-').replaceAll('/', '_').replace(/=$/, ''), 'base64url');
  if (raw.length !== 32) return { problem: `an Ed25519 public key is 32 bytes, got ${raw.length}` };
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch (e) {
    return { problem: `not an Ed25519 public key: ${(e as Error).message}` };
  }
}

/** What to put in mqtt.commandKeys for this key (private or public). */
export function commandKeyText(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return Buffer.from(pub.export({ format: 'jwk' }).x ?? '', 'base64url').toString('base64');
}

export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** Operator side: a compact JWS over the claims. */
export function signCommand(privateKey: KeyObject, claims: CommandClaims): string {
  const head = Buffer.from(JSON.stringify(HEADER)).toString('base64url');
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const sig = sign(null, Buffer.from(`${head}.${body}`), privateKey).toString('base64url');
  return `${head}.${body}.${sig}`;
}

export type SignatureVerdict =
  | { readonly ok: true; readonly claims: CommandClaims }
  | { readonly ok: false; readonly code: 'NOT_AUTHORIZED' | 'EXPIRED' | 'BUSY'; readonly reason: string };

/**
 * The nonces of accepted tokens. One per daemon, owned by the management
 * layer, so an uplink rebuilt by a reload cannot forget them.
 * A nonce is kept for SIGNATURE_LIFETIME_MAX_SEC + CLOCK_SKEW_SEC on the
 * monotonic clock — the longest its token can stay acceptable after it was
 * used — so a wall-clock step cannot make it forgotten early.
 * A backward step longer than that could make a forgotten token current
 * again: the highest `exp` forgotten so far is kept, and a token expiring no
 * later is refused. Unless the wall clock stepped back, that refuses nothing
 * the expiry check would let through: a forgotten token's `exp` is at most
 * its use + 330 s, and the wall clock passed that before its nonce was dropped.
 */
export class NonceMemory {
  /** nonce → when to forget it (monoMs) and the token's exp. */
  private readonly seen = new Map<string, { readonly forgetAtMs: number; readonly exp: number }>();
  private forgottenExpMax = -Infinity;

  constructor(
    private readonly opts: {
      /**
       * Tokens issued before this (Unix seconds) are refused: the memory is in
       * RAM, so a token used before it was made might be replayed. The daemon
       * passes the moment it made the memory (empty then); nothing is persisted.
       */
      readonly notBeforeSec: number;
      /** A monotonic clock in ms (performance.now); the tests drive it. */
      readonly monoMs: () => number;
    },
  ) {}

  get notBeforeSec(): number {
    return this.opts.notBeforeSec;
  }

  /** Records the nonce unless it cannot be: already used, expiring before one already forgotten, or memory full. */
  use(nonce: string, exp: number): 'ok' | 'replayed' | 'forgotten' | 'full' {
    const now = this.opts.monoMs();
    for (const [n, e] of this.seen) {
      if (e.forgetAtMs > now) continue;
      this.seen.delete(n);
      this.forgottenExpMax = Math.max(this.forgottenExpMax, e.exp);
    }
    if (this.seen.has(nonce)) return 'replayed';
    if (exp <= this.forgottenExpMax) return 'forgotten';
    if (this.seen.size >= NONCES_MAX) return 'full';
    this.seen.set(nonce, { forgetAtMs: now + (SIGNATURE_LIFETIME_MAX_SEC + CLOCK_SKEW_SEC) * 1000, exp });
    return 'ok';
  }
}

export interface SignatureGateOptions {
  readonly keys: readonly KeyObject[];
  readonly deviceId: string;
  /** Wall clock, Unix seconds: iat and exp are the signer's wall-clock times. */
  readonly nowSec: () => number;
  readonly nonces: NonceMemory;
}

const refuse = (reason: string, code: 'NOT_AUTHORIZED' | 'EXPIRED' | 'BUSY' = 'NOT_AUTHORIZED'): SignatureVerdict => ({
  ok: false,
  code,
  reason,
});

function decodeClaims(token: string): { head: unknown; claims: unknown; signed: Buffer; sig: Buffer } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  const [h, b, s] = parts as [string, string, string];
  try {
    return {
      head: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
      claims: JSON.parse(Buffer.from(b, 'base64url').toString('utf8')),
      signed: Buffer.from(`${h}.${b}`),
      sig: Buffer.from(s, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

function isClaims(c: unknown): c is CommandClaims {
  if (typeof c !== 'object' || c === null) return false;
  const o = c as Record<string, unknown>;
  return (
    ['sub', 'cmd', 'argsHash', 'nonce', 'actor'].every(
      (k) => typeof o[k] === 'string' && (o[k] as string).length > 0 && (o[k] as string).length <= 256,
    ) &&
    Number.isInteger(o['iat']) &&
    Number.isInteger(o['exp'])
  );
}

/**
 * The checks every signed request shares (commands here, pushed configs in
 * config-push.ts): a well-formed JWS by a pinned key, with complete claims for
 * this device, this command and these args, inside its validity window.
 */
export function verifySigned(
  token: unknown,
  o: {
    readonly keys: readonly KeyObject[];
    readonly deviceId: string;
    readonly nowSec: () => number;
    readonly cmd: string;
    readonly args: unknown;
    readonly lifetimeMaxSec: number;
  },
): SignatureVerdict {
  if (typeof token !== 'string' || token.length > TOKEN_BYTES_MAX) return refuse('"auth" must be a compact JWS string');
  const parsed = decodeClaims(token);
  if (!parsed) return refuse('"auth" is not a well-formed compact JWS');
  const head = parsed.head as { alg?: unknown };
  if (head?.alg !== HEADER.alg) return refuse(`signature algorithm must be ${HEADER.alg}, got ${JSON.stringify(head?.alg ?? null)}`);
  if (!o.keys.some((k) => verify(null, parsed.signed, k, parsed.sig)))
    return refuse('signature does not verify against any pinned command key');
  const c = parsed.claims;
  if (!isClaims(c)) return refuse('signed claims are incomplete: sub, cmd, argsHash, iat, exp, nonce and actor are required');
  if (c.sub !== o.deviceId) return refuse(`signed for device "${c.sub}", this is "${o.deviceId}"`);
  if (c.cmd !== o.cmd) return refuse(`signed for command "${c.cmd}", not "${o.cmd}"`);
  if (c.argsHash !== argsHash(o.args)) return refuse("the signed arguments differ from the request's");
  const now = o.nowSec();
  if (c.exp <= c.iat || c.exp - c.iat > o.lifetimeMaxSec)
    return refuse(`signature validity must be 1 to ${o.lifetimeMaxSec} s, got ${c.exp - c.iat} s`);
  if (c.iat > now + CLOCK_SKEW_SEC) return refuse(`signature issued ${c.iat - now} s in the future (check the signer's clock)`);
  if (now >= c.exp) return refuse(`signature expired ${now - c.exp} s ago`, 'EXPIRED');
  return { ok: true, claims: c };
}

/** Device side: checks a token against the pinned keys and remembers its nonce. */
export class SignatureGate {
  constructor(private readonly opts: SignatureGateOptions) {}

  get configured(): boolean {
    return this.opts.keys.length > 0;
  }

  check(token: unknown, cmd: string, args: unknown): SignatureVerdict {
    if (!this.configured)
      return refuse(`"${cmd}" needs a signed request, and no command signing key is configured on this device (mqtt.commandKeys)`);
    if (token === undefined)
      return refuse(`"${cmd}" is a dangerous command and needs a signature ("auth": a JWS from the fleet's command-signing key)`);
    const v = verifySigned(token, { ...this.opts, cmd, args, lifetimeMaxSec: SIGNATURE_LIFETIME_MAX_SEC });
    if (!v.ok) return v;
    const c = v.claims;
    if (c.iat < this.opts.nonces.notBeforeSec)
      return refuse('signature was issued before this device started; sign the command again', 'EXPIRED');
    switch (this.opts.nonces.use(c.nonce, c.exp)) {
      case 'replayed':
        return refuse('nonce already used: this signed request was replayed');
      case 'forgotten':
        return refuse(
          'signature is no newer than ones whose nonces this device has already forgotten (did its clock step back?); sign the command again',
          'EXPIRED',
        );
      case 'full':
        return refuse(`more than ${NONCES_MAX} signed requests are still within their validity; try again shortly`, 'BUSY');
      case 'ok':
        return { ok: true, claims: c };
    }
  }
}

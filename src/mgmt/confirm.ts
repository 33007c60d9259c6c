// Two-step confirmation for commands that cannot be taken back (force
// partner-down, maintenance): the first request returns a preview and a token;
// only a second request carrying that token, for the same command with the
// same other arguments and from the same actor, acts. Tokens are single-use,
// short-lived and few: this is a human looking at a preview, not a queue.

import { randomBytes } from 'node:crypto';
import { argsHash } from './signature.js';

export const CONFIRM_TTL_SEC = 30;
const TOKENS_MAX = 64;

interface Pending {
  readonly cmd: string;
  readonly argsHash: string;
  readonly actor: string;
  readonly expiresAtSec: number;
}

export type Redeemed =
  { readonly ok: true } | { readonly ok: false; readonly code: 'EXPIRED' | 'NOT_AUTHORIZED' | 'BAD_ARGS'; readonly reason: string };

export class ConfirmTokens {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly nowSec: () => number) {}

  /** `args` without the token itself. */
  issue(cmd: string, args: Record<string, unknown>, actor: string): { confirmToken: string; expiresInSec: number } {
    this.forgetExpired();
    while (this.pending.size >= TOKENS_MAX) this.pending.delete(this.pending.keys().next().value!);
    const token = randomBytes(12).toString('base64url');
    this.pending.set(token, { cmd, argsHash: argsHash(args), actor, expiresAtSec: this.nowSec() + CONFIRM_TTL_SEC });
    return { confirmToken: token, expiresInSec: CONFIRM_TTL_SEC };
  }

  redeem(token: string, cmd: string, args: Record<string, unknown>, actor: string): Redeemed {
    this.forgetExpired();
    const p = this.pending.get(token);
    if (!p)
      return {
        ok: false,
        code: 'EXPIRED',
        reason: `confirm token unknown or expired (tokens last ${CONFIRM_TTL_SEC} s and work once); start again without it`,
      };
    if (p.cmd !== cmd) return { ok: false, code: 'BAD_ARGS', reason: `confirm token was issued for "${p.cmd}", not "${cmd}"` };
    if (p.actor !== actor) return { ok: false, code: 'NOT_AUTHORIZED', reason: `confirm token was issued to "${p.actor}", not "${actor}"` };
    if (p.argsHash !== argsHash(args))
      return { ok: false, code: 'BAD_ARGS', reason: 'arguments differ from those the confirm token was issued for' };
    this.pending.delete(token);
    return { ok: true };
  }

  private forgetExpired(): void {
    const now = this.nowSec();
    for (const [t, p] of this.pending) if (p.expiresAtSec <= now) this.pending.delete(t);
  }
}

// Invariant 4: while one partner is in maintenance the other serves every
// client (docs/protocol.md §1.17). The partner in maintenance answering
// nobody is checked on every datagram (server.ts, maintenance-silent); this
// is the other half, maintenance-served, sampled as the run goes:
//   - once one side has handed over, the other, while it runs, must within
//     its grace be in a state that answers everyone (RFC 8156 §8.9.1:
//     COMMUNICATIONS-INTERRUPTED, or PARTNER-DOWN…) and not in maintenance
//     itself — else nobody serves;
//   - and it does answer: over a stretch of that, Solicits reach it and it
//     sends Advertises or Replies, through the real packet path.
// A partner that is down is a crash, not maintenance's doing: not counted.

import { responsiveness } from '../../failover/responsiveness.js';
import { DIAL_GAP_SEC_MAX } from '../../failover/link.js';
import type { SimHost } from './host.js';
import type { Violation } from './ledger.js';
import type { Side } from './partner-net.js';
import type { SimServer } from './server.js';
import type { SwarmOptions } from './faults.js';

const SIDES: readonly Side[] = ['P', 'S'];
/** A secondary's STARTUP after a restart (endpoint.ts: the primary's longest gap between dials and a margin), with room. */
const STARTUP_SEC_MAX = DIAL_GAP_SEC_MAX + 5;
/** Beyond noticing and starting up: a persist behind a slow disk, a STATE on a slow link. */
const GRACE_SLACK_SEC = 5;
/** A stretch of serving this long, with this many Solicits received, must have answers in it. */
const SERVED_STRETCH_MS_MIN = 30_000;
const SOLICITS_MIN = 2;

/** What the watch reads of the world (world.ts owns the watch, so it names only these). */
export interface WatchedWorld {
  readonly opts: Pick<SwarmOptions, 'keepaliveSec' | 'startupSec'>;
  readonly servers: Readonly<Record<Side, SimServer>>;
  readonly time: { readonly nowMs: number };
}

interface Stretch {
  readonly fromMs: number;
  readonly host: SimHost;
  readonly solicits: number;
  readonly answers: number;
}

/** One side's time in maintenance, as seen from the other. */
interface Spell {
  readonly sinceMs: number;
  /** Since when the partner, up, has answered nobody. */
  notServingSinceMs: number | undefined;
  /** The partner serving, without a break, since then. */
  stretch: Stretch | undefined;
}

const solicitsOf = (h: SimHost): number => h.counters.get('rx.SOLICIT');
const answersOf = (h: SimHost): number => h.counters.get('tx.ADVERTISE') + h.counters.get('tx.REPLY');

/** Whether the server, running, answers every client now. */
function answersEveryone(s: SimServer): boolean {
  const e = s.endpoint;
  return e !== undefined && e.maintenanceMode === 'off' && responsiveness(e.status().state, s.role).answers === 'responsive';
}

export class MaintenanceWatch {
  private readonly spells: Partial<Record<Side, Spell>> = {};
  /** How long the partner may take to notice the handover (its keepalive) or to come up (STARTUP). */
  private readonly graceMs: number;

  constructor(private readonly w: WatchedWorld) {
    const o = w.opts;
    this.graceMs = (Math.max(o.keepaliveSec, o.startupSec, STARTUP_SEC_MAX) + GRACE_SLACK_SEC) * 1000;
  }

  /** Runs every check interval of the runner; the first violation found, if any. */
  check(): Violation | undefined {
    for (const side of SIDES) {
      const v = this.checkSide(side);
      if (v) return v;
    }
    return undefined;
  }

  private checkSide(side: Side): Violation | undefined {
    const x = this.w.servers[side];
    const y = this.w.servers[side === 'P' ? 'S' : 'P'];
    const nowMs = this.w.time.nowMs;
    if (x.endpoint?.maintenanceMode !== 'on') {
      const ended = this.spells[side];
      this.spells[side] = undefined;
      return ended ? this.stretchEnded(y, ended, nowMs) : undefined;
    }
    const spell = (this.spells[side] ??= { sinceMs: nowMs, notServingSinceMs: undefined, stretch: undefined });
    if (!y.endpoint || !y.host) {
      spell.notServingSinceMs = undefined;
      spell.stretch = undefined;
      return undefined;
    }
    if (!answersEveryone(y)) {
      const v = this.stretchEnded(y, spell, nowMs);
      spell.stretch = undefined;
      spell.notServingSinceMs ??= nowMs;
      if (v || nowMs - spell.notServingSinceMs <= this.graceMs) return v;
      const e = y.endpoint;
      return {
        invariant: 'maintenance-served',
        text: `${side} in maintenance for ${((nowMs - spell.sinceMs) / 1000).toFixed(1)} s; ${y.side} has answered nobody for ${((nowMs - spell.notServingSinceMs) / 1000).toFixed(1)} s (${e.status().state}, maintenance ${e.maintenanceMode})`,
      };
    }
    spell.notServingSinceMs = undefined;
    if (spell.stretch?.host !== y.host)
      spell.stretch = { fromMs: nowMs, host: y.host, solicits: solicitsOf(y.host), answers: answersOf(y.host) };
    return undefined;
  }

  /** The partner stopped serving, or the spell is over: did it answer anyone while it served? */
  private stretchEnded(y: SimServer, spell: Spell, nowMs: number): Violation | undefined {
    const s = spell.stretch;
    if (!s || s.host !== y.host || nowMs - s.fromMs < SERVED_STRETCH_MS_MIN) return undefined;
    const solicits = solicitsOf(s.host) - s.solicits;
    if (solicits < SOLICITS_MIN || answersOf(s.host) > s.answers) return undefined;
    return {
      invariant: 'maintenance-served',
      text: `${y.side} answers everyone, yet in ${((nowMs - s.fromMs) / 1000).toFixed(0)} s got ${solicits} Solicits and answered none`,
    };
  }
}

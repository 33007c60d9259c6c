// A simulated DHCPv6 client (RFC 8415 §18.2), simplified to what failover
// cares about: Solicit (collect Advertises for the first retransmission time,
// or Rapid Commit), Request, Renew at T1 to the server that gave the lease,
// Rebind at T2 to any, the lease dropped when its valid lifetime ends,
// Release sometimes, and a reboot that forgets everything. It checks
// invariant 3 on every Reply to a Renew or Rebind: a client in contact is
// never told to stop using a lease it still holds (a zero lifetime, or
// NoBinding from the server that gave it).

import { MsgType, StatusCode } from '../../wire/constants.js';
import type { Prng } from './prng.js';
import type { VirtualTime } from './time.js';
import type { Trace } from './trace.js';
import type { Ledger, Violation } from './ledger.js';
import { clientMessage, readAnswer, type Answer, type Hints, type LeaseType, type Wants } from './client-messages.js';
import { dhcpText } from './describe.js';

/** RFC 8415 §7.6 timing, in ms; SOL_MAX_RT shortened from 3600 s so a starved client keeps trying within a run. */
const T = {
  SOL: { irt: 1000, mrt: 30_000, mrc: 0 },
  REQ: { irt: 1000, mrt: 30_000, mrc: 10 },
  REN: { irt: 10_000, mrt: 600_000, mrc: 0 },
  REB: { irt: 10_000, mrt: 600_000, mrc: 0 },
  REL: { irt: 1000, mrt: 0, mrc: 4 },
} as const;
type Timing = (typeof T)[keyof typeof T];

interface Held {
  readonly type: LeaseType;
  untilMs: number;
  /** The server whose Reply last gave or extended it. */
  from: string;
}

interface Exchange {
  readonly type: number;
  readonly xid: number;
  readonly startedMs: number;
  readonly timing: Timing;
  readonly serverDuid: Uint8Array | undefined;
  readonly hints: Hints;
  /** Give up (or move on) at this time; Infinity: never. */
  readonly deadlineMs: number;
  rtMs: number;
  sent: number;
  advertises: Answer[];
}

export interface ClientWorld {
  readonly time: VirtualTime;
  readonly rng: Prng;
  readonly trace: Trace;
  readonly ledger: Ledger;
  send(client: SimClient, bytes: Buffer): void;
  /** P or S for a server DUID, for trace lines. */
  serverName(duid: Uint8Array): string;
  violated(v: Violation): void;
  readonly releasePerLease: number;
  readonly rapidCommit: boolean;
}

type Timer = { cancelled: boolean };

export class SimClient {
  readonly name: string;
  readonly duidHex: string;
  /** What the client holds, by resource: RFC 8415 lets an IA hold several leases (from several servers). */
  readonly held = new Map<string, Held>();
  private serverDuid: Uint8Array | undefined;
  private x: Exchange | undefined;
  private xTimer: Timer | undefined;
  private lifeTimer: Timer | undefined;
  private readonly expiryTimers = new Map<string, Timer>();
  private xidNext: number;
  /** Bumped by reboot() and freeze(): answers and timers of the earlier life are ignored. */
  private life = 0;

  constructor(
    readonly index: number,
    readonly duid: Uint8Array,
    readonly wants: Wants,
    private readonly world: ClientWorld,
  ) {
    this.name = `c${index}`;
    this.duidHex = Buffer.from(duid).toString('hex');
    this.xidNext = (index * 0x10000 + 1) & 0xffffff;
  }

  start(): void {
    this.solicit();
  }

  /** The client loses its state (power cut): it stops using its leases and starts over later. */
  reboot(): void {
    this.life++;
    this.trace('reboot: forgets its leases');
    for (const r of [...this.held.keys()]) this.drop(r);
    this.cancel(this.xTimer);
    this.cancel(this.lifeTimer);
    this.x = undefined;
    this.serverDuid = undefined;
    this.later(this.world.rng.between(1000, 10_000), () => this.solicit());
  }

  /**
   * Liveness phase: the client stops talking but keeps what it holds (so
   * invariant 2 can be checked against it): convergence is judged on a pair
   * that is not also racing new client traffic over a link it may not keep up with.
   */
  freeze(): void {
    this.life++;
    this.cancel(this.xTimer);
    this.cancel(this.lifeTimer);
    this.x = undefined;
  }

  receive(bytes: Uint8Array): void {
    const x = this.x;
    if (!x) return;
    const a = readAnswer(bytes, this.duid);
    if (!a || a.xid !== x.xid) return;
    this.trace(`← ${this.world.serverName(a.serverDuid)} ${dhcpText(a.message)}`);
    if (x.type === MsgType.SOLICIT) return this.onAdvertiseOrReply(x, a);
    if (a.type !== MsgType.REPLY) return;
    if (x.type === MsgType.RELEASE) return this.done(() => void this.later(this.world.rng.between(5000, 60_000), () => this.solicit()));
    if (x.type === MsgType.REQUEST) return this.bind(x, a);
    this.extend(x, a);
  }

  // ---- exchanges ----------------------------------------------------------

  private solicit(): void {
    this.begin(MsgType.SOLICIT, T.SOL, undefined, this.hints(), Infinity);
  }

  private request(serverDuid: Uint8Array, hints: Hints): void {
    this.begin(MsgType.REQUEST, T.REQ, serverDuid, hints, Infinity);
  }

  private begin(type: number, timing: Timing, serverDuid: Uint8Array | undefined, hints: Hints, deadlineMs: number): void {
    this.cancel(this.xTimer);
    const xid = this.xidNext;
    this.xidNext = (this.xidNext % 0xffffff) + 1;
    // RFC 8415 §15: the first Solicit waits IRT plus a positive random part; the others ±10 %.
    const rand = type === MsgType.SOLICIT ? this.world.rng.float() * 0.1 : (this.world.rng.float() - 0.5) * 0.2;
    this.x = {
      type,
      xid,
      startedMs: this.world.time.nowMs,
      timing,
      serverDuid,
      hints,
      deadlineMs,
      rtMs: timing.irt * (1 + rand),
      sent: 0,
      advertises: [],
    };
    this.transmit();
  }

  private transmit(): void {
    const x = this.x!;
    const elapsedMs = this.world.time.nowMs - x.startedMs;
    const bytes = clientMessage({
      type: x.type,
      xid: x.xid,
      duid: this.duid,
      elapsedMs,
      wants: this.wants,
      hints: x.hints,
      ...(x.serverDuid ? { serverDuid: x.serverDuid } : {}),
      rapidCommit: x.type === MsgType.SOLICIT && this.world.rapidCommit,
    });
    x.sent++;
    this.trace(
      `→ ${x.serverDuid ? this.world.serverName(x.serverDuid) : '*'} ${msgName(x.type)} x${x.xid}${x.sent > 1 ? ` (#${x.sent})` : ''} ${Object.values(x.hints).flat().join(' ')}`,
    );
    this.world.send(this, bytes);
    const wait = Math.min(x.rtMs, x.deadlineMs - this.world.time.nowMs);
    this.xTimer = this.later(Math.max(1, wait), () => this.retransmit(x));
  }

  private retransmit(x: Exchange): void {
    if (this.x !== x) return;
    // §18.2.1: Advertises collected during the first RT are weighed together once it ends.
    if (x.type === MsgType.SOLICIT && x.advertises.length > 0) return this.chooseAdvertise(x);
    if (this.world.time.nowMs >= x.deadlineMs) return this.timedOut(x);
    if (x.timing.mrc > 0 && x.sent > x.timing.mrc) return this.timedOut(x);
    const next = 2 * x.rtMs * (1 + (this.world.rng.float() - 0.5) * 0.2);
    x.rtMs = x.timing.mrt > 0 ? Math.min(next, x.timing.mrt) : next;
    this.transmit();
  }

  private timedOut(x: Exchange): void {
    this.x = undefined;
    switch (x.type) {
      case MsgType.REQUEST:
        return this.solicit();
      case MsgType.RENEW:
        return this.rebind();
      case MsgType.REBIND:
        return; // the leases' own expiry timers end them
      case MsgType.RELEASE:
        this.later(this.world.rng.between(5000, 60_000), () => this.solicit());
    }
  }

  private done(next: () => void): void {
    this.cancel(this.xTimer);
    this.x = undefined;
    next();
  }

  // ---- answers ------------------------------------------------------------

  private onAdvertiseOrReply(x: Exchange, a: Answer): void {
    if (a.type === MsgType.REPLY && a.rapidCommit) return this.bind(x, a);
    if (a.type !== MsgType.ADVERTISE || !grantsAnything(a)) return;
    x.advertises.push(a);
    // After the first RT any usable Advertise is taken at once.
    if (x.sent > 1) this.chooseAdvertise(x);
  }

  private chooseAdvertise(x: Exchange): void {
    let best = x.advertises[0]!;
    for (const a of x.advertises)
      if (a.preference > best.preference || (a.preference === best.preference && count(a) > count(best))) best = a;
    const hints: Hints = {};
    for (const t of ['na', 'pd'] as const) hints[t] = (best.ias[t]?.leases ?? []).filter((l) => l.validSec > 0).map((l) => l.resource);
    this.done(() => this.request(best.serverDuid, hints));
  }

  /** Reply to Request (or Solicit with Rapid Commit): the leases begin. */
  private bind(x: Exchange, a: Answer): void {
    this.serverDuid = a.serverDuid;
    this.done(() => undefined);
    for (const t of ['na', 'pd'] as const) this.take(t, x, a);
    if (this.held.size === 0) {
      this.later(this.world.rng.between(5000, 30_000), () => this.solicit());
      return;
    }
    this.schedule(x, a);
  }

  /**
   * Reply to Renew or Rebind. Invariant 3: a lease the client holds may be
   * left out by a server that does not know it (the client keeps it,
   * §18.2.10.1), but never taken away while it is valid — no zero lifetime,
   * and no NoBinding from the server that gave it (that one lost it).
   */
  private extend(x: Exchange, a: Answer): void {
    const now = this.world.time.nowMs;
    const server = this.world.serverName(a.serverDuid);
    for (const [r, h] of this.held) {
      const ia = a.ias[h.type];
      // Within the clock tolerance of its end the server may rightly count it over already.
      if (!ia || h.untilMs <= now + this.world.ledger.toleranceMs) continue;
      const zeroed = ia.leases.some((l) => l.resource === r && l.validSec === 0);
      const lost = ia.status === StatusCode.NoBinding && h.from === server;
      if (zeroed || lost) {
        this.world.violated({
          invariant: 'in-contact',
          text: `${this.name} holds ${r} (from ${h.from}) for ${((h.untilMs - now) / 1000).toFixed(1)} s more, but the ${msgName(x.type)} Reply from ${server} says ${zeroed ? 'lifetime 0' : 'NoBinding'}`,
        });
      }
    }
    this.serverDuid = a.serverDuid;
    this.done(() => undefined);
    // §18.2.10.1: NoBinding for an IA the client holds something in: ask for it again with a Request.
    const noBinding = (['na', 'pd'] as const).some((t) => a.ias[t]?.status === StatusCode.NoBinding && this.holds(t));
    for (const t of ['na', 'pd'] as const) this.take(t, x, a);
    if (noBinding) return this.request(a.serverDuid, this.hints()); // §18.2.10.1
    if (this.held.size === 0) return this.solicit();
    this.schedule(x, a);
  }

  /**
   * Takes what one IA of the answer says (§18.2.10.1): new leases added,
   * lifetimes updated, zero lifetimes dropped, the rest left as they are.
   * Lifetimes count from the first transmission: a slow answer never makes a
   * lease outlive the server's record of it.
   */
  private take(t: LeaseType, x: Exchange, a: Answer): void {
    for (const l of a.ias[t]?.leases ?? []) {
      if (l.validSec === 0) {
        this.drop(l.resource);
        continue;
      }
      const untilMs = x.startedMs + l.validSec * 1000;
      this.held.set(l.resource, { type: t, untilMs, from: this.world.serverName(a.serverDuid) });
      this.world.ledger.hold(this.name, l.resource, untilMs);
      this.cancel(this.expiryTimers.get(l.resource));
      this.expiryTimers.set(
        l.resource,
        this.later(untilMs - this.world.time.nowMs, () => this.expired(l.resource)),
      );
    }
  }

  /** T1 and T2 count from the answer, as a client's timers do. */
  private schedule(_x: Exchange, a: Answer): void {
    const ias = Object.values(a.ias).filter((ia) => ia.leases.some((l) => l.validSec > 0));
    if (ias.length === 0) {
      // Nothing extended (only lifetimes of 0, or a server silent about the partner's leases):
      // keep what is held (RFC 8415 §18.2.10.1) and look for a server that will extend it.
      this.cancel(this.lifeTimer);
      this.lifeTimer = this.later(T.REN.irt, () => this.rebind());
      return;
    }
    const preferredSec = Math.min(...ias.flatMap((ia) => ia.leases.filter((l) => l.validSec > 0).map((l) => l.preferredSec)));
    const t1Sec = Math.min(...ias.map((ia) => ia.t1Sec || Math.floor(preferredSec * 0.5)));
    const t2Sec = Math.min(...ias.map((ia) => ia.t2Sec || Math.floor(preferredSec * 0.8)));
    const now = this.world.time.nowMs;
    this.cancel(this.lifeTimer);
    this.lifeTimer = this.later(t1Sec * 1000, () => this.atT1(now + t2Sec * 1000));
  }

  private atT1(t2At: number): void {
    if (this.world.rng.chance(this.world.releasePerLease)) return this.release();
    this.begin(MsgType.RENEW, T.REN, this.serverDuid, this.hints(), Math.max(t2At, this.world.time.nowMs + 1));
  }

  private rebind(): void {
    const lastMs = Math.max(...[...this.held.values()].map((h) => h.untilMs));
    if (!(lastMs > this.world.time.nowMs)) return this.solicit();
    this.begin(MsgType.REBIND, T.REB, undefined, this.hints(), lastMs);
  }

  private release(): void {
    const hints = this.hints();
    this.trace('releases its leases');
    for (const r of [...this.held.keys()]) this.drop(r);
    this.cancel(this.lifeTimer);
    this.begin(MsgType.RELEASE, T.REL, this.serverDuid, hints, Infinity);
  }

  private expired(resource: string): void {
    if (!this.held.has(resource)) return;
    this.trace(`lease ${resource} ran out`);
    this.drop(resource);
    if (this.held.size === 0 && (this.x === undefined || this.x.type === MsgType.RENEW || this.x.type === MsgType.REBIND)) {
      this.cancel(this.lifeTimer);
      this.done(() => this.solicit());
    }
  }

  private drop(resource: string): void {
    if (!this.held.delete(resource)) return;
    this.world.ledger.end(this.name, resource);
    this.cancel(this.expiryTimers.get(resource));
    this.expiryTimers.delete(resource);
  }

  private holds(t: LeaseType): boolean {
    return [...this.held.values()].some((h) => h.type === t);
  }

  private hints(): Hints {
    const out: { na: string[]; pd: string[] } = { na: [], pd: [] };
    for (const [r, h] of this.held) out[h.type].push(r);
    return out;
  }

  private later(ms: number, fn: () => void): Timer {
    const life = this.life;
    return this.world.time.after(ms, () => {
      if (this.life === life) fn();
    });
  }

  private cancel(t: Timer | undefined): void {
    if (t) t.cancelled = true;
  }

  private trace(text: string): void {
    this.world.trace.add(this.name, text);
  }
}

const grantsAnything = (a: Answer): boolean => Object.values(a.ias).some((ia) => ia.leases.some((l) => l.validSec > 0));
const count = (a: Answer): number => Object.values(a.ias).filter((ia) => ia.leases.some((l) => l.validSec > 0)).length;

function msgName(type: number): string {
  return type === MsgType.SOLICIT
    ? 'Solicit'
    : type === MsgType.REQUEST
      ? 'Request'
      : type === MsgType.RENEW
        ? 'Renew'
        : type === MsgType.REBIND
          ? 'Rebind'
          : type === MsgType.RELEASE
            ? 'Release'
            : `type${type}`;
}

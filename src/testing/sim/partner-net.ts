// The simulated partner connection: what link.ts does over TCP, in virtual
// time. One connection at a time between P and S; each direction is an
// in-order stream (TCP) with its own delay, and a cut direction holds its data
// until the cut heals (retransmission) — or until the connection is gone. The
// primary dials with link.ts's back-off, the secondary accepts and replaces an
// older connection. A crashed side sends nothing (no FIN); a side that
// restarted answers the old connection's data with a reset. With `codec`,
// every message crosses as bytes: encodePartnerFrame → FrameParser (split at
// random points) → decodePartnerFrame on the receiver's clock.

import { EventEmitter } from 'node:events';
import { FrameParser, encodePartnerFrame } from '../../wire/failover/index.js';
import { CONNECT_MS_MAX, RedialBackoff, readFrame, type Channel, type FailoverPdu, type LinkEvents } from '../../failover/link.js';
import type { PartnerConnector, TimerHandle } from '../../failover/host.js';
import type { Prng } from './prng.js';
import type { NodeTimers, VirtualTime } from './time.js';
import type { Trace } from './trace.js';
import { pduText } from './describe.js';

export type Side = 'P' | 'S';
export const otherSide = (s: Side): Side => (s === 'P' ? 'S' : 'P');

export interface PartnerNetOptions {
  readonly delayMinMs: number;
  readonly delayMeanMs: number;
  readonly codec: boolean;
}

type Item =
  | { readonly kind: 'frame'; readonly pdu: FailoverPdu; readonly bytes: Uint8Array | undefined; atMs: number }
  | { readonly kind: 'fin' | 'rst'; atMs: number };

interface Direction {
  readonly queue: Item[];
  lastAtMs: number;
  scheduled: boolean;
}

class Connection {
  readonly closed: Record<Side, boolean> = { P: false, S: false };
  /** The side crashed: it neither sends nor answers any more. */
  readonly dead: Record<Side, boolean> = { P: false, S: false };
  readonly dir: Record<Side, Direction> = {
    P: { queue: [], lastAtMs: 0, scheduled: false },
    S: { queue: [], lastAtMs: 0, scheduled: false },
  };
  readonly parser: Record<Side, FrameParser> = { P: new FrameParser(), S: new FrameParser() };
  readonly channel: Record<Side, SimChannel>;

  constructor(
    readonly id: number,
    readonly links: Record<Side, SimLink>,
  ) {
    this.channel = { P: new SimChannel(this, 'P'), S: new SimChannel(this, 'S') };
  }
}

class SimChannel implements Channel {
  readonly secure = false;
  readonly remote: string;

  constructor(
    readonly conn: Connection,
    readonly side: Side,
  ) {
    this.remote = otherSide(side);
  }

  send(pdu: FailoverPdu): void {
    this.conn.links[this.side].net.send(this.conn, this.side, pdu);
  }

  close(reason: string): void {
    this.conn.links[this.side].net.close(this.conn, this.side, reason);
  }
}

/** One incarnation's end of the partner link (PartnerLink's role). */
export class SimLink extends EventEmitter<LinkEvents> implements PartnerConnector {
  private xid = 1;
  private heldReason: string | undefined;
  private stopped = false;
  private readonly backoff = new RedialBackoff();
  private redialTimer: TimerHandle | undefined;
  current: SimChannel | undefined;

  constructor(
    readonly side: Side,
    readonly role: 'primary' | 'secondary',
    readonly net: PartnerNet,
    readonly timers: NodeTimers,
    private readonly rng: Prng,
  ) {
    super();
  }

  async start(): Promise<void> {
    this.net.register(this);
    if (this.role === 'primary') this.dial();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clear(this.redialTimer);
    this.current?.close('shutting down');
    this.net.unregister(this.side, false);
  }

  hold(reason: string | undefined): void {
    const was = this.heldReason;
    this.heldReason = reason;
    if (reason !== undefined) {
      this.timers.clear(this.redialTimer);
      this.current?.close(`link held: ${reason}`);
    } else if (was !== undefined && this.role === 'primary' && !this.current && !this.stopped) {
      this.backoff.reset();
      this.dial();
    }
  }

  established(): void {
    this.backoff.reset();
  }

  nextXid(): number {
    this.xid = (this.xid % 0xff_ffff) + 1;
    return this.xid;
  }

  get accepting(): boolean {
    return !this.stopped && this.heldReason === undefined && !this.timers.dead;
  }

  dial(): void {
    if (!this.accepting) return;
    this.net.dial(this);
  }

  scheduleRedial(): void {
    if (!this.accepting || this.role !== 'primary') return;
    this.timers.clear(this.redialTimer);
    this.redialTimer = this.timers.set(() => this.dial(), this.backoff.next(this.rng.float()));
  }

  opened(channel: SimChannel): void {
    this.current?.close('replaced by a new connection from the partner');
    this.current = channel;
    this.emit('up', channel);
  }

  closedHere(channel: SimChannel, reason: string): void {
    if (this.current === channel) this.current = undefined;
    this.emit('down', reason);
    this.scheduleRedial();
  }
}

export class PartnerNet {
  /** blocked[X]: the direction from X to its partner is cut. */
  readonly blocked: Record<Side, boolean> = { P: false, S: false };
  private readonly links: Partial<Record<Side, SimLink>> = {};
  private conn: Connection | undefined;
  private connections = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly rng: Prng,
    private readonly opts: PartnerNetOptions,
    private readonly trace: Trace,
    private readonly nowSecOf: (side: Side) => number,
  ) {}

  register(link: SimLink): void {
    this.links[link.side] = link;
  }

  /** crashed: power lost — no FIN, and what it had not sent yet is gone. */
  unregister(side: Side, crashed: boolean): void {
    this.links[side] = undefined;
    const c = this.conn;
    if (!crashed || !c || c.links[side].side !== side || c.dead[side]) return;
    c.dead[side] = true;
    c.closed[side] = true;
    c.dir[side].queue.length = 0;
  }

  setBlocked(side: Side, blocked: boolean): void {
    this.blocked[side] = blocked;
    const c = this.conn;
    if (blocked || !c) return;
    // Retransmission after the cut: what waited goes out now, in order.
    const d = c.dir[side];
    let at = this.time.nowMs;
    for (const item of d.queue) {
      at = Math.max(at, item.atMs, this.time.nowMs + this.delayMs());
      item.atMs = at;
    }
    d.lastAtMs = Math.max(d.lastAtMs, at);
    this.pump(c, side);
  }

  get connected(): boolean {
    const c = this.conn;
    return c !== undefined && !c.closed.P && !c.closed.S;
  }

  private delayMs(): number {
    return this.opts.delayMinMs + this.rng.exponential(this.opts.delayMeanMs);
  }

  /** The primary's connect attempt: it needs both directions, a live partner that accepts. */
  dial(from: SimLink): void {
    const to = otherSide(from.side);
    const handshakeMs = 2 * this.delayMs();
    this.time.after(handshakeMs, () => {
      if (this.links[from.side] !== from || !from.accepting || from.current) return;
      const peer = this.links[to];
      const reachable = !this.blocked.P && !this.blocked.S && peer !== undefined;
      if (!reachable) {
        this.time.after(CONNECT_MS_MAX - handshakeMs, () => from.scheduleRedial());
        return;
      }
      if (!peer.accepting) {
        this.trace.add(from.side, `link: refused by ${to}`);
        from.scheduleRedial();
        return;
      }
      const links = from.side === 'P' ? { P: from, S: peer } : { P: peer, S: from };
      const c = new Connection(++this.connections, links);
      this.conn = c;
      this.trace.add('net', `link: connection #${c.id} up`);
      links.S.opened(c.channel.S);
      links.P.opened(c.channel.P);
    });
  }

  send(c: Connection, from: Side, pdu: FailoverPdu): void {
    if (c.closed[from]) return;
    this.trace.add(from, `→ ${pduText(pdu)}`);
    const bytes = this.opts.codec ? encodePartnerFrame(pdu) : undefined;
    this.enqueue(c, from, { kind: 'frame', pdu, bytes, atMs: 0 });
  }

  close(c: Connection, side: Side, reason: string): void {
    if (c.closed[side]) return;
    c.closed[side] = true;
    this.trace.add(side, `link: close #${c.id} (${reason})`);
    this.enqueue(c, side, { kind: 'fin', atMs: 0 });
    c.links[side].closedHere(c.channel[side], reason);
  }

  private enqueue(c: Connection, from: Side, item: Item): void {
    const d = c.dir[from];
    item.atMs = Math.max(this.time.nowMs + this.delayMs(), d.lastAtMs);
    d.lastAtMs = item.atMs;
    d.queue.push(item);
    this.pump(c, from);
  }

  private pump(c: Connection, from: Side): void {
    const d = c.dir[from];
    if (d.scheduled || this.blocked[from] || d.queue.length === 0) return;
    d.scheduled = true;
    this.time.at(d.queue[0]!.atMs, () => {
      d.scheduled = false;
      while (d.queue.length > 0 && d.queue[0]!.atMs <= this.time.nowMs && !this.blocked[from]) this.deliver(c, from, d.queue.shift()!);
      this.pump(c, from);
    });
  }

  private deliver(c: Connection, from: Side, item: Item): void {
    const to = otherSide(from);
    if (c.dead[to]) {
      // A restarted host answers the old connection with a reset; a powered-off one says nothing.
      if (this.links[to] !== undefined && item.kind === 'frame' && !c.closed[from]) {
        c.dead[to] = false; // one reset is enough
        this.enqueueReset(c, from);
      }
      return;
    }
    if (c.closed[to]) return;
    const link = c.links[to];
    if (item.kind !== 'frame')
      return this.close(c, to, item.kind === 'fin' ? 'connection closed by the partner' : 'connection reset by the partner');
    if (!item.bytes) return void link.emit('pdu', item.pdu, c.channel[to]);
    // A TCP stream has no message boundaries: feed the frame in one or two pieces.
    const cut = this.rng.chance(0.3) ? 1 + this.rng.int(item.bytes.length - 1) : item.bytes.length;
    for (const piece of [item.bytes.subarray(0, cut), item.bytes.subarray(cut)]) {
      if (piece.length === 0 || c.closed[to]) continue;
      const { frames, error } = c.parser[to].push(piece);
      for (const f of frames) {
        if (c.closed[to]) break;
        const r = readFrame(f, this.nowSecOf(to));
        if (r.kind === 'close') {
          this.close(c, to, r.reason);
          break;
        }
        if (r.kind === 'unusable-update') link.emit('unusable-update', r.transactionId, r.reply, r.reason, c.channel[to]);
        else link.emit('pdu', r.pdu, c.channel[to]);
      }
      if (error && !c.closed[to]) this.close(c, to, `garbled partner stream: ${error.reason} (${error.detail})`);
    }
  }

  /** The reset travels back from the restarted host to the sender. */
  private enqueueReset(c: Connection, sender: Side): void {
    const back = otherSide(sender);
    const d = c.dir[back];
    d.queue.length = 0;
    this.enqueue(c, back, { kind: 'rst', atMs: 0 });
  }
}

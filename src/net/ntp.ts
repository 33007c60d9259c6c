// SNTP over UDP (RFC 4330, the client side of RFC 5905): one query to one
// server, and a responder that answers one peer. daemon/time-sync.ts decides
// which server to believe and what to do with the clock; this is the I/O.

import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { decodeNtp, encodeNtp, exchangeOffset, LEAP_UNSYNCHRONIZED, NTP_PORT, NtpMode, STRATUM_UNSYNCHRONIZED } from '../wire/ntp.js';

export interface NtpSample {
  readonly server: string;
  readonly stratum: number;
  /** What to add to our clock, ms. */
  readonly offsetMs: number;
  /** Round trip less the server's own time, ms. */
  readonly delayMs: number;
}

export type NtpResult = NtpSample | { readonly server: string; readonly problem: string };

export const isSample = (r: NtpResult): r is NtpSample => 'offsetMs' in r;

export interface QueryOptions {
  readonly timeoutMs: number;
  /** Our wall clock, ms (Date.now). */
  readonly nowMs: () => number;
  /** Port to ask on; NTP's 123 unless a test says otherwise. */
  readonly port?: number;
}

/** One exchange with `server` (an address or a host name); never throws. */
export async function queryNtp(server: string, opts: QueryOptions): Promise<NtpResult> {
  let address = server;
  if (isIP(server) === 0) {
    try {
      address = (await lookup(server)).address;
    } catch (e) {
      return { server, problem: `cannot resolve: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
  }
  const socket = dgram.createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  // RFC 9109 §5: a random transmit field, matched against the reply's origin, tells nothing of our clock.
  const nonce = randomBytes(8);
  return new Promise<NtpResult>((resolve) => {
    let t1 = 0;
    const done = (r: NtpResult): void => {
      clearTimeout(timer);
      socket.close();
      resolve(r);
    };
    const timer = setTimeout(() => done({ server, problem: `no answer within ${opts.timeoutMs} ms` }), opts.timeoutMs);
    socket.on('error', (e) => done({ server, problem: e.message }));
    socket.on('message', (data) => {
      const t4 = opts.nowMs();
      const p = decodeNtp(data);
      // RFC 5905 §8: a reply whose origin is not our transmit is bogus (or a replay); wait for the right one.
      if (!p || p.mode !== NtpMode.server || !data.subarray(24, 32).equals(nonce)) return;
      if (p.leap === LEAP_UNSYNCHRONIZED || p.stratum === 0 || p.stratum >= STRATUM_UNSYNCHRONIZED)
        return done({ server, problem: `server unsynchronised (stratum ${p.stratum}, leap ${p.leap})` });
      const { offsetMs, delayMs } = exchangeOffset(t1, p.receiveMs, p.transmitMs, t4);
      done({ server, stratum: p.stratum, offsetMs, delayMs });
    });
    const request = encodeNtp({ leap: 0, version: 4, mode: NtpMode.client, stratum: 0, transmitRaw: nonce });
    // Bound first: t1 must be read right before the datagram leaves, not before the socket's set-up,
    // which a busy guest's first exchange spends a good part of a second on (the offset's error is half of it).
    socket.bind(0, () => {
      t1 = opts.nowMs();
      socket.send(request, opts.port ?? NTP_PORT, address, (e) => {
        if (e) done({ server, problem: e.message });
      });
    });
  });
}

/** What the responder says about its own clock in each reply. */
export interface OwnClock {
  readonly stratum: number;
  readonly leap: number;
  readonly refId: number;
  /** When the clock was last set or checked, Unix ms; 0: never. */
  readonly referenceMs: number;
}

export interface NtpResponder {
  /** The port bound (the kernel's choice when asked for 0). */
  readonly port: number;
  close(): Promise<void>;
}

export interface ResponderOptions {
  readonly address: string;
  readonly port?: number;
  /** Only this peer is answered; anything else is counted and dropped. */
  readonly peer: string;
  readonly nowMs: () => number;
  readonly own: () => OwnClock;
  readonly served: (answered: boolean) => void;
  /** The socket failed after it was bound. */
  readonly onError: (e: Error) => void;
}

/** Answers client requests from `peer` on [address]:123 (RFC 5905 §9.2, server mode). */
export function serveNtp(opts: ResponderOptions): Promise<NtpResponder> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp6', reuseAddr: true });
    socket.once('error', reject);
    socket.on('message', (data, rinfo) => {
      const t2 = opts.nowMs();
      const p = decodeNtp(data);
      if (!p || p.mode !== NtpMode.client || rinfo.address.split('%')[0] !== opts.peer) return opts.served(false);
      const own = opts.own();
      const reply = encodeNtp({
        leap: own.leap,
        version: p.version,
        mode: NtpMode.server,
        stratum: own.stratum,
        poll: p.poll,
        refId: own.refId,
        referenceMs: own.referenceMs,
        originRaw: p.transmitRaw,
        receiveMs: t2,
        transmitMs: opts.nowMs(),
      });
      socket.send(reply, rinfo.port, rinfo.address);
      opts.served(true);
    });
    socket.bind(opts.port ?? NTP_PORT, opts.address, () => {
      socket.off('error', reject);
      socket.on('error', opts.onError);
      resolve({ port: socket.address().port, close: () => new Promise<void>((r) => socket.close(() => r())) });
    });
  });
}

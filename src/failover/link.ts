// The partner connection (RFC 8156 §5.1, §6.1): one TCP connection per
// relationship, the primary dials, the secondary listens and accepts only
// the configured partner's address. With TLS configured, the first exchange
// is STARTTLS/REPLY (RFC 7653 §8.2, §9.1) and the handshake needs a
// certificate from each side signed by the configured CA: nothing else
// crosses before it. Frames are 2-octet-length-prefixed (RFC 5460 §5.1).
// A frame that does not decode closes the connection with its reason and
// never reaches the rest of the server — except a BNDUPD, which is answered.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import {
  FoMsgType,
  FoStatusCode,
  FrameParser,
  decodePartnerFrame,
  decodePartnerMessage,
  encodePartnerFrame,
  isFailoverMsgType,
  unusableUpdateReply,
  type BindingReply,
  type PartnerPdu,
} from '../wire/failover/index.js';
import type { FailoverConfig } from '../config/types.js';
import { canonicalAddress } from '../wire/address.js';

/** After closing on purpose, how long the partner has to take what we sent before the socket goes. */
const CLOSE_FLUSH_MS = 1000;
/** The STARTTLS exchange and the TLS handshake together must finish within this. */
const HANDSHAKE_MS_MAX = 10_000;
/** Primary's re-dial back-off (§6.1: keep trying, back off after a rejection). */
export const REDIAL_MS_MIN = 500;
export const REDIAL_MS_MAX = 5000;
/** A connect the partner does not answer (host down, link cut) is given up after this, and dialled again. */
export const CONNECT_MS_MAX = 3000;
/**
 * The longest the primary goes without trying to reach a partner that came
 * back: the largest jittered back-off plus a connect that timed out. A
 * restarted secondary, which only listens, must wait at least this long in
 * STARTUP (§8.3.2) or it resumes its old state without having heard what the
 * primary did meanwhile — PARTNER-DOWN included.
 */
export const DIAL_GAP_SEC_MAX = Math.ceil((REDIAL_MS_MAX * 1.25 + CONNECT_MS_MAX) / 1000);

export type FailoverPdu = Extract<PartnerPdu, { sentTimeSec: number }>;

/** What one frame on an open channel comes to; PartnerLink and the simulation's link read frames alike. */
export type FrameReading =
  | { readonly kind: 'pdu'; readonly pdu: FailoverPdu }
  | { readonly kind: 'unusable-update'; readonly transactionId: number; readonly reply: BindingReply; readonly reason: string }
  | { readonly kind: 'close'; readonly reason: string };

export function readFrame(frame: Uint8Array, nowSec: number): FrameReading {
  const decoded = decodePartnerFrame(frame, nowSec);
  if (!decoded.ok) {
    const e = decoded.error;
    const reason = `undecodable partner message: ${e.reason} at byte ${e.offset} (${e.detail})`;
    // The frame's length prefix held, so the stream is intact: a BNDUPD gets its BNDREPLY (§7.5.3).
    if (e.header?.type !== FoMsgType.BNDUPD) return { kind: 'close', reason };
    const framed = decodePartnerMessage(frame, nowSec);
    return {
      kind: 'unusable-update',
      transactionId: e.header.transactionId,
      reply: unusableUpdateReply(framed.ok ? framed.message.options : undefined, `${e.reason}: ${e.detail}`),
      reason,
    };
  }
  const pdu = decoded.pdu;
  if (!('sentTimeSec' in pdu) || !isFailoverMsgType(pdu.type))
    return { kind: 'close', reason: `unexpected message type ${pdu.type} on an open channel` };
  return { kind: 'pdu', pdu: pdu as FailoverPdu };
}

/**
 * The primary's re-dial back-off (§6.1): jittered, so two partners never
 * settle into lock-step retries, and doubling up to REDIAL_MS_MAX. Only a
 * connection the partner accepted (CONNECTREPLY without an error) resets it: a
 * rejected one, by CONNECTREPLY or DISCONNECT, must leave the primary dialling
 * less often, not start it over at the fastest rate.
 */
export class RedialBackoff {
  private ms = REDIAL_MS_MIN;

  /** The wait before the next dial; rand is uniform in [0, 1). */
  next(rand: number): number {
    const wait = this.ms * (0.75 + rand * 0.5);
    this.ms = Math.min(REDIAL_MS_MAX, this.ms * 2);
    return wait;
  }

  reset(): void {
    this.ms = REDIAL_MS_MIN;
  }
}

export interface Channel {
  send(pdu: FailoverPdu): void;
  /** Ends this connection; `down` follows with the reason. */
  close(reason: string): void;
  readonly secure: boolean;
  readonly remote: string;
}

export interface LinkEvents {
  up: [channel: Channel];
  pdu: [pdu: FailoverPdu, channel: Channel];
  /** A BNDUPD that did not decode: it is answered, not a reason to close (RFC 8156 §7.5.3, §7.6). */
  'unusable-update': [transactionId: number, reply: BindingReply, reason: string, channel: Channel];
  down: [reason: string];
  /** A connection attempt that never became a channel (wrong peer, bad certificate, TLS refused, …). */
  refused: [reason: string];
}

export class PartnerLink extends EventEmitter<LinkEvents> {
  private server: net.Server | undefined;
  private current: (Channel & { socket: net.Socket }) | undefined;
  private redialTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new RedialBackoff();
  private stopped = false;
  private heldReason: string | undefined;
  private xid = 1;

  constructor(
    private readonly config: FailoverConfig,
    private readonly log: Logger,
    private readonly nowSec: () => number,
  ) {
    super();
  }

  async start(): Promise<void> {
    if (this.config.role === 'secondary') await this.listen();
    else this.dial();
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /**
   * Keeps the link down while a reason holds (maintenance, our LAN is dead, the
   * partner is not serving clients): closes it, stops dialing, refuses the
   * partner. undefined lets it come back.
   */
  hold(reason: string | undefined): void {
    const was = this.heldReason;
    this.heldReason = reason;
    if (reason !== undefined) {
      clearTimeout(this.redialTimer);
      this.current?.close(`link held: ${reason}`);
    } else if (was !== undefined && this.config.role === 'primary' && !this.current && !this.stopped) {
      this.backoff.reset();
      this.dial();
    }
  }

  established(): void {
    this.backoff.reset();
  }

  /** Closes the connection and stops dialing or listening. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.redialTimer);
    this.current?.close('shutting down');
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private listen(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.config.port, host: this.config.localAddress }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.log.error({ code: 'FAILOVER_LISTENER_ERROR', err: e }, 'failover listener error'));
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.heldReason !== undefined) {
      this.refuse(socket, `link held: ${this.heldReason}`);
      return;
    }
    const remote = canonicalAddress((socket.remoteAddress ?? '').replace(/^::ffff:/, '').split('%')[0]!) ?? socket.remoteAddress ?? '?';
    if (remote !== this.config.peerAddress) {
      // §6.1: a secondary drops a connection from anyone it has no relationship with.
      this.refuse(socket, `connection from ${remote}, which is not the configured partner ${this.config.peerAddress}`);
      return;
    }
    socket.setNoDelay(true);
    this.negotiate(socket, remote, 'secondary');
  }

  private dial(): void {
    if (this.stopped || this.heldReason !== undefined) return;
    const socket = net.connect({ host: this.config.peerAddress, port: this.config.port, localAddress: this.config.localAddress });
    socket.setNoDelay(true);
    // Without it a partner that is powered off holds one connect for the kernel's SYN retries (about two minutes).
    socket.setTimeout(CONNECT_MS_MAX, () => socket.destroy(new Error(`no answer in ${CONNECT_MS_MAX} ms`)));
    socket.once('connect', () => {
      socket.setTimeout(0);
      this.negotiate(socket, this.config.peerAddress, 'primary');
    });
    socket.once('error', (e) => {
      socket.destroy();
      this.log.debug({ err: e.message }, 'partner connect failed');
      this.scheduleRedial();
    });
  }

  private scheduleRedial(): void {
    if (this.stopped || this.heldReason !== undefined || this.config.role !== 'primary') return;
    clearTimeout(this.redialTimer);
    this.redialTimer = setTimeout(() => this.dial(), this.backoff.next(Math.random()));
  }

  private refuse(socket: net.Socket, reason: string): void {
    this.log.warn({ code: 'FAILOVER_PARTNER_CONNECTION_REFUSED', reason }, 'partner connection refused');
    socket.destroy();
    this.emit('refused', reason);
  }

  /** STARTTLS where configured, then the channel. */
  private negotiate(socket: net.Socket, remote: string, side: 'primary' | 'secondary'): void {
    const done = (s: net.Socket, secure: boolean) => {
      clearTimeout(timer);
      this.open(s, remote, secure);
    };
    const fail = (reason: string) => {
      clearTimeout(timer);
      this.refuse(socket, reason);
      if (side === 'primary') this.scheduleRedial();
    };
    // A partner that takes the connection and then says nothing (busy, hung, or
    // rebooting) is given up on like any other failure: the primary dials again.
    const timer = setTimeout(() => fail('STARTTLS/TLS handshake took too long'), HANDSHAKE_MS_MAX);
    socket.once('error', (e) => fail(`socket error before the channel was up: ${e.message}`));
    const tlsConfig = this.config.tls;
    if (side === 'primary') {
      if (!tlsConfig) return done(socket, false);
      socket.write(encodePartnerFrame({ type: FoMsgType.STARTTLS, transactionId: this.nextXid(), content: {} }));
      this.readOne(
        socket,
        (pdu, frames) => {
          if (frames.length > 1) return fail('data after the REPLY to STARTTLS before the TLS handshake');
          if (pdu.type !== FoMsgType.REPLY) return fail(`expected REPLY to STARTTLS, got message type ${pdu.type}`);
          const status = pdu.content.status;
          if (status && status.code !== FoStatusCode.Success) return fail(`partner refused TLS (status ${status.code}: ${status.message})`);
          const secured = tls.connect({
            socket,
            ca: tlsConfig.ca,
            cert: tlsConfig.cert,
            key: tlsConfig.key,
            minVersion: 'TLSv1.2',
            rejectUnauthorized: true,
            // Refuses inside the handshake; partnerProblem below checks again because Node skips this on a resumed session.
            checkServerIdentity: (_host, cert) => {
              const problem = this.nameProblem(cert);
              return problem === undefined ? undefined : new Error(problem);
            },
          });
          secured.once('secureConnect', () => {
            const problem = this.partnerProblem(secured);
            if (problem) return fail(problem);
            done(secured, true);
          });
          secured.once('error', (e) => fail(`TLS handshake failed: ${e.message}`));
        },
        fail,
      );
      return;
    }
    this.readOne(
      socket,
      (pdu, frames) => {
        if (pdu.type !== FoMsgType.STARTTLS) {
          // §10 / RFC 7653 §9.1: with TLS configured, nothing but STARTTLS is accepted in clear.
          if (tlsConfig) return fail(`expected STARTTLS, got message type ${pdu.type}`);
          clearTimeout(timer);
          return this.open(socket, remote, false, frames);
        }
        // The primary waits for our REPLY before its handshake: anything behind STARTTLS is a protocol error.
        if (frames.length > 1) return fail('data after STARTTLS before the TLS handshake');
        if (!tlsConfig) {
          socket.write(
            encodePartnerFrame({
              type: FoMsgType.REPLY,
              transactionId: pdu.transactionId,
              content: { status: { code: FoStatusCode.TLSConnectionRefused, message: 'TLS is not configured here' } },
            }),
          );
          return fail('partner asked for TLS, which is not configured here');
        }
        socket.write(encodePartnerFrame({ type: FoMsgType.REPLY, transactionId: pdu.transactionId, content: {} }));
        // The handshake runs through a tls.Server (never listening) because only its path verifies and
        // enforces the client certificate; a TLSSocket made by hand leaves `authorized` unset.
        const upgrader = tls.createServer({
          requestCert: true,
          rejectUnauthorized: true,
          ca: tlsConfig.ca,
          cert: tlsConfig.cert,
          key: tlsConfig.key,
          minVersion: 'TLSv1.2',
        });
        upgrader.once('secureConnection', (secured: tls.TLSSocket) => {
          const problem = this.partnerProblem(secured);
          if (problem) return fail(problem);
          done(secured, true);
        });
        upgrader.once('tlsClientError', (e) => fail(`TLS handshake failed: ${e.message}`));
        upgrader.emit('connection', socket);
        socket.resume();
      },
      fail,
    );
  }

  /** Both sides, once the handshake is done: chained to our CA, and the partner's name (RFC 8156 §10). */
  private partnerProblem(secured: tls.TLSSocket): string | undefined {
    if (!secured.authorized) return `TLS handshake failed: partner certificate not accepted (${String(secured.authorizationError)})`;
    return this.nameProblem(secured.getPeerCertificate());
  }

  /** The configured peerName must be one of the certificate's SAN DNS names or its CN, unless anyPeerFromCa says any will do. */
  private nameProblem(cert: tls.PeerCertificate | undefined): string | undefined {
    const peer = this.config.tls;
    if (peer?.anyPeerFromCa === true) return undefined;
    // The config loader requires one of the two; a config built another way must not fall back to "any".
    if (!peer?.peerName) return 'no partner name is configured (tls.peerName), and tls.anyPeerFromCa is not set';
    const names = certNames(cert);
    const want = peer.peerName.toLowerCase();
    if (names.some((n) => n.toLowerCase() === want)) return undefined;
    return `partner certificate is for ${names.length ? names.map((n) => `"${n}"`).join(', ') : 'no name'}, not "${peer.peerName}"`;
  }

  /** Reads exactly one frame in clear text (the STARTTLS exchange), then stops reading. */
  private readOne(socket: net.Socket, then: (pdu: PartnerPdu, frames: Uint8Array[]) => void, fail: (reason: string) => void): void {
    const parser = new FrameParser();
    const onData = (chunk: Buffer) => {
      const { frames, error } = parser.push(chunk);
      if (error) return stopWith(() => fail(`garbled frame during set-up: ${error.reason} (${error.detail})`));
      const first = frames[0];
      if (!first) return;
      const decoded = decodePartnerFrame(first, this.nowSec());
      if (!decoded.ok) return stopWith(() => fail(`bad message during set-up: ${decoded.error.reason} (${decoded.error.detail})`));
      // `frames` keeps the first one too: without TLS it is the CONNECT, and must be delivered.
      stopWith(() => then(decoded.pdu, frames));
    };
    const stopWith = (f: () => void) => {
      socket.off('data', onData);
      socket.pause();
      f();
    };
    socket.on('data', onData);
  }

  private open(socket: net.Socket, remote: string, secure: boolean, pending: Uint8Array[] = []): void {
    socket.removeAllListeners('error');
    if (this.current) this.current.close('replaced by a new connection from the partner');
    const parser = new FrameParser();
    let closed = false;
    let corked = false;
    const channel: Channel & { socket: net.Socket } = {
      socket,
      secure,
      remote,
      send: (pdu) => {
        if (closed) return;
        // Messages sent in one turn of the event loop (a burst of BNDUPDs or BNDREPLYs) leave in one write.
        if (!corked) {
          corked = true;
          socket.cork();
          process.nextTick(() => {
            corked = false;
            socket.uncork();
          });
        }
        socket.write(encodePartnerFrame(pdu));
      },
      close: (reason) => finish(reason, true),
    };
    /** ours: we close on purpose, so what we sent this turn (a refusal, a DISCONNECT, §6.1.2/§6.1.3) must still leave. */
    const finish = (reason: string, ours = false) => {
      if (closed) return;
      closed = true;
      if (ours) {
        // A corked write is only in our buffer until the next tick; destroy() would drop it.
        if (corked) {
          corked = false;
          socket.uncork();
        }
        socket.end();
        setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS).unref();
      } else socket.destroy();
      if (this.current === channel) this.current = undefined;
      this.log.info({ code: 'FAILOVER_PARTNER_DISCONNECTED', reason, remote }, 'partner connection closed');
      this.emit('down', reason);
      this.scheduleRedial();
    };
    const deliver = (frame: Uint8Array) => {
      const r = readFrame(frame, this.nowSec());
      if (r.kind === 'close') return finish(r.reason);
      if (r.kind === 'unusable-update') return void this.emit('unusable-update', r.transactionId, r.reply, r.reason, channel);
      this.emit('pdu', r.pdu, channel);
    };
    socket.on('data', (chunk: Buffer) => {
      const { frames, error } = parser.push(chunk);
      for (const f of frames) if (!closed) deliver(f);
      if (error && !closed) finish(`garbled partner stream: ${error.reason} (${error.detail})`);
    });
    socket.on('error', (e) => finish(`socket error: ${e.message}`));
    socket.on('close', () => finish('connection closed by the partner'));
    this.current = channel;
    this.log.info({ code: 'FAILOVER_PARTNER_CONNECTED', remote, secure }, 'partner connection up');
    this.emit('up', channel);
    for (const f of pending) if (!closed) deliver(f);
    socket.resume();
  }

  /** Transaction ids for the messages we start (§5.4: unique among those outstanding). */
  nextXid(): number {
    this.xid = (this.xid % 0xff_ffff) + 1;
    return this.xid;
  }
}

/** SAN DNS names, then the subject CN; no wildcard matching: a partner is one named machine. */
function certNames(cert: tls.PeerCertificate | undefined): string[] {
  const san = (cert?.subjectaltname ?? '')
    .split(', ')
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
  const cn = cert?.subject?.CN;
  const cns = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
  return [...new Set([...san, ...cns])];
}

// Time for the appliance (docs/image.md §12): twin6d asks the `time` section's
// NTP servers, and with `servePartner` its failover partner, for the time
// (SNTP, net/ntp.ts), steps the system clock to the best answer when it is off
// by half a second or more, and answers its partner's questions. Debian's
// busybox has no ntpd applet, and a second node process would cost the RAM of
// another twin6d, so the daemon that needs the time keeps it.
//
// Which answer: the lowest stratum, then the shortest round trip, and only
// from a server of a lower stratum than our own, so two partners never take
// the time from each other in a loop. Our stratum: the source's plus one once
// a server set or confirmed our clock; LOCAL_STRATUM while the clock is only
// trusted by its floor (daemon/clock-floor.ts: not known to be wrong, as on a
// box with a real-time clock and no server in reach); 16 (unsynchronised)
// below it. So a partner booting in 1970 takes the time from one whose clock
// is above its floor, and neither takes it from one in 1970.
//
// The clock is set only when twin6d is told it may (`--set-clock`, which the
// appliance's supervisor passes): on any other machine it measures and
// reports the offset and leaves the clock to whoever keeps it there.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  isSample,
  queryNtp,
  serveNtp,
  type NtpResponder,
  type NtpResult,
  type NtpSample,
  type OwnClock,
  type QueryOptions,
} from '../net/ntp.js';
import { LEAP_UNSYNCHRONIZED, STRATUM_UNSYNCHRONIZED } from '../wire/ntp.js';
import type { CpeHost } from './host.js';

/** Until a server answered usably, and right after a step (to confirm it), ask this often. */
export const FAST_POLL_MS = 4000;
/** Then this often: a crystal off by 100 ppm drifts 60 ms in 10 minutes, far inside RFC 8156's 5 s. */
export const POLL_MS = 600_000;
export const QUERY_TIMEOUT_MS = 1500;
/** Exchanges per server and round; the shortest round trip wins. */
export const SAMPLES_PER_SERVER = 2;
/** A smaller offset is left alone: stepping is coarse (whole seconds at a second's edge), and 0.5 s is a tenth of the pair's tolerance. */
export const STEP_MIN_MS = 500;
/**
 * ntpd's panic threshold: once a server has set or confirmed the clock, an
 * answer this far off is refused rather than stepped to. Only the first sync
 * after start may move the clock further (from 1970, or across a long
 * power-off), so a spoofed answer later cannot throw the clock years ahead,
 * where every lease stamped then would lift the floor with it.
 */
export const PANIC_MS = 1_000_000;
/** Our stratum while the clock is trusted by its floor alone (ntpd's "local clock" custom). */
export const LOCAL_STRATUM = 10;

/** Our stratum now (see the top of this file). */
export function ownStratum(syncedFromStratum: number | undefined, clockTrusted: boolean): number {
  if (syncedFromStratum !== undefined) return Math.min(syncedFromStratum + 1, STRATUM_UNSYNCHRONIZED - 1);
  return clockTrusted ? LOCAL_STRATUM : STRATUM_UNSYNCHRONIZED;
}

/** The answer to believe: below our own stratum, lowest stratum first, then the shortest round trip. */
export function bestSample(results: readonly NtpResult[], own: number): NtpSample | undefined {
  return results
    .filter(isSample)
    .filter((s) => s.stratum < own && s.delayMs >= 0)
    .sort((a, b) => a.stratum - b.stratum || a.delayMs - b.delayMs)[0];
}

/** Sets the clock `offsetMs` forward (or back): `date -s @SECONDS` at the edge of a second of the corrected clock. */
export type ClockStepper = (offsetMs: number) => Promise<void>;

/** How long `date -s` may take once told the second. */
const STEP_TIMEOUT_MS = 5000;

/**
 * busybox's (and coreutils') `date -u -s @N`, which has whole seconds, told N
 * at the corrected clock's next whole second. The shell is started first and
 * waits for N: forking node takes a busy guest a few hundred milliseconds,
 * which would otherwise land in the clock.
 */
export const systemClockStepper: ClockStepper = async (offsetMs) => {
  const child = spawn('sh', ['-c', 'read t && exec date -u -s "@$t" > /dev/null'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const target = Date.now() + offsetMs;
  await new Promise((r) => setTimeout(r, 1000 - (((target % 1000) + 1000) % 1000)));
  child.stdin.end(`${Math.round((Date.now() + offsetMs) / 1000)}\n`);
  const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
  const code = await exited.finally(() => clearTimeout(timer));
  if (code !== 0) throw new Error(`date -s exited with ${code}: ${stderr.trim()}`);
};

export interface TimeSyncIo {
  /** Present only where twin6d may set the clock (`--set-clock`). */
  readonly step?: ClockStepper;
  readonly query?: (server: string, opts: QueryOptions) => Promise<NtpResult>;
  /** The NTP port to ask and to answer on (tests); 123. */
  readonly port?: number;
  readonly nowMs?: () => number;
}

export interface TimeStatus {
  readonly servers: readonly string[];
  readonly stratum: number;
  readonly setsClock: boolean;
  /** The server we last took or confirmed the time from. */
  readonly source: string | null;
  readonly lastOffsetMs: number | null;
  readonly lastSyncMs: number | null;
  readonly steps: number;
  readonly serving: string | null;
}

export class TimeSync {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private syncedFrom: NtpSample | undefined;
  private lastSyncMs: number | null = null;
  private steps = 0;
  private sourceMissing = false;
  private responder: NtpResponder | undefined;
  private servingOn: string | null = null;
  private serveFailure: string | undefined;
  private readonly nowMs: () => number;
  private readonly log: CpeHost['log'];

  constructor(
    private readonly host: CpeHost,
    private readonly io: TimeSyncIo = {},
  ) {
    this.nowMs = io.nowMs ?? Date.now;
    this.log = host.log.child({ part: 'time' });
  }

  start(): this {
    this.host.registerCommand('time', () => this.status());
    this.host.on('config-reloaded', () => {
      void this.followResponder();
      this.schedule(0); // new servers are asked at once
    });
    this.host.onStop(() => this.stop());
    void this.followResponder();
    this.schedule(0);
    return this;
  }

  status(): TimeStatus {
    return {
      servers: this.servers(),
      stratum: this.stratum(),
      setsClock: this.io.step !== undefined,
      source: this.syncedFrom?.server ?? null,
      lastOffsetMs: this.syncedFrom ? Math.round(this.syncedFrom.offsetMs) : null,
      lastSyncMs: this.lastSyncMs,
      steps: this.steps,
      serving: this.servingOn,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.responder?.close();
    this.responder = undefined;
  }

  private stratum(): number {
    return ownStratum(this.syncedFrom?.stratum, this.host.clockStatus().trusted);
  }

  /** The servers asked each round: the configured ones, and the partner when it serves us too. */
  private servers(): string[] {
    const { time, failover } = this.host.config;
    if (!time) return [];
    return [...time.ntpServers, ...(time.servePartner && failover ? [failover.peerAddress] : [])];
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.round().then((next) => this.schedule(next)), ms);
    this.timer.unref();
  }

  /** One round: ask every server, take the best answer, step if it says so; returns when to ask again. */
  private async round(): Promise<number> {
    if (!this.responder) await this.followResponder(); // the partner link's address may have come up since
    const servers = this.servers();
    if (servers.length === 0) return POLL_MS;
    const { counters } = this.host;
    const opts = { timeoutMs: QUERY_TIMEOUT_MS, nowMs: this.nowMs, ...(this.io.port ? { port: this.io.port } : {}) };
    const results = await Promise.all(servers.map((s) => this.ask(s, opts)));
    counters.add('time.queries', results.length);
    counters.add('time.answers', results.filter(isSample).length);
    const best = bestSample(results, this.stratumForChoice());
    if (!best) return this.noSource(results);
    if (this.syncedFrom && Math.abs(best.offsetMs) > PANIC_MS) {
      counters.add('time.refused-steps');
      this.log.warn(
        { code: 'TIME_STEP_REFUSED', server: best.server, stratum: best.stratum, offsetMs: Math.round(best.offsetMs) },
        'NTP answer too far off from a clock already set: refused',
      );
      return POLL_MS;
    }
    this.sourceMissing = false;
    this.syncedFrom = best;
    this.lastSyncMs = this.nowMs();
    if (Math.abs(best.offsetMs) < STEP_MIN_MS) return POLL_MS;
    if (!this.io.step) {
      this.log.debug({ server: best.server, offsetMs: Math.round(best.offsetMs) }, 'clock is off, and twin6d does not set it here');
      return POLL_MS;
    }
    const fromMs = this.nowMs();
    try {
      await this.io.step(best.offsetMs);
    } catch (e) {
      this.log.error({ code: 'TIME_STEP_FAILED', err: e, server: best.server }, 'could not set the clock');
      return FAST_POLL_MS;
    }
    this.steps++;
    counters.add('time.steps');
    this.log.info(
      {
        code: 'TIME_CLOCK_STEPPED',
        server: best.server,
        stratum: best.stratum,
        offsetMs: Math.round(best.offsetMs),
        from: new Date(fromMs).toISOString(),
        to: new Date(this.nowMs()).toISOString(),
      },
      'clock set from NTP',
    );
    return FAST_POLL_MS; // confirm the step
  }

  /**
   * SAMPLES_PER_SERVER exchanges with one server, one after the other; the
   * one with the shortest round trip is kept (RFC 5905 §10's clock filter in
   * small): a reply or a request held up on our side adds half its delay to
   * the offset's error.
   */
  private async ask(server: string, opts: QueryOptions): Promise<NtpResult> {
    let best: NtpResult | undefined;
    for (let i = 0; i < SAMPLES_PER_SERVER; i++) {
      const r = await (this.io.query ?? queryNtp)(server, opts);
      if (!isSample(r)) return best ?? r; // no answer: do not wait out a second time-out
      if (!best || !isSample(best) || r.delayMs < best.delayMs) best = r;
    }
    return best!;
  }

  /**
   * The stratum a server must be below to be believed. Once synced, our own
   * (so a better source is taken); before, what the clock alone would give.
   */
  private stratumForChoice(): number {
    return this.syncedFrom ? Math.max(this.stratum(), this.syncedFrom.stratum + 1) : this.stratum();
  }

  private noSource(results: readonly NtpResult[]): number {
    if (!this.sourceMissing) {
      this.sourceMissing = true;
      this.log.warn(
        {
          code: 'TIME_NO_SOURCE',
          stratum: this.stratum(),
          answers: results.map((r) => (isSample(r) ? `${r.server}: stratum ${r.stratum}, not below ours` : `${r.server}: ${r.problem}`)),
        },
        'no NTP server gave a usable time',
      );
    }
    return this.syncedFrom ? POLL_MS : FAST_POLL_MS;
  }

  /** Answers the partner on failover.localAddress while `time.servePartner` is on. */
  private async followResponder(): Promise<void> {
    const { time, failover } = this.host.config;
    const want = time?.servePartner && failover ? `[${failover.localAddress}]:${this.io.port ?? 123} for ${failover.peerAddress}` : null;
    if (want === this.servingOn) return;
    await this.responder?.close();
    this.responder = undefined;
    this.servingOn = null;
    if (!want || !failover || this.stopped) return;
    try {
      this.responder = await serveNtp({
        address: failover.localAddress,
        ...(this.io.port ? { port: this.io.port } : {}),
        peer: failover.peerAddress,
        nowMs: this.nowMs,
        own: () => this.ownClock(),
        served: (answered) => this.host.counters.add(answered ? 'time.served' : 'time.refused'),
        onError: (e) => this.log.error({ code: 'TIME_SERVE_FAILED', err: e }, 'NTP responder failed'),
      });
      this.servingOn = want;
      this.serveFailure = undefined;
    } catch (e) {
      // The partner link's address may not be up yet: tried again every round, logged once per reason.
      const why = (e as Error).message;
      if (why !== this.serveFailure)
        this.log.error({ code: 'TIME_SERVE_FAILED', err: why, address: failover.localAddress }, 'cannot answer the partner: NTP not bound');
      this.serveFailure = why;
    }
  }

  private ownClock(): OwnClock {
    const stratum = this.stratum();
    const source = this.syncedFrom?.server;
    return {
      stratum,
      leap: stratum >= STRATUM_UNSYNCHRONIZED ? LEAP_UNSYNCHRONIZED : 0,
      // RFC 5905 §7.3: an IPv4 source by its address, an IPv6 one by the first octets of its MD5; "LOCL" for the local clock.
      refId: source ? createHash('md5').update(source).digest().readUInt32BE(0) : 0x4c4f434c,
      referenceMs: this.lastSyncMs ?? 0,
    };
  }
}

// Time from NTP (docs/image.md §12): which answer is believed, our stratum,
// a round that steps the clock only where twin6d may set it, and the SNTP
// exchange itself over a real UDP socket on the loopback (kernel-chosen port).

import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { parseConfig } from '../../../src/config/index.js';
import { Counters } from '../../../src/daemon/counters.js';
import type { ClockStatus, CpeHost } from '../../../src/daemon/host.js';
import { bestSample, FAST_POLL_MS, LOCAL_STRATUM, ownStratum, PANIC_MS, STEP_MIN_MS, TimeSync } from '../../../src/daemon/time-sync.js';
import { queryNtp, serveNtp, type NtpResult } from '../../../src/net/ntp.js';
import { base } from '../config/helpers.js';

const sample = (server: string, stratum: number, offsetMs: number, delayMs = 10): NtpResult => ({ server, stratum, offsetMs, delayMs });

describe('choosing a time', () => {
  it('gives our stratum: the source plus one once synced, 10 on the floor alone, 16 below it', () => {
    expect(ownStratum(2, false)).toBe(3);
    expect(ownStratum(undefined, true)).toBe(LOCAL_STRATUM);
    expect(ownStratum(undefined, false)).toBe(16);
    expect(ownStratum(15, true)).toBe(15);
  });

  it('believes the lowest stratum below ours, then the shortest round trip; never a partner at ours', () => {
    const answers = [sample('a', 3, 100, 50), sample('b', 2, 200, 80), sample('c', 2, 300, 20), { server: 'd', problem: 'no answer' }];
    expect(bestSample(answers, 16)).toMatchObject({ server: 'c' });
    expect(bestSample([sample('partner', 10, 5000)], LOCAL_STRATUM)).toBeUndefined(); // two boxes on their floors
    expect(bestSample([sample('partner', 10, 5000)], 16)).toMatchObject({ server: 'partner' }); // one in 1970 takes it
    expect(bestSample([sample('p', 11, 1)], 11)).toBeUndefined(); // the partner that took its time from us
    expect(bestSample([{ server: 'x', problem: 'unsynchronised' }], 16)).toBeUndefined();
  });
});

function fakeHost(config: object, clock: Partial<ClockStatus> = {}) {
  const events = new EventEmitter();
  const commands: Record<string, (a: Record<string, unknown>) => unknown> = {};
  const stops: (() => Promise<void>)[] = [];
  const logged: { code?: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as { code?: string }) });
  const host = {
    log,
    config: parseConfig(config),
    counters: new Counters(),
    clockStatus: () => ({ trusted: false, nowSec: 0, floorSec: 1, floorSource: 'x', behindSec: 1, ...clock }),
    registerCommand: (name: string, h: (a: Record<string, unknown>) => unknown) => (commands[name] = h),
    commands,
    on: (e: string, f: () => void) => events.on(e, f),
    off: (e: string, f: () => void) => events.off(e, f),
    onStop: (f: () => Promise<void>) => stops.push(f),
  } as unknown as CpeHost;
  return { host, commands, logged, stop: () => Promise.all(stops.map((f) => f())) };
}

const settle = async (until: () => boolean) => {
  for (let i = 0; i < 400 && !until(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('TimeSync', () => {
  const running: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const stop of running.splice(0)) await stop();
  });

  it('steps the clock to the best answer, and logs it with its code', async () => {
    const h = fakeHost({ ...base(), time: { ntpServers: ['2001:db8::123', '2001:db8::124'] } });
    running.push(h.stop);
    const steps: number[] = [];
    new TimeSync(h.host, {
      query: async (server) => (server === '2001:db8::123' ? sample(server, 2, 1_796_000_000_000) : { server, problem: 'no answer' }),
      step: async (offsetMs) => void steps.push(offsetMs),
    }).start();
    await settle(() => steps.length > 0);
    expect(steps).toEqual([1_796_000_000_000]);
    await settle(() => h.logged.some((l) => l.code === 'TIME_CLOCK_STEPPED'));
    expect(h.logged.find((l) => l.code === 'TIME_CLOCK_STEPPED')).toMatchObject({ server: '2001:db8::123', stratum: 2 });
    expect(await h.commands['time']!({})).toMatchObject({ source: '2001:db8::123', stratum: 3, steps: 1, setsClock: true });
  });

  it('leaves the clock alone where it may not set it, and for an offset under the step threshold', async () => {
    for (const [io, offsetMs] of [
      [{}, 60_000],
      [{ step: async () => Promise.reject(new Error('must not step')) }, STEP_MIN_MS - 1],
    ] as const) {
      const h = fakeHost({ ...base(), time: { ntpServers: ['192.0.2.1'] } }, { trusted: true });
      running.push(h.stop);
      let asked = 0;
      new TimeSync(h.host, {
        ...io,
        query: async (server) => {
          asked++;
          return sample(server, 2, offsetMs);
        },
      }).start();
      await settle(() => asked > 0);
      await new Promise((r) => setTimeout(r, 20));
      expect(h.logged.filter((l) => l.code?.startsWith('TIME_'))).toEqual([]);
      expect(await h.commands['time']!({})).toMatchObject({ steps: 0, source: '192.0.2.1' });
    }
  });

  it('steps any distance at the first sync, then refuses an answer beyond the panic threshold', async () => {
    vi.useFakeTimers();
    const h = fakeHost({ ...base(), time: { ntpServers: ['2001:db8::123'] } });
    running.push(h.stop);
    const steps: number[] = [];
    let offsetMs = 50 * 365 * 86_400_000; // from 1970
    new TimeSync(h.host, {
      query: async (server) => sample(server, 2, offsetMs),
      step: async (ms) => {
        steps.push(ms);
        offsetMs = PANIC_MS + 1; // the next answer: far off from the clock just set
      },
    }).start();
    await vi.advanceTimersByTimeAsync(0);
    expect(steps).toEqual([50 * 365 * 86_400_000]);
    await vi.advanceTimersByTimeAsync(FAST_POLL_MS); // the round that confirms the step
    expect(steps).toHaveLength(1);
    expect(h.logged.find((l) => l.code === 'TIME_STEP_REFUSED')).toMatchObject({ server: '2001:db8::123', offsetMs: PANIC_MS + 1 });
  });

  it('says once that no server gave a usable time', async () => {
    const h = fakeHost({ ...base(), time: { ntpServers: ['2001:db8::123'] } });
    running.push(h.stop);
    new TimeSync(h.host, { query: async (server) => ({ server, problem: 'no answer within 1500 ms' }) }).start();
    await settle(() => h.logged.some((l) => l.code === 'TIME_NO_SOURCE'));
    expect(h.logged.find((l) => l.code === 'TIME_NO_SOURCE')).toMatchObject({ answers: ['2001:db8::123: no answer within 1500 ms'] });
  });
});

describe('SNTP over UDP', () => {
  it('asks a responder and gets its clock, with the offset and round trip of the exchange', async () => {
    const served: boolean[] = [];
    const responder = await serveNtp({
      address: '::1',
      port: 0,
      peer: '::1',
      nowMs: () => Date.now() + 5000,
      own: () => ({ stratum: 3, leap: 0, refId: 0, referenceMs: 0 }),
      served: (ok) => served.push(ok),
      onError: (e) => {
        throw e;
      },
    });
    try {
      const r = await queryNtp('::1', { timeoutMs: 2000, nowMs: Date.now, port: responder.port });
      expect(r).toMatchObject({ server: '::1', stratum: 3 });
      if (!('offsetMs' in r)) throw new Error(r.problem);
      expect(Math.abs(r.offsetMs - 5000)).toBeLessThan(200);
      expect(r.delayMs).toBeGreaterThanOrEqual(0);
      expect(served).toEqual([true]);
    } finally {
      await responder.close();
    }
  });

  it('refuses a responder that says its clock is unsynchronised, and times out on silence', async () => {
    const responder = await serveNtp({
      address: '::1',
      port: 0,
      peer: '::1',
      nowMs: Date.now,
      own: () => ({ stratum: 16, leap: 3, refId: 0, referenceMs: 0 }),
      served: () => undefined,
      onError: () => undefined,
    });
    const port = responder.port;
    try {
      expect(await queryNtp('::1', { timeoutMs: 2000, nowMs: Date.now, port })).toEqual({
        server: '::1',
        problem: 'server unsynchronised (stratum 16, leap 3)',
      });
    } finally {
      await responder.close();
    }
    expect(await queryNtp('::1', { timeoutMs: 100, nowMs: Date.now, port })).toEqual({ server: '::1', problem: 'no answer within 100 ms' });
  });
});

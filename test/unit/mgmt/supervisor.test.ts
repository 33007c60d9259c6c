// The reconnect schedule with fake timers: no real waiting, and the delays
// the supervisor chose are read back from its events.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, Supervisor, type Connection, type SupervisorEvent } from '../../../src/mgmt/supervisor.js';

const policy = { initialMs: 1000, maxMs: 60_000 };

describe('backoffDelay', () => {
  it('doubles the window per attempt and caps it: [b, 2b) with b = initial·2^n', () => {
    const low = (n: number) => backoffDelay(n, policy, () => 0);
    const high = (n: number) => backoffDelay(n, policy, () => 0.999999);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(low)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect([0, 1, 2, 3, 4, 5].map(high)).toEqual([2000, 4000, 8000, 16000, 32000, 60000]);
    expect(backoffDelay(1000, policy, () => 0.5)).toBe(60_000);
  });

  it('spreads devices out: the same attempt gives different delays for different draws', () => {
    const draws = [0.1, 0.5, 0.9].map((r) => backoffDelay(3, policy, () => r));
    expect(new Set(draws).size).toBe(3);
    for (const d of draws) expect(d >= 8000 && d < 16000).toBe(true);
  });
});

describe('Supervisor', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function harness(outcomes: ('fail' | number)[]) {
    const events: SupervisorEvent[] = [];
    const closers: (() => void)[] = [];
    let calls = 0;
    const s = new Supervisor({
      backoff: policy,
      stableMs: 30_000,
      random: () => 0.5,
      nowMs: () => Date.now(),
      onEvent: (e) => events.push(e),
      connect: () => {
        const o = outcomes[calls++] ?? 'fail';
        if (o === 'fail') return Promise.reject(new Error('ECONNREFUSED'));
        let close!: (r: string) => void;
        const closed = new Promise<string>((r) => (close = r));
        closers.push(() => close('broker went away'));
        // Stays up for o ms, then the broker drops it.
        setTimeout(() => close('broker went away'), o);
        return Promise.resolve<Connection>({ closed, close: () => close('closed by the device') });
      },
    });
    const delays = () => events.filter((e) => e.type === 'retry').map((e) => (e as { delayMs: number }).delayMs);
    return { s, events, delays, calls: () => calls };
  }

  it('retries a dead broker with doubling, jittered, capped delays', async () => {
    const h = harness([]);
    h.s.start();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    const d = h.delays();
    // 46000: b = 32000 and the window is cut at maxMs, [32000, 60000).
    expect(d.slice(0, 8)).toEqual([1500, 3000, 6000, 12000, 24000, 46000, 60000, 60000]);
    expect(h.s.state).toBe('waiting');
    h.s.stop();
    const calls = h.calls();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(h.calls()).toBe(calls);
    expect(h.s.state).toBe('stopped');
  });

  it('starts again from the initial delay after a connection that stayed up', async () => {
    const h = harness(['fail', 'fail', 'fail', 60_000, 'fail']);
    h.s.start();
    await vi.advanceTimersByTimeAsync(1500 + 3000 + 6000 + 60_000 + 1);
    expect(h.events.map((e) => e.type)).toContain('connected');
    expect(h.delays()).toEqual([1500, 3000, 6000, 1500]);
    expect(h.s.connections).toBe(1);
  });

  it('keeps backing off when the broker accepts and drops at once (no reconnect storm)', async () => {
    const h = harness([10, 10, 10, 10]);
    h.s.start();
    await vi.advanceTimersByTimeAsync(1500 + 3000 + 6000 + 100);
    expect(h.delays()).toEqual([1500, 3000, 6000, 12000]);
    expect(h.s.connections).toBe(4);
  });

  it('detach() stops supervising but leaves the connection open for a clean goodbye', async () => {
    const h = harness([600_000]);
    h.s.start();
    await vi.advanceTimersByTimeAsync(10);
    const conn = h.s.detach();
    expect(conn).toBeDefined();
    expect(h.s.state).toBe('stopped');
    conn!.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.calls()).toBe(1);
    expect(h.events.map((e) => e.type)).not.toContain('retry');
  });

  it('kick() drops the connection and reconnects after a back-off', async () => {
    const h = harness([600_000, 600_000]);
    h.s.start();
    await vi.advanceTimersByTimeAsync(10);
    expect(h.s.state).toBe('connected');
    h.s.kick();
    await vi.advanceTimersByTimeAsync(1500);
    expect(h.s.connections).toBe(2);
  });
});

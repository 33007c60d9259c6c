// RFC 4861 §6.2.4 and §6.2.6 timing, with a scripted random source and clock.

import { describe, expect, it } from 'vitest';
import {
  MAX_INITIAL_RTR_ADVERT_INTERVAL_MS,
  MAX_INITIAL_RTR_ADVERTISEMENTS,
  MAX_RA_DELAY_TIME_MS,
  MIN_DELAY_BETWEEN_RAS_MS,
  RaSchedule,
} from '../../../src/net/ra-schedule.js';
import { prng, seedText, testSeed } from '../../seed.js';

const SEED = testSeed(4861);
const timing = { minIntervalSec: 200, maxIntervalSec: 600 };

describe('RaSchedule', () => {
  it('sends the first advertisement at once, the first three intervals capped at 16 s, then uniform in [min, max] (§6.2.4)', () => {
    const s = new RaSchedule(timing, () => 0.999, 1000);
    expect(s.nextAtMs).toBe(1000);
    let now = 1000;
    const intervals: number[] = [];
    for (let i = 0; i < MAX_INITIAL_RTR_ADVERTISEMENTS + 2; i++) {
      s.sent(now);
      intervals.push(s.nextAtMs - now);
      now = s.nextAtMs;
    }
    expect(intervals.slice(0, 3)).toEqual([
      MAX_INITIAL_RTR_ADVERT_INTERVAL_MS,
      MAX_INITIAL_RTR_ADVERT_INTERVAL_MS,
      MAX_INITIAL_RTR_ADVERT_INTERVAL_MS,
    ]);
    for (const i of intervals.slice(3)) expect(i).toBeGreaterThan(599_000);
  });

  it('keeps every interval within [MinRtrAdvInterval, MaxRtrAdvInterval] whatever the random draw', () => {
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const s = new RaSchedule(timing, () => r, 0);
      for (let i = 0; i < 3; i++) s.sent(0);
      s.sent(0);
      expect(s.nextAtMs).toBeGreaterThanOrEqual(200_000);
      expect(s.nextAtMs).toBeLessThanOrEqual(600_000);
    }
  });

  it('answers a solicitation within MAX_RA_DELAY_TIME (§6.2.6)', () => {
    const s = new RaSchedule(timing, () => 0.5, 0);
    s.sent(0);
    s.sent(20_000);
    s.sent(40_000);
    s.sent(60_000); // periodic now: next ≥ 260 s
    expect(s.solicited(100_000)).toBe(100_000 + 250);
    expect(s.solicited(100_000) - 100_000).toBeLessThanOrEqual(MAX_RA_DELAY_TIME_MS);
  });

  it('waits MIN_DELAY_BETWEEN_RAS after the last multicast advertisement, plus the random delay (§6.2.6)', () => {
    const s = new RaSchedule(timing, () => 0.5, 0);
    s.sent(10_000);
    expect(s.solicited(11_000)).toBe(10_000 + MIN_DELAY_BETWEEN_RAS_MS + 250);
  });

  it(`turns a flood of solicitations into one advertisement every MIN_DELAY_BETWEEN_RAS at most (${seedText(SEED)})`, () => {
    const next = prng(SEED);
    const s = new RaSchedule(timing, () => next() / 2 ** 32, 0);
    let sends = 0;
    let last = -Infinity;
    for (let now = 0; now < 60_000; now += 10) {
      if (now >= s.nextAtMs) {
        expect(now - last).toBeGreaterThanOrEqual(MIN_DELAY_BETWEEN_RAS_MS);
        last = now;
        sends++;
        s.sent(now);
      }
      s.solicited(now); // an RS every 10 ms
    }
    expect(sends).toBeLessThanOrEqual(Math.ceil(60_000 / MIN_DELAY_BETWEEN_RAS_MS));
    expect(sends).toBeGreaterThanOrEqual(15);
  });

  it('leaves an earlier due time alone', () => {
    const s = new RaSchedule(timing, () => 0.9, 0);
    expect(s.solicited(0)).toBe(0); // the first advertisement is due now anyway
  });

  it('restarts the initial burst when what is advertised changes, still MIN_DELAY_BETWEEN_RAS apart', () => {
    const s = new RaSchedule(timing, () => 0.999, 0);
    for (let t = 0; t < 4; t++) s.sent(t * 20_000);
    s.changed(61_000, { minIntervalSec: 30, maxIntervalSec: 60 });
    expect(s.nextAtMs).toBe(60_000 + MIN_DELAY_BETWEEN_RAS_MS);
    s.sent(s.nextAtMs);
    expect(s.nextAtMs - 63_000).toBe(MAX_INITIAL_RTR_ADVERT_INTERVAL_MS);
  });
});

// The bench's pure parts that decide what it compares: who runs first, which
// rates a ladder tries, the window sync counts are taken over, and what the
// kernel granted each server's sockets.

import { describe, expect, it } from 'vitest';
import { RateSearch, syncWindowMs, type SearchPlan } from '../../../src/testing/bench/ladder.js';
import { rotate, RunOrder } from '../../../src/testing/bench/order.js';
import { bufferLine, socketSummary } from '../../../src/testing/bench/report.js';
import { parseSsSkmem } from '../../../src/testing/bench/servers.js';

describe('run order', () => {
  it('rotates a list, whatever the sign or size of the shift', () => {
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotate(['a', 'b', 'c'], 5)).toEqual(['c', 'a', 'b']);
    expect(rotate(['a', 'b', 'c'], -1)).toEqual(['c', 'a', 'b']);
    expect(rotate([], 3)).toEqual([]);
  });

  it('alternates who goes first every round (ABBA over two rounds), the seed picking round 0', () => {
    const even = new RunOrder(894, ['twin6', 'kea'] as const);
    const seq = [0, 1, 2, 3].map(() => even.next('step'));
    expect(seq).toEqual([
      ['twin6', 'kea'],
      ['kea', 'twin6'],
      ['twin6', 'kea'],
      ['kea', 'twin6'],
    ]);
    const odd = new RunOrder(7, ['twin6', 'kea'] as const);
    expect(odd.next('step')).toEqual(['kea', 'twin6']);
  });

  it('gives each server the first slot equally often over any even number of rounds', () => {
    const o = new RunOrder(3, ['twin6', 'kea'] as const);
    const first = Array.from({ length: 10 }, () => o.next('x')[0]);
    expect(first.filter((s) => s === 'twin6')).toHaveLength(5);
  });

  it('drops servers that are done but still counts the round, and records every round', () => {
    const o = new RunOrder(0, ['twin6', 'kea'] as const);
    o.next('ladder na');
    expect(o.next('ladder na', ['twin6'])).toEqual(['twin6']);
    expect(o.next('latency')).toEqual(['twin6', 'kea']);
    expect(o.history.map((r) => [r.round, r.what, r.order.join(',')])).toEqual([
      [0, 'ladder na', 'twin6,kea'],
      [1, 'ladder na', 'twin6'],
      [2, 'latency', 'twin6,kea'],
    ]);
  });

  it('states its rule with the seed, for the report', () => {
    expect(new RunOrder(42, ['twin6', 'kea']).rule()).toMatch(/rotated by \(k \+ seed\) mod 2, seed 42$/);
  });
});

describe('rate search', () => {
  const FULL: SearchPlan = { startRate: 250, maxRate: 64_000, fineSteps: 8 };

  /** Runs a search against a server clean up to `limit`, failing at `flaky` rates only on the first attempt. */
  function climb(plan: SearchPlan, limit: number, flaky: readonly number[] = []): { tried: string[]; highest: number } {
    const s = new RateSearch(plan);
    const tried: string[] = [];
    for (let n = 0, step = s.next(); step; step = s.next(), n++) {
      if (n > 100) throw new Error('search does not end');
      tried.push(`${step.rate}${step.attempt > 1 ? 'r' : ''}`);
      s.record(step.rate <= limit && !(step.attempt === 1 && flaky.includes(step.rate)));
    }
    return { tried, highest: s.highestClean };
  }

  it('doubles to the first failure (tried twice), then climbs the bracket in eighths', () => {
    const r = climb(FULL, 2600);
    expect(r.tried).toEqual(['250', '500', '1000', '2000', '4000', '4000r', '2250', '2500', '2750', '2750r']);
    expect(r.highest).toBe(2500);
  });

  it('lets a retry rescue a rate that failed once', () => {
    const r = climb(FULL, 2600, [1000]);
    expect(r.tried.slice(0, 4)).toEqual(['250', '500', '1000', '1000r']);
    expect(r.highest).toBe(2500);
  });

  it('stops at the top rate when nothing fails, and reports 0 when the first rate fails twice', () => {
    expect(climb({ startRate: 250, maxRate: 1000, fineSteps: 8 }, 1e9)).toEqual({ tried: ['250', '500', '1000'], highest: 1000 });
    const none = climb({ startRate: 250, maxRate: 1000, fineSteps: 0 }, 100);
    expect(none).toEqual({ tried: ['250', '250r'], highest: 0 });
  });

  it('runs the single quick rate once when clean', () => {
    expect(climb({ startRate: 50, maxRate: 50, fineSteps: 0, quickRate: 50 }, 1e9)).toEqual({ tried: ['50'], highest: 50 });
  });

  it('refuses a result after the search ended', () => {
    const s = new RateSearch({ startRate: 50, maxRate: 50, fineSteps: 0 });
    s.record(true);
    expect(s.next()).toBeUndefined();
    expect(() => s.record(true)).toThrow();
  });
});

describe('sync window', () => {
  it('lies inside the sending period and covers most of it', () => {
    for (const seconds of [1, 2, 5, 8, 120]) {
      const w = syncWindowMs(seconds);
      expect(w.fromMs, `${seconds} s`).toBeGreaterThan(0);
      expect(w.toMs, `${seconds} s`).toBeLessThan(seconds * 1000);
      expect(w.toMs - w.fromMs, `${seconds} s`).toBeGreaterThanOrEqual(seconds * 1000 * 0.6);
    }
  });
});

describe('socket memory', () => {
  // The shape of ss -H -u -l -n -m (iproute2 6.1) with a granted 4 MiB, a queue and drops.
  const SS = [
    'UNCONN 0      0      [ff02::1:2]%lan0:547       *:*    ',
    '\t skmem:(r0,rb4194304,t0,tb212992,f4096,w0,o0,bl0,d3)',
    'UNCONN 1536   0                  [::]:547       *:*    ',
    '\t skmem:(r1536,rb425984,t0,tb212992,f0,w0,o0,bl0,d0)',
  ].join('\n');

  it('reads granted buffer, queue and drops per socket', () => {
    expect(parseSsSkmem(SS)).toEqual([
      { local: '[ff02::1:2]%lan0:547', rcvbuf: 4194304, queued: 0, drops: 3 },
      { local: '[::]:547', rcvbuf: 425984, queued: 1536, drops: 0 },
    ]);
  });

  it("reads Kea's two sockets as recorded in a lab namespace (iproute2 6.1)", () => {
    const kea =
      'UNCONN 0      0      [fe80::a40f:dbff:fe5a:a5a]%lan0:547 [::]:*\n\t skmem:(r0,rb212992,t0,tb212992,f0,w0,o56,bl0,d0)\n' +
      'UNCONN 0      0                     [ff02::1:2]%lan0:547 [::]:*\n\t skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d0) \n';
    expect(parseSsSkmem(kea)).toEqual([
      { local: '[fe80::a40f:dbff:fe5a:a5a]%lan0:547', rcvbuf: 212992, queued: 0, drops: 0 },
      { local: '[ff02::1:2]%lan0:547', rcvbuf: 212992, queued: 0, drops: 0 },
    ]);
  });

  it('reads a socket whose skmem is on the same line, and nothing from empty output', () => {
    expect(parseSsSkmem('UNCONN 0 0 [::]:547 *:* skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d7)')).toEqual([
      { local: '[::]:547', rcvbuf: 212992, queued: 0, drops: 7 },
    ]);
    expect(parseSsSkmem('')).toEqual([]);
  });

  it('summarises each server over its starts and says what capped it', () => {
    const sum = socketSummary(
      new Map([
        ['twin6', { rcvbuf: [425984, 4194304], drops: 12 }],
        ['kea', { rcvbuf: [212992], drops: 0 }],
      ]),
    );
    expect(sum).toEqual({
      twin6: { rcvbufMinBytes: 425984, rcvbufMaxBytes: 4194304, drops: 12 },
      kea: { rcvbufMinBytes: 212992, rcvbufMaxBytes: 212992, drops: 0 },
    });
    const line = bufferLine(sum, { rmemMaxBytes: 212992, rmemDefaultBytes: 212992 });
    expect(line).toContain('twin6 416–4096 KiB (12 datagrams dropped), kea 208 KiB (0 datagrams dropped)');
    expect(line).toContain('net.core.rmem_max 208 KiB');
  });
});

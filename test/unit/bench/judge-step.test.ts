// One rule for a clean ladder step, single server and pair alike (ladder.ts's judgeStep).

import { describe, expect, it } from 'vitest';
import { judgeStep } from '../../../src/testing/bench/ladder.js';
import type { ExchangeStats, PerfResult } from '../../../src/testing/bench/perfdhcp.js';

const stats = (sent: number, avgMs = 1): ExchangeStats => ({
  sent,
  received: sent,
  drops: 0,
  rejected: 0,
  orphans: 0,
  minMs: avgMs,
  avgMs,
  maxMs: avgMs,
  stdMs: 0,
});
const perf = (sent: number, failed: number): PerfResult => ({
  argv: [],
  exitCode: 0,
  achievedRate: (sent - failed) / 2,
  solicit: stats(sent),
  request: stats(sent - failed, 2),
  failed,
  failedRatio: sent > 0 ? failed / sent : 0,
});

describe('judgeStep', () => {
  it('is clean at or under 2.5% failed exchanges when perfdhcp kept its rate', () => {
    expect(judgeStep(100, 2, perf(200, 5))).toEqual({
      rate: 100,
      clean: true,
      failedRatio: 0.025,
      achievedRate: 97.5,
      solicitsSent: 200,
      repliesAccepted: 195,
      avgReplyMs: 2,
    });
    expect(judgeStep(100, 2, perf(200, 6)).clean).toBe(false);
  });

  it('is not clean when perfdhcp could not send at the rate, saying so', () => {
    const s = judgeStep(100, 2, perf(179, 0));
    expect(s.clean).toBe(false);
    expect(s.note).toBe('perfdhcp could not send at this rate');
    expect(judgeStep(100, 2, perf(180, 0)).clean).toBe(true);
  });

  it('is not clean with a problem, which names it ahead of a client limit', () => {
    const s = judgeStep(100, 2, perf(10, 0), 'server crashed');
    expect(s.clean).toBe(false);
    expect(s.note).toBe('server crashed');
  });
});

// Whole exchanges between a primary and a secondary (RFC 8156 Figures 7–9),
// alarms, and the explicit no-ops.

import { describe, expect, it } from 'vitest';
import { recoverWaitDeadlineSec, stateMessage, step, type Trigger } from '../../../src/failover/state-machine.js';
import { decodePartnerFrame, FoMsgType, serverStateRfcName, toAbsoluteTime } from '../../../src/wire/failover/index.js';
import { effectText } from '../../../src/failover/effects.js';
import { storedPart } from '../../../src/failover/state-record.js';
import { OPERATING_TICK_MAX_SEC, STARTUP_SEC_DEFAULT, type EndpointStateName } from '../../../src/failover/states.js';
import { AUTO_PD, MCLT, T, ctxOf, inState, kinds, partnerState, type RecordOverrides } from './fixtures.js';
import { Pair } from './pair.js';

const settled = (role: 'primary' | 'secondary', state: Parameters<typeof inState>[0], over: RecordOverrides = {}) =>
  inState(state, role, { stateStartSec: T - 5000, ...over, session: { connected: false, commsOk: false, request: null, ...over.session } });

describe('recovery after a server lost its storage (Figure 7, §8.5–§8.7)', () => {
  it('RECOVER → UPDREQALL → RECOVER-WAIT → MCLT → RECOVER-DONE → NORMAL; the partner goes PARTNER-DOWN → NORMAL', () => {
    const primary = storedPart(settled('primary', 'PARTNER-DOWN', { partnerDownSinceSec: T - 5000 }));
    const pair = Pair.booted(T, { primary, secondary: undefined });
    pair.nowSec = T + STARTUP_SEC_DEFAULT;
    pair.fire('primary', { kind: 'startup-timer-expired' });
    expect(pair.states()).toEqual(['PARTNER-DOWN', 'STARTUP']);

    pair.nowSec = T + 40;
    pair.connect();
    // The primary ignored the secondary's STARTUP STATE (§8.4.2); the secondary
    // has no record of the primary while the primary has one of it: UPDREQALL.
    expect(pair.effectsOf('secondary')).toContain('send-updreqall');
    expect(pair.states()).toEqual(['PARTNER-DOWN', 'RECOVER-WAIT']);
    // Down time unknown: wait from our own start (§8.6.2).
    const until = T + MCLT;
    expect(pair.records.secondary.recoverWaitUntilSec).toBe(until);
    expect(pair.log.map((l) => effectText(l.effect))).toContain(`start-timer:recover-wait@${until}`);

    pair.nowSec = until;
    pair.fire('secondary', { kind: 'recover-wait-expired' });
    pair.drain();
    expect(pair.states()).toEqual(['NORMAL', 'NORMAL']);
    expect(pair.effectsOf('primary')).toContain('resend-unacked'); // §8.8
    expect(pair.effectsOf('secondary').slice(-3)).toEqual(['send-state', 'resend-unacked', 'send-poolreq']);
    expect(pair.records.secondary.fullResyncPending).toBe(false);
  });

  it('interrupted recovery stays in RECOVER and asks again (UPDREQALL again) when comms return (§8.5.2)', () => {
    let r = settled('secondary', 'RECOVER', { communicated: false });
    r = step(r, { kind: 'connected' }, ctxOf('secondary')).record;
    const asked = step(r, partnerState('PARTNER-DOWN'), ctxOf('secondary'));
    expect(kinds(asked.effects)).toContain('send-updreqall');
    expect(asked.record.fullResyncPending).toBe(true);
    const lost = step(asked.record, { kind: 'comms-lost' }, ctxOf('secondary'));
    expect(lost.record.state).toBe('RECOVER');
    expect(lost.record.session.request).toBeNull();
    const back = step(
      step(lost.record, { kind: 'connected' }, ctxOf('secondary')).record,
      partnerState('PARTNER-DOWN'),
      ctxOf('secondary'),
    );
    expect(kinds(back.effects)).toContain('send-updreqall'); // communicated is now true, but the full resync is unfinished
  });

  it('a server with its storage asks with UPDREQ and waits MCLT from when it went down (§8.6.2)', () => {
    const r = settled('secondary', 'RECOVER', { lastOperatingSec: T - 1000 });
    const asked = step(step(r, { kind: 'connected' }, ctxOf('secondary')).record, partnerState('PARTNER-DOWN'), ctxOf('secondary'));
    expect(kinds(asked.effects)).toContain('send-updreq');
    const waiting = step(asked.record, { kind: 'upddone' }, ctxOf('secondary'));
    expect(waiting.record.state).toBe('RECOVER-WAIT');
    expect(waiting.record.recoverWaitUntilSec).toBe(T - 1000 + OPERATING_TICK_MAX_SEC + MCLT);
    expect(recoverWaitDeadlineSec(waiting.record, MCLT)).toBe(waiting.record.recoverWaitUntilSec);
  });

  it('RECOVER-WAIT keeps its timer while comms are down and moves on regardless (§8.6.2)', () => {
    const r = settled('secondary', 'RECOVER-WAIT', { recoverWaitUntilSec: T + 100 });
    const lost = step(r, { kind: 'comms-lost' }, ctxOf('secondary'));
    expect(lost.effects.map(effectText)).toEqual([]); // no cancel-timer
    expect(step(lost.record, { kind: 'recover-wait-expired' }, ctxOf('secondary', T + 99)).ignored?.reason).toBe('stale-timer');
    const done = step(lost.record, { kind: 'recover-wait-expired' }, ctxOf('secondary', T + 100));
    expect(done.record.state).toBe('RECOVER-DONE');
    expect(kinds(done.effects)).not.toContain('send-state'); // nobody to tell
  });

  it('a fresh pair that never ran failover skips the MCLT wait (§8.6.2 MAY) and reaches NORMAL', () => {
    const pair = Pair.booted(T, { primary: undefined, secondary: undefined });
    pair.nowSec = T + STARTUP_SEC_DEFAULT;
    pair.fire('primary', { kind: 'startup-timer-expired' });
    pair.fire('secondary', { kind: 'startup-timer-expired' });
    expect(pair.states()).toEqual(['RECOVER', 'RECOVER']);
    pair.connect();
    expect(pair.states()).toEqual(['NORMAL', 'NORMAL']);
    expect(pair.effectsOf('primary')).not.toContain('send-updreqall');
    expect(pair.effectsOf('secondary')).toContain('send-poolreq');
  });
});

describe('conflict resolution after a partition (Figure 9, §8.10–§8.12)', () => {
  const bothPartnerDown = () =>
    new Pair(T, {
      primary: settled('primary', 'PARTNER-DOWN', { partnerDownSinceSec: T - 5000 }),
      secondary: settled('secondary', 'PARTNER-DOWN', { partnerDownSinceSec: T - 4000 }),
    });

  it('primary UPDREQ → CONFLICT-DONE, secondary UPDREQ → NORMAL, primary → NORMAL, secondary POOLREQ', () => {
    const pair = bothPartnerDown();
    pair.connect();
    expect(pair.states()).toEqual(['NORMAL', 'NORMAL']);
    const transitions = pair.log
      .filter((l) => l.effect.kind === 'log-transition')
      .map((l) => `${l.side}:${effectText(l.effect).replace('log-transition:', '')}`);
    expect(transitions).toEqual([
      'secondary:PARTNER-DOWN->POTENTIAL-CONFLICT',
      'primary:PARTNER-DOWN->POTENTIAL-CONFLICT',
      'primary:POTENTIAL-CONFLICT->CONFLICT-DONE',
      'secondary:POTENTIAL-CONFLICT->NORMAL',
      'primary:CONFLICT-DONE->NORMAL',
    ]);
    expect(pair.effectsOf('primary').filter((k) => k === 'send-updreq')).toHaveLength(1);
    expect(pair.effectsOf('secondary').filter((k) => k === 'send-updreq')).toHaveLength(1);
    expect(pair.effectsOf('secondary')).toContain('send-poolreq');
    expect(pair.effectsOf('primary')).not.toContain('send-poolreq');
  });

  it('the secondary waits for the primary: it sends no UPDREQ on entering POTENTIAL-CONFLICT (§8.10)', () => {
    const out = step(settled('secondary', 'PARTNER-DOWN'), partnerState('PARTNER-DOWN'), ctxOf('secondary'));
    expect(out.record.state).toBe('POTENTIAL-CONFLICT');
    expect(kinds(out.effects)).not.toContain('send-updreq');
  });

  it('comms lost mid-resolution → RESOLUTION-INTERRUPTED with an alarm; back → POTENTIAL-CONFLICT, UPDREQ again', () => {
    const pair = bothPartnerDown();
    pair.linkUp = true;
    pair.fire('primary', { kind: 'connected' });
    pair.fire('primary', partnerState('PARTNER-DOWN'));
    expect(pair.records.primary.state).toBe('POTENTIAL-CONFLICT');
    const lost = step(pair.records.primary, { kind: 'comms-lost' }, ctxOf('primary'));
    expect(lost.record.state).toBe('RESOLUTION-INTERRUPTED');
    expect(lost.effects.map(effectText)).toContain('raise-alarm:resolution-interrupted');
    const back = step(
      step(lost.record, { kind: 'connected' }, ctxOf('primary')).record,
      partnerState('RESOLUTION-INTERRUPTED'),
      ctxOf('primary'),
    );
    expect(back.record.state).toBe('POTENTIAL-CONFLICT');
    expect(kinds(back.effects)).toContain('send-updreq');
  });

  it('the operator can end RESOLUTION-INTERRUPTED with partner-down (§8.11.2)', () => {
    const out = step(settled('primary', 'RESOLUTION-INTERRUPTED'), { kind: 'operator-partner-down' }, ctxOf('primary'));
    expect(out.record).toMatchObject({ state: 'PARTNER-DOWN', partnerDownSinceSec: T });
  });
});

describe('NORMAL ↔ COMMUNICATIONS-INTERRUPTED (Figure 8, §8.8–§8.9)', () => {
  it('both sides drop to COMMUNICATIONS-INTERRUPTED with an alarm and return to NORMAL', () => {
    const pair = new Pair(
      T,
      { primary: inState('NORMAL', 'primary'), secondary: inState('NORMAL', 'secondary') },
      { autoPartnerDownSec: AUTO_PD },
    );
    pair.cut();
    expect(pair.states()).toEqual(['COMMUNICATIONS-INTERRUPTED', 'COMMUNICATIONS-INTERRUPTED']);
    expect(pair.log.map((l) => effectText(l.effect))).toContain('raise-alarm:communications-interrupted');
    expect(pair.log.map((l) => effectText(l.effect))).toContain(`start-timer:auto-partner-down@${T + AUTO_PD}`);
    pair.nowSec = T + 30;
    pair.connect();
    expect(pair.states()).toEqual(['NORMAL', 'NORMAL']);
    expect(pair.effectsOf('secondary')).toContain('send-poolreq');
  });

  it('auto-partner-down fires only when due and only when configured (§8.9.2)', () => {
    const ci = step(inState('NORMAL', 'primary'), { kind: 'comms-lost' }, ctxOf('primary')).record;
    expect(step(ci, { kind: 'auto-partner-down-expired' }, ctxOf('primary', T + AUTO_PD - 1)).ignored?.reason).toBe('stale-timer');
    const off = ctxOf('primary', T + AUTO_PD, { autoPartnerDownSec: undefined });
    expect(step(ci, { kind: 'auto-partner-down-expired' }, off).ignored?.reason).toBe('not-configured');
    const pd = step(ci, { kind: 'auto-partner-down-expired' }, ctxOf('primary', T + AUTO_PD));
    expect(pd.record).toMatchObject({ state: 'PARTNER-DOWN', partnerDownSinceSec: T + AUTO_PD });
    expect(pd.effects.map(effectText)).toContain('cancel-timer:auto-partner-down');
  });

  it('no BNDREPLYs in NORMAL: COMMUNICATIONS-INTERRUPTED, the connection dropped, an alarm (§8.8.2)', () => {
    const out = step(inState('NORMAL', 'primary'), { kind: 'bndreply-stall' }, ctxOf('primary'));
    expect(out.record.state).toBe('COMMUNICATIONS-INTERRUPTED');
    expect(out.effects.map(effectText).slice(-2)).toEqual([
      'send-state:COMMUNICATIONS-INTERRUPTED',
      'drop-connection:no BNDREPLY from partner (§8.8.2)',
    ]);
    expect(out.effects.map(effectText)).toContain('raise-alarm:partner-stalled');
    expect(out.record.session.connected).toBe(false);
  });

  it('a partner that restarted from NORMAL is met in COMMUNICATIONS-INTERRUPTED, then NORMAL with a resend', () => {
    const ci = step(inState('NORMAL', 'primary'), partnerState('STARTUP'), ctxOf('primary'));
    expect(ci.record.state).toBe('COMMUNICATIONS-INTERRUPTED');
    const normal = step(ci.record, partnerState('COMMUNICATIONS-INTERRUPTED'), ctxOf('primary'));
    expect(normal.record.state).toBe('NORMAL');
    expect(kinds(normal.effects)).toContain('resend-unacked');
  });
});

describe('PARTNER-DOWN and STARTUP flags (§8.4.2)', () => {
  it('ignores a STATE with the STARTUP flag entirely: no transition, nothing recorded, no effects', () => {
    const pd = settled('primary', 'PARTNER-DOWN');
    for (const reported of ['NORMAL', 'COMMUNICATIONS-INTERRUPTED', 'PARTNER-DOWN', 'POTENTIAL-CONFLICT'] as const) {
      const out = step(pd, partnerState(reported, T - 10, { startup: true }), ctxOf('primary'));
      expect(out.ignored?.reason).toBe('partner-startup');
      expect(out.record).toBe(pd);
      expect(out.effects).toEqual([]);
    }
  });

  it('sends PARTNER_DOWN_TIME only while in PARTNER-DOWN (§6.3)', () => {
    const pd = step(
      settled('primary', 'COMMUNICATIONS-INTERRUPTED', { session: { connected: true } }),
      { kind: 'operator-partner-down' },
      ctxOf('primary'),
    );
    const sent = pd.effects.find((e) => e.kind === 'send-state');
    expect(sent).toMatchObject({ message: { state: 'PARTNER-DOWN', partnerDownTimeSec: T, startTimeOfStateSec: T } });
    const normal = step(pd.record, partnerState('RECOVER-DONE'), ctxOf('primary'));
    expect(normal.record.partnerDownSinceSec).toBeNull();
    expect(stateMessage(normal.record)).not.toHaveProperty('partnerDownTimeSec');
  });

  it('forgets the partner’s PARTNER-DOWN time when its state is no longer PARTNER-DOWN (§6.4)', () => {
    const seen = step(settled('primary', 'RECOVER-WAIT'), partnerState('PARTNER-DOWN', T - 50), ctxOf('primary'));
    expect(seen.record.partnerReportedDownSinceSec).toBe(T - 50);
    const later = step(seen.record, partnerState('NORMAL'), ctxOf('primary'));
    expect(later.record.partnerReportedDownSinceSec).toBeNull();
  });
});

describe('a site power cycle with the secondary in PARTNER-DOWN: both restart together (§6.3, §8.3, Figure 7)', () => {
  /** The primary died at T − 6000 in NORMAL; the secondary went to PARTNER-DOWN at T − 5000 and served until the cut. */
  function powerCycled(primaryLastOperatingSec: number): Pair {
    const primary = storedPart(settled('primary', 'NORMAL', { lastOperatingSec: primaryLastOperatingSec }));
    const secondary = storedPart(
      settled('secondary', 'PARTNER-DOWN', { stateStartSec: T - 5000, partnerDownSinceSec: T - 5000, lastOperatingSec: T - 10 }),
    );
    const pair = Pair.booted(T, { primary, secondary });
    pair.wire = true;
    pair.nowSec = T + 5;
    pair.connect();
    return pair;
  }
  const path = (pair: Pair, side: 'primary' | 'secondary') =>
    pair.log.flatMap((l) => (l.side === side && l.effect.kind === 'log-transition' ? [l.effect.to] : []));

  it('the STATEs sent in STARTUP cross the wire; the primary recovers, the pair ends in NORMAL', () => {
    const pair = powerCycled(T - 6000);
    const sentInStartup = pair.log.find((l) => l.side === 'secondary' && l.effect.kind === 'send-state');
    expect(sentInStartup?.effect).toMatchObject({
      message: { state: 'PARTNER-DOWN', flags: { startup: true }, startTimeOfStateSec: T - 5000, partnerDownTimeSec: T - 5000 },
    });
    expect(path(pair, 'primary')).toEqual(['RECOVER', 'RECOVER-WAIT', 'RECOVER-DONE', 'NORMAL']);
    expect(path(pair, 'secondary')).toEqual(['PARTNER-DOWN', 'NORMAL']);
    expect(pair.effectsOf('primary')).toContain('send-updreq');
    expect(pair.states()).toEqual(['NORMAL', 'NORMAL']);
  });

  it('a primary that operated after the secondary went to PARTNER-DOWN resolves conflicts instead (§8.3.2 step 5)', () => {
    const pair = powerCycled(T - 100);
    expect(path(pair, 'primary')[0]).toBe('POTENTIAL-CONFLICT');
    expect(path(pair, 'secondary')).toContain('POTENTIAL-CONFLICT');
    expect(pair.states()).toEqual(['NORMAL', 'NORMAL']);
  });
});

describe('a partner in RECOVER-WAIT, sent as §5.5.16 codes it (7)', () => {
  /** A STATE as another implementation sends it: server-state 7, COMMUNICATED, as the endpoint reads it. */
  function received(): Trigger {
    const at = toAbsoluteTime(T - 10);
    const time = [at >>> 24, (at >>> 16) & 0xff, (at >>> 8) & 0xff, at & 0xff];
    const frame = Uint8Array.from([34, 0, 0, 1, ...time, 0, 132, 0, 1, 7, 0, 131, 0, 1, 0x01, 0, 133, 0, 4, ...time]);
    const r = decodePartnerFrame(frame, T);
    if (!r.ok || r.pdu.type !== FoMsgType.STATE) throw new Error(`STATE did not decode: ${JSON.stringify(r)}`);
    const name = serverStateRfcName(r.pdu.content.serverState);
    expect(name).toBe('RECOVER-WAIT');
    return {
      kind: 'partner-state',
      state: name as EndpointStateName,
      flags: r.pdu.content.serverFlags,
      startTimeSec: r.pdu.content.startTimeOfStateSec,
    };
  }

  it('RECOVER-DONE goes to COMMUNICATIONS-INTERRUPTED (§8.7.2)', () => {
    expect(step(inState('RECOVER-DONE', 'primary'), received(), ctxOf('primary')).record.state).toBe('COMMUNICATIONS-INTERRUPTED');
  });

  it('RESOLUTION-INTERRUPTED goes to POTENTIAL-CONFLICT (§8.11.2)', () => {
    expect(step(inState('RESOLUTION-INTERRUPTED', 'secondary'), received(), ctxOf('secondary')).record.state).toBe('POTENTIAL-CONFLICT');
  });

  it('RECOVER asks it for updates (§8.5.2: "any other state")', () => {
    const out = step(inState('RECOVER', 'secondary', { session: { request: null } }), received(), ctxOf('secondary'));
    expect(out.record.state).toBe('RECOVER');
    expect(kinds(out.effects)).toContain('send-updreq');
  });
});

describe('explicit no-ops and operator commands', () => {
  it('operator partner-down in POTENTIAL-CONFLICT is refused, unless forced (then with an alarm)', () => {
    const pc = inState('POTENTIAL-CONFLICT', 'primary');
    expect(step(pc, { kind: 'operator-partner-down' }, ctxOf('primary')).ignored?.reason).toBe('not-allowed');
    const forced = step(pc, { kind: 'operator-partner-down', force: true }, ctxOf('primary'));
    expect(forced.record.state).toBe('PARTNER-DOWN');
    expect(forced.effects.map(effectText)).toContain('raise-alarm:forced-partner-down');
  });

  it('force does not override "already"', () => {
    expect(
      step(inState('PARTNER-DOWN', 'primary'), { kind: 'operator-partner-down', force: true }, ctxOf('primary')).ignored,
    ).toBeDefined();
  });

  it('UPDDONE with no request of ours outstanding is ignored (§8.5.2)', () => {
    const r = inState('RECOVER', 'primary', { session: { request: null } });
    const out = step(r, { kind: 'upddone' }, ctxOf('primary'));
    expect(out.ignored?.reason).toBe('no-request-outstanding');
    expect(out.record).toBe(r);
  });

  it('an UPDDONE for an earlier request is ignored; the current one is taken', () => {
    let r = settled('secondary', 'RECOVER', { lastOperatingSec: T - 1000 });
    r = step(r, { kind: 'connected' }, ctxOf('secondary')).record;
    const first = step(r, partnerState('PARTNER-DOWN'), ctxOf('secondary'));
    expect(first.effects.find((e) => e.kind === 'send-updreq')).toEqual({ kind: 'send-updreq', seq: 1 });
    const again = step(
      step(first.record, { kind: 'connected' }, ctxOf('secondary')).record,
      partnerState('PARTNER-DOWN'),
      ctxOf('secondary'),
    );
    expect(again.effects.find((e) => e.kind === 'send-updreq')).toEqual({ kind: 'send-updreq', seq: 2 });
    expect(step(again.record, { kind: 'upddone', seq: 1 }, ctxOf('secondary')).ignored?.reason).toBe('stale-request');
    expect(step(again.record, { kind: 'upddone', seq: 2 }, ctxOf('secondary')).record.state).toBe('RECOVER-WAIT');
  });

  it('a request does not outlive its state: RECOVER → POTENTIAL-CONFLICT drops it (§8.10.2)', () => {
    let r = settled('secondary', 'RECOVER');
    r = step(r, { kind: 'connected' }, ctxOf('secondary')).record;
    r = step(r, partnerState('PARTNER-DOWN'), ctxOf('secondary')).record;
    expect(r.session.request).toBe('UPDREQ');
    const pc = step(r, partnerState('POTENTIAL-CONFLICT'), ctxOf('secondary'));
    expect(pc.record.state).toBe('POTENTIAL-CONFLICT');
    expect(kinds(pc.effects)).not.toContain('send-updreq'); // the secondary waits for CONFLICT-DONE
    expect(step(pc.record, { kind: 'upddone' }, ctxOf('secondary')).ignored?.reason).toBe('no-request-outstanding');
  });

  it('a stalled UPDREQ drops the connection; the request is made again on reconnect (§8.5.2)', () => {
    const out = step(inState('RECOVER', 'secondary'), { kind: 'update-request-stalled' }, ctxOf('secondary'));
    expect(out.record.state).toBe('RECOVER');
    expect(kinds(out.effects)).toEqual(['raise-alarm', 'drop-connection']);
    expect(out.record.session.request).toBeNull();
  });

  it('a timer that fires after its state was left is ignored', () => {
    const normal = inState('NORMAL', 'primary');
    expect(step(normal, { kind: 'recover-wait-expired' }, ctxOf('primary')).ignored?.reason).toBe('not-in-state');
    expect(step(normal, { kind: 'startup-timer-expired' }, ctxOf('primary')).ignored?.reason).toBe('not-in-state');
  });
});

describe('time of operation (§8.3.2 step 5)', () => {
  it('ticks record it only while the endpoint serves clients', () => {
    const serving = step(inState('COMMUNICATIONS-INTERRUPTED', 'primary'), { kind: 'tick' }, ctxOf('primary', T + 60));
    expect(serving.record.lastOperatingSec).toBe(T + 60);
    expect(kinds(serving.effects)).toEqual(['persist']);
    const idle = step(inState('RECOVER-WAIT', 'primary'), { kind: 'tick' }, ctxOf('primary', T + 60));
    expect(idle.record.lastOperatingSec).toBe(T - 100);
    expect(idle.effects).toEqual([]);
  });

  it('a tick carries the time of the last partner message', () => {
    const out = step(inState('RECOVER-WAIT', 'primary'), { kind: 'tick', lastPartnerMessageSec: T - 5 }, ctxOf('primary'));
    expect(out.record.lastPartnerMessageSec).toBe(T - 5);
    expect(kinds(out.effects)).toEqual(['persist']);
  });

  it('leaving a serving state records the time', () => {
    const out = step(inState('PARTNER-DOWN', 'primary'), partnerState('NORMAL'), ctxOf('primary', T + 7));
    expect(out.record.lastOperatingSec).toBe(T + 7);
  });
});

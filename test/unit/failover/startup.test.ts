// The STARTUP algorithm, RFC 8156 §8.2 and §8.3.2 steps 1–6.

import { describe, expect, it } from 'vitest';
import { startup, stateMessage, step } from '../../../src/failover/state-machine.js';
import { effectText } from '../../../src/failover/effects.js';
import { storedPart, type StoredEndpoint } from '../../../src/failover/state-record.js';
import { ENDPOINT_STATES, OPERATING_TICK_MAX_SEC, STARTUP_SEC_DEFAULT, type EndpointStateName } from '../../../src/failover/states.js';
import { T, ctxOf, flags, inState, kinds, partnerState } from './fixtures.js';

const stored = (state: EndpointStateName, over: Partial<StoredEndpoint> = {}): StoredEndpoint =>
  storedPart({ ...inState(state, 'primary'), stateStartSec: T - 5000, ...over });

describe('STARTUP: steps 1–3 (§8.3.2)', () => {
  it('with nothing stored, PREVIOUS-STATE is RECOVER (§8.3.2 step 1)', () => {
    const out = startup(undefined, ctxOf('secondary'));
    expect(out.record).toMatchObject({ state: 'STARTUP', previousState: 'RECOVER', communicated: false, lastOperatingSec: null });
    expect(out.effects.map(effectText)).toEqual(['log-transition:-->STARTUP', 'persist', `start-timer:startup@${T + STARTUP_SEC_DEFAULT}`]);
  });

  it('a STATE sent in STARTUP carries the STARTUP flag and PREVIOUS-STATE (§8.3.1)', () => {
    const { record } = startup(stored('NORMAL'), ctxOf('primary'));
    expect(stateMessage(record)).toEqual({
      state: 'COMMUNICATIONS-INTERRUPTED',
      flags: flags({ startup: true }),
      startTimeOfStateSec: T,
    });
    const sent = step(record, { kind: 'connected' }, ctxOf('primary'));
    expect(sent.effects.map(effectText)).toEqual(['send-state:COMMUNICATIONS-INTERRUPTED+STARTUP']);
  });

  // Step 2: only NORMAL and POTENTIAL-CONFLICT have a comms-failed transition.
  const PREVIOUS: Record<EndpointStateName, EndpointStateName> = {
    STARTUP: 'RECOVER', // stored STARTUP with no previous state recorded
    NORMAL: 'COMMUNICATIONS-INTERRUPTED', // §8.8.2
    'COMMUNICATIONS-INTERRUPTED': 'COMMUNICATIONS-INTERRUPTED',
    'PARTNER-DOWN': 'PARTNER-DOWN', // §8.4: comms either
    'POTENTIAL-CONFLICT': 'RESOLUTION-INTERRUPTED', // §8.10.2
    RECOVER: 'RECOVER', // §8.5.2: stays on comms failure
    'RECOVER-WAIT': 'RECOVER-WAIT', // §8.6.2
    'RECOVER-DONE': 'RECOVER-DONE', // §8.7.2
    'RESOLUTION-INTERRUPTED': 'RESOLUTION-INTERRUPTED',
    'CONFLICT-DONE': 'CONFLICT-DONE', // §8.12.2
  };
  for (const s of ENDPOINT_STATES) {
    it(`stored ${s} gives PREVIOUS-STATE ${PREVIOUS[s]} (§8.3.2 step 2)`, () => {
      const out = startup(stored(s, { previousState: null }), ctxOf('primary'));
      expect(out.record.previousState).toBe(PREVIOUS[s]);
    });
  }

  it('a record stored in STARTUP is read through its previous state', () => {
    expect(startup(stored('STARTUP', { previousState: 'PARTNER-DOWN' }), ctxOf('primary')).record.previousState).toBe('PARTNER-DOWN');
  });

  it('a record written under the other role is discarded, with an alarm', () => {
    const out = startup(stored('NORMAL'), ctxOf('secondary'));
    expect(out.record).toMatchObject({ previousState: 'RECOVER', role: 'secondary', communicated: false });
    expect(out.effects.map(effectText)).toContain('raise-alarm:role-changed');
  });
});

describe('STARTUP: step 6, the timer', () => {
  it('expiry without comms enters PREVIOUS-STATE (§8.3.2 step 6)', () => {
    const { record } = startup(stored('NORMAL'), ctxOf('primary'));
    const out = step(record, { kind: 'startup-timer-expired' }, ctxOf('primary', T + STARTUP_SEC_DEFAULT));
    expect(out.record.state).toBe('COMMUNICATIONS-INTERRUPTED');
    expect(out.effects.map(effectText)).toEqual([
      'log-transition:STARTUP->COMMUNICATIONS-INTERRUPTED',
      'persist',
      'cancel-timer:startup',
      `start-timer:auto-partner-down@${T + STARTUP_SEC_DEFAULT + 600}`,
    ]);
  });

  it('an early firing is an explicit no-op', () => {
    const { record } = startup(stored('NORMAL'), ctxOf('primary'));
    const out = step(record, { kind: 'startup-timer-expired' }, ctxOf('primary', T + 1));
    expect(out.ignored?.reason).toBe('stale-timer');
    expect(out.record).toBe(record);
  });

  it('a never-connected server configured for commissioning goes to PARTNER-DOWN (§8.3.2 step 1)', () => {
    const ctx = ctxOf('primary', T + STARTUP_SEC_DEFAULT, { partnerDownOnStartupTimeout: true });
    const boot = ctxOf('primary', T, { partnerDownOnStartupTimeout: true });
    const fresh = step(startup(undefined, boot).record, { kind: 'startup-timer-expired' }, ctx);
    expect(fresh.record).toMatchObject({ state: 'PARTNER-DOWN', partnerDownSinceSec: T + STARTUP_SEC_DEFAULT });
    const known = step(startup(stored('NORMAL'), boot).record, { kind: 'startup-timer-expired' }, ctx);
    expect(known.record.state).toBe('COMMUNICATIONS-INTERRUPTED'); // it has talked to its partner: no
  });

  it('back in RECOVER-WAIT by the timer, the MCLT wait restarts from the recorded down time (no partner info, no skipping)', () => {
    const { record } = startup(stored('RECOVER-WAIT', { communicated: false, lastOperatingSec: T - 100 }), ctxOf('primary'));
    const out = step(record, { kind: 'startup-timer-expired' }, ctxOf('primary', T + 60));
    expect(out.record).toMatchObject({ state: 'RECOVER-WAIT', recoverWaitUntilSec: T - 100 + OPERATING_TICK_MAX_SEC + 3600 });
  });

  it('back in PARTNER-DOWN after a restart, the original PARTNER-DOWN time is kept', () => {
    const { record } = startup(stored('PARTNER-DOWN', { partnerDownSinceSec: T - 7000 }), ctxOf('primary'));
    const out = step(record, { kind: 'startup-timer-expired' }, ctxOf('primary', T + 60));
    expect(out.record).toMatchObject({ state: 'PARTNER-DOWN', partnerDownSinceSec: T - 7000, stateStartSec: T - 7000 });
    expect(stateMessage(out.record).partnerDownTimeSec).toBe(T - 7000);
  });
});

describe('STARTUP: step 5, communications OK', () => {
  const boot = (over: Partial<StoredEndpoint> = {}) => startup(stored('NORMAL', over), ctxOf('primary')).record;

  it('clears STARTUP, enters PREVIOUS-STATE and takes its comms-OK transition', () => {
    const out = step(boot(), partnerState('COMMUNICATIONS-INTERRUPTED'), ctxOf('primary', T + 2));
    expect(out.effects.filter((e) => e.kind === 'log-transition').map(effectText)).toEqual([
      'log-transition:STARTUP->COMMUNICATIONS-INTERRUPTED',
      'log-transition:COMMUNICATIONS-INTERRUPTED->NORMAL',
    ]);
    expect(out.record).toMatchObject({ state: 'NORMAL', previousState: 'STARTUP' });
    expect(kinds(out.effects)).toEqual(['log-transition', 'log-transition', 'persist', 'cancel-timer', 'send-state', 'resend-unacked']);
    expect(stateMessage(out.record).flags.startup).toBe(false);
  });

  it('partner in PARTNER-DOWN since after our last operation → RECOVER', () => {
    const out = step(boot({ lastOperatingSec: T - 1000 }), partnerState('PARTNER-DOWN', T - 500), ctxOf('primary', T + 2));
    expect(out.record.state).toBe('RECOVER');
    expect(kinds(out.effects)).toContain('send-updreq'); // §8.5.2: partner in another state → UPDREQ
  });

  it('partner in PARTNER-DOWN since before our last operation → POTENTIAL-CONFLICT', () => {
    const out = step(boot({ lastOperatingSec: T - 100 }), partnerState('PARTNER-DOWN', T - 500), ctxOf('primary', T + 2));
    expect(out.record.state).toBe('POTENTIAL-CONFLICT');
    expect(kinds(out.effects)).toContain('send-updreq'); // §8.10: the primary asks first
  });

  it('times within skew plus one tick of our last operation count as earlier (the safe side)', () => {
    const last = T - 1000;
    const edge = last + OPERATING_TICK_MAX_SEC + 5;
    expect(step(boot({ lastOperatingSec: last }), partnerState('PARTNER-DOWN', edge), ctxOf('primary', T + 2)).record.state).toBe(
      'POTENTIAL-CONFLICT',
    );
    expect(step(boot({ lastOperatingSec: last }), partnerState('PARTNER-DOWN', edge + 1), ctxOf('primary', T + 2)).record.state).toBe(
      'RECOVER',
    );
  });

  it('the earlier of start-time-of-state and PARTNER_DOWN_TIME is compared', () => {
    const t = { ...partnerState('PARTNER-DOWN', T - 10), partnerDownTimeSec: T - 900 } as const;
    expect(step(boot({ lastOperatingSec: T - 500 }), t, ctxOf('primary', T + 2)).record.state).toBe('POTENTIAL-CONFLICT');
  });

  it('with no recorded operation at all, a partner in PARTNER-DOWN means RECOVER', () => {
    const { record } = startup(undefined, ctxOf('secondary'));
    const out = step(record, partnerState('PARTNER-DOWN', T - 500), ctxOf('secondary', T + 2));
    expect(out.record.state).toBe('RECOVER');
    expect(kinds(out.effects)).toContain('send-updreqall'); // lost storage, partner has COMMUNICATED (§8.5.2)
  });

  it('a partner itself in STARTUP with PREVIOUS-STATE PARTNER-DOWN counts as in PARTNER-DOWN (it goes back there, §8.4.2)', () => {
    const restarting = partnerState('PARTNER-DOWN', T - 500, { startup: true });
    expect(step(boot({ lastOperatingSec: T - 100 }), restarting, ctxOf('primary', T + 2)).record.state).toBe('POTENTIAL-CONFLICT');
    expect(step(boot({ lastOperatingSec: T - 1000 }), restarting, ctxOf('primary', T + 2)).record.state).toBe('RECOVER');
  });

  it('comms OK after the timer already fired is an ordinary comms-OK transition', () => {
    const ctx = ctxOf('primary', T + STARTUP_SEC_DEFAULT);
    const ci = step(boot(), { kind: 'startup-timer-expired' }, ctx).record;
    expect(step(ci, partnerState('PARTNER-DOWN', T - 500), ctx).record.state).toBe('POTENTIAL-CONFLICT'); // §8.9.2, no exception
  });
});

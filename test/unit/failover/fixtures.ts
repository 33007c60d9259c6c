// Records and triggers for the failover state machine tests. Built by hand
// (not through step()) so every state can be set up directly.

import { NO_FLAGS, freshSession, type EndpointRecord, type EndpointSession, type ServerFlags } from '../../../src/failover/state-record.js';
import type { StepContext, Trigger } from '../../../src/failover/state-machine.js';
import type { EndpointStateName, Role } from '../../../src/failover/states.js';

/** "Now" in the tests: a wall-clock Unix second in 2027. */
export const T = 1_800_000_000;
export const MCLT = 3600;
export const AUTO_PD = 600;

export const ctxOf = (role: Role, nowSec = T, over: Partial<StepContext> = {}): StepContext => ({
  role,
  nowSec,
  mcltSec: MCLT,
  autoPartnerDownSec: AUTO_PD,
  ...over,
});

/** States in which the fixture is connected with comms OK (the rest start with comms down). */
const CONNECTED: ReadonlySet<EndpointStateName> = new Set(['NORMAL', 'POTENTIAL-CONFLICT', 'CONFLICT-DONE', 'RECOVER']);

/**
 * A record in `state` as the matrix wants it: timers due, an UPDREQ outstanding
 * in RECOVER and POTENTIAL-CONFLICT, STARTUP with PREVIOUS-STATE
 * COMMUNICATIONS-INTERRUPTED, last time of operation 100 s ago.
 */
export type RecordOverrides = Partial<Omit<EndpointRecord, 'session'>> & { session?: Partial<EndpointSession> };

export function inState(state: EndpointStateName, role: Role, over: RecordOverrides = {}): EndpointRecord {
  const connected = CONNECTED.has(state);
  return {
    version: 1,
    role,
    state,
    previousState: state === 'STARTUP' ? 'COMMUNICATIONS-INTERRUPTED' : null,
    stateStartSec: T - 100_000,
    partnerState: null,
    partnerStateStartSec: null,
    partnerFlags: { ...NO_FLAGS, communicated: true },
    partnerReportedDownSinceSec: null,
    lastPartnerMessageSec: T - 1000,
    partnerDownSinceSec: state === 'PARTNER-DOWN' ? T - 100_000 : null,
    communicated: true,
    lastOperatingSec: T - 100,
    fullResyncPending: false,
    recoverWaitUntilSec: state === 'RECOVER-WAIT' ? T - 1 : null,
    ...withoutSession(over),
    session: {
      ...freshSession(T - 200_000),
      connected,
      commsOk: connected,
      communicatedAtConnect: true,
      partnerCommunicatedAtConnect: true,
      request: state === 'RECOVER' || state === 'POTENTIAL-CONFLICT' ? 'UPDREQ' : null,
      ...over.session,
    },
  };
}

export const flags = (over: Partial<ServerFlags> = {}): ServerFlags => ({ ...NO_FLAGS, communicated: true, ...over });

/** A STATE from the partner; 'STARTUP' means a STATE with the STARTUP flag reporting COMMUNICATIONS-INTERRUPTED. */
export function partnerState(state: EndpointStateName, startTimeSec = T - 10, f: Partial<ServerFlags> = {}): Trigger {
  const startup = state === 'STARTUP' || f.startup === true;
  return {
    kind: 'partner-state',
    state: state === 'STARTUP' ? 'COMMUNICATIONS-INTERRUPTED' : state,
    flags: flags({ ...f, startup }),
    startTimeSec,
    ...(state === 'PARTNER-DOWN' ? { partnerDownTimeSec: startTimeSec } : {}),
  };
}

export function triggerFor(key: string): Trigger {
  if (key.startsWith('partner:')) return partnerState(key.slice('partner:'.length) as EndpointStateName);
  return { kind: key } as Trigger;
}

export const kinds = (effects: readonly { kind: string }[]): string[] => effects.map((e) => e.kind);

function withoutSession(over: RecordOverrides): Partial<Omit<EndpointRecord, 'session'>> {
  const { session: _session, ...rest } = over;
  return rest;
}

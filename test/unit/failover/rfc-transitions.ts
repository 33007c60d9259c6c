// The expected outcome of every (state, trigger) pair, transcribed by hand
// from RFC 8156 §8.3–§8.12 as digested in docs/protocol.md §1.13 ("text of
// §8.4–§8.12 is authoritative over the Figure 6 diagram"). Written
// independently of src/failover/transitions.ts: the matrix test compares the
// two, cell by cell.
//
// Value: the state the endpoint ends in, 'stay' (trigger accepted, no state
// change) or 'ignored' (the trigger cannot act in this state: an explicit
// no-op with a reason). Where one trigger chains (NORMAL's "unexpected partner
// state → COMMUNICATIONS-INTERRUPTED, then follow its rules", STARTUP's
// "CURRENT := PREVIOUS, then take the comms-OK transition") the final state is
// given.
//
// Conventions of the fixture the matrix runs on (fixtures.ts): STARTUP has
// PREVIOUS-STATE = COMMUNICATIONS-INTERRUPTED and a last time of operation
// well before the partner's PARTNER-DOWN start; timers are due; RECOVER and
// POTENTIAL-CONFLICT have an UPDREQ outstanding; auto-partner-down is on.
//
// Decisions where the text is silent (kept few; each says why):
//  D1 A partner STATE with the STARTUP flag reports PREVIOUS-STATE, not a state
//     the partner is in (§8.3.1); no section lists "partner in STARTUP", so it
//     causes no transition — except in NORMAL, where a partner that restarted
//     is not the state "expected from NORMAL" (§8.8.2) and PARTNER-DOWN, which
//     ignores it outright (§8.4.2).
//  D2 (withdrawn: the draft's SHUTDOWN state is not in the RFC; §5.5.16 gives
//     its code 7 to RECOVER-WAIT.)
//  D3 COMMUNICATIONS-INTERRUPTED with a partner in RECOVER-WAIT stays (the
//     text lists RECOVER only; Figure 6 shows both, and PARTNER-DOWN stays for
//     both, §8.4.2).
//  D4 NORMAL's expected partner states: NORMAL; COMMUNICATIONS-INTERRUPTED
//     and RECOVER-DONE (partners about to follow us into NORMAL, §8.9.2,
//     §8.7.2); CONFLICT-DONE on the secondary only (§8.12.2).
//  D5 DISCONNECT closes the connection (§5.3.10): outside NORMAL (where §8.8.2
//     names it) it acts as "communications failed".
//  D6 An operator partner-down command is accepted where §8.8.2, §8.9.2 and
//     §8.11.2 say; elsewhere it is ignored unless forced (tested apart).
//  D7 update-request-stalled (§8.5.2 "connection SHOULD be dropped") also
//     applies to the primary's UPDREQ in POTENTIAL-CONFLICT.

import { RFC8156_STATES } from '../rfc/rfc8156-states.js';

export type Expect = string; // an endpoint state name, 'stay' or 'ignored'
export type Cell = { readonly expect: Expect | { readonly primary: Expect; readonly secondary: Expect }; readonly section: string };

export const STATES = RFC8156_STATES;

export const PLAIN = [
  'connected',
  'comms-lost',
  'disconnect',
  'bndreply-stall',
  'operator-partner-down',
  'startup-timer-expired',
  'auto-partner-down-expired',
  'recover-wait-expired',
  'upddone',
  'update-request-stalled',
  'tick',
] as const;

const c = (expect: Cell['expect'], section: string): Cell => ({ expect, section });
const CI = 'COMMUNICATIONS-INTERRUPTED';
const PC = 'POTENTIAL-CONFLICT';
const PD = 'PARTNER-DOWN';
const RI = 'RESOLUTION-INTERRUPTED';

/** What every state does unless its section says otherwise. */
function base(): Record<string, Cell> {
  return {
    connected: c('stay', '§6.1: send STATE'),
    tick: c('stay', '§8.3.2'),
    'bndreply-stall': c('ignored', '§8.8.2 NORMAL only'),
    'operator-partner-down': c('ignored', 'D6'),
    'startup-timer-expired': c('ignored', '§8.3.2 STARTUP only'),
    'auto-partner-down-expired': c('ignored', '§8.9.2 COMMUNICATIONS-INTERRUPTED only'),
    'recover-wait-expired': c('ignored', '§8.6.2 RECOVER-WAIT only'),
    upddone: c('ignored', '§8.5.2 §8.10.2'),
    'update-request-stalled': c('ignored', '§8.5.2'),
  };
}

function partner(cells: Record<string, Cell>): Record<string, Cell> {
  const out: Record<string, Cell> = {};
  for (const [s, cell] of Object.entries(cells)) out[`partner:${s}`] = cell;
  return out;
}

export const RFC_TABLE: Record<string, Record<string, Cell>> = {
  STARTUP: {
    ...base(),
    'comms-lost': c('stay', '§8.3.2 step 5 (wait)'),
    disconnect: c('stay', '§8.3.2 step 5 (wait)'),
    'startup-timer-expired': c(CI, '§8.3.2 step 6: PREVIOUS-STATE'),
    ...partner({
      // step 5: CURRENT := PREVIOUS (CI), then CI's comms-OK rule (§8.9.2).
      STARTUP: c(CI, '§8.3.2 step 5, D1'),
      NORMAL: c('NORMAL', '§8.3.2 step 5 + §8.9.2'),
      [CI]: c('NORMAL', '§8.3.2 step 5 + §8.9.2'),
      [PD]: c('RECOVER', '§8.3.2 step 5: partner went down after we last operated'),
      [PC]: c(PC, '§8.3.2 step 5 + §8.9.2'),
      RECOVER: c(CI, '§8.3.2 step 5 + §8.9.2'),
      'RECOVER-WAIT': c(CI, '§8.3.2 step 5 + D3'),
      'RECOVER-DONE': c('NORMAL', '§8.3.2 step 5 + §8.9.2'),
      [RI]: c(PC, '§8.3.2 step 5 + §8.9.2'),
      'CONFLICT-DONE': c(PC, '§8.3.2 step 5 + §8.9.2'),
    }),
  },
  NORMAL: {
    ...base(),
    'comms-lost': c(CI, '§8.8.2'),
    disconnect: c(CI, '§8.8.2'),
    'bndreply-stall': c(CI, '§8.8.2 (MAY)'),
    'operator-partner-down': c(PD, '§8.8.2'),
    ...partner({
      NORMAL: c('stay', '§8.8'),
      [CI]: c('stay', 'D4'),
      'RECOVER-DONE': c('stay', 'D4'),
      'CONFLICT-DONE': c({ primary: PC, secondary: 'stay' }, 'D4; primary: unexpected → CI → §8.9.2'),
      STARTUP: c(CI, '§8.8.2 unexpected, D1'),
      [PD]: c(PC, '§8.8.2 unexpected → CI → §8.9.2'),
      [PC]: c(PC, '§8.8.2 example → CI → §8.9.2'),
      RECOVER: c(CI, '§8.8.2 unexpected → CI stays (§8.9.2)'),
      'RECOVER-WAIT': c(CI, '§8.8.2 unexpected → CI stays (D3)'),
      [RI]: c(PC, '§8.8.2 unexpected → CI → §8.9.2'),
    }),
  },
  [CI]: {
    ...base(),
    'comms-lost': c('stay', '§8.9'),
    disconnect: c('stay', '§8.9, D5'),
    'operator-partner-down': c(PD, '§8.9.2'),
    'auto-partner-down-expired': c(PD, '§8.9.2'),
    ...partner({
      NORMAL: c('NORMAL', '§8.9.2'),
      [CI]: c('NORMAL', '§8.9.2'),
      RECOVER: c('stay', '§8.9.2'),
      'RECOVER-WAIT': c('stay', 'D3'),
      'RECOVER-DONE': c('NORMAL', '§8.9.2'),
      [PD]: c(PC, '§8.9.2'),
      [PC]: c(PC, '§8.9.2'),
      'CONFLICT-DONE': c(PC, '§8.9.2'),
      [RI]: c(PC, '§8.9.2'),
      STARTUP: c('stay', 'D1'),
    }),
  },
  [PD]: {
    ...base(),
    'comms-lost': c('stay', '§8.4'),
    disconnect: c('stay', '§8.4, D5'),
    'operator-partner-down': c('ignored', 'already PARTNER-DOWN'),
    ...partner({
      STARTUP: c('ignored', '§8.4.2 ignores STATE with STARTUP'),
      NORMAL: c(PC, '§8.4.2'),
      [CI]: c(PC, '§8.4.2'),
      [PD]: c(PC, '§8.4.2'),
      [PC]: c(PC, '§8.4.2'),
      [RI]: c(PC, '§8.4.2'),
      'CONFLICT-DONE': c(PC, '§8.4.2'),
      RECOVER: c('stay', '§8.4.2'),
      'RECOVER-WAIT': c('stay', '§8.4.2'),
      'RECOVER-DONE': c('NORMAL', '§8.4.2'),
    }),
  },
  [PC]: {
    ...base(),
    'comms-lost': c(RI, '§8.10.2'),
    disconnect: c(RI, '§8.10.2, D5'),
    upddone: c({ primary: 'CONFLICT-DONE', secondary: 'NORMAL' }, '§8.10.2'),
    'update-request-stalled': c('stay', 'D7 (drops the connection)'),
    ...partner(Object.fromEntries(STATES.map((s) => [s, c('stay', '§8.10.2 (secondary sends UPDREQ on CONFLICT-DONE)')]))),
  },
  RECOVER: {
    ...base(),
    'comms-lost': c('stay', '§8.5.2'),
    disconnect: c('stay', '§8.5.2, D5'),
    upddone: c('RECOVER-WAIT', '§8.5.2'),
    'update-request-stalled': c('stay', '§8.5.2 (drops the connection)'),
    ...partner({
      [PC]: c(PC, '§8.5.2'),
      [RI]: c(PC, '§8.5.2'),
      'CONFLICT-DONE': c(PC, '§8.5.2'),
      NORMAL: c('stay', '§8.5.2 (UPDREQ)'),
      [CI]: c('stay', '§8.5.2 (UPDREQ)'),
      [PD]: c('stay', '§8.5.2 (UPDREQ)'),
      RECOVER: c('stay', '§8.5.2 (UPDREQ)'),
      'RECOVER-WAIT': c('stay', '§8.5.2 (UPDREQ)'),
      'RECOVER-DONE': c('stay', '§8.5.2 (UPDREQ)'),
      STARTUP: c('stay', 'D1'),
    }),
  },
  'RECOVER-WAIT': {
    ...base(),
    'comms-lost': c('stay', '§8.6.2'),
    disconnect: c('stay', '§8.6.2, D5'),
    'recover-wait-expired': c('RECOVER-DONE', '§8.6.2'),
    ...partner(Object.fromEntries(STATES.map((s) => [s, c('stay', '§8.6.2 (timer only)')]))),
  },
  'RECOVER-DONE': {
    ...base(),
    'comms-lost': c('stay', '§8.7.2'),
    disconnect: c('stay', '§8.7.2, D5'),
    ...partner({
      NORMAL: c('NORMAL', '§8.7.2'),
      'RECOVER-DONE': c('NORMAL', '§8.7.2'),
      RECOVER: c(CI, '§8.7.2'),
      'RECOVER-WAIT': c(CI, '§8.7.2'),
      [PC]: c(PC, '§8.7.2'),
      STARTUP: c('stay', 'D1'),
      [CI]: c('stay', '§8.7.2 (partner follows)'),
      [PD]: c('stay', '§8.7.2 (partner follows)'),
      [RI]: c('stay', '§8.7.2'),
      'CONFLICT-DONE': c('stay', '§8.7.2'),
    }),
  },
  [RI]: {
    ...base(),
    'comms-lost': c('stay', '§8.11'),
    disconnect: c('stay', '§8.11, D5'),
    'operator-partner-down': c(PD, '§8.11.2'),
    ...partner({
      ...Object.fromEntries(STATES.map((s) => [s, c(PC, '§8.11.2 comms restored')])),
      STARTUP: c('stay', 'D1'),
    }),
  },
  'CONFLICT-DONE': {
    ...base(),
    'comms-lost': c('stay', '§8.12.2'),
    disconnect: c('stay', '§8.12.2, D5'),
    ...partner({
      ...Object.fromEntries(STATES.map((s) => [s, c('stay', '§8.12.1')])),
      NORMAL: c('NORMAL', '§8.12.2'),
    }),
  },
};

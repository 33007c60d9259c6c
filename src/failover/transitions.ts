// RFC 8156 §8 transitions as data: one rule for every (state, trigger) pair,
// each citing the section it comes from. The text of §8.3–§8.12 is
// authoritative over the Figure 6 diagram (§8.1). state-machine.ts interprets
// the rules; guards that depend on time or on an outstanding request (stale
// timers, UPDDONE without a request) are checked there, before the rule.

import { ENDPOINT_STATES, type EndpointStateName } from './states.js';

/** Triggers that carry no partner state. */
export const PLAIN_TRIGGERS = [
  'connected', // CONNECT/CONNECTREPLY accepted (§6.1): send our STATE
  'comms-lost', // keepalive expiry or connection loss (§6.6)
  'disconnect', // DISCONNECT received (§5.3.10, §8.8.2)
  'bndreply-stall', // no BNDREPLYs for an implementation-defined time (§8.8.2, MAY)
  'operator-partner-down', // external command: the partner is down (§8.8.2, §8.9.2, §8.11.2)
  'startup-timer-expired', // §8.3.2 step 6
  'auto-partner-down-expired', // §8.9.2
  'recover-wait-expired', // §8.6.2
  'upddone', // UPDDONE for the UPDREQ/UPDREQALL we sent (§8.5.2, §8.10.2)
  'update-request-stalled', // no UPDDONE and no BNDUPDs for a while (§8.5.2)
  'tick', // periodic: record the time of operation (§8.3.2 step 5)
] as const;
export type PlainTrigger = (typeof PLAIN_TRIGGERS)[number];

/**
 * A received STATE keys the table by the partner's state. A STATE with the
 * STARTUP flag keys as `partner:STARTUP` whatever its state option says: that
 * option then holds the partner's PREVIOUS-STATE, not a state it is in (§8.3.1).
 */
export type PartnerKey = `partner:${EndpointStateName}`;
export type TriggerKey = PlainTrigger | PartnerKey;
export const TRIGGER_KEYS: readonly TriggerKey[] = [...PLAIN_TRIGGERS, ...ENDPOINT_STATES.map((s): PartnerKey => `partner:${s}`)];

export type IgnoreReason =
  | 'not-in-state' // the trigger has no meaning in this state
  | 'not-allowed' // operator partner-down outside the states that accept it (force overrides)
  | 'already-in-state'
  | 'partner-startup' // §8.4.2: PARTNER-DOWN ignores STATE with the STARTUP flag
  | 'stale-timer' // a timer event that is not due for the current episode of the state
  | 'not-configured' // auto-partner-down expiry while auto-partner-down is off
  | 'no-request-outstanding' // UPDDONE or stall without an UPDREQ/UPDREQALL of ours
  | 'stale-request'; // UPDDONE for an earlier request than the one outstanding

/** What to do besides (or instead of) changing state. */
export type RuleAction = 'send-state' | 'request-update' | 'drop-connection';

export type Rule =
  | { readonly kind: 'go'; readonly to: EndpointStateName; readonly cite: string; readonly action?: RuleAction }
  | { readonly kind: 'stay'; readonly cite: string; readonly action?: RuleAction }
  | { readonly kind: 'ignore'; readonly reason: IgnoreReason; readonly cite: string }
  /** §8.8.2: partner in a state not expected from NORMAL — go to COMMUNICATIONS-INTERRUPTED and apply its rule. */
  | { readonly kind: 'via-comms-interrupted'; readonly cite: string }
  /** §8.3.2 step 5 (comms OK) or step 6 (timer). */
  | { readonly kind: 'startup'; readonly step: 'comms-ok' | 'timeout'; readonly cite: string }
  | { readonly kind: 'by-role'; readonly primary: Rule; readonly secondary: Rule };

const go = (to: EndpointStateName, cite: string, action?: RuleAction): Rule =>
  action ? { kind: 'go', to, cite, action } : { kind: 'go', to, cite };
const stay = (cite: string, action?: RuleAction): Rule => (action ? { kind: 'stay', cite, action } : { kind: 'stay', cite });
const ignore = (reason: IgnoreReason, cite: string): Rule => ({ kind: 'ignore', reason, cite });
const unexpected: Rule = { kind: 'via-comms-interrupted', cite: '§8.8.2' };
const byRole = (primary: Rule, secondary: Rule): Rule => ({ kind: 'by-role', primary, secondary });

type Row = Readonly<Record<TriggerKey, Rule>>;

/** Where a plain trigger is meaningful, for the citation of its "not-in-state" rows. */
const HOME: Readonly<Record<PlainTrigger, string>> = {
  connected: '§6.1',
  'comms-lost': '§8.1',
  disconnect: '§8.8.2',
  'bndreply-stall': '§8.8.2',
  'operator-partner-down': '§8.8.2 §8.9.2 §8.11.2',
  'startup-timer-expired': '§8.3.2',
  'auto-partner-down-expired': '§8.9.2',
  'recover-wait-expired': '§8.6.2',
  upddone: '§8.5.2 §8.10.2',
  'update-request-stalled': '§8.5.2',
  tick: '§8.3.2',
};

/** Defaults every state starts from; each state overrides what its section says. */
function row(plain: Partial<Record<PlainTrigger, Rule>>, partner: Partial<Record<EndpointStateName, Rule>>, partnerRest: Rule): Row {
  const out: Partial<Record<TriggerKey, Rule>> = {};
  for (const t of PLAIN_TRIGGERS) out[t] = ignore('not-in-state', HOME[t]);
  out.connected = stay('§6.1', 'send-state'); // the next message after CONNECT/CONNECTREPLY is STATE
  out.tick = stay('§8.3.2');
  out['operator-partner-down'] = ignore('not-allowed', HOME['operator-partner-down']);
  Object.assign(out, plain);
  for (const s of ENDPOINT_STATES) out[`partner:${s}`] = partner[s] ?? partnerRest;
  return out as Row;
}

const commsKept = (cite: string): Partial<Record<PlainTrigger, Rule>> => ({
  'comms-lost': stay(cite),
  disconnect: stay(cite),
});

export const TRANSITIONS: Readonly<Record<EndpointStateName, Row>> = {
  // §8.3: any partner STATE (even one with the STARTUP flag) makes comms OK.
  STARTUP: row(
    {
      ...commsKept('§8.3.2 step 5'),
      'startup-timer-expired': { kind: 'startup', step: 'timeout', cite: '§8.3.2 step 6' },
    },
    {},
    { kind: 'startup', step: 'comms-ok', cite: '§8.3.2 step 5' },
  ),

  NORMAL: row(
    {
      'comms-lost': go('COMMUNICATIONS-INTERRUPTED', '§8.8.2'),
      disconnect: go('COMMUNICATIONS-INTERRUPTED', '§8.8.2'),
      'bndreply-stall': go('COMMUNICATIONS-INTERRUPTED', '§8.8.2', 'drop-connection'),
      'operator-partner-down': go('PARTNER-DOWN', '§8.8.2'),
    },
    {
      NORMAL: stay('§8.8'),
      // A partner on its way to NORMAL: it follows us (§8.9.2, §8.7.2, §8.12.2).
      'COMMUNICATIONS-INTERRUPTED': stay('§8.9.2'),
      'RECOVER-DONE': stay('§8.7.2'),
      'CONFLICT-DONE': byRole(unexpected, stay('§8.12.2')),
    },
    unexpected,
  ),

  'COMMUNICATIONS-INTERRUPTED': row(
    {
      ...commsKept('§8.9'),
      'operator-partner-down': go('PARTNER-DOWN', '§8.9.2'),
      'auto-partner-down-expired': go('PARTNER-DOWN', '§8.9.2'),
    },
    {
      NORMAL: go('NORMAL', '§8.9.2'),
      'COMMUNICATIONS-INTERRUPTED': go('NORMAL', '§8.9.2'),
      RECOVER: stay('§8.9.2'),
      'RECOVER-WAIT': stay('§8.9.2 (Figure 6)'),
      'RECOVER-DONE': go('NORMAL', '§8.9.2'),
      'PARTNER-DOWN': go('POTENTIAL-CONFLICT', '§8.9.2'),
      'POTENTIAL-CONFLICT': go('POTENTIAL-CONFLICT', '§8.9.2'),
      'CONFLICT-DONE': go('POTENTIAL-CONFLICT', '§8.9.2'),
      'RESOLUTION-INTERRUPTED': go('POTENTIAL-CONFLICT', '§8.9.2'),
    },
    stay('§8.9.2'),
  ), // partner in STARTUP: no row

  'PARTNER-DOWN': row(
    {
      ...commsKept('§8.4'),
      'operator-partner-down': ignore('already-in-state', '§8.4'),
    },
    {
      STARTUP: ignore('partner-startup', '§8.4.2'),
      NORMAL: go('POTENTIAL-CONFLICT', '§8.4.2'),
      'COMMUNICATIONS-INTERRUPTED': go('POTENTIAL-CONFLICT', '§8.4.2'),
      'PARTNER-DOWN': go('POTENTIAL-CONFLICT', '§8.4.2'),
      'POTENTIAL-CONFLICT': go('POTENTIAL-CONFLICT', '§8.4.2'),
      'RESOLUTION-INTERRUPTED': go('POTENTIAL-CONFLICT', '§8.4.2'),
      'CONFLICT-DONE': go('POTENTIAL-CONFLICT', '§8.4.2'),
      RECOVER: stay('§8.4.2'),
      'RECOVER-WAIT': stay('§8.4.2'),
      'RECOVER-DONE': go('NORMAL', '§8.4.2'),
    },
    stay('§8.4.2'),
  ),

  'POTENTIAL-CONFLICT': row(
    {
      'comms-lost': go('RESOLUTION-INTERRUPTED', '§8.10.2'),
      disconnect: go('RESOLUTION-INTERRUPTED', '§8.10.2'),
      upddone: byRole(go('CONFLICT-DONE', '§8.10.2'), go('NORMAL', '§8.10.2')),
      'update-request-stalled': stay('§8.5.2 (by analogy)', 'drop-connection'),
    },
    {
      // The secondary asks for the primary's updates once the primary is CONFLICT-DONE.
      'CONFLICT-DONE': byRole(stay('§8.10.2'), stay('§8.10.2', 'request-update')),
    },
    stay('§8.10.2'),
  ),

  RECOVER: row(
    {
      ...commsKept('§8.5.2'),
      upddone: go('RECOVER-WAIT', '§8.5.2'),
      'update-request-stalled': stay('§8.5.2', 'drop-connection'),
    },
    {
      'POTENTIAL-CONFLICT': go('POTENTIAL-CONFLICT', '§8.5.2'),
      'RESOLUTION-INTERRUPTED': go('POTENTIAL-CONFLICT', '§8.5.2'),
      'CONFLICT-DONE': go('POTENTIAL-CONFLICT', '§8.5.2'),
      STARTUP: stay('§8.5.2'), // wait for the partner's real state
    },
    stay('§8.5.2', 'request-update'),
  ),

  'RECOVER-WAIT': row(
    {
      ...commsKept('§8.6.2'),
      'recover-wait-expired': go('RECOVER-DONE', '§8.6.2'),
    },
    {},
    stay('§8.6.2'),
  ),

  'RECOVER-DONE': row(
    commsKept('§8.7.2'),
    {
      NORMAL: go('NORMAL', '§8.7.2'),
      'RECOVER-DONE': go('NORMAL', '§8.7.2'),
      RECOVER: go('COMMUNICATIONS-INTERRUPTED', '§8.7.2'),
      'RECOVER-WAIT': go('COMMUNICATIONS-INTERRUPTED', '§8.7.2'),
      'POTENTIAL-CONFLICT': go('POTENTIAL-CONFLICT', '§8.7.2'),
    },
    stay('§8.7.2'),
  ),

  'RESOLUTION-INTERRUPTED': row(
    {
      ...commsKept('§8.11'),
      'operator-partner-down': go('PARTNER-DOWN', '§8.11.2'),
    },
    {
      STARTUP: stay('§8.11.2'), // wait for the partner's real state
    },
    go('POTENTIAL-CONFLICT', '§8.11.2'),
  ),

  'CONFLICT-DONE': row(
    commsKept('§8.12.2'),
    {
      NORMAL: go('NORMAL', '§8.12.2'),
    },
    stay('§8.12.2'),
  ),
};

export function ruleFor(state: EndpointStateName, key: TriggerKey, role: 'primary' | 'secondary'): Rule {
  let rule = TRANSITIONS[state][key];
  while (rule.kind === 'by-role') rule = rule[role];
  return rule;
}

// RFC 8156 §8 endpoint state machine: pure and deterministic. startup() runs
// the STARTUP algorithm's first steps (§8.3.2 steps 1–3) on a stored record;
// step() takes one trigger and returns the next record and the effects, as
// data. The rules live in transitions.ts; this file checks guards, records
// what a trigger tells us, follows chained rules and adds entry/exit effects.
//
// Time: StepContext.nowSec and every *Sec value are wall-clock seconds since
// the Unix epoch (the caller reads the clock once per trigger). Timer effects
// carry an absolute deadline on that clock; the caller may run them on a
// monotonic timer for (atSec - nowSec) seconds.

import assert from 'node:assert/strict';
import type { AlarmReason, Effect, StateMessage, TimerName } from './effects.js';
import { isServing } from './responsiveness.js';
import {
  freshSession,
  NO_FLAGS,
  sameStored,
  type EndpointRecord,
  type ServerFlags,
  type StoredEndpoint,
  type UpdateRequestKind,
} from './state-record.js';
import {
  COMMS_FAILED_SUCCESSOR,
  OPERATING_TICK_MAX_SEC,
  SKEW_TOLERANCE_SEC,
  STARTUP_SEC_DEFAULT,
  type EndpointStateName,
  type Role,
} from './states.js';
import { ruleFor, type IgnoreReason, type Rule, type RuleAction, type TriggerKey } from './transitions.js';

export interface StepContext {
  readonly role: Role;
  /** Wall clock, Unix seconds. */
  readonly nowSec: number;
  /** Maximum client lead time (§4.4); on the secondary, the value the primary sent in CONNECT. */
  readonly mcltSec: number;
  /** Auto-partner-down period (§8.9); undefined = off. */
  readonly autoPartnerDownSec?: number;
  /** STARTUP timer (§8.3.2 step 3); default STARTUP_SEC_DEFAULT. */
  readonly startupSec?: number;
  /** §8.3.2 step 1: a server that has never talked to its partner goes to PARTNER-DOWN when the startup timer expires. */
  readonly partnerDownOnStartupTimeout?: boolean;
}

export type Trigger =
  | { readonly kind: 'connected' }
  | { readonly kind: 'comms-lost'; readonly cause?: string }
  | { readonly kind: 'disconnect' }
  | {
      readonly kind: 'partner-state';
      readonly state: EndpointStateName;
      readonly flags: ServerFlags;
      readonly startTimeSec: number;
      readonly partnerDownTimeSec?: number;
    }
  | { readonly kind: 'bndreply-stall' }
  /** force: the caller (an operator who said "--force") allows it in states the RFC does not list. */
  | { readonly kind: 'operator-partner-down'; readonly force?: boolean }
  | { readonly kind: 'startup-timer-expired' }
  | { readonly kind: 'auto-partner-down-expired' }
  | { readonly kind: 'recover-wait-expired' }
  /** seq: the number of the request it answers (from the send effect); omit if the caller matched it already. */
  | { readonly kind: 'upddone'; readonly seq?: number }
  | { readonly kind: 'update-request-stalled' }
  | { readonly kind: 'tick'; readonly lastPartnerMessageSec?: number };

export interface StepResult {
  readonly record: EndpointRecord;
  readonly effects: readonly Effect[];
  /** Set when the trigger changed nothing: the record returned is the one given. */
  readonly ignored?: { readonly reason: IgnoreReason; readonly detail: string };
}

/** Longest chain of transitions one trigger can cause (e.g. STARTUP → RECOVER-WAIT → RECOVER-DONE). */
const HOPS_MAX = 4;

export function triggerKey(t: Trigger): TriggerKey {
  if (t.kind !== 'partner-state') return t.kind;
  return `partner:${t.flags.startup || t.state === 'STARTUP' ? 'STARTUP' : t.state}`;
}

/** The partner's state as the rules see it: STARTUP while its STATE carries the STARTUP flag. */
export const partnerEffectiveState = (r: StoredEndpoint): EndpointStateName | null =>
  r.partnerState !== null && r.partnerFlags.startup ? 'STARTUP' : r.partnerState;

/** §8.3.2 steps 1–3. stored: the decoded record, or undefined if none (or unreadable). */
export function startup(stored: StoredEndpoint | undefined, ctx: StepContext): StepResult {
  checkContext(ctx);
  const alarms: Effect[] = [];
  let base = stored;
  if (base && base.role !== ctx.role) {
    alarms.push(alarm('role-changed', `record written as ${base.role}, now ${ctx.role}: starting as if none was stored`));
    base = undefined;
  }
  // Step 1: last recorded state, or RECOVER when there is none.
  let recorded: EndpointStateName = base?.state ?? 'RECOVER';
  if (recorded === 'STARTUP') recorded = base?.previousState ?? 'RECOVER';
  if (recorded === 'STARTUP') recorded = 'RECOVER';
  // Step 2: a comms-OK state is replaced by its comms-failed successor.
  const previous = COMMS_FAILED_SUCCESSOR[recorded] ?? recorded;
  const record: EndpointRecord = {
    version: 1,
    role: ctx.role,
    state: 'STARTUP',
    previousState: previous,
    stateStartSec: ctx.nowSec,
    partnerState: base?.partnerState ?? null,
    partnerStateStartSec: base?.partnerStateStartSec ?? null,
    partnerFlags: base?.partnerFlags ?? NO_FLAGS,
    partnerReportedDownSinceSec: base?.partnerReportedDownSinceSec ?? null,
    lastPartnerMessageSec: base?.lastPartnerMessageSec ?? null,
    partnerDownSinceSec: previous === 'PARTNER-DOWN' ? (base?.partnerDownSinceSec ?? null) : null,
    communicated: base?.communicated ?? false,
    lastOperatingSec: base?.lastOperatingSec ?? null,
    fullResyncPending: base?.fullResyncPending ?? false,
    recoverWaitUntilSec: null,
    session: freshSession(ctx.nowSec),
  };
  const cause = `boot, PREVIOUS-STATE ${previous} (§8.3.2 steps 1-2)`;
  return {
    record,
    effects: [
      { kind: 'log-transition', from: stored?.state ?? null, to: 'STARTUP', partnerState: partnerEffectiveState(record), cause },
      { kind: 'persist' },
      ...alarms,
      // Step 3.
      { kind: 'start-timer', timer: 'startup', atSec: ctx.nowSec + (ctx.startupSec ?? STARTUP_SEC_DEFAULT) },
    ],
  };
}

export function step(r: EndpointRecord, t: Trigger, ctx: StepContext): StepResult {
  checkContext(ctx);
  assert.equal(r.role, ctx.role, 'record role differs from context role');
  const key = triggerKey(t);
  let rule = ruleFor(r.state, key, ctx.role);
  let forced = false;
  if (rule.kind === 'ignore') {
    if (t.kind !== 'operator-partner-down' || !t.force || rule.reason !== 'not-allowed') {
      return ignored(r, rule.reason, `${r.state} + ${key} (${rule.cite})`);
    }
    rule = { kind: 'go', to: 'PARTNER-DOWN', cite: 'operator, forced' };
    forced = true;
  }
  const refused = guard(r, t, ctx);
  if (refused) return ignored(r, refused.reason, refused.detail);
  const seen = observe(r, t, ctx);
  const plan = resolve(seen, t, key, rule, ctx);
  return apply(r, seen, plan, t, ctx, forced);
}

/**
 * The STATE message for the current record (§6.3, §8.3.1). In STARTUP it
 * reports PREVIOUS-STATE; when that is PARTNER-DOWN, with the time we went
 * there as both start time and partner-down time, so the partner's §8.3.2
 * step 5 compares its last operation with that, not with our boot.
 */
export function stateMessage(r: StoredEndpoint): StateMessage {
  const inStartup = r.state === 'STARTUP';
  const state = inStartup ? (r.previousState ?? 'RECOVER') : r.state;
  const downSinceSec = state === 'PARTNER-DOWN' ? r.partnerDownSinceSec : null;
  const message: StateMessage = {
    state,
    flags: { startup: inStartup, communicated: r.communicated, ackStartup: r.partnerFlags.startup },
    startTimeOfStateSec: inStartup ? (downSinceSec ?? r.stateStartSec) : r.stateStartSec,
  };
  return downSinceSec !== null ? { ...message, partnerDownTimeSec: downSinceSec } : message;
}

/**
 * §8.6.2: (time the server went down, if known, else the time it started) + MCLT.
 * "Went down" is read from the last recorded time of operation plus one tick.
 */
export function recoverWaitDeadlineSec(r: EndpointRecord, mcltSec: number): number {
  const wentDownSec = r.lastOperatingSec === null ? r.session.bootSec : r.lastOperatingSec + OPERATING_TICK_MAX_SEC;
  return wentDownSec + mcltSec;
}

// ---- the steps of step() ----

function checkContext(ctx: StepContext): void {
  assert(Number.isFinite(ctx.nowSec) && ctx.nowSec >= 0, 'nowSec');
  assert(Number.isFinite(ctx.mcltSec) && ctx.mcltSec > 0, 'mcltSec');
  assert(ctx.autoPartnerDownSec === undefined || ctx.autoPartnerDownSec > 0, 'autoPartnerDownSec');
  assert(ctx.startupSec === undefined || ctx.startupSec > 0, 'startupSec');
}

function ignored(r: EndpointRecord, reason: IgnoreReason, detail: string): StepResult {
  return { record: r, effects: [], ignored: { reason, detail } };
}

/** Timer events must be due for the current episode of the state; UPDDONE needs our request. */
function guard(r: EndpointRecord, t: Trigger, ctx: StepContext): { reason: IgnoreReason; detail: string } | undefined {
  const early = (dueSec: number) =>
    ctx.nowSec < dueSec ? { reason: 'stale-timer' as const, detail: `${t.kind} at ${ctx.nowSec}, due at ${dueSec}` } : undefined;
  switch (t.kind) {
    case 'startup-timer-expired':
      return early(r.stateStartSec + (ctx.startupSec ?? STARTUP_SEC_DEFAULT));
    case 'auto-partner-down-expired':
      if (ctx.autoPartnerDownSec === undefined) return { reason: 'not-configured', detail: 'auto-partner-down is off (§8.9)' };
      return early(r.stateStartSec + ctx.autoPartnerDownSec);
    case 'recover-wait-expired':
      return early(r.recoverWaitUntilSec ?? Number.POSITIVE_INFINITY);
    case 'upddone':
    case 'update-request-stalled':
      if (r.session.request === null) return { reason: 'no-request-outstanding', detail: `${t.kind} in ${r.state}` };
      if (t.kind === 'upddone' && t.seq !== undefined && t.seq !== r.session.requestSeq) {
        return { reason: 'stale-request', detail: `UPDDONE for request ${t.seq}, outstanding ${r.session.requestSeq}` };
      }
      return undefined;
    default:
      return undefined;
  }
}

/** Record what the trigger tells us, before any transition (§6.4 for STATE). */
function observe(r: EndpointRecord, t: Trigger, ctx: StepContext): EndpointRecord {
  const s = r.session;
  switch (t.kind) {
    case 'connected':
      return { ...r, session: { ...s, connected: true, commsOk: false, request: null } };
    case 'comms-lost':
    case 'disconnect':
      return { ...r, session: { ...s, connected: false, commsOk: false, request: null } };
    case 'partner-state': {
      const first = !s.commsOk;
      const inPartnerDown = t.state === 'PARTNER-DOWN' && !t.flags.startup;
      return {
        ...r,
        partnerState: t.state,
        partnerStateStartSec: t.startTimeSec,
        partnerFlags: { ...t.flags },
        partnerReportedDownSinceSec: inPartnerDown ? (t.partnerDownTimeSec ?? t.startTimeSec) : null,
        lastPartnerMessageSec: ctx.nowSec,
        communicated: true,
        session: {
          ...s,
          connected: true,
          commsOk: true,
          communicatedAtConnect: first ? r.communicated : s.communicatedAtConnect,
          partnerCommunicatedAtConnect: first ? t.flags.communicated : s.partnerCommunicatedAtConnect,
        },
      };
    }
    case 'upddone':
      return {
        ...r,
        fullResyncPending: s.request === 'UPDREQALL' ? false : r.fullResyncPending,
        session: { ...s, request: null },
      };
    case 'update-request-stalled':
      return { ...r, session: { ...s, request: null } };
    case 'tick': {
      const heard = t.lastPartnerMessageSec;
      const later = heard !== undefined && (r.lastPartnerMessageSec === null || heard > r.lastPartnerMessageSec);
      return {
        ...r,
        lastOperatingSec: isServing(r.state, r.role) ? ctx.nowSec : r.lastOperatingSec,
        lastPartnerMessageSec: later ? heard : r.lastPartnerMessageSec,
      };
    }
    default:
      return r;
  }
}

interface Hop {
  readonly to: EndpointStateName;
  readonly cite: string;
}
interface Plan {
  readonly hops: readonly Hop[];
  readonly action: RuleAction | undefined;
}

/** Follow the rule, and the rules it chains into, to the final state. */
function resolve(r: EndpointRecord, t: Trigger, key: TriggerKey, first: Rule, ctx: StepContext): Plan {
  const hops: Hop[] = [];
  let action: RuleAction | undefined;
  let rule: Rule | undefined = first;
  while (rule) {
    assert(hops.length < HOPS_MAX, 'transition chain too long');
    const next: Rule = rule;
    rule = undefined;
    switch (next.kind) {
      case 'go':
        hops.push({ to: next.to, cite: next.cite });
        action = next.action;
        break;
      case 'stay':
        action = next.action;
        break;
      case 'ignore': // reached through a chain (e.g. STARTUP → PARTNER-DOWN, partner still in STARTUP): stay there
      case 'by-role': // ruleFor() resolves roles
        break;
      case 'via-comms-interrupted':
        hops.push({ to: 'COMMUNICATIONS-INTERRUPTED', cite: next.cite });
        rule = ruleFor('COMMUNICATIONS-INTERRUPTED', key, ctx.role);
        break;
      case 'startup': {
        const to = next.step === 'timeout' ? startupTimeoutState(r, ctx) : startupCurrentState(r, t);
        hops.push({ to, cite: next.cite });
        if (next.step === 'comms-ok') rule = ruleFor(to, key, ctx.role); // "then take the comms OK transition"
        break;
      }
    }
  }
  // §8.6.2: the RECOVER-WAIT timer may be due at entry, and a server that never
  // ran failover (judged with the partner's COMMUNICATED flag) need not wait.
  if (hops.at(-1)?.to === 'RECOVER-WAIT') {
    const s = r.session; // the partner's flag is only known once its STATE arrived
    const neverRan = s.commsOk && !s.communicatedAtConnect && !s.partnerCommunicatedAtConnect && !r.fullResyncPending;
    if (neverRan) hops.push({ to: 'RECOVER-DONE', cite: '§8.6.2 (never ran failover)' });
    else if (recoverWaitDeadlineSec(r, ctx.mcltSec) <= ctx.nowSec) hops.push({ to: 'RECOVER-DONE', cite: '§8.6.2' });
  }
  return { hops, action };
}

/** §8.3.2 step 6. */
function startupTimeoutState(r: EndpointRecord, ctx: StepContext): EndpointStateName {
  if (ctx.partnerDownOnStartupTimeout && !r.communicated) return 'PARTNER-DOWN';
  return r.previousState ?? 'RECOVER';
}

/**
 * §8.3.2 step 5: CURRENT-STATE := PREVIOUS-STATE, except when the partner is in
 * PARTNER-DOWN: RECOVER if it went there after we last operated, else
 * POTENTIAL-CONFLICT. Equal times (±5 s, plus one tick of uncertainty about our
 * own last operation) count as "earlier": the conflict path is the safe one.
 */
function startupCurrentState(r: EndpointRecord, t: Trigger): EndpointStateName {
  const previous = r.previousState ?? 'RECOVER';
  // A partner in STARTUP whose PREVIOUS-STATE is PARTNER-DOWN counts as in PARTNER-DOWN: it
  // goes back there and, as §8.4.2 has it, ignores our STARTUP STATE until we have chosen.
  if (t.kind !== 'partner-state' || t.state !== 'PARTNER-DOWN') return previous;
  const partnerDownSec = Math.min(t.startTimeSec, t.partnerDownTimeSec ?? t.startTimeSec);
  if (r.lastOperatingSec === null) return 'RECOVER';
  return partnerDownSec > r.lastOperatingSec + OPERATING_TICK_MAX_SEC + SKEW_TOLERANCE_SEC ? 'RECOVER' : 'POTENTIAL-CONFLICT';
}

const TIMER_OF: Partial<Record<EndpointStateName, TimerName>> = {
  STARTUP: 'startup',
  'COMMUNICATIONS-INTERRUPTED': 'auto-partner-down',
  'RECOVER-WAIT': 'recover-wait',
};

function alarm(reason: AlarmReason, detail: string): Effect {
  return { kind: 'raise-alarm', reason, detail };
}

function apply(r0: EndpointRecord, seen: EndpointRecord, plan: Plan, t: Trigger, ctx: StepContext, forced: boolean): StepResult {
  const { hops, action } = plan;
  const final = hops.at(-1)?.to ?? r0.state;
  const logs: Effect[] = [];
  const alarms: Effect[] = [];
  const timers: Effect[] = [];
  const sends: Effect[] = [];
  let next = seen;

  if (hops.length > 0) {
    const cause = t.kind === 'comms-lost' && t.cause ? `comms-lost:${t.cause}` : triggerKey(t);
    let from = r0.state;
    for (const hop of hops) {
      logs.push({ kind: 'log-transition', from, to: hop.to, partnerState: partnerEffectiveState(seen), cause: `${cause} (${hop.cite})` });
      if (from === 'NORMAL' && hop.to === 'COMMUNICATIONS-INTERRUPTED') alarms.push(alarm('communications-interrupted', `${cause} (§8.9)`));
      if (hop.to === 'RESOLUTION-INTERRUPTED') alarms.push(alarm('resolution-interrupted', `${cause} (§8.11)`));
      from = hop.to;
    }
    if (forced) alarms.push(alarm('forced-partner-down', `operator forced PARTNER-DOWN from ${r0.state}`));
    next = enter(seen, r0, final, hops, ctx);
    const exitTimer = TIMER_OF[r0.state];
    if (exitTimer && (exitTimer !== 'auto-partner-down' || ctx.autoPartnerDownSec !== undefined)) {
      timers.push({ kind: 'cancel-timer', timer: exitTimer });
    }
    if (final === 'COMMUNICATIONS-INTERRUPTED' && ctx.autoPartnerDownSec !== undefined) {
      timers.push({ kind: 'start-timer', timer: 'auto-partner-down', atSec: next.stateStartSec + ctx.autoPartnerDownSec });
    }
    if (final === 'RECOVER-WAIT' && next.recoverWaitUntilSec !== null) {
      timers.push({ kind: 'start-timer', timer: 'recover-wait', atSec: next.recoverWaitUntilSec });
    }
  }

  if (next.session.connected && (hops.length > 0 || action === 'send-state')) {
    sends.push({ kind: 'send-state', message: stateMessage(next) });
  }
  // §8.5.2 / §8.10: requests for updates.
  const enteredConflict = hops.length > 0 && final === 'POTENTIAL-CONFLICT';
  const partnerDone = partnerEffectiveState(next) === 'CONFLICT-DONE';
  if (action === 'request-update' || (enteredConflict && (ctx.role === 'primary' || partnerDone))) {
    const asked = requestUpdates(next);
    next = asked.record;
    sends.push(...asked.effects);
  }
  // §8.8: entering NORMAL.
  if (hops.length > 0 && final === 'NORMAL' && next.session.connected) {
    sends.push({ kind: 'resend-unacked' });
    if (ctx.role === 'secondary') sends.push({ kind: 'send-poolreq' });
  }
  if (action === 'drop-connection') {
    const why = t.kind === 'bndreply-stall' ? 'no BNDREPLY from partner (§8.8.2)' : 'no UPDDONE and no BNDUPD (§8.5.2)';
    alarms.push(alarm('partner-stalled', why));
    sends.push({ kind: 'drop-connection', reason: why });
    next = { ...next, session: { ...next.session, connected: false, commsOk: false, request: null } };
  }
  const persist: Effect[] = sameStored(r0, next) ? [] : [{ kind: 'persist' }];
  return { record: next, effects: [...logs, ...persist, ...timers, ...alarms, ...sends] };
}

/** The record after entering `final` (§8.1: state, partner's state and entry time are recorded). */
function enter(seen: EndpointRecord, r0: EndpointRecord, final: EndpointStateName, hops: readonly Hop[], ctx: StepContext): EndpointRecord {
  const now = ctx.nowSec;
  const served = [r0.state, ...hops.map((h) => h.to)].some((s) => isServing(s, ctx.role));
  // Back in PARTNER-DOWN after a restart: keep the original entry time, so the
  // partner's STARTUP check (§8.3.2 step 5) and our MCLT clocks (§8.4.1) stay conservative.
  const resumed = r0.state === 'STARTUP' && r0.previousState === 'PARTNER-DOWN' ? r0.partnerDownSinceSec : null;
  const partnerDownSinceSec = final === 'PARTNER-DOWN' ? (resumed ?? now) : null;
  const base: EndpointRecord = {
    ...seen,
    state: final,
    previousState: r0.state,
    stateStartSec: partnerDownSinceSec ?? now,
    partnerDownSinceSec,
    lastOperatingSec: served ? now : seen.lastOperatingSec,
    recoverWaitUntilSec: null,
    // A request belongs to the state that sent it: its UPDDONE means nothing in
    // the next one (a secondary moving RECOVER → POTENTIAL-CONFLICT must wait
    // for the primary's CONFLICT-DONE before asking again, §8.10.2).
    session: { ...seen.session, request: null },
  };
  return final === 'RECOVER-WAIT' ? { ...base, recoverWaitUntilSec: recoverWaitDeadlineSec(base, ctx.mcltSec) } : base;
}

/**
 * UPDREQALL when we have no record of ever talking to the partner while it has
 * one of talking to us, i.e. our storage was lost (§8.5.2) — and keep asking
 * for everything until that request's UPDDONE. UPDREQ otherwise, and always
 * in POTENTIAL-CONFLICT (§8.10).
 */
function requestUpdates(r: EndpointRecord): { record: EndpointRecord; effects: Effect[] } {
  const s = r.session;
  if (!s.connected || s.request !== null) return { record: r, effects: [] };
  const lostStorage = r.fullResyncPending || (!s.communicatedAtConnect && s.partnerCommunicatedAtConnect);
  const kind: UpdateRequestKind = r.state === 'RECOVER' && lostStorage ? 'UPDREQALL' : 'UPDREQ';
  const seq = s.requestSeq + 1;
  return {
    record: { ...r, fullResyncPending: r.fullResyncPending || kind === 'UPDREQALL', session: { ...s, request: kind, requestSeq: seq } },
    effects: [{ kind: kind === 'UPDREQALL' ? 'send-updreqall' : 'send-updreq', seq }],
  };
}

// What the state machine asks the rest of the failover layer to do, as data.
// The machine carries nothing out itself (no I/O, no timers): the lead's
// endpoint runs these in order. Times are wall-clock Unix seconds.

import type { LogCode } from '../log/codes.js';
import type { EndpointStateName } from './states.js';
import type { ServerFlags } from './state-record.js';

/** The content of a STATE message (§6.3); the codec turns it into options 131–133 and 125. */
export interface StateMessage {
  /** While in STARTUP: PREVIOUS-STATE, with flags.startup set (§8.3.1). */
  readonly state: EndpointStateName;
  readonly flags: ServerFlags;
  readonly startTimeOfStateSec: number;
  /** In PARTNER-DOWN (§6.3), and in STARTUP when PREVIOUS-STATE is PARTNER-DOWN. */
  readonly partnerDownTimeSec?: number;
}

export type TimerName = 'startup' | 'auto-partner-down' | 'recover-wait';

export type AlarmReason =
  | 'communications-interrupted' // §8.9: entered from NORMAL (SHOULD)
  | 'resolution-interrupted' // §8.11 (SHOULD)
  | 'forced-partner-down' // operator forced PARTNER-DOWN outside §8.8.2/§8.9.2/§8.11.2
  | 'partner-stalled' // NORMAL without BNDREPLYs (§8.8.2) or an update request without UPDDONE (§8.5.2)
  | 'role-changed'; // stored record written under the other role: history discarded

/** The code each alarm is logged with (docs/log-codes.md): an operator alerts on the alarm, not on the word "alarm". */
export const ALARM_CODE: { readonly [R in AlarmReason]: LogCode } = {
  'communications-interrupted': 'FAILOVER_COMMUNICATIONS_INTERRUPTED',
  'resolution-interrupted': 'FAILOVER_RESOLUTION_INTERRUPTED',
  'forced-partner-down': 'FAILOVER_FORCED_PARTNER_DOWN',
  'partner-stalled': 'FAILOVER_PARTNER_STALLED',
  'role-changed': 'FAILOVER_ROLE_CHANGED',
};

export type Effect =
  /** Write storedPart(record) to stable storage before anything below is sent (§8.1, §6.3). */
  | { readonly kind: 'persist' }
  | {
      readonly kind: 'log-transition';
      readonly from: EndpointStateName | null;
      readonly to: EndpointStateName;
      readonly partnerState: EndpointStateName | null;
      readonly cause: string;
    }
  | { readonly kind: 'cancel-timer'; readonly timer: TimerName }
  /** Fire the matching trigger at atSec (absolute, wall clock); an early or stale firing is ignored. */
  | { readonly kind: 'start-timer'; readonly timer: TimerName; readonly atSec: number }
  | { readonly kind: 'raise-alarm'; readonly reason: AlarmReason; readonly detail: string }
  | { readonly kind: 'send-state'; readonly message: StateMessage }
  /**
   * §8.5.2 / §8.10: ask the partner for updates. The partner's UPDDONE carries
   * the request's xid; the caller maps it back to seq and passes it in 'upddone'.
   */
  | { readonly kind: 'send-updreq'; readonly seq: number }
  | { readonly kind: 'send-updreqall'; readonly seq: number }
  /** §8.8: entering NORMAL, first send every binding update the partner has not acked… */
  | { readonly kind: 'resend-unacked' }
  /** …then, on the secondary, ask for delegable prefixes (§8.8, §4.2.2). */
  | { readonly kind: 'send-poolreq' }
  | { readonly kind: 'drop-connection'; readonly reason: string };

/** One line per effect, e.g. "start-timer:recover-wait@1700003600", for logs and test names. */
export function effectText(e: Effect): string {
  switch (e.kind) {
    case 'log-transition':
      return `log-transition:${e.from ?? '-'}->${e.to}`;
    case 'cancel-timer':
      return `cancel-timer:${e.timer}`;
    case 'start-timer':
      return `start-timer:${e.timer}@${e.atSec}`;
    case 'raise-alarm':
      return `raise-alarm:${e.reason}`;
    case 'send-state':
      return `send-state:${e.message.state}${e.message.flags.startup ? '+STARTUP' : ''}`;
    case 'drop-connection':
      return `drop-connection:${e.reason}`;
    default:
      return e.kind;
  }
}

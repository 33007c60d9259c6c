// What an endpoint may do for clients in each state: the part of RFC 8156 §8
// (table in docs/protocol.md §1.13) the lead's FailoverPolicy is built from. Pure
// data; no time, no leases. Message type numbers are RFC 8415 §7.3.

import { MsgType } from '../wire/constants.js';
import type { EndpointStateName, Role } from './states.js';

/** RFC 8156 §3 glossary. */
export type Answers = 'responsive' | 'renew-responsive' | 'unresponsive';

/**
 * Where new leases may come from.
 *   none        — renewals only, nothing new (NORMAL secondary, RECOVER-DONE).
 *   own-pool    — primary: FREE prefixes and addresses with bit 127 = 1;
 *                 secondary: FREE-BACKUP prefixes and addresses with bit 127 = 0 (§4.2).
 *   own-pool-then-partner-prefixes — PARTNER-DOWN (§8.4.1): own pool first, and
 *                 the partner's available delegable prefixes only after
 *                 PARTNER-DOWN entry + MCLT (see partnerPoolUsableFromSec).
 *                 The partner's independent-allocation addresses SHOULD NOT be
 *                 used; twin6 never uses them.
 */
export type Allocation = 'none' | 'own-pool' | 'own-pool-then-partner-prefixes';

/**
 * Which MCLT cap bounds a valid lifetime (§3, §4.4):
 *   acked    — max(ackedPartnerLifetime, now) + MCLT: every state that answers
 *              clients but PARTNER-DOWN (§8.7.1, §8.8.1, §8.9.1, §8.11.1, §8.12.1)
 *   uncapped — PARTNER-DOWN (§8.4.1)
 */
export type LifetimeCap = 'acked' | 'uncapped';

export interface Service {
  readonly answers: Answers;
  /** RECOVER-DONE (§8.7.1): answer only Renew, only for leases already on record, and change only the leases named in it. */
  readonly renewOnlyKnownLeases: boolean;
  readonly allocate: Allocation;
  /** undefined when the endpoint answers nobody. */
  readonly lifetimeCap: LifetimeCap | undefined;
  readonly section: string;
}

const none = (section: string): Service => ({
  answers: 'unresponsive',
  renewOnlyKnownLeases: false,
  allocate: 'none',
  lifetimeCap: undefined,
  section,
});
const serving = (answers: Answers, allocate: Allocation, lifetimeCap: LifetimeCap, section: string): Service => ({
  answers,
  renewOnlyKnownLeases: false,
  allocate,
  lifetimeCap,
  section,
});

const TABLE: Readonly<Record<EndpointStateName, Readonly<Record<Role, Service>>>> = {
  STARTUP: both(none('§8.3.1')),
  NORMAL: {
    primary: serving('responsive', 'own-pool', 'acked', '§8.8.1'),
    secondary: serving('renew-responsive', 'none', 'acked', '§8.8.1'),
  },
  'COMMUNICATIONS-INTERRUPTED': both(serving('responsive', 'own-pool', 'acked', '§8.9.1')),
  'PARTNER-DOWN': both(serving('responsive', 'own-pool-then-partner-prefixes', 'uncapped', '§8.4.1')),
  'POTENTIAL-CONFLICT': both(none('§8.10.1')),
  RECOVER: both(none('§8.5.1')),
  'RECOVER-WAIT': both(none('§8.6.1')),
  'RECOVER-DONE': both({
    answers: 'renew-responsive',
    renewOnlyKnownLeases: true,
    allocate: 'none',
    lifetimeCap: 'acked',
    section: '§8.7.1',
  }),
  // "SHOULD allocate from its own pool (if that can be determined)": with
  // independent allocation and FREE/FREE-BACKUP labels it always can.
  'RESOLUTION-INTERRUPTED': both(serving('responsive', 'own-pool', 'acked', '§8.11.1')),
  // CONFLICT-DONE exists only on the primary (§8.12); a secondary never enters it,
  // so a secondary that somehow holds it serves nobody rather than guess.
  'CONFLICT-DONE': {
    primary: serving('responsive', 'own-pool', 'acked', '§8.12.1'),
    secondary: none('§8.12'),
  },
};

function both(s: Service): Record<Role, Service> {
  return { primary: s, secondary: s };
}

export function responsiveness(state: EndpointStateName, role: Role): Service {
  return TABLE[state][role];
}

/** Whether the endpoint serves clients at all in this state (used for "time of operation", §8.3.2). */
export const isServing = (state: EndpointStateName, role: Role): boolean => TABLE[state][role].answers !== 'unresponsive';

// RFC 8156 §3: a renew-responsive server answers only messages that carry its
// own Server Identifier, so never Solicit, Rebind or Confirm (RFC 8415 §16
// forbids a Server Identifier in those).
const NEVER_ADDRESSED: ReadonlySet<number> = new Set([MsgType.SOLICIT, MsgType.REBIND, MsgType.CONFIRM]);

/**
 * Whether a client message may be answered. addressedToUs: the message carries
 * our Server Identifier. Knowing the lease (RECOVER-DONE) is checked by the
 * engine against its bindings, not here.
 */
export function mayAnswer(service: Service, msgType: number, addressedToUs: boolean): boolean {
  switch (service.answers) {
    case 'responsive':
      return true;
    case 'unresponsive':
      return false;
    case 'renew-responsive':
      if (!addressedToUs || NEVER_ADDRESSED.has(msgType)) return false;
      return service.renewOnlyKnownLeases ? msgType === MsgType.RENEW : true;
  }
}

/**
 * §8.4.1: the partner's available delegable prefixes become usable MCLT after
 * entry into PARTNER-DOWN (and only after our own pool is exhausted — the
 * engine's search, told by FailoverPolicy.lastResort). undefined when not in
 * PARTNER-DOWN.
 */
export function partnerPoolUsableFromSec(
  r: { readonly state: EndpointStateName; readonly partnerDownSinceSec: number | null },
  mcltSec: number,
): number | undefined {
  if (r.state !== 'PARTNER-DOWN' || r.partnerDownSinceSec === null) return undefined;
  return r.partnerDownSinceSec + mcltSec;
}

/**
 * The same facts in the shape of policy.ts's ServiceLevel (kept structural, so
 * neither file imports the other). RECOVER-DONE's "Renew only, known leases
 * only" has no field there: it maps to own-server-id + allocate none.
 */
export interface ServiceLevelShape {
  readonly answer: 'all' | 'own-server-id' | 'none';
  readonly allocate: 'own' | 'partner-too' | 'none';
  readonly mcltCap: boolean;
}

export function serviceLevel(state: EndpointStateName, role: Role): ServiceLevelShape {
  const s = responsiveness(state, role);
  return {
    answer: s.answers === 'responsive' ? 'all' : s.answers === 'renew-responsive' ? 'own-server-id' : 'none',
    allocate: s.allocate === 'own-pool' ? 'own' : s.allocate === 'own-pool-then-partner-prefixes' ? 'partner-too' : 'none',
    mcltCap: s.lifetimeCap !== 'uncapped',
  };
}

/**
 * Whether this partner is the one on the link that hosts route through: it
 * holds the routes for the delegations and advertises itself as default
 * router (issue #8). Not a column of RFC 8156 — routing is not DHCP service —
 * so it is its own rule: the partner that answers everyone leads, and when
 * both may (communications interrupted, PARTNER-DOWN, resolution interrupted)
 * both do, since the other may be dead. In the passing states (STARTUP, the
 * RECOVER states, POTENTIAL-CONFLICT) it stays as it was (undefined):
 * withdrawing routes while the pair sorts out its databases would cut the
 * delegated networks off for no reason.
 */
export function leadsLink(state: EndpointStateName, role: Role): boolean | undefined {
  switch (state) {
    case 'NORMAL':
    case 'CONFLICT-DONE':
      return role === 'primary';
    case 'COMMUNICATIONS-INTERRUPTED':
    case 'PARTNER-DOWN':
    case 'RESOLUTION-INTERRUPTED':
      return true;
    default:
      return undefined;
  }
}

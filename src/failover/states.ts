// RFC 8156 §8 failover endpoint states as names. The wire codes (§5.5.16,
// OPTION_F_SERVER_STATE) are the codec's business (src/wire/failover/); this
// layer only ever sees the names.

export const ENDPOINT_STATES = [
  'STARTUP',
  'NORMAL',
  'COMMUNICATIONS-INTERRUPTED',
  'PARTNER-DOWN',
  'POTENTIAL-CONFLICT',
  'RECOVER',
  'RECOVER-WAIT',
  'RECOVER-DONE',
  'RESOLUTION-INTERRUPTED',
  'CONFLICT-DONE',
] as const;

export type EndpointStateName = (typeof ENDPOINT_STATES)[number];

export type Role = 'primary' | 'secondary';
export const ROLES: readonly Role[] = ['primary', 'secondary'];

export const isEndpointStateName = (v: unknown): v is EndpointStateName =>
  typeof v === 'string' && (ENDPOINT_STATES as readonly string[]).includes(v);

/**
 * §8.3.2 step 2: a state that exists only while communications are OK is
 * replaced, at startup, by the state its "communications failed" transition
 * leads to. Only two states have such a transition:
 *   NORMAL → COMMUNICATIONS-INTERRUPTED (§8.8.2),
 *   POTENTIAL-CONFLICT → RESOLUTION-INTERRUPTED (§8.10.2).
 * Every other state either is a comms-failed state already (COMMUNICATIONS-
 * INTERRUPTED, RESOLUTION-INTERRUPTED) or "allows both communications OK and
 * failed" (PARTNER-DOWN §8.4, RECOVER §8.5.2, RECOVER-WAIT §8.6.2,
 * RECOVER-DONE §8.7.2, CONFLICT-DONE §8.12.2) and is kept.
 */
export const COMMS_FAILED_SUCCESSOR: Readonly<Partial<Record<EndpointStateName, EndpointStateName>>> = {
  NORMAL: 'COMMUNICATIONS-INTERRUPTED',
  'POTENTIAL-CONFLICT': 'RESOLUTION-INTERRUPTED',
};

/** Clocks of the two partners agree to within this; closer times count as equal (§7.1, §7.5.4). */
export const SKEW_TOLERANCE_SEC = 5;

/**
 * How long after its last recorded time of operation a server may still have
 * served. The endpoint ticks every 15 s while serving and persists the time at
 * each tick, so "last recorded time of operation" (§8.3.2 step 5) and "time the
 * server went down" (§8.6.2) are read from a record at most one tick old; two
 * ticks leave room for a tick delayed by a stalled loop or disk (a grant needs
 * the same disk, so none can be acknowledged far past a stuck record). It was
 * 60 s: then a partner declared down within a minute of the power cut sent the
 * pair through POTENTIAL-CONFLICT rather than RECOVER.
 */
export const OPERATING_TICK_MAX_SEC = 30;

/** §8.3.2 step 3: short, but long enough for a TCP connect to a busy partner over a slow link. */
export const STARTUP_SEC_DEFAULT = 30;

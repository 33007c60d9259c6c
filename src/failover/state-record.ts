// The endpoint record of RFC 8156 §8.2, plus the few facts the state machine
// needs that last only as long as one run of the process (the session).
//
// Times: every *Sec field is wall-clock seconds since the Unix epoch (the same
// clock as StepContext.nowSec). The wire codec converts to the 2000 epoch.
//
// Only StoredEndpoint is written to stable storage (the lead keeps the bytes
// in the lease store's metadata). The session is rebuilt by startup() on every
// boot, so a record read back after a crash never carries a stale connection.

import { isEndpointStateName, type EndpointStateName, type Role } from './states.js';

/** OPTION_F_SERVER_FLAGS (§5.5.18). */
export interface ServerFlags {
  /** S: the sender is in STARTUP. */
  readonly startup: boolean;
  /** C: the sender has communicated with this partner before. */
  readonly communicated: boolean;
  /** A: the flags the sender last received had STARTUP set. */
  readonly ackStartup: boolean;
}

export const NO_FLAGS: ServerFlags = { startup: false, communicated: false, ackStartup: false };

export type UpdateRequestKind = 'UPDREQ' | 'UPDREQALL';

export interface StoredEndpoint {
  readonly version: 1;
  /** Role the record was written under; a change of role discards the history (see startup()). */
  readonly role: Role;
  /** §8.2 current state. While in STARTUP, previousState holds PREVIOUS-STATE (§8.3.2). */
  readonly state: EndpointStateName;
  /** §8.2 previous state: the state before `state`. */
  readonly previousState: EndpointStateName | null;
  /** §8.2 start time of the current state. */
  readonly stateStartSec: number;
  /** §8.2 partner's state as last received in STATE (the state option, even with the STARTUP flag). */
  readonly partnerState: EndpointStateName | null;
  /** §8.2 start time of the partner's state (F_START_TIME_OF_STATE). */
  readonly partnerStateStartSec: number | null;
  /** §6.4: flags from the partner's last STATE. */
  readonly partnerFlags: ServerFlags;
  /** §6.4: F_PARTNER_DOWN_TIME of the partner; null unless the partner is in PARTNER-DOWN. */
  readonly partnerReportedDownSinceSec: number | null;
  /** §8.2 time the most recent message was received from the partner. */
  readonly lastPartnerMessageSec: number | null;
  /** When *this* endpoint entered PARTNER-DOWN (sent as F_PARTNER_DOWN_TIME, §6.3); null outside PARTNER-DOWN. */
  readonly partnerDownSinceSec: number | null;
  /** Our COMMUNICATED flag (§5.5.18): we have received a STATE from this partner at least once. */
  readonly communicated: boolean;
  /** §8.3.2 "last recorded time of operation": last time we were in a state that serves clients. */
  readonly lastOperatingSec: number | null;
  /** An UPDREQALL was started and its UPDDONE not yet received: keep asking for everything (§8.5.2). */
  readonly fullResyncPending: boolean;
  /** §8.6.2 RECOVER-WAIT timer expiry; null outside RECOVER-WAIT. */
  readonly recoverWaitUntilSec: number | null;
}

/** Facts of this process run and this connection; never persisted. */
export interface EndpointSession {
  /** When this run started (§8.6.2 "the time the server started"). */
  readonly bootSec: number;
  /** CONNECT/CONNECTREPLY done and not lost since (we may send STATE). */
  readonly connected: boolean;
  /** A partner STATE arrived on this connection: "communications OK" (§6.1). */
  readonly commsOk: boolean;
  /** Our COMMUNICATED flag before this connection's first partner STATE. */
  readonly communicatedAtConnect: boolean;
  /** The partner's COMMUNICATED flag in its first STATE on this connection. */
  readonly partnerCommunicatedAtConnect: boolean;
  /** UPDREQ/UPDREQALL we sent and whose UPDDONE has not arrived; cleared by any change of state. */
  readonly request: UpdateRequestKind | null;
  /** Number of the last request sent this run (echoed in the send effect, optionally in 'upddone'). */
  readonly requestSeq: number;
}

export interface EndpointRecord extends StoredEndpoint {
  readonly session: EndpointSession;
}

export const freshSession = (bootSec: number): EndpointSession => ({
  bootSec,
  connected: false,
  commsOk: false,
  communicatedAtConnect: false,
  partnerCommunicatedAtConnect: false,
  request: null,
  requestSeq: 0,
});

/** Just the persisted fields, in a fixed order (so equal records encode to equal bytes). */
export function storedPart(r: StoredEndpoint): StoredEndpoint {
  return {
    version: 1,
    role: r.role,
    state: r.state,
    previousState: r.previousState,
    stateStartSec: r.stateStartSec,
    partnerState: r.partnerState,
    partnerStateStartSec: r.partnerStateStartSec,
    partnerFlags: { startup: r.partnerFlags.startup, communicated: r.partnerFlags.communicated, ackStartup: r.partnerFlags.ackStartup },
    partnerReportedDownSinceSec: r.partnerReportedDownSinceSec,
    lastPartnerMessageSec: r.lastPartnerMessageSec,
    partnerDownSinceSec: r.partnerDownSinceSec,
    communicated: r.communicated,
    lastOperatingSec: r.lastOperatingSec,
    fullResyncPending: r.fullResyncPending,
    recoverWaitUntilSec: r.recoverWaitUntilSec,
  };
}

export function sameStored(a: StoredEndpoint, b: StoredEndpoint): boolean {
  return JSON.stringify(storedPart(a)) === JSON.stringify(storedPart(b));
}

/** Largest encoding we accept; far above the ~600 bytes a record takes (store META_VALUE_BYTES_MAX is 4096). */
export const ENDPOINT_RECORD_BYTES_MAX = 2048;

export function encodeEndpointRecord(r: StoredEndpoint): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(storedPart(r)));
  if (bytes.length > ENDPOINT_RECORD_BYTES_MAX) throw new RangeError(`endpoint record is ${bytes.length} bytes`);
  return bytes;
}

export type RecordDecodeReason = 'too-long' | 'not-json' | 'version' | 'field';
export type DecodedEndpoint =
  | { readonly ok: true; readonly value: StoredEndpoint }
  | { readonly ok: false; readonly reason: RecordDecodeReason; readonly detail: string };

/** Never throws: a damaged record is reported, and the caller starts as if none was stored (§8.3.2 step 1). */
export function decodeEndpointRecord(bytes: Uint8Array): DecodedEndpoint {
  if (bytes.length > ENDPOINT_RECORD_BYTES_MAX) return fail('too-long', `${bytes.length} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    return fail('not-json', (e as Error).message);
  }
  if (!isObject(v)) return fail('not-json', 'not an object');
  if (v['version'] !== 1) return fail('version', `version ${String(v['version'])}`);
  // Written before the published code table (§5.5.16): a partner's code 7, read then as SHUTDOWN, was RECOVER-WAIT.
  const r = v['partnerState'] === 'SHUTDOWN' ? { ...v, partnerState: 'RECOVER-WAIT' } : v;
  const bad = firstBadField(r);
  if (bad) return fail('field', bad);
  return { ok: true, value: storedPart(r as unknown as StoredEndpoint) };
}

function fail(reason: RecordDecodeReason, detail: string): DecodedEndpoint {
  return { ok: false, reason, detail };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const orNull =
  (check: (v: unknown) => boolean) =>
  (v: unknown): boolean =>
    v === null || check(v);
const isBool = (v: unknown): boolean => typeof v === 'boolean';
const isFlags = (v: unknown): boolean => isObject(v) && isBool(v['startup']) && isBool(v['communicated']) && isBool(v['ackStartup']);

const FIELD_CHECKS: Readonly<Record<Exclude<keyof StoredEndpoint, 'version'>, (v: unknown) => boolean>> = {
  role: (v) => v === 'primary' || v === 'secondary',
  state: isEndpointStateName,
  previousState: orNull(isEndpointStateName),
  stateStartSec: isTime,
  partnerState: orNull(isEndpointStateName),
  partnerStateStartSec: orNull(isTime),
  partnerFlags: isFlags,
  partnerReportedDownSinceSec: orNull(isTime),
  lastPartnerMessageSec: orNull(isTime),
  partnerDownSinceSec: orNull(isTime),
  communicated: isBool,
  lastOperatingSec: orNull(isTime),
  fullResyncPending: isBool,
  recoverWaitUntilSec: orNull(isTime),
};

function firstBadField(v: Record<string, unknown>): string | undefined {
  for (const [name, check] of Object.entries(FIELD_CHECKS)) {
    if (!check(v[name])) return `${name}: ${JSON.stringify(v[name]) ?? 'missing'}`;
  }
  return undefined;
}

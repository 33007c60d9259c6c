// What the device publishes, as types and pure builders: the retained state
// (birth) and its Last Will, telemetry named after TR-181 Device.DHCPv6.Server.*,
// events, and the command responses. Every document carries `v` so a backend
// can tell formats apart when they change.

import { createHash } from 'node:crypto';
import type { ServerConfig } from '../config/types.js';
import type { LogCode } from '../log/codes.js';
import type { StoreStats } from '../store/index.js';

export const DOC_VERSION = 1;

/**
 * What failover (#4) reports through the `failover.status` command, and the
 * state document carries. Standalone until a failover section is configured.
 */
export interface FailoverStatus {
  readonly role: 'standalone' | 'primary' | 'secondary';
  /** RFC 8156 §8 endpoint state name, "standalone", or "waiting-for-clock" before failover starts (docs/image.md §12). */
  readonly state: string;
  readonly partnerState: string | null;
  /** When `state` was entered, ISO 8601; null when unknown or standalone. */
  readonly since: string | null;
}

export const STANDALONE: FailoverStatus = { role: 'standalone', state: 'standalone', partnerState: null, since: null };

/** A failover server's state before its endpoint started: it waits for a trustworthy clock (docs/image.md §12). */
export const WAITING_FOR_CLOCK = 'waiting-for-clock';

export interface PoolUse {
  readonly subnet: string;
  /** As written in the config: "first-last", a prefix, or "prefix → /len" for pd pools. */
  readonly pool: string;
  readonly kind: 'na' | 'pd';
  /** Active leases in the pool. */
  readonly used: number;
  /** Addresses or delegable prefixes; above 2^53 a JSON number is approximate, which a ratio does not mind. */
  readonly size: number;
}

export interface StorageHealth {
  readonly status: 'ok' | 'degraded';
  readonly reasons: readonly string[];
}

/**
 * The wall clock against its floor (docs/image.md §12): while not trusted,
 * nothing is granted and failover has not started. Only what changes with
 * that: the retained state is republished on every change, and the floor
 * rises with every lease granted, how far behind with every second.
 */
export type ClockInfo =
  | { readonly trusted: true }
  /** floor: ISO 8601, below which this box's clock is known to be wrong; floorSource: which mark set it. */
  | { readonly trusted: false; readonly floor: string; readonly floorSource: string };

export interface ConfigInfo {
  /** "cfg-" + 12 hex of a hash of the resolved configuration that is serving. */
  readonly version: string;
  readonly reloads: number;
  readonly rejected: number;
}

/** P/state, retained: the birth message, republished on every connect and on change. */
export interface StateDoc {
  readonly v: typeof DOC_VERSION;
  readonly online: true;
  /** Milliseconds since the epoch at CONNECT; a Will whose session is older than the last birth is stale. */
  readonly session: number;
  readonly deviceId: string;
  readonly ts: string;
  readonly serverDuid: string;
  readonly role: FailoverStatus['role'];
  readonly failover: FailoverStatus;
  readonly config: ConfigInfo;
  readonly pools: readonly PoolUse[];
  readonly storage: StorageHealth;
  readonly clock: ClockInfo;
  /** The running version and slot, a running upgrade, the last outcome (docs/fleet.md §8); null without boot slots. */
  readonly firmware: FirmwareStatus | null;
}

/** P/state when the device is gone: the Last Will (connection-lost) or said on a clean stop. */
export interface OfflineDoc {
  readonly v: typeof DOC_VERSION;
  readonly online: false;
  readonly session: number;
  readonly deviceId: string;
  readonly reason: 'connection-lost' | 'shutdown' | 'uplink-stopped';
  /** Absent in the Will: it is written at connect, long before the broker sends it. */
  readonly ts?: string;
}

export type EventType =
  | 'config-reloaded'
  | 'config-rejected'
  | 'pool-exhausted'
  | 'storage-degraded'
  | 'storage-recovered'
  | 'failover-transition'
  | 'clock-behind'
  | 'clock-trusted'
  | 'cmd-audit'
  | 'cmd-refused'
  | 'config-applied'
  | 'config-rolled-back'
  | 'firmware-progress'
  | 'firmware-outcome';

/**
 * The log codes each event type carries (docs/log-codes.md): where a log line
 * reports the same happening it has the same code. A type has more than one
 * where the operator acts differently on them.
 */
export const EVENT_CODES = {
  'config-reloaded': ['CONFIG_RELOADED'],
  'config-rejected': ['CONFIG_RELOAD_REJECTED', 'CONFIG_PUSH_REJECTED', 'CONFIG_PUSH_REFUSED', 'CONFIG_PUSH_WRITE_FAILED'],
  'pool-exhausted': ['DHCP_POOL_EXHAUSTED'],
  'storage-degraded': ['STORE_DEGRADED'],
  'storage-recovered': ['STORE_RECOVERED'],
  'failover-transition': ['FAILOVER_STATE_CHANGED'],
  'clock-behind': ['DAEMON_CLOCK_BEHIND'],
  'clock-trusted': ['DAEMON_CLOCK_TRUSTED'],
  'cmd-audit': ['MGMT_COMMAND_AUTHORIZED', 'MGMT_COMMAND_NOT_AUTHORIZED'],
  'cmd-refused': ['MGMT_COMMAND_REFUSED'],
  'config-applied': ['CONFIG_PUSH_APPLIED'],
  'config-rolled-back': ['CONFIG_PUSH_ROLLED_BACK'],
  'firmware-progress': ['FIRMWARE_PROGRESS'],
  'firmware-outcome': ['FIRMWARE_COMMITTED', 'FIRMWARE_STAGED', 'FIRMWARE_UPGRADE_OUTCOME'],
} as const satisfies { readonly [T in EventType]: readonly LogCode[] };

export type EventCode<T extends EventType> = (typeof EVENT_CODES)[T][number];

/** What an event says besides v, type and ts: its code, as a log line has it, and the rest. */
export type EventFields<T extends EventType> = { readonly code: EventCode<T>; readonly [field: string]: unknown };

/** How the parts that find events hand them to the uplink. */
export type EmitEvent = <T extends EventType>(type: T, fields: EventFields<T>) => void;

export interface EventDoc {
  readonly v: typeof DOC_VERSION;
  readonly type: EventType;
  readonly code: LogCode;
  readonly ts: string;
  readonly [field: string]: unknown;
}

export type ResponseCode =
  | 'OK'
  /** Two-step command, first step: nothing done yet; send again with data.confirmToken. */
  | 'CONFIRM_REQUIRED'
  | 'BAD_REQUEST'
  | 'BAD_ARGS'
  | 'UNKNOWN_COMMAND'
  | 'NOT_AUTHORIZED'
  | 'EXPIRED'
  | 'BUSY'
  | 'REJECTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export type ResponseDoc =
  | { readonly v: typeof DOC_VERSION; readonly ok: true; readonly code: 'OK' | 'CONFIRM_REQUIRED'; readonly data: unknown }
  | {
      readonly v: typeof DOC_VERSION;
      readonly ok: false;
      readonly code: Exclude<ResponseCode, 'OK' | 'CONFIRM_REQUIRED'>;
      readonly error: string;
    };

export const iso = (ms: number): string => new Date(ms).toISOString();

export function configVersion(config: ServerConfig): string {
  const text = JSON.stringify(config, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return `cfg-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

export function poolSizes(config: ServerConfig): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const s of config.subnets) {
    for (const p of s.pools) sizes.set(`${s.name}\0na\0${p.name}`, Number(p.last - p.first + 1n));
    for (const p of s.pdPools) sizes.set(`${s.name}\0pd\0${p.name}`, 2 ** (p.delegatedLength - p.prefixLength));
  }
  return sizes;
}

/** slowWriteMs: storage.slowWriteMs, the longest a synced write may take, done or in flight. */
export function storageHealth(s: StoreStats, slowWriteMs: number): StorageHealth {
  const reasons: string[] = [];
  if (s.state !== 'open') reasons.push(`store is ${s.state}`);
  if (s.corruptOnOpen > 0) reasons.push(`${s.corruptOnOpen} record(s) failed their check at open and are not served`);
  // A synced group commit this slow holds every Reply waiting on it. A hung
  // fsync never completes, so the write in flight is judged by its age; the
  // text names the threshold, not the age, so the retained state is not
  // republished every second while it hangs.
  if (s.inFlightMs > slowWriteMs) reasons.push(`a write has been in flight for more than ${slowWriteMs} ms`);
  if (s.lastCommitMs > slowWriteMs) reasons.push(`last commit took ${Math.round(s.lastCommitMs)} ms`);
  return { status: reasons.length === 0 ? 'ok' : 'degraded', reasons };
}

/** TR-181 Device.DHCPv6.Server.Stats.* (Issue 2 Amd 19) from the daemon's counters; only those the packet path counts. */
const TR181_STATS: Readonly<Record<string, string>> = {
  Solicit: 'rx.SOLICIT',
  Advertise: 'tx.ADVERTISE',
  Request: 'rx.REQUEST',
  Confirm: 'rx.CONFIRM',
  Renew: 'rx.RENEW',
  Rebind: 'rx.REBIND',
  Reply: 'tx.REPLY',
  Release: 'rx.RELEASE',
  Decline: 'rx.DECLINE',
  InformationRequest: 'rx.INFORMATION_REQUEST',
  DiscardedPackets: 'drop.total',
};

export interface DhcpTelemetry {
  readonly v: typeof DOC_VERSION;
  readonly ts: string;
  /** Counters are absolute since this time (daemon start): a lost sample loses nothing, rates are differences. */
  readonly countersSince: string;
  readonly object: 'Device.DHCPv6.Server.Stats.';
  readonly stats: Readonly<Record<string, number>>;
  /** Why packets were discarded, by twin6 reason (drop.decode.*, drop.engine.*). */
  readonly discarded: Readonly<Record<string, number>>;
}

export function dhcpTelemetry(counters: Readonly<Record<string, number>>, nowMs: number, sinceMs: number): DhcpTelemetry {
  const stats: Record<string, number> = {};
  for (const [name, counter] of Object.entries(TR181_STATS)) stats[name] = counters[counter] ?? 0;
  const discarded: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters)) if (k.startsWith('drop.') && k !== 'drop.total') discarded[k.slice(5)] = v;
  return { v: DOC_VERSION, ts: iso(nowMs), countersSince: iso(sinceMs), object: 'Device.DHCPv6.Server.Stats.', stats, discarded };
}

export function event<T extends EventType>(type: T, nowMs: number, fields: EventFields<T>): EventDoc {
  const { code, ...rest } = fields;
  return { v: DOC_VERSION, type, code, ts: iso(nowMs), ...rest };
}

export function ok(data: unknown, code: 'OK' | 'CONFIRM_REQUIRED' = 'OK'): ResponseDoc {
  return { v: DOC_VERSION, ok: true, code, data };
}

export function failed(code: Exclude<ResponseCode, 'OK' | 'CONFIRM_REQUIRED'>, error: string): ResponseDoc {
  return { v: DOC_VERSION, ok: false, code, error };
}

// Firmware upgrades (docs/fleet.md §8): what firmware.status answers and the
// state document's `firmware` carries; the service is src/firmware/service.ts.

export type UpgradePhase = 'download' | 'verify' | 'write' | 'reboot';
/** staged: downloaded and verified only (`stage: true`), kept for the same command without it. */
export type UpgradeOutcome = 'committed' | 'rolled-back' | 'refused' | 'failed' | 'interrupted' | 'staged' | 'cancelled';

export interface UpgradeRequest {
  readonly url: string;
  readonly sha256: string;
  readonly size: number;
  readonly version: string;
  /** Stop after the download and its checks: the slot is written by the same command without it (a pair's rollout). */
  readonly stage?: boolean;
}

export interface LastUpgrade {
  readonly requestId: string;
  readonly version: string;
  readonly outcome: UpgradeOutcome;
  readonly reason?: string;
  readonly at: string;
}

export interface FirmwareStatus {
  /** The running image's version and release line. */
  readonly version: string;
  readonly release: string;
  readonly slot: 'a' | 'b' | null;
  readonly generation: number | null;
  readonly state: 'committed' | 'pending' | 'trial' | 'failed' | 'unknown';
  readonly other: {
    readonly slot: 'a' | 'b';
    readonly generation: number;
    readonly state: 'committed' | 'pending' | 'trial' | 'failed';
  } | null;
  readonly upgrade: {
    readonly requestId: string;
    readonly version: string;
    readonly phase: UpgradePhase;
    readonly bytes: number;
    readonly total: number;
  } | null;
  readonly trial: {
    readonly ageSec: number;
    readonly deadlineSec: number;
    readonly healthyForSec: number;
    readonly waitingFor: string;
  } | null;
  readonly last: LastUpgrade | null;
}

// The host contract (docs/architecture.md §4): what the features that build on
// the server — failover, the MQTT uplink, the CPE features — may use of it,
// in small named parts, and the part each feature takes. Features import the
// daemon through this file only (the import-rule test holds them to it), so
// Daemon can change behind it, and the simulation's SimHost gives failover the
// same contract over virtual time.

import type { Logger } from 'pino';
import type { ServerConfig } from '../config/types.js';
import type { Engine, FailoverPolicy, LeaseChange } from '../engine/index.js';
import type { LeaseStore } from '../store/index.js';
import type { ClientServerMessage } from '../wire/types.js';
import type { Counters } from './counters.js';

export interface DaemonClock {
  /** Wall clock, whole seconds since the Unix epoch. */
  nowSec(): number;
}

/** Whether the wall clock can be trusted (daemon/clock-floor.ts): what the status and the MQTT state report. */
export interface ClockStatus {
  /** At or above the floor. While false the server grants nothing and failover has not started. */
  readonly trusted: boolean;
  readonly nowSec: number;
  /** The floor: below it the clock is known to be wrong. */
  readonly floorSec: number;
  /** Which mark set the floor: "leases", "none", or the file it was read from. */
  readonly floorSource: string;
  readonly behindSec: number;
}

/**
 * Where a lease change comes from: `local` — this server's own decision (a
 * client message, expiry); `partner` — a failover partner's binding update;
 * `failover` — failover's own bookkeeping (an acknowledgement recorded).
 * Only local changes are news for the partner.
 */
export type CommitOrigin = 'local' | 'partner' | 'failover';

/** Rewrites local changes before they are written (failover stamps each lease's partner state). */
export type CommitStamp = (changes: readonly LeaseChange[]) => readonly LeaseChange[];

export interface DaemonEvents {
  /** Lease changes that are now on stable storage, in commit order. */
  'leases-committed': [changes: readonly LeaseChange[], origin: CommitOrigin];
  'config-reloaded': [config: ServerConfig];
  /** A client message the failover policy kept us from answering: the partner should have. */
  unanswered: [message: ClientServerMessage];
}

/** One control command: JSON arguments in, a JSON-able answer out (daemon/control.ts). */
export type ControlHandler = (args: Record<string, unknown>) => unknown | Promise<unknown>;

/** What the server is now; every feature reads it. */
export interface ServerState {
  readonly log: Logger;
  /** Wall clock, whole seconds: every time on the wire and in the store is on it. */
  readonly clock: DaemonClock;
  /** Replaced on reload: read it when needed rather than keeping it. */
  readonly config: ServerConfig;
  /** Lease changes go through CommitPath.commit, never store.apply. */
  readonly store: LeaseStore;
  readonly counters: Counters;
  /** The wall clock against its floor (docs/image.md §12). */
  clockStatus(): ClockStatus;
}

/** The only write path to the leases. */
export interface CommitPath {
  /** Stamps local changes (ServiceControl.setCommitStamp), resolves once they are durable, then emits 'leases-committed'. */
  commit(changes: readonly LeaseChange[], origin?: CommitOrigin): Promise<void>;
  /** The store can no longer be trusted: the server must stop (and be restarted from disk). */
  storeFailed(e: unknown): void;
}

/** DaemonEvents, typed (docs/style.md §1.5). */
export interface HostEvents {
  on<K extends keyof DaemonEvents>(event: K, listener: (...args: DaemonEvents[K]) => void): unknown;
  off<K extends keyof DaemonEvents>(event: K, listener: (...args: DaemonEvents[K]) => void): unknown;
}

/** The commands the control socket serves; the MQTT uplink serves the same table. */
export interface CommandTable {
  /** Adds or replaces a command. */
  registerCommand(name: string, handler: ControlHandler): void;
  readonly commands: Readonly<Record<string, ControlHandler>>;
}

export interface StopHooks {
  /** Runs at shutdown, after the sockets close and before the store does; last registered runs first. */
  onStop(hook: () => Promise<void>): void;
}

/** How failover limits the server (docs/architecture.md §1): the engine's policy and the stamp on local changes. */
export interface ServiceControl {
  readonly engine: Engine;
  /** Read per packet and per reclaim batch; a failover server starts with one that answers nobody. */
  setPolicy(policy: FailoverPolicy): void;
  /** Runs synchronously on every local change, before the write. */
  setCommitStamp(stamp: CommitStamp | undefined): void;
}

/** Who this server is and where its configuration comes from: what the uplink reports, and its reload command. */
export interface Identity {
  readonly serverDuid: Uint8Array;
  /** Date.now() at start. */
  readonly startedMs: number;
  readonly configFile: string;
  /** The state directory (twin6d --state-dir): config push keeps its record there. */
  readonly stateDir: string;
  /** What the DHCP sockets are bound to now; empty while none is. */
  readonly bound: readonly string[];
  /** As SIGHUP: false when the new file is refused and the old config keeps serving. */
  reload(): Promise<boolean>;
  /** Why the last reload failed, when it did. */
  readonly lastReloadError?: string | undefined;
}

/** The failover runtime (failover/endpoint.ts, replication.ts, handoff.ts). */
export interface FailoverHost extends ServerState, CommitPath, HostEvents, CommandTable, StopHooks, ServiceControl {}

/** The MQTT uplink (mgmt/). */
export interface ManagementHost extends ServerState, HostEvents, CommandTable, StopHooks, Identity {}

/** Router advertisements and delegated-prefix routes (cli/cpe.ts). */
export interface CpeHost extends ServerState, HostEvents, CommandTable, StopHooks {}

/** The whole contract: what Daemon implements. */
export interface Host extends FailoverHost, ManagementHost, CpeHost {}

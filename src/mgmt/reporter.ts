// What the device says about itself: the state document, the telemetry
// samples, and the events that are transitions of that state (pool exhausted,
// storage degraded, failover state changed, config refused). Events are found
// by comparing snapshots rather than by hooks into each feature, so failover
// only has to answer `failover.status` for its transitions to be reported.

import { readFileSync } from 'node:fs';
import { COMMANDS } from './commands.js';
import {
  configVersion,
  dhcpTelemetry,
  DOC_VERSION,
  iso,
  storageHealth,
  type ClockInfo,
  type DhcpTelemetry,
  type EmitEvent,
  type FirmwareStatus,
  type FailoverStatus,
  type PoolUse,
  type StateDoc,
  type StorageHealth,
} from './documents.js';
import { configProblem, failoverStatus, poolUse } from './handlers.js';
import type { ManagementHost } from '../daemon/host.js';
import type { StoreStats } from '../store/index.js';

/** Pool use walks every lease: at most this often, however busy the server is. */
const POOLS_MIN_INTERVAL_MS = 2000;

const SOFTWARE_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
})();

export interface MetaDoc {
  readonly v: typeof DOC_VERSION;
  readonly deviceId: string;
  readonly software: { readonly name: 'twin6'; readonly version: string };
  readonly dataModel: 'Device.DHCPv6.Server. (TR-181 Issue 2 Amd 19), failover as X_TWIN6_Failover';
  readonly commands: readonly { name: string; summary: string; dangerous: boolean; twoStep: boolean }[];
  readonly telemetryIntervalSec: number;
}

export class Reporter {
  private pools: readonly PoolUse[] = [];
  private poolsDirty = true;
  private poolsAtMs = -Infinity;
  private exhausted = new Set<string>();
  private lastFailover: FailoverStatus | undefined;
  private lastStorage: StorageHealth['status'] = 'ok';
  private stalled = false;
  private degradedSinceMs = 0;
  private rejectedSeen: number;
  /** Whether the clock was trusted at the last snapshot: a clock behind at the first one is news too. */
  private clockWasTrusted = true;
  /** The upgrade step last reported, and the last outcome (null: not looked at yet). */
  private firmwareStep: string | undefined;
  private firmwareLast: string | undefined | null = null;

  constructor(
    private readonly d: ManagementHost,
    private readonly deviceId: string,
    private readonly emit: EmitEvent,
    private readonly nowMs: () => number = Date.now,
  ) {
    this.rejectedSeen = d.counters.get('config.rejected');
  }

  /** Leases changed: pool use is recomputed at the next snapshot (coalesced). */
  markPoolsDirty(): void {
    this.poolsDirty = true;
  }

  configReloaded(): void {
    this.poolsDirty = true;
    this.emit('config-reloaded', { code: 'CONFIG_RELOADED', version: configVersion(this.d.config) });
  }

  async state(session: number): Promise<StateDoc> {
    const now = this.nowMs();
    if (this.poolsDirty && now - this.poolsAtMs >= POOLS_MIN_INTERVAL_MS) {
      this.poolsDirty = false;
      this.poolsAtMs = now;
      this.pools = await poolUse(this.d);
      this.poolTransitions();
    }
    const failover = await failoverStatus(this.d);
    if (this.lastFailover && this.lastFailover.state !== failover.state) {
      this.emit('failover-transition', {
        code: 'FAILOVER_STATE_CHANGED',
        from: this.lastFailover.state,
        to: failover.state,
        partnerState: failover.partnerState,
        role: failover.role,
      });
    }
    this.lastFailover = failover;
    const storage = this.storageTransitions(this.d.store.stats(), now);
    const clock = this.clockTransitions();
    const firmware = await this.firmwareTransitions();
    await this.rejections();
    return {
      v: DOC_VERSION,
      online: true,
      session,
      deviceId: this.deviceId,
      ts: iso(now),
      serverDuid: Buffer.from(this.d.serverDuid).toString('hex'),
      role: failover.role,
      failover,
      config: {
        version: configVersion(this.d.config),
        reloads: this.d.counters.get('config.reloads'),
        rejected: this.d.counters.get('config.rejected'),
      },
      pools: this.pools,
      storage,
      clock,
      firmware,
    };
  }

  /**
   * firmware-progress at each phase of an upgrade and every tenth of its
   * download; firmware-outcome when an upgrade ends. An outcome settled
   * before this process started was reported then (it is in the retained
   * state's firmware.last either way).
   */
  private async firmwareTransitions(): Promise<FirmwareStatus | null> {
    const handler = this.d.commands['firmware.status'];
    const s = handler ? ((await handler({})) as FirmwareStatus | null) : null;
    if (!s) return null;
    const u = s.upgrade;
    const step = u ? `${u.requestId} ${u.phase} ${u.total > 0 ? Math.floor((10 * u.bytes) / u.total) : 0}` : undefined;
    if (u && step !== this.firmwareStep) {
      this.emit('firmware-progress', {
        code: 'FIRMWARE_PROGRESS',
        requestId: u.requestId,
        version: u.version,
        phase: u.phase,
        bytes: u.bytes,
        total: u.total,
      });
    }
    this.firmwareStep = step;
    const last = s.last ? `${s.last.requestId} ${s.last.outcome}` : undefined;
    if (this.firmwareLast === null) this.firmwareLast = s.last && Date.parse(s.last.at) < this.d.startedMs ? last : undefined;
    if (s.last && last !== this.firmwareLast)
      this.emit('firmware-outcome', {
        code:
          s.last.outcome === 'committed'
            ? 'FIRMWARE_COMMITTED'
            : s.last.outcome === 'staged'
              ? 'FIRMWARE_STAGED'
              : 'FIRMWARE_UPGRADE_OUTCOME',
        ...s.last,
        running: s.version,
        slot: s.slot,
      });
    this.firmwareLast = last;
    return s;
  }

  /** clock-behind when the clock falls below its floor (or is below it at start), clock-trusted when it is back. */
  private clockTransitions(): ClockInfo {
    const s = this.d.clockStatus();
    const floor = iso(s.floorSec * 1000);
    const info: ClockInfo = s.trusted ? { trusted: true } : { trusted: false, floor, floorSource: s.floorSource };
    if (s.trusted !== this.clockWasTrusted) {
      const fields = { now: iso(s.nowSec * 1000), floor, floorSource: s.floorSource };
      if (s.trusted) this.emit('clock-trusted', { code: 'DAEMON_CLOCK_TRUSTED', ...fields });
      else this.emit('clock-behind', { code: 'DAEMON_CLOCK_BEHIND', ...fields, behindSec: s.behindSec });
      this.clockWasTrusted = s.trusted;
    }
    return info;
  }

  /**
   * storage-degraded when storage turns degraded, and again when a write stalls
   * while it already is (a hung fsync must not hide behind an older reason, such
   * as a corrupt record found at open); storage-recovered when it is ok again.
   */
  private storageTransitions(s: StoreStats, now: number): StorageHealth {
    const slowWriteMs = this.d.config.storage.slowWriteMs;
    const health = storageHealth(s, slowWriteMs);
    const stalled = s.inFlightMs > slowWriteMs;
    if (health.status === 'degraded' && (this.lastStorage === 'ok' || (stalled && !this.stalled))) {
      if (this.lastStorage === 'ok') this.degradedSinceMs = now;
      this.emit('storage-degraded', {
        code: 'STORE_DEGRADED',
        reasons: health.reasons,
        inFlightMs: Math.round(s.inFlightMs),
        lastCommitMs: Math.round(s.lastCommitMs),
      });
    } else if (health.status === 'ok' && this.lastStorage === 'degraded') {
      this.emit('storage-recovered', { code: 'STORE_RECOVERED', degradedMs: now - this.degradedSinceMs });
    }
    this.lastStorage = health.status;
    this.stalled = stalled;
    return health;
  }

  private poolTransitions(): void {
    const now = new Set<string>();
    for (const p of this.pools) {
      const key = `${p.subnet} ${p.kind} ${p.pool}`;
      if (p.size > 0 && p.used >= p.size) {
        now.add(key);
        if (!this.exhausted.has(key))
          this.emit('pool-exhausted', {
            code: 'DHCP_POOL_EXHAUSTED',
            subnet: p.subnet,
            pool: p.pool,
            kind: p.kind,
            used: p.used,
            size: p.size,
          });
      }
    }
    this.exhausted = now;
  }

  /** The daemon counts refused reloads (SIGHUP or command); the reason is read again from the file. */
  private async rejections(): Promise<void> {
    const rejected = this.d.counters.get('config.rejected');
    if (rejected === this.rejectedSeen) return;
    this.rejectedSeen = rejected;
    this.emit('config-rejected', {
      code: 'CONFIG_RELOAD_REJECTED',
      error: await configProblem(this.d),
      servingVersion: configVersion(this.d.config),
    });
  }

  dhcp(): DhcpTelemetry {
    return dhcpTelemetry(this.d.counters.snapshot(), this.nowMs(), this.d.startedMs);
  }

  poolsTelemetry(): { v: 1; ts: string; pools: readonly (PoolUse & { utilisation: number })[] } {
    return {
      v: DOC_VERSION,
      ts: iso(this.nowMs()),
      pools: this.pools.map((p) => ({ ...p, utilisation: p.size > 0 ? p.used / p.size : 0 })),
    };
  }

  storageTelemetry(): Record<string, unknown> {
    const s = this.d.store.stats();
    return {
      v: DOC_VERSION,
      ts: iso(this.nowMs()),
      health: storageHealth(s, this.d.config.storage.slowWriteMs),
      leases: s.leases,
      batchesWritten: s.batchesWritten,
      syncs: s.syncs,
      changesWritten: s.changesWritten,
      bytesEncoded: s.bytesEncoded,
      lastCommitMs: s.lastCommitMs,
      maxCommitMs: s.maxCommitMs,
      pendingChanges: s.pendingChanges,
      inFlightChanges: s.inFlightChanges,
      inFlightMs: Math.round(s.inFlightMs),
    };
  }

  meta(telemetryIntervalSec: number): MetaDoc {
    return {
      v: DOC_VERSION,
      deviceId: this.deviceId,
      software: { name: 'twin6', version: SOFTWARE_VERSION },
      dataModel: 'Device.DHCPv6.Server. (TR-181 Issue 2 Amd 19), failover as X_TWIN6_Failover',
      commands: COMMANDS.map((c) => ({ name: c.name, summary: c.summary, dangerous: c.dangerous, twoStep: c.twoStep })),
      telemetryIntervalSec,
    };
  }
}

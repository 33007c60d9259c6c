// Config push, the shell (docs/fleet.md §7): takes the desired documents the
// uplink receives, one at a time, through the gates of config-push.ts, writes
// the file (config-files.ts), reloads as SIGHUP does, runs the trial and rolls
// back when the device no longer serves as before, and keeps the reported
// document the uplink retains. It belongs to Management, not to an uplink: a
// push that changes the mqtt section replaces the uplink in the middle of its
// own trial.

import type { KeyObject } from 'node:crypto';
import { ConfigError, parseConfig, parseJsonText, type ConfigProblem } from '../config/index.js';
import { DEFAULTS } from '../config/defaults.js';
import type { ServerConfig } from '../config/types.js';
import type { ManagementHost } from '../daemon/host.js';
import {
  EMPTY_RECORD,
  fileHash,
  installTrial,
  readPushRecord,
  restorePrevious,
  writePushRecord,
  type PushRecord,
  type RecoveredTrial,
} from './config-files.js';
import {
  admitDesired,
  healthProblems,
  pairHash,
  pushProblems,
  sha256Hex,
  Trial,
  type DesiredDoc,
  type HealthBefore,
  type LastPush,
  type ReportedDoc,
  type TrialStep,
} from './config-push.js';
import { configVersion, DOC_VERSION, type EmitEvent } from './documents.js';
import { failoverStatus } from './handlers.js';
import { parseCommandKey } from './signature.js';

const TRIAL_TICK_MS = 500;

/** What the uplink needs of the pusher: where desired documents go, and the reported document to retain. */
export interface PushPort {
  onDesired(payload: Buffer, retained: boolean): void;
  reported(): ReportedDoc;
}

export interface PusherDeps {
  /** Whether the uplink in service now is connected to its broker. */
  readonly brokerConnected: () => boolean;
  /** Retain the reported document (through the uplink in service, when there is one). */
  readonly publishReported: (doc: ReportedDoc) => void;
  readonly emit: EmitEvent;
  readonly bound: () => readonly string[];
  readonly nowMs?: () => number;
}

export class ConfigPusher implements PushPort {
  private record: PushRecord = EMPTY_RECORD;
  private hash = '';
  private chain: Promise<void> = Promise.resolve();
  private ready: Promise<void> = Promise.resolve();
  private busy = false;
  /** The latest desired document that came during a trial; handled when the trial ends. */
  private queued: { payload: Buffer; retained: boolean } | undefined;
  private readonly nowMs: () => number;

  constructor(
    private readonly d: ManagementHost,
    private readonly deps: PusherDeps,
  ) {
    this.nowMs = deps.nowMs ?? Date.now;
  }

  /** Reads the push record and the file's hash; a trial that a restart ended is announced (twin6d rolled it back already). */
  init(recovered?: RecoveredTrial): Promise<void> {
    this.ready = (async () => {
      // Both at once: a reported document built between the two would pair the record with no hash.
      [this.record, this.hash] = await Promise.all([readPushRecord(this.d.stateDir), fileHash(this.d.configFile)]);
      if (recovered) this.rolledBack(recovered.version, this.record.last?.actor ?? null, recovered.reason);
      // An uplink that connected before the record was read retained a document without it.
      this.deps.publishReported(this.reported());
    })().catch((e: unknown) => this.d.log.error({ code: 'CONFIG_PUSH_FAILED', err: e }, 'config push: the push record cannot be read'));
    this.d.on('config-reloaded', () => void this.rehash());
    return this.ready;
  }

  onDesired(payload: Buffer, retained: boolean): void {
    if (this.busy) {
      this.queued = { payload, retained };
      return;
    }
    this.chain = this.chain.then(() => this.handle(payload, retained)).catch((e: unknown) => this.failed(e));
  }

  reported(): ReportedDoc {
    const r = this.record;
    const last = r.last;
    const c = this.d.config;
    return {
      v: DOC_VERSION,
      deviceId: c.mqtt?.deviceId ?? '',
      version: r.applied && r.applied.sha256 === this.hash ? r.applied.version : null,
      hash: this.hash,
      configVersion: configVersion(c),
      pairHash: pairHash(c),
      outcome: last?.outcome ?? 'none',
      desiredVersion: last?.desiredVersion ?? null,
      actor: last?.actor ?? null,
      errors: last?.errors ?? [],
      reason: last?.reason ?? null,
      at: last?.at ?? null,
    };
  }

  private async rehash(): Promise<void> {
    const h = await fileHash(this.d.configFile).catch(() => this.hash);
    if (h === this.hash) return;
    this.hash = h;
    if (!this.busy) this.deps.publishReported(this.reported());
  }

  private keys(): KeyObject[] {
    return (this.d.config.mqtt?.commandKeys ?? []).map(parseCommandKey).filter((k): k is KeyObject => !('problem' in k));
  }

  private async handle(payload: Buffer, retained: boolean): Promise<void> {
    await this.ready;
    const c = this.d.config;
    if (!c.mqtt) return;
    const verdict = admitDesired(payload, retained, {
      keys: this.keys(),
      deviceId: c.mqtt.deviceId,
      nowSec: () => Math.floor(this.nowMs() / 1000),
      memory: this.record,
    });
    if (verdict.kind === 'ignore') {
      this.d.log.debug({ why: verdict.why }, 'config push: desired document ignored');
      return;
    }
    if (verdict.kind === 'refuse') {
      // Nothing signed and new: the reported document and the version memory stay as they are.
      this.d.log.warn({ code: 'CONFIG_PUSH_REFUSED', version: verdict.version, reason: verdict.reason }, 'config push: refused');
      this.deps.emit('config-rejected', { code: 'CONFIG_PUSH_REFUSED', desiredVersion: verdict.version, reason: verdict.reason });
      return;
    }
    const { doc, claims } = verdict;
    const actor = claims.actor;
    const problems = this.check(c, doc);
    if (problems.length > 0) {
      await this.settle({ ...this.record, highestVersion: doc.version }, this.last('rejected', doc.version, actor, problems, null));
      this.d.log.warn(
        { code: 'CONFIG_PUSH_REJECTED', version: doc.version, actor, errors: problems.map((p) => `${p.path}: ${p.problem}`) },
        'config push: desired config rejected; nothing written',
      );
      this.deps.emit('config-rejected', { code: 'CONFIG_PUSH_REJECTED', desiredVersion: doc.version, actor, errors: problems });
      return;
    }
    this.busy = true;
    try {
      await this.apply(doc, actor);
    } finally {
      this.busy = false;
      const next = this.queued;
      this.queued = undefined;
      if (next) this.onDesired(next.payload, next.retained);
    }
  }

  /** The same checks as --check-config, then what a push may not change. */
  private check(current: ServerConfig, doc: DesiredDoc): ConfigProblem[] {
    if (sha256Hex(doc.config) !== doc.sha256)
      return [{ path: '(root)', problem: 'the config text does not hash to the signed sha256: altered on the way' }];
    let next: ServerConfig;
    try {
      next = parseConfig(parseJsonText(doc.config, 'config'));
    } catch (e) {
      if (e instanceof ConfigError) return [...e.errors];
      throw e;
    }
    return pushProblems(current, next, doc.pair);
  }

  private last(
    outcome: LastPush['outcome'],
    version: number,
    actor: string | null,
    errors: readonly ConfigProblem[],
    reason: string | null,
  ): LastPush {
    return { outcome, desiredVersion: version, actor, errors, reason, at: new Date(this.nowMs()).toISOString() };
  }

  private async settle(record: PushRecord, last: LastPush): Promise<void> {
    this.record = { ...record, last };
    await writePushRecord(this.d.stateDir, this.record);
    this.hash = await fileHash(this.d.configFile).catch(() => this.hash);
    this.deps.publishReported(this.reported());
  }

  private async apply(doc: DesiredDoc, actor: string): Promise<void> {
    const { d } = this;
    const fo = d.config.failover ? await failoverStatus(d) : undefined;
    const before: HealthBefore = { failoverState: fo ? fo.state : null };
    const prevSha = await fileHash(d.configFile);
    const prevVersion = this.record.applied?.sha256 === prevSha ? this.record.applied.version : null;
    const startedMs = this.nowMs();
    const trialRecord: PushRecord = {
      ...this.record,
      highestVersion: doc.version,
      last: this.last('pending', doc.version, actor, [], null),
      trial: {
        version: doc.version,
        sha256: doc.sha256,
        actor,
        prevVersion,
        prevSha256: prevSha,
        startedAt: new Date(startedMs).toISOString(),
      },
    };
    try {
      await installTrial(d.configFile, d.stateDir, trialRecord, doc.config);
    } catch (e) {
      const reason = `writing the config failed: ${(e as Error).message}`;
      d.log.error({ code: 'CONFIG_PUSH_WRITE_FAILED', version: doc.version, err: e }, 'config push: writing the config failed');
      await restorePrevious(d.configFile).catch(() => undefined);
      await this.settle(
        { ...this.record, highestVersion: doc.version, trial: null },
        this.last('rejected', doc.version, actor, [], reason),
      );
      this.deps.emit('config-rejected', { code: 'CONFIG_PUSH_WRITE_FAILED', desiredVersion: doc.version, actor, reason });
      return;
    }
    this.record = trialRecord;
    this.hash = doc.sha256;
    this.deps.publishReported(this.reported());
    d.log.info({ version: doc.version, actor }, 'config push: new config written, reloading');
    const reloaded = await d.reload();
    // The grace is the config's in force: the new one's once it loaded (a risky change may ask for longer).
    const trial = new Trial(this.nowMs(), (d.config.mqtt?.configGraceSec ?? DEFAULTS.mqtt.configGraceSec) * 1000);
    let step: TrialStep = reloaded ? { kind: 'wait' } : trial.reloadFailed(d.lastReloadError ?? 'the new file was refused');
    while (step.kind === 'wait') {
      await new Promise((r) => setTimeout(r, TRIAL_TICK_MS));
      step = trial.step(this.nowMs(), healthProblems(before, await this.healthNow()));
    }
    if (step.kind === 'confirm') {
      const ms = this.nowMs() - startedMs;
      await this.settle(
        { ...this.record, applied: { version: doc.version, sha256: doc.sha256 }, trial: null },
        this.last('applied', doc.version, actor, [], null),
      );
      d.log.info(
        { code: 'CONFIG_PUSH_APPLIED', version: doc.version, actor, configVersion: configVersion(d.config), ms },
        'config push: applied and confirmed',
      );
      this.deps.emit('config-applied', {
        code: 'CONFIG_PUSH_APPLIED',
        version: doc.version,
        actor,
        configVersion: configVersion(d.config),
        ms,
      });
      return;
    }
    await this.rollback(doc.version, actor, prevVersion, prevSha, step.reason);
  }

  private async healthNow() {
    const { d } = this;
    const fo = d.config.failover ? await failoverStatus(d) : undefined;
    return {
      interfaces: d.config.interfaces,
      bound: this.deps.bound(),
      failoverState: fo ? fo.state : null,
      mqttConfigured: d.config.mqtt !== undefined,
      brokerConnected: this.deps.brokerConnected(),
    };
  }

  private async rollback(version: number, actor: string, prevVersion: number | null, prevSha: string, why: string): Promise<void> {
    const { d } = this;
    await restorePrevious(d.configFile);
    const back = await d.reload();
    const reason = back ? why : `${why}; reloading the previous file failed too (${d.lastReloadError ?? 'refused'}): restart twin6d`;
    await this.settle(
      { ...this.record, applied: prevVersion === null ? null : { version: prevVersion, sha256: prevSha }, trial: null },
      this.last('rolled-back', version, actor, [], reason),
    );
    this.rolledBack(version, actor, reason);
  }

  private rolledBack(version: number, actor: string | null, reason: string): void {
    this.d.log.error({ code: 'CONFIG_PUSH_ROLLED_BACK', version, actor, reason }, 'config push: rolled back to the previous config');
    this.deps.emit('config-rolled-back', { code: 'CONFIG_PUSH_ROLLED_BACK', desiredVersion: version, actor, reason });
  }

  private failed(e: unknown): void {
    this.busy = false;
    this.d.log.error({ code: 'CONFIG_PUSH_FAILED', err: e }, 'config push: handling a desired config failed');
  }
}

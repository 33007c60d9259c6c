// Firmware upgrades into the inactive boot slot, and the trial that decides
// whether they stay (docs/fleet.md §8, docs/image.md §5). The sequence:
//
//   download   the bundle to rootfs_data (resumable: a cut keeps what was fsynced)
//   verify     whole-file SHA-256 (the command's), the release key's signature,
//              board, version, store format, each part's hash — nothing is
//              written to a slot before all of these pass
//   write      the other slot's entries removed, its partition written and
//              read back, its kernel and initramfs on the ESP, then its
//              entry, counted (+1): the last write, and the only one that
//              makes the slot bootable
//   reboot     systemd-boot tries the new slot once
//   trial      healthy for healthySec (serving; failover NORMAL; uplink
//              connected, each where configured) → commit (the counter
//              dropped from the entry's name); not healthy by trialSec after
//              boot → reboot, and the slot before boots (slots.ts)
//
// What happened is kept in the state directory (pending.json while an
// upgrade runs, last.json for its outcome), so the outcome of a reboot is
// reported by the image that comes up — the new one after a commit, the old
// one after a rollback. One upgrade at a time.

import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { verifyBundleFile, loadReleaseKeys } from './bundle-file.js';
import type { BundleHeader } from './bundle.js';
import { downloadFile } from './download.js';
import type { SlotLayout } from './layout.js';
import {
  copyRangeDurably,
  espPaths,
  listEntries,
  removeDurably,
  renameDurably,
  resolveDevice,
  withEsp,
  writeFileDurably,
  writePartition,
} from './slot-disk.js';
import {
  bootState,
  committedFile,
  deviceOptions,
  entryText,
  planSlotWrite,
  slotFromCmdline,
  type BootState,
  type SlotName,
} from './slots.js';
import { writeJsonDurably, readJson } from './state-files.js';
import type { FirmwareStatus, LastUpgrade, UpgradeOutcome, UpgradePhase, UpgradeRequest } from '../mgmt/documents.js';

export type { FirmwareStatus, LastUpgrade, UpgradeOutcome, UpgradePhase, UpgradeRequest } from '../mgmt/documents.js';

interface Pending extends UpgradeRequest {
  readonly requestId: string;
  readonly phase: UpgradePhase;
  readonly startedAt: string;
  readonly slot?: SlotName;
  readonly generation?: number;
}

export interface FirmwarePolicy {
  /** A trial not healthy this long after boot is abandoned (the device reboots to the slot before). */
  readonly trialSec: number;
  /** Healthy this long without a break before a trial commits. */
  readonly healthySec: number;
  /** Largest bundle accepted. */
  readonly maxBytes: number;
  /** Free space left on the state directory's filesystem after the download (the leases need room). */
  readonly reserveBytes: number;
  /** Trust anchor for the HTTPS server (PEM); default node's. */
  readonly ca?: string;
}

export const FIRMWARE_DEFAULTS: Omit<FirmwarePolicy, 'ca'> = {
  trialSec: 300,
  healthySec: 30,
  maxBytes: 256 << 20,
  reserveBytes: 16 << 20,
};

export interface Health {
  readonly healthy: boolean;
  /** What is missing, when not healthy. */
  readonly waitingFor: string;
}

export interface FirmwareDeps {
  readonly layout: SlotLayout;
  readonly stateDir: string;
  readonly log: Logger;
  readonly policy: () => FirmwarePolicy;
  readonly health: () => Promise<Health>;
}

/** A refusal the command answers with, before anything runs. */
export class UpgradeRefused extends Error {
  constructor(
    readonly code: 'BUSY' | 'REJECTED' | 'BAD_ARGS' | 'UNAVAILABLE',
    message: string,
  ) {
    super(message);
    this.name = 'UpgradeRefused';
  }
}

const TICK_MS = 1000;

export class FirmwareService {
  private boot: BootState | undefined;
  private version = 'unknown';
  private release = 'unknown';
  private pending: Pending | undefined;
  private last: LastUpgrade | undefined;
  private progress = { bytes: 0, total: 0 };
  private running: Promise<void> | undefined;
  private accepting = false;
  private trialTimer: NodeJS.Timeout | undefined;
  private healthyForSec = 0;
  private waitingFor = '';
  private ageSec = 0;
  private readonly abort = new AbortController();
  private readonly dir: string;

  constructor(private readonly deps: FirmwareDeps) {
    this.dir = join(deps.stateDir, 'firmware');
  }

  private get files() {
    return {
      pending: join(this.dir, 'pending.json'),
      last: join(this.dir, 'last.json'),
      download: join(this.dir, 'download.t6fw'),
      downloadFor: join(this.dir, 'download.json'),
    };
  }

  /** Reads where we booted from, settles the outcome of an upgrade a reboot ended, and watches a trial. */
  async start(): Promise<this> {
    const { layout, log } = this.deps;
    await mkdir(this.dir, { recursive: true });
    this.version = (await readFile(layout.versionFile, 'utf8').catch(() => 'unknown')).trim();
    this.release = (await readFile(layout.releaseFile, 'utf8').catch(() => 'unknown')).trim();
    this.last = await readJson<LastUpgrade>(this.files.last);
    this.pending = await readJson<Pending>(this.files.pending);
    const slot = slotFromCmdline(await readFile(layout.cmdline, 'utf8').catch(() => ''));
    if (!slot) {
      log.warn(
        { code: 'FIRMWARE_NO_SLOT', cmdline: layout.cmdline },
        'firmware: the kernel command line names no slot (twin6.slot=): upgrades are off',
      );
      return this;
    }
    this.boot = bootState(await withEsp(layout, false, listEntries), slot);
    const p = this.pending;
    if (p) {
      const r = this.boot.running;
      if (p.phase !== 'reboot') {
        await this.finish(p, 'interrupted', `twin6d or the device stopped during ${p.phase}; the running slot ${slot} was not changed`);
      } else if (r && r.slot === p.slot && r.generation === p.generation) {
        if (r.state === 'committed') await this.finish(p, 'committed');
        // else: on trial, settled by the trial watch
      } else {
        const o = this.boot.other;
        await this.finish(
          p,
          'rolled-back',
          `slot ${p.slot} (generation ${p.generation}) did not commit${o && o.slot === p.slot ? ` (its entry: ${o.state})` : ''}: slot ${slot} booted`,
        );
      }
    }
    log.info(
      {
        code: 'FIRMWARE_BOOTED',
        version: this.version,
        slot,
        generation: this.boot.running?.generation ?? null,
        state: this.boot.running?.state ?? 'unknown',
        other: this.boot.other ?? null,
      },
      `firmware: running ${this.version} from slot ${slot}`,
    );
    if (this.boot.running?.state === 'trial') this.watchTrial();
    return this;
  }

  stop(): void {
    clearInterval(this.trialTimer);
    this.abort.abort();
  }

  status(): FirmwareStatus {
    const r = this.boot?.running;
    const o = this.boot?.other;
    const p = this.pending;
    const policy = this.deps.policy();
    return {
      version: this.version,
      release: this.release,
      slot: this.boot?.runningSlot ?? null,
      generation: r?.generation ?? null,
      state: r?.state ?? 'unknown',
      other: o ? { slot: o.slot, generation: o.generation, state: o.state } : null,
      upgrade:
        p && this.running
          ? { requestId: p.requestId, version: p.version, phase: p.phase, bytes: this.progress.bytes, total: this.progress.total }
          : null,
      trial:
        r?.state === 'trial'
          ? {
              ageSec: Math.round(this.ageSec),
              deadlineSec: policy.trialSec,
              healthyForSec: this.healthyForSec,
              waitingFor: this.waitingFor,
            }
          : null,
      last: this.last ?? null,
    };
  }

  /**
   * Starts an upgrade and returns once it is accepted; the rest runs on and
   * shows in status() (and the MQTT state's firmware section and events).
   */
  async upgrade(req: UpgradeRequest): Promise<{ requestId: string }> {
    if (!this.boot) throw new UpgradeRefused('UNAVAILABLE', 'not available: this device was not booted from a boot slot');
    if (this.running || this.accepting)
      throw new UpgradeRefused(
        'BUSY',
        `an upgrade to ${this.pending?.version ?? req.version} is running (${this.pending?.phase ?? 'starting'})`,
      );
    // Claimed before the first await: two commands at once must not both pass the check above.
    this.accepting = true;
    try {
      return await this.accept(req);
    } finally {
      this.accepting = false;
    }
  }

  private async accept(req: UpgradeRequest): Promise<{ requestId: string }> {
    const policy = this.deps.policy();
    const plan = planSlotWrite(this.boot!);
    if ('problem' in plan) throw new UpgradeRefused('REJECTED', plan.problem);
    if (req.size > policy.maxBytes)
      throw new UpgradeRefused('REJECTED', `the bundle is ${req.size} bytes, more than this device takes (${policy.maxBytes})`);
    const have = await this.partialBytes(req);
    const fs = await statfs(this.dir);
    const free = fs.bavail * fs.bsize;
    if (free - (req.size - have) < policy.reserveBytes)
      throw new UpgradeRefused(
        'REJECTED',
        `no space: the download needs ${req.size - have} bytes and ${policy.reserveBytes} must stay free for the leases; ${free} are free on ${this.dir}`,
      );
    const pending: Pending = { ...req, requestId: randomUUID(), phase: 'download', startedAt: new Date().toISOString() };
    await this.setPending(pending);
    this.progress = { bytes: have, total: req.size };
    this.running = this.run(pending).finally(() => (this.running = undefined));
    return { requestId: pending.requestId };
  }

  /** Bytes of a partial download of the same bundle; a different bundle's are dropped. */
  private async partialBytes(req: UpgradeRequest): Promise<number> {
    const f = this.files;
    const was = await readJson<UpgradeRequest>(f.downloadFor);
    if (!was || was.url !== req.url || was.sha256 !== req.sha256 || was.size !== req.size) {
      await rm(f.download, { force: true });
      await writeJsonDurably(f.downloadFor, { url: req.url, sha256: req.sha256, size: req.size, version: req.version });
      return 0;
    }
    return (await stat(f.download).catch(() => undefined))?.size ?? 0;
  }

  private async run(p: Pending): Promise<void> {
    const { log, layout } = this.deps;
    const policy = this.deps.policy();
    const f = this.files;
    try {
      log.info(
        { code: 'FIRMWARE_DOWNLOAD_STARTED', requestId: p.requestId, url: p.url, version: p.version, size: p.size },
        'firmware: downloading',
      );
      const dl = await downloadFile({
        url: p.url,
        dest: f.download,
        size: p.size,
        maxBytes: policy.maxBytes,
        ...(policy.ca ? { ca: policy.ca } : {}),
        onProgress: (bytes, total) => (this.progress = { bytes, total }),
        signal: this.abort.signal,
      });
      if (!dl.ok) {
        // A network failure keeps the partial file: the same command again resumes it.
        const keep = dl.code === 'NETWORK' || dl.code === 'ABORTED';
        if (!keep) await rm(f.download, { force: true });
        return await this.finish(
          p,
          dl.code === 'NETWORK' || dl.code === 'HTTP' || dl.code === 'ABORTED' ? 'failed' : 'refused',
          `download: ${dl.code}: ${dl.problem}`,
        );
      }
      p = await this.setPending({ ...p, phase: 'verify' });
      const { keys, problems } = await loadReleaseKeys(layout.releaseKeys);
      if (keys.size === 0)
        return await this.finish(p, 'refused', `no release key is pinned in ${layout.releaseKeys}: ${problems.join('; ')}`);
      const v = await verifyBundleFile(f.download, { sha256: p.sha256, keys, board: layout.board, version: p.version });
      if (!v.ok) {
        await rm(f.download, { force: true });
        return await this.finish(p, 'refused', `${v.code}: ${v.problem}`);
      }
      if (v.header.manifest.storeFormat < layout.storeFormat) {
        await rm(f.download, { force: true });
        return await this.finish(
          p,
          'refused',
          `the bundle's image reads lease store format ${v.header.manifest.storeFormat}, this one writes ${layout.storeFormat}: it would not read the leases`,
        );
      }
      p = await this.setPending({ ...p, phase: 'write' });
      const written = await this.writeSlot(v.header);
      p = await this.setPending({ ...p, phase: 'reboot', slot: written.slot, generation: written.generation });
      await rm(f.download, { force: true });
      log.warn(
        { code: 'FIRMWARE_REBOOTING', requestId: p.requestId, version: p.version, slot: written.slot, generation: written.generation },
        `firmware: ${p.version} written to slot ${written.slot}; rebooting into its trial`,
      );
      this.rebootSoon();
    } catch (e) {
      log.error({ code: 'FIRMWARE_UPGRADE_FAILED', requestId: p.requestId, err: e }, 'firmware: upgrade failed');
      await this.finish(p, 'failed', `${p.phase}: ${(e as Error).message}`).catch(() => undefined);
    }
  }

  /** The write phase: nothing here makes the slot bootable until the entry, written last. */
  private async writeSlot(h: BundleHeader): Promise<{ slot: SlotName; generation: number }> {
    const { layout } = this.deps;
    const file = this.files.download;
    const part = (name: string) => {
      const x = h.parts.find((q) => q.name === name);
      if (!x) throw new Error(`the bundle has no ${name}`);
      return x;
    };
    // The ESP is mounted read-write only around its own writes, not for the
    // partition's: a power cut during the longest step leaves FAT untouched.
    const { plan, deviceOpts } = await withEsp(layout, true, async (esp) => {
      const state = bootState(await listEntries(esp), this.boot!.runningSlot);
      const plan = planSlotWrite(state);
      if ('problem' in plan) throw new Error(plan.problem);
      await removeDurably(espPaths.entries(esp), plan.remove);
      const runningText = state.running ? await readFile(join(espPaths.entries(esp), state.running.file), 'utf8') : '';
      return { plan, deviceOpts: deviceOptions(runningText) };
    });
    const root = part('rootfs.squashfs');
    await writePartition({ file, offset: root.offset, size: root.size }, await resolveDevice(layout.partitions[plan.slot]), root.sha256);
    await withEsp(layout, true, async (esp) => {
      const slotDir = espPaths.slotDir(esp, plan.slot);
      await mkdir(slotDir, { recursive: true });
      for (const name of ['vmlinuz', 'initrd.gz'] as const) {
        const x = part(name);
        await copyRangeDurably({ file, offset: x.offset, size: x.size }, slotDir, name);
      }
      const text = entryText({ title: h.manifest.release, slot: plan.slot, kernelArgs: h.manifest.kernelArgs, deviceOptions: deviceOpts });
      await writeFileDurably(espPaths.entries(esp), plan.entryFile, text);
      this.boot = bootState(await listEntries(esp), this.boot!.runningSlot);
    });
    return { slot: plan.slot, generation: plan.generation };
  }

  private rebootSoon(): void {
    // A moment for the state document and the progress event to leave.
    setTimeout(() => {
      const [cmd, ...args] = this.deps.layout.reboot;
      execFile(cmd!, args, (err) => {
        if (err) this.deps.log.error({ code: 'FIRMWARE_REBOOT_FAILED', err }, 'firmware: reboot command failed');
      });
    }, 2000).unref();
  }

  private watchTrial(): void {
    const { log, layout } = this.deps;
    let busy = false;
    this.trialTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      void (async () => {
        const policy = this.deps.policy();
        this.ageSec = Number((await readFile(layout.uptime, 'utf8').catch(() => '0')).split(/\s/)[0]) || 0;
        const h = await this.deps.health();
        this.healthyForSec = h.healthy ? this.healthyForSec + TICK_MS / 1000 : 0;
        this.waitingFor = h.healthy ? '' : h.waitingFor;
        if (this.healthyForSec >= policy.healthySec) {
          clearInterval(this.trialTimer);
          await this.commit();
        } else if (this.ageSec > policy.trialSec) {
          clearInterval(this.trialTimer);
          log.error(
            {
              code: 'FIRMWARE_TRIAL_FAILED',
              version: this.version,
              slot: this.boot?.runningSlot,
              ageSec: Math.round(this.ageSec),
              waitingFor: h.waitingFor,
            },
            `firmware: not healthy ${policy.trialSec} s after boot (waiting for ${h.waitingFor}): rebooting to the previous slot`,
          );
          this.rebootSoon();
        }
      })()
        .catch((e: unknown) => log.error({ code: 'FIRMWARE_UPGRADE_FAILED', err: e }, 'firmware: trial check failed'))
        .finally(() => (busy = false));
    }, TICK_MS);
    this.trialTimer.unref();
  }

  private async commit(): Promise<void> {
    const { layout, log } = this.deps;
    const r = this.boot?.running;
    if (!r || r.state !== 'trial') return;
    await withEsp(layout, true, async (esp) => {
      await renameDurably(espPaths.entries(esp), r.file, committedFile(r));
      this.boot = bootState(await listEntries(esp), r.slot);
    });
    log.info(
      { code: 'FIRMWARE_COMMITTED', version: this.version, slot: r.slot, generation: r.generation },
      `firmware: ${this.version} committed in slot ${r.slot}`,
    );
    const p = this.pending;
    if (p && p.slot === r.slot && p.generation === r.generation) await this.finish(p, 'committed');
  }

  private async setPending(p: Pending): Promise<Pending> {
    await writeJsonDurably(this.files.pending, p);
    this.pending = p;
    return p;
  }

  private async finish(p: Pending, outcome: UpgradeOutcome, reason?: string): Promise<void> {
    const last: LastUpgrade = {
      requestId: p.requestId,
      version: p.version,
      outcome,
      ...(reason ? { reason } : {}),
      at: new Date().toISOString(),
    };
    await writeJsonDurably(this.files.last, last);
    await rm(this.files.pending, { force: true });
    this.last = last;
    this.pending = undefined;
    // A commit has its own line (FIRMWARE_COMMITTED, logged where it happens).
    if (outcome !== 'committed')
      this.deps.log.warn(
        { code: 'FIRMWARE_UPGRADE_OUTCOME', requestId: p.requestId, version: p.version, outcome, reason },
        `firmware: upgrade to ${p.version} ${outcome}${reason ? `: ${reason}` : ''}`,
      );
  }
}

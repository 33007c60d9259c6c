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
// one after a rollback — and a slot written but not kept is never left
// bootable. `stage: true` stops after verify (a pair's rollout downloads
// before it hands a partner's clients over). One upgrade at a time.

import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { verifyBundleFile, loadReleaseKeys } from './bundle-file.js';
import type { BundleHeader } from './bundle.js';
import { downloadFile } from './download.js';
import type { SlotLayout } from './layout.js';
import { DTB_PART, selectorOf, type BootSelector } from './boot-selector.js';
import { copyRangeDurably, espPaths, resolveDevice, withEsp, writePartition } from './slot-disk.js';
import { otherSlot, planSlotWrite, slotFromCmdline, type BootState, type SlotName } from './slots.js';
import { writeJsonDurably, readJson } from './state-files.js';
import type { FirmwareStatus, LastUpgrade, UpgradeOutcome, UpgradePhase, UpgradeRequest } from '../mgmt/documents.js';

export type { FirmwareStatus, LastUpgrade, UpgradeOutcome, UpgradePhase, UpgradeRequest } from '../mgmt/documents.js';

interface Pending extends UpgradeRequest {
  readonly requestId: string;
  readonly phase: UpgradePhase;
  readonly startedAt: string;
  /** /proc/sys/kernel/random/boot_id when accepted: a start with the same one did not reboot. */
  readonly bootId: string;
  /** Set before the first write of the write phase: the slot and entry generation being written. */
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
  /** The whole download's deadline (a server that trickles bytes never trips the idle timeout). */
  readonly downloadMs: number;
  /** Trust anchor for the HTTPS server (a PEM file); default node's. */
  readonly caFile?: string;
}

export const FIRMWARE_DEFAULTS: Omit<FirmwarePolicy, 'caFile'> = {
  trialSec: 300,
  healthySec: 30,
  maxBytes: 256 << 20,
  reserveBytes: 16 << 20,
  downloadMs: 3600_000,
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
  private rebootTimer: NodeJS.Timeout | undefined;
  private healthyForSec = 0;
  private waitingFor = '';
  private ageSec = 0;
  private bootId = '';
  private readonly abort = new AbortController();
  /** This upgrade's: firmware.cancel aborts it. */
  private runAbort: AbortController | undefined;
  /** pending.json and last.json: small, kept across an image change with the leases. */
  private readonly dir: string;
  /** The download: on the flash, but outside what an image change copies (the bundle is the size of a root). */
  private readonly downloadDir: string;

  private readonly selector: BootSelector;

  constructor(private readonly deps: FirmwareDeps) {
    this.selector = selectorOf(deps.layout.selector);
    this.dir = join(deps.stateDir, 'firmware');
    this.downloadDir = deps.layout.downloadDir ?? this.dir;
  }

  private get files() {
    return {
      pending: join(this.dir, 'pending.json'),
      last: join(this.dir, 'last.json'),
      download: join(this.downloadDir, 'download.t6fw'),
      downloadFor: join(this.downloadDir, 'download.json'),
    };
  }

  /** Reads where we booted from, settles the outcome of an upgrade a reboot ended, and watches a trial. */
  async start(): Promise<this> {
    const { layout, log } = this.deps;
    await mkdir(this.dir, { recursive: true });
    await mkdir(this.downloadDir, { recursive: true });
    this.version = (await readFile(layout.versionFile, 'utf8').catch(() => 'unknown')).trim();
    this.release = (await readFile(layout.releaseFile, 'utf8').catch(() => 'unknown')).trim();
    this.bootId = (await readFile(layout.bootId ?? '/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
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
    this.boot = await withEsp(layout, false, (boot) => this.selector.read(boot, slot));
    await this.tidyEntries();
    await this.settle(slot);
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

  /**
   * Entries the boot loader left in a state the slots' rules do not expect:
   * the running entry still counted with tries left (the firmware could not
   * rename it: its try is spent here, or a failing trial would boot it again
   * and again), and a name twice, counted and not (a cut in the middle of a
   * rename on FAT: the committed one wins).
   */
  private async tidyEntries(): Promise<void> {
    const b = this.boot!;
    if (!this.selector.needsTidy(b)) return;
    await this.changeBoot((boot) => this.selector.tidy(boot, b));
  }

  /** A change on the boot partition, mounted read-write for it; the state read again after. */
  private async changeBoot(fn: (boot: string) => Promise<void>): Promise<void> {
    const running = this.boot!.runningSlot;
    await withEsp(this.deps.layout, true, async (boot) => {
      try {
        await fn(boot);
      } finally {
        this.boot = await this.selector.read(boot, running);
      }
    });
  }

  /** What became of the upgrade pending.json names, now that this image runs. */
  private async settle(slot: SlotName): Promise<void> {
    const p = this.pending;
    if (!p) return;
    const r = this.boot!.running;
    if (p.slot !== undefined && r && r.slot === p.slot && r.generation === p.generation) {
      // The new slot booted (a cut after its entry was written counts too): the trial decides.
      if (r.state === 'committed') await this.finish(p, 'committed');
      return;
    }
    if (p.phase === 'reboot' && p.bootId === this.bootId) {
      // Written, but the reboot never came (twin6d restarted inside the 2 s, or the reboot failed).
      this.deps.log.warn(
        { code: 'FIRMWARE_REBOOTING', requestId: p.requestId, version: p.version, slot: p.slot, generation: p.generation },
        `firmware: ${p.version} is in slot ${p.slot} but the device did not reboot: rebooting now`,
      );
      this.rebootSoon();
      return;
    }
    // The new slot did not run, or did not commit: make sure it never boots later by surprise.
    await this.removePendingEntries();
    const o = this.boot!.other;
    if (p.phase === 'reboot')
      await this.finish(
        p,
        'rolled-back',
        `slot ${p.slot} (generation ${p.generation}) did not commit${o && o.slot === p.slot ? ` (its entry: ${o.state})` : ''}: slot ${slot} booted`,
      );
    else await this.finish(p, 'interrupted', `twin6d or the device stopped during ${p.phase}; the running slot ${slot} was not changed`);
  }

  /** The other slot's entries that still have tries left: written, never to boot now. */
  private async removePendingEntries(): Promise<void> {
    const b = this.boot!;
    if (this.selector.pendingOf(b).length === 0) return;
    await this.changeBoot((boot) => this.selector.removePending(boot, b));
  }

  stop(): void {
    clearInterval(this.trialTimer);
    clearTimeout(this.rebootTimer);
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
        p && (this.running || p.phase === 'reboot')
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
    if (this.running || this.accepting || this.pending?.phase === 'reboot')
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
    const fs = await statfs(this.downloadDir);
    const free = fs.bavail * fs.bsize;
    if (free - (req.size - have) < policy.reserveBytes)
      throw new UpgradeRefused(
        'REJECTED',
        `no space: the download needs ${req.size - have} bytes and ${policy.reserveBytes} must stay free for the leases; ${free} are free on ${this.downloadDir}`,
      );
    const pending: Pending = {
      ...req,
      requestId: randomUUID(),
      phase: 'download',
      startedAt: new Date().toISOString(),
      bootId: this.bootId,
    };
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
      // Read here, not in policy(): an unreadable file fails this upgrade, not the status.
      const ca = policy.caFile ? await readFile(policy.caFile, 'utf8') : undefined;
      const cancel = (this.runAbort = new AbortController());
      const deadline = AbortSignal.timeout(policy.downloadMs);
      const dl = await downloadFile({
        url: p.url,
        dest: f.download,
        size: p.size,
        maxBytes: policy.maxBytes,
        ...(ca ? { ca } : {}),
        onProgress: (bytes, total) => (this.progress = { bytes, total }),
        signal: AbortSignal.any([this.abort.signal, cancel.signal, deadline]),
      });
      if (cancel.signal.aborted) return await this.cancelled(p);
      if (!dl.ok && deadline.aborted)
        return await this.finish(
          p,
          'failed',
          `download: not done ${Math.round(policy.downloadMs / 1000)} s after the command (firmware.downloadSec); the same command resumes it`,
        );
      if (!dl.ok) {
        // A network failure keeps the partial file: the same command again resumes it.
        const keep = dl.code === 'NETWORK' || dl.code === 'ABORTED';
        if (!keep) await rm(f.download, { force: true });
        return await this.finish(
          p,
          dl.code === 'NETWORK' || dl.code === 'HTTP' || dl.code === 'ABORTED' || dl.code === 'WRITE_FAILED' ? 'failed' : 'refused',
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
      if (cancel.signal.aborted) return await this.cancelled(p);
      if (p.stage)
        return await this.finish(
          p,
          'staged',
          `downloaded and verified; the same command without stage writes slot ${otherSlot(this.boot!.runningSlot)}`,
        );
      await this.writeSlot(v.header, p);
      p = this.pending!;
      await rm(f.download, { force: true });
      await rm(f.downloadFor, { force: true });
      log.warn(
        { code: 'FIRMWARE_REBOOTING', requestId: p.requestId, version: p.version, slot: p.slot, generation: p.generation },
        `firmware: ${p.version} written to slot ${p.slot}; rebooting into its trial`,
      );
      this.rebootSoon();
    } catch (e) {
      log.error({ code: 'FIRMWARE_UPGRADE_FAILED', requestId: p.requestId, err: e }, 'firmware: upgrade failed');
      // The new slot may have its entry already: it must not boot later by surprise.
      await this.removeWritten().catch(() => undefined);
      await this.finish(this.pending ?? p, 'failed', `${(this.pending ?? p).phase}: ${(e as Error).message}`).catch(() => undefined);
    }
  }

  /**
   * firmware.cancel: an upgrade still downloading or verifying stops (its
   * download dropped); with none running, a staged or partial download is
   * dropped. A slot being written is not stopped: the write ends in seconds,
   * and a half-written slot is what the sequence exists to avoid.
   */
  async cancel(): Promise<{ cancelled: string | null; droppedBytes: number }> {
    const p = this.pending;
    if (p && (p.phase === 'write' || p.phase === 'reboot'))
      throw new UpgradeRefused(
        'BUSY',
        p.phase === 'write'
          ? `slot ${p.slot ?? '?'} is being written for ${p.version}: not stopped halfway; it reboots into the trial when done`
          : `${p.version} is written to slot ${p.slot ?? '?'} and the device is rebooting into it`,
      );
    if (this.running && this.runAbort) {
      this.runAbort.abort();
      await this.running;
      return { cancelled: p?.requestId ?? null, droppedBytes: 0 };
    }
    const bytes = (await stat(this.files.download).catch(() => undefined))?.size ?? 0;
    if (bytes === 0 && !(await stat(this.files.downloadFor).catch(() => undefined)))
      throw new UpgradeRefused('REJECTED', 'no upgrade is running and no bundle is staged');
    await rm(this.files.download, { force: true });
    await rm(this.files.downloadFor, { force: true });
    this.deps.log.info({ code: 'FIRMWARE_CANCELLED', droppedBytes: bytes }, `firmware: the staged download (${bytes} bytes) dropped`);
    return { cancelled: null, droppedBytes: bytes };
  }

  private async cancelled(p: Pending): Promise<void> {
    await rm(this.files.download, { force: true });
    await rm(this.files.downloadFor, { force: true });
    await this.finish(p, 'cancelled', `by firmware.cancel during ${p.phase}`);
  }

  /** After a failed write: the target slot's entry, if it got that far, removed. */
  private async removeWritten(): Promise<void> {
    const p = this.pending;
    if (p?.slot === undefined || p.generation === undefined) return;
    const { slot, generation } = p;
    await this.changeBoot((boot) => this.selector.removeWritten(boot, slot, generation));
  }

  /**
   * The write phase. pending.json names the slot and generation before the
   * first write, so whatever a power cut leaves is read right at the next
   * start; nothing makes the slot bootable until its entry, written last.
   * The ESP is mounted read-write only around its own writes, not for the
   * partition's: a cut during the longest step leaves FAT untouched.
   */
  private async writeSlot(h: BundleHeader, p: Pending): Promise<void> {
    const { layout } = this.deps;
    const file = this.files.download;
    const part = (name: string) => {
      const x = h.parts.find((q) => q.name === name);
      if (!x) throw new Error(`the bundle has no ${name}`);
      return x;
    };
    const sel = this.selector;
    const plan = await withEsp(layout, true, async (boot) => {
      const state = await sel.read(boot, this.boot!.runningSlot);
      const plan = planSlotWrite(state);
      if ('problem' in plan) throw new Error(plan.problem);
      await this.setPending({ ...p, phase: 'write', slot: plan.slot, generation: plan.generation });
      // The target's boot files go first (its old kernel too: a partition sized
      // for two kernel sets must not hold three while the new ones are written).
      return sel.beginWrite(boot, state, plan);
    });
    const root = part('rootfs.squashfs');
    const device = await resolveDevice(layout.partitions[plan.slot]);
    await writePartition({ file, offset: root.offset, size: root.size }, device, root.sha256);
    await this.changeBoot(async (boot) => {
      const slotDir = espPaths.slotDir(boot, plan.slot);
      const files: [string, string][] = [
        ['vmlinuz', sel.kernelFile],
        ['initrd.gz', 'initrd.gz'],
        ...(h.parts.some((x) => x.name === DTB_PART) ? ([[DTB_PART, DTB_PART]] as [string, string][]) : []),
      ];
      for (const [name, as] of files) {
        const x = part(name);
        await copyRangeDurably({ file, offset: x.offset, size: x.size }, slotDir, as, x.sha256);
      }
      await sel.finishWrite(boot, plan, h);
    });
    await this.setPending({ ...this.pending!, phase: 'reboot' });
  }

  /** Reboots in 2 s (for the state document and the event to leave); a failed reboot is tried again every minute. */
  private rebootSoon(delayMs = 2000): void {
    clearTimeout(this.rebootTimer);
    this.rebootTimer = setTimeout(() => {
      const [cmd, ...args] = this.deps.layout.reboot;
      execFile(cmd!, args, (err) => {
        if (!err) return;
        this.deps.log.error({ code: 'FIRMWARE_REBOOT_FAILED', err }, 'firmware: the reboot command failed; trying again in 60 s');
        this.rebootSoon(60_000);
      });
    }, delayMs);
    this.rebootTimer.unref();
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
          // Cleared only once it took: a commit that failed (the ESP busy) is tried again next tick.
          await this.commit();
          clearInterval(this.trialTimer);
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
    const { log } = this.deps;
    const r = this.boot?.running;
    if (!r || r.state !== 'trial') return;
    await this.changeBoot((boot) => this.selector.commit(boot, r));
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
    // A commit has its own line (FIRMWARE_COMMITTED, logged where it happens); staged is a step, not an end.
    if (outcome === 'staged')
      this.deps.log.info({ code: 'FIRMWARE_STAGED', requestId: p.requestId, version: p.version }, `firmware: ${p.version} staged`);
    else if (outcome !== 'committed')
      this.deps.log.warn(
        { code: 'FIRMWARE_UPGRADE_OUTCOME', requestId: p.requestId, version: p.version, outcome, reason },
        `firmware: upgrade to ${p.version} ${outcome}${reason ? `: ${reason}` : ''}`,
      );
  }
}

// What decides which slot boots, and how twin6d changes it (I/O on the boot
// partition; the rules are slots.ts's and uboot-files.ts's). Two kinds, named
// by the image's /etc/twin6-slots.json (`selector`):
//
//   systemd-boot  the UEFI disks: one entry file per slot, boot counting in
//                 its name (slots.ts)
//   uboot-files   the SD-card boards: a boot script in U-Boot reads small env
//                 files (uboot-files.ts)
//
// The upgrade service (service.ts) only sees this interface, so a slot's
// write, trial, commit and rollback follow the same sequence on both.

import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BundleHeader } from './bundle.js';
import type { SlotSelector } from './layout.js';
import { espPaths, listEntries, removeDurably, renameDurably, writeFileDurably } from './slot-disk.js';
import {
  bootState,
  committedFile,
  deviceOptions,
  entryFileName,
  entryText,
  ownArgs,
  TRIAL_TRIES,
  type BootState,
  type SlotName,
  type SlotView,
  type SlotWritePlan,
} from './slots.js';
import { ENV_FILE_MAX, envText, parseEnvText, slotEnv, UBOOT_FILES, ubootBootState, type UbootFileTexts } from './uboot-files.js';

/** A planned write of the other slot, and what the new boot configuration carries over from the running one. */
export interface WritePlan extends SlotWritePlan {
  /** The device's own kernel arguments (an installer's, the lab's), carried to the new slot. */
  readonly deviceArgs: readonly string[];
  /** uboot-files: the running slot's twin6.data= word (the flash is a board fact the bundle does not know). */
  readonly dataArg?: string;
}

export interface BootSelector {
  readonly kind: SlotSelector;
  /** The file name a slot's kernel has on the boot partition. */
  readonly kernelFile: string;
  read(boot: string, running: SlotName): Promise<BootState>;
  /** Whether tidy has anything to do (the partition is mounted read-write only then). */
  needsTidy(b: BootState): boolean;
  /** Spends an unspent try of the running trial; drops what a cut in a rename left twice. */
  tidy(boot: string, b: BootState): Promise<void>;
  /** The other slot's trial requests (written, never to boot now). */
  pendingOf(b: BootState): readonly string[];
  removePending(boot: string, b: BootState): Promise<void>;
  /** Makes the planned target unbootable before a byte of it changes; says what carries over. */
  beginWrite(boot: string, b: BootState, plan: SlotWritePlan): Promise<WritePlan>;
  /** The last write: the slot boots once, on trial. */
  finishWrite(boot: string, plan: WritePlan, h: BundleHeader): Promise<void>;
  /** After a failed write: the trial request for that slot and generation, if it got that far. */
  removeWritten(boot: string, slot: SlotName, generation: number): Promise<void>;
  commit(boot: string, running: SlotView): Promise<void>;
}

/** The target slot's directory emptied: an ESP sized for two kernel sets must not hold three. */
async function emptySlotDir(boot: string, slot: SlotName): Promise<void> {
  const dir = espPaths.slotDir(boot, slot);
  await mkdir(dir, { recursive: true });
  await removeDurably(dir, await readdir(dir));
}

export const systemdBoot: BootSelector = {
  kind: 'systemd-boot',
  kernelFile: 'vmlinuz',
  async read(boot, running) {
    return bootState(await listEntries(boot), running);
  },
  needsTidy(b) {
    return (b.running?.state === 'trial' && (b.running.triesLeft ?? 0) > 0) || b.duplicates.length > 0;
  },
  async tidy(boot, b) {
    const dir = espPaths.entries(boot);
    await removeDurably(dir, b.duplicates);
    const r = b.running;
    if (r?.state === 'trial' && (r.triesLeft ?? 0) > 0)
      await renameDurably(dir, r.file, entryFileName(r.generation, r.slot, 0, (r.triesDone ?? 0) + 1));
  },
  pendingOf(b) {
    return b.entries.filter((e) => e.slot !== b.runningSlot && (e.triesLeft ?? 0) > 0).map((e) => e.file);
  },
  async removePending(boot, b) {
    await removeDurably(espPaths.entries(boot), this.pendingOf(b));
  },
  async beginWrite(boot, b, plan) {
    await removeDurably(espPaths.entries(boot), plan.remove);
    await emptySlotDir(boot, plan.slot);
    const runningText = b.running ? await readFile(join(espPaths.entries(boot), b.running.file), 'utf8') : '';
    return { ...plan, deviceArgs: deviceOptions(runningText) };
  },
  async finishWrite(boot, plan, h) {
    const text = entryText({
      title: h.manifest.release,
      slot: plan.slot,
      kernelArgs: h.manifest.kernelArgs,
      deviceOptions: plan.deviceArgs,
    });
    await writeFileDurably(espPaths.entries(boot), plan.entryFile, text);
  },
  async removeWritten(boot, slot, generation) {
    await removeDurably(espPaths.entries(boot), [entryFileName(generation, slot, TRIAL_TRIES)]);
  },
  async commit(boot, running) {
    await renameDurably(espPaths.entries(boot), running.file, committedFile(running));
  },
};

async function readSmall(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).slice(0, ENV_FILE_MAX);
  } catch {
    return undefined;
  }
}

async function ubootTexts(boot: string): Promise<UbootFileTexts> {
  const [committed, trial, a, b] = await Promise.all([
    readSmall(join(boot, UBOOT_FILES.committed)),
    readSmall(join(boot, UBOOT_FILES.trial)),
    readSmall(join(boot, UBOOT_FILES.slotEnv('a'))),
    readSmall(join(boot, UBOOT_FILES.slotEnv('b'))),
  ]);
  return {
    ...(committed !== undefined ? { committed } : {}),
    ...(trial !== undefined ? { trial } : {}),
    slotEnv: { ...(a !== undefined ? { a } : {}), ...(b !== undefined ? { b } : {}) },
  };
}

/** Writes boot/<rel> durably (temporary name, fsync, rename, fsync of the directory). */
const writeRel = (boot: string, rel: string, text: string) => {
  const i = rel.lastIndexOf('/');
  return writeFileDurably(join(boot, rel.slice(0, i)), rel.slice(i + 1), text);
};
const removeRel = (boot: string, rel: string) => {
  const i = rel.lastIndexOf('/');
  return removeDurably(join(boot, rel.slice(0, i)), [rel.slice(i + 1)]);
};

/** The part a bundle carries the board's DTB in, where the board loads one from the boot partition. */
export const DTB_PART = 'board.dtb';

export const ubootFiles: BootSelector = {
  kind: 'uboot-files',
  kernelFile: 'Image',
  async read(boot, running) {
    return ubootBootState(await ubootTexts(boot), running);
  },
  needsTidy(b) {
    return b.running?.state === 'trial' && (b.running.triesLeft ?? 0) > 0;
  },
  async tidy(boot, b) {
    // U-Boot booted the trial without spending it (its write failed): spent here, or a
    // failing trial would boot again and again.
    if (this.needsTidy(b)) await writeRel(boot, UBOOT_FILES.trial, envText({ twin6_spent: b.runningSlot }));
  },
  pendingOf(b) {
    return b.other?.state === 'pending' ? [UBOOT_FILES.trial] : [];
  },
  async removePending(boot, b) {
    if (this.pendingOf(b).length > 0) await removeRel(boot, UBOOT_FILES.trial);
  },
  async beginWrite(boot, b, plan) {
    if (b.other?.state === 'pending') await removeRel(boot, UBOOT_FILES.trial);
    const running = slotEnv(await readSmall(join(boot, UBOOT_FILES.slotEnv(b.runningSlot))));
    await emptySlotDir(boot, plan.slot);
    const dataArg = running?.args.split(/\s+/).find((w) => w.startsWith('twin6.data='));
    const own = ownArgs(running?.device ?? '');
    return {
      ...plan,
      entryFile: UBOOT_FILES.trial,
      deviceArgs: own ? [own] : [],
      ...(dataArg ? { dataArg } : {}),
    };
  },
  async finishWrite(boot, plan, h) {
    const dtb = h.parts.some((p) => p.name === DTB_PART);
    const args = [h.manifest.kernelArgs, plan.dataArg, ...plan.deviceArgs].filter((w) => w).join(' ');
    await writeRel(
      boot,
      UBOOT_FILES.slotEnv(plan.slot),
      envText({
        twin6_gen: plan.generation,
        twin6_args: args,
        ...(plan.deviceArgs.length > 0 ? { twin6_device: plan.deviceArgs.join(' ') } : {}),
        ...(dtb ? { twin6_fdt: `twin6/${plan.slot}/${DTB_PART}` } : {}),
      }),
    );
    // The one write that makes the slot boot (once).
    await writeRel(boot, UBOOT_FILES.trial, envText({ twin6_trial: plan.slot, twin6_trial_gen: plan.generation }));
  },
  async removeWritten(boot, slot) {
    const t = parseEnvText((await readSmall(join(boot, UBOOT_FILES.trial))) ?? '');
    if (t.get('twin6_trial') === slot) await removeRel(boot, UBOOT_FILES.trial);
    await removeRel(boot, UBOOT_FILES.slotEnv(slot));
  },
  async commit(boot, running) {
    const b = ubootBootState(await ubootTexts(boot), running.slot);
    const prev = b.other?.generation;
    await writeRel(
      boot,
      UBOOT_FILES.committed,
      envText({ twin6_committed: running.slot, twin6_committed_gen: running.generation, ...(prev ? { twin6_previous_gen: prev } : {}) }),
    );
    await removeRel(boot, UBOOT_FILES.trial);
  },
};

export function selectorOf(kind: SlotSelector): BootSelector {
  return kind === 'uboot-files' ? ubootFiles : systemdBoot;
}

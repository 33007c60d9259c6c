// Where the boot slots are on this device: /etc/twin6-slots.json, written by
// scripts/build-image into every image with two root slots: the UEFI disks,
// whose slots systemd-boot picks, and the SD cards, whose slots U-Boot's boot
// script picks from files on the FAT boot partition (docs/image.md §5). It is a
// fact of the image, not operator config: the same twin6.json serves a box
// with slots and one without. twin6d --slots FILE reads it; without it the
// firmware commands answer UNAVAILABLE.
//
// The same code runs against a host directory and plain files in the
// integration tests: `espMount: null` says the ESP is a directory already.

import { readFile } from 'node:fs/promises';
import type { SlotName } from './slots.js';

/**
 * What picks the slot at boot: systemd-boot's boot counting (loader entries on
 * the ESP), or U-Boot's boot.scr reading twin6/committed.env and a one-try
 * twin6/trial.env on the FAT boot partition.
 */
export type SlotSelector = 'systemd-boot' | 'uboot-files';
const SELECTORS: readonly SlotSelector[] = ['systemd-boot', 'uboot-files'];

export interface SlotLayout {
  /** The board id a bundle must be built for. */
  readonly board: string;
  /** What picks the slot at boot; 'systemd-boot' where the file names none (the files written before there was a choice). */
  readonly selector: SlotSelector;
  /**
   * The FAT partition the boot files live on (the ESP of a UEFI disk, partition
   * 1 of an SD card): PARTLABEL=NAME or a path (a block device, or a directory
   * when espMount is null).
   */
  readonly esp: string;
  /** Where the ESP is mounted while twin6d reads or writes it; null: esp is a directory. */
  readonly espMount: string | null;
  /** Each slot's root partition, and rootfs_data where the file names it: PARTLABEL=NAME or a path. */
  readonly partitions: Readonly<Record<SlotName, string>> & { readonly data?: string };
  /** The kernel command line (twin6.slot=): /proc/cmdline. */
  readonly cmdline: string;
  /** Seconds since boot in its first field: /proc/uptime. A trial's age is counted from boot, not from twin6d's start. */
  readonly uptime: string;
  /** The running image's version (what a firmware.upgrade names as target): /etc/twin6-version. */
  readonly versionFile: string;
  /** The running image's release line: /etc/twin6-release. */
  readonly releaseFile: string;
  /** Directory of pinned release keys, one *.pub each. */
  readonly releaseKeys: string;
  /** The lease store format this image writes (a bundle's storeFormat is compared with it). */
  readonly storeFormat: number;
  /** Command that reboots the device (argv). */
  readonly reboot: readonly string[];
  /** Checks and repairs the ESP before each mount (argv, the device appended): fsck.fat -a -w. Absent: none. */
  readonly fsck?: readonly string[];
  /**
   * Where a bundle is downloaded: on the flash, outside the directories an
   * image change copies (/overlay/twin6-firmware). Default: the state directory's firmware/.
   */
  readonly downloadDir?: string;
  /** This boot's id (/proc/sys/kernel/random/boot_id, the default): a start with the same id did not reboot. */
  readonly bootId?: string;
}

export class LayoutError extends Error {
  constructor(file: string, key: string, problem: string) {
    super(`${file}: ${key}: ${problem}`);
    this.name = 'LayoutError';
  }
}

const text = (file: string, o: Record<string, unknown>, key: string): string => {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new LayoutError(file, key, 'must be a non-empty string');
  return v;
};

/** Reads and checks a layout file; every problem names its key. */
export async function loadSlotLayout(file: string): Promise<SlotLayout> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new LayoutError(file, '(file)', (e as Error).message);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new LayoutError(file, '(file)', 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  const parts = o['partitions'];
  if (parts === null || typeof parts !== 'object') throw new LayoutError(file, 'partitions', 'must be an object with a and b');
  const p = parts as Record<string, unknown>;
  const espMount = o['espMount'];
  if (espMount !== null && typeof espMount !== 'string') throw new LayoutError(file, 'espMount', 'must be a path or null');
  const reboot = o['reboot'];
  if (!Array.isArray(reboot) || reboot.length === 0 || !reboot.every((w) => typeof w === 'string'))
    throw new LayoutError(file, 'reboot', 'must be a non-empty list of strings (a command and its arguments)');
  const storeFormat = o['storeFormat'];
  if (typeof storeFormat !== 'number' || !Number.isInteger(storeFormat) || storeFormat < 1)
    throw new LayoutError(file, 'storeFormat', 'must be a positive integer');
  const selector = o['selector'] ?? 'systemd-boot';
  if (!SELECTORS.includes(selector as SlotSelector)) throw new LayoutError(file, 'selector', `must be one of ${SELECTORS.join(', ')}`);
  const fsck = o['fsck'];
  if (fsck !== undefined && (!Array.isArray(fsck) || fsck.length === 0 || !fsck.every((w) => typeof w === 'string')))
    throw new LayoutError(file, 'fsck', 'must be a non-empty list of strings (a command and its arguments)');
  const optionalText = (key: string): Record<string, string> => {
    if (o[key] === undefined) return {};
    return { [key]: text(file, o, key) };
  };
  return {
    ...(fsck ? { fsck: fsck as string[] } : {}),
    ...optionalText('downloadDir'),
    ...optionalText('bootId'),
    board: text(file, o, 'board'),
    selector: selector as SlotSelector,
    esp: text(file, o, 'esp'),
    espMount,
    partitions: { a: text(file, p, 'a'), b: text(file, p, 'b'), ...(p['data'] === undefined ? {} : { data: text(file, p, 'data') }) },
    cmdline: text(file, o, 'cmdline'),
    uptime: text(file, o, 'uptime'),
    versionFile: text(file, o, 'versionFile'),
    releaseFile: text(file, o, 'releaseFile'),
    releaseKeys: text(file, o, 'releaseKeys'),
    storeFormat,
    reboot: reboot as string[],
  };
}

// The structural check of an SD card image (scripts/image/sd-image.sh, board
// profile image.disk kind rpi-sd, rockchip-sd or qemu-uboot-sd). No real board
// boots here, so CI checks what the boot ROM, the firmware, U-Boot and its boot
// script, and the kernel will look for, each from its own specification
// (formats.ts): the MBR and the partitions' places and sizes, U-Boot's two
// parts at the sectors the RK3399 boot ROM and SPL read (rockchip-sd), the
// FAT32 boot partition with boot.scr and the files it reads, the firmware's
// config.txt (rpi-sd), the DTB's compatible and aliases, the arm64 Image header
// and where it will be loaded, the command line, squashfs at partition 2
// (rootfs_a), a blank or squashfs partition 3 (rootfs_b) and a blank or ext4
// partition 4 (rootfs_data).
// Every problem is reported, not just the first, each as one line.
//
// TypeScript rather than a shell script: the formats are parsed from bytes
// with bounds checked, the board profile's own type gives the expectations,
// and the tests (test/e2e/sd-image.test.ts) call the same function on
// corrupted copies to show that each check can fail.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { SdDisk, BoardProfile } from '../../board/profile.js';
import { checkBootPartition, ubootEnvAddresses } from './boot-check.js';
import { openFat32 } from './fat.js';
import { fdtStrings, parseFdt, parseMbr, type MbrPartition } from './formats.js';
import type { BuildFiles, Draft, SdReport } from './report.js';

export {
  fdtStrings,
  parseArm64Image,
  parseConfigTxt,
  parseEnvText,
  parseExtlinux,
  parseFdt,
  parseMbr,
  parseUbootScript,
} from './formats.js';
export type { MbrPartition } from './formats.js';
export type { BuildFiles, SdReport, UbootAddresses } from './report.js';

const SECTOR = 512;
const MIB = 1024 * 1024;
/** Partitions start on 4 MiB boundaries, the SD erase unit sd-image.sh aligns to. */
const ALIGN_SECTORS = (4 * MIB) / SECTOR;
/** Where the RK3399 boot ROM reads idbloader.img, and SPL reads u-boot.itb (CONFIG_SYS_MMCSD_RAW_MODE_U_BOOT_SECTOR). */
export const RK_IDBLOADER_SECTOR = 64;
export const RK_UBOOT_SECTOR = 16384;
/** The FIT header of u-boot.itb is read up to this size (its data follows it). */
const FIT_HEADER_MAX = 64 * 1024;

export type ReadAt = (offset: number, length: number) => Buffer;

/** Checks an SD image against its board profile; `problems` is empty when every check passed. */
export function checkSdImage(imagePath: string, board: BoardProfile, build: BuildFiles = {}): SdReport {
  const fd = openSync(imagePath, 'r');
  try {
    const imageBytes = fstatSync(fd).size;
    const readAt = (offset: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      const n = readSync(fd, buf, 0, length, offset);
      if (n !== length) throw new Error(`short read: ${n} of ${length} bytes at ${offset} (the image is ${imageBytes} bytes)`);
      return buf;
    };
    return checkWith(readAt, imageBytes, board, build);
  } finally {
    closeSync(fd);
  }
}

function checkWith(readAt: ReadAt, imageBytes: number, board: BoardProfile, build: BuildFiles): SdReport {
  const report: Draft = { problems: [], partitions: [], bootFiles: {}, compatible: [], imageBytes };
  const problems = report.problems;
  const disk = board.image.disk;
  if (!disk || disk.kind === 'efi-gpt') return { ...report, problems: [`board ${board.id} has no SD card image`] };
  const guard = <T>(what: string, f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
      return undefined;
    }
  };

  const parts = guard('MBR', () => parseMbr(readAt(0, SECTOR))) ?? [];
  report.partitions = parts;
  checkPartitionTable(parts, disk, imageBytes, problems);
  const partRead =
    (p: MbrPartition): ReadAt =>
    (o, len) => {
      if (o + len > p.sectors * SECTOR) throw new Error(`read past the end of partition ${p.index}`);
      return readAt(p.startSector * SECTOR + o, len);
    };
  const [p1, p2, p3, p4] = parts;

  if (disk.kind === 'rockchip-sd') guard('U-Boot', () => checkRockchipUboot(readAt, disk, p1?.startSector ?? 0, report));

  const fat = p1 && guard('partition 1', () => openFat32(partRead(p1), p1.sectors * SECTOR));
  if (fat && p1) {
    for (const f of fat.files.values()) report.bootFiles[f.name] = f.size;
    if (fat.hiddenSectors !== p1.startSector)
      problems.push(`FAT: hidden sectors ${fat.hiddenSectors}, partition 1 starts at ${p1.startSector}`);
    checkBootPartition(fat, board, build, report);
  }

  if (p2) {
    guard('partition 2', () => {
      const sb = partRead(p2)(0, 96);
      if (sb.toString('latin1', 0, 4) !== 'hsqs') throw new Error('no squashfs magic "hsqs"');
      const used = Number(sb.readBigUInt64LE(40));
      if (used > p2.sectors * SECTOR) throw new Error(`squashfs of ${used} bytes is larger than the partition`);
      if (build.squashfs && !partRead(p2)(0, build.squashfs.length).equals(build.squashfs)) throw new Error('differs from rootfs.squashfs');
    });
  }
  if (p3) {
    guard('partition 3', () => {
      const head = partRead(p3)(0, MIB);
      if (head.toString('latin1', 0, 4) !== 'hsqs' && head.some((x) => x !== 0)) throw new Error('rootfs_b is neither blank nor squashfs');
    });
  }
  if (p4) {
    guard('partition 4', () => {
      const head = partRead(p4)(0, MIB);
      const ext4 = head.readUInt16LE(1080) === 0xef53;
      if (!ext4 && head.some((x) => x !== 0))
        throw new Error('neither blank (the init formats a blank one) nor ext4: a stale filesystem would be mounted');
    });
  }
  return report;
}

/** Four partitions: bootable FAT32, root slots a and b, the flash; sizes from the profile, 4 MiB aligned, in order, inside the image. */
function checkPartitionTable(parts: MbrPartition[], disk: SdDisk, imageBytes: number, problems: string[]): void {
  const want = [
    { type: 0x0c, bootable: true, mb: disk.bootMb, what: 'FAT32 LBA boot' },
    { type: 0x83, bootable: false, mb: disk.rootMb, what: 'Linux (rootfs_a)' },
    { type: 0x83, bootable: false, mb: disk.rootMb, what: 'Linux (rootfs_b)' },
    { type: 0x83, bootable: false, mb: disk.dataMb, what: 'Linux (rootfs_data)' },
  ];
  if (parts.length !== want.length) problems.push(`MBR: ${parts.length} partitions, expected ${want.length}`);
  // Nothing may overlap U-Boot on a Rockchip card (u-boot.itb at 8 MiB, about 1 MiB).
  let prevEnd = disk.kind === 'rockchip-sd' ? RK_UBOOT_SECTOR + (2 * MIB) / SECTOR : 1;
  for (const [i, w] of want.entries()) {
    const p = parts[i];
    if (!p) continue;
    const n = p.index;
    if (p.type !== w.type)
      problems.push(`MBR: partition ${n} has type 0x${p.type.toString(16)}, expected 0x${w.type.toString(16)} (${w.what})`);
    if (p.bootable !== w.bootable) problems.push(`MBR: partition ${n} ${w.bootable ? 'lacks' : 'has'} the boot flag`);
    if (p.sectors * SECTOR !== w.mb * MIB) problems.push(`MBR: partition ${n} is ${p.sectors} sectors, expected ${w.mb} MiB`);
    if (p.startSector % ALIGN_SECTORS !== 0)
      problems.push(`MBR: partition ${n} starts at sector ${p.startSector}, not on a 4 MiB boundary`);
    if (p.startSector < prevEnd)
      problems.push(`MBR: partition ${n} starts at ${p.startSector}, inside what comes before it (to sector ${prevEnd})`);
    if ((p.startSector + p.sectors) * SECTOR > imageBytes) problems.push(`MBR: partition ${n} ends past the image's ${imageBytes} bytes`);
    prevEnd = p.startSector + p.sectors;
  }
}

/**
 * idbloader.img at sector 64 (its second 2 KiB block starts "RK33", the
 * RK3399's SPL header), and u-boot.itb at sector 16384: a FIT holding U-Boot
 * and TF-A for arm64 and U-Boot's own DTB of this board, its data ending
 * before partition 1; U-Boot's load addresses are read from its default
 * environment for the kernel's placement check.
 */
function checkRockchipUboot(readAt: ReadAt, disk: SdDisk, p1Start: number, report: Draft): void {
  const problems = report.problems;
  const idb = readAt(RK_IDBLOADER_SECTOR * SECTOR, 4096);
  if (idb.toString('latin1', 0x800, 0x804) !== 'RK33')
    problems.push(`idbloader: no "RK33" SPL header at sector ${RK_IDBLOADER_SECTOR} + 0x800`);

  const at = RK_UBOOT_SECTOR * SECTOR;
  const head = readAt(at, 40);
  if (head.readUInt32BE(0) !== 0xd00dfeed) {
    problems.push(`u-boot.itb: no FIT (FDT magic) at sector ${RK_UBOOT_SECTOR}`);
    return;
  }
  const total = head.readUInt32BE(4);
  if (total > FIT_HEADER_MAX) throw new Error(`u-boot.itb: FIT header of ${total} bytes`);
  const fit = parseFdt(readAt(at, total));
  const dataBase = at + ((total + 3) & ~3);
  const images: string[] = [];
  let ubootData: Buffer | undefined;
  const str = (props: ReadonlyMap<string, Buffer>, k: string) => fdtStrings(props.get(k))[0] ?? '';
  for (const [path, props] of fit.nodes) {
    if (!/^\/images\/[^/]+$/.test(path)) continue;
    const off = props.get('data-offset')?.readUInt32BE(0);
    const size = props.get('data-size')?.readUInt32BE(0);
    if (off === undefined || size === undefined) {
      problems.push(`u-boot.itb: ${path} has no external data`);
      continue;
    }
    if (dataBase + off + size > p1Start * SECTOR) problems.push(`u-boot.itb: ${path} ends past the start of partition 1`);
    const kind = `${str(props, 'os') || str(props, 'type')}:${str(props, 'arch') || str(props, 'description')}`;
    images.push(kind);
    if (str(props, 'os') === 'U-Boot') ubootData = readAt(dataBase + off, size);
  }
  if (!images.includes('U-Boot:arm64')) problems.push(`u-boot.itb: no arm64 U-Boot image (has ${images.join(', ')})`);
  if (!images.includes('arm-trusted-firmware:arm64')) problems.push('u-boot.itb: no TF-A (arm-trusted-firmware) image');
  const dtbName = disk.dtb?.split('/').pop() ?? '';
  if (!images.includes(`flat_dt:${dtbName}`))
    problems.push(`u-boot.itb: no ${dtbName} (U-Boot's device tree is another board's: ${images.join(', ')})`);
  report.uboot = { fitImages: images, addresses: ubootData ? ubootEnvAddresses(ubootData, 'u-boot.itb', problems) : {} };
}

// The structural check of a Raspberry Pi SD image (scripts/image/sd-image.sh,
// board profile image.disk kind rpi-sd). No Pi boots here, so CI checks what
// the firmware and the kernel will look for, each from its own specification:
// the MBR, the FAT32 boot partition and the files config.txt names, the
// DTB's compatible and aliases (the flattened device tree format), the arm64
// Image header (Linux's Documentation/arm64/booting.rst), the command line,
// squashfs at partition 2 and a blank or ext4 partition 3. Every problem is
// reported, not just the first, each as one line.
//
// TypeScript rather than a shell script: the formats are parsed from bytes
// with bounds checked, the board profile's own type gives the expectations,
// and the test (test/e2e/sd-image.test.ts) calls the same function on
// corrupted copies to show that each check can fail.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { BoardProfile } from '../../board/profile.js';
import { openFat32, type Fat32, type FatFile } from './fat.js';

const SECTOR = 512;
const MIB = 1024 * 1024;
/** Partitions start on 4 MiB boundaries, the SD erase unit sd-image.sh aligns to. */
const ALIGN_SECTORS = (4 * MIB) / SECTOR;

export interface MbrPartition {
  readonly index: number;
  readonly bootable: boolean;
  readonly type: number;
  readonly startSector: number;
  readonly sectors: number;
}

/** The four primary entries of a classic MBR (empty ones left out); throws without the 55 AA signature. */
export function parseMbr(sector0: Buffer): MbrPartition[] {
  if (sector0.length < SECTOR || sector0.readUInt16LE(510) !== 0xaa55) throw new Error('MBR: no 55 AA signature at byte 510');
  const out: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const e = sector0.subarray(446 + 16 * i, 462 + 16 * i);
    const type = e[4] ?? 0;
    if (type === 0) continue;
    out.push({ index: i + 1, bootable: e[0] === 0x80, type, startSector: e.readUInt32LE(8), sectors: e.readUInt32LE(12) });
  }
  return out;
}

export interface Arm64Image {
  readonly textOffset: number;
  /** Bytes the kernel occupies once running, BSS included (0 from kernels before 3.17). */
  readonly imageSize: number;
  readonly bigEndian: boolean;
}

/** The 64-byte arm64 Image header (Documentation/arm64/booting.rst): magic "ARM\x64" at 56. */
export function parseArm64Image(b: Buffer): Arm64Image {
  if (b.length < 64 || b.readUInt32LE(56) !== 0x644d5241) throw new Error('kernel: no arm64 Image magic "ARM\\x64" at offset 56');
  return { textOffset: Number(b.readBigUInt64LE(8)), imageSize: Number(b.readBigUInt64LE(16)), bigEndian: (b.readUInt8(24) & 1) === 1 };
}

export interface Fdt {
  /** Properties of every node by path ('/' for the root), string values as the NUL-separated list they hold. */
  readonly nodes: ReadonlyMap<string, ReadonlyMap<string, Buffer>>;
}

const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;
const FDT_DEPTH_MAX = 32;

/** A flattened device tree blob (the devicetree specification, ch. 5): header, structure block, strings. */
export function parseFdt(b: Buffer): Fdt {
  if (b.length < 40 || b.readUInt32BE(0) !== 0xd00dfeed) throw new Error('DTB: no FDT magic d00dfeed');
  const total = b.readUInt32BE(4);
  if (total > b.length) throw new Error(`DTB: header says ${total} bytes, the file has ${b.length}`);
  const structOff = b.readUInt32BE(8);
  const stringsOff = b.readUInt32BE(12);
  const structSize = b.readUInt32BE(36);
  const end = structOff + structSize;
  if (end > total || stringsOff > total) throw new Error('DTB: blocks outside the blob');
  const nodes = new Map<string, Map<string, Buffer>>();
  const path: string[] = [];
  let props: Map<string, Buffer> | undefined;
  let off = structOff;
  const cstr = (at: number): string => {
    const z = b.indexOf(0, at);
    if (z < 0 || z >= total) throw new Error('DTB: unterminated string');
    return b.toString('latin1', at, z);
  };
  while (off + 4 <= end) {
    const token = b.readUInt32BE(off);
    off += 4;
    if (token === FDT_BEGIN_NODE) {
      const name = cstr(off);
      off += (name.length + 4) & ~3;
      if (path.length >= FDT_DEPTH_MAX) throw new Error(`DTB: nodes nested deeper than ${FDT_DEPTH_MAX}`);
      path.push(name);
      props = new Map();
      nodes.set(path.length === 1 ? '/' : '/' + path.slice(1).join('/'), props);
    } else if (token === FDT_PROP) {
      const len = b.readUInt32BE(off);
      const name = cstr(stringsOff + b.readUInt32BE(off + 4));
      if (off + 8 + len > end || !props) throw new Error(`DTB: property ${name} outside a node or the block`);
      props.set(name, b.subarray(off + 8, off + 8 + len));
      off += 8 + ((len + 3) & ~3);
    } else if (token === FDT_END_NODE) {
      if (path.pop() === undefined) throw new Error('DTB: END_NODE without a node');
      props = undefined;
    } else if (token === FDT_END) {
      return { nodes };
    } else if (token !== FDT_NOP) {
      throw new Error(`DTB: unknown token ${token} at ${off - 4}`);
    }
  }
  throw new Error('DTB: no FDT_END');
}

/** A property holding a string list. */
export function fdtStrings(v: Buffer | undefined): string[] {
  return v ? v.toString('latin1').split('\0').filter(Boolean) : [];
}

/** config.txt: `key=value` lines, and `initramfs FILE ADDRESS`; comments and [filter] lines left out (every line applies to a Pi 4). */
export function parseConfigTxt(text: string): { values: Map<string, string>; initramfs?: { file: string; address: string } } {
  const values = new Map<string, string>();
  let initramfs: { file: string; address: string } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line || line.startsWith('[')) continue;
    const m = /^initramfs\s+(\S+)(?:\s+(\S+))?$/.exec(line);
    if (m) initramfs = { file: m[1] ?? '', address: m[2] ?? '' };
    else {
      const eq = line.indexOf('=');
      if (eq > 0) values.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    }
  }
  return initramfs ? { values, initramfs } : { values };
}

/**
 * Memory the firmware leaves to the ARM below its own on the smallest Pi 4
 * (1 GiB, less the 76 MiB gpu_mem default). With `followkernel` the firmware
 * chooses where the initrd and DTB go ("any address that will work", per its
 * maintainers), so what can be checked is that the kernel's running size and
 * both files fit there together.
 */
export const PI4_LOW_RAM_BYTES = (1024 - 76) * MIB;
/** Where the firmware puts an arm64 kernel without kernel_address (a 2 MiB boundary, as text_offset 0 requires). */
const ARM64_LOAD_ADDRESS = 0x200000;

export interface SdReport {
  readonly problems: string[];
  readonly partitions: MbrPartition[];
  readonly bootFiles: Record<string, number>;
  readonly compatible: string[];
  readonly kernel?: Arm64Image & { readonly fileBytes: number };
  readonly cmdline?: string;
  readonly imageBytes: number;
}

/** Bytes of the build's outputs the image must carry unchanged (scripts/build-image's vmlinuz, initrd.gz, rootfs.squashfs). */
export interface BuildFiles {
  readonly vmlinuz?: Buffer;
  readonly initrd?: Buffer;
  readonly squashfs?: Buffer;
}

/** Checks an rpi-sd image against its board profile; `problems` is empty when every check passed. */
export function checkRpiSdImage(imagePath: string, board: BoardProfile, build: BuildFiles = {}): SdReport {
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

function checkWith(readAt: (o: number, n: number) => Buffer, imageBytes: number, board: BoardProfile, build: BuildFiles): SdReport {
  const problems: string[] = [];
  const report = {
    problems,
    partitions: [] as MbrPartition[],
    bootFiles: {} as Record<string, number>,
    compatible: [] as string[],
    imageBytes,
  };
  const disk = board.image.disk;
  if (disk?.kind !== 'rpi-sd') return { ...report, problems: [`board ${board.id} has no rpi-sd disk`] };
  const guard = <T>(what: string, f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
      return undefined;
    }
  };

  // --- partition table
  const parts = guard('MBR', () => parseMbr(readAt(0, SECTOR))) ?? [];
  report.partitions = parts;
  const want = [
    { type: 0x0c, bootable: true, mb: disk.bootMb, what: 'FAT32 LBA boot' },
    { type: 0x83, bootable: false, mb: disk.rootMb, what: 'Linux (squashfs root)' },
    { type: 0x83, bootable: false, mb: disk.dataMb, what: 'Linux (rootfs_data)' },
  ];
  if (parts.length !== want.length) problems.push(`MBR: ${parts.length} partitions, expected ${want.length}`);
  let prevEnd = 0;
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
    if (p.startSector < Math.max(prevEnd, 1)) problems.push(`MBR: partition ${n} starts at ${p.startSector}, inside what comes before it`);
    if ((p.startSector + p.sectors) * SECTOR > imageBytes) problems.push(`MBR: partition ${n} ends past the image's ${imageBytes} bytes`);
    prevEnd = p.startSector + p.sectors;
  }
  const partRead = (p: MbrPartition) => (o: number, len: number) => {
    if (o + len > p.sectors * SECTOR) throw new Error(`read past the end of partition ${p.index}`);
    return readAt(p.startSector * SECTOR + o, len);
  };

  // --- partition 1: FAT32 with the firmware, kernel, initrd, DTB and the two text files
  const [p1, p2, p3] = parts;
  const fat = p1 && guard(`partition 1`, () => openFat32(partRead(p1), p1.sectors * SECTOR));
  if (fat) {
    for (const f of fat.files.values()) report.bootFiles[f.name] = f.size;
    if (fat.hiddenSectors !== p1?.startSector)
      problems.push(`FAT: hidden sectors ${fat.hiddenSectors}, partition 1 starts at ${p1?.startSector}`);
    checkBootFiles(fat, board, build, problems, report);
  }

  // --- partition 2: the squashfs root
  if (p2) {
    guard('partition 2', () => {
      const sb = partRead(p2)(0, 96);
      if (sb.toString('latin1', 0, 4) !== 'hsqs') throw new Error('no squashfs magic "hsqs"');
      const used = Number(sb.readBigUInt64LE(40));
      if (used > p2.sectors * SECTOR) throw new Error(`squashfs of ${used} bytes is larger than the partition`);
      if (build.squashfs && !partRead(p2)(0, build.squashfs.length).equals(build.squashfs)) throw new Error('differs from rootfs.squashfs');
    });
  }
  // --- partition 3: blank (the init formats it as ext4) or already ext4
  if (p3) {
    guard('partition 3', () => {
      const head = partRead(p3)(0, MIB);
      const ext4 = head.readUInt16LE(1080) === 0xef53;
      if (!ext4 && head.some((x) => x !== 0))
        throw new Error('neither blank (the init formats a blank one) nor ext4: a stale filesystem would be mounted');
    });
  }
  return report;
}

/** config.txt, cmdline.txt and every file they name; the DTB's compatible and aliases; the kernel's header. */
function checkBootFiles(
  fat: Fat32,
  board: BoardProfile,
  build: BuildFiles,
  problems: string[],
  report: { compatible: string[]; kernel?: SdReport['kernel']; cmdline?: string },
): void {
  const disk = board.image.disk;
  if (!disk) return;
  const get = (name: string, why: string): Buffer | undefined => {
    const f: FatFile | undefined = fat.files.get(name);
    if (!f) {
      problems.push(`boot partition: no ${name} (${why})`);
      return undefined;
    }
    return fat.read(f);
  };
  const start4 = get('start4.elf', "the Pi 4's GPU firmware");
  if (start4 && start4.toString('latin1', 0, 4) !== '\x7fELF') problems.push('start4.elf: not an ELF file');
  get('fixup4.dat', "start4.elf's memory split");

  const configText = get('config.txt', 'the firmware settings')?.toString('utf8');
  if (configText === undefined) return;
  const config = parseConfigTxt(configText);
  const need = (key: string, value: string) => {
    if (config.values.get(key) !== value) problems.push(`config.txt: ${key}=${config.values.get(key) ?? '(unset)'}, expected ${value}`);
  };
  need('arm_64bit', '1');
  need('enable_uart', '1');
  const kernelName = config.values.get('kernel');
  const dtbName = config.values.get('device_tree');
  if (!kernelName) problems.push('config.txt: no kernel=');
  if (!dtbName) problems.push('config.txt: no device_tree=');
  if (!config.initramfs) problems.push('config.txt: no initramfs line');
  else if (config.initramfs.address !== 'followkernel')
    problems.push(`config.txt: initramfs at ${config.initramfs.address || '(none)'}, expected followkernel`);

  const dtb = dtbName ? get(dtbName, 'config.txt device_tree=') : undefined;
  if (dtb) {
    try {
      const fdt = parseFdt(dtb);
      report.compatible = fdtStrings(fdt.nodes.get('/')?.get('compatible'));
      for (const c of disk.compatible)
        if (!report.compatible.includes(c)) problems.push(`${dtbName}: root compatible [${report.compatible.join(', ')}] lacks ${c}`);
      for (const [alias, target] of Object.entries(disk.aliases ?? {})) {
        const got = fdtStrings(fdt.nodes.get('/aliases')?.get(alias))[0];
        if (got !== target) problems.push(`${dtbName}: alias ${alias} is ${got ?? '(none)'}, expected ${target}`);
        else if (!fdt.nodes.has(target)) problems.push(`${dtbName}: alias ${alias} points at ${target}, which is not a node`);
      }
    } catch (e) {
      problems.push(`${dtbName}: ${(e as Error).message}`);
    }
  }

  const kernel = kernelName ? get(kernelName, 'config.txt kernel=') : undefined;
  const initrd = config.initramfs ? get(config.initramfs.file, 'config.txt initramfs') : undefined;
  if (kernel) {
    try {
      const h = parseArm64Image(kernel);
      report.kernel = { ...h, fileBytes: kernel.length };
      if (h.bigEndian) problems.push(`${kernelName}: a big-endian kernel`);
      if (h.textOffset % 0x200000 !== 0 && h.textOffset !== 0x80000)
        problems.push(`${kernelName}: text_offset 0x${h.textOffset.toString(16)}`);
      if (h.imageSize < kernel.length)
        problems.push(`${kernelName}: image_size ${h.imageSize} is less than the file's ${kernel.length} bytes`);
      const end = ARM64_LOAD_ADDRESS + h.textOffset + h.imageSize + (initrd?.length ?? 0) + (dtb?.length ?? 0);
      if (end > PI4_LOW_RAM_BYTES)
        problems.push(
          `${kernelName}: kernel (${h.imageSize} bytes running), initrd and DTB end at ${end}, past the ${PI4_LOW_RAM_BYTES} bytes a 1 GiB Pi 4 leaves the ARM`,
        );
    } catch (e) {
      problems.push(`${kernelName}: ${(e as Error).message}`);
    }
    if (build.vmlinuz && !kernel.equals(build.vmlinuz)) problems.push(`${kernelName}: differs from the build's vmlinuz`);
  }
  if (initrd) {
    if (initrd[0] !== 0x1f || initrd[1] !== 0x8b) problems.push(`${config.initramfs?.file}: not gzip`);
    if (build.initrd && !initrd.equals(build.initrd)) problems.push(`${config.initramfs?.file}: differs from the build's initrd.gz`);
  }

  const cmdline = get('cmdline.txt', 'the kernel command line')?.toString('utf8');
  if (cmdline === undefined) return;
  report.cmdline = cmdline.trim();
  const words = cmdline.trim().split(/\s+/);
  if (cmdline.trim().includes('\n')) problems.push('cmdline.txt: more than one line (the firmware reads the first)');
  const wantWords = [
    `console=${board.console.device},${board.console.baud}`,
    `twin6.root=${board.image.rootDevice ?? ''}`,
    `twin6.data=${board.image.flashDevice ?? ''}`,
  ];
  for (const w of wantWords) if (!words.includes(w)) problems.push(`cmdline.txt: no ${w}`);
  // The root and the flash named on the command line must be partitions 2 and 3 of this card.
  const partNo = (dev: string | undefined) => /p(\d+)$/.exec(dev ?? '')?.[1];
  if (partNo(board.image.rootDevice) !== '2')
    problems.push(`rootDevice ${board.image.rootDevice} is not partition 2, which holds the squashfs`);
  if (partNo(board.image.flashDevice) !== '3') problems.push(`flashDevice ${board.image.flashDevice} is not partition 3, rootfs_data`);
}

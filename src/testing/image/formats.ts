// The formats an SD card image is checked against (sd-check.ts), each parsed
// from bytes with its bounds checked, from its own specification: a classic
// MBR, the arm64 Image header (Linux's Documentation/arm64/booting.rst), a
// flattened device tree (the devicetree specification, ch. 5; U-Boot's FIT
// images are one too), the Pi's config.txt, U-Boot's extlinux.conf, a
// U-Boot script image (boot.scr) and U-Boot's `env import -t` text.

import { crc32 } from 'node:zlib';

const SECTOR = 512;

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
  /** flags bit 3: the 2 MiB-aligned base may be anywhere in RAM (else the boot loader puts it at RAM's start). */
  readonly anywhere: boolean;
}

/** The 64-byte arm64 Image header (Documentation/arm64/booting.rst): magic "ARM\x64" at 56. */
export function parseArm64Image(b: Buffer): Arm64Image {
  if (b.length < 64 || b.readUInt32LE(56) !== 0x644d5241) throw new Error('kernel: no arm64 Image magic "ARM\\x64" at offset 56');
  const flags = b.readUInt8(24);
  return {
    textOffset: Number(b.readBigUInt64LE(8)),
    imageSize: Number(b.readBigUInt64LE(16)),
    bigEndian: (flags & 1) === 1,
    anywhere: (flags & 8) === 8,
  };
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

/** extlinux.conf (U-Boot's distro boot, pxe_utils): the default label's kernel, initrd, fdt and append. */
export function parseExtlinux(text: string): { kernel?: string; initrd?: string; fdt?: string; append?: string } {
  const labels = new Map<string, Record<string, string>>();
  let deflt = '';
  let cur: Record<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = (m[1] ?? '').toLowerCase();
    const value = (m[2] ?? '').trim();
    if (key === 'default') deflt = value;
    else if (key === 'label') labels.set(value, (cur = {}));
    else if (cur) cur[key === 'linux' ? 'kernel' : key === 'devicetree' ? 'fdt' : key] = value;
  }
  const l = labels.get(deflt) ?? [...labels.values()][0] ?? {};
  const out: { kernel?: string; initrd?: string; fdt?: string; append?: string } = {};
  for (const k of ['kernel', 'initrd', 'fdt', 'append'] as const) if (l[k] !== undefined) out[k] = l[k];
  return out;
}

/** A legacy U-Boot image holding a script (boot.scr, mkimage -T script): its header fields and the script text. */
export interface UbootScript {
  readonly name: string;
  readonly os: number;
  readonly arch: number;
  readonly type: number;
  readonly compression: number;
  readonly script: string;
}
const UIMAGE_MAGIC = 0x27051956;
const UIMAGE_HEADER = 64;
/** include/image.h: IH_TYPE_SCRIPT, IH_ARCH_ARM64, IH_COMP_NONE. */
export const UIMAGE_TYPE_SCRIPT = 6;
export const UIMAGE_ARCH_ARM64 = 22;
export const UIMAGE_COMP_NONE = 0;

/**
 * boot.scr as U-Boot's `source` reads it (include/image.h, boot/image-board.c):
 * a 64-byte big-endian header (magic, header CRC32 computed with its own field
 * zeroed, time, data size, load, entry, data CRC32, os, arch, type, comp, name)
 * and, for a script, a multi-file body: a list of 32-bit lengths ended by 0,
 * the script the first part. Throws on a bad magic, either CRC, or a body
 * shorter than the header says.
 */
export function parseUbootScript(b: Buffer): UbootScript {
  if (b.length < UIMAGE_HEADER) throw new Error(`boot script: ${b.length} bytes, shorter than the 64-byte image header`);
  if (b.readUInt32BE(0) !== UIMAGE_MAGIC) throw new Error('boot script: no U-Boot image magic 27 05 19 56');
  const header = Buffer.from(b.subarray(0, UIMAGE_HEADER));
  const hcrc = header.readUInt32BE(4);
  header.writeUInt32BE(0, 4);
  if (crc32(header) !== hcrc) throw new Error('boot script: header CRC mismatch');
  const size = b.readUInt32BE(12);
  if (UIMAGE_HEADER + size > b.length) throw new Error(`boot script: data of ${size} bytes runs past the file's ${b.length}`);
  const data = b.subarray(UIMAGE_HEADER, UIMAGE_HEADER + size);
  if (crc32(data) !== b.readUInt32BE(24)) throw new Error('boot script: data CRC mismatch');
  const first = data.length >= 8 ? data.readUInt32BE(0) : -1;
  if (first < 0 || data.readUInt32BE(4) !== 0 || 8 + first > data.length)
    throw new Error('boot script: not a one-part script body (length, 0, text)');
  return {
    name: b.toString('latin1', 32, 64).replace(/\0.*$/s, ''),
    os: b[28] ?? 0,
    arch: b[29] ?? 0,
    type: b[30] ?? 0,
    compression: b[31] ?? 0,
    script: data.toString('latin1', 8, 8 + first),
  };
}

/** `env import -t` text: the device's own reader (twin6d reads the same files). */
export { parseEnvText } from '../../firmware/uboot-files.js';

// The boot slots as files and partitions (I/O): the ESP's entries, a slot's
// kernel and initramfs, its root partition. The decisions are slots.ts's.
//
// Every write is made durable before the next step depends on it: a file is
// written under a temporary name, fsynced, renamed and its directory fsynced,
// so a power cut leaves the old file or the new one. On FAT (the ESP) the
// kernel's vfat makes rename one directory-entry update; the ESP is mounted
// only while twin6d uses it, so a cut at any other time finds it clean.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, createReadStream, fsyncSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SlotLayout } from './layout.js';
import type { SlotName } from './slots.js';

const run = promisify(execFile);

/** PARTLABEL=NAME: the block device whose uevent says PARTNAME=NAME; anything else is a path. */
export async function resolveDevice(spec: string, sysClassBlock = '/sys/class/block'): Promise<string> {
  if (!spec.startsWith('PARTLABEL=')) return spec;
  const name = spec.slice('PARTLABEL='.length);
  for (const dev of await readdir(sysClassBlock)) {
    let uevent: string;
    try {
      uevent = await readFile(join(sysClassBlock, dev, 'uevent'), 'utf8');
    } catch {
      continue;
    }
    if (uevent.split('\n').includes(`PARTNAME=${name}`)) {
      const devname = /^DEVNAME=(.+)$/m.exec(uevent)?.[1] ?? dev;
      return `/dev/${devname}`;
    }
  }
  throw new Error(`no partition named ${name} (${spec})`);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to dir/name durably: a temporary name systemd-boot ignores, fsync, rename, fsync of the directory. */
export async function writeFileDurably(dir: string, name: string, data: string | Buffer): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

export async function renameDurably(dir: string, from: string, to: string): Promise<void> {
  await rename(join(dir, from), join(dir, to));
  await fsyncDir(dir);
}

export async function removeDurably(dir: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  for (const n of names) await rm(join(dir, n), { force: true });
  await fsyncDir(dir);
}

/** A byte range of a file (a bundle's part). */
export interface FileRange {
  readonly file: string;
  readonly offset: number;
  readonly size: number;
}

const CHUNK = 1 << 20;

/** Copies a range into dir/name durably (a slot's kernel or initramfs on the ESP). */
export async function copyRangeDurably(src: FileRange, dir: string, name: string): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  copyRange(src, tmp, 0, 'w');
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

/** Copies a range to `dest` at `at`, in 1 MiB chunks, and fsyncs it: bounded memory whatever the size. */
function copyRange(src: FileRange, dest: string, at: number, flags: 'w' | 'r+'): void {
  const buf = Buffer.allocUnsafe(CHUNK);
  const fin = openSync(src.file, 'r');
  const fout = openSync(dest, flags);
  try {
    for (let done = 0; done < src.size;) {
      const n = readSync(fin, buf, 0, Math.min(CHUNK, src.size - done), src.offset + done);
      if (n <= 0) throw new Error(`${src.file}: ended at ${src.offset + done}, expected ${src.size} bytes from ${src.offset}`);
      for (let w = 0; w < n;) w += writeSync(fout, buf, w, n - w, at + done + w);
      done += n;
    }
    fsyncSync(fout);
  } finally {
    closeSync(fin);
    closeSync(fout);
  }
}

/** The size of a block device (sysfs) or a regular file (the tests' partitions). */
export function deviceBytes(path: string, sysClassBlock = '/sys/class/block'): number {
  const st = statSync(path);
  if (st.isFile()) return st.size;
  const name = path.replace(/^\/dev\//, '');
  return Number(readFileSyncText(join(sysClassBlock, name, 'size')).trim()) * 512;
}

function readFileSyncText(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

async function sha256Of(file: string, offset: number, size: number): Promise<string> {
  if (size === 0) return createHash('sha256').digest('hex');
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { start: offset, end: offset + size - 1, highWaterMark: CHUNK })) {
    h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

/**
 * Writes a root image into a slot's partition and reads it back: the hash of
 * what the partition now holds must be the part's, or the slot is not used.
 */
export async function writePartition(src: FileRange, device: string, expectSha256: string): Promise<void> {
  const room = deviceBytes(device);
  if (src.size > room) throw new Error(`${device}: the root image is ${src.size} bytes, the partition ${room}`);
  copyRange(src, device, 0, 'r+');
  const got = await sha256Of(device, 0, src.size);
  if (got !== expectSha256) throw new Error(`${device}: read back sha256 ${got}, wrote ${expectSha256}`);
}

/**
 * The ESP, mounted for the duration of fn (or the directory itself when the
 * layout says it is one). Read-only unless writing: a power cut while it is
 * mounted read-only cannot leave FAT half-written.
 */
export async function withEsp<T>(layout: SlotLayout, writable: boolean, fn: (dir: string) => Promise<T>): Promise<T> {
  if (layout.espMount === null) return fn(layout.esp);
  const dir = layout.espMount;
  const dev = await resolveDevice(layout.esp);
  await mkdir(dir, { recursive: true });
  // A mount left by a twin6d that died inside fn: take it down first.
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  if (mounts.split('\n').some((l) => l.split(' ')[1] === dir)) await run('umount', [dir]).catch(() => undefined);
  // FAT has no journal: a power cut while twin6d (or the firmware renaming a boot
  // entry) wrote there can leave it inconsistent, and Linux's vfat then turns the
  // mount read-only at the first bad cluster chain. Repaired first, as systemd-fsck
  // does for an ESP; exit 1 is "errors corrected".
  // Not while anything else has it mounted (the trial guard looks for a moment at boot): fsck
  // repairs in place. It is checked again at the next mount.
  const inUse = (await readFile('/proc/mounts', 'utf8').catch(() => '')).split('\n').some((l) => l.split(' ')[0] === dev);
  if (layout.fsck && !inUse) {
    const [cmd, ...args] = layout.fsck;
    await run(cmd!, [...args, dev]).catch((e: { code?: number; stdout?: string }) => {
      if (e.code !== 1) throw new Error(`${layout.fsck!.join(' ')} ${dev} failed (exit ${e.code}): ${e.stdout ?? ''}`);
    });
  }
  // dirsync: a rename or an unlink is on the disk when the call returns.
  await run('mount', ['-t', 'vfat', '-o', `${writable ? 'rw' : 'ro'},noatime,dirsync`, dev, dir]);
  try {
    return await fn(dir);
  } finally {
    await run('sync', []).catch(() => undefined);
    await run('umount', [dir]).catch(() => undefined);
  }
}

/** The ESP paths the slots use. */
export const espPaths = {
  entries: (esp: string): string => join(esp, 'loader', 'entries'),
  slotDir: (esp: string, slot: SlotName): string => join(esp, 'twin6', slot),
};

export async function listEntries(esp: string): Promise<string[]> {
  try {
    return (await readdir(espPaths.entries(esp))).filter((n) => n.endsWith('.conf'));
  } catch {
    return [];
  }
}

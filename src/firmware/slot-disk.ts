// The boot slots as files and partitions (I/O): the ESP's entries, a slot's
// kernel and initramfs, its root partition. The decisions are slots.ts's.
//
// Every write is made durable before the next step depends on it: a file is
// written under a temporary name, fsynced, renamed and its directory fsynced.
// On FAT (the ESP) that is not atomic: the kernel's vfat writes a rename as a
// new directory entry and then the old one's removal, so a cut in between
// leaves both names (slots.ts's bootState keeps the committed one), and FAT
// has no journal (fsck.fat before each mount). The ESP is mounted only around
// twin6d's own writes there. Copies run chunk by chunk on the event loop's
// terms (async reads and writes): a 128 MiB partition write must not stop
// DHCP replies or the failover link for its duration.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, createReadStream, readFileSync, statSync } from 'node:fs';
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
/**
 * Copies a range into dir/name durably (a slot's kernel or initramfs on the
 * ESP), hashing what it copies: bytes that changed on the flash since the
 * bundle was verified are not written.
 */
export async function copyRangeDurably(src: FileRange, dir: string, name: string, expectSha256: string): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const got = await copyRange(src, tmp, 'w');
  if (got !== expectSha256) {
    await rm(tmp, { force: true });
    throw new Error(`${src.file}: ${name} hashes ${got} now, ${expectSha256} when it was verified`);
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

/** Copies a range to the start of `dest`, 1 MiB at a time, fsyncs it, and returns the SHA-256 of what it read. */
async function copyRange(src: FileRange, dest: string, flags: 'w' | 'r+'): Promise<string> {
  const buf = Buffer.allocUnsafe(CHUNK);
  const hash = createHash('sha256');
  const fin = await open(src.file, 'r');
  try {
    const fout = await open(dest, flags);
    try {
      for (let done = 0; done < src.size;) {
        const { bytesRead: n } = await fin.read(buf, 0, Math.min(CHUNK, src.size - done), src.offset + done);
        if (n <= 0) throw new Error(`${src.file}: ended at ${src.offset + done}, expected ${src.size} bytes from ${src.offset}`);
        hash.update(buf.subarray(0, n));
        for (let w = 0; w < n;) w += (await fout.write(buf, w, n - w, done + w)).bytesWritten;
        done += n;
      }
      await fout.sync();
    } finally {
      await fout.close();
    }
  } finally {
    await fin.close();
  }
  return hash.digest('hex');
}

/** The size of a block device (sysfs) or a regular file (the tests' partitions). */
export function deviceBytes(path: string, sysClassBlock = '/sys/class/block'): number {
  const st = statSync(path);
  if (st.isFile()) return st.size;
  const name = path.replace(/^\/dev\//, '');
  return Number(readFileSync(join(sysClassBlock, name, 'size'), 'utf8').trim()) * 512;
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
  // Never the partition anything is mounted from (the running root is /rom's): a
  // layout or a disk that resolves the other slot's name to it must stop here.
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  if (mounts.split('\n').some((l) => l.split(' ')[0] === device)) throw new Error(`${device} is mounted: it is not the other slot`);
  const room = deviceBytes(device);
  if (src.size > room) throw new Error(`${device}: the root image is ${src.size} bytes, the partition ${room}`);
  const copied = await copyRange(src, device, 'r+');
  if (copied !== expectSha256) throw new Error(`${src.file}: the root image hashes ${copied} now, ${expectSha256} when it was verified`);
  // Read back from the medium, not the page cache just written.
  if (!statSync(device).isFile()) await run('blockdev', ['--flushbufs', device]).catch(() => undefined);
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

// U-Boot's A/B boot script (image/boot/twin6-ab.cmd, docs/image.md §5) run by
// a real U-Boot: Debian's u-boot-qemu (qemu_arm64, the same 2023.01 source as
// the Pi's rpi_arm64 and the NanoPC-T4's) boots the qemu-aarch64-uboot card
// (scripts/build-image, the SD card layout of rpi4 and nanopc-t4 on a virtio
// disk). Between boots the test edits the FAT boot partition from the host
// with mtools, as Linux on the device will, and reads which slot each boot
// ran from the guest's console: U-Boot's "booting slot" line and the init's
// "root /dev/vdaN (slot X)" line, both from the command line boot.scr built.
// Each boot is powered off by SIGKILL once the overlay is mounted (QEMU's
// process dies as in a power cut; writes already flushed to the disk file
// stay, as the power-cut tests rely on). No network: the guest has no NIC.
//
// (a) a fresh card boots committed slot a; (b) with slot b written and
// trial.env naming it, b boots once and trial.env names nothing afterwards
// (U-Boot spent the try with fatwrite before booting b), and the FAT is
// clean (fsck.fat -n); (c) with no commit, the next boot is a again; (d)
// committed.env naming b boots b; (e) a trial naming a slot whose Image is
// missing boots the committed slot; (f) a committed slot whose Image is
// missing falls back to the other slot. Prints the boot times (power-on to
// the script, script to the kernel) and what the spending write cost.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBoard } from '../../src/board/profile.js';
import { parseMbr } from '../../src/testing/image/formats.js';
import { applianceUnavailableReason, qemuMachineArgs, timeScale } from '../../src/testing/lab/appliance.js';
import { missingBinaries, skipUnlessRequired } from '../../src/testing/lab/prereq.js';
import { REQUIRED } from './setup.js';

const BOARD = 'qemu-aarch64-uboot';
const board = loadBoard(resolve('board'), BOARD);

async function unavailable(): Promise<string | undefined> {
  const r = await applianceUnavailableReason(BOARD);
  if (r) return r;
  const missing = await missingBinaries(['mtype', 'mdel', 'mkimage', 'fsck.fat', 'fdtput']);
  return missing.length > 0 ? `missing binaries: ${missing.join(', ')} (scripts/setup-debian installs them)` : undefined;
}
const reason = skipUnlessRequired(await unavailable(), REQUIRED, `U-Boot slots (${BOARD})`);
if (reason) console.warn(`[uboot-slots.test] skipping: ${reason}`);

const SCALE = timeScale(board);
const BOOT_TIMEOUT_MS = 180_000 * SCALE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Boot {
  /** The slot the init mounted its root from, and that root. */
  readonly slot: string;
  readonly root: string;
  /** U-Boot's console output up to the kernel. */
  readonly uboot: string;
  /** Host milliseconds from QEMU's start to: boot.scr running, U-Boot's "Starting kernel", the init's root line. */
  readonly scriptMs: number;
  readonly kernelMs: number;
  readonly rootMs: number;
  /** U-Boot's own report of trial.env's write ("1 bytes written in N ms"), when it wrote. */
  readonly fatwriteMs: number | undefined;
}

describe.skipIf(reason !== undefined)('U-Boot A/B slots on the SD card layout (qemu-aarch64-uboot, a real U-Boot)', () => {
  const work = mkdtempSync(join(tmpdir(), 't6-uboot-'));
  const disk = join(work, 'sdcard.img');
  const out = resolve('.build', BOARD);
  let p1At = 0;
  let p3At = 0;
  let qemu: ChildProcess | undefined;
  const boots: Boot[] = [];

  afterAll(async () => {
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    for (const [i, b] of boots.entries())
      console.info(
        `[uboot-slots.test] boot ${i + 1}: slot ${b.slot} (${b.root}); power-on to boot.scr ${b.scriptMs} ms, ` +
          `boot.scr to "Starting kernel" ${b.kernelMs - b.scriptMs} ms, to the init's root line ${b.rootMs} ms` +
          (b.fatwriteMs !== undefined ? `; trial.env spent by fatwrite in ${b.fatwriteMs} ms (U-Boot's count)` : ''),
      );
  });

  beforeAll(() => {
    execFileSync('bash', ['scripts/build-image', '--board', BOARD], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 20 * 60_000 });
    execFileSync('cp', ['--sparse=always', join(out, 'sdcard.img'), disk], { timeout: 60_000 });
    const fd = openSync(disk, 'r');
    const mbr = Buffer.alloc(512);
    readSync(fd, mbr, 0, 512, 0);
    closeSync(fd);
    const parts = parseMbr(mbr);
    p1At = parts[0]!.startSector * 512;
    p3At = parts[2]!.startSector * 512;
  }, 20 * 60_000);

  /** An mtools command on the FAT boot partition of the test's disk. */
  const fat = (tool: string, ...args: string[]): string =>
    execFileSync(tool, ['-i', `${disk}@@${p1At}`, ...args], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  const put = (text: string, path: string): void => {
    const f = join(work, 'put.tmp');
    writeFileSync(f, text);
    fat('mcopy', '-o', f, `::/${path}`);
  };
  const get = (path: string): string => fat('mtype', `::/${path}`);

  /** Powers the guest on, waits for the init's root line and the overlay, powers it off (SIGKILL). */
  async function boot(): Promise<Boot> {
    const q = board.qemu!;
    const [binary, ...args] = qemuMachineArgs(board) as [string, ...string[]];
    const consoleFile = join(work, `console-${boots.length + 1}.log`);
    writeFileSync(consoleFile, '');
    const started = Date.now();
    const proc = spawn(
      binary,
      [
        ...args,
        '-bios',
        q.bios!,
        '-serial',
        `file:${consoleFile}`,
        '-drive',
        `file=${disk},if=none,id=disk,format=raw,cache=writeback`,
        '-device',
        'virtio-blk-pci,drive=disk',
        '-device',
        'virtio-rng-pci',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    qemu = proc;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const seen: Record<string, number> = {};
    let text: string;
    try {
      for (;;) {
        text = readFileSync(consoleFile, 'latin1');
        const now = Date.now() - started;
        for (const [k, needle] of [
          ['script', '## Executing script'],
          ['kernel', 'Starting kernel'],
          ['root', '] root /dev/'],
        ] as const)
          if (seen[k] === undefined && text.includes(needle)) seen[k] = now;
        if (/\] overlay mounted/.test(text) || text.includes('twin6: no slot booted')) break;
        if (proc.exitCode !== null || proc.signalCode !== null)
          throw new Error(`QEMU exited (${proc.exitCode ?? proc.signalCode}): ${stderr}\n${text.slice(-3000)}`);
        if (now > BOOT_TIMEOUT_MS) throw new Error(`no boot within ${BOOT_TIMEOUT_MS} ms:\n${text.slice(-3000)}`);
        await sleep(25);
      }
    } finally {
      proc.kill('SIGKILL');
      if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
    }
    const m = /\] root (\/dev\/\S+) \(slot ([ab])\)/.exec(text);
    if (!m) throw new Error(`no slot booted:\n${text.slice(-3000)}`);
    const fw = /(\d+) bytes written in (\d+) ms/.exec(text);
    const b: Boot = {
      slot: m[2]!,
      root: m[1]!,
      uboot: text.slice(0, text.indexOf('Starting kernel')).replace(/\r/g, ''),
      scriptMs: seen['script'] ?? NaN,
      kernelMs: seen['kernel'] ?? NaN,
      rootMs: seen['root'] ?? NaN,
      fatwriteMs: fw ? Number(fw[2]) : undefined,
    };
    boots.push(b);
    return b;
  }

  const T = BOOT_TIMEOUT_MS + 30_000;

  it('(a) boots committed slot a from a fresh card, with twin6.slot=a and its root on partition 2', { timeout: T }, async () => {
    expect(get('twin6/committed.env')).toBe('twin6_committed=a\ntwin6_committed_gen=1\n');
    const b = await boot();
    expect(b.slot).toBe('a');
    expect(b.root).toBe('/dev/vda2');
    expect(b.uboot).toMatch(/twin6: booting slot a: console=ttyAMA0,115200 \S.* twin6\.slot=a twin6\.root=\/dev\/vda2\n/);
    expect(b.uboot).not.toMatch(/bytes written/);
  });

  it('(b) boots slot b once on trial, and the try is spent before b runs (trial.env names nothing after)', { timeout: T }, async () => {
    // Slot b as an upgrade would write it: its kernel set on the FAT, its root in partition 3.
    fat('mcopy', '-o', join(out, 'vmlinuz'), '::/twin6/b/Image');
    fat('mcopy', '-o', join(out, 'initrd.gz'), '::/twin6/b/initrd.gz');
    put(get('twin6/a/boot.env'), 'twin6/b/boot.env');
    const sq = readFileSync(join(out, 'rootfs.squashfs'));
    const fd = openSync(disk, 'r+');
    writeSync(fd, sq, 0, sq.length, p3At);
    closeSync(fd);
    put('twin6_trial=b\ntwin6_trial_gen=2\n', 'twin6/trial.env');

    const b = await boot();
    expect(b.slot).toBe('b');
    expect(b.root).toBe('/dev/vda3');
    expect(b.uboot).toMatch(/twin6: committed slot a \(generation 1\), trial b \(generation 2\)/);
    expect(b.uboot).toMatch(
      /1 bytes written in \d+ ms[^]*its try spent[^]*twin6: booting slot b: .* twin6\.slot=b twin6\.root=\/dev\/vda3\n/,
    );
    // Read from the host after the power-off: U-Boot's write is on the disk.
    expect(get('twin6/trial.env')).toBe('\n');
    expect(get('twin6/committed.env')).toBe('twin6_committed=a\ntwin6_committed_gen=1\n');
    // U-Boot's fatwrite left a consistent FAT (fsck.fat -n changes nothing and exits 0 when clean).
    const p1 = join(work, 'p1.fat');
    execFileSync('dd', [`if=${disk}`, `of=${p1}`, 'bs=1M', `skip=${p1At >> 20}`, 'count=128', 'status=none']);
    execFileSync('fsck.fat', ['-n', p1], { encoding: 'utf8' });
    rmSync(p1);
  });

  it('(c) boots committed slot a again when the trial did not commit', { timeout: T }, async () => {
    const b = await boot();
    expect(b.slot).toBe('a');
    expect(b.root).toBe('/dev/vda2');
    expect(b.uboot).not.toMatch(/bytes written/);
  });

  it('(d) boots slot b once committed.env names it', { timeout: T }, async () => {
    put('twin6_committed=b\ntwin6_committed_gen=2\n', 'twin6/committed.env');
    fat('mdel', '::/twin6/trial.env');
    const b = await boot();
    expect(b.slot).toBe('b');
    expect(b.root).toBe('/dev/vda3');
    expect(b.uboot).toMatch(/Failed to load 'twin6\/trial.env'/);
  });

  it('(e) boots the committed slot when the trial slot has no Image, and leaves the trial unspent', { timeout: T }, async () => {
    fat('mdel', '::/twin6/a/Image');
    put('twin6_trial=a\ntwin6_trial_gen=3\n', 'twin6/trial.env');
    const b = await boot();
    expect(b.slot).toBe('b');
    expect(b.uboot).toMatch(/twin6: trial slot a has no Image: not booting it/);
    expect(get('twin6/trial.env')).toBe('twin6_trial=a\ntwin6_trial_gen=3\n');
  });

  it('(f) falls back to the other slot when the committed slot has no Image', { timeout: T }, async () => {
    fat('mcopy', '-o', join(out, 'vmlinuz'), '::/twin6/a/Image');
    fat('mdel', '::/twin6/trial.env');
    fat('mdel', '::/twin6/b/Image');
    const b = await boot();
    expect(b.slot).toBe('a');
    expect(b.root).toBe('/dev/vda2');
    expect(b.uboot).toMatch(/twin6: slot b did not boot[^]*twin6: booting slot a/);
  });
});

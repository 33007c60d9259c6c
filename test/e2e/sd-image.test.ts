// The Raspberry Pi 4 SD card image (scripts/build-image --board rpi4,
// scripts/image/sd-image.sh). No Pi boots here, so the image is checked
// structurally (src/testing/image/sd-check.ts): the MBR, the FAT32 boot
// partition with the firmware, the DTB of this board, the arm64 kernel and
// the initrd that config.txt names, the command line, the squashfs root and
// a blank flash partition. The partition table is read a second time by
// sfdisk, an independent reader. Then one corruption at a time in a sparse
// copy of the image, each restored before the next, shows that every check
// can fail. Needs root (the build's apt-get), the arm64 cross tools, mtools,
// sfdisk and fdtput (scripts/setup-debian).

import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBoard } from '../../src/board/profile.js';
import { openFat32 } from '../../src/testing/image/fat.js';
import { checkRpiSdImage, parseMbr } from '../../src/testing/image/sd-check.js';
import { missingBinaries, skipUnlessRequired } from '../../src/testing/lab/prereq.js';
import { REQUIRED } from './setup.js';

const BOARD = 'rpi4';
const board = loadBoard(resolve('board'), BOARD);
const OUT = resolve('.build', BOARD);

async function unavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `the image build needs Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the image build needs root (apt-get)';
  const bins = [
    'mksquashfs',
    'dpkg-deb',
    'apt-get',
    'npm',
    'aarch64-linux-gnu-g++',
    'qemu-aarch64-static',
    'mformat',
    'mcopy',
    'sfdisk',
    'fdtput',
  ];
  const missing = await missingBinaries(bins);
  return missing.length > 0 ? `missing binaries: ${missing.join(', ')} (scripts/setup-debian installs them)` : undefined;
}
const reason = skipUnlessRequired(await unavailable(), REQUIRED, 'the rpi4 SD image build');
if (reason) console.warn(`[sd-image.test] skipping: ${reason}`);

const work = mkdtempSync(join(tmpdir(), 't6-sd-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(reason !== undefined)('the Raspberry Pi 4 SD card image', () => {
  let image = '';

  it('builds, and every structural check passes', { timeout: 20 * 60_000 }, () => {
    execFileSync('bash', ['scripts/build-image', '--board', BOARD], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 20 * 60_000 });
    image = join(OUT, 'sdcard.img');
    const build = {
      vmlinuz: readFileSync(join(OUT, 'vmlinuz')),
      initrd: readFileSync(join(OUT, 'initrd.gz')),
      squashfs: readFileSync(join(OUT, 'rootfs.squashfs')),
    };
    const r = checkRpiSdImage(image, board, build);
    expect(r.problems).toEqual([]);
    for (const f of ['start4.elf', 'fixup4.dat', 'bcm2711-rpi-4-b.dtb', 'Image', 'initrd.gz', 'config.txt', 'cmdline.txt']) {
      expect(r.bootFiles, f).toHaveProperty([f]);
    }
    expect(r.compatible).toEqual(expect.arrayContaining(['raspberrypi,4-model-b', 'brcm,bcm2711']));
    expect(r.kernel?.imageSize).toBeGreaterThanOrEqual(r.kernel?.fileBytes ?? Infinity);
    expect(r.cmdline).toBe('console=ttyS1,115200 twin6.root=/dev/mmcblk0p2 twin6.data=/dev/mmcblk0p3');

    // sfdisk reads the same table.
    const sf = JSON.parse(execFileSync('sfdisk', ['--json', image], { encoding: 'utf8' })) as {
      partitiontable: { label: string; partitions: { start: number; size: number; type: string; bootable?: boolean }[] };
    };
    expect(sf.partitiontable.label).toBe('dos');
    expect(sf.partitiontable.partitions.map((p) => [p.start, p.size, p.type, p.bootable === true])).toEqual(
      r.partitions.map((p) => [p.startSector, p.sectors, p.type.toString(16), p.bootable]),
    );
    const disk = JSON.parse(readFileSync(join(OUT, 'disk.json'), 'utf8')) as { problems: string[]; imageBytes: number };
    expect(disk.problems).toEqual([]);
    console.info(`[sd-image.test] sdcard.img ${disk.imageBytes} bytes; partitions ${JSON.stringify(r.partitions)}`);
  });

  it('rejects an image with any one thing wrong', () => {
    expect(image).not.toBe('');
    const copy = join(work, 'sdcard.img');
    copyFileSync(image, copy);
    const fd = openSync(copy, 'r+');
    const readAt = (o: number, n: number) => {
      const b = Buffer.alloc(n);
      readSync(fd, b, 0, n, o);
      return b;
    };
    // Writes `bytes` at `offset`, runs the checker, restores the old bytes.
    const problemsWith = (offset: number, bytes: Buffer): string => {
      const old = readAt(offset, bytes.length);
      writeSync(fd, bytes, 0, bytes.length, offset);
      try {
        return checkRpiSdImage(copy, board).problems.join('\n');
      } finally {
        writeSync(fd, old, 0, old.length, offset);
      }
    };
    try {
      expect(checkRpiSdImage(copy, board).problems).toEqual([]);
      const [p1, p2, p3] = parseMbr(readAt(0, 512));
      const fat = openFat32((o, n) => readAt(p1!.startSector * 512 + o, n), p1!.sectors * 512);
      // A place inside a boot file's first cluster, in bytes from the image's start.
      const inFile = (name: string, needle: string | number): number => {
        const f = fat.files.get(name)!;
        const at = typeof needle === 'number' ? needle : fat.read(f).indexOf(needle);
        expect(at, `${needle} in ${name}`).toBeGreaterThanOrEqual(0);
        expect(at, `${needle} in the first cluster of ${name}`).toBeLessThan(fat.clusterBytes);
        return p1!.startSector * 512 + fat.offsetOf(f) + at;
      };
      const str = (s: string) => Buffer.from(s, 'latin1');
      const cases: [string, number, Buffer, RegExp][] = [
        ['no MBR signature', 510, Buffer.from([0, 0]), /MBR: no 55 AA/],
        ['partition 1 typed Linux', 446 + 4, Buffer.from([0x83]), /partition 1 has type 0x83, expected 0xc/],
        ['partition 1 not bootable', 446, Buffer.from([0]), /partition 1 lacks the boot flag/],
        ['partition 2 one sector short', 446 + 16 + 12, u32(p2!.sectors - 1), /partition 2 is \d+ sectors, expected 160 MiB/],
        ['no FAT32 signature', p1!.startSector * 512 + 82, str('FAT16   '), /partition 1: FAT: not FAT32/],
        ['a Pi 3 DTB', inFile('bcm2711-rpi-4-b.dtb', 'raspberrypi,4-model-b'), str('raspberrypi,3-model-b'), /lacks raspberrypi,4-model-b/],
        ['a DTB that is no DTB', inFile('bcm2711-rpi-4-b.dtb', 0), Buffer.from([0, 0, 0, 0]), /bcm2711-rpi-4-b.dtb: DTB: no FDT magic/],
        [
          'the mmc0 alias on the Wi-Fi host',
          inFile('bcm2711-rpi-4-b.dtb', '/emmc2bus/mmc@7e340000'),
          str('/emmc2bus/mmc@7e300000'),
          /alias mmc0 is \/emmc2bus\/mmc@7e300000/,
        ],
        ['a kernel without the arm64 magic', inFile('Image', 56), str('MZ\0\0'), /Image: kernel: no arm64 Image magic/],
        [
          'config.txt naming a DTB that is not there',
          inFile('config.txt', 'device_tree=bcm2711-rpi-4-b'),
          str('device_tree=bcm2711-rpi-4-x'),
          /no bcm2711-rpi-4-x.dtb/,
        ],
        ['config.txt in 32-bit mode', inFile('config.txt', 'arm_64bit=1'), str('arm_64bit=0'), /arm_64bit=0, expected 1/],
        [
          'config.txt placing the initrd itself',
          inFile('config.txt', 'followkernel'),
          str('0x0800000000'),
          /initramfs at 0x0800000000, expected followkernel/,
        ],
        ['the root on partition 3', inFile('cmdline.txt', 'mmcblk0p2'), str('mmcblk0p3'), /cmdline.txt: no twin6.root=\/dev\/mmcblk0p2/],
        ['no squashfs magic', p2!.startSector * 512, str('xxxx'), /partition 2: no squashfs magic/],
        ['a stale filesystem on partition 3', p3!.startSector * 512 + 4096, str('stale'), /partition 3: neither blank/],
      ];
      for (const [what, offset, bytes, want] of cases) {
        expect(problemsWith(offset, bytes), what).toMatch(want);
      }
      // A missing file: its directory entry marked deleted (0xE5).
      const dirEntry = findDirEntry(readAt, p1!.startSector * 512 + fat.rootOffset, fat.clusterBytes, 'START4  ELF');
      expect(problemsWith(dirEntry, Buffer.from([0xe5])), 'start4.elf deleted').toMatch(/boot partition: no start4.elf/);
      // Everything restored: the copy passes again.
      expect(checkRpiSdImage(copy, board).problems).toEqual([]);
    } finally {
      closeSync(fd);
    }
  });
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** Byte offset in the image of the root directory entry with this 8.3 name (padded, upper case), in the directory's first cluster. */
function findDirEntry(readAt: (o: number, n: number) => Buffer, rootAt: number, clusterBytes: number, name83: string): number {
  const dir = readAt(rootAt, clusterBytes);
  for (let o = 0; o < dir.length; o += 32) if (dir.toString('latin1', o, o + 11) === name83) return rootAt + o;
  throw new Error(`no directory entry ${name83}`);
}

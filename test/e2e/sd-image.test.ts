// The SD card images of the real arm64 boards (scripts/build-image --board
// rpi4 | nanopc-t4, scripts/image/sd-image.sh). No board boots here, so each
// image is checked structurally (src/testing/image/sd-check.ts): the MBR,
// U-Boot at the sectors the RK3399 boot ROM and SPL read (nanopc-t4), the
// FAT32 boot partition with the Pi's firmware and U-Boot, U-Boot's A/B boot
// script (boot.scr) and the files it reads, the DTB of the board, slot a's
// arm64 kernel and initrd and where U-Boot puts them in RAM, the command line
// boot.scr makes for slot a, the squashfs in slot a, a blank slot b and a
// blank flash partition. (The script itself runs under a real U-Boot in
// uboot-slots.test.ts.) The partition table is read a second time by sfdisk, an
// independent reader. Then one corruption at a time in a copy of the image,
// each restored before the next, shows that every check can fail. Needs root
// (the build's apt-get), the arm64 cross tools, mtools, sfdisk and fdtput
// (scripts/setup-debian).

import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBoard } from '../../src/board/profile.js';
import { openFat32 } from '../../src/testing/image/fat.js';
import { checkSdImage, parseFdt, parseMbr, RK_IDBLOADER_SECTOR, RK_UBOOT_SECTOR } from '../../src/testing/image/sd-check.js';
import { missingBinaries, skipUnlessRequired } from '../../src/testing/lab/prereq.js';
import { REQUIRED } from './setup.js';

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
const reason = skipUnlessRequired(await unavailable(), REQUIRED, 'the SD image builds');
if (reason) console.warn(`[sd-image.test] skipping: ${reason}`);

const work = mkdtempSync(join(tmpdir(), 't6-sd-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What each board's image must hold, and the line its boot loader is given. */
const SLOT_FILES = ['boot.scr', 'twin6/board.env', 'twin6/committed.env', 'twin6/a/Image', 'twin6/a/initrd.gz', 'twin6/a/boot.env'];
const BOARDS = {
  rpi4: {
    files: [...SLOT_FILES, 'start4.elf', 'fixup4.dat', 'bcm2711-rpi-4-b.dtb', 'config.txt', 'u-boot.bin'],
    dtb: 'bcm2711-rpi-4-b.dtb',
    cmdline: 'console=ttyS1,115200 panic=-1 loglevel=4 twin6.data=/dev/mmcblk0p4 twin6.slot=a twin6.root=/dev/mmcblk0p2',
    otherBoard: ['raspberrypi,4-model-b', 'raspberrypi,3-model-b'],
  },
  'nanopc-t4': {
    files: [...SLOT_FILES, 'twin6/a/rk3399-nanopc-t4.dtb'],
    dtb: 'twin6/a/rk3399-nanopc-t4.dtb',
    cmdline: 'console=ttyS2,1500000 panic=-1 loglevel=4 twin6.data=/dev/mmcblk1p4 twin6.slot=a twin6.root=/dev/mmcblk1p2',
    otherBoard: ['friendlyarm,nanopc-t4', 'friendlyarm,nanopc-t5'],
  },
} as const;
type Case = [what: string, offset: number, bytes: Buffer, want: RegExp];

describe.skipIf(reason !== undefined).each(Object.keys(BOARDS) as (keyof typeof BOARDS)[])('the %s SD card image', (id) => {
  const spec = BOARDS[id];
  const board = loadBoard(resolve('board'), id);
  const out = resolve('.build', id);
  let image = '';

  it('builds, and every structural check passes', { timeout: 20 * 60_000 }, () => {
    execFileSync('bash', ['scripts/build-image', '--board', id], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 20 * 60_000 });
    image = join(out, 'sdcard.img');
    const build = {
      vmlinuz: readFileSync(join(out, 'vmlinuz')),
      initrd: readFileSync(join(out, 'initrd.gz')),
      squashfs: readFileSync(join(out, 'rootfs.squashfs')),
    };
    const r = checkSdImage(image, board, build);
    expect(r.problems).toEqual([]);
    for (const f of spec.files) expect(r.bootFiles, f).toHaveProperty([f]);
    const sd = board.image.disk;
    expect(r.compatible).toEqual(expect.arrayContaining([...(sd && sd.kind !== 'efi-gpt' ? (sd.compatible ?? ['?']) : ['?'])]));
    expect(r.bootScript?.name).toBe('twin6 A/B boot');
    expect(r.kernel?.imageSize).toBeGreaterThanOrEqual(r.kernel?.fileBytes ?? Infinity);
    expect(r.cmdline).toBe(spec.cmdline);
    if (id === 'nanopc-t4') expect(r.uboot?.fitImages).toEqual(expect.arrayContaining(['U-Boot:arm64', 'flat_dt:rk3399-nanopc-t4.dtb']));

    // sfdisk reads the same table.
    const sf = JSON.parse(execFileSync('sfdisk', ['--json', image], { encoding: 'utf8' })) as {
      partitiontable: { label: string; partitions: { start: number; size: number; type: string; bootable?: boolean }[] };
    };
    expect(sf.partitiontable.label).toBe('dos');
    expect(sf.partitiontable.partitions.map((p) => [p.start, p.size, p.type, p.bootable === true])).toEqual(
      r.partitions.map((p) => [p.startSector, p.sectors, p.type.toString(16), p.bootable]),
    );
    const disk = JSON.parse(readFileSync(join(out, 'disk.json'), 'utf8')) as { problems: string[]; imageBytes: number };
    expect(disk.problems).toEqual([]);
    console.info(`[sd-image.test] ${id}: sdcard.img ${disk.imageBytes} bytes; partitions ${JSON.stringify(r.partitions)}`);
  });

  it('rejects an image with any one thing wrong', () => {
    expect(image).not.toBe('');
    const copy = join(work, `${id}.img`);
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
        return checkSdImage(copy, board).problems.join('\n');
      } finally {
        writeSync(fd, old, 0, old.length, offset);
      }
    };
    try {
      expect(checkSdImage(copy, board).problems).toEqual([]);
      const [p1, p2, p3, p4] = parseMbr(readAt(0, 512));
      const p1At = p1!.startSector * 512;
      const fat = openFat32((o, n) => readAt(p1At + o, n), p1!.sectors * 512);
      // A place inside a boot file's first cluster, in bytes from the image's start.
      const inFile = (name: string, needle: string | number): number => {
        const f = fat.files.get(name)!;
        const at = typeof needle === 'number' ? needle : fat.read(f).indexOf(needle);
        expect(at, `${needle} in ${name}`).toBeGreaterThanOrEqual(0);
        expect(at, `${needle} in the first cluster of ${name}`).toBeLessThan(fat.clusterBytes);
        return p1At + fat.offsetOf(f) + at;
      };
      const str = (s: string) => Buffer.from(s, 'latin1');
      const [compatible, otherCompatible] = spec.otherBoard;
      const cases: Case[] = [
        ['no MBR signature', 510, Buffer.from([0, 0]), /MBR: no 55 AA/],
        ['partition 1 typed Linux', 446 + 4, Buffer.from([0x83]), /partition 1 has type 0x83, expected 0xc/],
        ['partition 1 not bootable', 446, Buffer.from([0]), /partition 1 lacks the boot flag/],
        ['partition 2 one sector short', 446 + 16 + 12, u32(p2!.sectors - 1), /partition 2 is \d+ sectors, expected 160 MiB/],
        ['no FAT32 signature', p1At + 82, str('FAT16   '), /partition 1: FAT: not FAT32/],
        ["another board's DTB", inFile(spec.dtb, compatible), str(otherCompatible), new RegExp(`lacks ${compatible}`)],
        ['a DTB that is no DTB', inFile(spec.dtb, 0), Buffer.from([0, 0, 0, 0]), /DTB: no FDT magic/],
        ['a kernel without the arm64 magic', inFile('twin6/a/Image', 56), str('MZ\0\0'), /Image: kernel: no arm64 Image magic/],
        [
          "a root prefix that is not the board's",
          inFile('twin6/board.env', 'twin6_rootdev=/dev/'),
          str('twin6_rootdev=/xxx/'),
          /twin6\/board.env: twin6_rootdev=\/xxx\/[^]*command line: no twin6.root=/,
        ],
        [
          'slot b committed in a new image',
          inFile('twin6/committed.env', 'twin6_committed=a'),
          str('twin6_committed=b'),
          /twin6_committed=b/,
        ],
        ['slot a without kernel arguments', inFile('twin6/a/boot.env', 'twin6_args='), str('twin6_argz='), /boot.env: no twin6_args/],
        // boot.scr: the header's image name (covered by the header CRC), then one byte of the script (the data CRC).
        ['a boot.scr header changed', inFile('boot.scr', 'twin6 A/B'), str('twin7'), /boot script: header CRC mismatch/],
        ['a boot.scr script changed', inFile('boot.scr', 'A/B boot script'), str('A/C'), /boot script: data CRC mismatch/],
        ['no squashfs magic', p2!.startSector * 512, str('xxxx'), /partition 2: no squashfs magic/],
        ['a stale filesystem in slot b', p3!.startSector * 512 + 4096, str('stale'), /partition 3: rootfs_b is neither blank nor squashfs/],
        ['a stale filesystem on partition 4', p4!.startSector * 512 + 4096, str('stale'), /partition 4: neither blank/],
        // A missing file: its directory entry marked deleted (0xE5).
        [
          'boot.scr deleted',
          findDirEntry(readAt, p1At + fat.rootOffset, fat.clusterBytes, 'BOOT    SCR'),
          Buffer.from([0xe5]),
          /boot partition: no boot.scr/,
        ],
        [
          'twin6/a/Image deleted',
          // twin6/a's directory: allocated before the kernel's data, within the data area's first 8 MiB.
          findDirEntry(readAt, p1At + fat.rootOffset, 8 << 20, 'IMAGE      '),
          Buffer.from([0xe5]),
          /boot partition: no twin6\/a\/Image/,
        ],
      ];
      if (id === 'rpi4') {
        cases.push(
          [
            'the mmc0 alias on the Wi-Fi host',
            inFile(spec.dtb, '/emmc2bus/mmc@7e340000'),
            str('/emmc2bus/mmc@7e300000'),
            /alias mmc0 is \/emmc2bus\/mmc@7e300000/,
          ],
          [
            'config.txt naming a DTB that is not there',
            inFile('config.txt', 'device_tree=bcm2711-rpi-4-b'),
            str('device_tree=bcm2711-rpi-4-x'),
            /no bcm2711-rpi-4-x.dtb/,
          ],
          ['config.txt in 32-bit mode', inFile('config.txt', 'arm_64bit=1'), str('arm_64bit=0'), /arm_64bit=0, expected 1/],
          [
            'config.txt starting something else',
            inFile('config.txt', 'kernel=u-boot.bin'),
            str('kernel=uboot2.bin'),
            /kernel=uboot2.bin, expected u-boot.bin/,
          ],
          [
            'start4.elf deleted',
            findDirEntry(readAt, p1At + fat.rootOffset, fat.clusterBytes, 'START4  ELF'),
            Buffer.from([0xe5]),
            /boot partition: no start4.elf/,
          ],
        );
      } else {
        const itbAt = RK_UBOOT_SECTOR * 512;
        const fitBytes = readAt(itbAt, readAt(itbAt + 4, 4).readUInt32BE(0));
        expect(parseFdt(fitBytes).nodes.has('/images')).toBe(true);
        // U-Boot's default environment follows the FIT header, inside U-Boot's data.
        const ubootAt = itbAt + ((fitBytes.length + 3) & ~3);
        const envAt = readAt(ubootAt, 2 * 1024 * 1024).indexOf('\0kernel_addr_r=0x02080000\0');
        expect(envAt).toBeGreaterThan(0);
        cases.push(
          ['no idbloader', RK_IDBLOADER_SECTOR * 512 + 0x800, str('XX33'), /idbloader: no "RK33"/],
          ['no u-boot.itb', itbAt, Buffer.alloc(4), /u-boot.itb: no FIT/],
          [
            'U-Boot built for another board',
            itbAt + fitBytes.indexOf('rk3399-nanopc-t4.dtb'),
            str('rk3399-nanopc-t5.dtb'),
            /u-boot.itb: no rk3399-nanopc-t4.dtb/,
          ],
          [
            'the kernel loaded onto the initrd',
            ubootAt + envAt + 1,
            str('kernel_addr_r=0x05f00000'),
            /Image runs from 0x6000000 for \d+ bytes, into the initrd/,
          ],
          [
            'boot.env naming a DTB that is not there',
            inFile('twin6/a/boot.env', 'twin6_fdt=twin6/a/rk3399-nanopc-t4'),
            str('twin6_fdt=twin6/a/rk3399-nanopc-t5'),
            /boot partition: no twin6\/a\/rk3399-nanopc-t5.dtb/,
          ],
          ['a FAT that overlaps U-Boot', 446 + 8, u32(16384), /partition 1 starts at 16384, inside what comes before it/],
        );
      }
      for (const [what, offset, bytes, want] of cases) expect(problemsWith(offset, bytes), what).toMatch(want);
      // Everything restored: the copy passes again.
      expect(checkSdImage(copy, board).problems).toEqual([]);
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

/** Byte offset in the image of the directory entry with this 8.3 name (padded, upper case, a file's attribute 0x20) in `bytes` from `at`. */
function findDirEntry(readAt: (o: number, n: number) => Buffer, at: number, bytes: number, name83: string): number {
  const dir = readAt(at, bytes);
  for (let o = 0; o < dir.length; o += 32) if (dir.toString('latin1', o, o + 11) === name83 && dir[o + 11] === 0x20) return at + o;
  throw new Error(`no directory entry ${name83}`);
}

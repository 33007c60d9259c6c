// Checks an SD card image structurally (sd-check.ts) and writes what it found
// as JSON; exits 1 listing every problem. scripts/image/sd-image.sh runs it
// on each image it writes, so a wrong image fails the build.
//
// usage: node dist/testing/image/sd-check-main.js --board ID --image FILE [--build DIR] [--loader TEXT] [--out FILE]
//   --build  the build's directory: its vmlinuz, initrd.gz and rootfs.squashfs must be in the image unchanged

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadBoard } from '../../board/profile.js';
import { checkSdImage, type BuildFiles } from './sd-check.js';

const { values } = parseArgs({
  options: {
    board: { type: 'string' },
    image: { type: 'string' },
    build: { type: 'string' },
    loader: { type: 'string' },
    out: { type: 'string' },
  },
});
if (!values.board || !values.image) {
  console.error('usage: sd-check-main.js --board ID --image FILE [--build DIR] [--loader TEXT] [--out FILE]');
  process.exit(2);
}
const board = loadBoard(resolve('board'), values.board);
const file = (name: string): Buffer | undefined => {
  const p = values.build ? join(values.build, name) : '';
  return p && existsSync(p) ? readFileSync(p) : undefined;
};
const build: BuildFiles = { vmlinuz: file('vmlinuz'), initrd: file('initrd.gz'), squashfs: file('rootfs.squashfs') };
const report = checkSdImage(values.image, board, build);
const out = {
  board: board.id,
  image: 'sdcard.img',
  imageBytes: report.imageBytes,
  bootLoader: values.loader ?? null,
  partitions: report.partitions.map((p) => ({ ...p, startBytes: p.startSector * 512, bytes: p.sectors * 512 })),
  bootFiles: report.bootFiles,
  dtbCompatible: report.compatible,
  kernel: report.kernel ?? null,
  uboot: report.uboot ?? null,
  cmdline: report.cmdline ?? null,
  problems: report.problems,
};
if (values.out) writeFileSync(values.out, JSON.stringify(out, null, 2) + '\n');
if (report.problems.length > 0) {
  for (const p of report.problems) console.error(`sd-check: ${p}`);
  process.exit(1);
}
console.error(
  `sd-check: ${values.image}: ${report.partitions.length} partitions, ${Object.keys(report.bootFiles).length} boot files, DTB ${report.compatible.join(' ')}, kernel image_size ${report.kernel?.imageSize}: all checks passed`,
);

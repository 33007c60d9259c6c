#!/usr/bin/env node
// Prints a board profile as shell assignments (KEY='value'), checked by the
// same code as the unit tests (dist/board/profile.js). scripts/build-image
// evaluates it, and writes the BOARD_* part into the image as /etc/board.env.
//
// usage: board-env.mjs BOARD_DIR ID

import { loadBoard, interfaceFor } from '../../dist/board/profile.js';

const [dir, id] = process.argv.slice(2);
let b;
try {
  b = loadBoard(dir, id);
} catch (e) {
  process.stderr.write(`board-env: ${e.message}\n`);
  process.exit(1);
}
// A hardware board is built when its profile says which disk image it takes
// (docs/image.md §6): the UEFI disk, or an SD card image.
if (b.kind !== 'emulated' && !b.image.disk) {
  process.stderr.write(
    `board-env: ${id} is described, not built here (kind ${b.kind}, no image.disk); build qemu-x86_64, qemu-aarch64, qemu-aarch64-uboot, x86-64-minipc, rpi4 or nanopc-t4
`,
  );
  process.exit(1);
}
const disk = b.image.disk;
const flash = b.storage[0];
const q = (v) => `'${String(v ?? '').replace(/'/g, `'\\''`)}'`;
const vars = {
  BOARD_ID: b.id,
  BOARD_ARCH: b.arch,
  BOARD_DEBIAN_ARCH: b.debianArch,
  BOARD_NODE_ARCH: b.nodeArch,
  BOARD_KERNEL_PACKAGE: b.image.kernelPackage,
  BOARD_CONSOLE: b.console.device,
  BOARD_CONSOLE_BAUD: b.console.baud,
  BOARD_MGMT: b.qemu?.mgmt,
  BOARD_RAM_MB: b.ramMb,
  BOARD_ROOT_DEV: b.image.rootDevice,
  BOARD_FLASH_DEV: b.image.flashDevice,
  BOARD_FLASH_FS: flash.overlayFs,
  BOARD_FLASH_ERASE_KB: flash.eraseKb ?? 128,
  BOARD_FLASH_MB: flash.sizeMb,
  BOARD_IF_LAN: interfaceFor(b, 'lan'),
  BOARD_IF_PARTNER: interfaceFor(b, 'partner'),
  BOARD_IF_WAN: interfaceFor(b, 'wan'),
  BOARD_HOSTNAME: b.defaults?.hostname,
  BOARD_LAN6: b.defaults?.lan6,
  BOARD_MODULES: b.image.modules?.join(' '),
  BOARD_BUILTIN: b.image.builtin?.join(' '),
  BOARD_DISK: disk?.kind,
  BOARD_DISK_DTB: disk?.dtb,
  BOARD_DISK_ALIASES: Object.entries(disk?.aliases ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' '),
  BOARD_DISK_UBOOT: disk?.uboot,
  BOARD_DISK_BOOT_MB: disk?.bootMb,
  BOARD_DISK_ROOT_MB: disk?.rootMb,
  BOARD_DISK_DATA_MB: disk?.dataMb,
};
process.stdout.write(
  Object.entries(vars)
    .map(([k, v]) => `${k}=${q(v)}`)
    .join('\n') + '\n',
);

// Board profiles (board/<id>.json): what the image build, the QEMU runner and
// an installer need to know about one device. Modelled on OpenWrt's split of
// target/subtarget/profile (image side) and board.d (interfaces, console).
// JSON so that shell and node scripts read the same files; this module gives
// them a type and checks every file (test/unit/board).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type InterfaceRole = 'lan' | 'partner' | 'wan';
export type FlashKind = 'virtio-disk' | 'spi-nand' | 'nor' | 'emmc' | 'sd' | 'nvme' | 'ssd';
export type OverlayFs = 'ubifs' | 'jffs2' | 'ext4' | 'f2fs';
/**
 * Whether the board keeps the time while powered off: a real-time clock with
 * a battery, one that needs a battery fitted, or none (it starts in 1970 at
 * every power-on). The image copes with all three (docs/image.md §12); an
 * installer should know which one it has.
 */
export type RtcKind = 'battery-backed' | 'battery-optional' | 'none';
const RTC_KINDS: readonly RtcKind[] = ['battery-backed', 'battery-optional', 'none'];

export interface BoardInterface {
  /** Linux interface name in the running image. */
  readonly name: string;
  readonly role: InterfaceRole;
  /** As printed on the case, when there is one. */
  readonly label?: string;
}

export interface BoardStorage {
  readonly kind: FlashKind;
  readonly sizeMb: number;
  /** Erase block, for raw flash (MTD). */
  readonly eraseKb?: number;
  /** What holds the writable overlay (rootfs_data) on this storage. */
  readonly overlayFs: OverlayFs;
  readonly notes?: string;
}

/**
 * An SD card image (scripts/image/sd-image.sh): MBR, partition 1 FAT32 with
 * the kernel, initrd and DTB, partition 2 the squashfs root, partition 3 the
 * flash (rootfs_data).
 *   rpi-sd       a Raspberry Pi: its firmware (start4.elf, fixup4.dat),
 *                config.txt and cmdline.txt on partition 1
 *   rockchip-sd  a Rockchip board with Debian's u-boot-rockchip: idbloader.img
 *                at sector 64, u-boot.itb at sector 16384, extlinux.conf on
 *                partition 1 for U-Boot's distro boot
 */
/** disk.img: GPT with an ESP (systemd-boot, kernel, initramfs), the squashfs in partition rootfs, and rootfs_data (docs/image.md §4). */
export interface EfiDisk {
  readonly kind: 'efi-gpt';
}

export type BoardDisk = EfiDisk | SdDisk;

/**
 * sdcard.img: MBR, a FAT boot partition with U-Boot's A/B boot script and each
 * slot's kernel, two root slots, rootfs_data (docs/image.md §5, §6).
 * qemu-uboot-sd is the same card for QEMU's virt machine (U-Boot as its -bios,
 * the DTB from QEMU), so that the boot script runs here.
 */
export interface SdDisk {
  readonly kind: 'rpi-sd' | 'rockchip-sd' | 'qemu-uboot-sd';
  /** The device tree, a path under the kernel package's /usr/lib/linux-image-<version>/ (none on qemu-uboot-sd: QEMU makes it). */
  readonly dtb?: string;
  /** Strings the DTB's root compatible must hold (the checker's proof it is this board's). */
  readonly compatible?: readonly string[];
  /** Aliases added to the DTB (name -> node path), e.g. mmc0 for the SD controller so the card is mmcblk0. */
  readonly aliases?: Readonly<Record<string, string>>;
  /**
   * The U-Boot target, a directory under /usr/lib/u-boot/ of Debian's
   * u-boot-rockchip (rockchip-sd, e.g. nanopc-t4-rk3399) or u-boot-rpi
   * (rpi-sd, rpi_arm64).
   */
  readonly uboot?: string;
  readonly bootMb: number;
  readonly rootMb: number;
  readonly dataMb: number;
}

export interface BoardProfile {
  readonly id: string;
  readonly name: string;
  /** 'emulated' boards are built and booted here; 'hardware' boards are described. */
  readonly kind: 'emulated' | 'hardware';
  readonly openwrt: { readonly target: string; readonly subtarget: string; readonly profile: string };
  readonly arch: 'x86_64' | 'aarch64';
  /** Debian architecture for apt-get download (kernel, busybox, node's libraries). */
  readonly debianArch: 'amd64' | 'arm64';
  /** process.arch of the node binary, and the classic-level prebuild to carry. */
  readonly nodeArch: 'x64' | 'arm64';
  readonly soc: string;
  readonly cpu: { readonly cores: number; readonly fpu: boolean; readonly model: string };
  /** RAM of the device (the smallest variant twin6 supports), or the guest's. */
  readonly ramMb: number;
  readonly rtc: RtcKind;
  /** Storage the device has; the first entry carries the image and the overlay. */
  readonly storage: readonly BoardStorage[];
  readonly interfaces: readonly BoardInterface[];
  readonly console: { readonly device: string; readonly baud: number };
  readonly image: {
    /** How the image is laid out for this board. */
    readonly format: string;
    /** Debian package of the kernel. */
    readonly kernelPackage: string;
    /** Where the squashfs root and the flash partition appear in the running system. */
    readonly rootDevice?: string;
    readonly flashDevice?: string;
    /**
     * Kernel modules (as modprobe names them) the initramfs loads before it looks
     * for the root; the flash's filesystem is loaded on its own. Without it the
     * build loads the virtio set of the emulated boards. scripts/build-image
     * fails when one is missing from the kernel package.
     */
    readonly modules?: readonly string[];
    /** Drivers the board needs that the kernel must have built in (modules.builtin names); the build checks them. */
    readonly builtin?: readonly string[];
    /** The disk image scripts/build-image writes (docs/image.md §4, §6); the emulated boards boot the UEFI disk. */
    readonly disk?: BoardDisk;
  };
  /** What writing the image to the device takes. */
  readonly flashing: readonly string[];
  /** For the emulated boards: how scripts/run-qemu starts them. */
  readonly qemu?: {
    readonly binary: string;
    readonly machine: string;
    readonly cpu?: string;
    readonly nic: string;
    readonly mgmt: string;
    /**
     * UEFI firmware that boots disk.img: the read-only code and the variable
     * store each VM gets a copy of (Debian's ovmf, qemu-efi-aarch64).
     */
    readonly efi?: { readonly code: string; readonly vars: string };
    /** U-Boot that boots sdcard.img (qemu-uboot-sd), given to QEMU as -bios (Debian's u-boot-qemu). */
    readonly bios?: string;
  };
  /** Defaults the image bakes in: hostname, the LAN address when the command line gives none. */
  readonly defaults?: { readonly hostname: string; readonly lan6: string };
  readonly verification: {
    readonly status: 'verified' | 'partly-verified' | 'unverified';
    readonly sources: readonly string[];
    readonly notes?: string;
  };
}

const ID_RE = /^[a-z0-9][a-z0-9_.-]*$/;
const IFNAME_RE = /^[A-Za-z0-9_.@-]{1,15}$/;

/** Every problem with a parsed profile, each naming its key; empty when valid. */
export function checkBoard(b: unknown, file = 'board'): string[] {
  const errs: string[] = [];
  const p = b as Partial<BoardProfile>;
  const need = (cond: boolean, key: string, msg: string): void => {
    if (!cond) errs.push(`${file}: ${key}: ${msg}`);
  };
  if (typeof b !== 'object' || b === null) return [`${file}: not an object`];
  need(typeof p.id === 'string' && ID_RE.test(p.id), 'id', 'lower-case id required');
  need(typeof p.name === 'string' && p.name.length > 0, 'name', 'required');
  need(p.kind === 'emulated' || p.kind === 'hardware', 'kind', 'emulated or hardware');
  need(typeof p.openwrt?.target === 'string', 'openwrt.target', 'required');
  need(p.arch === 'x86_64' || p.arch === 'aarch64', 'arch', 'x86_64 or aarch64 (node needs an FPU-equipped 64-bit CPU)');
  need(
    (p.arch === 'x86_64' && p.debianArch === 'amd64' && p.nodeArch === 'x64') ||
      (p.arch === 'aarch64' && p.debianArch === 'arm64' && p.nodeArch === 'arm64'),
    'debianArch/nodeArch',
    `do not match arch ${String(p.arch)}`,
  );
  need(p.cpu?.fpu === true, 'cpu.fpu', 'node needs an FPU');
  need(typeof p.ramMb === 'number' && p.ramMb >= 256, 'ramMb', 'at least 256 (node 20 idles at ~36 MiB RSS; below 256 MiB it crawls)');
  need(RTC_KINDS.includes(p.rtc as RtcKind), 'rtc', `one of ${RTC_KINDS.join(', ')} (does it keep the time while off?)`);
  need(Array.isArray(p.storage) && p.storage.length > 0, 'storage', 'at least one entry');
  for (const [i, s] of (p.storage ?? []).entries()) {
    need(typeof s.sizeMb === 'number' && s.sizeMb > 0, `storage[${i}].sizeMb`, 'positive number');
    const raw = s.kind === 'spi-nand' || s.kind === 'nor';
    need(!raw || typeof s.eraseKb === 'number', `storage[${i}].eraseKb`, 'required for raw flash');
    need(!raw || s.overlayFs === 'ubifs' || s.overlayFs === 'jffs2', `storage[${i}].overlayFs`, 'raw flash takes UBIFS or JFFS2');
  }
  const ifs = p.interfaces ?? [];
  need(
    ifs.some((x) => x.role === 'lan'),
    'interfaces',
    'needs a lan interface',
  );
  need(new Set(ifs.map((x) => x.name)).size === ifs.length, 'interfaces', 'names must be distinct');
  for (const [i, x] of ifs.entries()) need(IFNAME_RE.test(x.name), `interfaces[${i}].name`, 'not a Linux interface name');
  need(typeof p.console?.device === 'string' && typeof p.console.baud === 'number', 'console', 'device and baud required');
  need(typeof p.image?.format === 'string' && typeof p.image.kernelPackage === 'string', 'image', 'format and kernelPackage required');
  need(Array.isArray(p.flashing) && p.flashing.length > 0, 'flashing', 'say what writing the image takes');
  if (p.kind === 'emulated') {
    need(
      typeof p.qemu?.binary === 'string' && typeof p.qemu.machine === 'string',
      'qemu',
      'binary and machine required for emulated boards',
    );
    need(
      typeof p.image?.rootDevice === 'string' && typeof p.image.flashDevice === 'string',
      'image.rootDevice/flashDevice',
      'required for emulated boards',
    );
    need(typeof p.defaults?.lan6 === 'string', 'defaults.lan6', 'required for emulated boards');
  }
  const disk = p.image?.disk;
  if (disk !== undefined) {
    need(
      ['efi-gpt', 'rpi-sd', 'rockchip-sd', 'qemu-uboot-sd'].includes(disk.kind),
      'image.disk.kind',
      'efi-gpt, rpi-sd, rockchip-sd or qemu-uboot-sd',
    );
  }
  if (disk !== undefined && disk.kind !== 'efi-gpt') {
    const real = disk.kind !== 'qemu-uboot-sd';
    need(!real || typeof disk.uboot === 'string', 'image.disk.uboot', 'the U-Boot target (u-boot-rockchip, u-boot-rpi)');
    need(!real || (typeof disk.dtb === 'string' && disk.dtb.endsWith('.dtb')), 'image.disk.dtb', 'a .dtb path in the kernel package');
    need(
      !real || (Array.isArray(disk.compatible) && disk.compatible.length > 0),
      'image.disk.compatible',
      'at least one compatible string',
    );
    need(real || typeof p.qemu?.bios === 'string', 'qemu.bios', 'the U-Boot QEMU boots a qemu-uboot-sd card with');
    for (const k of ['bootMb', 'rootMb', 'dataMb'] as const) {
      need(Number.isInteger(disk[k]) && disk[k] > 0, `image.disk.${k}`, 'positive whole MiB');
    }
    need(
      typeof p.image?.rootDevice === 'string' && typeof p.image.flashDevice === 'string',
      'image.rootDevice/flashDevice',
      'required where a disk image is built',
    );
    need(
      !real || (Array.isArray(p.image?.modules) && p.image.modules.length > 0),
      'image.modules',
      'required where a hardware disk image is built',
    );
    const part = (dev: string | undefined) => /(\d+)$/.exec(dev ?? '')?.[1];
    need(part(p.image?.rootDevice) === '2', 'image.rootDevice', "slot a's root, partition 2 (slot b's is partition 3)");
    need(part(p.image?.flashDevice) === '4', 'image.flashDevice', 'rootfs_data, partition 4');
  }
  need(
    ['verified', 'partly-verified', 'unverified'].includes(p.verification?.status ?? ''),
    'verification.status',
    'verified, partly-verified or unverified',
  );
  return errs;
}

export function parseBoard(text: string, file: string): BoardProfile {
  const b = JSON.parse(text) as unknown;
  const errs = checkBoard(b, file);
  if (errs.length > 0) throw new Error(errs.join('\n'));
  return b as BoardProfile;
}

export function loadBoard(dir: string, id: string): BoardProfile {
  if (!ID_RE.test(id)) throw new Error(`bad board id ${JSON.stringify(id)}`);
  const file = join(dir, `${id}.json`);
  const b = parseBoard(readFileSync(file, 'utf8'), file);
  if (b.id !== id) throw new Error(`${file}: id is ${b.id}, expected ${id}`);
  return b;
}

export function loadBoards(dir: string): BoardProfile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => parseBoard(readFileSync(join(dir, f), 'utf8'), join(dir, f)));
}

export function interfaceFor(b: BoardProfile, role: InterfaceRole): string | undefined {
  return b.interfaces.find((x) => x.role === role)?.name;
}

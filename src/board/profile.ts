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
     * The disk image scripts/build-image writes for the board: 'efi-gpt' is
     * disk.img, GPT with an ESP (systemd-boot, kernel, initramfs), the
     * squashfs in partition rootfs and partition rootfs_data (docs/image.md §4).
     */
    readonly disk?: 'efi-gpt';
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
  need(p.image?.disk === undefined || p.image.disk === 'efi-gpt', 'image.disk', "'efi-gpt' or absent");
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

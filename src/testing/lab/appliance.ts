// One twin6 appliance as a QEMU virtual machine: a copy of the disk image
// scripts/build-image made (disk.img, booted by UEFI firmware from the disk
// alone, as a board would), its NICs on taps of a lab namespace. The serial
// console (firmware, kernel, init, twin6d's log) goes to a file per boot; a
// second, virtio console carries a shell that the lab drives like an
// operator's ssh session (twin6ctl, free, poweroff). `boot: 'kernel'` boots
// the loose kernel and initramfs instead (-kernel, the squashfs and a bare
// flash file as two virtio disks), to compare.
//
// TCG by default: on this project's machines /dev/kvm opens but an x86 KVM
// guest hangs after the kernel's real-mode setup and QEMU never falls back,
// so KVM is used for qemu-x86_64 only when T6_QEMU_KVM=1 asks for it. A board
// of another architecture than the host's (qemu-aarch64 on x86) is always
// TCG; the lab's time-outs get a margin for it (timeScale).

import {
  existsSync,
  readFileSync,
  readSync,
  writeFileSync,
  closeSync,
  openSync,
  ftruncateSync,
  writeSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  chmodSync,
  truncateSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { gunzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { loadBoard, type BoardProfile, type OverlayFs } from '../../board/profile.js';
import { envText, parseEnvText } from '../../firmware/uboot-files.js';
import type { FailoverStatus } from '../../failover/endpoint.js';
import { assertLabAddress } from './addr.js';
import type { Namespace } from './netns.js';
import { labEnv, poll, sleep, tail, type LabProcess } from './proc.js';

export interface DiskPartition {
  /** efi: the FAT boot partition (a UEFI disk's ESP, or an SD card's partition 1). */
  readonly name: 'efi' | 'rootfs_a' | 'rootfs_b' | 'rootfs_data';
  readonly offsetBytes: number;
  readonly sizeBytes: number;
}

export interface ImageManifest {
  readonly board: string;
  readonly release: string;
  /** What a firmware.upgrade names as its target: the package version and the build's tag. */
  readonly version: string;
  /** update.t6fw, the signed bundle of this image (UEFI boards). */
  readonly bundle: { readonly file: string; readonly bytes: number; readonly sha256: string; readonly version: string } | null;
  readonly rootfsLz4Bytes: number;
  readonly rootfsXzBytes: number | null;
  readonly initrdBytes: number;
  readonly vmlinuzBytes: number;
  /** disk.img (scripts/image/efi-disk), or sdcard.img as its disk.json describes it: its size and partitions. */
  readonly disk: { readonly bytes: number; readonly bootLoader: string; readonly partitions: readonly DiskPartition[] };
}

export interface ApplianceImage {
  readonly dir: string;
  readonly board: BoardProfile;
  readonly manifest: ImageManifest;
  /** The disk image each appliance boots a copy of: disk.img (UEFI), or sdcard.img (U-Boot, board qemu-aarch64-uboot). */
  readonly diskImage: 'disk.img' | 'sdcard.img';
}

/** The image built for a board (default .build/<board>); throws with what to run when it is missing. */
export function loadImage(board = 'qemu-x86_64', dir = resolve('.build', board)): ApplianceImage {
  const profile = loadBoard(resolve('board'), board);
  const sd = profile.image.disk?.kind === 'qemu-uboot-sd';
  const diskImage = sd ? 'sdcard.img' : 'disk.img';
  for (const f of ['vmlinuz', 'initrd.gz', 'rootfs.squashfs', diskImage, sd ? 'disk.json' : 'loader-entry.conf', 'manifest.json']) {
    if (!existsSync(join(dir, f))) throw new Error(`${join(dir, f)} is missing: run scripts/build-image --board ${board}`);
  }
  let manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ImageManifest;
  if (sd) {
    // sd-image.sh's layout (disk.json): partition 1 the FAT boot partition, 2 and 3 the slots, 4 the flash.
    const d = JSON.parse(readFileSync(join(dir, 'disk.json'), 'utf8')) as {
      imageBytes: number;
      bootLoader: string | null;
      partitions: { index: number; startBytes: number; bytes: number }[];
    };
    const names = ['efi', 'rootfs_a', 'rootfs_b', 'rootfs_data'] as const;
    const partitions = d.partitions.flatMap((p) => {
      const name = names[p.index - 1];
      return name ? [{ name, offsetBytes: p.startBytes, sizeBytes: p.bytes }] : [];
    });
    manifest = { ...manifest, disk: { bytes: d.imageBytes, bootLoader: d.bootLoader ?? 'U-Boot', partitions } };
  }
  if (!manifest.disk)
    throw new Error(`${join(dir, 'manifest.json')} describes no disk.img: run scripts/build-image --board ${board} --force`);
  return { dir, board: profile, manifest, diskImage };
}

/** A partition of the image's disk.img by name. */
export function partition(image: ApplianceImage, name: DiskPartition['name']): DiskPartition {
  const p = image.manifest.disk.partitions.find((x) => x.name === name);
  if (!p) throw new Error(`${image.dir}: disk.img has no partition ${name}`);
  return p;
}

/** The host's architecture as board profiles spell it. */
export const HOST_ARCH: string = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;

/**
 * How QEMU runs `board` here. KVM needs the host's architecture; an x86 guest
 * gets it only when asked for (T6_QEMU_KVM=1, see above), an arm64 guest on
 * an arm64 host whenever /dev/kvm is there (T6_QEMU_KVM=0 refuses it).
 */
export function accelFor(board: BoardProfile): 'kvm' | 'tcg' {
  if (board.arch !== HOST_ARCH) return 'tcg';
  const env = process.env['T6_QEMU_KVM'];
  if (env === '1') return 'kvm';
  if (env === '0') return 'tcg';
  return board.arch === 'aarch64' && existsSync('/dev/kvm') ? 'kvm' : 'tcg';
}

/**
 * The factor the lab's time-outs (written for qemu-x86_64 under TCG on an x86
 * host) are multiplied by for `board`. Measured on the project's 2-core x86
 * machine at load 10: qemu-aarch64 (cortex-a72, TCG) boots to serving in
 * 11-18 s, no slower than qemu-x86_64 (14-16 s); the margin is for a host
 * where translating another instruction set costs more than it did here.
 */
export function timeScale(board: BoardProfile): number {
  return accelFor(board) === 'tcg' && board.arch !== HOST_ARCH ? 1.5 : 1;
}

export interface ApplianceSpec {
  /** Short name, also the tap prefix: "a" has taps a-lan and a-ptn. */
  readonly name: string;
  readonly role: 'standalone' | 'primary' | 'secondary';
  /** LAN address with length, e.g. 2001:db8:1::1/64. */
  readonly lan6: string;
  readonly partner6?: string;
  readonly peer6?: string;
  /**
   * The appliance's own disk: a copy of the image's disk.img, enlarged so that
   * rootfs_data becomes the board's flash size (the first boot grows it), made
   * when missing. With boot 'kernel', the bare flash instead, created blank
   * (as erased flash) when missing.
   */
  readonly diskFile: string;
  /** 'disk' (default): UEFI firmware boots diskFile; 'kernel': QEMU's -kernel (docs/image.md §4). */
  readonly boot?: 'disk' | 'kernel';
  /** Overrides the board's overlay filesystem (twin6.flash=). */
  readonly flashFs?: OverlayFs;
  /** Taps in the wire namespace, by role; a role without a tap gets no NIC. */
  readonly taps: { readonly lan: string; readonly partner?: string };
  /** Index used in MAC addresses, 1..254. */
  readonly index: number;
  /** A different image for this appliance (an upgrade). */
  readonly image?: ApplianceImage;
  /** QEMU's -rtc base= (e.g. "1970-01-01": a board whose clock starts at the epoch); default the host's time. */
  readonly rtcBase?: string;
  /**
   * Files put on the blank flash before the first boot, by absolute path in
   * the appliance's root (its own config, keys): what a device gets when it
   * is provisioned before it ships. ext4 flash only.
   */
  readonly provision?: Readonly<Record<string, ProvisionedFile>>;
}

export interface ProvisionedFile {
  readonly content: string | Buffer;
  /** Default 0644. */
  readonly mode?: number;
}

/** Writes `data` into `file` at byte `offset`, in place. */
function writeAt(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done, offset + done);
  } finally {
    closeSync(fd);
  }
}

/** Blank flash: raw NAND reads 0xFF when erased; a block disk starts as zeros (sparse). */
export function createFlash(file: string, fs: OverlayFs, sizeMb: number): void {
  const fd = openSync(file, 'w');
  try {
    if (fs === 'ubifs' || fs === 'jffs2') {
      const chunk = Buffer.alloc(1 << 20, 0xff);
      for (let i = 0; i < sizeMb; i++) writeSync(fd, chunk);
    } else {
      ftruncateSync(fd, sizeMb << 20);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The image's identity as the initramfs computes it (image/initramfs/init:
 * the md5 of the squashfs superblock's first 96 bytes, 16 hex digits). The
 * init takes a flash whose .image-id differs for one an older image wrote.
 */
export function imageId(image: ApplianceImage): string {
  const fd = openSync(join(image.dir, 'rootfs.squashfs'), 'r');
  try {
    const head = Buffer.alloc(96);
    readSync(fd, head, 0, 96, 0);
    return createHash('md5').update(head).digest('hex').slice(0, 16);
  } finally {
    closeSync(fd);
  }
}

/**
 * A flash with files already on it, the way the init leaves one after its
 * first boot: ext4 labelled rootfs_data, the overlay's upper directory
 * holding the files, and this image's id (so the first boot is no upgrade).
 * Made with mke2fs -d (e2fsprogs, as the init's own first-boot format).
 */
export function provisionFlash(
  file: string,
  image: ApplianceImage,
  fs: OverlayFs,
  sizeMb: number,
  files: Readonly<Record<string, ProvisionedFile>>,
): void {
  if (fs !== 'ext4') throw new Error(`provisioning a flash needs ext4 (this one is ${fs})`);
  const stage = mkdtempSync(join(dirname(file), '.flash-stage-'));
  try {
    mkdirSync(join(stage, 'upper'), { mode: 0o755 });
    mkdirSync(join(stage, 'work'), { mode: 0o755 });
    writeFileSync(join(stage, '.image-id'), `${imageId(image)}\n`);
    for (const [path, f] of Object.entries(files)) {
      if (!path.startsWith('/') || path.split('/').includes('..')) throw new Error(`provision: ${path} is not an absolute path`);
      const dest = join(stage, 'upper', path);
      mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
      writeFileSync(dest, f.content);
      chmodSync(dest, f.mode ?? 0o644);
    }
    createFlash(file, fs, sizeMb);
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'rootfs_data', '-d', stage, file], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: labEnv(),
      timeout: 60_000,
    });
  } catch (e) {
    rmSync(file, { force: true });
    throw e;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

export interface GuestLease {
  readonly type: 'na' | 'pd';
  readonly resource: string;
  readonly duid: string;
  readonly iaid: number;
  readonly state: string;
  readonly expiresAtSec: number;
}

export class Appliance {
  boots = 0;
  proc: LabProcess | undefined;
  private bootStartMs = 0;
  private mgmt: net.Socket | undefined;
  private mgmtBuf = '';
  private seq = 0;
  image: ApplianceImage;

  constructor(
    image: ApplianceImage,
    readonly wire: Namespace,
    readonly spec: ApplianceSpec,
    readonly dir: string,
  ) {
    this.image = spec.image ?? image;
    for (const a of [spec.lan6, spec.partner6, spec.peer6]) if (a) assertLabAddress(a);
  }

  get flashFs(): OverlayFs {
    return this.spec.flashFs ?? this.image.board.storage[0]!.overlayFs;
  }
  get mgmtPath(): string {
    return join(this.dir, `${this.spec.name}-mgmt.sock`);
  }
  consoleFile(boot = this.boots): string {
    return join(this.dir, `${this.spec.name}-console-${boot}.log`);
  }
  console(boot = this.boots): string {
    const f = this.consoleFile(boot);
    return existsSync(f) ? readFileSync(f, 'latin1') : '';
  }
  get running(): boolean {
    return this.proc?.running ?? false;
  }
  /** Time-outs given to this class are for qemu-x86_64 under TCG; this board's are these times `timeScale`. */
  get timeScale(): number {
    return timeScale(this.image.board);
  }

  get bootMode(): 'disk' | 'kernel' {
    return this.spec.boot ?? 'disk';
  }
  /** The UEFI variable store of this VM (a copy of the firmware's, kept across boots as NVRAM is). */
  get efiVarsFile(): string {
    return join(this.dir, `${this.spec.name}-efivars.fd`);
  }

  /**
   * This appliance's kernel arguments (role, addresses, flash kind): on the
   * -kernel command line, or the boot entry's second options line on disk.
   */
  kernelArgs(): string[] {
    const b = this.image.board;
    const s = this.spec;
    const accel = accelFor(b);
    return [
      // Under TCG the guest kernel calibrates the TSC against the emulated PIT
      // at boot; on a busy host the vCPU is descheduled during calibration and
      // the frequency comes out wrong. Trusted (tsc=reliable), such a TSC ran
      // a guest's clock 30 min ahead of its partner's within minutes when the
      // host was at load 12; left to the watchdog, it was caught and replaced
      // by the HPET, stepping the clock by seconds (+3.8 s measured). Failover
      // refuses a partner more than 5 s off (RFC 8156 §7.5.1), so TCG guests
      // keep time with the HPET from the start: QEMU emulates it from the
      // host's clock, so it neither drifts nor switches. (Appliances in the
      // field need NTP for the same reason.)
      // (arm64's virt machine keeps time with the architected timer, which
      // QEMU also drives from the host's clock: nothing to choose there.)
      ...(accel === 'tcg' && b.arch === 'x86_64' ? ['clocksource=hpet', 'tsc=unstable'] : []),
      `twin6.flash=${this.flashFs}`,
      `twin6.role=${s.role}`,
      `twin6.lan6=${s.lan6}`,
      ...(s.partner6 ? [`twin6.partner6=${s.partner6}`] : []),
      ...(s.peer6 ? [`twin6.peer6=${s.peer6}`] : []),
    ];
  }

  commandLine(): string[] {
    const b = this.image.board;
    const q = b.qemu;
    if (!q) throw new Error(`board ${b.id} has no qemu section`);
    const s = this.spec;
    const mac = (nic: number) => `52:54:00:16:${s.index.toString(16).padStart(2, '0')}:${nic.toString(16).padStart(2, '0')}`;
    const nic = (id: string, tap: string, n: number) => [
      '-netdev',
      `tap,id=${id},ifname=${tap},script=no,downscript=no`,
      // romfile= skips the iPXE option ROM: nothing boots from the network.
      '-device',
      `${q.nic},netdev=${id},mac=${mac(n)},romfile=`,
    ];
    return [
      ...qemuMachineArgs(b),
      ...(s.rtcBase ? ['-rtc', `base=${s.rtcBase}`] : []),
      '-serial',
      `file:${this.consoleFile(this.boots)}`,
      ...(this.bootMode === 'disk' ? this.diskArgs() : this.kernelBootArgs()),
      // An entropy source, as a board's hardware RNG (or x86's RDRAND) would be:
      // without one the kernel's CRNG was ready only 10.6 s into a TCG boot,
      // and node, whose start reads getrandom(), waited for it (~2 s).
      '-device',
      'virtio-rng-pci',
      // A hardware watchdog, as boards have one: a guest that stops feeding it
      // (a hung kernel) is reset, which -no-reboot turns into QEMU's exit.
      '-device',
      'i6300esb',
      '-action',
      'watchdog=reset',
      '-device',
      'virtio-serial-pci',
      '-chardev',
      `socket,id=mgmt,path=${this.mgmtPath},server=on,wait=off`,
      '-device',
      'virtconsole,chardev=mgmt',
      ...nic('lan', s.taps.lan, 1),
      ...(s.taps.partner ? nic('ptn', s.taps.partner, 2) : []),
    ];
  }

  /** UEFI firmware (code read-only, this VM's variables) and the disk, the only boot device; or U-Boot as the -bios. */
  private diskArgs(): string[] {
    const bios = this.image.board.qemu?.bios;
    if (bios)
      return [
        '-bios',
        bios,
        '-drive',
        `file=${this.spec.diskFile},if=none,id=disk,format=raw,cache=writeback`,
        '-device',
        'virtio-blk-pci,drive=disk',
      ];
    const efi = this.image.board.qemu?.efi;
    if (!efi) throw new Error(`board ${this.image.board.id} names no UEFI firmware (qemu.efi)`);
    return [
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${efi.code}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${this.efiVarsFile}`,
      // writeback: what the guest wrote and flushed sits in the host's page
      // cache, which outlives a SIGKILLed QEMU; only the guest's caches die.
      '-drive',
      `file=${this.spec.diskFile},if=none,id=disk,format=raw,cache=writeback`,
      '-device',
      'virtio-blk-pci,drive=disk,bootindex=0',
      // The firmware's wait for a key before it boots, 0 s: QEMU passes
      // splash-time as etc/boot-menu-wait, which OVMF and AAVMF take for
      // their boot timeout. AAVMF's own default cost 7.6 s of TCG time per
      // boot (power-on to the kernel's EFI stub: 9.4 s, 1.8 s with this).
      '-boot',
      'menu=on,splash-time=0',
    ];
  }

  /** QEMU loads the kernel and initramfs; the squashfs and the flash are two virtio disks (vda, vdb). */
  private kernelBootArgs(): string[] {
    const b = this.image.board;
    const img = (f: string) => join(this.image.dir, f);
    return [
      '-kernel',
      img('vmlinuz'),
      '-initrd',
      img('initrd.gz'),
      '-append',
      [`console=${b.console.device},${b.console.baud}`, 'panic=-1', 'loglevel=4', ...this.kernelArgs()].join(' '),
      '-drive',
      `file=${img('rootfs.squashfs')},if=virtio,format=raw,readonly=on`,
      '-drive',
      `file=${this.spec.diskFile},if=virtio,format=raw,cache=writeback`,
    ];
  }

  /**
   * The appliance's disk the first time: disk.img copied (holes kept) and
   * enlarged by what rootfs_data lacks of the board's flash size, as when the
   * image is written to a larger disk; the first boot grows the partition.
   * Provisioned files go into a small ext4 made for rootfs_data as it is in
   * the image (the first boot grows it too); UBIFS needs the partition erased (0xFF).
   */
  private makeDisk(): void {
    const file = this.spec.diskFile;
    const data = partition(this.image, 'rootfs_data');
    const sizeMb = this.image.board.storage[0]!.sizeMb;
    try {
      execFileSync('cp', ['--sparse=always', join(this.image.dir, this.image.diskImage), file], { stdio: 'pipe', timeout: 60_000 });
      truncateSync(file, this.image.manifest.disk.bytes + Math.max(0, (sizeMb << 20) - data.sizeBytes));
      if (this.spec.provision) {
        const fs = `${file}.rootfs_data`;
        try {
          provisionFlash(fs, this.image, this.flashFs, data.sizeBytes >> 20, this.spec.provision);
          writeAt(file, data.offsetBytes, readFileSync(fs));
        } finally {
          rmSync(fs, { force: true });
        }
      } else if (this.flashFs === 'ubifs' || this.flashFs === 'jffs2') {
        writeAt(file, data.offsetBytes, Buffer.alloc(data.sizeBytes, 0xff));
      }
    } catch (e) {
      rmSync(file, { force: true });
      throw e;
    }
  }

  /**
   * This appliance's arguments into every boot entry on its ESP, before each
   * boot (mtools on the disk file at the ESP's offset): each entry keeps its
   * name (an upgrade's trial counter, src/firmware/slots.ts) and its own lines
   * up to its first options line, and gets this appliance's arguments as a
   * second options line, which systemd-boot appends (scripts/image/efi-disk).
   * An upgrade on the device copies that line to the entry it writes.
   */
  private writeBootEntries(): void {
    const mtools = this.bootPartitionTool();
    const names = mtools('mdir', ['-b', '::/loader/entries'])
      .split('\n')
      .map((l) => l.trim().replace(/^.*\//, ''))
      .filter((n) => /^twin6-.*\.conf$/.test(n));
    if (names.length === 0) throw new Error(`${this.spec.name}: no twin6 boot entry on the ESP of ${this.spec.diskFile}`);
    const tmp = join(this.dir, `${this.spec.name}-loader-entry.conf`);
    for (const name of names) {
      const lines = mtools('mtype', [`::/loader/entries/${name}`]).split('\n');
      const first = lines.findIndex((l) => l.startsWith('options '));
      const kept = (first < 0 ? lines : lines.slice(0, first + 1)).filter((l) => l.trim() !== '');
      writeFileSync(tmp, `${[...kept, `options ${this.kernelArgs().join(' ')}`].join('\n')}\n`);
      mtools('mcopy', ['-o', tmp, `::/loader/entries/${name}`]);
    }
  }

  /** Runs an mtools command on the FAT boot partition of this appliance's disk file. */
  private bootPartitionTool(): (tool: string, args: string[]) => string {
    const img = `${this.spec.diskFile}@@${partition(this.image, 'efi').offsetBytes}`;
    return (tool, args) =>
      execFileSync(tool, ['-i', img, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...labEnv(), MTOOLS_SKIP_CHECK: '1' },
        timeout: 60_000,
        encoding: 'utf8',
      });
  }

  /**
   * The U-Boot card's counterpart of writeBootEntries: this appliance's
   * arguments appended to twin6_args in each slot's twin6/<slot>/boot.env
   * (boot.scr passes them on, docs/image.md §5), and kept apart in
   * twin6_device, as a device's own arguments are: an upgrade on the device
   * carries twin6_device to the slot it writes, and the next boot here
   * replaces them instead of appending them twice.
   */
  private writeBootEnv(): void {
    const mtools = this.bootPartitionTool();
    const tmp = join(this.dir, `${this.spec.name}-boot.env`);
    const lab = this.kernelArgs().join(' ');
    for (const slot of ['a', 'b']) {
      let text: string;
      try {
        text = mtools('mtype', [`::/twin6/${slot}/boot.env`]);
      } catch {
        continue; // a slot not written yet
      }
      const vars = parseEnvText(text);
      const device = vars.get('twin6_device');
      let own = vars.get('twin6_args') ?? '';
      if (device && own.endsWith(` ${device}`)) own = own.slice(0, -device.length - 1);
      vars.set('twin6_args', lab ? `${own} ${lab}` : own);
      if (lab) vars.set('twin6_device', lab);
      else vars.delete('twin6_device');
      writeFileSync(tmp, envText(Object.fromEntries(vars)));
      mtools('mcopy', ['-o', tmp, `::/twin6/${slot}/boot.env`]);
    }
  }

  /**
   * A re-flash, while powered off: the new image's boot partition (kernel,
   * initramfs, slot a's boot entry) and its slot a written over this disk's,
   * as writing the image's first partitions with dd would; rootfs_data
   * (config, leases) is left alone, and the init sorts out what to keep
   * (docs/image.md §5). Upgrades on the running device go through the
   * inactive slot instead (firmware.upgrade). With boot 'kernel', the next
   * boot simply takes the new files.
   */
  upgrade(next: ApplianceImage): void {
    if (this.running) throw new Error(`${this.spec.name}: power off before an upgrade`);
    if (this.bootMode === 'disk' && existsSync(this.spec.diskFile)) {
      for (const name of ['efi', 'rootfs_a'] as const) {
        const [was, now] = [partition(this.image, name), partition(next, name)];
        if (was.offsetBytes !== now.offsetBytes || was.sizeBytes !== now.sizeBytes)
          throw new Error(
            `${this.spec.name}: the new image's ${name} partition moved or changed size: an upgrade cannot write it in place`,
          );
        const data = Buffer.alloc(now.sizeBytes);
        const fd = openSync(join(next.dir, next.diskImage), 'r');
        try {
          readSync(fd, data, 0, now.sizeBytes, now.offsetBytes);
        } finally {
          closeSync(fd);
        }
        writeAt(this.spec.diskFile, now.offsetBytes, data);
      }
    }
    this.image = next;
  }

  /** Powers the appliance on (a fresh console file per boot). */
  boot(): void {
    if (this.running) throw new Error(`${this.spec.name} is already running`);
    if (this.bootMode === 'kernel' && !existsSync(this.spec.diskFile)) {
      const sizeMb = this.image.board.storage[0]!.sizeMb;
      if (this.spec.provision) provisionFlash(this.spec.diskFile, this.image, this.flashFs, sizeMb, this.spec.provision);
      else createFlash(this.spec.diskFile, this.flashFs, sizeMb);
    }
    if (this.bootMode === 'disk') {
      if (!existsSync(this.spec.diskFile)) this.makeDisk();
      if (this.image.diskImage === 'sdcard.img') this.writeBootEnv();
      else {
        if (!existsSync(this.efiVarsFile)) {
          const efi = this.image.board.qemu?.efi;
          if (!efi) throw new Error(`board ${this.image.board.id} names no UEFI firmware (qemu.efi)`);
          execFileSync('cp', ['--sparse=always', efi.vars, this.efiVarsFile], { stdio: 'pipe', timeout: 60_000 });
        }
        this.writeBootEntries();
      }
    }
    this.boots++;
    writeFileSync(this.consoleFile(), '');
    this.closeMgmt();
    this.bootStartMs = Date.now();
    this.proc = this.wire.spawn(`qemu-${this.spec.name}-${this.boots}`, this.commandLine(), {
      logFile: join(this.dir, `${this.spec.name}-qemu.log`),
    });
  }

  /** Resolves with the ms from power-on until twin6d logged "serving" on the console. */
  async waitServing(timeoutMs = 120_000): Promise<number> {
    await poll(() => (this.console().includes('"msg":"serving"') ? true : undefined), {
      timeoutMs: timeoutMs * this.timeScale,
      intervalMs: 100,
      what: `${this.spec.name} (boot ${this.boots}) to serve`,
      abortIf: () => (this.proc?.exitStatus ? `QEMU exited (${this.proc.exitStatus.code ?? this.proc.exitStatus.signal})` : undefined),
      detail: () => this.diagnostics(),
    });
    return Date.now() - this.bootStartMs;
  }

  /**
   * Where this boot's time to serving went, from the console: the init and the
   * supervisor stamp their lines with the guest's uptime, twin6d's serving line
   * says how long node took to load its modules and to start. `beforeKernelMs`
   * is what the host saw that the guest did not: QEMU, firmware, loading the
   * kernel. Undefined until twin6d is serving (or when a line is missing).
   */
  bootPhases(totalMs: number): BootPhases | undefined {
    const text = this.console();
    const uptime = (re: RegExp) => {
      const m = re.exec(text);
      return m ? Math.round(Number(m[1]) * 1000) : undefined;
    };
    const initMs = uptime(/\[init ([0-9.]+)\] twin6 /);
    const overlayMs = uptime(/\[init ([0-9.]+)\] overlay mounted/);
    const daemonSpawnMs = uptime(/\[twin6-supervise ([0-9.]+)\] started twin6d/);
    const serving = /"modulesLoadedMs":(\d+),"processMs":(\d+)[^\n]*"msg":"serving"/.exec(text);
    if (initMs === undefined || overlayMs === undefined || daemonSpawnMs === undefined || !serving) return undefined;
    const modulesLoadedMs = Number(serving[1]);
    const processMs = Number(serving[2]);
    return {
      totalMs,
      beforeKernelMs: Math.max(0, totalMs - daemonSpawnMs - processMs),
      kernelMs: initMs,
      initMs: overlayMs - initMs,
      servicesMs: daemonSpawnMs - overlayMs,
      nodeModulesMs: modulesLoadedMs,
      daemonStartMs: processMs - modulesLoadedMs,
    };
  }

  /** The server DUID twin6d logged when it started serving (hex), on this boot. */
  serverDuid(): string | undefined {
    return /"serverDuid":"([0-9a-f]+)"[^\n]*"msg":"serving"/.exec(this.console())?.[1];
  }

  /** `twin6ctl failover --json` in the guest. */
  async failover(): Promise<FailoverStatus> {
    const r = await this.sh('twin6ctl failover --json');
    if (r.code !== 0) throw new Error(`${this.spec.name}: twin6ctl failover failed (${r.code}): ${r.out}`);
    return JSON.parse(r.out) as FailoverStatus;
  }

  /**
   * Waits until twin6ctl in the guest reports the failover state `state`.
   * Resolves with the host time (ms) at which the transition first showed on
   * the console. `consoleFrom`: where on this boot's console to look for it
   * (to wait for a later transition than one already logged).
   */
  async waitFailoverState(state: string, opts: { timeoutMs?: number; consoleFrom?: number } = {}): Promise<number> {
    let last = '';
    let seenAt: number | undefined;
    await poll(
      async () => {
        // Cheap first: the console says when a transition happened; twin6ctl (node) is slow in a TCG guest.
        if (
          !this.console()
            .slice(opts.consoleFrom ?? 0)
            .includes(`"to":"${state}"`)
        )
          return undefined;
        seenAt ??= Date.now();
        // twin6d may be between a crash and its respawn: ask again next round.
        const s = await this.failover().catch((e: Error) => {
          last = e.message;
          return undefined;
        });
        if (!s) return undefined;
        last = `${s.state} (partner ${s.partnerState ?? 'unknown'}, ${s.connected ? 'connected' : 'not connected'})`;
        return s.state === state ? true : undefined;
      },
      {
        timeoutMs: (opts.timeoutMs ?? 120_000) * this.timeScale,
        intervalMs: 250,
        what: `${this.spec.name} (boot ${this.boots}) to reach failover state ${state}`,
        abortIf: () => (this.proc?.exitStatus ? `QEMU exited (${this.proc.exitStatus.code ?? this.proc.exitStatus.signal})` : undefined),
        detail: () => `last seen: ${last}\n${this.diagnostics()}`,
      },
    );
    return seenAt ?? Date.now();
  }

  /** Host time (ms) of this boot's power-on. */
  get poweredOnAtMs(): number {
    return this.bootStartMs;
  }

  /** Power cut: SIGKILL to QEMU, nothing in the guest gets to run. */
  async powerCut(): Promise<void> {
    this.closeMgmt();
    if (this.proc?.running) await this.proc.stop('SIGKILL');
  }

  /** Orderly power-off through the guest (rcK stops twin6d and makes the flash read-only). */
  async poweroff(timeoutMs = 60_000): Promise<void> {
    if (!this.proc?.running) return;
    this.mgmtWrite('poweroff\n');
    const exited = await Promise.race([this.proc.exited, sleep(timeoutMs * this.timeScale).then(() => undefined)]);
    this.closeMgmt();
    if (!exited) await this.proc.stop('SIGKILL');
  }

  /**
   * Waits for the guest to reboot itself (an upgrade's reboot into its trial,
   * a failed trial's reboot, a watchdog reset) and powers it on again: QEMU
   * runs with -no-reboot, so a guest reset ends the process, and the next
   * boot gets its own console file as every boot does. Resolves with the
   * console text of the boot that ended.
   */
  async waitSelfReboot(timeoutMs = 300_000): Promise<string> {
    const proc = this.proc;
    if (!proc) throw new Error(`${this.spec.name} is not running`);
    const exited = await Promise.race([proc.exited, sleep(timeoutMs * this.timeScale).then(() => undefined)]);
    if (!exited) throw new Error(`${this.spec.name} did not reboot within ${timeoutMs} ms\n${tail(this.console(), 40)}`);
    if (proc.exitStatus?.signal)
      throw new Error(`${this.spec.name}: QEMU was killed (${proc.exitStatus.signal}), not rebooted by the guest`);
    const ended = this.console();
    this.closeMgmt();
    this.boot();
    return ended;
  }

  /**
   * Runs a shell command on the management console and returns its output.
   * Markers are printed with printf formats so that the echo of the typed
   * command never matches them; a command sent before the shell was up is
   * sent again.
   */
  async sh(cmd: string, timeoutMs = 60_000): Promise<{ out: string; code: number }> {
    const deadline = Date.now() + timeoutMs * this.timeScale;
    for (;;) {
      const token = `${process.pid}x${++this.seq}`;
      // Earlier output (a previous answer, the shell's banner) is not needed.
      this.mgmtBuf = '';
      const start = 0;
      this.mgmtWrite(`printf '@@B%s\\n' ${token}; ${cmd}; printf '@@E%s:%s\\n' ${token} $?\n`);
      const re = new RegExp(`@@B${token}\\r?\\n([\\s\\S]*?)@@E${token}:(\\d+)`);
      const retryAt = Date.now() + 8_000;
      for (;;) {
        const m = re.exec(this.mgmtBuf.slice(start));
        if (m) return { out: (m[1] ?? '').replace(/\r/g, ''), code: Number(m[2]) };
        if (this.proc?.exitStatus) throw new Error(`${this.spec.name}: QEMU exited while running: ${cmd}`);
        if (Date.now() > deadline)
          throw new Error(`${this.spec.name}: no answer to "${cmd}" within ${timeoutMs * this.timeScale} ms\n${tail(this.mgmtBuf, 20)}`);
        // Nothing at all came back: the shell was not there yet; ask again.
        if (Date.now() > retryAt && !this.mgmtBuf.slice(start).includes(`@@B${token}`)) break;
        await sleep(50);
      }
    }
  }

  /** Every lease twin6d holds, from its control socket (twin6ctl pages through them). */
  async leases(): Promise<GuestLease[]> {
    // A generous timeout: under TCG on a busy host a page of thousands of leases can take seconds.
    const r = await this.sh(
      'twin6ctl leases --all --json --timeout 60 > /tmp/leases.json && gzip -c /tmp/leases.json > /tmp/leases.gz && stat -c %s /tmp/leases.gz',
      120_000,
    );
    if (r.code !== 0) throw new Error(`${this.spec.name}: reading leases failed (${r.code}): ${r.out}`);
    const text = gunzipSync(await this.fetchFile('/tmp/leases.gz', Number(r.out.trim()))).toString('utf8');
    const { leases } = JSON.parse(text) as { leases: GuestLease[] };
    return leases.map(({ type, resource, duid, iaid, state, expiresAtSec }) => ({ type, resource, duid, iaid, state, expiresAtSec }));
  }

  /**
   * Copies a guest file over the management console. QEMU drops what a
   * virtconsole port writes while the host side is not reading fast enough
   * (a console cannot be throttled), so the file comes in chunks that fit the
   * socket's buffer, each checked against its md5 and asked for again if it
   * arrived damaged.
   */
  async fetchFile(path: string, size: number): Promise<Buffer> {
    const CHUNK = 32 << 10;
    const parts: Buffer[] = [];
    for (let k = 0; k * CHUNK < size; k++) {
      const dd = `dd if=${path} bs=${CHUNK} skip=${k} count=1 2>/dev/null`;
      for (let attempt = 1; ; attempt++) {
        const r = await this.sh(`${dd} | md5sum; ${dd} | base64`);
        const [sumLine = '', ...rest] = r.out.split('\n');
        const data = Buffer.from(rest.join('').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
        if (createHash('md5').update(data).digest('hex') === sumLine.split(' ')[0]) {
          parts.push(data);
          break;
        }
        if (attempt >= 5) throw new Error(`${this.spec.name}: ${path} chunk ${k} arrived damaged ${attempt} times`);
      }
    }
    return Buffer.concat(parts);
  }

  /** Guest clock minus host clock, in seconds (the RTC is read at boot, TCG may drift). */
  async clockSkewSec(): Promise<number> {
    const before = Date.now();
    const r = await this.sh('date +%s');
    const host = (before + Date.now()) / 2000;
    return Number(r.out.trim()) - host;
  }

  diagnostics(): string {
    return `--- appliance ${this.spec.name} boot ${this.boots}, console (tail):\n${tail(this.console(), 40)}\n--- ${this.spec.name} mgmt (tail):\n${tail(this.mgmtBuf, 10)}`;
  }

  private mgmtWrite(text: string): void {
    if (!this.mgmt || this.mgmt.destroyed) {
      if (!existsSync(this.mgmtPath)) return; // QEMU not listening yet: sh() retries
      const s = net.connect(this.mgmtPath);
      s.setEncoding('latin1');
      s.on('data', (d: string) => {
        // Cleared by each sh() call, so it holds at most one answer.
        this.mgmtBuf += d;
      });
      s.on('error', () => s.destroy());
      this.mgmt = s;
    }
    this.mgmt.write(text);
  }

  private closeMgmt(): void {
    this.mgmt?.destroy();
    this.mgmt = undefined;
    this.mgmtBuf = '';
  }
}

/** One boot's time to serving, in parts (ms); see Appliance.bootPhases. */
export interface BootPhases {
  readonly totalMs: number;
  /** QEMU start, firmware, kernel load: the host's total minus what the guest's clock saw. */
  readonly beforeKernelMs: number;
  /** Kernel start to the initramfs init. */
  readonly kernelMs: number;
  /** The init: modules, root, flash (formatted on a first boot), overlay. */
  readonly initMs: number;
  /** rcS: RAM filesystems, syslog, network, up to twin6d's spawn. */
  readonly servicesMs: number;
  /** node's own start plus loading twin6d's modules. */
  readonly nodeModulesMs: number;
  /** twin6d's start: config, store open, sockets, failover, up to serving. */
  readonly daemonStartMs: number;
}

/**
 * QEMU and the machine of `board` with nothing attached: the accelerator and
 * CPU, the RAM, one vCPU, no display, monitor or default devices, and an exit
 * instead of a reboot.
 */
export function qemuMachineArgs(board: BoardProfile): string[] {
  const q = board.qemu;
  if (!q) throw new Error(`board ${board.id} has no qemu section`);
  return [
    q.binary,
    ...(accelFor(board) === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', ...(q.cpu ? ['-cpu', q.cpu] : [])]),
    '-M',
    q.machine,
    '-m',
    String(board.ramMb),
    '-smp',
    '1',
    '-display',
    'none',
    '-monitor',
    'none',
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
  ];
}

/** Why appliance VMs cannot run here, or undefined: tests skip (or fail when required) with it. */
export async function applianceUnavailableReason(board = 'qemu-x86_64'): Promise<string | undefined> {
  const { missingBinaries } = await import('./prereq.js');
  if (process.platform !== 'linux') return `QEMU appliances need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the appliance lab needs root (network namespaces, taps)';
  const b = loadBoard(resolve('board'), board);
  const bins = [b.qemu?.binary ?? 'qemu-system-x86_64', 'ip', 'mksquashfs', 'dpkg-deb', 'apt-get', 'sfdisk', 'mkfs.fat', 'mcopy', 'cp'];
  // Another architecture's image: scripts/build-image cross-compiles raw-socket
  // and runs the image's busybox and node under qemu-user.
  if (b.arch !== HOST_ARCH) bins.push(`${b.arch}-linux-gnu-gcc`, `${b.arch}-linux-gnu-g++`, `qemu-${b.arch}-static`, 'npm');
  const missing = await missingBinaries(bins);
  if (missing.length > 0) return `${board}: missing binaries: ${missing.join(', ')} (scripts/setup-debian installs them)`;
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing (taps)';
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed (scripts/setup-debian)';
  const efi = b.qemu?.efi;
  for (const f of efi ? [efi.code, efi.vars] : [])
    if (!existsSync(f)) return `${board}: UEFI firmware ${f} is missing (scripts/setup-debian installs it)`;
  const bios = b.qemu?.bios;
  if (bios && !existsSync(bios)) return `${board}: U-Boot ${bios} is missing (scripts/setup-debian installs u-boot-qemu)`;
  return undefined;
}

// The boot partition of an SD image (sd-check.ts): U-Boot's A/B boot script
// (boot.scr) and the files it reads (twin6/board.env, committed.env, slot a's
// boot.env, docs/image.md §5), what starts U-Boot on the Pi (the firmware,
// config.txt, u-boot.bin), the DTB of the board, the arm64 kernel and where
// it will sit in RAM next to the initrd and the DTB, and the kernel command
// line boot.scr composes for slot a.

import type { BoardProfile, SdDisk } from '../../board/profile.js';
import type { Fat32 } from './fat.js';
import {
  fdtStrings,
  parseArm64Image,
  parseConfigTxt,
  parseEnvText,
  parseFdt,
  parseUbootScript,
  UIMAGE_ARCH_ARM64,
  UIMAGE_COMP_NONE,
  UIMAGE_TYPE_SCRIPT,
} from './formats.js';
import type { BuildFiles, Draft, UbootAddresses } from './report.js';

const MIB = 1024 * 1024;
const ALIGN_2M = 2 * MIB;

/** What the boot loader is told to load, by file name in the FAT, and the command line. */
interface BootPlan {
  readonly kernel?: string;
  readonly initrd?: string;
  readonly dtb?: string;
  readonly cmdline?: string;
}

export function checkBootPartition(fat: Fat32, board: BoardProfile, build: BuildFiles, report: Draft): void {
  const problems = report.problems;
  const disk = board.image.disk;
  if (!disk || disk.kind === 'efi-gpt') return;
  const get = (name: string, why: string): Buffer | undefined => {
    const f = fat.files.get(name);
    if (!f) {
      problems.push(`boot partition: no ${name} (${why})`);
      return undefined;
    }
    return fat.read(f);
  };
  if (disk.kind === 'rpi-sd') rpiFirmware(get, disk, report);
  if (disk.kind === 'rockchip-sd' && fat.files.has('extlinux/extlinux.conf'))
    problems.push("boot partition: extlinux/extlinux.conf, which U-Boot's distro boot would run instead of boot.scr");
  const plan = ubootAbPlan(get, fat, board, report);
  if (!plan) return;

  const dtb = plan.dtb ? get(plan.dtb, 'the device tree the boot loader loads') : undefined;
  if (dtb) checkDtb(dtb, plan.dtb ?? '', disk.compatible ?? [], disk.aliases ?? {}, report);

  const kernel = plan.kernel ? get(plan.kernel, 'the kernel the boot loader loads') : undefined;
  const initrd = plan.initrd ? get(plan.initrd, 'the initrd the boot loader loads') : undefined;
  if (kernel) {
    const name = plan.kernel ?? '';
    try {
      const h = parseArm64Image(kernel);
      report.kernel = { ...h, fileBytes: kernel.length };
      if (h.bigEndian) problems.push(`${name}: a big-endian kernel`);
      if (h.textOffset !== 0) problems.push(`${name}: text_offset 0x${h.textOffset.toString(16)}, expected 0 (kernels since 5.8)`);
      if (h.imageSize < kernel.length) problems.push(`${name}: image_size ${h.imageSize} is less than the file's ${kernel.length} bytes`);
      // The Pi's DTB is where the firmware put it, not at fdt_addr_r.
      const sizes = { kernel: h.imageSize, initrd: initrd?.length ?? 0, dtb: disk.kind === 'rpi-sd' ? 0 : (dtb?.length ?? 0) };
      if (!h.anywhere) problems.push(`${name}: flags bit 3 clear, so U-Boot would move it to the start of RAM, over what it loaded there`);
      checkUbootPlacement(report.uboot?.addresses ?? {}, sizes, name, problems);
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message}`);
    }
    if (build.vmlinuz && !kernel.equals(build.vmlinuz)) problems.push(`${name}: differs from the build's vmlinuz`);
  }
  if (initrd) {
    if (initrd[0] !== 0x1f || initrd[1] !== 0x8b) problems.push(`${plan.initrd}: not gzip`);
    if (build.initrd && !initrd.equals(build.initrd)) problems.push(`${plan.initrd}: differs from the build's initrd.gz`);
  }
  if (plan.cmdline !== undefined) checkCmdline(plan.cmdline, board, report);
}

type Get = (name: string, why: string) => Buffer | undefined;

/**
 * The Pi's firmware: start4.elf and fixup4.dat, and config.txt starting
 * Debian's U-Boot (kernel=u-boot.bin) in 64-bit mode with the board's DTB,
 * which the firmware hands to U-Boot; U-Boot's load addresses from its
 * default environment in u-boot.bin.
 */
function rpiFirmware(get: Get, disk: SdDisk, report: Draft): void {
  const problems = report.problems;
  const start4 = get('start4.elf', "the Pi 4's GPU firmware");
  if (start4 && start4.toString('latin1', 0, 4) !== '\x7fELF') problems.push('start4.elf: not an ELF file');
  get('fixup4.dat', "start4.elf's memory split");
  const text = get('config.txt', 'the firmware settings')?.toString('utf8');
  if (text === undefined) return;
  const config = parseConfigTxt(text);
  for (const [key, value] of [
    ['arm_64bit', '1'],
    ['enable_uart', '1'],
    ['kernel', 'u-boot.bin'],
  ] as const) {
    if (config.values.get(key) !== value) problems.push(`config.txt: ${key}=${config.values.get(key) ?? '(unset)'}, expected ${value}`);
  }
  if (config.initramfs) problems.push("config.txt: an initramfs line (U-Boot loads the slot's initrd, not the firmware)");
  const dtbName = config.values.get('device_tree');
  if (!dtbName) problems.push('config.txt: no device_tree=');
  else {
    const dtb = get(dtbName, 'the device tree the firmware hands to U-Boot');
    if (dtb) checkDtb(dtb, dtbName, disk.compatible ?? [], disk.aliases ?? {}, report);
  }
  const uboot = get('u-boot.bin', 'U-Boot, which config.txt starts');
  if (uboot) {
    if (!uboot.includes('U-Boot 20', 0, 'latin1')) problems.push('u-boot.bin: no "U-Boot 20…" version string: not U-Boot');
    report.uboot = { fitImages: [], addresses: ubootEnvAddresses(uboot, 'u-boot.bin', problems) };
  }
}

/** kernel_addr_r, ramdisk_addr_r, fdt_addr_r (and kernel_comp_addr_r if set) from U-Boot's default environment in its binary. */
export function ubootEnvAddresses(data: Buffer, what: string, problems: string[]): UbootAddresses {
  const addresses: Record<string, number> = {};
  // NUL-separated name=value strings in U-Boot's data.
  const text = data.toString('latin1');
  for (const k of ['kernel_addr_r', 'ramdisk_addr_r', 'fdt_addr_r', 'kernel_comp_addr_r']) {
    const m = new RegExp(`\\0${k}=(0x[0-9a-f]+)\\0`).exec(text);
    if (m?.[1]) addresses[k] = Number.parseInt(m[1], 16);
    else if (k !== 'kernel_comp_addr_r') problems.push(`${what}: no ${k} in U-Boot's default environment`);
  }
  return addresses;
}

/**
 * U-Boot's A/B boot (docs/image.md §5): boot.scr a well-formed arm64 script
 * image; twin6/board.env naming the prefix of rootDevice (slot a's, partition
 * 2); twin6/committed.env committing slot a; no trial pending; slot a's
 * boot.env, Image, initrd.gz and, where boot.env names one, its DTB. The
 * command line is slot a's as boot.scr composes it.
 */
function ubootAbPlan(get: Get, fat: Fat32, board: BoardProfile, report: Draft): BootPlan | undefined {
  const problems = report.problems;
  const disk = board.image.disk;
  const scr = get('boot.scr', "the A/B boot script U-Boot's distro boot runs");
  if (scr) {
    try {
      const s = parseUbootScript(scr);
      report.bootScript = { name: s.name, bytes: s.script.length };
      if (s.type !== UIMAGE_TYPE_SCRIPT) problems.push(`boot.scr: image type ${s.type}, expected ${UIMAGE_TYPE_SCRIPT} (script)`);
      if (s.arch !== UIMAGE_ARCH_ARM64) problems.push(`boot.scr: architecture ${s.arch}, expected ${UIMAGE_ARCH_ARM64} (arm64)`);
      if (s.compression !== UIMAGE_COMP_NONE) problems.push(`boot.scr: compression ${s.compression}, expected none`);
      for (const needle of ['twin6/committed.env', 'twin6/trial.env', 'fatwrite', 'booti'])
        if (!s.script.includes(needle)) problems.push(`boot.scr: the script never mentions ${needle}`);
      if (/\bsetexpr\b/.test(s.script.replace(/#[^\n]*/g, ''))) problems.push("boot.scr: uses setexpr, which nanopc-t4's U-Boot lacks");
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  const env = (name: string, why: string): Map<string, string> | undefined => {
    const b = get(name, why);
    return b ? parseEnvText(b.toString('latin1')) : undefined;
  };
  const rootDevice = board.image.rootDevice ?? '';
  const rootdev = env('twin6/board.env', 'the root partition prefix')?.get('twin6_rootdev');
  if (rootdev !== undefined && `${rootdev}2` !== rootDevice)
    problems.push(`twin6/board.env: twin6_rootdev=${rootdev}, but slot a's root is ${rootDevice}`);
  const committed = env('twin6/committed.env', 'the committed slot');
  if (committed && (committed.get('twin6_committed') !== 'a' || !/^[0-9]+$/.test(committed.get('twin6_committed_gen') ?? '')))
    problems.push(
      `twin6/committed.env: twin6_committed=${committed.get('twin6_committed') ?? '(unset)'} twin6_committed_gen=${committed.get('twin6_committed_gen') ?? '(unset)'}, expected slot a and a generation number`,
    );
  const trial = fat.files.get('twin6/trial.env');
  if (trial && parseEnvText(fat.read(trial).toString('latin1')).has('twin6_trial'))
    problems.push('twin6/trial.env: a new image names a trial');
  const slot = env('twin6/a/boot.env', "slot a's kernel arguments");
  if (!slot) return undefined;
  const args = slot.get('twin6_args');
  if (!args) problems.push('twin6/a/boot.env: no twin6_args');
  const fdt = slot.get('twin6_fdt');
  if (disk?.kind === 'rockchip-sd' && !fdt) problems.push("twin6/a/boot.env: no twin6_fdt (U-Boot loads this board's DTB from a file)");
  if (disk?.kind !== 'rockchip-sd' && fdt)
    problems.push(`twin6/a/boot.env: twin6_fdt=${fdt}, but this board's DTB comes from its firmware`);
  if (fdt && !fdt.startsWith('twin6/a/')) problems.push(`twin6/a/boot.env: twin6_fdt=${fdt}, not slot a's own`);
  return {
    kernel: 'twin6/a/Image',
    initrd: 'twin6/a/initrd.gz',
    ...(fdt ? { dtb: fdt } : {}),
    cmdline: `${args ?? ''} twin6.slot=a twin6.root=${rootdev ?? ''}2`.trim(),
  };
}

/** The DTB's root compatible holds the board's strings, and each alias the profile adds points at a node. */
function checkDtb(
  dtb: Buffer,
  name: string,
  compatible: readonly string[],
  aliases: Readonly<Record<string, string>>,
  report: Draft,
): void {
  const problems = report.problems;
  try {
    const fdt = parseFdt(dtb);
    report.compatible = fdtStrings(fdt.nodes.get('/')?.get('compatible'));
    for (const c of compatible)
      if (!report.compatible.includes(c)) problems.push(`${name}: root compatible [${report.compatible.join(', ')}] lacks ${c}`);
    for (const [alias, target] of Object.entries(aliases)) {
      const got = fdtStrings(fdt.nodes.get('/aliases')?.get(alias))[0];
      if (got !== target) problems.push(`${name}: alias ${alias} is ${got ?? '(none)'}, expected ${target}`);
      else if (!fdt.nodes.has(target)) problems.push(`${name}: alias ${alias} points at ${target}, which is not a node`);
    }
  } catch (e) {
    problems.push(`${name}: ${(e as Error).message}`);
  }
}

/**
 * U-Boot loads the DTB at fdt_addr_r, the Image at kernel_addr_r and the
 * initrd at ramdisk_addr_r; booti then moves the Image up to the next 2 MiB
 * boundary (arch/arm/lib/image.c), where it runs with image_size bytes (BSS
 * included). None of the three may overlap.
 */
function checkUbootPlacement(
  a: UbootAddresses,
  sizes: { kernel: number; initrd: number; dtb: number },
  name: string,
  problems: string[],
): void {
  const { kernel_addr_r: k, ramdisk_addr_r: r, fdt_addr_r: f, kernel_comp_addr_r: c } = a;
  if (k === undefined || r === undefined || f === undefined) return; // reported with U-Boot's checks
  const kernelAt = Math.ceil(k / ALIGN_2M) * ALIGN_2M;
  const hex = (n: number) => `0x${n.toString(16)}`;
  const overlap = (a0: number, an: number, b0: number, bn: number) => an > 0 && bn > 0 && a0 < b0 + bn && b0 < a0 + an;
  if (overlap(f, sizes.dtb, Math.min(k, kernelAt), kernelAt + sizes.kernel - Math.min(k, kernelAt)))
    problems.push(`DTB at fdt_addr_r ${hex(f)} (${sizes.dtb} bytes) runs into the kernel at kernel_addr_r ${hex(k)}`);
  if (overlap(kernelAt, sizes.kernel, r, Math.max(sizes.initrd, 1)))
    problems.push(`${name} runs from ${hex(kernelAt)} for ${sizes.kernel} bytes, into the initrd at ramdisk_addr_r ${hex(r)}`);
  if (overlap(f, sizes.dtb, r, sizes.initrd)) problems.push(`DTB at ${hex(f)} and the initrd at ${hex(r)} overlap`);
  if (c !== undefined && r < c && r + sizes.initrd > c)
    problems.push(`initrd at ${hex(r)} (${sizes.initrd} bytes) runs into kernel_comp_addr_r ${hex(c)}`);
}

/** console=, twin6.slot=a, twin6.root= and twin6.data= as the profile says, naming partitions 2 and 4. */
function checkCmdline(cmdline: string, board: BoardProfile, report: Draft): void {
  const problems = report.problems;
  report.cmdline = cmdline;
  const words = cmdline.split(/\s+/);
  const want = [
    `console=${board.console.device},${board.console.baud}`,
    'twin6.slot=a',
    `twin6.root=${board.image.rootDevice ?? ''}`,
    `twin6.data=${board.image.flashDevice ?? ''}`,
  ];
  for (const w of want) if (!words.includes(w)) problems.push(`command line: no ${w}`);
  const partNo = (dev: string | undefined) => /(\d+)$/.exec(dev ?? '')?.[1];
  if (partNo(board.image.rootDevice) !== '2')
    problems.push(`rootDevice ${board.image.rootDevice} is not partition 2, which holds the squashfs`);
  if (partNo(board.image.flashDevice) !== '4') problems.push(`flashDevice ${board.image.flashDevice} is not partition 4, rootfs_data`);
}

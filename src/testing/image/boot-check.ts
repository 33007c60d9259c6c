// The boot partition of an SD image (sd-check.ts): the files the Pi's
// firmware (config.txt) or U-Boot's distro boot (extlinux/extlinux.conf)
// will load, the DTB of the board, the arm64 kernel and where it will sit in
// RAM next to the initrd and the DTB, and the kernel command line.

import type { BoardProfile } from '../../board/profile.js';
import type { Fat32 } from './fat.js';
import { fdtStrings, parseArm64Image, parseConfigTxt, parseExtlinux, parseFdt } from './formats.js';
import type { BuildFiles, Draft, UbootAddresses } from './report.js';

const MIB = 1024 * 1024;
/**
 * Memory the firmware leaves to the ARM below its own on the smallest Pi 4
 * (1 GiB, less the 76 MiB gpu_mem default). With `followkernel` the firmware
 * chooses where the initrd and DTB go ("any address that will work", per its
 * maintainers), so what can be checked is that the kernel's running size and
 * both files fit there together.
 */
export const PI4_LOW_RAM_BYTES = (1024 - 76) * MIB;
/** Where the Pi firmware puts an arm64 kernel without kernel_address (a 2 MiB boundary, as text_offset 0 requires). */
const PI_ARM64_LOAD_ADDRESS = 0x200000;
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
  const plan = disk.kind === 'rpi-sd' ? rpiPlan(get, problems) : extlinuxPlan(get, problems);
  if (!plan) return;

  const dtb = plan.dtb ? get(plan.dtb, 'the device tree the boot loader loads') : undefined;
  if (dtb) checkDtb(dtb, plan.dtb ?? '', disk.compatible, disk.aliases ?? {}, report);

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
      const sizes = { kernel: h.imageSize, initrd: initrd?.length ?? 0, dtb: dtb?.length ?? 0 };
      if (disk.kind === 'rpi-sd') {
        const end = PI_ARM64_LOAD_ADDRESS + sizes.kernel + sizes.initrd + sizes.dtb;
        if (end > PI4_LOW_RAM_BYTES)
          problems.push(`${name}: kernel, initrd and DTB end at ${end}, past the ${PI4_LOW_RAM_BYTES} bytes a 1 GiB Pi 4 leaves the ARM`);
      } else {
        if (!h.anywhere)
          problems.push(`${name}: flags bit 3 clear, so U-Boot would move it to the start of RAM, over what it loaded there`);
        checkUbootPlacement(report.uboot?.addresses ?? {}, sizes, name, problems);
      }
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

/** The Pi's firmware: start4.elf and fixup4.dat, config.txt and the files it names, cmdline.txt. */
function rpiPlan(get: Get, problems: string[]): BootPlan | undefined {
  const start4 = get('start4.elf', "the Pi 4's GPU firmware");
  if (start4 && start4.toString('latin1', 0, 4) !== '\x7fELF') problems.push('start4.elf: not an ELF file');
  get('fixup4.dat', "start4.elf's memory split");
  const text = get('config.txt', 'the firmware settings')?.toString('utf8');
  if (text === undefined) return undefined;
  const config = parseConfigTxt(text);
  for (const [key, value] of [
    ['arm_64bit', '1'],
    ['enable_uart', '1'],
  ] as const) {
    if (config.values.get(key) !== value) problems.push(`config.txt: ${key}=${config.values.get(key) ?? '(unset)'}, expected ${value}`);
  }
  const kernel = config.values.get('kernel');
  const dtb = config.values.get('device_tree');
  if (!kernel) problems.push('config.txt: no kernel=');
  if (!dtb) problems.push('config.txt: no device_tree=');
  if (!config.initramfs) problems.push('config.txt: no initramfs line');
  else if (config.initramfs.address !== 'followkernel')
    problems.push(`config.txt: initramfs at ${config.initramfs.address || '(none)'}, expected followkernel`);
  const cmdline = get('cmdline.txt', 'the kernel command line')?.toString('utf8');
  if (cmdline !== undefined && cmdline.trim().includes('\n'))
    problems.push('cmdline.txt: more than one line (the firmware reads the first)');
  return { kernel, initrd: config.initramfs?.file, dtb, cmdline: cmdline?.trim() };
}

/** U-Boot's distro boot: extlinux/extlinux.conf's default label, paths from the partition's root. */
function extlinuxPlan(get: Get, problems: string[]): BootPlan | undefined {
  const text = get('extlinux/extlinux.conf', "U-Boot's distro boot")?.toString('utf8');
  if (text === undefined) return undefined;
  const l = parseExtlinux(text);
  for (const k of ['kernel', 'initrd', 'fdt', 'append'] as const) if (!l[k]) problems.push(`extlinux.conf: the default label has no ${k}`);
  const path = (p: string | undefined) => p?.replace(/^\/+/, '');
  return { kernel: path(l.kernel), initrd: path(l.initrd), dtb: path(l.fdt), cmdline: l.append };
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
  if (f + sizes.dtb > k) problems.push(`DTB at fdt_addr_r ${hex(f)} (${sizes.dtb} bytes) runs into kernel_addr_r ${hex(k)}`);
  if (kernelAt + sizes.kernel > r)
    problems.push(`${name} runs from ${hex(kernelAt)} for ${sizes.kernel} bytes, into the initrd at ramdisk_addr_r ${hex(r)}`);
  if (c !== undefined && r < c && r + sizes.initrd > c)
    problems.push(`initrd at ${hex(r)} (${sizes.initrd} bytes) runs into kernel_comp_addr_r ${hex(c)}`);
}

/** console=, twin6.root= and twin6.data= as the profile says, naming partitions 2 and 3. */
function checkCmdline(cmdline: string, board: BoardProfile, report: Draft): void {
  const problems = report.problems;
  report.cmdline = cmdline;
  const words = cmdline.split(/\s+/);
  const want = [
    `console=${board.console.device},${board.console.baud}`,
    `twin6.root=${board.image.rootDevice ?? ''}`,
    `twin6.data=${board.image.flashDevice ?? ''}`,
  ];
  for (const w of want) if (!words.includes(w)) problems.push(`command line: no ${w}`);
  const partNo = (dev: string | undefined) => /p(\d+)$/.exec(dev ?? '')?.[1];
  if (partNo(board.image.rootDevice) !== '2')
    problems.push(`rootDevice ${board.image.rootDevice} is not partition 2, which holds the squashfs`);
  if (partNo(board.image.flashDevice) !== '3') problems.push(`flashDevice ${board.image.flashDevice} is not partition 3, rootfs_data`);
}

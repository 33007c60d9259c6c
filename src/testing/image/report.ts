// What the SD image check (sd-check.ts, boot-check.ts) reports, and the
// build's files it compares the image with.

import type { Arm64Image, MbrPartition } from './formats.js';

/** U-Boot's load addresses from its default environment (u-boot.itb on rockchip-sd, u-boot.bin on rpi-sd). */
export interface UbootAddresses {
  readonly kernel_addr_r?: number;
  readonly ramdisk_addr_r?: number;
  readonly fdt_addr_r?: number;
  readonly kernel_comp_addr_r?: number;
}

export interface SdReport {
  readonly problems: string[];
  readonly partitions: MbrPartition[];
  readonly bootFiles: Record<string, number>;
  readonly compatible: string[];
  readonly kernel?: Arm64Image & { readonly fileBytes: number };
  readonly cmdline?: string;
  /** boot.scr: its image name and the script's length. */
  readonly bootScript?: { readonly name: string; readonly bytes: number };
  readonly uboot?: { readonly fitImages: string[]; readonly addresses: UbootAddresses };
  readonly imageBytes: number;
}

/** Bytes of the build's outputs the image must carry unchanged (scripts/build-image's vmlinuz, initrd.gz, rootfs.squashfs). */
export interface BuildFiles {
  readonly vmlinuz?: Buffer | undefined;
  readonly initrd?: Buffer | undefined;
  readonly squashfs?: Buffer | undefined;
}

/** A mutable report the checks fill in. */
export type Draft = { -readonly [K in keyof SdReport]: SdReport[K] };

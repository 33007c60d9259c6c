// Every board profile in board/ is well-formed, and the checks catch what
// would break an image or a device: a 32-bit or FPU-less CPU, too little
// RAM for node, raw flash without a flash filesystem, a missing LAN port.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkBoard, interfaceFor, loadBoards, type BoardProfile } from '../../../src/board/profile.js';

const boards = loadBoards('board');
const qemu = JSON.parse(readFileSync('board/qemu-x86_64.json', 'utf8')) as BoardProfile;

describe('board profiles', () => {
  it('are all valid, one file per board, with both emulated boards and at least three real ones', () => {
    expect(boards.map((b) => b.id)).toContain('qemu-x86_64');
    expect(boards.map((b) => b.id)).toContain('qemu-aarch64');
    expect(boards.filter((b) => b.kind === 'hardware').length).toBeGreaterThanOrEqual(3);
    for (const b of boards) expect(readFileSync(`board/${b.id}.json`, 'utf8')).toContain(`"id": "${b.id}"`);
  });

  it('give every board a LAN interface, a console and a way to flash it', () => {
    for (const b of boards) {
      expect(interfaceFor(b, 'lan'), b.id).toBeTruthy();
      expect(b.console.baud, b.id).toBeGreaterThan(0);
      expect(b.flashing.length, b.id).toBeGreaterThan(0);
    }
  });

  it('say which boards keep the time while off: the Raspberry Pi has no real-time clock', () => {
    const rtc = Object.fromEntries(boards.map((b) => [b.id, b.rtc]));
    expect(rtc['rpi4']).toBe('none');
    expect(rtc['qemu-x86_64']).toBe('battery-backed');
    expect(rtc['qemu-aarch64']).toBe('battery-backed');
  });

  it('refuse what cannot run twin6', () => {
    const bad = (patch: Record<string, unknown>) => checkBoard({ ...qemu, ...patch }, 'x');
    expect(checkBoard(qemu, 'x')).toEqual([]);
    expect(bad({ ramMb: 128 }).join()).toMatch(/ramMb/);
    expect(bad({ arch: 'mipsel' }).join()).toMatch(/arch/);
    expect(bad({ nodeArch: 'arm64' }).join()).toMatch(/do not match/);
    expect(bad({ cpu: { cores: 1, fpu: false, model: 'x' } }).join()).toMatch(/FPU/);
    expect(bad({ interfaces: [{ name: 'eth0', role: 'wan' }] }).join()).toMatch(/lan interface/);
    expect(bad({ storage: [{ kind: 'spi-nand', sizeMb: 128, overlayFs: 'ext4' }] }).join()).toMatch(/eraseKb|UBIFS/);
    expect(bad({ qemu: undefined }).join()).toMatch(/qemu/);
    expect(bad({ rtc: undefined }).join()).toMatch(/rtc/);
    expect(bad({ rtc: 'yes' }).join()).toMatch(/rtc/);
  });

  it('give a board that gets a disk image its root and flash partitions, its drivers and a sane layout', () => {
    const rpi4 = boards.find((b) => b.id === 'rpi4')!;
    expect(checkBoard(rpi4, 'x')).toEqual([]);
    expect(rpi4.image.disk?.kind).toBe('rpi-sd');
    const withDisk = (image: Record<string, unknown>) => checkBoard({ ...rpi4, image: { ...rpi4.image, ...image } }, 'x').join();
    expect(withDisk({ rootDevice: undefined })).toMatch(/rootDevice/);
    expect(withDisk({ modules: [] })).toMatch(/image.modules/);
    expect(withDisk({ disk: { ...rpi4.image.disk, kind: 'gpt-efi' } })).toMatch(/image.disk.kind/);
    expect(withDisk({ disk: { ...rpi4.image.disk, dtb: 'bcm2711-rpi-4-b.dts' } })).toMatch(/image.disk.dtb/);
    expect(withDisk({ disk: { ...rpi4.image.disk, compatible: [] } })).toMatch(/image.disk.compatible/);
    expect(withDisk({ disk: { ...rpi4.image.disk, bootMb: 0.5 } })).toMatch(/image.disk.bootMb/);
  });
});

// Shared by the appliance tests: the boards they run on, whether QEMU
// appliances of a board can run here, and the image (built by
// scripts/build-image, which returns at once when its inputs did not change).
// Without root or QEMU the tests skip and print why; with T6_LAB_REQUIRED=1
// (CI) that is a failure instead.

import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { loadBoard } from '../../src/board/profile.js';
import { applianceUnavailableReason, loadImage, timeScale, type ApplianceImage } from '../../src/testing/lab/appliance.js';
import { APPLIANCE_TOPOLOGY } from '../../src/testing/lab/appliance-lab.js';
import type { AckedLease } from '../../src/testing/lab/load-client.js';
import type { Namespace } from '../../src/testing/lab/netns.js';
import type { LabProcess } from '../../src/testing/lab/proc.js';
import { labRequired, missingBinaries, parseNameList, skipUnlessRequired } from '../../src/testing/lab/prereq.js';

export const REQUIRED = labRequired();

/** The emulated boards, and what the tests ask of each. */
export const APPLIANCE_BOARDS = {
  // CI's counts, chosen for its 60 minutes: a cycle of cut, boot and lease
  // check took 39 s on x86 under UEFI and 35 s on arm64 in the stop-23 run on
  // the project's 2-core machine, where the firmware, U-Boot and pair tests
  // took the rest. Every cut hits a different moment (seeded), and the power
  // cuts in the firmware and failover tests add theirs; the long runs
  // (T6_POWER_CUTS=20, =100) are on demand, their figures in docs/image.md §10, §11.
  'qemu-x86_64': { powerCuts: 3 },
  'qemu-aarch64': { powerCuts: 2 },
  // The SD card layout under a real U-Boot: on demand (T6_APPLIANCE_BOARDS,
  // T6_FIRMWARE_BOARDS); CI boots it in test/e2e/uboot-slots.test.ts.
  'qemu-aarch64-uboot': { powerCuts: 4 },
} as const;
export type ApplianceBoard = keyof typeof APPLIANCE_BOARDS;
const ALL_BOARDS = Object.keys(APPLIANCE_BOARDS) as ApplianceBoard[];
const DEFAULT_BOARDS: ApplianceBoard[] = ['qemu-x86_64', 'qemu-aarch64'];

/** T6_APPLIANCE_BOARDS=qemu-x86_64,qemu-aarch64 (the default) picks the boards the appliance tests run on. */
export const BOARDS: readonly ApplianceBoard[] = parseNameList(
  'T6_APPLIANCE_BOARDS',
  process.env['T6_APPLIANCE_BOARDS'],
  ALL_BOARDS,
  DEFAULT_BOARDS,
);

export interface BoardCase {
  readonly board: ApplianceBoard;
  /** Why this board's appliances cannot run here (the test skips), or undefined. */
  readonly reason: string | undefined;
  /** Multiplies a test's own time-out: TCG emulating another architecture is slower. */
  readonly timeScale: number;
}

/** `binaries`: what this test needs beyond QEMU and the image tools (clients, openssl, …). */
export async function applianceSkipReason(
  file: string,
  board: ApplianceBoard,
  binaries: readonly string[] = [],
): Promise<string | undefined> {
  const missing = await missingBinaries(binaries);
  const reason =
    (await applianceUnavailableReason(board)) ??
    (missing.length > 0 ? `missing binaries: ${missing.join(', ')} (scripts/setup-debian installs them)` : undefined);
  skipUnlessRequired(reason, REQUIRED, `appliance VMs (${board})`);
  if (reason) console.warn(`[${file}] skipping ${board}: ${reason}`);
  return reason;
}

/** One case per board in BOARDS, for describe.each. */
export async function boardCases(
  file: string,
  binaries: readonly string[] = [],
  boards: readonly ApplianceBoard[] = BOARDS,
): Promise<BoardCase[]> {
  const cases: BoardCase[] = [];
  for (const board of boards) {
    cases.push({
      board,
      reason: await applianceSkipReason(file, board, binaries),
      timeScale: timeScale(loadBoard(resolve('board'), board)),
    });
  }
  return cases;
}

/** Builds (or finds up to date) the board's image; `tag` makes a distinct image in its own directory. */
export function buildImage(board: ApplianceBoard, tag?: string): ApplianceImage {
  const out = resolve('.build', tag ? `${board}-${tag}` : board);
  execFileSync('bash', ['scripts/build-image', '--board', board, '--out', out, ...(tag ? ['--tag', tag] : [])], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 15 * 60_000,
  });
  return loadImage(board, out);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/**
 * The load client (src/testing/lab/load-client.ts) in a client namespace: new clients at `rate`/s,
 * each asking for an address and a /56, for `seconds`; `acked()` is every lease it saw acknowledged so far.
 */
export function startLoadClient(ns: Namespace, rate: number, seconds: number): { proc: LabProcess; acked: () => AckedLease[] } {
  const proc = ns.spawn('load-client', [
    process.execPath,
    join(resolve('dist'), 'testing/lab/load-client.js'),
    '--iface',
    APPLIANCE_TOPOLOGY.clientIf,
    '--clients',
    '10000000',
    '--rate',
    String(rate),
    '--seconds',
    String(seconds),
  ]);
  const acked = (): AckedLease[] =>
    proc
      .log()
      .split('\n')
      .filter((l) => l.startsWith('{"duid"'))
      .map((l) => JSON.parse(l) as AckedLease);
  return { proc, acked };
}

// A/B boot slots on the SD-card boards (docs/image.md §5), as small
// `name=value` files on the FAT boot partition that the boot script
// (image/boot/twin6-ab.cmd, run by Debian's U-Boot) reads with `env import -t`.
// Pure: the files' text in, the same BootState as the UEFI disk's out
// (slots.ts), so the upgrade service has one set of rules for both.
//
//   twin6/committed.env  twin6_committed=<slot>, twin6_committed_gen=<n>, and
//                        twin6_previous_gen (the slot committed before, whose
//                        boot.env the image may have written without a
//                        generation); written only by Linux (temporary name,
//                        fsync, rename)
//   twin6/trial.env      twin6_trial=<slot>, twin6_trial_gen=<n>: boot that
//                        slot once. U-Boot spends the try before it boots it,
//                        by writing the file again without twin6_trial (the
//                        boot script says with what); Linux removes the file
//                        when the trial commits
//   twin6/<slot>/boot.env  twin6_args (the kernel arguments of that slot),
//                        twin6_gen (its generation: U-Boot never reads it, it
//                        is how Linux knows which write a booted slot is),
//                        twin6_device (the device's own arguments, kept apart
//                        so the next write can carry them over), twin6_fdt
//                        (a DTB file on the partition, where the board loads one)
//
// U-Boot has no counter here, only "is a trial named": a trial that does not
// commit (twin6d never healthy, a hang, a power cut) finds trial.env spent at
// the next boot, and the committed slot boots — the rollback needs nothing
// from the new image, as with systemd-boot's counting (one try, slots.ts).

import { otherSlot, type BootState, type EntryName, type SlotName, type SlotView } from './slots.js';

/** The files the boot script and twin6d share, relative to the boot partition. */
export const UBOOT_FILES = {
  committed: 'twin6/committed.env',
  trial: 'twin6/trial.env',
  slotEnv: (slot: SlotName): string => `twin6/${slot}/boot.env`,
} as const;

/** Files are read as this much at most: a boot partition's env files are a few lines. */
export const ENV_FILE_MAX = 4096;

/**
 * `env import -t` text (U-Boot's himport_r with '\n' as separator): one
 * name=value per line, lines starting with # skipped; a name with no "=" or an
 * empty value deletes the variable, which here is leaving it out. Values are
 * taken as they stand (no quoting in this format).
 */
export function parseEnvText(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.slice(0, ENV_FILE_MAX).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const value = line.slice(eq + 1).replace(/\r$/, '');
    if (value === '') vars.delete(line.slice(0, eq));
    else vars.set(line.slice(0, eq), value);
  }
  return vars;
}

/** Lines U-Boot imports: a value must be one line, and never empty (an empty one would delete the variable). */
export function envText(vars: Readonly<Record<string, string | number>>): string {
  const lines = Object.entries(vars).map(([k, v]) => {
    const s = String(v);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || /[\r\n\0]/.test(s) || s === '') throw new Error(`env ${k}: not a one-line value`);
    return `${k}=${s}`;
  });
  return `${lines.join('\n')}\n`;
}

const slotOf = (v: string | undefined): SlotName | undefined => (v === 'a' || v === 'b' ? v : undefined);
const genOf = (v: string | undefined): number | undefined => {
  const n = v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : undefined;
  return n !== undefined && n >= 1 ? n : undefined;
};

/** The text of each file, undefined when absent. */
export interface UbootFileTexts {
  readonly committed?: string;
  readonly trial?: string;
  readonly slotEnv: Readonly<Partial<Record<SlotName, string>>>;
}

/** A slot's boot.env, read. */
export interface SlotEnv {
  readonly generation?: number;
  readonly args: string;
  readonly device: string;
  readonly fdt?: string;
}

export function slotEnv(text: string | undefined): SlotEnv | undefined {
  if (text === undefined) return undefined;
  const v = parseEnvText(text);
  const generation = genOf(v.get('twin6_gen'));
  const fdt = v.get('twin6_fdt');
  return {
    ...(generation !== undefined ? { generation } : {}),
    args: v.get('twin6_args') ?? '',
    device: v.get('twin6_device') ?? '',
    ...(fdt ? { fdt } : {}),
  };
}

/**
 * The boot state from the files and the slot the kernel command line names.
 * Entries are the slots' boot.env files, so planSlotWrite's generation and
 * removal rules apply unchanged; `triesLeft` is 1 for a trial still named
 * (pending, or booted by a U-Boot that could not spend it), 0 for one spent.
 */
export function ubootBootState(files: UbootFileTexts, runningSlot: SlotName): BootState {
  const c = parseEnvText(files.committed ?? '');
  // No committed.env (a torn write, or an image older than the file): the boot script's default.
  const committed = slotOf(c.get('twin6_committed')) ?? 'a';
  const trial = files.trial === undefined ? undefined : slotOf(parseEnvText(files.trial).get('twin6_trial'));
  const env = { a: slotEnv(files.slotEnv.a), b: slotEnv(files.slotEnv.b) };
  const gen = (s: SlotName): number | undefined =>
    env[s]?.generation ?? (s === committed ? (genOf(c.get('twin6_committed_gen')) ?? 1) : genOf(c.get('twin6_previous_gen')));

  const entries: EntryName[] = [];
  for (const s of ['a', 'b'] as const) {
    const g = gen(s);
    if (g === undefined || (env[s] === undefined && s !== committed)) continue;
    entries.push({
      file: UBOOT_FILES.slotEnv(s),
      generation: g,
      slot: s,
      ...(s === committed ? {} : { triesLeft: trial === s ? 1 : 0, triesDone: trial === s ? 0 : 1 }),
    });
  }
  entries.sort((x, y) => y.generation - x.generation || x.slot.localeCompare(y.slot));

  const viewOf = (s: SlotName, running: boolean): SlotView | undefined => {
    const e = entries.find((x) => x.slot === s);
    if (!e) {
      // Running a slot no file accounts for (the boot script's fallback booted it):
      // a trial, so that it commits only when healthy.
      if (!running) return undefined;
      const g = Math.max(0, ...entries.map((x) => x.generation)) + 1;
      return { slot: s, generation: g, file: UBOOT_FILES.slotEnv(s), state: 'trial', triesLeft: 0, triesDone: 1 };
    }
    if (e.triesLeft === undefined) return { slot: s, generation: e.generation, file: e.file, state: 'committed' };
    const older = gen(committed) !== undefined && e.generation < gen(committed)!;
    const state = running ? 'trial' : e.triesLeft > 0 ? 'pending' : older ? 'committed' : 'failed';
    return state === 'committed'
      ? { slot: s, generation: e.generation, file: e.file, state }
      : { slot: s, generation: e.generation, file: e.file, state, triesLeft: e.triesLeft, triesDone: e.triesDone ?? 0 };
  };
  const running = viewOf(runningSlot, true);
  const other = viewOf(otherSlot(runningSlot), false);
  return { runningSlot, entries, duplicates: [], ...(running ? { running } : {}), ...(other ? { other } : {}) };
}

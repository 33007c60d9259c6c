// A/B boot slots on the UEFI disk (docs/image.md §5), as names of boot
// entries. Pure: the ESP's file names in, decisions out.
//
// Each slot has a root partition (rootfs_a, rootfs_b), a kernel and
// initramfs on the ESP (twin6/a/, twin6/b/) and one boot entry,
// loader/entries/twin6-g<generation>-<slot>[+LEFT[-DONE]].conf. systemd-boot
// (252, src/boot/efi/boot.c config_entry_compare) orders entries with no
// tries left last, then by file name, highest first (strverscmp: g10 > g9),
// and boots the first; it renames a counted entry before booting it
// (+1 → +0-1). So:
//   - the newest generation boots;
//   - an upgrade writes the other slot with generation + 1 and "+1": it is
//     booted once, on trial;
//   - a trial that is not committed (twin6d never healthy, a hang, a power
//     cut) is "+0-1" at the next boot: no tries left, ordered last, and the
//     slot before it boots — the rollback needs nothing from the new image;
//   - committing renames the trial's entry without its counter.
// One try, not three (systemd's default): a trial interrupted by a power cut
// goes back to the slot that was serving, which is what an appliance on a
// mains socket in a cupboard wants.

export type SlotName = 'a' | 'b';

export const SLOT_NAMES: readonly SlotName[] = ['a', 'b'];

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'a' ? 'b' : 'a';
}

/** A boot entry's file name, parsed. */
export interface EntryName {
  readonly file: string;
  readonly generation: number;
  readonly slot: SlotName;
  /** Boot counting: tries left; absent for an entry without a counter (committed). */
  readonly triesLeft?: number;
  readonly triesDone?: number;
}

const ENTRY = /^twin6-g(\d{1,9})-([ab])(?:\+(\d{1,3})(?:-(\d{1,3}))?)?\.conf$/;

export function parseEntryName(file: string): EntryName | undefined {
  const m = ENTRY.exec(file);
  if (!m) return undefined;
  const generation = Number(m[1]);
  if (generation < 1) return undefined;
  const base = { file, generation, slot: m[2] as SlotName };
  if (m[3] === undefined) return base;
  return { ...base, triesLeft: Number(m[3]), triesDone: Number(m[4] ?? '0') };
}

/** Tries a new slot gets: one (see the head comment). */
export const TRIAL_TRIES = 1;

export function entryFileName(generation: number, slot: SlotName, triesLeft?: number, triesDone?: number): string {
  const counter = triesLeft === undefined ? '' : `+${triesLeft}${triesDone ? `-${triesDone}` : ''}`;
  return `twin6-g${generation}-${slot}${counter}.conf`;
}

/**
 * What a slot's entry says:
 *  - committed: no counter; the slot booted healthy (or was installed so);
 *  - pending:   tries left; written by an upgrade, the next boot tries it;
 *  - trial:     the running slot, booted on its try and not committed yet;
 *  - failed:    no tries left and not running: its trial did not commit.
 */
export type SlotState = 'committed' | 'pending' | 'trial' | 'failed';

export interface SlotView {
  readonly slot: SlotName;
  readonly generation: number;
  readonly file: string;
  readonly state: SlotState;
  readonly triesLeft?: number;
  readonly triesDone?: number;
}

export interface BootState {
  /** The running slot's entry (the newest of that slot); absent if the ESP has none for it. */
  readonly running?: SlotView;
  /** The other slot's newest entry, if any. */
  readonly other?: SlotView;
  /** Every twin6 entry on the ESP, highest generation first. */
  readonly entries: readonly EntryName[];
  /**
   * Counted entries of a generation and slot that also has an entry without
   * a counter: what a power cut in the middle of a rename on FAT leaves (the
   * kernel's vfat adds the new name before it removes the old). The
   * committed one stands; these are to be removed.
   */
  readonly duplicates: readonly string[];
  readonly runningSlot: SlotName;
}

function view(e: EntryName, running: boolean): SlotView {
  let state: SlotState;
  if (e.triesLeft === undefined) state = 'committed';
  else if (running) state = 'trial';
  else state = e.triesLeft > 0 ? 'pending' : 'failed';
  return {
    slot: e.slot,
    generation: e.generation,
    file: e.file,
    state,
    ...(e.triesLeft === undefined ? {} : { triesLeft: e.triesLeft, triesDone: e.triesDone ?? 0 }),
  };
}

/** The boot state from the ESP's loader/entries file names and the slot the kernel command line names. */
export function bootState(files: readonly string[], runningSlot: SlotName): BootState {
  const all = files.map(parseEntryName).filter((e): e is EntryName => e !== undefined);
  const committed = new Set(all.filter((e) => e.triesLeft === undefined).map((e) => `${e.generation}-${e.slot}`));
  const duplicates = all.filter((e) => e.triesLeft !== undefined && committed.has(`${e.generation}-${e.slot}`)).map((e) => e.file);
  const entries = all
    .filter((e) => !duplicates.includes(e.file))
    .sort((x, y) => y.generation - x.generation || x.slot.localeCompare(y.slot));
  const newest = (slot: SlotName): EntryName | undefined => entries.find((e) => e.slot === slot);
  const r = newest(runningSlot);
  const o = newest(otherSlot(runningSlot));
  return {
    runningSlot,
    entries,
    duplicates,
    ...(r ? { running: view(r, true) } : {}),
    ...(o ? { other: view(o, false) } : {}),
  };
}

export interface SlotWritePlan {
  /** The slot to write: the one not running. */
  readonly slot: SlotName;
  readonly generation: number;
  /** Entries of that slot, removed before its partition is written, so nothing boots a half-written slot. */
  readonly remove: readonly string[];
  /** The new entry, written last (under a name systemd-boot ignores, then renamed). */
  readonly entryFile: string;
}

export function planSlotWrite(state: BootState): SlotWritePlan | { problem: string } {
  if (!state.running) return { problem: `no boot entry on the ESP names the running slot ${state.runningSlot}` };
  if (state.running.state === 'trial') {
    return { problem: `slot ${state.running.slot} is running on trial: it must commit (or roll back) before another upgrade` };
  }
  const slot = otherSlot(state.runningSlot);
  const generation = (state.entries[0]?.generation ?? 0) + 1;
  return {
    slot,
    generation,
    remove: state.entries.filter((e) => e.slot === slot).map((e) => e.file),
    entryFile: entryFileName(generation, slot, TRIAL_TRIES),
  };
}

/** The name a trial's entry gets when it commits: its counter dropped. */
export function committedFile(running: SlotView): string {
  return entryFileName(running.generation, running.slot);
}

export interface EntryText {
  readonly title: string;
  readonly slot: SlotName;
  /** The board's fixed arguments (the bundle's kernelArgs). */
  readonly kernelArgs: string;
  /** The device's own options lines (role, addresses), copied from the running entry. */
  readonly deviceOptions: readonly string[];
}

/** A slot's boot entry, as scripts/image/efi-disk writes slot a's. */
export function entryText(e: EntryText): string {
  const lines = [
    `title ${e.title} (slot ${e.slot})`,
    `linux /twin6/${e.slot}/vmlinuz`,
    `initrd /twin6/${e.slot}/initrd.gz`,
    `options ${e.kernelArgs} twin6.root=PARTLABEL=rootfs_${e.slot} twin6.data=PARTLABEL=rootfs_data twin6.slot=${e.slot}`,
    ...e.deviceOptions.map((o) => `options ${o}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The options lines after an entry's first: the device's own (an installer's,
 * or the lab's), without any word that says which root, flash or slot to
 * boot — those are the new entry's own, and a copied one would point it
 * at the other slot.
 */
export function deviceOptions(text: string): string[] {
  const opts = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^options\s/.test(l))
    .map((l) => l.replace(/^options\s+/, ''));
  return opts
    .slice(1)
    .map(ownArgs)
    .filter((o) => o !== '');
}

/** Kernel arguments without any word that says which root, flash or slot to boot: a new slot's own. */
export function ownArgs(args: string): string {
  return args
    .split(/\s+/)
    .filter((w) => w !== '' && !/^twin6\.(root|data|slot)=/.test(w))
    .join(' ');
}

/** twin6.slot= on the kernel command line. */
export function slotFromCmdline(cmdline: string): SlotName | undefined {
  const m = /(?:^|\s)twin6\.slot=([ab])(?:\s|$)/.exec(cmdline);
  return m ? (m[1] as SlotName) : undefined;
}

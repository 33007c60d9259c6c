import { describe, expect, it } from 'vitest';
import {
  bootState,
  committedFile,
  deviceOptions,
  entryFileName,
  entryText,
  parseEntryName,
  planSlotWrite,
  slotFromCmdline,
} from '../../../src/firmware/slots.js';

/**
 * systemd-boot 252's order (src/boot/efi/boot.c, config_entry_compare), for
 * entries without sort-key: no tries left last, then by file name, highest
 * first (strverscmp, so g10 > g9); the default is the first. Written from the
 * source, to check that the names slots.ts gives boot what it says they boot.
 */
function sdBootPick(files: readonly string[]): string | undefined {
  const verscmp = (a: string, b: string): number => {
    const re = /(\d+)|(\D+)/g;
    const pa = a.match(re) ?? [];
    const pb = b.match(re) ?? [];
    for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
      const [x, y] = [pa[i]!, pb[i]!];
      if (/^\d/.test(x) && /^\d/.test(y)) {
        if (Number(x) !== Number(y)) return Number(x) - Number(y);
      } else if (x !== y) return x < y ? -1 : 1;
    }
    return pa.length - pb.length;
  };
  const bad = (f: string) => /\+0(-\d+)?\.conf$/.test(f);
  return [...files].sort((a, b) => Number(bad(a)) - Number(bad(b)) || -verscmp(a, b))[0];
}

describe('boot entry names', () => {
  it('parses and prints the names systemd-boot counts', () => {
    expect(parseEntryName('twin6-g1-a.conf')).toEqual({ file: 'twin6-g1-a.conf', generation: 1, slot: 'a' });
    expect(parseEntryName('twin6-g12-b+0-1.conf')).toMatchObject({ generation: 12, slot: 'b', triesLeft: 0, triesDone: 1 });
    expect(parseEntryName('twin6-g3-b+1.conf')).toMatchObject({ triesLeft: 1, triesDone: 0 });
    for (const bad of ['twin6.conf', 'twin6-g0-a.conf', 'twin6-g1-c.conf', 'twin6-g1-a.conf.tmp', 'other-g1-a.conf', 'twin6-g1-a+x.conf'])
      expect(parseEntryName(bad), bad).toBeUndefined();
    expect(entryFileName(4, 'b', 1)).toBe('twin6-g4-b+1.conf');
    expect(entryFileName(4, 'b')).toBe('twin6-g4-b.conf');
  });
});

describe('the boot state and an upgrade through it', () => {
  it('writes the other slot with the next generation and one try; systemd-boot then boots it', () => {
    const files = ['twin6-g1-a.conf'];
    const s = bootState(files, 'a');
    expect(s.running).toMatchObject({ slot: 'a', generation: 1, state: 'committed' });
    expect(s.other).toBeUndefined();
    const plan = planSlotWrite(s);
    expect(plan).toEqual({ slot: 'b', generation: 2, remove: [], entryFile: 'twin6-g2-b+1.conf' });
    expect(sdBootPick([...files, 'twin6-g2-b+1.conf'])).toBe('twin6-g2-b+1.conf');
  });

  it('a trial that did not commit has no tries left and the slot before boots', () => {
    // systemd-boot renamed +1 to +0-1 before booting it; the trial never committed.
    const files = ['twin6-g1-a.conf', 'twin6-g2-b+0-1.conf'];
    expect(sdBootPick(files)).toBe('twin6-g1-a.conf');
    const s = bootState(files, 'a');
    expect(s.running?.state).toBe('committed');
    expect(s.other).toMatchObject({ slot: 'b', generation: 2, state: 'failed' });
    // The next upgrade writes b again, above every generation so far, after removing the failed entry.
    expect(planSlotWrite(s)).toMatchObject({ slot: 'b', generation: 3, remove: ['twin6-g2-b+0-1.conf'], entryFile: 'twin6-g3-b+1.conf' });
  });

  it('while on trial: the running slot says trial, and another upgrade is refused until it commits', () => {
    const files = ['twin6-g1-a.conf', 'twin6-g2-b+0-1.conf'];
    const s = bootState(files, 'b');
    expect(s.running).toMatchObject({ slot: 'b', state: 'trial' });
    expect(planSlotWrite(s)).toHaveProperty('problem');
    const committed = committedFile(s.running!);
    expect(committed).toBe('twin6-g2-b.conf');
    // Committed: the newer generation boots from now on, and the old slot stays as a fallback entry.
    expect(sdBootPick(['twin6-g1-a.conf', committed])).toBe(committed);
    expect(planSlotWrite(bootState(['twin6-g1-a.conf', committed], 'b'))).toMatchObject({
      slot: 'a',
      generation: 3,
      remove: ['twin6-g1-a.conf'],
    });
  });

  it('generations compare as numbers, as systemd-boot compares them', () => {
    expect(sdBootPick(['twin6-g9-a.conf', 'twin6-g10-b.conf'])).toBe('twin6-g10-b.conf');
    expect(bootState(['twin6-g9-a.conf', 'twin6-g10-b.conf'], 'b').running?.generation).toBe(10);
  });

  it('a pending entry (written, not yet booted) is reported as pending', () => {
    expect(bootState(['twin6-g1-a.conf', 'twin6-g2-b+1.conf'], 'a').other?.state).toBe('pending');
  });

  it('refuses to plan when no entry names the running slot', () => {
    expect(planSlotWrite(bootState(['twin6-g1-a.conf'], 'b'))).toHaveProperty('problem');
  });
});

describe('entry text', () => {
  it("carries the board's arguments, the slot's root and the device's own options line", () => {
    const running =
      'title x (slot a)\nlinux /twin6/a/vmlinuz\ninitrd /twin6/a/initrd.gz\noptions console=ttyS0 twin6.root=PARTLABEL=rootfs_a\noptions twin6.role=primary twin6.lan6=2001:db8:1::1/64\n';
    const opts = deviceOptions(running);
    expect(opts).toEqual(['twin6.role=primary twin6.lan6=2001:db8:1::1/64']);
    const text = entryText({ title: 'twin6 0.1.0+up1', slot: 'b', kernelArgs: 'console=ttyS0,115200 panic=-1', deviceOptions: opts });
    expect(text).toContain('linux /twin6/b/vmlinuz\n');
    expect(text).toContain('initrd /twin6/b/initrd.gz\n');
    expect(text).toContain(
      'options console=ttyS0,115200 panic=-1 twin6.root=PARTLABEL=rootfs_b twin6.data=PARTLABEL=rootfs_data twin6.slot=b\n',
    );
    expect(text.endsWith('options twin6.role=primary twin6.lan6=2001:db8:1::1/64\n')).toBe(true);
    expect(slotFromCmdline('console=ttyS0 twin6.slot=b twin6.role=primary')).toBe('b');
    expect(slotFromCmdline('console=ttyS0 twin6.slot=c')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { planSlotWrite } from '../../../src/firmware/slots.js';
import { envText, parseEnvText, slotEnv, ubootBootState, type UbootFileTexts } from '../../../src/firmware/uboot-files.js';

/**
 * The boot script's choice (image/boot/twin6-ab.cmd), written from its text:
 * a named trial boots (once), else the committed slot, `a` when nothing says.
 */
function scriptPicks(f: UbootFileTexts): 'a' | 'b' {
  const trial = parseEnvText(f.trial ?? '').get('twin6_trial');
  const committed = parseEnvText(f.committed ?? '').get('twin6_committed');
  if (trial === 'a' || trial === 'b') return trial;
  return committed === 'b' ? 'b' : 'a';
}

const IMAGE: UbootFileTexts = {
  committed: 'twin6_committed=a\ntwin6_committed_gen=1\n',
  slotEnv: { a: 'twin6_args=console=ttyS1,115200 twin6.data=/dev/mmcblk0p4\n' },
};

describe('U-Boot env text', () => {
  it('reads name=value lines as env import -t does, and skips the rest', () => {
    const v = parseEnvText('twin6_trial=b\r\n# a comment\n=x\nno equals sign\ntwin6_args=a=b c\ntwin6_gone=1\ntwin6_gone=\n');
    expect([...v]).toEqual([
      ['twin6_trial', 'b'],
      ['twin6_args', 'a=b c'],
    ]);
  });

  it('writes one line per variable, and refuses what U-Boot would read differently', () => {
    expect(envText({ twin6_trial: 'b', twin6_trial_gen: 2 })).toBe('twin6_trial=b\ntwin6_trial_gen=2\n');
    expect(() => envText({ twin6_args: 'a\ninit=/bin/sh' })).toThrow(/one-line/);
    expect(() => envText({ twin6_args: '' })).toThrow(/one-line/);
    expect(() => envText({ 'bad name': 'x' })).toThrow(/one-line/);
  });

  it("reads a slot's boot.env, with or without the generation the image leaves out", () => {
    expect(slotEnv(IMAGE.slotEnv.a)).toEqual({ args: 'console=ttyS1,115200 twin6.data=/dev/mmcblk0p4', device: '' });
    expect(slotEnv('twin6_gen=3\ntwin6_args=x\ntwin6_device=twin6.role=primary\ntwin6_fdt=twin6/b/board.dtb\n')).toEqual({
      generation: 3,
      args: 'x',
      device: 'twin6.role=primary',
      fdt: 'twin6/b/board.dtb',
    });
    expect(slotEnv(undefined)).toBeUndefined();
  });
});

describe('U-Boot boot state', () => {
  const written: UbootFileTexts = {
    ...IMAGE,
    trial: 'twin6_trial=b\ntwin6_trial_gen=2\n',
    slotEnv: { ...IMAGE.slotEnv, b: 'twin6_gen=2\ntwin6_args=x\n' },
  };
  const spent: UbootFileTexts = { ...written, trial: '\n' };
  const committedB: UbootFileTexts = {
    committed: 'twin6_committed=b\ntwin6_committed_gen=2\ntwin6_previous_gen=1\n',
    slotEnv: written.slotEnv,
  };

  it('as the image is written: a committed, b empty; the next write is b, generation 2', () => {
    const s = ubootBootState(IMAGE, 'a');
    expect(s.running).toMatchObject({ slot: 'a', generation: 1, state: 'committed' });
    expect(s.other).toBeUndefined();
    expect(planSlotWrite(s)).toMatchObject({ slot: 'b', generation: 2 });
    expect(scriptPicks(IMAGE)).toBe('a');
  });

  it('a written trial is pending on the old slot; the script boots it; spent, it is the running trial', () => {
    expect(ubootBootState(written, 'a').other).toMatchObject({ slot: 'b', generation: 2, state: 'pending', triesLeft: 1 });
    expect(scriptPicks(written)).toBe('b');
    const s = ubootBootState(spent, 'b');
    expect(s.running).toMatchObject({ slot: 'b', generation: 2, state: 'trial', triesLeft: 0 });
    expect(s.other).toMatchObject({ slot: 'a', generation: 1, state: 'committed' });
    expect(planSlotWrite(s)).toEqual({ problem: expect.stringMatching(/on trial/) });
    // Booted with the try unspent (U-Boot's write failed): a trial with a try left, for Linux to spend.
    expect(ubootBootState(written, 'b').running).toMatchObject({ state: 'trial', triesLeft: 1 });
  });

  it('a spent trial that did not commit: the script boots a, which sees b failed; the next write is generation 3', () => {
    expect(scriptPicks(spent)).toBe('a');
    const s = ubootBootState(spent, 'a');
    expect(s.running).toMatchObject({ slot: 'a', state: 'committed' });
    expect(s.other).toMatchObject({ slot: 'b', generation: 2, state: 'failed' });
    expect(planSlotWrite(s)).toMatchObject({ slot: 'b', generation: 3 });
  });

  it('committed b: the script boots b; a is the older committed slot, and the next write is a, generation 3', () => {
    expect(scriptPicks(committedB)).toBe('b');
    const s = ubootBootState(committedB, 'b');
    expect(s.running).toMatchObject({ slot: 'b', generation: 2, state: 'committed' });
    expect(s.other).toMatchObject({ slot: 'a', generation: 1, state: 'committed' });
    expect(planSlotWrite(s)).toMatchObject({ slot: 'a', generation: 3 });
  });

  it('files a torn write or a stranger left: a missing committed.env is a; a running slot nothing names is a trial', () => {
    expect(ubootBootState({ slotEnv: IMAGE.slotEnv }, 'a').running).toMatchObject({ slot: 'a', state: 'committed', generation: 1 });
    // The script's fallback booted b (a's kernel would not load): b runs, and commits only when healthy.
    const s = ubootBootState({ ...IMAGE, slotEnv: { ...IMAGE.slotEnv, b: 'twin6_args=x\n' } }, 'b');
    expect(s.running).toMatchObject({ slot: 'b', state: 'trial', generation: 2 });
    for (const junk of ['twin6_trial=c\n', 'twin6_committed=zz\n', '\0\0\0', 'x'.repeat(10_000)])
      expect(() => ubootBootState({ committed: junk, trial: junk, slotEnv: { a: junk, b: junk } }, 'a')).not.toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import { addressFromBytes } from '../../../src/wire/address.js';
import { resourceText } from '../../../src/store/resource-text.js';
import { seedText, testSeed } from '../../seed.js';

const SEED = testSeed(7);

describe('resourceText', () => {
  it(`formats exactly as wire/address.ts does (RFC 5952), on zero-heavy random addresses (${seedText(SEED)})`, () => {
    let seed = SEED;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const bytes = new Uint8Array(20);
    for (let i = 0; i < 50_000; i++) {
      // Groups are zero half of the time, so every run length and position occurs.
      for (let g = 0; g < 8; g++) {
        const kind = rand(4);
        const v = kind < 2 ? 0 : kind === 2 ? rand(16) << (4 * rand(4)) : rand(0x10000);
        bytes[2 + 2 * g] = v >> 8;
        bytes[3 + 2 * g] = v & 0xff;
      }
      expect(resourceText(bytes, 2)).toBe(addressFromBytes(bytes, 2));
    }
  });

  it('appends the prefix length', () => {
    const b = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([0, 7, 56, 100, 128].map((n) => resourceText(b, 0, n))).toEqual(
      ['/0', '/7', '/56', '/100', '/128'].map((s) => `2001:db8:8000:100::${s}`),
    );
    expect(resourceText(new Uint8Array(16), 0)).toBe('::');
  });
});

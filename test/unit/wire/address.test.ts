import { describe, expect, it } from 'vitest';
import {
  addressFromBigInt,
  addressFromBytes,
  addressToBigInt,
  addressToBytes,
  canonicalAddress,
  isAddress,
} from '../../../src/wire/index.js';

describe('RFC 5952 canonical text', () => {
  it.each([
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3: first of two equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3: the longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: one zero group is not "::"
    ['2001:DB8::ABCD', '2001:db8::abcd'], // §4.3: lowercase
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // §4.1: no leading zeros
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['fe80:0:0:0:5054:ff:fe12:3456', 'fe80::5054:ff:fe12:3456'],
    ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ])('%s -> %s', (text, canonical) => {
    expect(canonicalAddress(text)).toBe(canonical);
    const bytes = new Uint8Array(18);
    addressToBytes(text, bytes, 2);
    expect(addressFromBytes(bytes, 2)).toBe(canonical);
    expect(addressFromBigInt(addressToBigInt(text))).toBe(canonical);
  });

  it.each(['', ':', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::', '::1.2.3.4', '1:2:3:4:5:6:7::8'])(
    'refuses %j',
    (text) => {
      expect(isAddress(text)).toBe(false);
      expect(canonicalAddress(text)).toBeUndefined();
      expect(() => addressToBytes(text, new Uint8Array(16))).toThrow(TypeError);
    },
  );
});

describe('bigint conversions', () => {
  it.each([
    ['::', 0n],
    ['::1', 1n],
    ['2001:db8::', 0x20010db8n << 96n],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', (1n << 128n) - 1n],
  ])('%s <-> %s', (text, value) => {
    expect(addressToBigInt(text)).toBe(value);
    expect(addressFromBigInt(value)).toBe(text);
  });

  it('round-trips pseudo-random addresses through bytes, text and bigint', () => {
    let x = 0x9e3779b9;
    const next = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) >>> 24;
    for (let i = 0; i < 2000; i++) {
      // Bias towards zero groups so that "::" placement gets exercised.
      const bytes = Uint8Array.from({ length: 16 }, () => (next() < 128 ? 0 : next()));
      const text = addressFromBytes(bytes);
      const back = new Uint8Array(16);
      addressToBytes(text, back);
      expect(back).toEqual(bytes);
      expect(addressFromBigInt(addressToBigInt(text))).toBe(text);
      expect(canonicalAddress(text)).toBe(text);
    }
  });
});

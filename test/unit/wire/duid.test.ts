import { describe, expect, it } from 'vitest';
import { describeDuid, duidFromHex, duidToHex } from '../../../src/wire/index.js';
import { hex, u8 } from './helpers.js';

describe('duidToHex / duidFromHex', () => {
  it('prints lowercase hex without separators', () => {
    expect(duidToHex(u8(0, 1, 0, 1, 0xab, 0xcd, 0xef, 0x0f))).toBe('00010001abcdef0f');
    expect(duidToHex(u8())).toBe('');
  });

  it.each([
    '00:01:00:01:2B:1C:5E:3A:52:54:00:12:34:56',
    '000100012b1c5e3a525400123456',
    '00-01-00-01-2b-1c-5e-3a-52-54-00-12-34-56',
    '  0:1:0:1:2b:1c:5e:3a:52:54:0:12:34:56 ',
  ])('parses %j', (text) => {
    expect(duidFromHex(text)).toEqual(hex('000100012b1c5e3a525400123456'));
  });

  it.each(['', '0001', '00:01', '0001x0', '000', '00:01::02', '00:001:02', 'ff'.repeat(131)])('refuses %j', (text) => {
    expect(duidFromHex(text)).toBeUndefined();
  });

  it('round-trips through hex', () => {
    const duid = u8(0, 2, 0, 0, 0x9f, 0x08, 1, 2, 3);
    expect(duidFromHex(duidToHex(duid))).toEqual(duid);
  });
});

describe('describeDuid (§11)', () => {
  it('DUID-LLT', () => {
    expect(describeDuid(hex('0001 0001 00000000 525400123456'))).toBe('DUID-LLT hw=1 time=0 (2000-01-01T00:00:00Z) ll=52:54:00:12:34:56');
  });
  it('DUID-EN', () => {
    expect(describeDuid(hex('0002 00009f08 74776e36'))).toBe('DUID-EN ent=40712 id=74776e36');
  });
  it('DUID-LL', () => {
    expect(describeDuid(hex('0003 0001 020000000001'))).toBe('DUID-LL hw=1 ll=02:00:00:00:00:01');
  });
  it('DUID-UUID (RFC 6355)', () => {
    expect(describeDuid(hex('0004 123e4567e89b12d3a456426614174000'))).toBe('DUID-UUID 123e4567-e89b-12d3-a456-426614174000');
  });
  it('unknown types and short bodies fall back to hex', () => {
    expect(describeDuid(hex('0009 aabb'))).toBe('DUID type=9 aabb');
    expect(describeDuid(hex('0001 0001 0000'))).toBe('DUID type=1 00010000');
    expect(describeDuid(hex('0004 1234'))).toBe('DUID type=4 1234');
    expect(describeDuid(hex('07'))).toBe('DUID ? 07');
  });
});

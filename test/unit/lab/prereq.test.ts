// Whether a lab suite runs, skips or fails is decided from the environment
// alone: these decisions are what keeps CI from passing on a skipped lab.

import { describe, expect, it } from 'vitest';
import { labRequired, parseNameList, skipUnlessRequired } from '../../../src/testing/lab/prereq.js';

describe('T6_LAB_REQUIRED', () => {
  it('is required only for "1", optional unset, empty or "0"', () => {
    expect(labRequired({ T6_LAB_REQUIRED: '1' })).toBe(true);
    expect(labRequired({})).toBe(false);
    expect(labRequired({ T6_LAB_REQUIRED: '' })).toBe(false);
    expect(labRequired({ T6_LAB_REQUIRED: '0' })).toBe(false);
  });

  it('rejects any other value instead of reading it as "not required"', () => {
    for (const v of ['true', 'yes', '2', ' 1']) expect(() => labRequired({ T6_LAB_REQUIRED: v }), v).toThrow(/T6_LAB_REQUIRED/);
  });
});

describe('T6_LAB_SERVERS', () => {
  const known = ['kea', 'twin6'] as const;
  const parse = (v: string | undefined) => parseNameList('T6_LAB_SERVERS', v, known, ['kea']);

  it('takes the default when unset, and the names given otherwise', () => {
    expect(parse(undefined)).toEqual(['kea']);
    expect(parse('twin6,kea')).toEqual(['twin6', 'kea']);
    expect(parse(' twin6 , kea,')).toEqual(['twin6', 'kea']);
    expect(parse('twin6,twin6')).toEqual(['twin6']);
  });

  it('selects nothing when set empty (the caller decides whether that may skip)', () => {
    expect(parse('')).toEqual([]);
  });

  it('fails on an unknown name, naming it, even next to known ones', () => {
    expect(() => parse('kae')).toThrow(/T6_LAB_SERVERS: unknown "kae" \(known: kea, twin6\)/);
    expect(() => parse('twin6,Kea')).toThrow(/"Kea"/);
  });
});

describe('skip or fail', () => {
  it('runs when nothing is missing, required or not', () => {
    expect(skipUnlessRequired(undefined, true, 'the lab')).toBeUndefined();
    expect(skipUnlessRequired(undefined, false, 'the lab')).toBeUndefined();
  });

  it('skips with the reason when optional, fails with it when required', () => {
    expect(skipUnlessRequired('not root', false, 'the bench')).toBe('not root');
    expect(() => skipUnlessRequired('not root', true, 'the bench')).toThrow('T6_LAB_REQUIRED=1 but the bench cannot run: not root');
  });
});

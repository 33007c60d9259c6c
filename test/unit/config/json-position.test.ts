import { describe, expect, it } from 'vitest';
import { positionOf, syntaxErrorOffset } from '../../../src/config/json-position.js';

describe('syntaxErrorOffset', () => {
  it('finds nothing wrong in valid JSON, as JSON.parse agrees', () => {
    for (const text of ['{}', ' [ 1, -2.5e3, "a\\"b\\u00e9", true, false, null, {"k": []} ] ', '"x"', '0']) {
      expect(JSON.parse(text)).toBeDefined();
      expect(syntaxErrorOffset(text), text).toBeUndefined();
    }
  });

  it('points at the first offending character', () => {
    const cases: [string, number][] = [
      ['{"a": 1,}', 8], // trailing comma: the "}" where a key should be
      ['{"a" 1}', 5], // missing colon
      ["{'a': 1}", 1], // single quotes
      ['[01]', 2], // leading zero: "0" is a number, then "1" is not "," or "]"
      ['{"a": tru}', 6],
      ['"tab\there"', 4], // raw control character in a string
      ['"\\x"', 1], // bad escape
      ['{} {}', 3], // text after the value
      ['[1, 2', 5], // end of input
    ];
    for (const [text, offset] of cases) {
      expect(() => JSON.parse(text), text).toThrow(SyntaxError);
      expect(syntaxErrorOffset(text), text).toBe(offset);
    }
  });

  it('stops at absurd nesting instead of overflowing the stack', () => {
    expect(syntaxErrorOffset('['.repeat(100_000))).toBe(256);
  });
});

describe('positionOf', () => {
  it('counts lines and columns from 1', () => {
    const text = 'ab\ncd\n\nef';
    expect(positionOf(text, 0)).toEqual({ line: 1, column: 1 });
    expect(positionOf(text, 4)).toEqual({ line: 2, column: 2 });
    expect(positionOf(text, 7)).toEqual({ line: 4, column: 1 });
    expect(positionOf(text, text.length)).toEqual({ line: 4, column: 3 });
  });
});

// Where a JSON text first goes wrong, as line and column. V8's JSON.parse
// gives an offset for some errors but not for others ("Unexpected token '}',
// … is not valid JSON"), and an operator needs the line in every case, so a
// small scanner walks the text the same way and stops at the first fault.

export interface TextPosition {
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units like editors count most text. */
  readonly column: number;
}

/** Nesting deeper than this is reported where it happens; no config needs more than a few levels. */
const DEPTH_MAX = 256;

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

class Fault {
  constructor(readonly offset: number) {}
}

/** Offset of the first syntax error in `text`, or undefined if it is valid JSON. */
export function syntaxErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new Fault(i);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (ch: string): void => {
    ws();
    if (text[i] !== ch) fail();
    i++;
  };
  const string = (): void => {
    if (text[i] !== '"') fail();
    i++;
    for (;;) {
      if (i >= text.length) fail();
      const ch = text[i]!;
      if (ch === '"') return void i++;
      if (ch < ' ') fail(); // RFC 8259 §7: control characters must be escaped
      if (ch !== '\\') {
        i++;
        continue;
      }
      ESCAPE.lastIndex = i;
      if (!ESCAPE.test(text)) fail();
      i = ESCAPE.lastIndex;
    }
  };
  const value = (depth: number): void => {
    ws();
    const ch = text[i];
    if (ch === '{' || ch === '[') {
      if (depth >= DEPTH_MAX) fail();
      const close = ch === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (close === '}') {
          ws();
          string();
          expect(':');
        }
        value(depth + 1);
        ws();
        if (text[i] === close) return void i++;
        if (text[i] !== ',') fail();
        i++;
      }
    }
    if (ch === '"') return string();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) return void (i += literal.length);
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail();
    i = NUMBER.lastIndex;
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail();
    return undefined;
  } catch (e) {
    if (e instanceof Fault) return e.offset;
    throw e;
  }
}

export function positionOf(text: string, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

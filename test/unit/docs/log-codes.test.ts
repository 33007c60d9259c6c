// Stable log codes (issue 17 item 7): every warn, error and fatal line in src/
// carries a code from src/log/codes.ts, and docs/log-codes.md lists exactly the
// codes src/ uses, each with the level its line has and the MQTT event that
// carries it. The scan parses the source
// with the TypeScript compiler, so a call spread over several lines, or a
// "log.warn(" in a comment or a string, is read for what it is.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ALARM_CODE } from '../../../src/failover/effects.js';
import { LOG_CODES } from '../../../src/log/codes.js';
import { EVENT_CODES, type EventType } from '../../../src/mgmt/documents.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const REGISTRY = 'src/log/codes.ts';
const DOC = 'docs/log-codes.md';
/** Tooling, not the product: left out of the image, its lines need no code. */
const SKIPPED = 'src/testing/';

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const CODE_REQUIRED = new Set(['warn', 'error', 'fatal']);

interface LogCall {
  readonly file: string;
  readonly line: number;
  readonly level: string;
  /** The object's own `code` property, written out or shorthand; not one nested deeper. */
  readonly hasCode: boolean;
  /** The string literals in that property's value (two for `on ? 'A' : 'B'`). */
  readonly codes: readonly string[];
  /** The message argument's string literals. */
  readonly messages: readonly string[];
}

function literalsIn(node: ts.Node): string[] {
  const found: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) found.push(n.text);
    ts.forEachChild(n, visit);
  };
  visit(node);
  return found;
}

function codeProperty(arg: ts.Expression | undefined): ts.ObjectLiteralElementLike | undefined {
  if (!arg || !ts.isObjectLiteralExpression(arg)) return undefined;
  return arg.properties.find(
    (p) => p.name !== undefined && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) && p.name.text === 'code',
  );
}

const parse = (file: string, source: string): ts.SourceFile =>
  ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);

/** Every `<receiver>.<level>(…)` call in one file. */
function scanLogCalls(sf: ts.SourceFile): LogCall[] {
  const file = sf.fileName;
  const calls: LogCall[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && LEVELS.has(node.expression.name.text)) {
      const [first, second] = node.arguments;
      const prop = codeProperty(first);
      const message = first && (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first)) ? first : second;
      calls.push({
        file,
        line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1,
        level: node.expression.name.text,
        hasCode: prop !== undefined,
        codes: prop && ts.isPropertyAssignment(prop) ? literalsIn(prop.initializer) : [],
        messages: message ? literalsIn(message) : [],
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return calls;
}

/** The product's sources but the registry, parsed. */
function productSources(dir = 'src', out: ts.SourceFile[] = []): ts.SourceFile[] {
  for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (`${rel}/` !== SKIPPED) productSources(rel, out);
    } else if (entry.isFile() && rel.endsWith('.ts') && rel !== REGISTRY) {
      out.push(parse(rel, readFileSync(path.join(ROOT, rel), 'utf8')));
    }
  }
  return out;
}

interface DocRow {
  readonly code: string;
  readonly level: string;
  readonly event: string;
}

/** docs/log-codes.md: the rows of §3's tables, and the codes of §4 (retired). */
function documented(): { rows: DocRow[]; retired: string[] } {
  const text = readFileSync(path.join(ROOT, DOC), 'utf8');
  const current = text.slice(text.indexOf('\n## §3 '), text.indexOf('\n## §4 '));
  const retiredPart = text.slice(text.indexOf('\n## §4 '));
  const cells = (line: string): string[] =>
    line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const rowRe = /^\| `([A-Z0-9_]+)` \|.*\|$/gm;
  const rows = [...current.matchAll(rowRe)].map((m) => {
    const c = cells(m[0]);
    return { code: m[1]!, level: c[1]!, event: c[4] ?? '' };
  });
  const retired = [...retiredPart.matchAll(rowRe)].map((m) => m[1]!);
  return { rows, retired };
}

const sources = productSources();
const calls = sources.flatMap(scanLogCalls);
const where = (c: LogCall) => `${c.file}:${c.line} ${c.level}(${c.messages.map((m) => JSON.stringify(m)).join(' | ')})`;

describe('the log-call scanner', () => {
  const sample = [
    "log.warn({ code: 'STORE_WRITE_FAILED', err }, 'one line');",
    'this.deps.log.error(',
    '  {',
    '    iface,',
    "    err: { code: 'EACCES' },",
    '  },',
    "  'several lines, and a code only deeper down',",
    ');',
    "log.fatal('a string alone');",
    "// log.warn('in a comment') and",
    'const s = "log.error(\'in a string\')";',
    "log.warn({ code: on ? 'FAILOVER_LINK_HELD' : 'FAILOVER_LINK_RELEASED' }, on ? 'held' : 'released');",
    "log.info({ event: type, ...fields }, 'mqtt: event');",
    "log.error({ code, err }, 'shorthand');",
  ].join('\n');
  const found = scanLogCalls(parse('sample.ts', sample));

  it('finds calls over several lines, and only real calls', () => {
    expect(found.map((c) => [c.line, c.level])).toEqual([
      [1, 'warn'],
      [2, 'error'],
      [9, 'fatal'],
      [12, 'warn'],
      [13, 'info'],
      [14, 'error'],
    ]);
  });

  it('fails a warn/error/fatal call whose object has no code of its own, or that has no object', () => {
    const missing = found.filter((c) => CODE_REQUIRED.has(c.level) && !c.hasCode).map((c) => c.messages[0]);
    expect(missing).toEqual(['several lines, and a code only deeper down', 'a string alone']);
  });

  it('reads the codes a call may carry and its messages', () => {
    expect(found[0]).toMatchObject({ codes: ['STORE_WRITE_FAILED'], messages: ['one line'] });
    expect(found[3]).toMatchObject({ codes: ['FAILOVER_LINK_HELD', 'FAILOVER_LINK_RELEASED'], messages: ['held', 'released'] });
    expect(found[5]).toMatchObject({ hasCode: true, codes: [] });
  });
});

describe('log codes in src/ and docs/log-codes.md', () => {
  const { rows, retired } = documented();
  const docLevel = new Map(rows.map((r) => [r.code, r.level]));

  it('gives every warn, error and fatal line in src/ a code (outside src/testing/)', () => {
    const missing = calls.filter((c) => CODE_REQUIRED.has(c.level) && !c.hasCode).map(where);
    expect(missing).toEqual([]);
  });

  it('documents every code of the registry once, and no other', () => {
    const codes = rows.map((r) => r.code);
    expect(new Set(LOG_CODES).size, 'a code twice in the registry').toBe(LOG_CODES.length);
    expect(
      codes.filter((c, i) => codes.indexOf(c) !== i),
      'a code twice in the doc',
    ).toEqual([]);
    expect([...codes].sort()).toEqual([...LOG_CODES].sort());
    for (const r of rows)
      expect(r.code, 'CAPITALS with a component prefix').toMatch(
        /^(DAEMON|CONFIG|STORE|DHCP|RA|ROUTE|FAILOVER|MQTT|MGMT|TIME|FIRMWARE)_[A-Z0-9_]+$/,
      );
  });

  it('never uses a retired code again', () => {
    expect(retired.filter((c) => (LOG_CODES as readonly string[]).includes(c))).toEqual([]);
  });

  it('uses every documented code in src/', () => {
    const literals = new Set(sources.flatMap(literalsIn));
    expect(rows.map((r) => r.code).filter((c) => !literals.has(c))).toEqual([]);
  });

  it('documents every code a log line carries, at the level the line has', () => {
    const found = calls.flatMap((c) => c.codes.map((code) => ({ code, level: c.level, at: where(c) })));
    expect(
      found
        .filter((f) => docLevel.get(f.code) !== f.level)
        .map((f) => `${f.at}: ${f.code} is documented as ${docLevel.get(f.code) ?? 'nothing'}`),
    ).toEqual([]);
  });

  it('documents each failover alarm at the level of the line that logs it (its code comes from ALARM_CODE)', () => {
    const alarm = calls.filter((c) => c.messages.includes('failover alarm'));
    expect(alarm).toHaveLength(1);
    expect(Object.values(ALARM_CODE).filter((code) => docLevel.get(code) !== alarm[0]!.level)).toEqual([]);
  });

  it('names for each code the MQTT events that carry it (EVENT_CODES in src/mgmt/documents.ts)', () => {
    const carriedBy = new Map<string, string[]>();
    for (const [type, codes] of Object.entries(EVENT_CODES))
      for (const code of codes) carriedBy.set(code, [...(carriedBy.get(code) ?? []), type]);
    const inDoc = rows
      .filter((r) => r.event !== '—')
      .map((r) => [r.code, [...r.event.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!)] as const);
    expect(new Map(inDoc)).toEqual(carriedBy);
    expect(rows.filter((r) => r.event !== '—' && !/^`[a-z-]+`$/.test(r.event)).map((r) => `${r.code}: ${r.event}`)).toEqual([]);
  });

  it("documents an event code no log line has at info, the level of the uplink's `mqtt: event` line", () => {
    const mirror = calls.filter((c) => c.messages.includes('mqtt: event'));
    expect(mirror.map((c) => [c.level, c.hasCode])).toEqual([['info', false]]); // its code comes with the event's fields
    const logged = new Set(calls.flatMap((c) => c.codes));
    const eventOnly = (Object.keys(EVENT_CODES) as EventType[]).flatMap((t) => EVENT_CODES[t]).filter((c) => !logged.has(c));
    expect(eventOnly.filter((c) => docLevel.get(c) !== 'info')).toEqual([]);
  });
});

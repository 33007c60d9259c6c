// Every design-note reference in the repository resolves inside it (issue 17):
// comments cite `docs/<file>.md §n`, never the first proposals that lived
// outside the repository (the shared proposals folder beside the clone), and never a bare `<file>.md` a
// reader of a clone cannot find. Also: every docs/ file named exists, every
// cited section is a heading of that file, and the relative links in docs/ and
// README.md point at files and headings that exist.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where comments live. */
const SCANNED_DIRS = ['src', 'test', 'scripts'] as const;
const SELF = 'test/unit/docs/references.test.ts';
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.build', '__pycache__']);
/** Larger files are data, not code with comments. */
const FILE_BYTES_MAX = 1 << 20;

/** The design notes' names, in docs/ or (for the old ones) nowhere in the repository. */
const NOTE_NAMES = [
  'architecture',
  'protocol',
  'storage',
  'style',
  'management',
  'image',
  'config',
  'fleet',
  'benchmarks',
  'rfc8156-conformance',
  'log-codes',
  'testing',
];

interface TextFile {
  readonly rel: string;
  readonly text: string;
}

function walk(dir: string, out: TextFile[]): void {
  for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) walk(rel, out);
      continue;
    }
    if (!entry.isFile() || statSync(path.join(ROOT, rel)).size > FILE_BYTES_MAX) continue;
    const text = readFileSync(path.join(ROOT, rel), 'utf8');
    if (!text.includes('\0')) out.push({ rel, text });
  }
}

function scanned(): TextFile[] {
  const out: TextFile[] = [];
  for (const dir of SCANNED_DIRS) walk(dir, out);
  out.push({ rel: 'README.md', text: readFileSync(path.join(ROOT, 'README.md'), 'utf8') });
  return out.filter((f) => f.rel !== SELF);
}

const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/** The first proposals' folder outside the repository, by either spelling; built from parts so this file does not cite it. */
const OUTSIDE_DIR = ['shar', 'ed'].join('');
const OUTSIDE_RE = new RegExp(`\\.\\./${OUTSIDE_DIR}|${OUTSIDE_DIR}/docs`, 'g');
/** A note named without its docs/ directory (`protocol.md §1.13`, `style.md "limit everything"`). */
const BARE_RE = new RegExp(`(?<![\\w/.-])(?:${NOTE_NAMES.join('|')})\\.md`, 'g');
/** A note named with its directory, as comments and the README should. */
const DOCS_RE = /(?<![\w.-])docs\/([\w-]+)\.md(#[\w-]+)?/g;

function oldReferences(f: TextFile): string[] {
  const found: string[] = [];
  for (const re of [OUTSIDE_RE, BARE_RE]) {
    for (const m of f.text.matchAll(re)) found.push(`${f.rel}:${lineOf(f.text, m.index)}: ${m[0]}`);
  }
  return found;
}

/** Headings of a markdown file: their GitHub anchors and the `§n` they carry. */
function headings(rel: string): { anchors: Set<string>; sections: Set<string> } {
  const anchors = new Set<string>();
  const sections = new Set<string>();
  const text = readFileSync(path.join(ROOT, rel), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    const title = m[1]!;
    const base = title
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    let anchor = base;
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`;
    anchors.add(anchor);
    const section = /^§(\d+(?:\.\d+)*)\b/.exec(title);
    if (section) sections.add(section[1]!);
  }
  return { anchors, sections };
}

const exists = (rel: string): boolean => {
  try {
    return statSync(path.join(ROOT, rel)).isFile();
  } catch {
    return false;
  }
};

const files = scanned();

describe('references to the design notes resolve in the repository', () => {
  it('(a, c) cite docs/<file>.md, never the proposals outside the repository or a bare <file>.md (but for the pending files)', () => {
    const found = files.flatMap(oldReferences);
    expect(found).toEqual([]);
  });

  it('(b) every docs/<file>.md named in src/, test/, scripts/ and README.md exists, with its anchor', () => {
    const missing: string[] = [];
    for (const f of files) {
      for (const m of f.text.matchAll(DOCS_RE)) {
        const doc = `docs/${m[1]!}.md`;
        const where = `${f.rel}:${lineOf(f.text, m.index)}: ${m[0]}`;
        if (!exists(doc)) missing.push(where);
        else if (m[2] && !headings(doc).anchors.has(m[2].slice(1))) missing.push(`${where} (no such heading)`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every docs/<file>.md §n cited is a heading of that file', () => {
    const missing: string[] = [];
    for (const f of files) {
      for (const m of f.text.matchAll(DOCS_RE)) {
        const doc = `docs/${m[1]!}.md`;
        if (!exists(doc)) continue; // reported above
        // The citation may go on after a line break inside a comment: `docs/fleet.md\n// §4, §6`.
        const tail = f.text.slice(m.index + m[0].length, m.index + m[0].length + 80).replace(/\n\s*(?:\/\/|\*|#)?/g, ' ');
        const cited = /^\s*((?:,?\s*§\d+(?:\.\d+)*)+)/.exec(tail);
        if (!cited) continue;
        const { sections } = headings(doc);
        for (const s of cited[1]!.matchAll(/§(\d+(?:\.\d+)*)/g)) {
          if (!sections.has(s[1]!)) missing.push(`${f.rel}:${lineOf(f.text, m.index)}: ${doc} §${s[1]!}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('links in docs/ and README.md point at files and headings that exist', () => {
    const docs = readdirSync(path.join(ROOT, 'docs'))
      .filter((n) => n.endsWith('.md'))
      .map((n) => `docs/${n}`);
    const broken: string[] = [];
    for (const rel of [...docs, 'README.md']) {
      const text = readFileSync(path.join(ROOT, rel), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const to = file === '' ? rel : path.posix.normalize(path.posix.join(path.posix.dirname(rel), file));
        const where = `${rel}:${lineOf(text, m.index)}: ${target}`;
        if (file !== '' && !exists(to) && !existsDir(to)) broken.push(where);
        else if (anchor !== undefined && to.endsWith('.md') && !headings(to).anchors.has(anchor)) broken.push(`${where} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});

function existsDir(rel: string): boolean {
  try {
    return statSync(path.join(ROOT, rel)).isDirectory();
  } catch {
    return false;
  }
}

// The checker behind imports.test.ts: the import graph of src/ read with a
// small parser (no dependency), and the rules of docs/architecture.md §1 and
// §2 as functions of that graph. Each rule returns its violations as lines
// that name the importing file, the line and the import, so the test's
// failure says what to change; an empty list is a pass. Pure functions of an
// in-memory graph, so the test can show each rule failing on a made-up one.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** One import or re-export: `import`, `import type`, `export … from`, or `import('…')`. */
export interface ImportSite {
  readonly specifier: string;
  readonly line: number;
  /** Erased at compile time: `import type`, `export type`, or every name marked `type`. */
  readonly typeOnly: boolean;
}

/** An import of one src module by another, both as paths below src/ (`daemon/host.ts`). */
export interface Edge extends ImportSite {
  readonly from: string;
  readonly to: string;
}

export interface ImportGraph {
  /** Every module below src/, sorted. */
  readonly modules: readonly string[];
  /** Imports between modules of ours, in file order. */
  readonly edges: readonly Edge[];
  /** Specifiers of packages and node: built-ins, by module. */
  readonly external: readonly Edge[];
}

const NAMES = String.raw`(?:[\w$]+\s*,\s*)?(?:\*\s*as\s+[\w$]+|\{[^}]*\}|[\w$]+)`;
/** Static forms, each at the start of a line (so commented-out code and strings that mention one are not read). */
const STATIC_RE = new RegExp(
  String.raw`^[ \t]*(?:import\s+(type\s+)?(?:(${NAMES})\s*from\s*)?|export\s+(type\s+)?(\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})\s*from\s*)['"]([^'"\n]+)['"]`,
  'gm',
);
/** Dynamic imports with a literal specifier. */
const DYNAMIC_RE = /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;

const lineAt = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/** `{ type A, type B }` is as erased as `import type { A, B }`. */
function allNamesTyped(names: string | undefined): boolean {
  if (names === undefined || !names.startsWith('{')) return false;
  const parts = names
    .slice(1, -1)
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  return parts.length > 0 && parts.every((p) => p.startsWith('type '));
}

export function parseImports(text: string): ImportSite[] {
  const sites: ImportSite[] = [];
  for (const m of text.matchAll(STATIC_RE)) {
    const typeOnly = m[1] !== undefined || m[3] !== undefined || allNamesTyped(m[2] ?? m[4]);
    sites.push({ specifier: m[5]!, line: lineAt(text, m.index), typeOnly });
  }
  for (const m of text.matchAll(DYNAMIC_RE)) sites.push({ specifier: m[1]!, line: lineAt(text, m.index), typeOnly: false });
  return sites.sort((a, b) => a.line - b.line);
}

/**
 * Builds the graph from module texts keyed by their path below src/. A
 * relative specifier names a `.js` file that is compiled from the `.ts` of
 * the same name; one that resolves to no module is an edge to that path all
 * the same (TypeScript reports it; the rules still see where it points).
 */
export function buildGraph(texts: ReadonlyMap<string, string>): ImportGraph {
  const modules = [...texts.keys()].sort();
  const edges: Edge[] = [];
  const external: Edge[] = [];
  for (const from of modules) {
    for (const site of parseImports(texts.get(from)!)) {
      if (!site.specifier.startsWith('.')) {
        external.push({ ...site, from, to: site.specifier });
        continue;
      }
      const to = path.posix.normalize(path.posix.join(path.posix.dirname(from), site.specifier)).replace(/\.js$/, '.ts');
      edges.push({ ...site, from, to });
    }
  }
  return { modules, edges, external };
}

/** Every `.ts` module below srcDir, keyed by its path below it. */
export function readSources(srcDir: string): Map<string, string> {
  const texts = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(srcDir, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.endsWith('.ts')) texts.set(child, readFileSync(path.join(srcDir, child), 'utf8'));
    }
  };
  walk('');
  return texts;
}

const describeEdge = (e: Edge): string => `src/${e.from}:${e.line} imports${e.typeOnly ? ' type' : ''} '${e.specifier}'`;

/** (a) Cycles, type-only imports included: each as the path that closes it, `a.ts → b.ts → a.ts`. */
export function findCycles(graph: ImportGraph): string[] {
  const next = new Map<string, Edge[]>();
  for (const e of graph.edges) next.set(e.from, [...(next.get(e.from) ?? []), e]);
  const done = new Set<string>();
  const cycles: string[] = [];
  // Depth-first with an explicit stack: the path from the root is the cycle's witness.
  for (const root of graph.modules) {
    if (done.has(root)) continue;
    const onPath: string[] = [];
    const stack: { module: string; nextIndex: number }[] = [{ module: root, nextIndex: 0 }];
    onPath.push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const out = next.get(top.module) ?? [];
      if (top.nextIndex >= out.length) {
        stack.pop();
        onPath.pop();
        done.add(top.module);
        continue;
      }
      const e = out[top.nextIndex++]!;
      const at = onPath.indexOf(e.to);
      if (at >= 0) {
        cycles.push(`cycle: ${[...onPath.slice(at), e.to].map((m) => `src/${m}`).join(' → ')} (closed by ${describeEdge(e)})`);
      } else if (!done.has(e.to)) {
        stack.push({ module: e.to, nextIndex: 0 });
        onPath.push(e.to);
      }
    }
  }
  return cycles;
}

/** The folder below src/ a module belongs to: `wire`, `daemon`, `testing`; '' for a file directly in src/. */
export const layerOf = (module: string): string => (module.includes('/') ? module.slice(0, module.indexOf('/')) : '');

/**
 * One row of docs/architecture.md §2's table: what a layer may import of
 * ours. An entry is a layer (`wire`: any of its modules) or one module of it
 * (`daemon/host.ts`: that one only). A layer always imports itself.
 */
export interface LayerRule {
  readonly layer: string;
  readonly imports: readonly string[];
}

/** (b) wire/ imports nothing of ours outside wire/, and no package but node:assert (docs/architecture.md §1). */
export function wireViolations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const e of graph.edges)
    if (layerOf(e.from) === 'wire' && layerOf(e.to) !== 'wire') out.push(`${describeEdge(e)}: wire/ imports only wire/`);
  out.push(...coreExternals(graph, 'wire'));
  return out;
}

/** The engine's config types: declarations only, so the engine takes no config code with them. */
export const CONFIG_TYPES = 'config/types.ts';

/**
 * (b) engine/ imports wire/, engine/, and from config/ only CONFIG_TYPES with
 * `import type`; CONFIG_TYPES itself imports nothing; no package but node:assert.
 */
export function engineViolations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const e of graph.edges) {
    if (e.from === CONFIG_TYPES) out.push(`${describeEdge(e)}: ${CONFIG_TYPES} holds the engine's config types and imports nothing`);
    if (layerOf(e.from) !== 'engine') continue;
    const to = layerOf(e.to);
    if (to === 'wire' || to === 'engine') continue;
    if (e.to === CONFIG_TYPES && e.typeOnly) continue;
    out.push(`${describeEdge(e)}: engine/ imports only wire/, engine/ and \`import type\` from ${CONFIG_TYPES}`);
  }
  out.push(...coreExternals(graph, 'engine'));
  return out;
}

function coreExternals(graph: ImportGraph, layer: string): string[] {
  return graph.external
    .filter((e) => layerOf(e.from) === layer && e.to !== 'node:assert')
    .map((e) => `${describeEdge(e)}: the core (${layer}/) does no I/O and imports no package but node:assert`);
}

/** (c) Nothing outside src/testing/ imports from it: the image leaves dist/testing/ out. */
export function testingViolations(graph: ImportGraph): string[] {
  return graph.edges
    .filter((e) => layerOf(e.to) === 'testing' && layerOf(e.from) !== 'testing')
    .map((e) => `${describeEdge(e)}: only src/testing/ imports src/testing/`);
}

/** (d) The bins are the top: nothing imports src/cli/ but src/cli/. */
export function cliViolations(graph: ImportGraph): string[] {
  return graph.edges
    .filter((e) => layerOf(e.to) === 'cli' && layerOf(e.from) !== 'cli')
    .map((e) => `${describeEdge(e)}: only src/cli/ imports src/cli/`);
}

/** (e) Each import is one its layer's row allows; a module outside every row is one too. */
export function layerViolations(graph: ImportGraph, table: readonly LayerRule[]): string[] {
  const rows = new Map(table.map((r) => [r.layer, r]));
  const out: string[] = [];
  for (const m of graph.modules) {
    if (!rows.has(layerOf(m))) out.push(`src/${m}: in no layer of docs/architecture.md §2 (${[...rows.keys()].join(', ')})`);
  }
  for (const e of graph.edges) {
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    const row = rows.get(from);
    if (!row || from === to) continue;
    if (row.imports.includes(to) || row.imports.includes(e.to)) continue;
    const allowed = row.imports.length === 0 ? 'nothing of ours' : row.imports.join(', ');
    out.push(`${describeEdge(e)}: ${from}/ may import ${allowed} (docs/architecture.md §2)`);
  }
  return out;
}

/**
 * The "imports (of ours)" column of docs/architecture.md §2's layer table:
 * a row per `folder/`, its entries the backquoted names in the cell (`—`:
 * none). Read so the test can hold the doc to the same table it enforces.
 */
export function layerTableOf(markdown: string): LayerRule[] {
  const rows: LayerRule[] = [];
  let header: string[] | undefined;
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('|')) {
      if (header && rows.length > 0) break;
      header = undefined;
      continue;
    }
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (!header) {
      header = cells;
      continue;
    }
    const importsAt = header.indexOf('imports (of ours)');
    if (importsAt < 0 || /^-+$/.test(cells[0] ?? '')) continue;
    const folder = /^`([\w-]+)\/`$/.exec(cells[0] ?? '');
    if (!folder) continue;
    const imports = [...(cells[importsAt] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    rows.push({ layer: folder[1]!, imports });
  }
  return rows;
}

// The layers of docs/architecture.md §1 and §2, enforced (issue 17): every
// import in src/ (type-only ones too) is read, and the graph must have no
// cycle, a core that imports nothing of the shell, tooling and bins nothing
// else imports, and only the imports the §2 table allows. The table is data
// here and must be the doc's table as written, so the two cannot drift. The
// second half runs each rule on a small made-up graph that breaks it, so no
// rule passes for want of anything to look at.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  buildGraph,
  cliViolations,
  engineViolations,
  findCycles,
  layerOf,
  layerTableOf,
  layerViolations,
  parseImports,
  readSources,
  testingViolations,
  wireViolations,
  type LayerRule,
} from './import-rules.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** docs/architecture.md §2, column "imports (of ours)"; a layer always imports itself. */
const LAYERS: readonly LayerRule[] = [
  { layer: 'wire', imports: [] },
  { layer: 'config', imports: ['wire'] },
  { layer: 'engine', imports: ['wire', 'config/types.ts'] },
  { layer: 'store', imports: ['engine/lease.ts', 'wire'] },
  { layer: 'net', imports: ['wire', 'engine/lease.ts', 'config'] },
  { layer: 'daemon', imports: ['wire', 'engine', 'store', 'net', 'config'] },
  { layer: 'failover', imports: ['wire', 'engine', 'store', 'daemon/host.ts', 'config', 'log'] },
  { layer: 'mgmt', imports: ['daemon/host.ts', 'store', 'config', 'log'] },
  { layer: 'firmware', imports: ['daemon/host.ts', 'mgmt', 'config', 'log'] },
  { layer: 'cli', imports: ['wire', 'config', 'engine', 'store', 'net', 'daemon', 'failover', 'mgmt', 'firmware'] },
  { layer: 'board', imports: [] },
  { layer: 'log', imports: [] },
  {
    layer: 'testing',
    imports: ['wire', 'config', 'engine', 'store', 'net', 'daemon', 'failover', 'mgmt', 'board', 'firmware/uboot-files.ts'],
  },
];

/** Fewer would mean the walk or the parser lost most of src/ (there are about 180 modules and 600 imports). */
const MODULES_MIN = 150;
const IMPORTS_MIN = 500;

const texts = readSources(path.join(ROOT, 'src'));
const graph = buildGraph(texts);

describe('imports in src/ keep the layers of docs/architecture.md §1, §2', () => {
  it(`reads every module of src/ (at least ${MODULES_MIN}) and every import in them`, () => {
    expect(graph.modules.length).toBeGreaterThanOrEqual(MODULES_MIN);
    expect(graph.edges.length + graph.external.length).toBeGreaterThanOrEqual(IMPORTS_MIN);
    // Cross-check the parser by lines: one ends each static import (`… from '…'`, `} from '…'`, `import '…'`).
    const ends = /^\s*(?:(?:import|export)\b.*\bfrom|\}\s*from|import)\s*['"]/;
    for (const [module, text] of texts) {
      const statics = text.split('\n').filter((l) => ends.test(l)).length;
      const dynamic = [...text.matchAll(/\bimport\(\s*['"]/g)].length;
      expect(parseImports(text).length, `src/${module}`).toBe(statics + dynamic);
    }
    for (const e of graph.edges) expect(texts.has(e.to), `src/${e.from}:${e.line} '${e.specifier}' resolves to a module`).toBe(true);
    // The table names what exists: every layer has modules, every module it names is one.
    for (const row of LAYERS) {
      expect(
        graph.modules.some((m) => layerOf(m) === row.layer),
        `src/${row.layer}/`,
      ).toBe(true);
      for (const entry of row.imports) if (entry.includes('/')) expect(texts.has(entry), `src/${entry}`).toBe(true);
    }
  });

  it('(a) has no import cycle, type-only imports included', () => {
    expect(findCycles(graph)).toEqual([]);
  });

  it('(b) wire/ imports nothing of ours outside wire/, and no package but node:assert (§1)', () => {
    expect(wireViolations(graph)).toEqual([]);
  });

  it('(b) engine/ imports wire/, engine/ and the config types (config/types.ts, type-only), and no package but node:assert (§1)', () => {
    expect(engineViolations(graph)).toEqual([]);
  });

  it('(c) nothing outside src/testing/ imports from it (the image leaves dist/testing/ out)', () => {
    expect(testingViolations(graph)).toEqual([]);
  });

  it('(d) nothing outside src/cli/ imports from it', () => {
    expect(cliViolations(graph)).toEqual([]);
  });

  it('(e) each layer imports only what its row of the §2 table allows', () => {
    expect(layerViolations(graph, LAYERS)).toEqual([]);
  });

  it('(e) the §2 table in docs/architecture.md is the table enforced here', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## §2 '), doc.indexOf('## §3 '));
    expect(layerTableOf(section)).toEqual(LAYERS);
  });
});

/** A graph of made-up modules: path below src/ → source text. */
const made = (modules: Record<string, string>) => buildGraph(new Map(Object.entries(modules)));

describe('the import checker fails where a rule is broken', () => {
  it('reads every form of import, and no import in a comment or a string', () => {
    const text = [
      "import assert from 'node:assert';",
      "import type { A } from './a.js';",
      "import { type B, type C } from './b.js';",
      "import { type D, e } from './d.js';",
      'import {',
      '  f,',
      '  g,',
      "} from './f.js';",
      "import * as h from './h.js';",
      "import './side-effect.js';",
      "export * from './i.js';",
      "export type * from './j.js';",
      "export { k, type L } from './k.js';",
      "// import { m } from './commented.js';",
      'const s = "import { n } from \'./in-a-string.js\';";',
      "const later = await import('./dynamic.js');",
    ].join('\n');
    expect(parseImports(text).map((s) => [s.specifier, s.line, s.typeOnly])).toEqual([
      ['node:assert', 1, false],
      ['./a.js', 2, true],
      ['./b.js', 3, true],
      ['./d.js', 4, false],
      ['./f.js', 5, false],
      ['./h.js', 9, false],
      ['./side-effect.js', 10, false],
      ['./i.js', 11, false],
      ['./j.js', 12, true],
      ['./k.js', 13, false],
      ['./dynamic.js', 16, false],
    ]);
  });

  it('(a) reports a cycle as its path, also when an import in it is type-only', () => {
    const g = made({
      'daemon/a.ts': "import { b } from './b.js';",
      'daemon/b.ts': "import { c } from '../store/c.js';",
      'store/c.ts': "import type { A } from '../daemon/a.js';",
      'store/d.ts': "import { c } from './c.js';",
    });
    expect(findCycles(g)).toEqual([
      "cycle: src/daemon/a.ts → src/daemon/b.ts → src/store/c.ts → src/daemon/a.ts (closed by src/store/c.ts:1 imports type '../daemon/a.js')",
    ]);
    expect(findCycles(made({ 'wire/a.ts': "import { a } from './a.js';" }))).toEqual([
      "cycle: src/wire/a.ts → src/wire/a.ts (closed by src/wire/a.ts:1 imports './a.js')",
    ]);
  });

  it('(b) refuses wire/ importing outside wire/ or a package', () => {
    const g = made({
      'wire/a.ts':
        "import { x } from './failover/x.js';\nimport type { C } from '../config/types.js';\nimport { readFileSync } from 'node:fs';\nimport assert from 'node:assert';",
      'wire/failover/x.ts': '',
      'config/types.ts': '',
    });
    expect(wireViolations(g)).toEqual([
      "src/wire/a.ts:2 imports type '../config/types.js': wire/ imports only wire/",
      "src/wire/a.ts:3 imports 'node:fs': the core (wire/) does no I/O and imports no package but node:assert",
    ]);
  });

  it('(b) refuses engine/ importing config code, config types by value, the shell, or a package; and config types that import', () => {
    const g = made({
      'engine/a.ts': [
        "import type { ServerConfig } from '../config/types.js';",
        "import { DEFAULTS } from '../config/defaults.js';",
        "import { Subnet } from '../config/types.js';",
        "import type { LeaseStore } from '../store/index.js';",
        "import { x } from '../wire/x.js';",
        "import { pino } from 'pino';",
      ].join('\n'),
      'config/types.ts': "import type { FailoverConfig } from './failover.js';",
      'config/failover.ts': '',
      'config/defaults.ts': '',
      'store/index.ts': '',
      'wire/x.ts': '',
    });
    expect(engineViolations(g)).toEqual([
      "src/config/types.ts:1 imports type './failover.js': config/types.ts holds the engine's config types and imports nothing",
      "src/engine/a.ts:2 imports '../config/defaults.js': engine/ imports only wire/, engine/ and `import type` from config/types.ts",
      "src/engine/a.ts:3 imports '../config/types.js': engine/ imports only wire/, engine/ and `import type` from config/types.ts",
      "src/engine/a.ts:4 imports type '../store/index.js': engine/ imports only wire/, engine/ and `import type` from config/types.ts",
      "src/engine/a.ts:6 imports 'pino': the core (engine/) does no I/O and imports no package but node:assert",
    ]);
  });

  it('(c) refuses a product module importing src/testing/', () => {
    const g = made({
      'daemon/a.ts': "import type { SimHost } from '../testing/sim/host.js';",
      'testing/sim/host.ts': "import { a } from '../../daemon/a.js';",
    });
    expect(testingViolations(g)).toEqual([
      "src/daemon/a.ts:1 imports type '../testing/sim/host.js': only src/testing/ imports src/testing/",
    ]);
  });

  it('(d) refuses anything outside src/cli/ importing it, src/testing/ included', () => {
    const g = made({
      'testing/lab/a.ts': "import { main } from '../../cli/twin6d.js';",
      'cli/twin6d.ts': "import { x } from './args.js';",
      'cli/args.ts': '',
    });
    expect(cliViolations(g)).toEqual(["src/testing/lab/a.ts:1 imports '../../cli/twin6d.js': only src/cli/ imports src/cli/"]);
  });

  it('(e) refuses an import its row does not name, one past a named module, and a module in no layer', () => {
    const table: LayerRule[] = [
      { layer: 'config', imports: ['wire'] },
      { layer: 'wire', imports: [] },
      { layer: 'failover', imports: ['daemon/host.ts'] },
      { layer: 'daemon', imports: [] },
    ];
    const g = made({
      'config/mqtt.ts': "import { DEVICE_ID_RE } from '../mgmt/topics.js';\nimport { a } from '../wire/a.js';",
      'mgmt/topics.ts': '',
      'wire/a.ts': '',
      'failover/x.ts': "import type { FailoverHost } from '../daemon/host.js';\nimport type { Daemon } from '../daemon/daemon.js';",
      'daemon/host.ts': '',
      'daemon/daemon.ts': "import { b } from './host.js';",
      'stray.ts': '',
    });
    expect(layerViolations(g, table)).toEqual([
      'src/mgmt/topics.ts: in no layer of docs/architecture.md §2 (config, wire, failover, daemon)',
      'src/stray.ts: in no layer of docs/architecture.md §2 (config, wire, failover, daemon)',
      "src/config/mqtt.ts:1 imports '../mgmt/topics.js': config/ may import wire (docs/architecture.md §2)",
      "src/failover/x.ts:2 imports type '../daemon/daemon.js': failover/ may import daemon/host.ts (docs/architecture.md §2)",
    ]);
  });

  it('(e) reads the layer table of a doc: backquoted names per row, — for none', () => {
    const doc = [
      '| folder | owns | imports (of ours) |',
      '|---|---|---|',
      '| `wire/` | the codec | — |',
      '| `engine/` | logic, `FailoverPolicy` | `wire`, `config/types.ts` (types only) |',
      '',
      '| folder | what | run with |',
      '|---|---|---|',
      '| `testing/sim/` | the simulation | `npm run sim` |',
    ].join('\n');
    expect(layerTableOf(doc)).toEqual([
      { layer: 'wire', imports: [] },
      { layer: 'engine', imports: ['wire', 'config/types.ts'] },
    ]);
  });
});

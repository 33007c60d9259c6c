#!/usr/bin/env node
// Prints the directories (relative to ROOT) of the packages twin6 needs at run
// time: package.json "dependencies", followed transitively, resolved the way
// Node resolves them (nearest node_modules up the tree). devDependencies are
// never followed, so the image carries no compiler, test runner or types.
// Walking what is installed (not `npm ci --omit=dev`) keeps the build offline.
//
// With package names after ROOT, only those (as installed at the top of
// ROOT/node_modules) and what they need: the addons the bundle leaves out (scripts/image/bundle.mjs).
//
// usage: prod-deps.mjs ROOT [PACKAGE…]

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const [root, ...only] = process.argv.slice(2);
if (!root) {
  process.stderr.write('usage: prod-deps.mjs ROOT [PACKAGE…]\n');
  process.exit(2);
}

const manifest = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

/** Where `name` resolves from a package in `from`: from/node_modules/name, then up the tree. */
function resolvePackage(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return undefined;
  }
}

const found = new Set();
const missing = [];
function visit(dir, optional) {
  const m = manifest(dir);
  const deps = { ...(m.dependencies ?? {}) };
  const opt = new Set(Object.keys(m.optionalDependencies ?? {}));
  for (const name of Object.keys({ ...deps, ...(m.optionalDependencies ?? {}) })) {
    const at = resolvePackage(name, dir);
    if (!at) {
      // An optional dependency for another platform is legitimately absent.
      if (!opt.has(name) && !optional) missing.push(`${name} (needed by ${relative(root, dir) || 'twin6'})`);
      continue;
    }
    if (found.has(at)) continue;
    found.add(at);
    visit(at, opt.has(name));
  }
}

if (only.length === 0) visit(root, false);
for (const name of only) {
  const at = resolvePackage(name, root);
  if (!at) missing.push(`${name} (asked for)`);
  else if (!found.has(at)) {
    found.add(at);
    visit(at, false);
  }
}
if (missing.length > 0) {
  process.stderr.write(`prod-deps.mjs: not installed (run npm ci): ${missing.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write(
  [...found]
    .map((d) => relative(root, d))
    .sort()
    .join('\n') + '\n',
);

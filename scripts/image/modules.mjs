#!/usr/bin/env node
// Prints, in load order, the .ko files (relative to MODDIR) that the named
// modules need, dependencies first. Debian's kernel package ships no
// modules.dep (depmod runs in its postinst, which we never run: the kernel is
// only unpacked), so the order comes from each module's own .modinfo
// "depends=" entry.
//
// usage: modules.mjs MODDIR NAME...   (names as modprobe spells them; - and _ are equal)

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const [moddir, ...wanted] = process.argv.slice(2);
if (!moddir || wanted.length === 0) {
  process.stderr.write('usage: modules.mjs MODDIR NAME...\n');
  process.exit(2);
}

const norm = (n) => n.replace(/-/g, '_');

/** name -> absolute path of every .ko under the tree. */
const byName = new Map();
(function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.ko')) byName.set(norm(e.name.slice(0, -3)), p);
  }
})(moddir);

/** The modinfo strings are NUL-separated key=value pairs somewhere in the file. */
function depends(path) {
  const text = readFileSync(path).toString('latin1');
  const m = /\0depends=([^\0]*)\0/.exec(text) ?? /^depends=([^\0]*)\0/.exec(text);
  return m && m[1] ? m[1].split(',').filter(Boolean).map(norm) : [];
}

const order = [];
const state = new Map(); // name -> 'visiting' | 'done'
function visit(name, chain) {
  const s = state.get(name);
  if (s === 'done') return;
  if (s === 'visiting') throw new Error(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
  const path = byName.get(name);
  if (!path) throw new Error(`module ${name} not found under ${moddir}${chain.length ? ` (needed by ${chain.at(-1)})` : ''}`);
  state.set(name, 'visiting');
  for (const d of depends(path)) visit(d, [...chain, name]);
  state.set(name, 'done');
  order.push(relative(moddir, path));
}

try {
  for (const w of wanted) visit(norm(w), []);
} catch (e) {
  process.stderr.write(`modules.mjs: ${e.message}\n`);
  process.exit(1);
}
process.stdout.write(order.join('\n') + '\n');

#!/usr/bin/env node
// ELF checks for the image build, readable on any host (no ldd, readelf or
// file needed, and no foreign-architecture binary ever run):
//
//   elf.mjs check ARCH PATH...     every ELF file under the PATHs (files or
//                                  directories) is for ARCH (x86_64 or
//                                  aarch64); prints each offender and exits 1
//                                  otherwise. The guard that no x86 .node (or
//                                  library, or module) ends up in an arm64 image.
//   elf.mjs libs SYSROOT FILE...   prints, one per line, "SOURCE TARGET" for the
//                                  interpreter and every shared library the
//                                  FILEs need, transitively: TARGET is the path
//                                  the loader asks for, SOURCE the file under
//                                  SYSROOT it resolves to (symlinks followed
//                                  inside SYSROOT). A library not in SYSROOT is
//                                  an error that names it.
//
// Only 64-bit little-endian ELF: the two architectures twin6 runs on.

import { existsSync, lstatSync, openSync, readSync, closeSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

const MACHINES = { 62: 'x86_64', 183: 'aarch64' };
const TRIPLETS = { x86_64: 'x86_64-linux-gnu', aarch64: 'aarch64-linux-gnu' };

function readAt(fd, pos, len) {
  const b = Buffer.alloc(len);
  const n = readSync(fd, b, 0, len, pos);
  return b.subarray(0, n);
}

/** undefined for a file that is not ELF at all. */
function readElf(path) {
  const fd = openSync(path, 'r');
  try {
    const h = readAt(fd, 0, 64);
    if (h.length < 20 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const machine = h.readUInt16LE(18);
    const elf = { path, class: h[4], data: h[5], machine, arch: MACHINES[machine] ?? `e_machine ${machine}` };
    if (h[4] !== 2 || h[5] !== 1 || h.length < 64)
      return { ...elf, arch: `${h[4] === 1 ? '32' : '?'}-bit ${h[5] === 2 ? 'big' : 'little'}-endian ${elf.arch}` };
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = [];
    for (let i = 0; i < phnum; i++) {
      const p = readAt(fd, phoff + i * phentsize, 56);
      ph.push({
        type: p.readUInt32LE(0),
        offset: Number(p.readBigUInt64LE(8)),
        vaddr: Number(p.readBigUInt64LE(16)),
        filesz: Number(p.readBigUInt64LE(32)),
      });
    }
    const interp = ph.find((p) => p.type === 3);
    elf.interp = interp ? readAt(fd, interp.offset, interp.filesz).toString('latin1').replace(/\0.*$/s, '') : undefined;
    elf.needed = [];
    const dyn = ph.find((p) => p.type === 2);
    if (dyn) {
      const d = readAt(fd, dyn.offset, dyn.filesz);
      const entries = [];
      for (let o = 0; o + 16 <= d.length; o += 16) {
        const tag = Number(d.readBigInt64LE(o));
        if (tag === 0) break;
        entries.push([tag, Number(d.readBigUInt64LE(o + 8))]);
      }
      const strtabVaddr = entries.find(([t]) => t === 5)?.[1];
      // DT_STRTAB is an address: map it to the file through the PT_LOAD that holds it.
      const load = ph.find((p) => p.type === 1 && strtabVaddr !== undefined && strtabVaddr >= p.vaddr && strtabVaddr < p.vaddr + p.filesz);
      if (load) {
        const str = (off) => {
          const b = readAt(fd, load.offset + (strtabVaddr - load.vaddr) + off, 256);
          return b.toString('latin1').replace(/\0.*$/s, '');
        };
        elf.needed = entries.filter(([t]) => t === 1).map(([, v]) => str(v));
      }
    }
    return elf;
  } finally {
    closeSync(fd);
  }
}

function* walk(path) {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    for (const e of readdirSync(path).sort()) yield* walk(join(path, e));
  } else if (st.isFile()) {
    yield path;
  }
}

/** `target` (absolute, as the guest sees it) resolved under sysroot, following symlinks inside it. */
function resolveIn(sysroot, target, depth = 0) {
  if (depth > 40) throw new Error(`too many symlinks resolving ${target} in ${sysroot}`);
  const parts = posix.normalize(target).split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = posix.join(cur, parts[i]);
    const host = join(sysroot, next);
    if (!existsSync(host) && !isLink(host)) return undefined;
    if (isLink(host)) {
      const l = readlinkSync(host);
      const rest = parts.slice(i + 1).join('/');
      const base = l.startsWith('/') ? l : posix.join(cur, l);
      return resolveIn(sysroot, rest ? posix.join(base, rest) : base, depth + 1);
    }
    cur = next;
  }
  return cur;
}
function isLink(p) {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function check(arch, paths) {
  if (!Object.values(MACHINES).includes(arch)) throw new Error(`unknown arch ${arch} (x86_64 or aarch64)`);
  const bad = [];
  let n = 0;
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`${p} does not exist`);
    for (const f of walk(p)) {
      const e = readElf(f);
      if (!e) continue;
      n++;
      if (e.arch !== arch) bad.push(`${f}: ${e.arch}, not ${arch}`);
    }
  }
  if (bad.length > 0) throw new Error(`${bad.length} ELF file(s) of the wrong architecture:\n  ${bad.join('\n  ')}`);
  process.stderr.write(`elf.mjs: ${n} ELF files, all ${arch}\n`);
}

function libs(sysroot, files) {
  const out = new Map(); // target -> source
  const queue = [];
  let arch;
  for (const f of files) {
    const e = readElf(f);
    if (!e) throw new Error(`${f} is not ELF`);
    arch ??= e.arch;
    if (e.arch !== arch) throw new Error(`${f} is ${e.arch}, the others ${arch}`);
    queue.push(e);
  }
  const triplet = TRIPLETS[arch];
  if (!triplet) throw new Error(`no library layout known for ${arch}`);
  // Debian's multiarch directories, then the plain ones (the loader's default order).
  const dirs = [`/lib/${triplet}`, `/usr/lib/${triplet}`, '/lib', '/usr/lib'];
  const add = (target, why) => {
    if (out.has(target)) return;
    const src = resolveIn(sysroot, target);
    if (!src || !statSync(join(sysroot, src)).isFile()) throw new Error(`${target} (needed by ${why}) is not in ${sysroot}`);
    out.set(target, join(sysroot, src));
    const e = readElf(join(sysroot, src));
    if (!e || e.arch !== arch) throw new Error(`${join(sysroot, src)} is ${e?.arch ?? 'not ELF'}, not ${arch}`);
    queue.push(e);
  };
  while (queue.length > 0) {
    const e = queue.shift();
    if (e.interp) add(e.interp, e.path);
    for (const soname of e.needed) {
      if (soname.includes('/')) {
        add(soname, e.path);
        continue;
      }
      const dir = dirs.find((d) => resolveIn(sysroot, `${d}/${soname}`) !== undefined);
      if (!dir)
        throw new Error(`${soname} (needed by ${e.path}) is in none of ${dirs.join(', ')} under ${sysroot}: add the package that has it`);
      add(`${dir}/${soname}`, e.path);
    }
  }
  for (const [target, src] of out) process.stdout.write(`${src} ${target}\n`);
}

const [cmd, first, ...rest] = process.argv.slice(2);
try {
  if (cmd === 'check' && first && rest.length > 0) check(first, rest);
  else if (cmd === 'libs' && first && rest.length > 0) libs(first, rest);
  else {
    process.stderr.write('usage: elf.mjs check ARCH PATH... | elf.mjs libs SYSROOT FILE...\n');
    process.exit(2);
  }
} catch (e) {
  process.stderr.write(`elf.mjs: ${e.message}\n`);
  process.exit(1);
}

#!/usr/bin/env node
// Writes a firmware update bundle (src/firmware/bundle.ts has the layout) from
// a built image's parts, signed by a release key: what an appliance downloads
// and checks before it writes its inactive boot slot (issue #14 item 3).
// The parts are streamed (a root is tens of MiB), hashed once to fill the
// manifest and again as they are copied, so a part changed in between is
// caught; the finished file is then checked by the device's own verifier.
// Needs dist/ (npm run build).
//
// usage: make-bundle.mjs --dir BUILD_OUT --key RELEASE_KEY.pem --board ID --version TEXT
//                        --release TEXT --store-format N --kernel-args TEXT --out FILE
//          reads BUILD_OUT/{vmlinuz,initrd.gz,rootfs.squashfs}, writes FILE and prints
//          {"file","bytes","sha256","keyId","version"} as one JSON line.
//          `created` is SOURCE_DATE_EPOCH when set (a reproducible build), else now.
//        make-bundle.mjs --gen-key FILE.pem
//          creates an Ed25519 release key (PKCS8 PEM, mode 0600) unless FILE exists,
//          and prints its public key text either way: what the image pins.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BUNDLE_OPTIONAL_PARTS,
  BUNDLE_PART_NAMES,
  encodeBundleHeader,
  encodeManifest,
  releaseKeyId,
  signManifest,
} from '../../dist/firmware/bundle.js';
import { verifyBundleFile } from '../../dist/firmware/bundle-file.js';
import { commandKeyText } from '../../dist/mgmt/signature.js';

const USAGE =
  'usage: make-bundle.mjs --dir BUILD_OUT --key RELEASE_KEY.pem --board ID --version TEXT --release TEXT --store-format N --kernel-args TEXT --out FILE\n' +
  '       make-bundle.mjs --gen-key FILE.pem\n';
const COPY_CHUNK_BYTES = 1024 * 1024;

function die(message, code = 1) {
  process.stderr.write(`make-bundle.mjs: ${message}\n`);
  process.exit(code);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      dir: { type: 'string' },
      key: { type: 'string' },
      board: { type: 'string' },
      version: { type: 'string' },
      release: { type: 'string' },
      'store-format': { type: 'string' },
      'kernel-args': { type: 'string' },
      out: { type: 'string' },
      'gen-key': { type: 'string' },
    },
  }));
} catch (e) {
  die(`${e.message}\n${USAGE}`, 2);
}

function loadKey(path) {
  let key;
  try {
    key = createPrivateKey(readFileSync(path));
  } catch (e) {
    die(`cannot read the release key ${path}: ${e.message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') die(`${path} is an ${key.asymmetricKeyType} key; a release key is Ed25519`);
  return key;
}

function genKey(path) {
  if (!existsSync(path)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    // wx: never overwrite a release key, even one created since the check above.
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    process.stderr.write(`make-bundle.mjs: created ${path}\n`);
  }
  const key = loadKey(path);
  process.stderr.write(`make-bundle.mjs: release key id ${releaseKeyId(key)}\n`);
  process.stdout.write(`${commandKeyText(createPublicKey(key))}\n`);
}

async function hashFile(path) {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: COPY_CHUNK_BYTES })) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

function createdTime() {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch === undefined || epoch === '') return new Date().toISOString();
  if (!/^\d{1,12}$/.test(epoch)) die(`SOURCE_DATE_EPOCH must be Unix seconds, got ${JSON.stringify(epoch)}`);
  return new Date(Number(epoch) * 1000).toISOString();
}

/** Header, then each part copied and hashed again: it must be the part the manifest describes. */
async function writeBundle(out, header, dir, parts) {
  const whole = createHash('sha256').update(header);
  const fh = await open(out, 'w', 0o644);
  try {
    await fh.write(header);
    for (const part of parts) {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of createReadStream(join(dir, part.name), { highWaterMark: COPY_CHUNK_BYTES })) {
        await fh.write(chunk);
        whole.update(chunk);
        hash.update(chunk);
        size += chunk.length;
      }
      if (size !== part.size || hash.digest('hex') !== part.sha256) throw new Error(`${part.name} changed while the bundle was written`);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return whole.digest('hex');
}

async function makeBundle(v) {
  for (const k of ['dir', 'key', 'board', 'version', 'release', 'store-format', 'kernel-args', 'out']) {
    if (v[k] === undefined) die(`--${k} is required\n${USAGE}`, 2);
  }
  if (!/^[1-9]\d{0,8}$/.test(v['store-format']))
    die(`--store-format must be a positive integer, got ${JSON.stringify(v['store-format'])}`, 2);
  const key = loadKey(v.key);
  const parts = [];
  for (const name of BUNDLE_PART_NAMES) {
    const path = join(v.dir, name);
    if (!(await stat(path).catch(() => undefined))?.isFile()) die(`${path} is missing`);
    parts.push({ name, ...(await hashFile(path)) });
  }
  // A board that loads its DTB from the boot partition (sd-image.sh leaves it in the build directory).
  for (const name of BUNDLE_OPTIONAL_PARTS) {
    const path = join(v.dir, name);
    if ((await stat(path).catch(() => undefined))?.isFile()) parts.push({ name, ...(await hashFile(path)) });
  }
  const manifest = {
    v: 1,
    board: v.board,
    version: v.version,
    release: v.release,
    storeFormat: Number(v['store-format']),
    created: createdTime(),
    kernelArgs: v['kernel-args'],
    parts,
  };
  const signature = signManifest(encodeManifest(manifest), key);
  let header;
  try {
    header = encodeBundleHeader(manifest, signature);
  } catch (e) {
    // The encoder refuses a header the device would refuse: a bad --board, --version, ….
    die(e.message.replace(/^encodeBundleHeader: /, ''));
  }

  const tmp = `${v.out}.tmp`;
  try {
    const sha256 = await writeBundle(tmp, header, v.dir, parts);
    const keys = new Map([[signature.keyId, createPublicKey(key)]]);
    const check = await verifyBundleFile(tmp, { sha256, keys, board: v.board, version: v.version });
    if (!check.ok) throw new Error(`the device would refuse this bundle: ${check.code}: ${check.problem}`);
    await rename(tmp, v.out);
    const bytes = (await stat(v.out)).size;
    process.stdout.write(`${JSON.stringify({ file: v.out, bytes, sha256, keyId: signature.keyId, version: v.version })}\n`);
  } catch (e) {
    process.exitCode = 1;
    process.stderr.write(`make-bundle.mjs: ${e.message}\n`);
  } finally {
    await rm(tmp, { force: true });
  }
}

if (values['gen-key'] !== undefined) genKey(values['gen-key']);
else await makeBundle(values);

// Checks a downloaded update bundle (bundle.ts) before anything is written to
// the inactive boot slot, and loads the release keys the image pins.
// The file is ~50 MiB on a device with 256 MiB of RAM: it is read once, in
// READ_CHUNK_BYTES pieces through one buffer, never whole.

import { createHash, type Hash, type KeyObject } from 'node:crypto';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCommandKey } from '../mgmt/signature.js';
import {
  BUNDLE_PREFIX_BYTES,
  bundleHeaderLength,
  decodeBundleHeader,
  releaseKeyId,
  verifyBundleSignature,
  type BundleHeader,
  type BundleProblem,
} from './bundle.js';

/** The one read buffer of a verification. */
const READ_CHUNK_BYTES = 256 * 1024;
/** At most this many *.pub files are read from the release key directory. */
export const RELEASE_KEY_FILES_MAX = 32;
/** A key file holds base64 of 32 bytes and a newline; anything much longer is not one. */
const KEY_FILE_BYTES_MAX = 1024;

export type BundleFileCode =
  'HASH_MISMATCH' | 'BAD_BUNDLE' | 'BAD_SIGNATURE' | 'WRONG_BOARD' | 'WRONG_VERSION' | 'TRUNCATED' | 'READ_FAILED';

export type BundleFileVerdict =
  { readonly ok: true; readonly header: BundleHeader } | { readonly ok: false; readonly code: BundleFileCode; readonly problem: string };

export interface VerifyBundleOptions {
  /** The whole file's SHA-256 from the operator's command (hex). */
  readonly sha256: string;
  /** The pinned release keys, keyId → public key (loadReleaseKeys). */
  readonly keys: ReadonlyMap<string, KeyObject>;
  /** This device's board id: a bundle for another board is refused. */
  readonly board: string;
  /** The target version the command names, when it names one. */
  readonly version?: string;
}

const fail = (code: BundleFileCode, problem: string): BundleFileVerdict => ({ ok: false, code, problem });

/**
 * Verifies a bundle file, in this order: its length against the header's,
 * the whole file's SHA-256 against the command's, the header, the release
 * signature, the board, the version, each part's SHA-256 against the signed
 * manifest. The whole-file hash comes before the header's own checks so that
 * a corrupted or wrong download says so rather than "bad bundle".
 * An I/O error reading the file is READ_FAILED (a failing disk is an
 * operating error, docs/style.md §2.3); nothing is thrown.
 */
export async function verifyBundleFile(path: string, opts: VerifyBundleOptions): Promise<BundleFileVerdict> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    return await verifyOpen(fh, opts);
  } catch (e) {
    return fail('READ_FAILED', `cannot read ${path}: ${(e as Error).message}`);
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

async function verifyOpen(fh: FileHandle, opts: VerifyBundleOptions): Promise<BundleFileVerdict> {
  const fileBytes = (await fh.stat()).size;
  const head = await readHeader(fh, fileBytes);
  if ('truncated' in head) return fail('TRUNCATED', head.truncated);
  const header = 'problem' in head.decoded ? undefined : head.decoded;
  if (header && fileBytes < header.totalBytes) {
    return fail('TRUNCATED', `the file has ${fileBytes} bytes, the bundle's header says ${header.totalBytes}`);
  }
  if (header && fileBytes > header.totalBytes) {
    return fail('BAD_BUNDLE', `the file has ${fileBytes} bytes, ${fileBytes - header.totalBytes} more than the bundle's header says`);
  }

  const hashes = await hashFile(fh, fileBytes, header);
  if ('truncated' in hashes) return fail('TRUNCATED', hashes.truncated);
  if (hashes.whole !== opts.sha256.toLowerCase()) {
    return fail('HASH_MISMATCH', `the file's SHA-256 is ${hashes.whole}, the command says ${opts.sha256}`);
  }
  if (!header) return fail('BAD_BUNDLE', (head.decoded as BundleProblem).problem);

  const sig = verifyBundleSignature(header, opts.keys);
  if (!sig.ok) return fail('BAD_SIGNATURE', sig.problem);
  const { board, version } = header.manifest;
  if (board !== opts.board) return fail('WRONG_BOARD', `the bundle is for board "${board}", this device is "${opts.board}"`);
  if (opts.version !== undefined && version !== opts.version) {
    return fail('WRONG_VERSION', `the bundle is version "${version}", the command names "${opts.version}"`);
  }
  for (const [i, p] of header.parts.entries()) {
    if (hashes.parts[i] !== p.sha256) {
      return fail('BAD_BUNDLE', `part ${p.name}: SHA-256 is ${hashes.parts[i]}, the signed manifest says ${p.sha256}`);
    }
  }
  return { ok: true, header };
}

/** The header, decoded or with its problem; `truncated` when the file ends before the header does. */
async function readHeader(
  fh: FileHandle,
  fileBytes: number,
): Promise<{ readonly decoded: BundleHeader | BundleProblem } | { readonly truncated: string }> {
  if (fileBytes < BUNDLE_PREFIX_BYTES)
    return { truncated: `the file has ${fileBytes} bytes, a bundle's header at least ${BUNDLE_PREFIX_BYTES}` };
  const prefix = await readAt(fh, BUNDLE_PREFIX_BYTES, 0);
  const headerBytes = bundleHeaderLength(prefix);
  if (typeof headerBytes !== 'number') return { decoded: headerBytes };
  if (fileBytes < headerBytes) return { truncated: `the file has ${fileBytes} bytes, the bundle's header alone ${headerBytes}` };
  // headerBytes is bounded by bundleHeaderLength: at most 16 + 64 KiB + 4 KiB.
  return { decoded: decodeBundleHeader(await readAt(fh, headerBytes, 0)) };
}

async function readAt(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/**
 * One pass over the file's first `fileBytes` bytes: the whole file's SHA-256
 * and, when the header decoded, each part's (in manifest order) by offset.
 */
async function hashFile(
  fh: FileHandle,
  fileBytes: number,
  header: BundleHeader | undefined,
): Promise<{ readonly whole: string; readonly parts: readonly string[] } | { readonly truncated: string }> {
  const whole = createHash('sha256');
  const parts: { readonly start: number; readonly end: number; readonly hash: Hash }[] = (header?.parts ?? []).map((p) => ({
    start: p.offset,
    end: p.offset + p.size,
    hash: createHash('sha256'),
  }));
  const buf = Buffer.alloc(Math.min(READ_CHUNK_BYTES, Math.max(fileBytes, 1)));
  // Bounded by the length taken from fstat: a file growing meanwhile is not read past it.
  for (let pos = 0; pos < fileBytes;) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, fileBytes - pos), pos);
    if (bytesRead === 0) return { truncated: `the file shrank to ${pos} bytes while it was read` };
    const chunk = buf.subarray(0, bytesRead);
    whole.update(chunk);
    for (const p of parts) {
      const from = Math.max(p.start, pos);
      const to = Math.min(p.end, pos + bytesRead);
      if (from < to) p.hash.update(chunk.subarray(from - pos, to - pos));
    }
    pos += bytesRead;
  }
  return { whole: whole.digest('hex'), parts: parts.map((p) => p.hash.digest('hex')) };
}

/**
 * The release keys pinned in the image: every `*.pub` file in `dir` holds one
 * Ed25519 public key as text (base64 of its 32 bytes, like mqtt.commandKeys).
 * Each key's id is computed from the key, not taken from the file's name, so
 * a renamed file cannot stand in for another key. A file that is not a key,
 * or a key already loaded, is a problem; the other keys still load.
 */
export async function loadReleaseKeys(dir: string): Promise<{ keys: Map<string, KeyObject>; problems: string[] }> {
  const keys = new Map<string, KeyObject>();
  const problems: string[] = [];
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.pub')).sort();
  } catch (e) {
    return { keys, problems: [`cannot read release key directory ${dir}: ${(e as Error).message}`] };
  }
  if (names.length > RELEASE_KEY_FILES_MAX) {
    problems.push(`${names.length} key files in ${dir}; only the first ${RELEASE_KEY_FILES_MAX} (by name) are read`);
    names = names.slice(0, RELEASE_KEY_FILES_MAX);
  }
  const fromFile = new Map<string, string>();
  for (const name of names) {
    const text = await readSmall(join(dir, name));
    if (typeof text !== 'string') {
      problems.push(`${name}: ${text.problem}`);
      continue;
    }
    const key = parseCommandKey(text);
    if ('problem' in key) {
      problems.push(`${name}: ${key.problem}`);
      continue;
    }
    const id = releaseKeyId(key);
    const already = fromFile.get(id);
    if (already !== undefined) {
      problems.push(`${name}: the same key as ${already} (${id})`);
      continue;
    }
    fromFile.set(id, name);
    keys.set(id, key);
  }
  return { keys, problems };
}

async function readSmall(path: string): Promise<string | BundleProblem> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const buf = Buffer.alloc(KEY_FILE_BYTES_MAX + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > KEY_FILE_BYTES_MAX) return { problem: `longer than ${KEY_FILE_BYTES_MAX} bytes: not a key file` };
    return buf.toString('utf8', 0, bytesRead);
  } catch (e) {
    return { problem: `cannot read: ${(e as Error).message}` };
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

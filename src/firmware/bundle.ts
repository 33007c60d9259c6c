// The firmware update bundle (issue #14 item 3): one file holding the three
// parts a boot slot needs, a manifest describing them and a release-key
// signature over the manifest. The device checks the whole file's SHA-256
// (given by the operator's command), this signature (by a release key pinned
// in the image) and each part's SHA-256 (in the signed manifest) before it
// writes anything to its inactive slot. This module is the pure codec:
// Buffers in and out, no file system, no clock.
//
// Layout, integers big-endian:
//
//   0        8 bytes  magic "TWIN6FW1"
//   8        u32      manifest length M (at most MANIFEST_BYTES_MAX)
//   12       u32      signature block length S (at most SIGNATURE_BYTES_MAX)
//   16       M bytes  manifest, UTF-8 JSON (BundleManifest)
//   16+M     S bytes  signature block, UTF-8 JSON (BundleSignature):
//                     {"keyId": releaseKeyId(key), "alg": "Ed25519", "sig": base64 of the
//                     64-byte Ed25519 signature over the manifest's exact M bytes}
//   16+M+S            the parts, concatenated in the manifest's order, no padding
//
// The signature covers the manifest's bytes as written, not a re-serialisation,
// so the device never has to reproduce the signer's JSON. The manifest carries
// each part's size and SHA-256, so the signature covers the parts through it.

import assert from 'node:assert';
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { commandKeyText } from '../mgmt/signature.js';

export const BUNDLE_MAGIC = 'TWIN6FW1';
/** Magic and the two lengths: what a reader takes first to learn the header's length. */
export const BUNDLE_PREFIX_BYTES = 16;
export const MANIFEST_BYTES_MAX = 64 * 1024;
export const SIGNATURE_BYTES_MAX = 4 * 1024;

/** The parts of a boot slot, each exactly once in a manifest. */
export const BUNDLE_PART_NAMES = ['vmlinuz', 'initrd.gz', 'rootfs.squashfs'] as const;
/** Parts only some boards have, at most once: the DTB a board's boot script loads from the boot partition (nanopc-t4). */
export const BUNDLE_OPTIONAL_PARTS = ['board.dtb'] as const;
export type BundlePartName = (typeof BUNDLE_PART_NAMES)[number] | (typeof BUNDLE_OPTIONAL_PARTS)[number];
const ALL_PART_NAMES: readonly string[] = [...BUNDLE_PART_NAMES, ...BUNDLE_OPTIONAL_PARTS];

export interface BundlePart {
  readonly name: BundlePartName;
  /** Bytes. */
  readonly size: number;
  /** 64 lowercase hex digits. */
  readonly sha256: string;
}

export interface BundleManifest {
  readonly v: 1;
  /** Board id, e.g. "qemu-x86_64": a bundle for one board never boots on another. */
  readonly board: string;
  /** The release's version text, what the operator names as the target version, e.g. "0.1.0+up1". */
  readonly version: string;
  /** The image's /etc/twin6-release line. */
  readonly release: string;
  /** Lease-store format version the image writes (positive integer). */
  readonly storeFormat: number;
  /** ISO 8601 time the bundle was made. */
  readonly created: string;
  /** The board's fixed kernel arguments for the boot entry. */
  readonly kernelArgs: string;
  readonly parts: readonly BundlePart[];
}

export interface BundleSignature {
  /** releaseKeyId() of the signing key. */
  readonly keyId: string;
  readonly alg: 'Ed25519';
  /** Base64 of the 64-byte signature over the manifest's exact bytes. */
  readonly sig: string;
}

export interface BundleHeader {
  readonly manifest: BundleManifest;
  readonly signature: BundleSignature;
  /** The manifest's bytes as they are in the file: what the signature covers. */
  readonly manifestBytes: Buffer;
  /** 16 + M + S: where the first part starts. */
  readonly headerBytes: number;
  /** The manifest's parts with their absolute offsets in the file. */
  readonly parts: readonly (BundlePart & { readonly offset: number })[];
  /** Header and parts: the file's exact length. */
  readonly totalBytes: number;
}

export type BundleProblem = { readonly problem: string };

// Bounds on the manifest's text fields: they end up in a boot entry, a
// release file and log lines, so no control characters and no unbounded text.
const BOARD_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const VERSION_RE = /^[\x21-\x7e]{1,128}$/;
const RELEASE_CHARS_MAX = 256;
const KERNEL_ARGS_CHARS_MAX = 1024;
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
const KEY_ID_RE = /^[0-9a-f]{16}$/;
const ED25519_SIG_BYTES = 64;

const MANIFEST_KEYS = ['v', 'board', 'version', 'release', 'storeFormat', 'created', 'kernelArgs', 'parts'];
const PART_KEYS = ['name', 'size', 'sha256'];
const SIGNATURE_KEYS = ['keyId', 'alg', 'sig'];

const problem = (text: string): BundleProblem => ({ problem: text });

/** The manifest's bytes as a bundle carries them: what signManifest signs and encodeBundleHeader writes. */
export function encodeManifest(manifest: BundleManifest): Buffer {
  return Buffer.from(JSON.stringify(manifest), 'utf8');
}

/**
 * The header of a bundle: magic, lengths, manifest and signature block. The
 * parts follow it in the file in the manifest's order. The signature must be
 * signManifest(encodeManifest(manifest)); a manifest the device would refuse
 * is a programmer error here (the bundle maker validates its inputs).
 */
export function encodeBundleHeader(manifest: BundleManifest, signature: BundleSignature): Buffer {
  const m = encodeManifest(manifest);
  const s = Buffer.from(JSON.stringify(signature), 'utf8');
  const prefix = Buffer.alloc(BUNDLE_PREFIX_BYTES);
  prefix.write(BUNDLE_MAGIC, 0, 'latin1');
  prefix.writeUInt32BE(m.length, 8);
  prefix.writeUInt32BE(s.length, 12);
  const out = Buffer.concat([prefix, m, s]);
  const check = decodeBundleHeader(out);
  assert(!('problem' in check), `encodeBundleHeader: the device would refuse this header: ${'problem' in check ? check.problem : ''}`);
  return out;
}

/**
 * The header's full length (16 + M + S) from its first 16 bytes, so a reader
 * knows how much more to read before decodeBundleHeader.
 */
export function bundleHeaderLength(prefix: Buffer): number | BundleProblem {
  if (prefix.length < BUNDLE_PREFIX_BYTES) return problem(`a bundle starts with ${BUNDLE_PREFIX_BYTES} bytes, got ${prefix.length}`);
  if (prefix.toString('latin1', 0, 8) !== BUNDLE_MAGIC) {
    return problem(`not a twin6 firmware bundle: magic is ${JSON.stringify(prefix.toString('latin1', 0, 8))}, expected "${BUNDLE_MAGIC}"`);
  }
  const m = prefix.readUInt32BE(8);
  const s = prefix.readUInt32BE(12);
  if (m > MANIFEST_BYTES_MAX) return problem(`manifest length ${m} is over the limit of ${MANIFEST_BYTES_MAX} bytes`);
  if (s > SIGNATURE_BYTES_MAX) return problem(`signature block length ${s} is over the limit of ${SIGNATURE_BYTES_MAX} bytes`);
  return BUNDLE_PREFIX_BYTES + m + s;
}

/** Decodes and validates a bundle's header from the file's first bytes (the parts may follow). Never throws. */
export function decodeBundleHeader(buf: Buffer): BundleHeader | BundleProblem {
  const headerBytes = bundleHeaderLength(buf);
  if (typeof headerBytes !== 'number') return headerBytes;
  if (buf.length < headerBytes) return problem(`the bundle header needs ${headerBytes} bytes, got ${buf.length}`);
  const m = buf.readUInt32BE(8);
  const manifestBytes = Buffer.from(buf.subarray(BUNDLE_PREFIX_BYTES, BUNDLE_PREFIX_BYTES + m));
  const manifestJson = parseJson(manifestBytes, 'manifest');
  if ('problem' in manifestJson) return manifestJson;
  const manifest = checkManifest(manifestJson.value);
  if ('problem' in manifest) return problem(`manifest: ${manifest.problem}`);
  const sigJson = parseJson(buf.subarray(BUNDLE_PREFIX_BYTES + m, headerBytes), 'signature block');
  if ('problem' in sigJson) return sigJson;
  const signature = checkSignature(sigJson.value);
  if ('problem' in signature) return problem(`signature block: ${signature.problem}`);

  let offset = headerBytes;
  const parts = manifest.parts.map((p) => {
    const at = { ...p, offset };
    offset += p.size;
    return at;
  });
  if (!Number.isSafeInteger(offset)) return problem(`manifest: the parts' sizes add up past ${Number.MAX_SAFE_INTEGER} bytes`);
  return { manifest, signature, manifestBytes, headerBytes, parts, totalBytes: offset };
}

function parseJson(bytes: Buffer, what: string): { value: unknown } | BundleProblem {
  try {
    // fatal: invalid UTF-8 is refused rather than read as replacement characters.
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    return { value: JSON.parse(text) as unknown };
  } catch (e) {
    return problem(`${what} is not UTF-8 JSON: ${(e as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Unknown keys are refused: the manifest is version 1, and a device that
 * cannot honour a field it does not know must not install the bundle; a new
 * field comes with a new `v`.
 */
function unknownKey(o: Record<string, unknown>, known: readonly string[]): string | undefined {
  return Object.keys(o).find((k) => !known.includes(k));
}

function checkText(o: Record<string, unknown>, key: string, ok: (s: string) => boolean, rule: string): string | undefined {
  const v = o[key];
  if (typeof v !== 'string') return `"${key}" must be a string, got ${typeName(v)}`;
  return ok(v) ? undefined : `"${key}" must be ${rule}, got ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
}

/** C0 controls and DEL: a newline in a release line or a boot entry would start another. */
const hasControl = (s: string): boolean => [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

function checkManifest(v: unknown): BundleManifest | BundleProblem {
  if (!isObject(v)) return problem(`must be a JSON object, got ${typeName(v)}`);
  const extra = unknownKey(v, MANIFEST_KEYS);
  if (extra !== undefined) return problem(`unknown key ${JSON.stringify(extra)} (manifest v1 has ${MANIFEST_KEYS.join(', ')})`);
  if (v['v'] !== 1) return problem(`"v" must be 1, got ${JSON.stringify(v['v']) ?? 'nothing'}`);
  const textProblem =
    checkText(v, 'board', (s) => BOARD_RE.test(s), 'a board id (letters, digits, ".", "_", "-"; at most 64)') ??
    checkText(v, 'version', (s) => VERSION_RE.test(s), 'printable ASCII without spaces, 1 to 128 characters') ??
    checkText(v, 'release', (s) => s.length > 0 && s.length <= RELEASE_CHARS_MAX && !hasControl(s), 'one line of 1 to 256 characters') ??
    checkText(v, 'created', (s) => ISO_TIME_RE.test(s) && !Number.isNaN(Date.parse(s)), 'an ISO 8601 time') ??
    checkText(v, 'kernelArgs', (s) => s.length <= KERNEL_ARGS_CHARS_MAX && !hasControl(s), 'one line of at most 1024 characters');
  if (textProblem !== undefined) return problem(textProblem);
  const storeFormat = v['storeFormat'];
  if (typeof storeFormat !== 'number' || !Number.isSafeInteger(storeFormat) || storeFormat < 1) {
    return problem(`"storeFormat" must be a positive integer, got ${JSON.stringify(storeFormat) ?? 'nothing'}`);
  }
  const parts = checkParts(v['parts']);
  if ('problem' in parts) return parts;
  return v as unknown as BundleManifest;
}

function checkParts(v: unknown): readonly BundlePart[] | BundleProblem {
  if (!Array.isArray(v)) return problem(`"parts" must be an array, got ${typeName(v)}`);
  if (v.length < BUNDLE_PART_NAMES.length || v.length > ALL_PART_NAMES.length) {
    return problem(
      `"parts" must list ${BUNDLE_PART_NAMES.join(', ')} once each (and ${BUNDLE_OPTIONAL_PARTS.join(', ')} at most once), got ${v.length} entries`,
    );
  }
  const seen = new Set<string>();
  for (const [i, p] of (v as unknown[]).entries()) {
    const at = `parts[${i}]`;
    if (!isObject(p)) return problem(`${at} must be an object, got ${typeName(p)}`);
    const extra = unknownKey(p, PART_KEYS);
    if (extra !== undefined) return problem(`${at}: unknown key ${JSON.stringify(extra)}`);
    const name = p['name'];
    if (typeof name !== 'string' || !ALL_PART_NAMES.includes(name)) {
      return problem(`${at}.name must be one of ${ALL_PART_NAMES.join(', ')}, got ${JSON.stringify(name) ?? 'nothing'}`);
    }
    if (seen.has(name)) return problem(`${at}: part "${name}" is listed twice`);
    seen.add(name);
    const size = p['size'];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      return problem(`${at}.size must be a non-negative integer, got ${JSON.stringify(size) ?? 'nothing'}`);
    }
    const sha = checkText(p, 'sha256', (s) => SHA256_RE.test(s), '64 lowercase hex digits');
    if (sha !== undefined) return problem(`${at}: ${sha}`);
  }
  const missing = BUNDLE_PART_NAMES.find((n) => !seen.has(n));
  if (missing !== undefined) return problem(`"parts" has no "${missing}"`);
  return v as BundlePart[];
}

function checkSignature(v: unknown): BundleSignature | BundleProblem {
  if (!isObject(v)) return problem(`must be a JSON object, got ${typeName(v)}`);
  const extra = unknownKey(v, SIGNATURE_KEYS);
  if (extra !== undefined) return problem(`unknown key ${JSON.stringify(extra)}`);
  if (v['alg'] !== 'Ed25519') return problem(`"alg" must be "Ed25519", got ${JSON.stringify(v['alg']) ?? 'nothing'}`);
  const textProblem =
    checkText(v, 'keyId', (s) => KEY_ID_RE.test(s), '16 lowercase hex digits') ??
    checkText(v, 'sig', (s) => isCanonicalBase64(s, ED25519_SIG_BYTES), `base64 of ${ED25519_SIG_BYTES} bytes`);
  if (textProblem !== undefined) return problem(textProblem);
  return v as unknown as BundleSignature;
}

function isCanonicalBase64(s: string, bytes: number): boolean {
  if (s.length !== Math.ceil(bytes / 3) * 4) return false;
  const raw = Buffer.from(s, 'base64');
  return raw.length === bytes && raw.toString('base64') === s;
}

/** A release key's id: the first 16 hex digits of the SHA-256 of its raw 32 bytes. */
export function releaseKeyId(publicKey: KeyObject): string {
  const raw = Buffer.from(commandKeyText(publicKey), 'base64');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** Release side: the signature block for a manifest's exact bytes. */
export function signManifest(manifestBytes: Buffer, privateKey: KeyObject): BundleSignature {
  return { keyId: releaseKeyId(privateKey), alg: 'Ed25519', sig: sign(null, manifestBytes, privateKey).toString('base64') };
}

/** Device side: the header's signature by one of the pinned release keys (keyId → public key). */
export function verifyBundleSignature(
  header: BundleHeader,
  keys: ReadonlyMap<string, KeyObject>,
): { readonly ok: true; readonly keyId: string } | { readonly ok: false; readonly problem: string } {
  const { keyId } = header.signature;
  const key = keys.get(keyId);
  if (key === undefined) {
    const pinned = [...keys.keys()].join(', ') || 'none';
    return { ok: false, problem: `signed by release key ${keyId}, which this image does not pin (pinned: ${pinned})` };
  }
  let good: boolean;
  try {
    good = verify(null, header.manifestBytes, key, Buffer.from(header.signature.sig, 'base64'));
  } catch (e) {
    return { ok: false, problem: `release key ${keyId} cannot verify: ${(e as Error).message}` };
  }
  return good ? { ok: true, keyId } : { ok: false, problem: `the manifest's signature does not verify against release key ${keyId}` };
}

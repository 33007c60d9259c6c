// Bundles for the firmware tests, built by hand from the layout in
// src/firmware/bundle.ts's head comment (docs/style.md §3.2: the fixtures do
// not come from the encoder under test).

import { createHash, sign, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { commandKeyText } from '../../../src/mgmt/signature.js';

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** The key id computed here from the raw key, independently of releaseKeyId. */
export const keyIdOf = (key: KeyObject): string => sha256(Buffer.from(commandKeyText(key), 'base64')).slice(0, 16);

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** magic, M, S, manifest, signature block: the header exactly as the layout says. */
export function handHeader(manifestText: string | Buffer, signatureText: string | Buffer): Buffer {
  const m = Buffer.from(manifestText);
  const s = Buffer.from(signatureText);
  return Buffer.concat([Buffer.from('TWIN6FW1', 'latin1'), u32(m.length), u32(s.length), m, s]);
}

export interface Parts {
  readonly vmlinuz: Buffer;
  readonly 'initrd.gz': Buffer;
  readonly 'rootfs.squashfs': Buffer;
}

/** A few KiB per part, different bytes in each. */
export function sampleParts(): Parts {
  const fill = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff));
  return { vmlinuz: fill(3000, 1), 'initrd.gz': fill(5000, 2), 'rootfs.squashfs': fill(8192, 3) };
}

export function manifestText(parts: Parts, patch: { board?: string; version?: string } = {}): string {
  const entry = (name: keyof Parts) => `{"name":"${name}","size":${parts[name].length},"sha256":"${sha256(parts[name])}"}`;
  return (
    `{"v":1,"board":"${patch.board ?? 'qemu-x86_64'}","version":"${patch.version ?? '0.1.0+up1'}",` +
    `"release":"twin6 0.1.0+up1 qemu-x86_64","storeFormat":3,"created":"2026-12-07T18:00:00Z",` +
    `"kernelArgs":"console=ttyS0,115200 panic=-1 loglevel=4",` +
    `"parts":[${entry('vmlinuz')},${entry('initrd.gz')},${entry('rootfs.squashfs')}]}`
  );
}

export function signatureText(manifest: string | Buffer, key: KeyObject, keyId = keyIdOf(key)): string {
  const sig = sign(null, Buffer.from(manifest), key).toString('base64');
  return `{"keyId":"${keyId}","alg":"Ed25519","sig":"${sig}"}`;
}

/** A whole bundle: header and the parts in manifest order. */
export function handBundle(parts: Parts, key: KeyObject, patch: { board?: string; version?: string } = {}): Buffer {
  const m = manifestText(parts, patch);
  return Buffer.concat([handHeader(m, signatureText(m, key)), parts.vmlinuz, parts['initrd.gz'], parts['rootfs.squashfs']]);
}

export async function writeBundle(path: string, bytes: Buffer): Promise<string> {
  await writeFile(path, bytes);
  return sha256(bytes);
}

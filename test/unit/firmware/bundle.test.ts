import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BUNDLE_MAGIC,
  bundleHeaderLength,
  decodeBundleHeader,
  encodeBundleHeader,
  encodeManifest,
  releaseKeyId,
  signManifest,
  verifyBundleSignature,
  type BundleHeader,
  type BundleManifest,
} from '../../../src/firmware/bundle.js';
import { commandKeyText, parseCommandKey } from '../../../src/mgmt/signature.js';
import { prng, seedText, testSeed } from '../../seed.js';
import { handHeader, keyIdOf, manifestText, sampleParts, sha256, signatureText } from './helpers.js';

const release = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const parts = sampleParts();
const MANIFEST = manifestText(parts);
const SIGNATURE = signatureText(MANIFEST, release.privateKey);

function decoded(buf: Buffer): BundleHeader {
  const h = decodeBundleHeader(buf);
  if ('problem' in h) throw new Error(h.problem);
  return h;
}

function problemOf(buf: Buffer): string {
  let h: ReturnType<typeof decodeBundleHeader>;
  expect(() => (h = decodeBundleHeader(buf))).not.toThrow();
  expect(h!).toHaveProperty('problem');
  return (h! as { problem: string }).problem;
}

/** The hand-written manifest with one field replaced (JSON.parse, patch, JSON.stringify). */
function patched(edit: (m: Record<string, unknown>) => void): Buffer {
  const m = JSON.parse(MANIFEST) as Record<string, unknown>;
  edit(m);
  const text = JSON.stringify(m);
  return handHeader(text, signatureText(text, release.privateKey));
}
const part = (m: Record<string, unknown>, i: number) => (m['parts'] as Record<string, unknown>[])[i]!;

describe('bundle header layout', () => {
  it('takes a board.dtb part, at most once, after the three every bundle has', () => {
    const h = decoded(patched((m) => (m['parts'] as unknown[]).push({ name: 'board.dtb', size: 3, sha256: sha256('dtb') })));
    expect(h.parts.map((p) => p.name)).toEqual(['vmlinuz', 'initrd.gz', 'rootfs.squashfs', 'board.dtb']);
  });

  it('decodes a header written by hand from the layout, with absolute part offsets', () => {
    const h = decoded(handHeader(MANIFEST, SIGNATURE));
    const headerBytes = 16 + Buffer.byteLength(MANIFEST) + Buffer.byteLength(SIGNATURE);
    expect(h.headerBytes).toBe(headerBytes);
    expect(h.manifestBytes.toString()).toBe(MANIFEST);
    expect(h.manifest).toMatchObject({ v: 1, board: 'qemu-x86_64', version: '0.1.0+up1', storeFormat: 3 });
    expect(h.signature).toEqual({ keyId: keyIdOf(release.publicKey), alg: 'Ed25519', sig: expect.any(String) });
    expect(h.parts.map((p) => [p.name, p.offset, p.size])).toEqual([
      ['vmlinuz', headerBytes, 3000],
      ['initrd.gz', headerBytes + 3000, 5000],
      ['rootfs.squashfs', headerBytes + 8000, 8192],
    ]);
    expect(h.parts[0]!.sha256).toBe(sha256(parts.vmlinuz));
    expect(h.totalBytes).toBe(headerBytes + 3000 + 5000 + 8192);
  });

  it('encodes the same bytes the layout gives, and decodes its own output', () => {
    const manifest = JSON.parse(MANIFEST) as BundleManifest;
    const sig = signManifest(encodeManifest(manifest), release.privateKey);
    const buf = encodeBundleHeader(manifest, sig);
    expect(buf.subarray(0, 8).toString('latin1')).toBe(BUNDLE_MAGIC);
    expect(buf.equals(handHeader(MANIFEST, JSON.stringify(sig)))).toBe(true);
    const h = decoded(buf);
    expect(h.manifest).toEqual(manifest);
    expect(h.signature).toEqual(sig);
    expect(decoded(encodeBundleHeader(h.manifest, h.signature)).manifestBytes.equals(h.manifestBytes)).toBe(true);
  });

  it('tells a reader the header length from the first 16 bytes', () => {
    const buf = handHeader(MANIFEST, SIGNATURE);
    expect(bundleHeaderLength(buf.subarray(0, 16))).toBe(buf.length);
    expect(bundleHeaderLength(buf.subarray(0, 15))).toHaveProperty('problem');
    expect(problemOf(buf.subarray(0, 40))).toMatch(`needs ${buf.length} bytes, got 40`);
  });

  it('decodes a header followed by its parts', () => {
    const buf = Buffer.concat([handHeader(MANIFEST, SIGNATURE), parts.vmlinuz]);
    expect(decoded(buf).manifestBytes.toString()).toBe(MANIFEST);
  });
});

describe('a damaged header is a problem, never a throw', () => {
  const good = handHeader(MANIFEST, SIGNATURE);
  const withLengths = (m: number, s: number) => {
    const b = Buffer.from(good);
    b.writeUInt32BE(m, 8);
    b.writeUInt32BE(s, 12);
    return b;
  };

  it.each([
    ['empty', Buffer.alloc(0), /starts with 16 bytes/],
    ['short prefix', good.subarray(0, 10), /starts with 16 bytes/],
    ['magic', Buffer.concat([Buffer.from('TWIN6FW2'), good.subarray(8)]), /magic/],
    ['manifest over 64 KiB', withLengths(65537, 100), /manifest length 65537/],
    ['signature over 4 KiB', withLengths(100, 4097), /signature block length 4097/],
    ['manifest past the buffer', withLengths(60000, 100), /needs 60116 bytes/],
    ['signature past the buffer', withLengths(Buffer.byteLength(MANIFEST), 4000), /needs/],
    ['manifest not JSON', handHeader('{"v":1,', SIGNATURE), /manifest is not UTF-8 JSON/],
    ['manifest not UTF-8', handHeader(Buffer.from([0x7b, 0xff, 0x7d]), SIGNATURE), /manifest is not UTF-8 JSON/],
    ['manifest an array', handHeader('[]', SIGNATURE), /must be a JSON object, got an array/],
    ['manifest null', handHeader('null', SIGNATURE), /got null/],
    ['signature not JSON', handHeader(MANIFEST, 'sig'), /signature block is not UTF-8 JSON/],
    ['signature alg', handHeader(MANIFEST, SIGNATURE.replace('Ed25519', 'RS256')), /"alg" must be "Ed25519"/],
    ['signature keyId', handHeader(MANIFEST, SIGNATURE.replace(/"keyId":"[0-9a-f]+"/, '"keyId":"release"')), /"keyId" must be 16/],
    ['signature too short', handHeader(MANIFEST, SIGNATURE.replace(/"sig":"[^"]+"/, '"sig":"AAAA"')), /"sig" must be base64 of 64/],
    ['signature extra key', handHeader(MANIFEST, SIGNATURE.replace('{', '{"x":1,')), /unknown key "x"/],
  ])('%s', (_name, buf, rule) => {
    expect(problemOf(buf)).toMatch(rule);
  });

  it.each<[string, (m: Record<string, unknown>) => void, RegExp]>([
    ['v', (m) => (m['v'] = 2), /"v" must be 1/],
    ['unknown key', (m) => (m['rollback'] = true), /unknown key "rollback"/],
    ['board missing', (m) => delete m['board'], /"board" must be a string, got undefined/],
    ['board with a space', (m) => (m['board'] = 'qemu x86'), /"board" must be a board id/],
    ['board empty', (m) => (m['board'] = ''), /"board"/],
    ['version a number', (m) => (m['version'] = 1), /"version" must be a string, got number/],
    ['version with a space', (m) => (m['version'] = '0.1 beta'), /"version" must be printable/],
    ['version too long', (m) => (m['version'] = 'v'.repeat(129)), /"version"/],
    ['release with a newline', (m) => (m['release'] = 'twin6\nroot::0:0'), /"release" must be one line/],
    ['release empty', (m) => (m['release'] = ''), /"release"/],
    ['storeFormat zero', (m) => (m['storeFormat'] = 0), /"storeFormat" must be a positive integer/],
    ['storeFormat fraction', (m) => (m['storeFormat'] = 1.5), /"storeFormat"/],
    ['storeFormat text', (m) => (m['storeFormat'] = '3'), /"storeFormat"/],
    ['created not a time', (m) => (m['created'] = 'yesterday'), /"created" must be an ISO 8601 time/],
    ['created impossible', (m) => (m['created'] = '2026-13-45T99:00:00Z'), /"created"/],
    ['kernelArgs with a newline', (m) => (m['kernelArgs'] = 'quiet\ninit=/bin/sh'), /"kernelArgs" must be one line/],
    ['kernelArgs too long', (m) => (m['kernelArgs'] = 'x'.repeat(1025)), /"kernelArgs"/],
    ['parts not an array', (m) => (m['parts'] = {}), /"parts" must be an array/],
    ['a part missing', (m) => (m['parts'] as unknown[]).pop(), /once each .*got 2 entries/],
    [
      'a fourth part, not the optional one',
      (m) => (m['parts'] as unknown[]).push(part(m, 0)),
      /parts\[3\]: part "vmlinuz" is listed twice/,
    ],
    ['five parts', (m) => (m['parts'] as unknown[]).push(part(m, 0), part(m, 1)), /got 5 entries/],
    ['the optional part in place of a required one', (m) => (part(m, 2)['name'] = 'board.dtb'), /"parts" has no "rootfs\.squashfs"/],
    ['a part twice', (m) => (part(m, 2)['name'] = 'vmlinuz'), /parts\[2\]: part "vmlinuz" is listed twice/],
    ['an unknown part', (m) => (part(m, 1)['name'] = 'dtb'), /parts\[1\]\.name must be one of/],
    ['a part not an object', (m) => ((m['parts'] as unknown[])[0] = 'vmlinuz'), /parts\[0\] must be an object/],
    ['a part key unknown', (m) => (part(m, 0)['mode'] = 0o644), /parts\[0\]: unknown key "mode"/],
    ['size negative', (m) => (part(m, 0)['size'] = -1), /parts\[0\]\.size must be a non-negative integer/],
    ['size fraction', (m) => (part(m, 1)['size'] = 0.5), /parts\[1\]\.size/],
    ['size unsafe', (m) => (part(m, 1)['size'] = 2 ** 53), /parts\[1\]\.size/],
    ['sizes add past 2^53', (m) => [0, 1, 2].forEach((i) => (part(m, i)['size'] = 2 ** 52)), /add up past/],
    ['sha256 upper case', (m) => (part(m, 0)['sha256'] = sha256('x').toUpperCase()), /sha256" must be 64 lowercase hex/],
    ['sha256 short', (m) => (part(m, 2)['sha256'] = 'abc'), /parts\[2\]: "sha256"/],
  ])('manifest: %s', (_name, edit, rule) => {
    expect(problemOf(patched(edit))).toMatch(rule);
  });
});

const SEED = testSeed(0xb0d1e);
const ITERATIONS = Number(process.env['FUZZ_ITERATIONS'] ?? 5000);

describe(`decodeBundleHeader under random damage (${seedText(SEED)}, ${ITERATIONS} iterations)`, () => {
  it('returns a header or a problem for every mutation and truncation, never throws', () => {
    const rand = prng(SEED);
    const good = Buffer.concat([handHeader(MANIFEST, SIGNATURE), parts.vmlinuz.subarray(0, 64)]);
    const outcomes = { ok: 0, problem: 0 };
    for (let i = 0; i < ITERATIONS; i++) {
      let buf = Buffer.from(good);
      const rounds = 1 + (rand() % 4);
      for (let r = 0; r < rounds; r++) {
        const at = rand() % buf.length;
        switch (rand() % 4) {
          case 0: // flip a byte anywhere, the lengths included
            buf[at] = rand() & 0xff;
            break;
          case 1: // cut the buffer
            buf = buf.subarray(0, at);
            break;
          case 2: // a JSON-significant character in the manifest or signature
            buf[Math.min(16 + (rand() % (buf.length - 16 || 1)), buf.length - 1)] = '{}[]",:0\\'.charCodeAt(rand() % 9);
            break;
          default: // a length field set to something large
            if (buf.length >= 16) buf.writeUInt32BE(rand() % 70_000, 8 + 4 * (rand() % 2));
        }
        if (buf.length === 0) break;
      }
      let h: ReturnType<typeof decodeBundleHeader>;
      try {
        h = decodeBundleHeader(buf);
      } catch (e) {
        throw new Error(`${seedText(SEED)} iteration ${i}: threw ${(e as Error).message}; input ${buf.toString('hex')}`, { cause: e });
      }
      if ('problem' in h) outcomes.problem++;
      else outcomes.ok++;
    }
    // Some damage falls in the parts or inside a string and leaves a valid header.
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.problem).toBeGreaterThan(ITERATIONS / 2);
  });
});

describe('release signature', () => {
  const pinned = (entries: [string, KeyObject][]) => new Map(entries);
  const header = decoded(handHeader(MANIFEST, SIGNATURE));
  const id = keyIdOf(release.publicKey);

  it('computes the key id from the raw public key, the same for the private key', () => {
    expect(releaseKeyId(release.publicKey)).toBe(id);
    expect(releaseKeyId(release.privateKey)).toBe(id);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    const parsed = parseCommandKey(commandKeyText(release.publicKey));
    if ('problem' in parsed) throw new Error(parsed.problem);
    expect(releaseKeyId(parsed)).toBe(id);
    expect(releaseKeyId(stranger.publicKey)).not.toBe(id);
  });

  it('verifies against the pinned key of its keyId', () => {
    expect(verifyBundleSignature(header, pinned([[id, release.publicKey]]))).toEqual({ ok: true, keyId: id });
    expect(signManifest(Buffer.from(MANIFEST), release.privateKey)).toEqual(JSON.parse(SIGNATURE));
  });

  it('refuses when the key pinned under that id is another', () => {
    const v = verifyBundleSignature(header, pinned([[id, stranger.publicKey]]));
    expect(v).toEqual({ ok: false, problem: expect.stringMatching(/does not verify/) });
  });

  it('refuses an unknown keyId and names it', () => {
    const other = keyIdOf(stranger.publicKey);
    const v = verifyBundleSignature(header, pinned([[other, stranger.publicKey]]));
    expect(v).toEqual({
      ok: false,
      problem: expect.stringContaining(`release key ${id}, which this image does not pin (pinned: ${other})`),
    });
    expect(verifyBundleSignature(header, new Map())).toMatchObject({ ok: false, problem: expect.stringContaining('pinned: none') });
  });

  it('refuses a manifest changed by one byte after signing', () => {
    const changed = MANIFEST.replace('"storeFormat":3', '"storeFormat":4');
    const h = decoded(handHeader(changed, SIGNATURE));
    expect(verifyBundleSignature(h, pinned([[id, release.publicKey]]))).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/does not verify/),
    });
  });

  it('refuses a signature by another key that claims the release key id', () => {
    const h = decoded(handHeader(MANIFEST, signatureText(MANIFEST, stranger.privateKey, id)));
    expect(verifyBundleSignature(h, pinned([[id, release.publicKey]]))).toMatchObject({ ok: false });
  });
});

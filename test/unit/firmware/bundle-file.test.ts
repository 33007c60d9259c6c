import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadReleaseKeys, verifyBundleFile } from '../../../src/firmware/bundle-file.js';
import { commandKeyText } from '../../../src/mgmt/signature.js';
import { handBundle, handHeader, keyIdOf, sampleParts, sha256, writeBundle } from './helpers.js';

const release = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const parts = sampleParts();
const keys: ReadonlyMap<string, KeyObject> = new Map([[keyIdOf(release.publicKey), release.publicKey]]);
const BOARD = 'qemu-x86_64';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'twin6-bundle-'));
  file = join(dir, 'update.bin');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('verifyBundleFile', () => {
  it('accepts a bundle with the right hash, signature, board and version', async () => {
    const digest = await writeBundle(file, handBundle(parts, release.privateKey));
    const v = await verifyBundleFile(file, { sha256: digest, keys, board: BOARD, version: '0.1.0+up1' });
    expect(v).toMatchObject({ ok: true, header: { manifest: { version: '0.1.0+up1' } } });
    expect(await verifyBundleFile(file, { sha256: digest.toUpperCase(), keys, board: BOARD })).toMatchObject({ ok: true });
  });

  it('refuses a file whose SHA-256 is not the command’s', async () => {
    await writeBundle(file, handBundle(parts, release.privateKey));
    const v = await verifyBundleFile(file, { sha256: sha256('another file'), keys, board: BOARD });
    expect(v).toMatchObject({ ok: false, code: 'HASH_MISMATCH' });
  });

  it('says TRUNCATED for a file shorter than its header says, and for one cut inside the header', async () => {
    const bytes = handBundle(parts, release.privateKey);
    const digest = await writeBundle(file, bytes);
    await truncate(file, bytes.length - 100);
    expect(await verifyBundleFile(file, { sha256: digest, keys, board: BOARD })).toMatchObject({
      ok: false,
      code: 'TRUNCATED',
      problem: expect.stringContaining(`says ${bytes.length}`),
    });
    await truncate(file, 200);
    expect(await verifyBundleFile(file, { sha256: digest, keys, board: BOARD })).toMatchObject({ ok: false, code: 'TRUNCATED' });
    await truncate(file, 5);
    expect(await verifyBundleFile(file, { sha256: digest, keys, board: BOARD })).toMatchObject({ ok: false, code: 'TRUNCATED' });
  });

  it('refuses a file longer than its header says', async () => {
    const digest = await writeBundle(file, Buffer.concat([handBundle(parts, release.privateKey), Buffer.from('trailer')]));
    expect(await verifyBundleFile(file, { sha256: digest, keys, board: BOARD })).toMatchObject({ ok: false, code: 'BAD_BUNDLE' });
  });

  it('refuses a bundle signed by a key the image does not pin', async () => {
    const digest = await writeBundle(file, handBundle(parts, stranger.privateKey));
    const v = await verifyBundleFile(file, { sha256: digest, keys, board: BOARD });
    expect(v).toMatchObject({ ok: false, code: 'BAD_SIGNATURE', problem: expect.stringContaining(keyIdOf(stranger.publicKey)) });
  });

  it('refuses a bundle for another board, or of another version than the command names', async () => {
    const digest = await writeBundle(file, handBundle(parts, release.privateKey, { board: 'rpi4' }));
    expect(await verifyBundleFile(file, { sha256: digest, keys, board: BOARD })).toMatchObject({ ok: false, code: 'WRONG_BOARD' });
    const digest2 = await writeBundle(file, handBundle(parts, release.privateKey, { version: '0.1.0+up2' }));
    expect(await verifyBundleFile(file, { sha256: digest2, keys, board: BOARD, version: '0.1.0+up1' })).toMatchObject({
      ok: false,
      code: 'WRONG_VERSION',
    });
  });

  it('refuses a part whose bytes are not the signed manifest’s, even when the whole-file hash matches', async () => {
    const bytes = handBundle(parts, release.privateKey);
    bytes[bytes.length - 8192 - 10]! ^= 0x01; // a byte of initrd.gz, which ends where rootfs.squashfs starts
    const digest = await writeBundle(file, bytes);
    expect(await verifyBundleFile(file, { sha256: digest, keys, board: BOARD })).toMatchObject({
      ok: false,
      code: 'BAD_BUNDLE',
      problem: expect.stringMatching(/^part initrd\.gz: SHA-256/),
    });
  });

  it('hashes parts that straddle its read chunks (256 KiB) correctly', async () => {
    const big = { vmlinuz: Buffer.alloc(300_000, 1), 'initrd.gz': Buffer.alloc(262_151, 2), 'rootfs.squashfs': Buffer.alloc(400_000, 3) };
    const bytes = handBundle(big, release.privateKey);
    const digest = await writeBundle(file, bytes);
    expect(await verifyBundleFile(file, { sha256: digest, keys, board: BOARD })).toMatchObject({ ok: true });
    bytes[bytes.length - 400_001]! ^= 0x80; // the last byte of initrd.gz
    const digest2 = await writeBundle(file, bytes);
    expect(await verifyBundleFile(file, { sha256: digest2, keys, board: BOARD })).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^part initrd\.gz/),
    });
  });

  it('refuses a file that is not a bundle but has the command’s hash', async () => {
    const digest = await writeBundle(file, Buffer.concat([Buffer.from('NOTABNDL'), Buffer.alloc(100)]));
    expect(await verifyBundleFile(file, { sha256: digest, keys, board: BOARD })).toMatchObject({
      ok: false,
      code: 'BAD_BUNDLE',
      problem: expect.stringContaining('magic'),
    });
    const bad = Buffer.concat([handHeader('{"v":1}', '{}'), parts.vmlinuz]);
    const digest2 = await writeBundle(file, bad);
    expect(await verifyBundleFile(file, { sha256: digest2, keys, board: BOARD })).toMatchObject({ ok: false, code: 'BAD_BUNDLE' });
  });

  it('returns READ_FAILED for a file it cannot read', async () => {
    const v = await verifyBundleFile(join(dir, 'missing.bin'), { sha256: sha256(''), keys, board: BOARD });
    expect(v).toMatchObject({ ok: false, code: 'READ_FAILED', problem: expect.stringContaining('ENOENT') });
  });
});

describe('loadReleaseKeys', () => {
  it('loads each *.pub by its computed id and reports the files that are not keys', async () => {
    const keyDir = join(dir, 'keys');
    await mkdir(keyDir);
    const text = commandKeyText(release.publicKey);
    await writeFile(join(keyDir, 'release-2026.pub'), `${text}\n`);
    await writeFile(join(keyDir, 'copy.pub'), text);
    await writeFile(join(keyDir, 'junk.pub'), 'not a key');
    await writeFile(join(keyDir, 'huge.pub'), 'A'.repeat(5000));
    await writeFile(join(keyDir, 'README'), 'ignored');
    // Named after the release key's id, but holds another key: the name is not trusted.
    await writeFile(join(keyDir, `${keyIdOf(release.publicKey)}.pub`), commandKeyText(stranger.publicKey));
    const { keys: loaded, problems } = await loadReleaseKeys(keyDir);
    expect([...loaded.keys()].sort()).toEqual([keyIdOf(release.publicKey), keyIdOf(stranger.publicKey)].sort());
    expect(loaded.get(keyIdOf(stranger.publicKey))!.equals(stranger.publicKey)).toBe(true);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/junk\.pub: expected an Ed25519 public key/);
    expect(problems.join('\n')).toMatch(/huge\.pub: longer than 1024 bytes/);
    expect(problems.join('\n')).toMatch(/(copy|release-2026)\.pub: the same key as/);
  });

  it('reports a directory it cannot read', async () => {
    const { keys: loaded, problems } = await loadReleaseKeys(join(dir, 'nowhere'));
    expect(loaded.size).toBe(0);
    expect(problems[0]).toMatch(/cannot read release key directory/);
  });
});

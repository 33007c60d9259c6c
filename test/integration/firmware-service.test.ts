// The firmware service (src/firmware/service.ts) against real files: the ESP
// as a directory, the two slots' partitions as files, the lab's HTTPS bundle
// server (dist/testing/lab/bundle-server.js) on loopback with a certificate
// from a throwaway CA, real bundles signed with a real Ed25519 key. The same
// code runs on the appliance over a mounted FAT ESP and block devices
// (test/e2e/firmware-upgrade.test.ts boots it under QEMU); what the QEMU test
// cannot afford to repeat is here: every refusal writes nothing to a slot,
// and the trial, the commit and the rollback read the entries as
// systemd-boot leaves them. Needs openssl (the lab's PKI) and a build (dist/).

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SlotLayout } from '../../src/firmware/layout.js';
import { FirmwareService, UpgradeRefused, type FirmwarePolicy, type Health } from '../../src/firmware/service.js';
import { commandKeyText } from '../../src/mgmt/signature.js';
import { parseRequestLog } from '../../src/testing/lab/bundle-server.js';
import { issueCert, makeCa } from '../../src/testing/lab/pki.js';
import { missingBinaries } from '../../src/testing/lab/prereq.js';
import { poll } from '../../src/testing/lab/proc.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { handBundle, manifestText, sampleParts, sha256, signatureText, handHeader, type Parts } from '../unit/firmware/helpers.js';

const missing = await missingBinaries(['openssl']);
if (missing.length > 0) console.warn(`[firmware-service.test] skipping: missing ${missing.join(', ')}`);

const PART_BYTES = 64 * 1024;
const ENTRY_A =
  'title twin6 0.1.0 (slot a)\nlinux /twin6/a/vmlinuz\ninitrd /twin6/a/initrd.gz\noptions console=ttyS0 twin6.root=PARTLABEL=rootfs_a twin6.slot=a\noptions twin6.role=primary twin6.lan6=2001:db8:1::1/64\n';

let dir: string;
let server: ChildProcess;
let serverLog = '';
let port = 0;
let caFile: string;
let key: KeyObject;
const www = () => join(dir, 'www');

beforeAll(async () => {
  if (missing.length > 0) return;
  dir = mkdtempSync(join(tmpdir(), 't6-fw-'));
  const pki = join(dir, 'pki');
  const caId = await makeCa(pki, 'twin6 firmware test CA');
  const srv = await issueCert(pki, caId, 'fw-server', 'subjectAltName=IP:::1\nextendedKeyUsage=serverAuth\n');
  caFile = caId.cert;
  key = generateKeyPairSync('ed25519').privateKey;
  mkdirSync(www(), { recursive: true });
  port = 20_000 + Math.floor(Math.random() * 40_000);
  server = spawn(
    process.execPath,
    [
      resolve('dist/testing/lab/bundle-server.js'),
      '--dir',
      www(),
      '--listen',
      '::1',
      '--port',
      String(port),
      '--cert',
      srv.cert,
      '--key',
      srv.key,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server.stdout!.on('data', (b: Buffer) => (serverLog += b.toString()));
  let started = '';
  server.stderr!.on('data', (b: Buffer) => (started += b.toString()));
  await poll(() => (started.includes('serving') ? true : undefined), { timeoutMs: 10_000, what: 'the bundle server' });
});

afterAll(() => {
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Device {
  readonly root: string;
  readonly layout: SlotLayout;
  readonly esp: string;
  readonly stateDir: string;
  readonly rebootMark: string;
  health: Health;
  policy: FirmwarePolicy;
  service?: FirmwareService;
}

let devices: Device[] = [];
afterEach(() => {
  for (const d of devices) d.service?.stop();
  devices = [];
});

/** A device as the image lays it out, slot a running and committed. */
function device(opts: { slot?: 'a' | 'b'; entries?: Record<string, string>; uptimeSec?: number; storeFormat?: number } = {}): Device {
  const root = mkdtempSync(join(dir, 'dev-'));
  const esp = join(root, 'esp');
  mkdirSync(join(esp, 'loader', 'entries'), { recursive: true });
  mkdirSync(join(esp, 'twin6', 'a'), { recursive: true });
  for (const [name, text] of Object.entries(opts.entries ?? { 'twin6-g1-a.conf': ENTRY_A }))
    writeFileSync(join(esp, 'loader', 'entries', name), text);
  for (const s of ['a', 'b']) writeFileSync(join(root, `rootfs_${s}`), Buffer.alloc(PART_BYTES));
  writeFileSync(join(root, 'cmdline'), `console=ttyS0 twin6.root=PARTLABEL=rootfs_${opts.slot ?? 'a'} twin6.slot=${opts.slot ?? 'a'}\n`);
  writeFileSync(join(root, 'uptime'), `${opts.uptimeSec ?? 12.5} 10.0\n`);
  writeFileSync(join(root, 'version'), '0.1.0\n');
  writeFileSync(join(root, 'release'), 'twin6 0.1.0 qemu-x86_64\n');
  mkdirSync(join(root, 'keys'));
  writeFileSync(join(root, 'keys', 'release.pub'), `${commandKeyText(key)}\n`);
  const rebootMark = join(root, 'rebooted');
  writeFileSync(join(root, 'boot_id'), 'boot-1\n');
  const layout: SlotLayout = {
    selector: 'systemd-boot',
    board: 'qemu-x86_64',
    esp,
    espMount: null,
    partitions: { a: join(root, 'rootfs_a'), b: join(root, 'rootfs_b') },
    cmdline: join(root, 'cmdline'),
    uptime: join(root, 'uptime'),
    versionFile: join(root, 'version'),
    releaseFile: join(root, 'release'),
    releaseKeys: join(root, 'keys'),
    storeFormat: opts.storeFormat ?? 2,
    reboot: ['sh', '-c', `echo rebooted >> ${rebootMark}`],
    bootId: join(root, 'boot_id'),
    downloadDir: join(root, 'downloads'),
  };
  const d: Device = {
    root,
    layout,
    esp,
    stateDir: join(root, 'state'),
    rebootMark,
    health: { healthy: false, waitingFor: 'the test' },
    policy: { trialSec: 300, healthySec: 1, maxBytes: 1 << 20, reserveBytes: 0, caFile },
  };
  mkdirSync(d.stateDir);
  devices.push(d);
  return d;
}

async function start(d: Device): Promise<FirmwareService> {
  d.service?.stop();
  d.service = await new FirmwareService({
    layout: d.layout,
    stateDir: d.stateDir,
    log: pino({ level: 'silent' }),
    policy: () => d.policy,
    health: async () => d.health,
  }).start();
  return d.service;
}

/** A bundle on the server: the parts, signed by `signer`, with manifest changes. */
function serve(name: string, parts: Parts, opts: { signer?: KeyObject; board?: string; version?: string; storeFormat?: number } = {}) {
  let bytes = handBundle(parts, opts.signer ?? key, {
    ...(opts.board ? { board: opts.board } : {}),
    ...(opts.version ? { version: opts.version } : {}),
  });
  if (opts.storeFormat !== undefined) {
    const m = manifestText(parts, opts).replace('"storeFormat":3', `"storeFormat":${opts.storeFormat}`);
    bytes = Buffer.concat([
      handHeader(m, signatureText(m, opts.signer ?? key)),
      parts.vmlinuz,
      parts['initrd.gz'],
      parts['rootfs.squashfs'],
    ]);
  }
  writeFileSync(join(www(), name), bytes);
  return { url: `https://[::1]:${port}/${name}`, sha256: sha256(bytes), size: bytes.length, version: opts.version ?? '0.1.0+up1', bytes };
}

const entries = (d: Device) => readdirSync(join(d.esp, 'loader', 'entries')).sort();
const settled = async (d: Device) =>
  poll(() => (d.service!.status().upgrade === null && d.service!.status().last ? d.service!.status() : undefined), {
    timeoutMs: 20_000,
    what: 'the upgrade to end',
  });
/** What systemd-boot does at the next boot: a counted entry renamed +1 → +0-1, then booted (or not). */
function bootLoaderTries(d: Device, boots: 'a' | 'b', opts: { spend?: boolean } = {}): void {
  const e = join(d.esp, 'loader', 'entries');
  if (opts.spend !== false)
    for (const f of readdirSync(e)) if (/\+1\.conf$/.test(f)) renameSync(join(e, f), join(e, f.replace('+1.conf', '+0-1.conf')));
  writeFileSync(d.layout.cmdline, `console=ttyS0 twin6.slot=${boots}\n`);
  writeFileSync(d.layout.bootId!, `boot-${Date.now()}-${Math.random()}\n`);
}

describe.skipIf(missing.length > 0)('firmware service on files', () => {
  it('downloads, verifies, writes slot b with its entry last, reboots; the trial commits when healthy', async () => {
    const d = device();
    const parts = sampleParts();
    const b = serve('good.t6fw', parts);
    const s = await start(d);
    expect(s.status()).toMatchObject({ version: '0.1.0', slot: 'a', generation: 1, state: 'committed', other: null, last: null });
    const { requestId } = await s.upgrade(b);
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 20_000, what: 'the reboot command' });
    // Slot b holds the root, read back; its kernel and initramfs are on the ESP; its entry is counted.
    expect(readFileSync(d.layout.partitions.b).subarray(0, parts['rootfs.squashfs'].length)).toEqual(parts['rootfs.squashfs']);
    expect(readFileSync(d.layout.partitions.a)).toEqual(Buffer.alloc(PART_BYTES));
    expect(readFileSync(join(d.esp, 'twin6', 'b', 'vmlinuz'))).toEqual(parts.vmlinuz);
    expect(readFileSync(join(d.esp, 'twin6', 'b', 'initrd.gz'))).toEqual(parts['initrd.gz']);
    expect(entries(d)).toEqual(['twin6-g1-a.conf', 'twin6-g2-b+1.conf']);
    const entry = readFileSync(join(d.esp, 'loader', 'entries', 'twin6-g2-b+1.conf'), 'utf8');
    expect(entry).toContain('linux /twin6/b/vmlinuz');
    expect(entry).toContain('twin6.root=PARTLABEL=rootfs_b twin6.data=PARTLABEL=rootfs_data twin6.slot=b');
    expect(entry.trimEnd().endsWith('options twin6.role=primary twin6.lan6=2001:db8:1::1/64')).toBe(true);
    // The download is gone once written: the flash has the room back.
    expect(existsSync(join(d.root, 'downloads', 'download.t6fw'))).toBe(false);

    // The boot loader tries b; the new image's service sees the trial and commits once healthy.
    bootLoaderTries(d, 'b');
    writeFileSync(d.layout.versionFile, '0.1.0+up1\n');
    const s2 = await start(d);
    expect(s2.status()).toMatchObject({
      version: '0.1.0+up1',
      slot: 'b',
      generation: 2,
      state: 'trial',
      other: { slot: 'a', state: 'committed' },
    });
    await new Promise((r) => setTimeout(r, 2500));
    expect(entries(d)).toContain('twin6-g2-b+0-1.conf'); // not healthy: no commit
    expect(s2.status().trial).toMatchObject({ healthyForSec: 0, waitingFor: 'the test' });
    d.health = { healthy: true, waitingFor: '' };
    const done = await poll(() => (s2.status().last ? s2.status() : undefined), { timeoutMs: 10_000, what: 'the commit' });
    expect(entries(d)).toEqual(['twin6-g1-a.conf', 'twin6-g2-b.conf']);
    expect(done.last).toMatchObject({ requestId, version: '0.1.0+up1', outcome: 'committed' });
    expect(done.trial).toBeNull();
  });

  it('a trial that did not commit: the old slot boots, and its service reports rolled-back; the next upgrade writes b again', async () => {
    const d = device();
    const b = serve('good2.t6fw', sampleParts());
    const s = await start(d);
    await s.upgrade(b);
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 20_000, what: 'the reboot command' });
    bootLoaderTries(d, 'a'); // b's try was spent (it hung, or the power went), a boots
    const s2 = await start(d);
    expect(s2.status()).toMatchObject({ slot: 'a', state: 'committed', other: { slot: 'b', generation: 2, state: 'failed' } });
    expect(s2.status().last).toMatchObject({ outcome: 'rolled-back' });
    expect(s2.status().last?.reason).toMatch(/slot b \(generation 2\) did not commit/);
    rmSync(d.rebootMark);
    await s2.upgrade(b);
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 20_000, what: 'the second reboot' });
    expect(entries(d)).toEqual(['twin6-g1-a.conf', 'twin6-g3-b+1.conf']);
  });

  it('a trial not healthy by trialSec after boot reboots; another upgrade meanwhile is refused', async () => {
    const d = device({ slot: 'b', entries: { 'twin6-g1-a.conf': ENTRY_A, 'twin6-g2-b+0-1.conf': ENTRY_A }, uptimeSec: 400 });
    const s = await start(d);
    expect(s.status().state).toBe('trial');
    await expect(s.upgrade(serve('x.t6fw', sampleParts()))).rejects.toMatchObject({
      code: 'REJECTED',
      message: expect.stringMatching(/on trial/),
    });
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 10_000, what: 'the trial deadline reboot' });
    expect(entries(d)).toContain('twin6-g2-b+0-1.conf');
  });

  const refusals: [string, (p: Parts) => { url: string; sha256: string; size: number; version: string }, RegExp][] = [
    ['a wrong hash', (p) => ({ ...serve('hash.t6fw', p), sha256: 'ab'.repeat(32) }), /HASH_MISMATCH/],
    ['a signature by another key', (p) => serve('sig.t6fw', p, { signer: generateKeyPairSync('ed25519').privateKey }), /BAD_SIGNATURE/],
    ['another board', (p) => serve('board.t6fw', p, { board: 'rpi4' }), /WRONG_BOARD/],
    ['another version than named', (p) => ({ ...serve('ver.t6fw', p), version: '9.9.9' }), /WRONG_VERSION/],
    ['an older lease store format', (p) => serve('fmt.t6fw', p, { storeFormat: 1 }), /store format 1/],
    [
      'a truncated file',
      (p) => {
        const b = serve('trunc.t6fw', p);
        writeFileSync(join(www(), 'trunc.t6fw'), b.bytes.subarray(0, b.size - 100));
        return b;
      },
      /SIZE_MISMATCH|TRUNCATED|NETWORK/,
    ],
    ['a missing file', (p) => ({ ...serve('gone.t6fw', p), url: `https://[::1]:${port}/nothing.t6fw` }), /HTTP/],
  ];
  it.each(refusals)('refuses %s and writes nothing to a slot', async (_what, make, reason) => {
    const d = device();
    const s = await start(d);
    const b = make(sampleParts());
    await s.upgrade(b);
    const st = await settled(d);
    expect(['refused', 'failed']).toContain(st.last?.outcome);
    expect(st.last?.reason).toMatch(reason);
    expect(readFileSync(d.layout.partitions.b)).toEqual(Buffer.alloc(PART_BYTES));
    expect(entries(d)).toEqual(['twin6-g1-a.conf']);
    expect(existsSync(join(d.esp, 'twin6', 'b'))).toBe(false);
    expect(existsSync(d.rebootMark)).toBe(false);
  });

  it('refuses before downloading: too large, no space, one at a time, no slot', async () => {
    const d = device();
    const s = await start(d);
    const b = serve('big.t6fw', sampleParts());
    d.policy = { ...d.policy, maxBytes: b.size - 1 };
    await expect(s.upgrade(b)).rejects.toMatchObject({ code: 'REJECTED', message: expect.stringMatching(/more than this device takes/) });
    d.policy = { ...d.policy, maxBytes: 1 << 20, reserveBytes: Number.MAX_SAFE_INTEGER };
    await expect(s.upgrade(b)).rejects.toMatchObject({ code: 'REJECTED', message: expect.stringMatching(/no space/) });
    d.policy = { ...d.policy, reserveBytes: 0 };
    const first = s.upgrade(b);
    await expect(s.upgrade(b)).rejects.toBeInstanceOf(UpgradeRefused);
    await first;
    const n = device();
    writeFileSync(n.layout.cmdline, 'console=ttyS0\n');
    await expect((await start(n)).upgrade(b)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('a download cut off resumes with a byte range; a restart mid-upgrade is reported interrupted', async () => {
    const d = device();
    const parts = { ...sampleParts(), 'rootfs.squashfs': Buffer.alloc(48 * 1024, 7) };
    const b = serve('resume.t6fw', parts);
    // A partial download of the same bundle, as a power cut leaves it, and the step it was in.
    const fw = join(d.stateDir, 'firmware');
    const dl = join(d.root, 'downloads');
    mkdirSync(fw, { recursive: true });
    mkdirSync(dl, { recursive: true });
    writeFileSync(join(dl, 'download.t6fw'), b.bytes.subarray(0, 20_000));
    writeFileSync(join(dl, 'download.json'), JSON.stringify({ url: b.url, sha256: b.sha256, size: b.size, version: b.version }));
    writeFileSync(
      join(fw, 'pending.json'),
      JSON.stringify({ ...b, bytes: undefined, requestId: 'r-1', phase: 'download', startedAt: new Date().toISOString() }),
    );
    const s = await start(d);
    expect(s.status().last).toMatchObject({ requestId: 'r-1', outcome: 'interrupted' });
    const before = parseRequestLog(serverLog).length;
    await s.upgrade(b);
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 20_000, what: 'the reboot command' });
    // The server logs a request when its response has ended, which may be just after the device moved on.
    const reqs = await poll(
      () => {
        const r = parseRequestLog(serverLog)
          .slice(before)
          .filter((x) => x.path === '/resume.t6fw');
        return r.length > 0 ? r : undefined;
      },
      { timeoutMs: 5_000, what: "the server's log of the resumed request" },
    );
    expect(reqs[0]).toMatchObject({ range: 'bytes=20000-', status: 206, complete: true });
    expect(reqs[0]!.sent).toBe(b.size - 20_000);
    expect(readFileSync(d.layout.partitions.b).subarray(0, parts['rootfs.squashfs'].length)).toEqual(parts['rootfs.squashfs']);
  });

  it('a written slot whose reboot never came: the next start (same boot) reboots again and keeps the upgrade pending', async () => {
    const d = device();
    const s = await start(d);
    await s.upgrade(serve('noboot.t6fw', sampleParts()));
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 20_000, what: 'the reboot command' });
    rmSync(d.rebootMark);
    const s2 = await start(d); // twin6d restarted; the device did not reboot
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 10_000, what: 'the reboot, again' });
    expect(s2.status().upgrade).toMatchObject({ phase: 'reboot' });
    expect(s2.status().last).toBeNull();
    await expect(s2.upgrade(serve('other.t6fw', sampleParts()))).rejects.toMatchObject({ code: 'BUSY' });
  });

  it('a written slot that never booted is removed when the old one reports the rollback: it cannot boot later by surprise', async () => {
    const d = device();
    const s = await start(d);
    await s.upgrade(serve('never.t6fw', sampleParts()));
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 20_000, what: 'the reboot command' });
    bootLoaderTries(d, 'a', { spend: false }); // rebooted, but the firmware booted a (the +1 entry untouched)
    const s2 = await start(d);
    expect(s2.status().last).toMatchObject({ outcome: 'rolled-back' });
    expect(entries(d)).toEqual(['twin6-g1-a.conf']);
  });

  it('a power cut after the entry was written but before the step was recorded: the new slot follows its trial', async () => {
    const d = device();
    const s = await start(d);
    const b = serve('late.t6fw', sampleParts());
    const { requestId } = await s.upgrade(b);
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 20_000, what: 'the reboot command' });
    // As if the cut came before pending.json said "reboot": it still says "write", with the slot and generation.
    const pendingFile = join(d.stateDir, 'firmware', 'pending.json');
    writeFileSync(pendingFile, JSON.stringify({ ...JSON.parse(readFileSync(pendingFile, 'utf8')), phase: 'write' }));
    bootLoaderTries(d, 'b');
    d.health = { healthy: true, waitingFor: '' };
    const s2 = await start(d);
    const done = await poll(() => (s2.status().last ? s2.status() : undefined), { timeoutMs: 10_000, what: 'the outcome' });
    expect(done.last).toMatchObject({ requestId, outcome: 'committed' });
  });

  it('stage: downloads and verifies only; the same command without it writes the slot from the kept file', async () => {
    const d = device();
    const s = await start(d);
    const b = serve('stage.t6fw', sampleParts());
    await s.upgrade({ ...b, stage: true });
    const staged = await settled(d);
    expect(staged.last).toMatchObject({ outcome: 'staged' });
    expect(entries(d)).toEqual(['twin6-g1-a.conf']);
    expect(readFileSync(d.layout.partitions.b)).toEqual(Buffer.alloc(PART_BYTES));
    const before = parseRequestLog(serverLog).length;
    await s.upgrade(b);
    await poll(() => (existsSync(d.rebootMark) ? true : undefined), { timeoutMs: 20_000, what: 'the reboot command' });
    // Nothing downloaded again: a range from the end, answered 416.
    expect(
      parseRequestLog(serverLog)
        .slice(before)
        .filter((r) => r.path === '/stage.t6fw'),
    ).toEqual([expect.objectContaining({ range: `bytes=${b.size}-`, status: 416, sent: 0 })]);
    expect(entries(d)).toEqual(['twin6-g1-a.conf', 'twin6-g2-b+1.conf']);
  });

  it('entries as a cut in a FAT rename or a firmware that could not rename leaves them', async () => {
    // Both names of one rename: the committed one stands, the counted one goes.
    const d = device({ slot: 'b', entries: { 'twin6-g1-a.conf': ENTRY_A, 'twin6-g2-b.conf': ENTRY_A, 'twin6-g2-b+0-1.conf': ENTRY_A } });
    expect((await start(d)).status()).toMatchObject({ slot: 'b', generation: 2, state: 'committed' });
    expect(entries(d)).toEqual(['twin6-g1-a.conf', 'twin6-g2-b.conf']);
    // Booted from an entry whose try was never spent: spent here, so a failing trial falls back.
    const e = device({ slot: 'b', entries: { 'twin6-g1-a.conf': ENTRY_A, 'twin6-g2-b+1.conf': ENTRY_A } });
    expect((await start(e)).status()).toMatchObject({ slot: 'b', state: 'trial' });
    expect(entries(e)).toEqual(['twin6-g1-a.conf', 'twin6-g2-b+0-1.conf']);
  });
});

// downloadFile against a real node:https server on 127.0.0.1 with a
// certificate from a throwaway CA (src/testing/lab/pki.ts, openssl), serving
// a few MiB with Range support; hooks make it drop, stall, ignore the range
// or lie about the length (docs/style.md §3.4).

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadFile, type DownloadOptions } from '../../../src/firmware/download.js';
import { issueCert, makeCa } from '../../../src/testing/lab/pki.js';

const MiB = 1024 * 1024;
const DATA = Buffer.from(Array.from({ length: 3 * MiB }, (_, i) => (i * 7 + (i >> 10)) & 0xff));
const DATA_SHA = createHash('sha256').update(DATA).digest('hex');

type Hook = (req: IncomingMessage, res: ServerResponse) => void;

let pkiDir: string;
let ca: string;
let serverCert: { cert: string; key: string };
let clientCert: { cert: string; key: string };
beforeAll(async () => {
  pkiDir = await mkdtemp(join(tmpdir(), 'twin6-dl-pki-'));
  const caId = await makeCa(pkiDir, 'twin6 download test CA');
  const server = await issueCert(
    pkiDir,
    caId,
    'server',
    'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n',
  );
  const client = await issueCert(pkiDir, caId, 'device', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  ca = await readFile(caId.cert, 'utf8');
  serverCert = { cert: await readFile(server.cert, 'utf8'), key: await readFile(server.key, 'utf8') };
  clientCert = { cert: await readFile(client.cert, 'utf8'), key: await readFile(client.key, 'utf8') };
});
afterAll(async () => {
  await rm(pkiDir, { recursive: true, force: true });
});

let dir: string;
let dest: string;
let server: Server;
let base: string;
/** The Range header of every request the server got (undefined: none). */
let ranges: (string | undefined)[];
/** Replaces the server's answer for the next requests, one hook per request; then the plain file server. */
let hooks: Hook[];

/** A static file server with single open-ended ranges (bytes=N-), as nginx answers them. */
function serveFile(req: IncomingMessage, res: ServerResponse, body = DATA): void {
  if (req.url !== '/fw.bin') {
    res.writeHead(404).end('not found');
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (!m) {
    res.writeHead(200, { 'content-length': body.length }).end(body);
    return;
  }
  const start = Number(m[1]);
  if (start >= body.length) {
    res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
    return;
  }
  res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
  res.end(body.subarray(start));
}

async function startServer(opts: { requestCert?: boolean } = {}): Promise<void> {
  server = createServer({ ...serverCert, ...(opts.requestCert && { ca, requestCert: true, rejectUnauthorized: true }) }, (req, res) => {
    ranges.push(req.headers.range);
    const hook = hooks.shift();
    if (hook) hook(req, res);
    else serveFile(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'twin6-dl-'));
  dest = join(dir, 'fw.bin.part');
  ranges = [];
  hooks = [];
  await startServer();
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const download = (patch: Partial<DownloadOptions> = {}) =>
  downloadFile({ url: `${base}/fw.bin`, dest, size: DATA.length, maxBytes: 64 * MiB, ca, idleTimeoutMs: 2000, ...patch });
const fileSha = async () =>
  createHash('sha256')
    .update(await readFile(dest))
    .digest('hex');

describe('downloadFile', () => {
  it('downloads the whole file, fsyncing along the way, and reports progress', async () => {
    const progress: number[] = [];
    const started = performance.now();
    const r = await download({
      syncEveryBytes: MiB,
      onProgress: (bytes, total) => (expect(total).toBe(DATA.length), progress.push(bytes)),
    });
    expect(r).toEqual({ ok: true, bytes: DATA.length, resumedFrom: 0 });
    expect(await fileSha()).toBe(DATA_SHA);
    expect(ranges).toEqual([undefined]);
    expect(progress.at(-1)).toBe(DATA.length);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    // At most one call per MiB or per second, and the last.
    const seconds = Math.floor((performance.now() - started) / 1000);
    expect(progress.length).toBeLessThanOrEqual(3 + seconds + 1);
  });

  it('resumes with Range: bytes=N- after the server drops the connection midway', async () => {
    hooks.push((_req, res) => {
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, MiB), () => setTimeout(() => res.socket?.destroy(), 50));
    });
    const first = await download();
    expect(first).toMatchObject({ ok: false, code: 'NETWORK' });
    const kept = (await stat(dest)).size;
    expect(kept).toBeGreaterThan(0);
    expect(first.bytes).toBe(kept);

    const second = await download();
    expect(second).toEqual({ ok: true, bytes: DATA.length, resumedFrom: kept });
    expect(ranges).toEqual([undefined, `bytes=${kept}-`]);
    expect(await fileSha()).toBe(DATA_SHA);
  });

  it('takes the whole body when the server ignores the Range and answers 200', async () => {
    await writeFile(dest, Buffer.alloc(1000, 0xee)); // wrong bytes: a 200 replaces them
    hooks.push((_req, res) => res.writeHead(200, { 'content-length': DATA.length }).end(DATA));
    expect(await download()).toEqual({ ok: true, bytes: DATA.length, resumedFrom: 0 });
    expect(ranges).toEqual(['bytes=1000-']);
    expect(await fileSha()).toBe(DATA_SHA);
  });

  it('restarts from 0 when a 206 starts elsewhere than asked', async () => {
    await writeFile(dest, DATA.subarray(0, 5000));
    hooks.push((_req, res) => {
      res.writeHead(206, { 'content-length': DATA.length - 10, 'content-range': `bytes 10-${DATA.length - 1}/${DATA.length}` });
      res.end(DATA.subarray(10));
    });
    expect(await download()).toEqual({ ok: true, bytes: DATA.length, resumedFrom: 0 });
    expect(ranges).toEqual(['bytes=5000-', undefined]);
    expect(await fileSha()).toBe(DATA_SHA);
  });

  it('refuses a server whose file is not the command’s size', async () => {
    const r = await download({ size: DATA.length - 1 });
    expect(r).toMatchObject({ ok: false, code: 'SIZE_MISMATCH', bytes: 0 });
    await writeFile(dest, DATA.subarray(0, 100));
    expect(await download({ size: DATA.length + 1 })).toMatchObject({ ok: false, code: 'SIZE_MISMATCH' });
  });

  it('refuses a size over maxBytes before any request', async () => {
    const r = await download({ maxBytes: DATA.length - 1 });
    expect(r).toMatchObject({ ok: false, code: 'TOO_LARGE', bytes: 0 });
    expect(ranges).toEqual([]);
  });

  it('gives up on a stalled server after the idle timeout and keeps the partial file', async () => {
    hooks.push((_req, res) => {
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, 64 * 1024));
    });
    const started = performance.now();
    const r = await download({ idleTimeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, code: 'NETWORK', problem: expect.stringMatching(/no data for 300 ms/) });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(r.bytes).toBeGreaterThan(0);
    expect((await stat(dest)).size).toBe(r.bytes);
  });

  it('gives up on a server that accepts the request and never answers it', async () => {
    hooks.push(() => undefined);
    const r = await download({ idleTimeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, code: 'NETWORK', problem: expect.stringMatching(/no data for 200 ms/), bytes: 0 });
  });

  it('says WRITE_FAILED when the partial file cannot be written', async () => {
    const r = await download({ dest: join(dir, 'no-such-dir', 'fw.bin.part') });
    expect(r).toMatchObject({ ok: false, code: 'WRITE_FAILED', problem: expect.stringContaining('ENOENT'), bytes: 0 });
    expect(ranges).toEqual([]);
  });

  it('stops when aborted', async () => {
    hooks.push((_req, res) => {
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, 1024));
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    expect(await download({ signal: ac.signal })).toMatchObject({ ok: false, code: 'ABORTED' });
    expect(await download({ signal: ac.signal })).toMatchObject({ ok: false, code: 'ABORTED', problem: /before/ });
  });

  it('reports an HTTP error status, and follows no redirect', async () => {
    expect(await download({ url: `${base}/missing.bin` })).toMatchObject({ ok: false, code: 'HTTP', problem: 'HTTP 404 Not Found' });
    hooks.push((_req, res) => res.writeHead(302, { location: 'https://elsewhere.example/fw.bin' }).end());
    expect(await download()).toMatchObject({ ok: false, code: 'HTTP', problem: expect.stringMatching(/302 .*elsewhere.*refused/) });
  });

  it('refuses a server certificate it cannot verify', async () => {
    const r = await download({ ca: undefined });
    expect(r).toMatchObject({ ok: false, code: 'NETWORK', bytes: 0 });
    expect(ranges).toEqual([]);
  });

  it('presents a client certificate when the server asks for one', async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await startServer({ requestCert: true });
    expect(await download()).toMatchObject({ ok: false, code: 'NETWORK' });
    expect(await download(clientCert)).toMatchObject({ ok: true, bytes: DATA.length });
  });

  it('refuses a URL that is not https:', async () => {
    expect(await download({ url: base.replace('https:', 'http:') })).toMatchObject({ ok: false, code: 'BAD_URL' });
    expect(await download({ url: 'fw.bin' })).toMatchObject({ ok: false, code: 'BAD_URL' });
    expect(ranges).toEqual([]);
  });

  it('is done when the server answers 416 to a partial file that already has every byte', async () => {
    await writeFile(dest, DATA);
    expect(await download()).toEqual({ ok: true, bytes: DATA.length, resumedFrom: DATA.length });
    expect(ranges).toEqual([`bytes=${DATA.length}-`]);
  });

  it('starts again from 0 when the partial file is longer than the whole', async () => {
    await writeFile(dest, Buffer.concat([DATA, Buffer.alloc(10)]));
    expect(await download()).toEqual({ ok: true, bytes: DATA.length, resumedFrom: 0 });
    expect(ranges).toEqual([undefined]);
    expect(await fileSha()).toBe(DATA_SHA);
  });

  it('never writes past the size when the server sends more than it announced', async () => {
    hooks.push((_req, res) => {
      res.writeHead(200); // no Content-Length: chunked
      res.end(Buffer.concat([DATA, Buffer.alloc(5000)]));
    });
    expect(await download()).toMatchObject({ ok: false, code: 'SIZE_MISMATCH', bytes: DATA.length });
    expect((await stat(dest)).size).toBe(DATA.length);
  });
});

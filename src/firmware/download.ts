// Downloads an update bundle over HTTPS into a partial file that survives a
// dropped connection or a power cut: the next call resumes from the file's
// length with a Range request (RFC 9110 §14). The file's contents are not
// trusted here; verifyBundleFile (bundle-file.ts) checks them afterwards.
//
// No redirect is followed: the signed command names the exact URL, and a
// redirect would fetch from somewhere the operator did not sign for.
// Nothing is thrown: every outcome, including a failing disk, is a result.

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { performance } from 'node:perf_hooks';

export const IDLE_TIMEOUT_MS_DEFAULT = 30_000;
export const SYNC_EVERY_BYTES_DEFAULT = 4 * 1024 * 1024;
/** onProgress is called when this many bytes or this much time passed since its last call. */
const PROGRESS_EVERY_BYTES = 1024 * 1024;
const PROGRESS_EVERY_MS = 1000;
/** The request, and one restart from 0 when a server answers a Range request at another offset. */
const REQUESTS_MAX = 2;
/** Text quoted in a problem (a Location, a Content-Range, an error message) is cut to this. */
const QUOTE_CHARS_MAX = 120;

export interface DownloadOptions {
  /** https: only; the exact URL the signed command names. */
  readonly url: string;
  /** The partial file: when it exists, the download resumes from its length. */
  readonly dest: string;
  /** The file's total size from the command, bytes; a server announcing another is refused. */
  readonly size: number;
  /** Cap, bytes: a size over it is refused before any request, and nothing is written past it. */
  readonly maxBytes: number;
  /** Trust anchor (PEM) replacing node's CA list. */
  readonly ca?: Buffer | string;
  /** Client certificate and key (PEM) for mutual TLS. */
  readonly cert?: Buffer | string;
  readonly key?: Buffer | string;
  /** No byte for this long (ms, default 30 s) ends the attempt; the partial file is kept. */
  readonly idleTimeoutMs?: number;
  /** Bytes in the file so far and the total; called at most once per 1 MiB or 1 s, and at the end. */
  readonly onProgress?: (bytes: number, total: number) => void;
  readonly signal?: AbortSignal;
  /** fsync the partial file after this many bytes (default 4 MiB): what a power cut cannot take back. */
  readonly syncEveryBytes?: number;
}

export type DownloadCode = 'TOO_LARGE' | 'HTTP' | 'NETWORK' | 'SIZE_MISMATCH' | 'ABORTED' | 'BAD_URL' | 'WRITE_FAILED';

export type DownloadResult =
  | { readonly ok: true; readonly bytes: number; readonly resumedFrom: number }
  | { readonly ok: false; readonly code: DownloadCode; readonly problem: string; readonly bytes: number };

const failed = (code: DownloadCode, problem: string, bytes: number): DownloadResult => ({ ok: false, code, problem, bytes });

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A failure of the partial file itself (a full or failing disk), as opposed to the network. */
class DiskError extends Error {}

/** Downloads `url` into `dest`, resuming what is there. Never throws. */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const url = httpsUrl(opts.url);
  if (typeof url === 'string') return failed('BAD_URL', url, 0);
  if (!Number.isSafeInteger(opts.size) || opts.size < 0) return failed('SIZE_MISMATCH', `size ${opts.size} is not a byte count`, 0);
  if (!(opts.size <= opts.maxBytes)) return failed('TOO_LARGE', `the file is ${opts.size} bytes, the limit is ${opts.maxBytes}`, 0);
  if (opts.signal?.aborted) return failed('ABORTED', 'aborted before the download started', 0);

  let file: PartialFile;
  try {
    file = await PartialFile.open(opts.dest, opts.syncEveryBytes ?? SYNC_EVERY_BYTES_DEFAULT);
  } catch (e) {
    return failed('WRITE_FAILED', `cannot open ${opts.dest}: ${messageOf(e)}`, 0);
  }
  // setTimeout takes at most 2^31 - 1 ms (and fires at once past it).
  const idle = new IdleWatch(Math.min(Math.max(opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS_DEFAULT, 1), 2 ** 31 - 1));
  try {
    // A partial file longer than the whole cannot be this download's.
    if (file.bytes > opts.size) await file.truncate();
    return await fetchInto(url, file, idle, opts);
  } catch (e) {
    if (e instanceof DiskError) return failed('WRITE_FAILED', e.message, file.bytes);
    if (opts.signal?.aborted) return failed('ABORTED', 'aborted', file.bytes);
    if (idle.fired) return failed('NETWORK', `no data for ${idle.ms} ms; the partial file is kept`, file.bytes);
    const code = (e as { code?: unknown }).code;
    const detail = `${typeof code === 'string' ? `${code}: ` : ''}${messageOf(e)}`;
    return failed('NETWORK', `${clip(detail)} (${file.bytes} of ${opts.size} bytes so far)`, file.bytes);
  } finally {
    idle.stop();
    await file.close();
  }
}

function httpsUrl(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a URL: ${quote(text)}`;
  }
  if (url.protocol !== 'https:') return `only https: URLs are fetched, got ${quote(url.protocol)}`;
  return url;
}

/** Text from the network or a library, on one line and cut to QUOTE_CHARS_MAX. */
const clip = (s: string): string => {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length <= QUOTE_CHARS_MAX ? line : `${line.slice(0, QUOTE_CHARS_MAX)}...`;
};
const quote = (s: string | undefined): string => (s === undefined ? 'nothing' : JSON.stringify(clip(s)));

async function fetchInto(url: URL, file: PartialFile, idle: IdleWatch, opts: DownloadOptions): Promise<DownloadResult> {
  for (let attempt = 0; attempt < REQUESTS_MAX; attempt++) {
    const offset = file.bytes;
    const res = await get(url, offset, idle, opts);
    const next = judgeResponse(res.statusCode ?? 0, res.statusMessage ?? '', res.headers, offset, opts.size);
    switch (next.kind) {
      case 'fail':
        res.destroy();
        return failed(next.code, next.problem, file.bytes);
      case 'complete':
        res.resume();
        await file.sync();
        return { ok: true, bytes: file.bytes, resumedFrom: file.bytes };
      case 'restart':
        res.destroy();
        await file.truncate();
        continue;
      case 'body':
        if (next.from < file.bytes) await file.truncate();
        return await receive(res, file, idle, opts);
    }
  }
  return failed('HTTP', `the server answered a request from byte 0 with a range elsewhere`, file.bytes);
}

/** One GET from `offset`; resolves with the response's head. */
function get(url: URL, offset: number, idle: IdleWatch, opts: DownloadOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (offset > 0) headers['range'] = `bytes=${offset}-`;
    const req = request(url, {
      method: 'GET',
      headers,
      // A connection of its own: nothing pooled outlives the download.
      agent: false,
      ...(opts.ca !== undefined && { ca: opts.ca }),
      ...(opts.cert !== undefined && { cert: opts.cert }),
      ...(opts.key !== undefined && { key: opts.key }),
      ...(opts.signal !== undefined && { signal: opts.signal }),
    });
    // Kept after the response too: an error later in the body reaches the
    // reader through the response, and must not go unhandled here.
    req.on('error', reject);
    req.once('response', resolve);
    idle.watch(req);
    req.end();
  });
}

type Next =
  | { readonly kind: 'body'; readonly from: number }
  | { readonly kind: 'complete' }
  | { readonly kind: 'restart' }
  | { readonly kind: 'fail'; readonly code: DownloadCode; readonly problem: string };

/** What a response's status and headers mean for a download of `size` bytes that has `offset` of them. */
function judgeResponse(status: number, statusText: string, headers: IncomingHttpHeaders, offset: number, size: number): Next {
  const fail = (code: DownloadCode, problem: string): Next => ({ kind: 'fail', code, problem });
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') return fail('HTTP', `the server sent the file ${quote(encoding)}-encoded`);
  if (status >= 300 && status < 400) {
    return fail('HTTP', `HTTP ${status} to ${quote(headers.location)} refused: the signed command names the exact URL`);
  }
  const length = contentLength(headers);
  const range = parseContentRange(headers['content-range']);
  if (status === 200) {
    if (length !== undefined && length !== size)
      return fail('SIZE_MISMATCH', `the server's file is ${length} bytes, the command says ${size}`);
    return { kind: 'body', from: 0 };
  }
  if (status === 206) {
    if (range === undefined || range.start === undefined)
      return fail('HTTP', `HTTP 206 with Content-Range ${quote(headers['content-range'])}`);
    if (range.total !== undefined && range.total !== size) {
      return fail('SIZE_MISMATCH', `the server's file is ${range.total} bytes, the command says ${size}`);
    }
    if (range.start !== offset) return { kind: 'restart' };
    if (range.end !== size - 1)
      return fail('SIZE_MISMATCH', `the server sends bytes ${range.start}-${range.end}, the file ends at ${size - 1}`);
    if (length !== undefined && length !== range.end - range.start + 1) {
      return fail('HTTP', `Content-Length ${length} disagrees with Content-Range ${quote(headers['content-range'])}`);
    }
    return { kind: 'body', from: offset };
  }
  if (status === 416) {
    if (range?.total !== undefined && range.total !== size) {
      return fail('SIZE_MISMATCH', `the server's file is ${range.total} bytes, the command says ${size}`);
    }
    // The partial file already holds every byte: a power cut after the last write, before the caller moved on.
    if (offset === size) return { kind: 'complete' };
    return fail('HTTP', `HTTP 416 for bytes ${offset}- of a ${size}-byte file`);
  }
  return fail('HTTP', `HTTP ${status} ${statusText}`.trim());
}

function contentLength(headers: IncomingHttpHeaders): number | undefined {
  const text = headers['content-length'];
  return text !== undefined && /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** `bytes A-B/T`, `bytes A-B/*` or `bytes * /T` (RFC 9110 §14.4). */
function parseContentRange(text: string | undefined): { start?: number; end?: number; total?: number } | undefined {
  const m = text === undefined ? null : /^bytes (?:(\d{1,15})-(\d{1,15})|\*)\/(\d{1,15}|\*)$/.exec(text.trim());
  if (!m) return undefined;
  const [, a, b, t] = m;
  const total = t === '*' || t === undefined ? undefined : Number(t);
  if (a === undefined || b === undefined) return { total };
  const start = Number(a);
  const end = Number(b);
  return start <= end ? { start, end, total } : undefined;
}

/** Writes the body to the file, never past `size`. */
async function receive(res: IncomingMessage, file: PartialFile, idle: IdleWatch, opts: DownloadOptions): Promise<DownloadResult> {
  const resumedFrom = file.bytes;
  const progress = new Progress(opts, file.bytes);
  for await (const chunk of res as AsyncIterable<Buffer>) {
    idle.touch();
    const room = opts.size - file.bytes;
    if (chunk.length > room) {
      await file.write(chunk.subarray(0, room));
      return failed('SIZE_MISMATCH', `the server sent more than the ${opts.size} bytes the command says`, file.bytes);
    }
    await file.write(chunk);
    // Touched again after the write: the time a slow fsync takes is not the server's silence.
    idle.touch();
    progress.report(file.bytes, false);
  }
  if (file.bytes < opts.size) return failed('NETWORK', `the connection ended after ${file.bytes} of ${opts.size} bytes`, file.bytes);
  await file.sync();
  progress.report(file.bytes, true);
  return { ok: true, bytes: file.bytes, resumedFrom };
}

/** Destroys the request when no byte came for `ms`. */
class IdleWatch {
  fired = false;
  private timer: NodeJS.Timeout | undefined;
  constructor(readonly ms: number) {}

  watch(req: ClientRequest): void {
    this.stop();
    this.timer = setTimeout(() => {
      this.fired = true;
      req.destroy(new Error(`no data for ${this.ms} ms`));
    }, this.ms);
  }

  touch(): void {
    this.timer?.refresh();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

class Progress {
  private lastBytes: number;
  private lastMs = performance.now();
  constructor(
    private readonly opts: DownloadOptions,
    startBytes: number,
  ) {
    this.lastBytes = startBytes;
  }

  report(bytes: number, last: boolean): void {
    const now = performance.now();
    if (!last && bytes - this.lastBytes < PROGRESS_EVERY_BYTES && now - this.lastMs < PROGRESS_EVERY_MS) return;
    this.lastBytes = bytes;
    this.lastMs = now;
    try {
      this.opts.onProgress?.(bytes, this.opts.size);
    } catch {
      // A failing progress callback is the caller's problem, not the download's.
    }
  }
}

/** The partial file: its length is the download's offset. Failures are DiskErrors. */
class PartialFile {
  private unsyncedBytes = 0;
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    public bytes: number,
    private readonly syncEveryBytes: number,
  ) {}

  static async open(path: string, syncEveryBytes: number): Promise<PartialFile> {
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      return new PartialFile(fh, path, (await fh.stat()).size, syncEveryBytes);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  async write(chunk: Buffer): Promise<void> {
    await this.disk('write', async () => {
      // fh.write may write less than asked; each round writes at least a byte or fails.
      for (let done = 0; done < chunk.length;) {
        const { bytesWritten } = await this.fh.write(chunk, done, chunk.length - done, this.bytes);
        if (bytesWritten <= 0) throw new Error('wrote nothing');
        done += bytesWritten;
        this.bytes += bytesWritten;
        this.unsyncedBytes += bytesWritten;
      }
    });
    if (this.unsyncedBytes >= this.syncEveryBytes) await this.sync();
  }

  async truncate(): Promise<void> {
    await this.disk('truncate', () => this.fh.truncate(0));
    this.bytes = 0;
    this.unsyncedBytes = 0;
  }

  async sync(): Promise<void> {
    await this.disk('fsync', () => this.fh.sync());
    this.unsyncedBytes = 0;
  }

  /** Best effort: what came is kept on disk even when the download failed. */
  async close(): Promise<void> {
    if (this.unsyncedBytes > 0) await this.fh.sync().catch(() => undefined);
    await this.fh.close().catch(() => undefined);
  }

  private async disk(what: string, op: () => Promise<void>): Promise<void> {
    try {
      await op();
    } catch (e) {
      throw new DiskError(`${what} ${this.path}: ${messageOf(e)}`, { cause: e });
    }
  }
}

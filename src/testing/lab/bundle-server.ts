// The operator's firmware server in the lab: HTTPS over node:https serving
// the files of one directory, with byte ranges (RFC 9110 §14: "bytes=N-" and
// "bytes=N-M"), so a device's download resumes after a power cut. Each
// request is one JSON line on stdout (method, path, range, status, bytes
// sent), which the tests read to see that a download resumed. --rate caps
// the bytes per second, so that a test can cut the power mid-download.
//
// usage: node dist/testing/lab/bundle-server.js --dir DIR --listen ADDR --port N --cert PEM --key PEM [--rate BYTES_PER_SEC]

import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:https';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

export interface RequestLine {
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
  readonly status: number;
  /** Bytes of body sent before the response ended or the client went away. */
  readonly sent: number;
  readonly complete: boolean;
}

/** The request lines a server logged. */
export function parseRequestLog(text: string): RequestLine[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as RequestLine);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      listen: { type: 'string' },
      port: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      rate: { type: 'string' },
    },
  });
  const { dir, listen, port, cert, key } = values;
  if (!dir || !listen || !port || !cert || !key) {
    process.stderr.write('usage: bundle-server --dir DIR --listen ADDR --port N --cert PEM --key PEM [--rate BYTES_PER_SEC]\n');
    process.exit(2);
  }
  const rate = values.rate ? Number(values.rate) : 0;
  const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname);
    const file = join(dir, basename(path));
    const range = req.headers.range ?? null;
    let sent = 0;
    let logged = false;
    const done = (status: number, complete: boolean) => {
      if (logged) return;
      logged = true;
      process.stdout.write(`${JSON.stringify({ method: req.method ?? '', path, range, status, sent, complete } satisfies RequestLine)}\n`);
    };
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      res.writeHead(404).end();
      return done(404, true);
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m || Number(m[1]) >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return done(416, true);
      }
      start = Number(m[1]);
      if (m[2]) end = Math.min(size - 1, Number(m[2]));
      status = 206;
    }
    res.writeHead(status, {
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return done(status, true);
    }
    const stream = createReadStream(file, { start, end, highWaterMark: 64 * 1024 });
    const began = Date.now();
    stream.on('data', (chunk) => {
      sent += chunk.length;
      const ok = res.write(chunk);
      // Throttle: pause until the rate allows what was sent so far.
      const aheadMs = rate > 0 ? (sent / rate) * 1000 - (Date.now() - began) : 0;
      if (!ok || aheadMs > 0) {
        stream.pause();
        const resume = () => setTimeout(() => stream.resume(), Math.max(0, aheadMs));
        if (!ok) res.once('drain', resume);
        else resume();
      }
    });
    const length = end - start + 1;
    stream.on('end', () => res.end(() => done(status, true)));
    // A client that has every byte may close before the end callback runs: complete is what it got.
    res.on('close', () => {
      stream.destroy();
      done(status, sent === length);
    });
  });
  server.listen(Number(port), listen, () => process.stderr.write(`bundle-server: https://[${listen}]:${port}/ serving ${dir}\n`));
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) main();

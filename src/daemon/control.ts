// The local control socket (<state-dir>/twin6d.sock) that twin6ctl talks to:
// one JSON request per line, one JSON answer per line. Commands are a table
// so that the MQTT uplink can later serve the same ones.

import net from 'node:net';
import fs from 'node:fs/promises';
import type { ControlHandler } from './host.js';

export type ControlAnswer = { ok: true; result: unknown } | { ok: false; error: string };

export const CONTROL_SOCKET_NAME = 'twin6d.sock';
/** A request line longer than this is refused: the socket is local, but bounds stay bounds. */
const REQUEST_BYTES_MAX = 64 * 1024;

/** How long a command not (yet) in the table waits for the daemon to finish starting before it is called unknown. */
const STARTING_WAIT_MS = 4_000; // below callControl's 5 s

/**
 * ready: resolves once every feature has registered its commands. The socket
 * opens before that (status answers during start), and a command that is not
 * in the table yet — `failover` a moment after start — waits for it instead of
 * being refused as unknown.
 */
export async function serveControl(
  path: string,
  commands: Readonly<Record<string, ControlHandler>>,
  ready: Promise<void> = Promise.resolve(),
): Promise<net.Server> {
  await fs.rm(path, { force: true });
  const server = net.createServer((conn) => {
    let buffered = '';
    conn.setEncoding('utf8');
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > REQUEST_BYTES_MAX) {
        conn.end(JSON.stringify({ ok: false, error: 'request too long' }) + '\n');
        return;
      }
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        void answer(line, commands, ready).then((a) => conn.write(JSON.stringify(a) + '\n'));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // bind() creates the socket file with 0777 & ~umask; chmod after listen would leave a
    // window in which anyone could connect. listen() binds synchronously, so the umask is
    // only changed for this call.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      process.umask(umask);
    }
  });
  return server;
}

/** Group or other bits on the state directory: it holds the lease database and the control socket. */
const STATE_DIR_LOOSE = 0o077;

/**
 * Makes the state directory 0700 (its missing parents too), or tightens an
 * existing one to 0700: anyone who can traverse it can talk to the control
 * socket or read the leases. Tightened rather than refused so a directory made
 * by an older twin6d or by hand keeps working; the caller logs it.
 */
export async function prepareStateDir(dir: string): Promise<{ tightenedFrom?: number }> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const mode = (await fs.stat(dir)).mode & 0o777;
  if ((mode & STATE_DIR_LOOSE) === 0) return {};
  await fs.chmod(dir, mode & ~STATE_DIR_LOOSE);
  return { tightenedFrom: mode };
}

async function answer(line: string, commands: Readonly<Record<string, ControlHandler>>, ready: Promise<void>): Promise<ControlAnswer> {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    return { ok: false, error: 'request is not JSON' };
  }
  if (typeof request !== 'object' || request === null || typeof (request as { cmd?: unknown }).cmd !== 'string') {
    return { ok: false, error: 'request needs a "cmd" string' };
  }
  const { cmd, ...args } = request as { cmd: string } & Record<string, unknown>;
  const lookup = () => (Object.hasOwn(commands, cmd) ? commands[cmd] : undefined);
  let handler = lookup();
  if (!handler) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ready, new Promise<void>((r) => (timer = setTimeout(r, STARTING_WAIT_MS)))]).catch(() => undefined);
    clearTimeout(timer);
    handler = lookup();
  }
  if (!handler) return { ok: false, error: `unknown command "${cmd}"; known: ${Object.keys(commands).join(', ')}` };
  try {
    return { ok: true, result: await handler(args) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Client side: one request, one answer. */
export function callControl(path: string, request: Record<string, unknown>, timeoutMs = 5000): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(path);
    let buffered = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(JSON.stringify(request) + '\n'));
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      conn.end();
      try {
        resolve(JSON.parse(buffered.slice(0, nl)) as ControlAnswer);
      } catch (e) {
        reject(e);
      }
    });
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

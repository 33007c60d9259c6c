// The control socket: JSON lines in, one answer per line out; a command that a
// feature registers later waits for the daemon to finish starting.

import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Server } from 'node:net';
import { callControl, prepareStateDir, serveControl } from '../../../src/daemon/control.js';
import type { ControlHandler } from '../../../src/daemon/host.js';

const open: { server: Server; dir: string }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) {
    o.server.close();
    rmSync(o.dir, { recursive: true, force: true });
  }
});

async function serve(commands: Record<string, ControlHandler>, ready?: Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 't6-control-'));
  const path = join(dir, 'twin6d.sock');
  const server = await serveControl(path, commands, ready);
  open.push({ server, dir });
  return path;
}

describe('control socket', () => {
  it('answers a known command, refuses bad requests and unknown commands with the known ones listed', async () => {
    const path = await serve({ status: async () => ({ up: true }) });
    expect(await callControl(path, { cmd: 'status' })).toEqual({ ok: true, result: { up: true } });
    const unknown = await callControl(path, { cmd: 'nope' });
    expect(unknown).toEqual({ ok: false, error: 'unknown command "nope"; known: status' });
  });

  it('holds a command not registered yet until the daemon has started, then answers it', async () => {
    const commands: Record<string, ControlHandler> = { status: async () => 'up' };
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));
    const path = await serve(commands, ready);
    const pending = callControl(path, { cmd: 'failover.status' });
    expect(await callControl(path, { cmd: 'status' })).toEqual({ ok: true, result: 'up' }); // answers during start
    commands['failover.status'] = async () => ({ state: 'NORMAL' });
    started();
    expect(await pending).toEqual({ ok: true, result: { state: 'NORMAL' } });
    // Once started, an unknown command is refused at once.
    expect(await callControl(path, { cmd: 'nope' })).toMatchObject({ ok: false });
  });
});

describe('control socket and state directory permissions', () => {
  // The test process's umask is shared by every test in this file: put it back whatever happens.
  let umaskBefore: number | undefined;
  afterEach(() => {
    if (umaskBefore !== undefined) process.umask(umaskBefore);
    umaskBefore = undefined;
    vi.restoreAllMocks();
  });

  it('creates the socket 0600 at listen, not after it, even under umask 000', async () => {
    umaskBefore = process.umask(0o000);
    // Stat in the first 'listening' listener: anything done after listen (a chmod) has not run yet.
    let atListen: number | undefined;
    const create = net.createServer.bind(net);
    vi.spyOn(net, 'createServer').mockImplementation(((...a: Parameters<typeof net.createServer>) => {
      const server = create(...a);
      server.prependOnceListener('listening', () => {
        const addr = server.address();
        if (typeof addr === 'string') atListen = statSync(addr).mode & 0o777;
      });
      return server;
    }) as typeof net.createServer);
    const path = await serve({ status: () => 'up' });
    expect(atListen?.toString(8)).toBe('600');
    expect((statSync(path).mode & 0o777).toString(8)).toBe('600');
    // The daemon's other files are not made under the socket's umask.
    expect(process.umask(0o000)).toBe(0o000);
  });

  it('makes a new state directory 0700 under umask 000, and tightens an existing loose one', async () => {
    umaskBefore = process.umask(0o000);
    const base = mkdtempSync(join(tmpdir(), 't6-state-'));
    try {
      const fresh = join(base, 'new', 'state');
      await prepareStateDir(fresh);
      expect((statSync(fresh).mode & 0o777).toString(8)).toBe('700');
      const loose = join(base, 'loose');
      mkdirSync(loose, { mode: 0o755 });
      expect(await prepareStateDir(loose)).toEqual({ tightenedFrom: 0o755 });
      expect((statSync(loose).mode & 0o777).toString(8)).toBe('700');
      expect(await prepareStateDir(loose)).toEqual({});
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

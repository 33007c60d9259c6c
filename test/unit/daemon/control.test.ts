// The control socket: JSON lines in, one answer per line out; a command that a
// feature registers later waits for the daemon to finish starting.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:net';
import { callControl, serveControl, type ControlHandler } from '../../../src/daemon/control.js';

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

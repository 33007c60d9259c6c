// The bins as an operator meets them: config checking, refusing a bad config
// before anything starts, and twin6ctl's answers when no daemon is there.
// Runs the compiled bins (npm test builds first).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONTROL_SOCKET_NAME, serveControl } from '../../src/daemon/control.js';

const twin6d = resolve('dist/cli/twin6d.js');
const twin6ctl = resolve('dist/cli/twin6ctl.js');
const dir = mkdtempSync(join(tmpdir(), 't6-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runBin = (bin: string, args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000 });
/** As runBin, for a bin that talks to a socket this process serves (spawnSync would block it). */
const runBinAsync = (bin: string, args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const p = spawn(process.execPath, [bin, ...args], { timeout: 20_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => done({ code, stdout, stderr }));
  });

describe('twin6d --check-config', () => {
  it('accepts the shipped example', () => {
    const r = runBin(twin6d, ['--check-config', resolve('examples/standalone.json')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('OK');
  });

  it('refuses a bad file, naming each key and reason', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        interfaces: ['lan0'],
        subnets: [
          {
            name: 'x',
            interface: 'lan0',
            prefix: '2001:db8:1::/64',
            pools: ['2001:db8:2::1-2001:db8:2::9'],
            pdPools: [{ prefix: '2001:db8:8000::/40', delegatedLength: 32 }],
          },
        ],
        colour: 'blue',
      }),
    );
    const r = runBin(twin6d, ['--check-config', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/colour: spurious key/);
    expect(r.stderr).toMatch(/subnets\[0\]\.pools\[0\]/);
    expect(r.stderr).toMatch(/subnets\[0\]\.pdPools\[0\]\.delegatedLength/);
  });

  it('reports a JSON syntax error with line and column', () => {
    const bad = join(dir, 'syntax.json');
    writeFileSync(bad, '{\n  "interfaces": ["lan0"],\n  "subnets": [}\n');
    const r = runBin(twin6d, ['--check-config', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/syntax\.json:3:\d+: invalid JSON/);
  });
});

describe('twin6d start-up', () => {
  it('refuses a bad config before anything starts: no state directory, no socket', () => {
    const bad = join(dir, 'bad2.json');
    writeFileSync(bad, JSON.stringify({ interfaces: [], subnets: [] }));
    const state = join(dir, 'state-never');
    const r = runBin(twin6d, ['--config', bad, '--state-dir', state]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^twin6d: interfaces/m);
    expect(existsSync(state)).toBe(false);
  });

  it('answers usage errors with exit 2', () => {
    expect(runBin(twin6d, ['--bogus']).status).toBe(2);
    expect(runBin(twin6d, []).status).toBe(2);
    expect(runBin(twin6ctl, ['--state-dir', dir, 'frobnicate']).status).toBe(2);
  });
});

describe('twin6ctl', () => {
  it('says clearly when no daemon runs in the state directory', () => {
    const r = runBin(twin6ctl, ['--state-dir', join(dir, 'nothing-here'), 'status']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot reach twin6d in .*nothing-here/);
  });
});

describe('twin6ctl leases --all', () => {
  it('pages through every lease the daemon holds and prints them as one answer', async () => {
    const state = mkdtempSync(join(dir, 'state-'));
    const held = Array.from({ length: 7 }, (_, i) => ({
      resource: `2001:db8:1::${i + 10}`,
      type: 'na',
      duid: '0a0b',
      iaid: i,
      state: 'active',
      expiresAtSec: 2_000_000_000,
    }));
    const asked: unknown[] = [];
    // A daemon's control socket whose pages are 3 leases long (twin6d's are 10,000).
    const server = await serveControl(join(state, CONTROL_SOCKET_NAME), {
      leases: (args) => {
        asked.push(args['offset']);
        const offset = typeof args['offset'] === 'number' ? args['offset'] : 0;
        return { total: held.length, offset, leases: held.slice(offset, offset + 3) };
      },
    });
    try {
      const r = await runBinAsync(twin6ctl, ['--state-dir', state, 'leases', '--all', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ total: 7, offset: 0, leases: held });
      expect(asked).toEqual([0, 3, 6]);
      const one = await runBinAsync(twin6ctl, ['--state-dir', state, 'leases', '--json']);
      expect((JSON.parse(one.stdout) as { leases: unknown[] }).leases).toHaveLength(3);
      expect((await runBinAsync(twin6ctl, ['--state-dir', state, 'leases', '--timeout', 'soon'])).code).toBe(2);
    } finally {
      server.close();
    }
  });
});

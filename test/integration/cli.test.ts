// The bins as an operator meets them: config checking, refusing a bad config
// before anything starts, and twin6ctl's answers when no daemon is there.
// Runs the compiled bins (npm test builds first).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const twin6d = resolve('dist/cli/twin6d.js');
const twin6ctl = resolve('dist/cli/twin6ctl.js');
const dir = mkdtempSync(join(tmpdir(), 't6-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runBin = (bin: string, args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000 });

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

import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { loadConfigFile, parseConfig, parseJsonText } from '../../../src/config/load.js';
import type { ServerConfig } from '../../../src/config/types.js';
import { base, problemsOf, withSubnet } from './helpers.js';

const EXAMPLES = new URL('../../../examples/', import.meta.url);

describe('examples/', () => {
  it('every example file is a valid config', async () => {
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.json'));
    expect(files).toContain('standalone.json');
    for (const f of files) {
      // The pair examples name certificate files of a real installation (/etc/twin6/pki); here only
      // their absence may be reported, and nothing else.
      const problems = await loadConfigFile(new URL(f, EXAMPLES).pathname).then(
        () => [],
        (e: ConfigError) =>
          e.errors.filter((p) => !(/^failover\.tls\.\w+File$/.test(p.path) && /cannot read \/etc\/twin6\/pki\/.*ENOENT/.test(p.problem))),
      );
      expect(problems, f).toEqual([]);
    }
  });

  it('standalone.json resolves to bigints, canonical text and filled-in defaults', async () => {
    const config = await loadConfigFile(new URL('standalone.json', EXAMPLES).pathname);
    const expected: ServerConfig = {
      interfaces: ['lan0'],
      subnets: [
        {
          name: 'lan',
          interface: 'lan0',
          prefix: 0x2001_0db8_0001_0000_0000_0000_0000_0000n,
          prefixLength: 64,
          pools: [
            {
              name: '2001:db8:1::1000-2001:db8:1::ffff',
              first: 0x2001_0db8_0001_0000_0000_0000_0000_1000n,
              last: 0x2001_0db8_0001_0000_0000_0000_0000_ffffn,
            },
          ],
          pdPools: [
            { name: '2001:db8:8000::/40 → /56', prefix: 0x2001_0db8_8000_0000_0000_0000_0000_0000n, prefixLength: 40, delegatedLength: 56 },
          ],
          lifetimes: { preferredSec: 3600, validSec: 7200, renewRatio: 0.5, rebindRatio: 0.8 },
          pdLifetimes: { preferredSec: 14400, validSec: 28800, renewRatio: 0.5, rebindRatio: 0.8 },
          rapidCommit: false,
          preference: 0,
          options: { dnsServers: ['2001:db8:1::53'], domainSearch: ['home.example', 'example.com'] },
          reservations: [],
        },
      ],
      declineHoldSec: 86400,
      affinitySec: 86400,
      storage: { commitWindowMs: 5, slowWriteMs: 1000 },
      limits: { iasPerMessage: 8, leasesPerClient: 16 },
      logLevel: 'info',
      port: 547,
      firmware: { trialSec: 300, healthySec: 30, maxMiB: 256, reserveMiB: 16, downloadSec: 3600 },
    };
    expect(config).toStrictEqual(expected);
  });

  it('relayed.json: inheritance, overrides, reservations and top-level settings', async () => {
    const config = await loadConfigFile(new URL('relayed.json', EXAMPLES).pathname);
    expect(config.serverDuid).toBe('00010001' + '2c5e1a00' + '02005e100001');
    expect(config).toMatchObject({
      declineHoldSec: 3600,
      affinitySec: 604800,
      logLevel: 'debug',
      storage: { commitWindowMs: 2, slowWriteMs: 1000 },
    });
    const [office, branch] = config.subnets;
    expect(office).toMatchObject({ name: 'office', interface: 'br-lan', rapidCommit: true, preference: 255 });
    expect(office!.pools[1]).toEqual({
      name: '2001:db8:1::8000/113',
      first: 0x2001_0db8_0001_0000_0000_0000_0000_8000n,
      last: 0x2001_0db8_0001_0000_0000_0000_0000_ffffn,
    });
    expect(office!.reservations).toStrictEqual([
      { duid: '000100012c5e1a0002005e100002', address: '2001:db8:1::10' },
      { duid: '000300010200005e1003', address: '2001:db8:1::11' },
    ]);
    expect(branch!.interface).toBeUndefined();
    expect('interface' in branch!).toBe(false);
    // Options override key by key: domainSearch replaced, the rest inherited.
    expect(branch!.options).toStrictEqual({
      dnsServers: ['2001:db8:1::53', '2001:db8:2::53'],
      domainSearch: ['branch.corp.example'],
      informationRefreshSec: 21600,
      solMaxRtSec: 3600,
    });
    expect(branch!.pdLifetimes).toStrictEqual({ preferredSec: 86400, validSec: 172800, renewRatio: 0.5, rebindRatio: 0.8 });
    expect(branch!.reservations).toStrictEqual([{ duid: '0003000102005e100003', prefix: '2001:db8:8000:ff00::/56' }]);
  });
});

describe('parseConfig: resolved values', () => {
  it('fills every default into a minimal config', () => {
    const config = parseConfig(base());
    expect(config).toMatchObject({
      port: 547,
      declineHoldSec: 86400,
      affinitySec: 86400,
      logLevel: 'info',
      storage: { commitWindowMs: 5, slowWriteMs: 1000 },
    });
    expect('serverDuid' in config).toBe(false);
    const s = config.subnets[0]!;
    expect(s.lifetimes).toStrictEqual({ preferredSec: 3600, validSec: 7200, renewRatio: 0.5, rebindRatio: 0.8 });
    expect(s.pdLifetimes).toStrictEqual({ preferredSec: 3600, validSec: 7200, renewRatio: 0.5, rebindRatio: 0.8 });
    expect(s.options).toStrictEqual({ dnsServers: [], domainSearch: [] });
    expect(s).toMatchObject({ rapidCommit: false, preference: 0, reservations: [] });
  });

  it('accepts upper case, zero-padded and embedded-IPv4 addresses and stores RFC 5952 text', () => {
    const config = parseConfig(
      withSubnet({
        prefix: '2001:0DB8:0001:0000::/64',
        pools: ['2001:DB8:1::1000 - 2001:0db8:0001::FFFF', '2001:db8:1:0:0:0:1:0/112'],
        options: { dnsServers: ['2001:0DB8:0001:0000:0000:0000:0000:0053', '::ffff:192.0.2.53'] },
        reservations: [{ duid: '00:01:AB:CD', address: '2001:DB8:1::00A' }],
      }),
    );
    const s = config.subnets[0]!;
    expect(s.prefix).toBe(0x2001_0db8_0001_0000_0000_0000_0000_0000n);
    expect(s.pools.map((p) => p.name)).toEqual(['2001:db8:1::1000-2001:db8:1::ffff', '2001:db8:1::1:0/112']);
    expect(s.options.dnsServers).toEqual(['2001:db8:1::53', '::ffff:c000:235']);
    expect(s.reservations).toEqual([{ duid: '0001abcd', address: '2001:db8:1::a' }]);
  });

  it('inherits lifetimes key by key from the top level', () => {
    const doc = { ...withSubnet({ lifetimes: { validSec: 9000 } }), lifetimes: { preferredSec: 1800, renewRatio: 0.4 } };
    const s = parseConfig(doc).subnets[0]!;
    expect(s.lifetimes).toStrictEqual({ preferredSec: 1800, validSec: 9000, renewRatio: 0.4, rebindRatio: 0.8 });
  });

  it('lets a subnet clear an inherited list with []', () => {
    const doc = {
      ...withSubnet({ options: { dnsServers: [] } }),
      options: { dnsServers: ['2001:db8::53'], domainSearch: ['example.com.'] },
    };
    expect(parseConfig(doc).subnets[0]!.options).toStrictEqual({ dnsServers: [], domainSearch: ['example.com'] });
  });

  it('accepts a subnet with no pools at all (stateless service only)', () => {
    const doc = { interfaces: ['lan0'], subnets: [{ name: 'info', interface: 'lan0', prefix: '2001:db8:1::/64' }] };
    expect(parseConfig(doc).subnets[0]).toMatchObject({ pools: [], pdPools: [] });
  });
});

describe('ConfigError', () => {
  it('collects every problem and puts the first one in the message', () => {
    const doc = {
      ...withSubnet({ preference: 300, pdPools: [{ prefix: '2001:db8:8000::/40', delegatedLength: 32 }] }),
      port: 0,
      telemetry: {},
    };
    let error: unknown;
    try {
      parseConfig(doc);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.errors.map((p) => p.path)).toEqual(['telemetry', 'port', 'subnets[0].preference', 'subnets[0].pdPools[0].delegatedLength']);
    expect(e.path).toBe('telemetry');
    expect(e.problem).toBe('spurious key');
    expect(e.message.split('\n')[0]).toBe('telemetry: spurious key');
    expect(e.message.split('\n')).toHaveLength(4);
    expect(e.errors[3]!.problem).toBe('must be between 41 and 128 (the pool prefix is /40), got 32');
  });

  it('stops listing after 100 problems and says how many more there were', () => {
    const doc: Record<string, unknown> = base();
    for (let i = 0; i < 150; i++) doc[`junk${i}`] = i;
    const problems = problemsOf(doc);
    expect(problems).toHaveLength(101);
    expect(problems[100]).toEqual({ path: '(root)', problem: '50 more problems not listed' });
  });

  it('a single ConfigError built by hand has message `${path}: ${problem}`', () => {
    const e = new ConfigError('failover.mcltSec', 'expected an integer 60..86400, got "1h"');
    expect(e.message).toBe('failover.mcltSec: expected an integer 60..86400, got "1h"');
    expect(e.errors).toEqual([{ path: 'failover.mcltSec', problem: 'expected an integer 60..86400, got "1h"' }]);
  });
});

describe('loadConfigFile: reading and JSON syntax', () => {
  const syntaxError = (text: string): ConfigError => {
    try {
      parseJsonText(text, 'twin6.json');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return e as ConfigError;
    }
    throw new Error('expected a syntax error');
  };

  it('reports line and column of a missing comma', () => {
    const e = syntaxError('{\n  "port": 547\n  "interfaces": []\n}');
    expect(e.path).toBe('twin6.json:3:3');
    expect(e.problem).toMatch(/^invalid JSON: /);
    expect(e.problem).not.toMatch(/position/);
  });

  it('reports line and column where V8 gives no position (a stray "}")', () => {
    expect(syntaxError('{\n  "port": \n}').path).toBe('twin6.json:3:1');
  });

  it('reports a trailing comma at the closing bracket', () => {
    expect(syntaxError('{\n  "interfaces": ["lan0",]\n}').path).toBe('twin6.json:2:25');
  });

  it('reports an unterminated document at its end', () => {
    const e = syntaxError('{\n  "port": ');
    expect(e.path).toBe('twin6.json:2:11');
    expect(e.problem).toBe('invalid JSON: unexpected end of the file');
  });

  it('reports a comment, which JSON does not allow', () => {
    expect(syntaxError('{\n  // no comments\n}').path).toBe('twin6.json:2:3');
  });

  it('ignores a byte order mark and reads a real file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twin6-config-'));
    const file = join(dir, 'bom.json');
    await writeFile(file, `\uFEFF${JSON.stringify(base())}`);
    await expect(loadConfigFile(file)).resolves.toMatchObject({ interfaces: ['lan0'] });
  });

  it('reports a syntax error in a file with the file name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twin6-config-'));
    const file = join(dir, 'bad.json');
    await writeFile(file, '{"interfaces": ["lan0"]]');
    await expect(loadConfigFile(file)).rejects.toMatchObject({ path: `${file}:1:24` });
  });

  it('reports a file that cannot be read as a ConfigError naming it', async () => {
    const file = join(tmpdir(), 'twin6-no-such-dir', 'missing.json');
    await expect(loadConfigFile(file)).rejects.toMatchObject({ name: 'ConfigError', path: file, problem: expect.stringMatching(/ENOENT/) });
  });

  it('runs the checks on what it parsed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twin6-config-'));
    const file = join(dir, 'unknown.json');
    await writeFile(file, JSON.stringify({ ...base(), colour: 'blue' }));
    await expect(loadConfigFile(file)).rejects.toMatchObject({ path: 'colour', problem: 'spurious key' });
  });
});

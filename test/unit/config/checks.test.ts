// One test per check of the config file, each asserting the exact path of the problem.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { base, expectOnlyProblem, otherSubnet, problemsOf, withSubnet } from './helpers.js';

const pd = (prefix: string, delegatedLength: number) => ({ prefix, delegatedLength });

describe('structure', () => {
  it('rejects a document that is not an object', () => {
    expectOnlyProblem([], '(root)', 'expected an object, got a list');
  });

  it('rejects unknown top-level keys', () => {
    const problems = problemsOf({ ...base(), colour: 'blue', dhcp4: {} });
    expect(problems).toEqual([
      { path: 'colour', problem: 'spurious key' },
      { path: 'dhcp4', problem: 'spurious key' },
    ]);
  });

  it('rejects an unknown nested key and suggests the near one', () => {
    expectOnlyProblem(
      withSubnet({ lifetimes: { validsec: 7200 } }),
      'subnets[0].lifetimes.validsec',
      'spurious key (did you mean "validSec"?)',
    );
    expectOnlyProblem(
      withSubnet({ pdPools: [{ ...pd('2001:db8:8000::/40', 56), delegatedLen: 56 }] }),
      'subnets[0].pdPools[0].delegatedLen',
      /^spurious key/,
    );
  });

  it('quotes a key that is not an identifier in the path', () => {
    expectOnlyProblem({ ...base(), 'log level': 'info' }, '["log level"]', 'spurious key');
  });

  it('requires interfaces, subnets, and a subnet name and prefix', () => {
    const problems = problemsOf({ subnets: [{ pools: [] }] });
    expect(problems.map((p) => [p.path, p.problem])).toEqual([
      ['interfaces', 'is required'],
      ['subnets[0].name', 'is required'],
      ['subnets[0].prefix', 'is required'],
    ]);
  });

  it('needs at least one subnet', () => {
    expectOnlyProblem({ ...base(), subnets: [] }, 'subnets', 'must not be empty');
  });

  it('checks types: strings, booleans, lists, objects, null', () => {
    expectOnlyProblem({ ...base(), port: '547' }, 'port', 'expected an integer 1..65535, got "547"');
    expectOnlyProblem(withSubnet({ rapidCommit: 'yes' }), 'subnets[0].rapidCommit', 'expected true or false, got "yes"');
    expectOnlyProblem({ ...base(), interfaces: 'lan0' }, 'interfaces', 'expected a list, got "lan0"');
    expectOnlyProblem({ ...base(), storage: [] }, 'storage', 'expected an object, got a list');
    expectOnlyProblem({ ...base(), declineHoldSec: null }, 'declineHoldSec', 'expected an integer 60..2592000, got null');
    expectOnlyProblem({ ...base(), log: { level: 'verbose' } }, 'log.level', /^expected one of "fatal", .*"trace", got "verbose"$/);
    expectOnlyProblem(withSubnet({ prefix: 64 }), 'subnets[0].prefix', 'expected an IPv6 prefix as a string, got 64');
  });

  it('bounds list sizes', () => {
    const servers = Array.from({ length: 17 }, (_, i) => `2001:db8::${i + 1}`);
    expectOnlyProblem({ ...base(), options: { dnsServers: servers } }, 'options.dnsServers', 'must have at most 16 entries, got 17');
  });
});

describe('integer ranges', () => {
  it('port is 1..65535 and an integer', () => {
    expectOnlyProblem({ ...base(), port: 0 }, 'port', 'must be between 1 and 65535, got 0');
    expectOnlyProblem({ ...base(), port: 65536 }, 'port', 'must be between 1 and 65535, got 65536');
    expectOnlyProblem({ ...base(), port: 54.7 }, 'port', 'expected an integer 1..65535, got 54.7');
    expect(parseConfig({ ...base(), port: 10547 }).port).toBe(10547);
  });

  it('lifetimes are 30 s up to 4294967295 (infinity)', () => {
    expectOnlyProblem(
      { ...base(), lifetimes: { preferredSec: 29 } },
      'lifetimes.preferredSec',
      'must be between 30 and 4294967295, got 29',
    );
    expectOnlyProblem({ ...base(), pdLifetimes: { validSec: 2 ** 32 } }, 'pdLifetimes.validSec', /^must be between 30 and 4294967295/);
    expect(parseConfig({ ...base(), lifetimes: { preferredSec: 4294967295, validSec: 4294967295 } }).subnets[0]!.lifetimes.validSec).toBe(
      4294967295,
    );
  });

  it('preference is 0..255', () => {
    expectOnlyProblem(withSubnet({ preference: 256 }), 'subnets[0].preference', 'must be between 0 and 255, got 256');
    expectOnlyProblem(withSubnet({ preference: -1 }), 'subnets[0].preference', 'must be between 0 and 255, got -1');
    expect(parseConfig(withSubnet({ preference: 255 })).subnets[0]!.preference).toBe(255);
  });

  it('informationRefreshSec is at least 600 (RFC 8415 §21.23)', () => {
    expectOnlyProblem(
      { ...base(), options: { informationRefreshSec: 599 } },
      'options.informationRefreshSec',
      /^must be between 600 and 4294967295, got 599$/,
    );
    expectOnlyProblem(withSubnet({ options: { informationRefreshSec: 60 } }), 'subnets[0].options.informationRefreshSec', /got 60$/);
    expect(parseConfig({ ...base(), options: { informationRefreshSec: 600 } }).subnets[0]!.options.informationRefreshSec).toBe(600);
  });

  it('solMaxRtSec and infMaxRtSec are 60..86400 (RFC 8415 §21.24, §21.25)', () => {
    expectOnlyProblem({ ...base(), options: { solMaxRtSec: 59 } }, 'options.solMaxRtSec', 'must be between 60 and 86400, got 59');
    expectOnlyProblem({ ...base(), options: { infMaxRtSec: 86401 } }, 'options.infMaxRtSec', 'must be between 60 and 86400, got 86401');
    const s = parseConfig({ ...base(), options: { solMaxRtSec: 60, infMaxRtSec: 86400 } }).subnets[0]!;
    expect(s.options).toMatchObject({ solMaxRtSec: 60, infMaxRtSec: 86400 });
  });

  it('commitWindowMs is 0..1000; the obsolete commitBatchMax is still checked (1..10000) and then dropped', () => {
    expectOnlyProblem({ ...base(), storage: { commitWindowMs: 1001 } }, 'storage.commitWindowMs', 'must be between 0 and 1000, got 1001');
    expectOnlyProblem({ ...base(), storage: { commitBatchMax: 0 } }, 'storage.commitBatchMax', 'must be between 1 and 10000, got 0');
    expectOnlyProblem(
      { ...base(), storage: { commitBatchMax: 10001 } },
      'storage.commitBatchMax',
      'must be between 1 and 10000, got 10001',
    );
    expect(parseConfig({ ...base(), storage: { commitWindowMs: 0 } }).storage).toEqual({ commitWindowMs: 0, slowWriteMs: 1000 });
    expect(parseConfig({ ...base(), storage: { commitBatchMax: 64 } }).storage).toEqual({ commitWindowMs: 5, slowWriteMs: 1000 });
  });

  it('slowWriteMs is 100..600000', () => {
    expectOnlyProblem({ ...base(), storage: { slowWriteMs: 99 } }, 'storage.slowWriteMs', 'must be between 100 and 600000, got 99');
    expectOnlyProblem(
      { ...base(), storage: { slowWriteMs: 600_001 } },
      'storage.slowWriteMs',
      'must be between 100 and 600000, got 600001',
    );
    expect(parseConfig({ ...base(), storage: { slowWriteMs: 5000 } }).storage).toEqual({ commitWindowMs: 5, slowWriteMs: 5000 });
  });

  it('limits.iasPerMessage is 1..256 and limits.leasesPerClient 1..4096, defaulting to 8 and 16', () => {
    expectOnlyProblem({ ...base(), limits: { iasPerMessage: 0 } }, 'limits.iasPerMessage', 'must be between 1 and 256, got 0');
    expectOnlyProblem({ ...base(), limits: { leasesPerClient: 5000 } }, 'limits.leasesPerClient', 'must be between 1 and 4096, got 5000');
    expectOnlyProblem({ ...base(), limits: { iaPerMessage: 2 } }, 'limits.iaPerMessage', 'spurious key (did you mean "iasPerMessage"?)');
    expect(parseConfig({ ...base(), limits: { iasPerMessage: 2 } }).limits).toEqual({ iasPerMessage: 2, leasesPerClient: 16 });
  });

  it('declineHoldSec is 60..2592000 and affinitySec 0..2592000', () => {
    expectOnlyProblem({ ...base(), declineHoldSec: 59 }, 'declineHoldSec', 'must be between 60 and 2592000, got 59');
    expectOnlyProblem({ ...base(), affinitySec: 2592001 }, 'affinitySec', 'must be between 0 and 2592000, got 2592001');
    expect(parseConfig({ ...base(), affinitySec: 0 }).affinitySec).toBe(0);
  });
});

describe('lifetimes', () => {
  it('preferredSec must not exceed validSec', () => {
    expectOnlyProblem(
      { ...base(), lifetimes: { preferredSec: 8000, validSec: 7000 } },
      'lifetimes.preferredSec',
      'must not exceed validSec (7000), got 8000',
    );
  });

  it('names the inherited value when only one of the pair is set', () => {
    expectOnlyProblem(
      { ...base(), lifetimes: { validSec: 1800 } },
      'lifetimes.validSec',
      'must be at least preferredSec (3600, the default), got 1800',
    );
    expectOnlyProblem(
      { ...withSubnet({ pdLifetimes: { preferredSec: 9000 } }), pdLifetimes: { validSec: 8000 } },
      'subnets[0].pdLifetimes.preferredSec',
      'must not exceed validSec (8000, inherited from pdLifetimes), got 9000',
    );
  });

  it('reports a broken top-level pair once, not again in every subnet', () => {
    const doc = { ...base(), lifetimes: { preferredSec: 9000 } };
    (doc.subnets as unknown[]).push(otherSubnet());
    expect(problemsOf(doc).map((p) => p.path)).toEqual(['lifetimes.preferredSec']);
  });

  it('renewRatio is in (0, 1) and rebindRatio in (0, 1]', () => {
    expectOnlyProblem({ ...base(), lifetimes: { renewRatio: 0 } }, 'lifetimes.renewRatio', 'must be greater than 0 and less than 1, got 0');
    expectOnlyProblem(
      { ...base(), lifetimes: { renewRatio: 1, rebindRatio: 1 } },
      'lifetimes.renewRatio',
      'must be greater than 0 and less than 1, got 1',
    );
    expectOnlyProblem(
      { ...base(), lifetimes: { rebindRatio: 1.1 } },
      'lifetimes.rebindRatio',
      'must be greater than 0 and at most 1, got 1.1',
    );
    expectOnlyProblem({ ...base(), lifetimes: { rebindRatio: '0.8' } }, 'lifetimes.rebindRatio', /^expected a number/);
    expect(parseConfig({ ...base(), lifetimes: { rebindRatio: 1 } }).subnets[0]!.lifetimes.rebindRatio).toBe(1);
  });

  it('renewRatio must be below rebindRatio (RFC 8415 §21.4: T1 ≤ T2)', () => {
    expectOnlyProblem(
      { ...base(), lifetimes: { renewRatio: 0.8 } },
      'lifetimes.renewRatio',
      'must be less than rebindRatio (0.8, the default), got 0.8',
    );
    expectOnlyProblem(
      withSubnet({ lifetimes: { rebindRatio: 0.4 } }),
      'subnets[0].lifetimes.rebindRatio',
      'must be greater than renewRatio (0.5, inherited from lifetimes), got 0.4',
    );
  });
});

describe('addresses and prefixes', () => {
  it('dnsServers must be IPv6 addresses', () => {
    expectOnlyProblem(
      { ...base(), options: { dnsServers: ['2001:db8::g'] } },
      'options.dnsServers[0]',
      'expected an IPv6 address like 2001:db8::1, got "2001:db8::g"',
    );
    expectOnlyProblem({ ...base(), options: { dnsServers: ['192.0.2.53'] } }, 'options.dnsServers[0]', /^expected an IPv6 address/);
    expectOnlyProblem(
      withSubnet({ options: { dnsServers: ['2001:db8::53', 53] } }),
      'subnets[0].options.dnsServers[1]',
      'expected an IPv6 address as a string, got 53',
    );
  });

  it('rejects a prefix length, a zone, multicast and :: where a host address is wanted', () => {
    const dns = (a: string) => ({ ...base(), options: { dnsServers: [a] } });
    expectOnlyProblem(dns('2001:db8::53/64'), 'options.dnsServers[0]', /^expected an address without a prefix length/);
    expectOnlyProblem(dns('fe80::53%lan0'), 'options.dnsServers[0]', /^must not carry a zone index/);
    expectOnlyProblem(dns('ff02::1:2'), 'options.dnsServers[0]', /^must not be a multicast address/);
    expectOnlyProblem(dns('::'), 'options.dnsServers[0]', 'must not be the unspecified address ::');
  });

  it('rejects the same DNS server listed twice', () => {
    expectOnlyProblem(
      { ...base(), options: { dnsServers: ['2001:db8::53', '2001:DB8:0::53'] } },
      'options.dnsServers[1]',
      /^duplicate of options\.dnsServers\[0\]/,
    );
  });

  it('a prefix needs a length 1..128 and no bits after it', () => {
    expectOnlyProblem(withSubnet({ prefix: '2001:db8:1::' }), 'subnets[0].prefix', /^expected a prefix like 2001:db8::\/48/);
    expectOnlyProblem(withSubnet({ prefix: '2001:db8:1::/129' }), 'subnets[0].prefix', /^prefix length must be an integer 1\.\.128/);
    expectOnlyProblem(
      withSubnet({ prefix: '2001:db8:1::1/64' }),
      'subnets[0].prefix',
      /^has bits set after \/64 \(did you mean 2001:db8:1::\/64\?\)/,
    );
  });
});

describe('address pools', () => {
  it('accepts a CIDR pool inside the subnet', () => {
    const s = parseConfig(withSubnet({ pools: ['2001:db8:1::/112'] })).subnets[0]!;
    expect(s.pools).toEqual([
      { name: '2001:db8:1::/112', first: 0x2001_0db8_0001_0000_0000_0000_0000_0000n, last: 0x2001_0db8_0001_0000_0000_0000_0000_ffffn },
    ]);
  });

  it('a pool must lie inside its subnet prefix', () => {
    expectOnlyProblem(
      withSubnet({ pools: ['2001:db8:1::1000-2001:db8:2::10'] }),
      'subnets[0].pools[0]',
      'must be inside the subnet prefix 2001:db8:1::/64, got 2001:db8:1::1000-2001:db8:2::10',
    );
    expectOnlyProblem(
      withSubnet({ pools: ['2001:db8:1::1000-2001:db8:1::1fff', '2001:db8::/112'] }),
      'subnets[0].pools[1]',
      /^must be inside the subnet prefix/,
    );
  });

  it('a range runs from first to last', () => {
    expectOnlyProblem(
      withSubnet({ pools: ['2001:db8:1::ffff-2001:db8:1::1000'] }),
      'subnets[0].pools[0]',
      'first address is above the last, got "2001:db8:1::ffff-2001:db8:1::1000"',
    );
    expectOnlyProblem(withSubnet({ pools: ['2001:db8:1::1000'] }), 'subnets[0].pools[0]', /^expected "first-last" or a prefix/);
  });

  it('pools of one subnet must not overlap', () => {
    const pools = ['2001:db8:1::1000-2001:db8:1::1fff', '2001:db8:1::2000-2001:db8:1::2fff', '2001:db8:1::1fff-2001:db8:1::2000'];
    const problems = problemsOf(withSubnet({ pools }));
    expect(problems).toEqual([
      { path: 'subnets[0].pools[2]', problem: 'overlaps subnets[0].pools[0] (2001:db8:1::1000-2001:db8:1::1fff)' },
    ]);
  });

  it('pools of different subnets must not overlap (nor may their prefixes)', () => {
    const doc = base();
    doc.subnets.push(otherSubnet({ prefix: '2001:db8:1::/64', pools: ['2001:db8:1::f000/116'] }));
    expect(problemsOf(doc)).toEqual([
      { path: 'subnets[1].prefix', problem: 'overlaps subnets[0].prefix (2001:db8:1::/64)' },
      { path: 'subnets[1].pools[0]', problem: 'overlaps subnets[0].pools[0] (2001:db8:1::1000-2001:db8:1::ffff)' },
    ]);
  });
});

describe('prefix delegation pools', () => {
  it('delegatedLength is longer than the pool prefix, at most 128', () => {
    expectOnlyProblem(
      withSubnet({ pdPools: [pd('2001:db8:9000::/48', 60), pd('2001:db8:8000::/40', 32)] }),
      'subnets[0].pdPools[1].delegatedLength',
      'must be between 41 and 128 (the pool prefix is /40), got 32',
    );
    expectOnlyProblem(
      withSubnet({ pdPools: [pd('2001:db8:8000::/40', 40)] }),
      'subnets[0].pdPools[0].delegatedLength',
      /^must be between 41 and 128/,
    );
    expectOnlyProblem(
      withSubnet({ pdPools: [pd('2001:db8:8000::/40', 129)] }),
      'subnets[0].pdPools[0].delegatedLength',
      'must be between 1 and 128, got 129',
    );
    expect(parseConfig(withSubnet({ pdPools: [pd('2001:db8:8000::/40', 41)] })).subnets[0]!.pdPools[0]!.delegatedLength).toBe(41);
  });

  it('pd pools must not overlap each other, in one subnet or across subnets', () => {
    expectOnlyProblem(
      withSubnet({ pdPools: [pd('2001:db8:8000::/40', 56), pd('2001:db8:80ff::/48', 60)] }),
      'subnets[0].pdPools[1].prefix',
      'overlaps subnets[0].pdPools[0].prefix (2001:db8:8000::/40)',
    );
    const doc = base();
    doc.subnets.push(otherSubnet({ pdPools: [pd('2001:db8:8000::/36', 48)] }));
    expectOnlyProblem(doc, 'subnets[1].pdPools[0].prefix', 'overlaps subnets[0].pdPools[0].prefix (2001:db8:8000::/40)');
  });

  it('a pd pool must not overlap an on-link prefix', () => {
    expectOnlyProblem(
      withSubnet({ pdPools: [pd('2001:db8::/32', 56)] }),
      'subnets[0].pdPools[0].prefix',
      'overlaps subnets[0].prefix (2001:db8:1::/64)',
    );
  });
});

describe('interfaces and subnets', () => {
  it('a directly served subnet needs its interface listed in interfaces', () => {
    expectOnlyProblem(withSubnet({ interface: 'lan1' }), 'subnets[0].interface', /^"lan1" is not listed in interfaces \(lan0\)/);
  });

  it('a relayed-only subnet has no interface', () => {
    const doc = base();
    doc.subnets.push(otherSubnet());
    expect(parseConfig(doc).subnets[1]!.interface).toBeUndefined();
  });

  it('interfaces must be a non-empty list of distinct valid names', () => {
    expectOnlyProblem({ ...base(), interfaces: [] }, 'interfaces', 'must not be empty');
    expectOnlyProblem({ ...base(), interfaces: ['lan0', 'lan0'] }, 'interfaces[1]', 'duplicate of interfaces[0] (lan0)');
    expectOnlyProblem({ ...base(), interfaces: ['lan0', 'a-very-long-interface'] }, 'interfaces[1]', /^expected a network interface name/);
    expectOnlyProblem({ ...base(), interfaces: ['lan0', 'eth0:1'] }, 'interfaces[1]', /^expected a network interface name/);
  });

  it('one subnet per interface', () => {
    const doc = base();
    doc.subnets.push(otherSubnet({ interface: 'lan0' }));
    expectOnlyProblem(doc, 'subnets[1].interface', 'this interface is already served by subnets[0]; one subnet per interface');
  });

  it('subnet names are unique', () => {
    const doc = base();
    doc.subnets.push(otherSubnet({ name: 'lan' }));
    expectOnlyProblem(doc, 'subnets[1].name', 'another subnet is already named so (subnets[0])');
  });

  it('subnet names use a safe alphabet', () => {
    expectOnlyProblem(withSubnet({ name: 'my lan' }), 'subnets[0].name', /^expected 1 to 64 letters/);
    expectOnlyProblem(withSubnet({ name: '' }), 'subnets[0].name', /^expected 1 to 64 letters/);
  });
});

describe('domain search list', () => {
  const search = (...names: string[]) => ({ ...base(), options: { domainSearch: names } });

  it('accepts names, folds case and drops a trailing dot', () => {
    expect(parseConfig(search('Home.Example.', 'a-b.example', '_x.example')).subnets[0]!.options.domainSearch).toEqual([
      'home.example',
      'a-b.example',
      '_x.example',
    ]);
  });

  it('labels are 1..63 characters', () => {
    expectOnlyProblem(search(`${'a'.repeat(64)}.example`), 'options.domainSearch[0]', /^every label must be 1 to 63 characters/);
    expectOnlyProblem(search('example.com', 'a..example'), 'options.domainSearch[1]', /^every label must be 1 to 63 characters/);
    expect(parseConfig(search(`${'a'.repeat(63)}.example`)).subnets[0]!.options.domainSearch).toHaveLength(1);
  });

  it('names are at most 253 characters', () => {
    const label = 'a'.repeat(63);
    expect(parseConfig(search([label, label, label, 'a'.repeat(61)].join('.'))).subnets[0]!.options.domainSearch).toHaveLength(1);
    expectOnlyProblem(
      search([label, label, label, 'a'.repeat(62)].join('.')),
      'options.domainSearch[0]',
      'must be at most 253 characters, got 254',
    );
  });

  it('labels hold letters, digits, "-" and "_" only', () => {
    expectOnlyProblem(search('bad name.example'), 'options.domainSearch[0]', /^label "bad name" may hold only/);
    expectOnlyProblem(search('-bad.example'), 'options.domainSearch[0]', /^label "-bad" may hold only/);
    expectOnlyProblem(search(''), 'options.domainSearch[0]', 'must not be empty');
  });
});

describe('DUIDs', () => {
  const reserve = (duid: unknown) => withSubnet({ reservations: [{ duid, address: '2001:db8:1::10' }] });
  const reservedDuid = (duid: string) => parseConfig(reserve(duid)).subnets[0]!.reservations[0]!.duid;

  it('accepts "00:01:…" and "0001…" forms and stores lowercase hex', () => {
    expect(reservedDuid('00:01:00:01:2C:5E:1A:00')).toBe('000100012c5e1a00');
    expect(reservedDuid('000100012C5E1A00')).toBe('000100012c5e1a00');
    expect(parseConfig({ ...base(), serverDuid: '00:03:00:01:02:00:5e:10:00:01' }).serverDuid).toBe('0003000102005e100001');
  });

  it('must be hex octets, in one of the two forms', () => {
    expectOnlyProblem(reserve('00:01:zz'), 'subnets[0].reservations[0].duid', /^expected hex octets/);
    expectOnlyProblem(reserve('0001abc'), 'subnets[0].reservations[0].duid', /^expected hex octets/);
    expectOnlyProblem(reserve('00:01:ab-cd'), 'subnets[0].reservations[0].duid', /^expected hex octets/);
    expectOnlyProblem(reserve('0:1:ab:cd'), 'subnets[0].reservations[0].duid', /^expected hex octets/);
    expectOnlyProblem({ ...base(), serverDuid: 1 }, 'serverDuid', 'expected a DUID as a string, got 1');
  });

  it('is 3 to 130 octets long (RFC 8415 §11.1)', () => {
    expectOnlyProblem(reserve('00:01'), 'subnets[0].reservations[0].duid', 'must be 3 to 130 octets long, got 2');
    expectOnlyProblem(reserve('ab'.repeat(131)), 'subnets[0].reservations[0].duid', 'must be 3 to 130 octets long, got 131');
    expect(reservedDuid('ab'.repeat(130))).toHaveLength(260);
    expect(reservedDuid('000102')).toBe('000102');
  });
});

describe('reservations', () => {
  const A = '00:01:00:01:00:00:00:01';
  const B = '00:01:00:01:00:00:00:02';
  const reserve = (...reservations: object[]) => withSubnet({ reservations });

  it('resolves addresses and prefixes to canonical text', () => {
    const r = parseConfig(reserve({ duid: A, address: '2001:DB8:1::0010', prefix: '2001:db8:8000:FF00::/56' })).subnets[0]!.reservations;
    expect(r).toStrictEqual([{ duid: '0001000100000001', address: '2001:db8:1::10', prefix: '2001:db8:8000:ff00::/56' }]);
  });

  it('needs an address or a prefix', () => {
    expectOnlyProblem(reserve({ duid: A }), 'subnets[0].reservations[0]', 'needs an address, a prefix or both');
  });

  it('a reserved address lies inside the subnet prefix', () => {
    expectOnlyProblem(
      reserve({ duid: A, address: '2001:db8:2::10' }),
      'subnets[0].reservations[0].address',
      'must be inside the subnet prefix 2001:db8:1::/64, got 2001:db8:2::10',
    );
  });

  it("a reserved prefix lies inside one of the subnet's pd pools", () => {
    expectOnlyProblem(
      reserve({ duid: A, prefix: '2001:db8:9000::/56' }),
      'subnets[0].reservations[0].prefix',
      "must be inside one of this subnet's pd pools (2001:db8:8000::/40 → /56), got 2001:db8:9000::/56",
    );
    expectOnlyProblem(
      withSubnet({ pdPools: [], reservations: [{ duid: A, prefix: '2001:db8:8000::/56' }] }),
      'subnets[0].reservations[0].prefix',
      'this subnet has no pd pools to reserve 2001:db8:8000::/56 from',
    );
  });

  it("a reserved prefix has the pool's delegated length", () => {
    expectOnlyProblem(
      reserve({ duid: A, prefix: '2001:db8:8000:ff00::/60' }),
      'subnets[0].reservations[0].prefix',
      'must be a /56, the delegated length of pd pool 2001:db8:8000::/40 → /56, got /60',
    );
    expectOnlyProblem(reserve({ duid: A, prefix: '2001:db8:8000::/36' }), 'subnets[0].reservations[0].prefix', /^must be inside one of/);
  });

  it('one reservation per DUID per subnet, whatever the DUID spelling', () => {
    expectOnlyProblem(
      reserve({ duid: A, address: '2001:db8:1::10' }, { duid: '0001000100000001', prefix: '2001:db8:8000:ff00::/56' }),
      'subnets[0].reservations[1].duid',
      'this DUID already has a reservation in this subnet (subnets[0].reservations[0])',
    );
  });

  it('the same DUID may hold reservations in different subnets', () => {
    const doc = withSubnet({ reservations: [{ duid: A, address: '2001:db8:1::10' }] });
    (doc.subnets as unknown[]).push(otherSubnet({ reservations: [{ duid: A, address: '2001:db8:2::10' }] }));
    expect(parseConfig(doc).subnets.map((s) => s.reservations.length)).toEqual([1, 1]);
  });

  it('an address is reserved only once', () => {
    expectOnlyProblem(
      reserve({ duid: A, address: '2001:db8:1::10' }, { duid: B, address: '2001:db8:1:0::0010' }),
      'subnets[0].reservations[1].address',
      '2001:db8:1::10 is already reserved by subnets[0].reservations[0].address',
    );
  });

  it('a prefix is reserved only once, across subnets too', () => {
    const doc = base();
    doc.subnets[0] = {
      ...doc.subnets[0],
      pdPools: [pd('2001:db8:8000::/40', 56)],
      reservations: [{ duid: A, prefix: '2001:db8:8000:100::/56' }],
    };
    doc.subnets.push(
      otherSubnet({ pdPools: [pd('2001:db8:9000::/40', 56)], reservations: [{ duid: B, prefix: '2001:db8:8000:100::/56' }] }),
    );
    // The second one lies outside its own subnet's pools as well; both are reported.
    expect(problemsOf(doc)).toEqual([
      {
        path: 'subnets[1].reservations[0].prefix',
        problem: "must be inside one of this subnet's pd pools (2001:db8:9000::/40 → /56), got 2001:db8:8000:100::/56",
      },
      {
        path: 'subnets[1].reservations[0].prefix',
        problem: '2001:db8:8000:100::/56 is already reserved by subnets[0].reservations[0].prefix',
      },
    ]);
    expectOnlyProblem(
      reserve({ duid: A, prefix: '2001:db8:8000:100::/56' }, { duid: B, prefix: '2001:db8:8000:0100::/56' }),
      'subnets[0].reservations[1].prefix',
      '2001:db8:8000:100::/56 is already reserved by subnets[0].reservations[0].prefix',
    );
  });
});

// The `leasequery` section (docs/config.md#leasequery): off unless listed,
// the forms a requestor may take, and every refusal by key path.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { base, expectOnlyProblem, problemsOf } from './helpers.js';

const withLq = (leasequery: unknown) => ({ ...base(), leasequery });

describe('leasequery', () => {
  it('is absent unless the file has it, and an empty section lets nobody query', () => {
    expect('leasequery' in parseConfig(base())).toBe(false);
    expect(parseConfig(withLq({})).leasequery).toStrictEqual({ requestors: [] });
    expect(parseConfig(withLq({ requestors: [] })).leasequery).toStrictEqual({ requestors: [] });
  });

  it('takes addresses (as /128) and prefixes, in canonical form', () => {
    const c = parseConfig(withLq({ requestors: ['2001:DB8:0:0::5', 'fd00:1::/64'] }));
    expect(c.leasequery?.requestors.map((r) => r.name)).toEqual(['2001:db8::5/128', 'fd00:1::/64']);
    expect(c.leasequery?.requestors[0]).toMatchObject({ prefix: 0x20010db8000000000000000000000005n, length: 128 });
  });

  it('refuses what is not a requestor, with the key path and the reason', () => {
    expectOnlyProblem(withLq({ requestors: ['2001:db8::/64', 'fd00::1/64'] }), 'leasequery.requestors[1]', /bits set after \/64/);
    expectOnlyProblem(withLq({ requestors: ['::'] }), 'leasequery.requestors[0]', /unspecified/);
    expectOnlyProblem(withLq({ requestors: ['ff02::1:2'] }), 'leasequery.requestors[0]', /multicast/);
    expectOnlyProblem(withLq({ requestors: ['2001:db8::/0'] }), 'leasequery.requestors[0]', /prefix length must be an integer 1..128/);
    expectOnlyProblem(withLq({ requestors: ['fe80::1%lan0'] }), 'leasequery.requestors[0]', /zone index/);
    expectOnlyProblem(withLq({ requestors: ['relay-1'] }), 'leasequery.requestors[0]', /expected an IPv6 address/);
    expectOnlyProblem(withLq({ requestors: [64] }), 'leasequery.requestors[0]', /expected a requestor address or prefix as a string/);
    expectOnlyProblem(
      withLq({ requestors: ['2001:db8::5', '2001:db8::5/128'] }),
      'leasequery.requestors[1]',
      /duplicate of leasequery.requestors\[0\]/,
    );
    const many = Array.from({ length: 65 }, (_, i) => `2001:db8::${i + 1}`);
    expectOnlyProblem(withLq({ requestors: many }), 'leasequery.requestors', /at most 64/);
    expectOnlyProblem(withLq({ requestors: '2001:db8::5' }), 'leasequery.requestors', /expected a list/);
    expectOnlyProblem(withLq(true), 'leasequery', /expected an object/);
    expect(problemsOf(withLq({ requestor: [] })).map((p) => [p.path, p.problem])).toEqual([
      ['leasequery.requestor', 'spurious key (did you mean "requestors"?)'],
    ]);
  });
});

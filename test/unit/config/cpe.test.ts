// routerAdvertisements and pdRoutes: defaults, inheritance, and every check by key path.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { base, expectOnlyProblem, otherSubnet, problemsOf, withSubnet } from './helpers.js';

const ra = (patch: Record<string, unknown> = {}) => withSubnet({ routerAdvertisements: { enabled: true, ...patch } });

describe('routerAdvertisements', () => {
  it('is off unless enabled, and leaves the subnet as it was', () => {
    expect(parseConfig(base()).subnets[0]!.routerAdvertisements).toBeUndefined();
    expect('routerAdvertisements' in parseConfig(withSubnet({ routerAdvertisements: { managed: false } })).subnets[0]!).toBe(false);
  });

  it('resolves RFC 4861 §6.2.1 defaults from the subnet and maxIntervalSec', () => {
    expect(parseConfig(ra()).subnets[0]!.routerAdvertisements).toStrictEqual({
      managed: true, // the subnet has pools
      otherConfig: true,
      autonomous: true, // a /64
      routerLifetimeSec: 1800, // 3 × 600
      preference: 'medium',
      maxIntervalSec: 600,
      minIntervalSec: 198, // 0.33 × 600
      hopLimit: 64,
      prefixValidSec: 2_592_000,
      prefixPreferredSec: 604_800,
      dnsLifetimeSec: 1800, // RFC 8106 §5.1: 3 × MaxRtrAdvInterval
    });
    const small = parseConfig(ra({ maxIntervalSec: 6 })).subnets[0]!.routerAdvertisements!;
    expect(small).toMatchObject({ minIntervalSec: 6, routerLifetimeSec: 18 });
    const stateless = parseConfig(withSubnet({ pools: [], pdPools: [], routerAdvertisements: { enabled: true } })).subnets[0]!
      .routerAdvertisements!;
    expect(stateless.managed).toBe(false);
  });

  it('inherits the top level key by key; relayed-only subnets are not advertised', () => {
    const doc = { ...base(), routerAdvertisements: { enabled: true, preference: 'high', maxIntervalSec: 60 } };
    doc.subnets[0] = { ...doc.subnets[0], routerAdvertisements: { preference: 'low' } };
    doc.subnets.push(otherSubnet());
    const [lan, guest] = parseConfig(doc).subnets;
    expect(lan!.routerAdvertisements).toMatchObject({ preference: 'low', maxIntervalSec: 60, minIntervalSec: 19 });
    expect(guest!.routerAdvertisements).toBeUndefined();
    const off = { ...base(), routerAdvertisements: { enabled: true } };
    off.subnets[0] = { ...off.subnets[0], routerAdvertisements: { enabled: false } };
    expect(parseConfig(off).subnets[0]!.routerAdvertisements).toBeUndefined();
  });

  it('rejects unknown keys with a suggestion, and bad types', () => {
    expectOnlyProblem(
      ra({ routerLifetimesec: 1800 }),
      'subnets[0].routerAdvertisements.routerLifetimesec',
      'spurious key (did you mean "routerLifetimeSec"?)',
    );
    expectOnlyProblem(ra({ routerLifetime: 1800 }), 'subnets[0].routerAdvertisements.routerLifetime', 'spurious key');
    expectOnlyProblem(ra({ manged: true }), 'subnets[0].routerAdvertisements.manged', 'spurious key (did you mean "managed"?)');
    expectOnlyProblem({ ...base(), routerAdvertisment: {} }, 'routerAdvertisment', 'spurious key (did you mean "routerAdvertisements"?)');
    expectOnlyProblem(
      ra({ preference: 'highest' }),
      'subnets[0].routerAdvertisements.preference',
      'expected one of "high", "medium", "low", got "highest"',
    );
    expectOnlyProblem(ra({ autonomous: 'yes' }), 'subnets[0].routerAdvertisements.autonomous', 'expected true or false, got "yes"');
  });

  it('bounds every number (RFC 4861 §6.2.1, RFC 8200 §5)', () => {
    expectOnlyProblem(ra({ maxIntervalSec: 3 }), 'subnets[0].routerAdvertisements.maxIntervalSec', 'must be between 4 and 1800, got 3');
    expectOnlyProblem(
      ra({ maxIntervalSec: 1801 }),
      'subnets[0].routerAdvertisements.maxIntervalSec',
      'must be between 4 and 1800, got 1801',
    );
    expectOnlyProblem(ra({ minIntervalSec: 2 }), 'subnets[0].routerAdvertisements.minIntervalSec', 'must be between 3 and 1350, got 2');
    expectOnlyProblem(
      ra({ routerLifetimeSec: 9001 }),
      'subnets[0].routerAdvertisements.routerLifetimeSec',
      'must be between 0 and 9000, got 9001',
    );
    expectOnlyProblem(ra({ mtu: 1279 }), 'subnets[0].routerAdvertisements.mtu', 'must be between 1280 and 65535, got 1279');
    expectOnlyProblem(ra({ hopLimit: 256 }), 'subnets[0].routerAdvertisements.hopLimit', 'must be between 0 and 255, got 256');
  });

  it('checks the rules between keys, naming the key that breaks them', () => {
    expectOnlyProblem(
      ra({ maxIntervalSec: 100, minIntervalSec: 80 }),
      'subnets[0].routerAdvertisements.minIntervalSec',
      'must be at most 0.75 × maxIntervalSec (100) (RFC 4861 §6.2.1), got 80',
    );
    expectOnlyProblem(
      ra({ maxIntervalSec: 600, routerLifetimeSec: 300 }),
      'subnets[0].routerAdvertisements.routerLifetimeSec',
      'must be 0 or at least maxIntervalSec (600) (RFC 4861 §6.2.1), got 300',
    );
    expect(parseConfig(ra({ routerLifetimeSec: 0 })).subnets[0]!.routerAdvertisements!.routerLifetimeSec).toBe(0);
    expectOnlyProblem(
      ra({ prefixValidSec: 100, prefixPreferredSec: 200 }),
      'subnets[0].routerAdvertisements.prefixPreferredSec',
      'must not exceed prefixValidSec (100), got 200',
    );
    expectOnlyProblem(
      withSubnet({ prefix: '2001:db8:1::/56', routerAdvertisements: { enabled: true, autonomous: true } }),
      'subnets[0].routerAdvertisements.autonomous',
      'needs a /64 on-link prefix to form addresses from (RFC 4862 §5.5.3), the subnet prefix is /56',
    );
    expect(
      parseConfig(withSubnet({ prefix: '2001:db8:1::/56', routerAdvertisements: { enabled: true } })).subnets[0]!.routerAdvertisements!
        .autonomous,
    ).toBe(false);
    expectOnlyProblem(
      { ...base(), subnets: [...base().subnets, otherSubnet({ routerAdvertisements: { enabled: true } })] },
      'subnets[1].routerAdvertisements.enabled',
      'needs the subnet to have an interface: advertisements go out on its own link',
    );
  });

  it('reports a bad top-level value once, not once per subnet', () => {
    const doc = {
      ...base(),
      interfaces: ['lan0', 'lan1'],
      routerAdvertisements: { enabled: true, maxIntervalSec: 100, minIntervalSec: 90 },
    };
    doc.subnets.push(otherSubnet({ interface: 'lan1' }));
    expect(problemsOf(doc)).toEqual([
      { path: 'routerAdvertisements.minIntervalSec', problem: 'must be at most 0.75 × maxIntervalSec (100) (RFC 4861 §6.2.1), got 90' },
    ]);
  });
});

describe('pdRoutes', () => {
  it('is absent unless configured; true or an object turns it on with protocol 62 and metric 1062', () => {
    expect('pdRoutes' in parseConfig(base())).toBe(false);
    expect(parseConfig({ ...base(), pdRoutes: true }).pdRoutes).toStrictEqual({ enabled: true, protocol: 62, metric: 1062 });
    expect(parseConfig({ ...base(), pdRoutes: false }).pdRoutes).toStrictEqual({ enabled: false, protocol: 62, metric: 1062 });
    expect(parseConfig({ ...base(), pdRoutes: { metric: 100 } }).pdRoutes).toStrictEqual({ enabled: true, protocol: 62, metric: 100 });
  });

  it('checks its keys', () => {
    expectOnlyProblem({ ...base(), pdRoutes: { protocl: 62 } }, 'pdRoutes.protocl', 'spurious key (did you mean "protocol"?)');
    expectOnlyProblem({ ...base(), pdRoutes: { protocol: 4 } }, 'pdRoutes.protocol', 'must be between 5 and 254, got 4');
    expectOnlyProblem({ ...base(), pdRoutes: { metric: 0 } }, 'pdRoutes.metric', 'must be between 1 and 4294967294, got 0');
    expectOnlyProblem({ ...base(), pdRoutes: 'yes' }, 'pdRoutes', 'expected an object, got "yes"');
  });
});

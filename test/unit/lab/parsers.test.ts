// The lab's pure parts (no root needed): what it concludes from client
// scripts' environments and Kea's lease journal decides whether lab.test.ts
// passes, so those conclusions are pinned here on recorded samples.

import { describe, expect, it } from 'vitest';
import {
  assertLabAddress,
  foldBinding,
  formatIPv6,
  inRange,
  isNetworkAddress,
  parseEventFile,
  parseIPv6,
  parseKeaLeases6,
  within,
} from '../../../src/testing/lab/index.js';

const env = (o: Record<string, string>): string =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join('\0') + '\0';

describe('lab addresses', () => {
  it('parses and formats IPv6 (RFC 5952)', () => {
    expect(formatIPv6(parseIPv6('2001:DB8:0:0:0:0:0:1'))).toBe('2001:db8::1');
    expect(formatIPv6(parseIPv6('2001:db8:8000:100::'))).toBe('2001:db8:8000:100::');
    expect(formatIPv6(parseIPv6('::ffff:192.0.2.1'))).toBe('::ffff:c000:201');
    expect(formatIPv6(parseIPv6('2001:db8:0:1:0:0:1:0'))).toBe('2001:db8:0:1::1:0');
    expect(() => parseIPv6('2001:db8::1::2')).toThrow();
  });

  it('checks pools, prefixes and the documentation/ULA guard', () => {
    expect(inRange('2001:db8:1::1000', '2001:db8:1::1000', '2001:db8:1::ffff')).toBe(true);
    expect(inRange('2001:db8:1::1:0', '2001:db8:1::1000', '2001:db8:1::ffff')).toBe(false);
    expect(within('2001:db8:80ff:ff00::/56', '2001:db8:8000::/40')).toBe(true);
    expect(within('2001:db8:8100::/56', '2001:db8:8000::/40')).toBe(false);
    expect(within('2001:db8:8000::/32', '2001:db8:8000::/40')).toBe(false);
    expect(isNetworkAddress('2001:db8:8000:100::', 56)).toBe(true);
    expect(isNetworkAddress('2001:db8:8000:101::', 56)).toBe(false);
    expect(() => assertLabAddress('2001:db8:1::1/64')).not.toThrow();
    expect(() => assertLabAddress('fd12::1')).not.toThrow();
    expect(() => assertLabAddress('2001:4860::1')).toThrow(/outside/);
  });
});

describe('client events', () => {
  it('folds dhclient events (one IA element per script run)', () => {
    const common = { new_preferred_life: '30', new_max_life: '60', new_iaid: 'ae:a6:c7:c9' };
    const events = [
      parseEventFile('dhclient', '1000000000000000000.1.env', env({ reason: 'PREINIT6' })),
      parseEventFile(
        'dhclient',
        '1000000000100000000.2.env',
        env({ reason: 'BOUND6', new_ip6_address: '2001:db8:1::1000', new_ip6_prefixlen: '128', ...common }),
      ),
      parseEventFile('dhclient', '1000000000200000000.3.env', env({ reason: 'BOUND6', new_ip6_prefix: '2001:db8:8000::/56', ...common })),
    ];
    expect(events[1]!.at).toBe(1000000000100);
    expect(events[1]!.kind).toBe('bound');
    expect(foldBinding(events)).toEqual({
      addresses: [{ address: '2001:db8:1::1000', prefixLength: 128, preferredLifetime: 30, validLifetime: 60, iaid: 'ae:a6:c7:c9' }],
      prefixes: [{ prefix: '2001:db8:8000::', length: 56, preferredLifetime: 30, validLifetime: 60, iaid: 'ae:a6:c7:c9' }],
    });
    const released = [
      ...events,
      parseEventFile(
        'dhclient',
        '1000000000300000000.4.env',
        env({ reason: 'RELEASE6', old_ip6_address: '2001:db8:1::1000', old_ip6_prefixlen: '128' }),
      ),
    ];
    expect(foldBinding(released).addresses).toEqual([]);
    expect(foldBinding(released).prefixes).toHaveLength(1);
  });

  it('folds dhcpcd events (all IAs per script run)', () => {
    const bound = parseEventFile(
      'dhcpcd',
      '1000000000000000000.1.env',
      env({
        reason: 'BOUND6',
        new_dhcp6_ia_na1_iaid: '00000001',
        new_dhcp6_ia_na1_ia_addr1: '2001:db8:1::1001',
        new_dhcp6_ia_na1_ia_addr1_pltime: '30',
        new_dhcp6_ia_na1_ia_addr1_vltime: '60',
        new_dhcp6_ia_pd1_iaid: '00000002',
        new_dhcp6_ia_pd1_prefix1: '2001:db8:8000:100::',
        new_dhcp6_ia_pd1_prefix1_length: '56',
        new_dhcp6_ia_pd1_prefix1_pltime: '30',
        new_dhcp6_ia_pd1_prefix1_vltime: '60',
      }),
    );
    expect(foldBinding([bound])).toEqual({
      addresses: [{ address: '2001:db8:1::1001', prefixLength: 128, preferredLifetime: 30, validLifetime: 60, iaid: '00000001' }],
      prefixes: [{ prefix: '2001:db8:8000:100::', length: 56, preferredLifetime: 30, validLifetime: 60, iaid: '00000002' }],
    });
    const stopped = parseEventFile('dhcpcd', '1000000000100000000.2.env', env({ reason: 'STOPPED' }));
    expect(foldBinding([bound, stopped])).toEqual({ addresses: [], prefixes: [] });
  });
});

describe('Kea memfile journal', () => {
  const header =
    'address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source';
  const row = (addr: string, valid: number, expire: number, type: number, plen: number, state = 0): string =>
    `${addr},00:03:00:01:ee:d8:2b:c3:f0:49,${valid},${expire},1,${valid / 2},${type},1,${plen},0,0,,ee:d8:2b:c3:f0:49,${state},,1,2`;

  it('keeps the latest line per lease and reads a release (valid 0)', () => {
    const csv = [
      header,
      row('2001:db8:1::1001', 60, 1000, 0, 128),
      row('2001:db8:8000:100::', 60, 1000, 2, 56),
      row('2001:db8:1::1001', 60, 1015, 0, 128),
      row('2001:db8:8000:100::', 0, 1000, 2, 56),
    ].join('\n');
    const leases = parseKeaLeases6(csv, 990);
    expect(leases).toHaveLength(2);
    const na = leases.find((l) => l.type === 'na')!;
    expect(na).toMatchObject({ address: '2001:db8:1::1001', prefixLength: 128, expiresAt: 1015, state: 'active', iaid: 1 });
    expect(leases.find((l) => l.type === 'pd')).toMatchObject({ address: '2001:db8:8000:100::', prefixLength: 56, state: 'released' });
    expect(parseKeaLeases6(csv, 2000).find((l) => l.type === 'na')!.state).toBe('expired');
  });
});

// The lab's fixed addressing plan. Servers under test get it through
// ServerContext so their configs and the tests' expectations agree.

export interface LabLifetimes {
  readonly preferredSec: number;
  readonly validSec: number;
  readonly t1Sec: number;
  readonly t2Sec: number;
}

export interface LabTopology {
  readonly serverIf: string;
  readonly clientIf: string;
  readonly subnet: string;
  readonly serverAddress: string;
  readonly serverPrefixLength: number;
  readonly pool: { readonly first: string; readonly last: string };
  readonly pdPool: { readonly prefix: string; readonly prefixLength: number; readonly delegatedLength: number };
  readonly dnsServers: readonly string[];
  /**
   * Short so that a test sees a renewal within seconds; 30 s preferred is
   * twin6's floor (RFC 8156's minimum lease time), and T1/T2 follow its
   * default ratios (0.5, 0.8), so every server is held to the same numbers.
   */
  readonly lifetimes: LabLifetimes;
}

export const LAB_TOPOLOGY: LabTopology = {
  serverIf: 'lan0',
  clientIf: 'eth0',
  subnet: '2001:db8:1::/64',
  serverAddress: '2001:db8:1::1',
  serverPrefixLength: 64,
  pool: { first: '2001:db8:1::1000', last: '2001:db8:1::ffff' },
  pdPool: { prefix: '2001:db8:8000::', prefixLength: 40, delegatedLength: 56 },
  dnsServers: ['2001:db8:1::53'],
  lifetimes: { preferredSec: 30, validSec: 60, t1Sec: 15, t2Sec: 24 },
};

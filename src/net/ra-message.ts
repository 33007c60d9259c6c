// The Router Advertisement one subnet sends (RFC 4861 §6.2.3), built from its
// resolved config. Pure: the interface's MAC comes in as an argument.

import type { RouterAdvertisementSettings, Subnet } from '../config/types.js';
import { addressFromBigInt } from '../wire/address.js';
import { nameLength } from '../wire/domain.js';
import { optionLength, type NdOption, type RouterAdvertisement } from '../wire/ndp.js';

/** The IPv6 minimum MTU (RFC 8200 §5) less the 40-octet IPv6 header: an RA never needs fragmenting. */
export const RA_BYTES_MAX = 1240;
const RA_FIXED_BYTES = 16;
const OPTION_BYTES_MAX = 255 * 8;
const DNSSL_FIXED_BYTES = 8;

export interface BuiltAdvertisement {
  readonly ra: RouterAdvertisement;
  /** Search domains left out because the message would not fit RA_BYTES_MAX. */
  readonly domainsDropped: number;
}

/**
 * notDefaultRouter: Router Lifetime 0, so hosts drop us as a default router at
 * once — the last advertisement before the router stops (§6.2.5), and every
 * advertisement of a failover partner on standby. Prefix and DNS information
 * keep their lifetimes, and M/O still send hosts to DHCPv6: the addresses and
 * servers stay valid, and the partner that serves is the default router.
 */
export function buildAdvertisement(
  subnet: Subnet,
  settings: RouterAdvertisementSettings,
  mac: Uint8Array | undefined,
  notDefaultRouter: boolean,
): BuiltAdvertisement {
  const options: NdOption[] = [];
  // §4.6.1: the source link-layer address lets hosts skip a Neighbor Solicitation for us.
  if (mac && mac.length > 0 && mac.some((b) => b !== 0)) options.push({ kind: 'SOURCE_LL_ADDR', address: mac });
  if (settings.mtu !== undefined) options.push({ kind: 'MTU', mtu: settings.mtu });
  options.push({
    kind: 'PREFIX_INFO',
    prefix: addressFromBigInt(subnet.prefix),
    prefixLength: subnet.prefixLength,
    onLink: true,
    autonomous: settings.autonomous,
    validSec: settings.prefixValidSec,
    preferredSec: settings.prefixPreferredSec,
  });
  // RFC 8106 §5.1: RDNSS carries what DHCPv6 hands out, for hosts that never ask (Android).
  if (subnet.options.dnsServers.length > 0) {
    options.push({ kind: 'RDNSS', lifetimeSec: settings.dnsLifetimeSec, servers: subnet.options.dnsServers });
  }
  const room = RA_BYTES_MAX - RA_FIXED_BYTES - options.reduce((n, o) => n + optionLength(o), 0);
  const { dnssl, dropped } = searchListOptions(subnet.options.domainSearch, settings.dnsLifetimeSec, room);
  options.push(...dnssl);
  const ra: RouterAdvertisement = {
    curHopLimit: settings.hopLimit,
    managed: settings.managed,
    otherConfig: settings.otherConfig,
    preference: settings.preference,
    routerLifetimeSec: notDefaultRouter ? 0 : settings.routerLifetimeSec,
    reachableTimeMs: 0,
    retransTimerMs: 0,
    options,
  };
  return { ra, domainsDropped: dropped };
}

/** DNSSL options (RFC 8106 §5.2) holding the domains in order, each at most 255 × 8 octets, within `room` octets in all. */
function searchListOptions(domains: readonly string[], lifetimeSec: number, room: number): { dnssl: NdOption[]; dropped: number } {
  const dnssl: NdOption[] = [];
  let current: string[] = [];
  let names = 0;
  let used = 0;
  const size = (n: number): number => (DNSSL_FIXED_BYTES + n + 7) & ~7;
  const close = (): void => {
    if (current.length > 0) dnssl.push({ kind: 'DNSSL', lifetimeSec, domains: current });
    current = [];
    names = 0;
  };
  for (const [i, d] of domains.entries()) {
    const n = nameLength(d);
    if (current.length > 0 && size(names + n) > OPTION_BYTES_MAX) {
      used += size(names);
      close();
    }
    if (used + size(names + n) > room) return (close(), { dnssl, dropped: domains.length - i });
    current.push(d);
    names += n;
  }
  close();
  return { dnssl, dropped: 0 };
}

// The pair's configuration for one seed, through the real config loader
// (parseConfig), so the simulation runs what a config file would produce.

import { parseConfig } from '../../config/index.js';
import type { ServerConfig } from '../../config/types.js';
import { addressFromBigInt, addressToBigInt } from '../../wire/address.js';
import type { SwarmOptions } from './faults.js';

export const LAN = 'lan0';
const POOL_FIRST = '2001:db8:1::10';
const PD_POOL = '2001:db8:8000::';
const PD_LENGTH = 56;
export const PARTNER_ADDRESS = { primary: 'fd00:ffff::1', secondary: 'fd00:ffff::2' } as const;

const lifetimes = (validSec: number) => ({ preferredSec: Math.max(30, Math.floor(validSec / 2)), validSec });

export function pairConfig(o: SwarmOptions, role: 'primary' | 'secondary'): ServerConfig {
  const last = addressFromBigInt(addressToBigInt(POOL_FIRST) + BigInt(o.poolAddresses - 1));
  return parseConfig({
    interfaces: [LAN],
    lifetimes: lifetimes(o.naValidSec),
    pdLifetimes: lifetimes(o.pdValidSec),
    affinitySec: o.affinitySec,
    declineHoldSec: 60,
    subnets: [
      {
        name: 'lan',
        interface: LAN,
        prefix: '2001:db8:1::/64',
        pools: [`${POOL_FIRST}-${last}`],
        pdPools: [{ prefix: `${PD_POOL}/${PD_LENGTH - o.pdPoolBits}`, delegatedLength: PD_LENGTH }],
        rapidCommit: o.rapidCommit,
      },
    ],
    failover: {
      role,
      localAddress: PARTNER_ADDRESS[role],
      peerAddress: PARTNER_ADDRESS[role === 'primary' ? 'secondary' : 'primary'],
      insecure: true,
      mcltSec: o.mcltSec,
      keepaliveSec: o.keepaliveSec,
      startupSec: o.startupSec,
      maxUnackedBndupd: o.maxUnackedBndupd,
      secondaryPdShare: o.secondaryPdShare,
      ...(o.autoPartnerDownSec === undefined ? {} : { autoPartnerDownSec: o.autoPartnerDownSec }),
      // Figure 4 as written lets a stale same-client update end a lease the client still holds
      // (a partition heals after it renewed at the other side): the client is then told
      // NoBinding early, which the in-contact invariant catches. A twin6 pair runs with it on.
      keepLongerLease: true,
    },
  });
}

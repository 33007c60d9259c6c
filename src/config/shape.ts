// The file's keys, one declaration each: what type, which bounds, required or
// not. Cross-key rules (containment, overlap, uniqueness across subnets) live
// in rules.ts; defaults are applied in resolve.ts from the DEFAULTS table.

import { LIMITS, LOG_LEVELS, RANGES } from './defaults.js';
import { boolean, integer, listOf, object, oneOf, optional, ratio, required, type Reader } from './schema.js';
import { address, domainName, duid, interfaceName, prefix, range, subnetName } from './values.js';
import { addressFromBigInt } from '../wire/address.js';
import { failoverShape } from './failover.js';
import { pdRoutesShape, routerAdvertisementsShape } from './cpe.js';
import { mqttShape } from './mqtt.js';
import { timeShape } from './time.js';
import { firmwareShape } from './firmware.js';
import { leasequeryShape } from './leasequery.js';

const intIn = ([min, max]: readonly [number, number]): Reader<number> => integer(min, max);

/** Adds the item's own path, which the cross-key rules need to point at it. */
const located =
  <T extends object>(read: Reader<T>): Reader<T & { readonly path: string }> =>
  (value, path, issues) => {
    const got = read(value, path, issues);
    return got === undefined ? undefined : { ...got, path };
  };

export const lifetimesShape = object({
  preferredSec: optional(intIn(RANGES.lifetimeSec)),
  validSec: optional(intIn(RANGES.lifetimeSec)),
  renewRatio: optional(ratio(false)),
  rebindRatio: optional(ratio(true)),
});

export const optionsShape = object({
  dnsServers: optional(listOf(address, { min: 0, max: LIMITS.dnsServers, uniqueBy: addressFromBigInt })),
  domainSearch: optional(listOf(domainName, { min: 0, max: LIMITS.domainSearch, uniqueBy: (n) => n })),
  informationRefreshSec: optional(intIn(RANGES.informationRefreshSec)),
  solMaxRtSec: optional(intIn(RANGES.maxRtSec)),
  infMaxRtSec: optional(intIn(RANGES.maxRtSec)),
});

const pdPoolShape = located(
  object({
    prefix: required(prefix),
    delegatedLength: required(intIn(RANGES.prefixLength)),
  }),
);

const reservationShape = located(
  object({
    duid: required(duid),
    address: optional(address),
    prefix: optional(prefix),
  }),
);

const poolShape = located(range);

const subnetShape = located(
  object({
    name: required(subnetName),
    interface: optional(interfaceName),
    prefix: required(prefix),
    pools: optional(listOf(poolShape, { min: 0, max: LIMITS.poolsPerSubnet })),
    pdPools: optional(listOf(pdPoolShape, { min: 0, max: LIMITS.pdPoolsPerSubnet })),
    lifetimes: optional(lifetimesShape),
    pdLifetimes: optional(lifetimesShape),
    options: optional(optionsShape),
    rapidCommit: optional(boolean),
    preference: optional(intIn(RANGES.preference)),
    reservations: optional(listOf(reservationShape, { min: 0, max: LIMITS.reservationsPerSubnet })),
    routerAdvertisements: optional(routerAdvertisementsShape),
  }),
);

export const configShape = object({
  interfaces: required(listOf(interfaceName, { min: 1, max: LIMITS.interfaces, uniqueBy: (n) => n })),
  serverDuid: optional(duid),
  port: optional(intIn(RANGES.port)),
  lifetimes: optional(lifetimesShape),
  pdLifetimes: optional(lifetimesShape),
  options: optional(optionsShape),
  subnets: required(listOf(subnetShape, { min: 1, max: LIMITS.subnets })),
  declineHoldSec: optional(intIn(RANGES.declineHoldSec)),
  affinitySec: optional(intIn(RANGES.affinitySec)),
  storage: optional(
    object({
      commitWindowMs: optional(intIn(RANGES.commitWindowMs)),
      commitBatchMax: optional(intIn(RANGES.commitBatchMax)),
      slowWriteMs: optional(intIn(RANGES.slowWriteMs)),
    }),
  ),
  limits: optional(
    object({
      iasPerMessage: optional(intIn(RANGES.iasPerMessage)),
      leasesPerClient: optional(intIn(RANGES.leasesPerClient)),
    }),
  ),
  log: optional(object({ level: optional(oneOf(LOG_LEVELS)) })),
  failover: optional(failoverShape),
  routerAdvertisements: optional(routerAdvertisementsShape),
  pdRoutes: optional(pdRoutesShape),
  mqtt: optional(mqttShape),
  time: optional(timeShape),
  firmware: optional(firmwareShape),
  leasequery: optional(leasequeryShape),
});

type ReadOf<R> = R extends Reader<infer T> ? T : never;
export type ConfigInput = ReadOf<typeof configShape>;
export type SubnetInput = NonNullable<ConfigInput['subnets']>[number];
export type LifetimesInput = ReadOf<typeof lifetimesShape>;
export type OptionsInput = ReadOf<typeof optionsShape>;

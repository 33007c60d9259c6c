// From the checked input to the ServerConfig the engine consumes: defaults
// filled from the DEFAULTS table, subnet settings inheriting the top-level
// ones key by key, and the rules that concern one subnet at a time.

import { addressFromBigInt, networkOf, prefixContains } from '../wire/address.js';
import { DEFAULTS } from './defaults.js';
import { ROOT_PATH } from './errors.js';
import type { Issues } from './schema.js';
import { keyPath } from './schema.js';
import type { ConfigInput, LifetimesInput, OptionsInput, SubnetInput } from './shape.js';
import type {
  AddressPool,
  FailoverConfig,
  Lifetimes,
  MqttConfig,
  PrefixPool,
  Reservation,
  ServedOptions,
  ServerConfig,
  StorageConfig,
  Subnet,
} from './types.js';
import { prefixText, type PrefixValue } from './values.js';
import { checkAcrossSubnets } from './rules.js';
import { resolvePdRoutes, withRouterAdvertisements } from './cpe.js';
import { resolveFailover } from './failover.js';
import { resolveMqtt } from './mqtt.js';
import { resolveTime } from './time.js';
import { resolveFirmware } from './firmware.js';
import { resolveLeasequery } from './leasequery.js';

const withFailover = (f: FailoverConfig | undefined) => (f ? { failover: f } : {});
const withMqtt = (m: MqttConfig | undefined) => (m ? { mqtt: m } : {});

interface Inherited {
  readonly lifetimes: Lifetimes;
  readonly pdLifetimes: Lifetimes;
  readonly options: ServedOptions;
}

export function resolveConfig(input: ConfigInput, issues: Issues): ServerConfig {
  const inherited: Inherited = {
    lifetimes: resolveLifetimes(DEFAULTS.lifetimes, input.lifetimes, keyPath(ROOT_PATH, 'lifetimes'), 'the default', issues),
    pdLifetimes: resolveLifetimes(DEFAULTS.pdLifetimes, input.pdLifetimes, keyPath(ROOT_PATH, 'pdLifetimes'), 'the default', issues),
    options: resolveOptions({ dnsServers: DEFAULTS.dnsServers, domainSearch: DEFAULTS.domainSearch }, input.options),
  };
  const interfaces = input.interfaces ?? [];
  const subnetInputs = input.subnets ?? [];
  const subnets: Subnet[] = [];
  // A broken interfaces list is already reported; don't blame every subnet for it.
  const listed = issues.hasUnder('interfaces') ? undefined : new Set(interfaces);
  for (const s of subnetInputs) {
    const subnet = resolveSubnet(s, inherited, listed, issues);
    if (subnet) subnets.push(withRouterAdvertisements(subnet, s.routerAdvertisements, input.routerAdvertisements, s.path, issues));
  }
  checkAcrossSubnets(subnetInputs, issues);
  return {
    ...(input.serverDuid === undefined ? {} : { serverDuid: input.serverDuid }),
    interfaces,
    subnets,
    declineHoldSec: input.declineHoldSec ?? DEFAULTS.declineHoldSec,
    affinitySec: input.affinitySec ?? DEFAULTS.affinitySec,
    storage: resolveStorage(input.storage),
    limits: { ...DEFAULTS.limits, ...input.limits },
    logLevel: input.log?.level ?? DEFAULTS.logLevel,
    port: input.port ?? DEFAULTS.port,
    ...withFailover(resolveFailover(input.failover, keyPath(ROOT_PATH, 'failover'), issues)),
    ...resolvePdRoutes(input.pdRoutes),
    ...withMqtt(resolveMqtt(input.mqtt, keyPath(ROOT_PATH, 'mqtt'), issues)),
    ...resolveTime(input.time, input.failover !== undefined, keyPath(ROOT_PATH, 'time'), issues),
    ...resolveFirmware(input.firmware, keyPath(ROOT_PATH, 'firmware'), issues),
    ...resolveLeasequery(input.leasequery),
  };
}

/** commitBatchMax no longer starts a write early (the bound on syncs/s would not hold), so it is dropped. */
function resolveStorage(input: ConfigInput['storage']): StorageConfig {
  const { commitBatchMax: _obsolete, ...storage } = input ?? {};
  return { ...DEFAULTS.storage, ...storage };
}

/**
 * Keys absent here come from `base`. The pair rules are checked only where this
 * object sets one of the pair, so a broken top-level value is reported once,
 * not again in every subnet that inherits it.
 */
function resolveLifetimes(base: Lifetimes, input: LifetimesInput | undefined, path: string, baseName: string, issues: Issues): Lifetimes {
  const merged: Lifetimes = { ...base, ...input };
  if (input === undefined || issues.hasUnder(path)) return merged;
  const from = (key: keyof Lifetimes): string => (input[key] === undefined ? `, ${baseName}` : '');
  if (merged.preferredSec > merged.validSec) {
    if (input.preferredSec !== undefined) {
      issues.report(
        keyPath(path, 'preferredSec'),
        `must not exceed validSec (${merged.validSec}${from('validSec')}), got ${merged.preferredSec}`,
      );
    } else {
      issues.report(
        keyPath(path, 'validSec'),
        `must be at least preferredSec (${merged.preferredSec}${from('preferredSec')}), got ${merged.validSec}`,
      );
    }
  }
  // RFC 8415 §21.4: a client discards an IA whose T1 is above its T2.
  if (merged.renewRatio >= merged.rebindRatio) {
    if (input.renewRatio !== undefined) {
      issues.report(
        keyPath(path, 'renewRatio'),
        `must be less than rebindRatio (${merged.rebindRatio}${from('rebindRatio')}), got ${merged.renewRatio}`,
      );
    } else {
      issues.report(
        keyPath(path, 'rebindRatio'),
        `must be greater than renewRatio (${merged.renewRatio}${from('renewRatio')}), got ${merged.rebindRatio}`,
      );
    }
  }
  return merged;
}

/** Each key given here replaces the inherited one as a whole; an empty list means "send none". */
function resolveOptions(base: ServedOptions, input: OptionsInput | undefined): ServedOptions {
  if (input === undefined) return base;
  const out: { -readonly [K in keyof ServedOptions]: ServedOptions[K] } = {
    dnsServers: input.dnsServers?.map(addressFromBigInt) ?? base.dnsServers,
    domainSearch: input.domainSearch ?? base.domainSearch,
  };
  const informationRefreshSec = input.informationRefreshSec ?? base.informationRefreshSec;
  const solMaxRtSec = input.solMaxRtSec ?? base.solMaxRtSec;
  const infMaxRtSec = input.infMaxRtSec ?? base.infMaxRtSec;
  if (informationRefreshSec !== undefined) out.informationRefreshSec = informationRefreshSec;
  if (solMaxRtSec !== undefined) out.solMaxRtSec = solMaxRtSec;
  if (infMaxRtSec !== undefined) out.infMaxRtSec = infMaxRtSec;
  return out;
}

function resolveSubnet(
  input: SubnetInput,
  inherited: Inherited,
  interfaces: ReadonlySet<string> | undefined,
  issues: Issues,
): Subnet | undefined {
  const { path } = input;
  if (input.interface !== undefined && interfaces !== undefined && !interfaces.has(input.interface)) {
    const known = [...interfaces].join(', ');
    issues.report(
      keyPath(path, 'interface'),
      `"${input.interface}" is not listed in interfaces (${known}), so its clients would never be heard`,
    );
  }
  const lifetimes = resolveLifetimes(inherited.lifetimes, input.lifetimes, keyPath(path, 'lifetimes'), 'inherited from lifetimes', issues);
  const pdLifetimes = resolveLifetimes(
    inherited.pdLifetimes,
    input.pdLifetimes,
    keyPath(path, 'pdLifetimes'),
    'inherited from pdLifetimes',
    issues,
  );
  const options = resolveOptions(inherited.options, input.options);
  const pdPools = (input.pdPools ?? []).flatMap((p) => checkPdPool(p, issues));
  const pools = (input.pools ?? []).flatMap((p) => resolvePool(p, input.prefix, issues) ?? []);
  const reservations = checkReservations(input, pdPools, issues);
  if (input.name === undefined || input.prefix === undefined) return undefined;
  return {
    name: input.name,
    ...(input.interface === undefined ? {} : { interface: input.interface }),
    prefix: input.prefix.prefix,
    prefixLength: input.prefix.length,
    pools,
    pdPools,
    lifetimes,
    pdLifetimes,
    rapidCommit: input.rapidCommit ?? DEFAULTS.rapidCommit,
    preference: input.preference ?? DEFAULTS.preference,
    options,
    reservations,
  };
}

type PoolInput = NonNullable<SubnetInput['pools']>[number];
type PdPoolInput = NonNullable<SubnetInput['pdPools']>[number];

// Anycast interface identifiers inside a pool (RFC 4291 §2.6.1, RFC 2526) are
// skipped by the allocator (engine/allocate.ts), so a CIDR pool may start at the subnet.
function resolvePool(pool: PoolInput, subnet: PrefixValue | undefined, issues: Issues): AddressPool | undefined {
  if (subnet === undefined) return undefined;
  const inside = (a: bigint): boolean => prefixContains(subnet.prefix, subnet.length, a);
  if (!inside(pool.first) || !inside(pool.last)) {
    issues.report(pool.path, `must be inside the subnet prefix ${prefixText(subnet)}, got ${pool.name}`);
    return undefined;
  }
  return { name: pool.name, first: pool.first, last: pool.last };
}

function checkPdPool(pool: PdPoolInput, issues: Issues): PrefixPool[] {
  if (pool.prefix === undefined || pool.delegatedLength === undefined) return [];
  const { length } = pool.prefix;
  if (length === 128) {
    issues.report(keyPath(pool.path, 'prefix'), 'must be shorter than /128 to have anything to delegate');
    return [];
  }
  if (pool.delegatedLength <= length) {
    issues.report(
      keyPath(pool.path, 'delegatedLength'),
      `must be between ${length + 1} and 128 (the pool prefix is /${length}), got ${pool.delegatedLength}`,
    );
    return [];
  }
  const name = `${prefixText(pool.prefix)} → /${pool.delegatedLength}`;
  return [{ name, prefix: pool.prefix.prefix, prefixLength: length, delegatedLength: pool.delegatedLength }];
}

function checkReservations(input: SubnetInput, pdPools: readonly PrefixPool[], issues: Issues): Reservation[] {
  const out: Reservation[] = [];
  const byDuid = new Map<string, string>();
  for (const r of input.reservations ?? []) {
    if (r.duid === undefined || issues.hasUnder(r.path)) continue;
    const earlier = byDuid.get(r.duid);
    if (earlier !== undefined) {
      issues.report(keyPath(r.path, 'duid'), `this DUID already has a reservation in this subnet (${earlier})`);
      continue;
    }
    byDuid.set(r.duid, r.path);
    if (r.address === undefined && r.prefix === undefined) {
      issues.report(r.path, 'needs an address, a prefix or both');
      continue;
    }
    if (r.address !== undefined && input.prefix !== undefined && !prefixContains(input.prefix.prefix, input.prefix.length, r.address)) {
      issues.report(
        keyPath(r.path, 'address'),
        `must be inside the subnet prefix ${prefixText(input.prefix)}, got ${addressFromBigInt(r.address)}`,
      );
    }
    if (r.prefix !== undefined) checkReservedPrefix(r.prefix, keyPath(r.path, 'prefix'), pdPools, issues);
    out.push({
      duid: r.duid,
      ...(r.address === undefined ? {} : { address: addressFromBigInt(r.address) }),
      ...(r.prefix === undefined ? {} : { prefix: prefixText(r.prefix) }),
    });
  }
  return out;
}

function checkReservedPrefix(p: PrefixValue, path: string, pdPools: readonly PrefixPool[], issues: Issues): void {
  const pool = pdPools.find((q) => p.length >= q.prefixLength && networkOf(p.prefix, q.prefixLength) === q.prefix);
  if (pool === undefined) {
    const pools = pdPools.map((q) => q.name).join(', ');
    issues.report(
      path,
      pools
        ? `must be inside one of this subnet's pd pools (${pools}), got ${prefixText(p)}`
        : `this subnet has no pd pools to reserve ${prefixText(p)} from`,
    );
  } else if (p.length !== pool.delegatedLength) {
    issues.report(path, `must be a /${pool.delegatedLength}, the delegated length of pd pool ${pool.name}, got /${p.length}`);
  }
}

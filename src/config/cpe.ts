// The CPE sections: `routerAdvertisements` (top level, inherited key by key by
// every subnet with an interface, and per subnet) and `pdRoutes` (top level).
// Shapes and resolution live here so that shape.ts and resolve.ts only gain
// one line each; the resolved types are in types.ts, defaults and bounds in
// defaults.ts, with the others.

import { DEFAULTS, RANGES } from './defaults.js';
import { boolean, integer, keyPath, object, oneOf, optional, type Issues, type Reader } from './schema.js';
import type { PdRoutesConfig, RouterAdvertisementSettings, RouterPreference, Subnet } from './types.js';

const intIn = ([min, max]: readonly [number, number]): Reader<number> => integer(min, max);

export const routerAdvertisementsShape = object({
  enabled: optional(boolean),
  managed: optional(boolean),
  otherConfig: optional(boolean),
  autonomous: optional(boolean),
  routerLifetimeSec: optional(intIn(RANGES.raRouterLifetimeSec)),
  preference: optional(oneOf<RouterPreference>(['high', 'medium', 'low'])),
  maxIntervalSec: optional(intIn(RANGES.raMaxIntervalSec)),
  minIntervalSec: optional(intIn(RANGES.raMinIntervalSec)),
  hopLimit: optional(intIn(RANGES.raHopLimit)),
  mtu: optional(intIn(RANGES.raMtu)),
  prefixValidSec: optional(intIn(RANGES.raPrefixLifetimeSec)),
  prefixPreferredSec: optional(intIn(RANGES.raPrefixLifetimeSec)),
  dnsLifetimeSec: optional(intIn(RANGES.raDnsLifetimeSec)),
});

const pdRoutesObject = object({
  enabled: optional(boolean),
  protocol: optional(intIn(RANGES.routeProtocol)),
  metric: optional(intIn(RANGES.routeMetric)),
});

/** `true`/`false`, or an object whose `enabled` defaults to true. */
export const pdRoutesShape: Reader<{ enabled?: boolean; protocol?: number; metric?: number }> = (value, path, issues) =>
  typeof value === 'boolean' ? { enabled: value } : pdRoutesObject(value, path, issues);

type ReadOf<R> = R extends Reader<infer T> ? T : never;
export type RouterAdvertisementsInput = ReadOf<typeof routerAdvertisementsShape>;
export type PdRoutesInput = ReadOf<typeof pdRoutesShape>;

/** Present only when the file has the section, so configs without it resolve as before. */
export function resolvePdRoutes(input: PdRoutesInput | undefined): { pdRoutes?: PdRoutesConfig } {
  if (input === undefined) return {};
  return { pdRoutes: { ...DEFAULTS.pdRoutes, ...input } };
}

/**
 * The subnet with its `routerAdvertisements` resolved: the subnet's keys over
 * the top level's over the defaults. Present only when enabled; a subnet
 * without an interface has no link to advertise on.
 */
export function withRouterAdvertisements(
  subnet: Subnet,
  input: RouterAdvertisementsInput | undefined,
  topLevel: RouterAdvertisementsInput | undefined,
  path: string,
  issues: Issues,
): Subnet {
  const merged = { ...topLevel, ...input };
  if (!(merged.enabled ?? false)) return subnet;
  const here = keyPath(path, 'routerAdvertisements');
  if (subnet.interface === undefined) {
    // Inherited from the top level: relayed-only subnets are simply not advertised.
    if (input?.enabled)
      issues.report(keyPath(here, 'enabled'), 'needs the subnet to have an interface: advertisements go out on its own link');
    return subnet;
  }
  if (issues.hasUnder(here) || issues.hasUnder('routerAdvertisements')) return subnet;
  const d = DEFAULTS.routerAdvertisements;
  const maxIntervalSec = merged.maxIntervalSec ?? d.maxIntervalSec;
  // RFC 4861 §6.2.1: MinRtrAdvInterval defaults to 0.33 × Max when Max ≥ 9 s, else to Max.
  const minIntervalSec = merged.minIntervalSec ?? (maxIntervalSec >= 9 ? Math.max(3, Math.floor(0.33 * maxIntervalSec)) : maxIntervalSec);
  const settings: RouterAdvertisementSettings = {
    managed: merged.managed ?? (subnet.pools.length > 0 || subnet.pdPools.length > 0),
    otherConfig: merged.otherConfig ?? d.otherConfig,
    autonomous: merged.autonomous ?? subnet.prefixLength === 64,
    // §6.2.1: AdvDefaultLifetime defaults to 3 × MaxRtrAdvInterval.
    routerLifetimeSec: merged.routerLifetimeSec ?? Math.min(3 * maxIntervalSec, RANGES.raRouterLifetimeSec[1]),
    preference: merged.preference ?? d.preference,
    maxIntervalSec,
    minIntervalSec,
    hopLimit: merged.hopLimit ?? d.hopLimit,
    ...(merged.mtu === undefined ? {} : { mtu: merged.mtu }),
    prefixValidSec: merged.prefixValidSec ?? d.prefixValidSec,
    prefixPreferredSec: merged.prefixPreferredSec ?? d.prefixPreferredSec,
    // RFC 8106 §5.1: by default at least 3 × MaxRtrAdvInterval.
    dnsLifetimeSec: merged.dnsLifetimeSec ?? 3 * maxIntervalSec,
  };
  const where = (key: keyof RouterAdvertisementsInput): string =>
    input?.[key] !== undefined ? keyPath(here, key) : topLevel?.[key] !== undefined ? keyPath('routerAdvertisements', key) : here;
  checkSettings(settings, subnet, where, issues);
  return { ...subnet, routerAdvertisements: settings };
}

function checkSettings(
  s: RouterAdvertisementSettings,
  subnet: Subnet,
  where: (key: keyof RouterAdvertisementsInput) => string,
  issues: Issues,
): void {
  // A top-level value every subnet inherits is reported once, not once per subnet.
  const report = (path: string, problem: string): void => {
    if (!issues.hasUnder(path)) issues.report(path, problem);
  };
  if (s.minIntervalSec > 0.75 * s.maxIntervalSec && s.minIntervalSec !== s.maxIntervalSec) {
    report(
      where('minIntervalSec'),
      `must be at most 0.75 × maxIntervalSec (${s.maxIntervalSec}) (RFC 4861 §6.2.1), got ${s.minIntervalSec}`,
    );
  }
  if (s.routerLifetimeSec !== 0 && s.routerLifetimeSec < s.maxIntervalSec) {
    report(
      where('routerLifetimeSec'),
      `must be 0 or at least maxIntervalSec (${s.maxIntervalSec}) (RFC 4861 §6.2.1), got ${s.routerLifetimeSec}`,
    );
  }
  if (s.prefixPreferredSec > s.prefixValidSec) {
    report(where('prefixPreferredSec'), `must not exceed prefixValidSec (${s.prefixValidSec}), got ${s.prefixPreferredSec}`);
  }
  if (s.autonomous && subnet.prefixLength !== 64) {
    report(
      where('autonomous'),
      `needs a /64 on-link prefix to form addresses from (RFC 4862 §5.5.3), the subnet prefix is /${subnet.prefixLength}`,
    );
  }
}

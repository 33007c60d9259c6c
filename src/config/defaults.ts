// Every default and every bound of the config file in one place, so that the
// docs (docs/config.md), the checks and the resolved values cannot drift apart.

import type { Lifetimes, ServerConfig, StorageConfig } from './types.js';

/** RFC 8415 §7.7: a lifetime of 0xffffffff means "infinity". */
export const INFINITY_SEC = 0xffff_ffff;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const satisfies readonly ServerConfig['logLevel'][];

export const DEFAULTS = {
  port: 547,
  // RFC 8415 §21.4 recommends T1 = 0.5 and T2 = 0.8 of the shortest preferred lifetime.
  lifetimes: { preferredSec: 3600, validSec: 7200, renewRatio: 0.5, rebindRatio: 0.8 } satisfies Lifetimes,
  pdLifetimes: { preferredSec: 3600, validSec: 7200, renewRatio: 0.5, rebindRatio: 0.8 } satisfies Lifetimes,
  // Frozen: resolved configs share these arrays rather than copying them.
  dnsServers: Object.freeze([]) as readonly string[],
  domainSearch: Object.freeze([]) as readonly string[],
  rapidCommit: false,
  // RFC 8415 §21.8: 0 is the lowest preference, and the option is then left out.
  preference: 0,
  declineHoldSec: 86_400,
  affinitySec: 86_400,
  storage: { commitWindowMs: 5, commitBatchMax: 32 } satisfies StorageConfig,
  logLevel: 'info' as ServerConfig['logLevel'],
} as const;

/** Inclusive [min, max] of every bounded integer key. */
export const RANGES = {
  port: [1, 65_535],
  // RFC 8156 §4.4: no lease shorter than 30 s once failover is on; keep one rule for both modes.
  lifetimeSec: [30, INFINITY_SEC],
  preference: [0, 255],
  // RFC 8415 §21.23: IRT_MINIMUM is 600 s.
  informationRefreshSec: [600, INFINITY_SEC],
  // RFC 8415 §21.24, §21.25: values outside 60..86400 are ignored by clients.
  maxRtSec: [60, 86_400],
  declineHoldSec: [60, 30 * 86_400],
  affinitySec: [0, 30 * 86_400],
  commitWindowMs: [0, 1000],
  commitBatchMax: [1, 10_000],
  prefixLength: [1, 128],
} as const satisfies Record<string, readonly [number, number]>;

/** Upper bounds on list sizes, so a broken or hostile file cannot make loading slow. */
export const LIMITS = {
  interfaces: 64,
  subnets: 1024,
  poolsPerSubnet: 64,
  pdPoolsPerSubnet: 64,
  reservationsPerSubnet: 10_000,
  dnsServers: 16,
  domainSearch: 32,
  /** Problems collected before loading stops looking for more. */
  problems: 100,
} as const;

/** RFC 8415 §11.1: a DUID is a 2-octet type plus at most 128 octets; no real type is shorter than 3. */
export const DUID_BYTES = [3, 130] as const;

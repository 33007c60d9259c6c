// Every default and every bound of the config file in one place, so that the
// docs (docs/config.md), the checks and the resolved values cannot drift apart.

import type { ClientLimits, Lifetimes, ServerConfig, StorageConfig } from './types.js';

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
  // RFC 8415 §7.6: REQ_TIMEOUT is 1 s; a Reply held longer by its sync has cost the client a retransmission.
  storage: { commitWindowMs: 5, slowWriteMs: 1000 } satisfies StorageConfig,
  // A CPE asks for one or two IAs of each kind (odhcp6c: one IA_NA, one IA_PD; dhcpcd: one per
  // `ia_na`/`ia_pd` line); room for a router with several downstream links, nothing near a pool.
  limits: { iasPerMessage: 8, leasesPerClient: 16 } satisfies ClientLimits,
  logLevel: 'info' as ServerConfig['logLevel'],
  // RFC 4861 §6.2.1 defaults; managed, autonomous, minIntervalSec, routerLifetimeSec and
  // dnsLifetimeSec depend on the subnet or on maxIntervalSec (config/cpe.ts).
  routerAdvertisements: {
    otherConfig: true,
    preference: 'medium',
    maxIntervalSec: 600,
    hopLimit: 64,
    prefixValidSec: 2_592_000,
    prefixPreferredSec: 604_800,
  },
  // Protocol 62 is not in iproute2's reserved list (/etc/iproute2/rt_protos); metric
  // 1062 sits above the kernel's default 1024, so an operator's static route for the
  // same prefix wins and `ip route replace` never overwrites it.
  pdRoutes: { enabled: true, protocol: 62, metric: 1062 },
  // docs/fleet.md §6: a 30 s will delay outlasts a WAN blip without hiding a dead box for long.
  mqtt: {
    topicPrefix: 'fleet/v1',
    keepaliveSec: 60,
    willDelaySec: 30,
    telemetryIntervalSec: 60,
    reconnect: { initialMs: 1000, maxMs: 300_000 },
    outbox: { maxMessages: 1000, maxBytes: 256 * 1024 },
    // docs/fleet.md §7: long enough for a reconnect with back-off and a partner link to settle.
    configGraceSec: 60,
  },
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
  // Obsolete, checked and ignored: files that still carry it must load after an upgrade.
  commitBatchMax: [1, 10_000],
  slowWriteMs: [100, 600_000],
  iasPerMessage: [1, 256],
  leasesPerClient: [1, 4096],
  prefixLength: [1, 128],
  // RFC 4861 §6.2.1: MaxRtrAdvInterval 4..1800, MinRtrAdvInterval ≥ 3, AdvDefaultLifetime 0 or ≤ 9000.
  raMaxIntervalSec: [4, 1800],
  raMinIntervalSec: [3, 1350],
  raRouterLifetimeSec: [0, 9000],
  raHopLimit: [0, 255],
  // RFC 8200 §5: 1280 is the IPv6 minimum link MTU.
  raMtu: [1280, 65_535],
  raPrefixLifetimeSec: [0, INFINITY_SEC],
  raDnsLifetimeSec: [0, INFINITY_SEC],
  // Above RTPROT_STATIC (4), below the 255 the kernel allows.
  routeProtocol: [5, 254],
  routeMetric: [1, 0xffff_fffe],
  mqttKeepaliveSec: [5, 3600],
  mqttWillDelaySec: [0, 3600],
  mqttTelemetryIntervalSec: [1, 86_400],
  mqttReconnectInitialMs: [100, 60_000],
  mqttReconnectMaxMs: [1000, 3_600_000],
  mqttOutboxMessages: [10, 100_000],
  mqttOutboxBytes: [4096, 64 * 1024 * 1024],
  mqttConfigGraceSec: [5, 3600],
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
  /** Pinned command-signing keys: room for the key in use and its successor during a rotation. */
  mqttCommandKeys: 8,
  /** NTP servers asked each round: more add nothing but queries (RFC 8633 §3.2 suggests four or more). */
  ntpServers: 8,
  /** Leasequery requestors (addresses or prefixes): a few relays and access concentrators. */
  leasequeryRequestors: 64,
  /** Problems collected before loading stops looking for more. */
  problems: 100,
} as const;

/** RFC 8415 §11.1: a DUID is a 2-octet type plus at most 128 octets; no real type is shorter than 3. */
export const DUID_BYTES = [3, 130] as const;

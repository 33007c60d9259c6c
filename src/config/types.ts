// The validated, resolved configuration: what config/load.ts produces from the
// JSON file, and what the engine and the shell consume. Every default is
// already filled in; addresses are canonical strings, ranges are bigints.
// Declarations only, importing nothing: these are the config types the engine
// may see (docs/architecture.md §2), and a file that imports nothing closes no
// import cycle, which is why the sections' types sit here and not beside their
// shapes in cpe.ts and failover.ts.

export interface Lifetimes {
  readonly preferredSec: number;
  readonly validSec: number;
  /** T1 = renewRatio × shortest preferred lifetime (RFC 8415 §21.4 recommends 0.5). */
  readonly renewRatio: number;
  /** T2 = rebindRatio × shortest preferred lifetime (recommended 0.8). */
  readonly rebindRatio: number;
}

export interface AddressPool {
  /** As written in the config, for logs and status ("2001:db8:1::1000-2001:db8:1::ffff"). */
  readonly name: string;
  readonly first: bigint;
  readonly last: bigint;
}

export interface PrefixPool {
  readonly name: string; // "2001:db8:8000::/40 → /56"
  readonly prefix: bigint;
  readonly prefixLength: number;
  readonly delegatedLength: number;
}

export interface Reservation {
  /** Client DUID, lowercase hex. */
  readonly duid: string;
  readonly address?: string;
  /** "2001:db8:8000:ff00::/56" */
  readonly prefix?: string;
}

export interface ServedOptions {
  readonly dnsServers: readonly string[];
  readonly domainSearch: readonly string[];
  /** Sent in a Reply to Information-request when asked for (RFC 8415 §21.23). */
  readonly informationRefreshSec?: number;
  readonly solMaxRtSec?: number;
  readonly infMaxRtSec?: number;
}

export interface Subnet {
  readonly name: string;
  /** Interface whose directly connected clients this subnet serves; absent for relayed-only subnets. */
  readonly interface?: string;
  /** The on-link prefix: relayed clients are matched by their link-address, Confirm by it. */
  readonly prefix: bigint;
  readonly prefixLength: number;
  readonly pools: readonly AddressPool[];
  readonly pdPools: readonly PrefixPool[];
  readonly lifetimes: Lifetimes;
  readonly pdLifetimes: Lifetimes;
  readonly rapidCommit: boolean;
  /** Advertise's Preference option (RFC 8415 §21.8); 0 means "leave it out". */
  readonly preference: number;
  readonly options: ServedOptions;
  readonly reservations: readonly Reservation[];
  /** Router advertisements on `interface` (config/cpe.ts); absent when not enabled. */
  readonly routerAdvertisements?: RouterAdvertisementSettings;
}

export interface StorageConfig {
  /** Least time between the starts of two synced writes: at most 1000 / this syncs per second (docs/storage.md §3). */
  readonly commitWindowMs: number;
  /** A synced write slower than this, done or still in flight, makes storage degraded (mgmt/documents.ts). */
  readonly slowWriteMs: number;
}

/**
 * What one client message, and one client, may take (docs/config.md#limits-on-what-a-client-may-take).
 * Any LAN host may send a well-formed Request with thousands of IAs; these
 * bound the leases and the work such a message can cost.
 */
export interface ClientLimits {
  /** IA_NA and IA_PD options served per message, each type counted on its own; further IAs are refused with a status. */
  readonly iasPerMessage: number;
  /** Active leases one DUID may hold at once, both types together; a new IA beyond it is refused with a status. */
  readonly leasesPerClient: number;
}

/** The MQTT management uplink (docs/config.md#mqtt-management-uplink, src/mgmt/). */
export interface MqttConfig {
  /** "mqtts://host[:port]"; TLS is the only transport, since the certificate is the device's identity. */
  readonly url: string;
  /** Topic level and the client certificate's CN (the broker maps one to the other); [a-z0-9-], 1..48. */
  readonly deviceId: string;
  /** Topics are <topicPrefix>/<deviceId>/…; "fleet/v1" unless the broker is shared. */
  readonly topicPrefix: string;
  /** PEM files, absolute paths: checked at load, read again at every connect attempt so a rotated certificate is picked up. */
  readonly tls: {
    /** The fleet CA the broker's certificate must chain to (pinned: the system store is not used). */
    readonly caFile: string;
    /** The device certificate; its subject CN must be deviceId. */
    readonly certFile: string;
    readonly keyFile: string;
    /** Name to check the broker's certificate against when it differs from the URL's host. */
    readonly servername?: string;
  };
  readonly keepaliveSec: number;
  /** MQTT 5 Will Delay: how long after losing the connection the broker publishes "offline". */
  readonly willDelaySec: number;
  readonly telemetryIntervalSec: number;
  /** Reconnect back-off: a random wait in [b, 2b), b doubling from initialMs, capped at maxMs. */
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  /** What may wait for the broker during an outage (events; state and telemetry keep only their latest). */
  readonly outbox: { readonly maxMessages: number; readonly maxBytes: number };
  /** Ed25519 public keys, base64 of the raw 32 bytes, that dangerous commands must be signed with; none: they are refused. */
  readonly commandKeys: readonly string[];
  /** A pushed config must prove itself (sockets, partner link, broker) within this many seconds or is rolled back (docs/fleet.md §7). */
  readonly configGraceSec: number;
}

export interface ServerConfig {
  /** Server DUID as lowercase hex; absent means "generate once and keep in the state directory". */
  readonly serverDuid?: string;
  /** Interfaces the daemon listens on (joins ff02::1:2 there). */
  readonly interfaces: readonly string[];
  readonly subnets: readonly Subnet[];
  /** How long a declined address is held back before it is offered again (RFC 8415 §18.3.8). */
  readonly declineHoldSec: number;
  /** How long a released or expired lease stays reserved for its last client. */
  readonly affinitySec: number;
  readonly storage: StorageConfig;
  readonly limits: ClientLimits;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Listening port; 547 unless a test or a bench says otherwise. */
  readonly port: number;
  /** Absent: no management uplink. */
  readonly mqtt?: MqttConfig;
  /** RFC 8156 hot-standby partner; absent on a standalone server. */
  readonly failover?: FailoverConfig;
  /** Routes for delegated prefixes (net/routes.ts); absent when the file has no `pdRoutes`. */
  readonly pdRoutes?: PdRoutesConfig;
  /** Where the time comes from (daemon/time-sync.ts); absent when the file has no `time`. */
  readonly time?: TimeConfig;
  /** Firmware upgrades into the inactive slot (firmware/service.ts); defaults when the file has no `firmware`. */
  readonly firmware: FirmwareConfig;
  /** RFC 5007 Leasequery (engine/leasequery.ts); absent when the file has no `leasequery`: every query refused. */
  readonly leasequery?: LeasequeryConfig;
}

/** The `leasequery` section (config/leasequery.ts, docs/config.md#leasequery). */
export interface LeasequeryConfig {
  /** Who may query; empty: nobody (every LEASEQUERY answered NotAllowed). */
  readonly requestors: readonly RequestorPrefix[];
}

/** A requestor address (length 128) or a prefix of them. */
export interface RequestorPrefix {
  readonly prefix: bigint;
  readonly length: number;
  /** Canonical text, "2001:db8::/64", for logs and duplicate checks. */
  readonly name: string;
}

/** The `firmware` section (config/firmware.ts, docs/config.md#firmware). */
export interface FirmwareConfig {
  /** A trial boot not healthy this many seconds after boot reboots to the slot before. */
  readonly trialSec: number;
  /** Healthy this long without a break, a trial commits. */
  readonly healthySec: number;
  /** Largest bundle accepted, MiB. */
  readonly maxMiB: number;
  /** Free space left on the flash after a download, MiB (the leases need room). */
  readonly reserveMiB: number;
  /** A download still running this many seconds after the command fails (a server that trickles); the next command resumes it. */
  readonly downloadSec: number;
  /** Trust anchor for the bundle's HTTPS server; default: the system's. */
  readonly caFile?: string;
}

/** The `time` section (config/time.ts, docs/config.md#time). */
export interface TimeConfig {
  /** NTP servers: RFC 5952 IPv6 addresses, IPv4 addresses or host names. */
  readonly ntpServers: readonly string[];
  /** Serve NTP to the failover partner on failover.localAddress, and ask it for the time as one more server. */
  readonly servePartner: boolean;
}

/** The `routerAdvertisements` and `pdRoutes` sections (config/cpe.ts). */
export type RouterPreference = 'high' | 'medium' | 'low';

/** What one subnet's router advertisements say (RFC 4861 §4.2, §6.2.1), resolved. */
export interface RouterAdvertisementSettings {
  /** M flag: addresses are available via DHCPv6. */
  readonly managed: boolean;
  /** O flag: other configuration (DNS) is available via DHCPv6. */
  readonly otherConfig: boolean;
  /** A flag of the on-link prefix (SLAAC, RFC 4862 §5.5.3); only with a /64. */
  readonly autonomous: boolean;
  /** 0: "not a default router"; else maxIntervalSec..9000. */
  readonly routerLifetimeSec: number;
  /** RFC 4191 §2.2. */
  readonly preference: RouterPreference;
  /** MaxRtrAdvInterval and MinRtrAdvInterval. */
  readonly maxIntervalSec: number;
  readonly minIntervalSec: number;
  /** Cur Hop Limit for hosts; 0 = unspecified. */
  readonly hopLimit: number;
  /** MTU option (§4.6.4); absent: not sent. */
  readonly mtu?: number;
  /** Lifetimes of the on-link prefix's Prefix Information. */
  readonly prefixValidSec: number;
  readonly prefixPreferredSec: number;
  /** RDNSS and DNSSL lifetime (RFC 8106 §5.1); servers and domains are the subnet's dnsServers and domainSearch. */
  readonly dnsLifetimeSec: number;
}

export interface PdRoutesConfig {
  readonly enabled: boolean;
  /** Routing protocol number our routes carry: how twin6 tells its routes from everyone else's. */
  readonly protocol: number;
  readonly metric: number;
}

/**
 * Who the partner is: the CA alone says too little where it also issues
 * device or broker certificates, so a name is required unless the operator
 * says explicitly that any certificate from the CA will do.
 */
export type FailoverPeer =
  /** A SAN DNS name or the subject CN the partner's certificate must carry. */
  { readonly peerName: string; readonly anyPeerFromCa?: undefined } | { readonly anyPeerFromCa: true; readonly peerName?: undefined };

export type FailoverTls = FailoverPeer & {
  /** PEM of the CA that signed the partner's certificate: the authorisation check (RFC 8156 §10). */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
};

export interface FailoverConfig {
  readonly role: 'primary' | 'secondary';
  /** OPTION_F_RELATIONSHIP_NAME; both partners must use the same. */
  readonly relationshipName: string;
  /** Our address on the partner link (the secondary listens on it, the primary connects from it). */
  readonly localAddress: string;
  readonly peerAddress: string;
  /** TCP port, 647 by RFC 8156 §5.1. */
  readonly port: number;
  /** Maximum Client Lead Time (§4.4), seconds. */
  readonly mcltSec: number;
  /** Our keepalive time: the partner declares us down after this long without a message (§6.5). */
  readonly keepaliveSec: number;
  /** How many BNDUPDs we accept unacknowledged (OPTION_F_MAX_UNACKED_BNDUPD). */
  readonly maxUnackedBndupd: number;
  /** COMMUNICATIONS-INTERRUPTED → PARTNER-DOWN after this long; undefined: only by operator (the RFC default). */
  readonly autoPartnerDownSec?: number;
  /** How long STARTUP waits for the partner before resuming its previous state (§8.3). */
  readonly startupSec: number;
  /** Share of each prefix pool the secondary owns for new delegations (§4.2.2 proportional allocation). */
  readonly secondaryPdShare: number;
  /**
   * The enterprise number of twin6's vendor option in binding updates (the
   * requesting router, src/wire/failover/twin6-via.ts); both partners must use
   * the same. 0 by default: see config/failover.ts
   * DEFAULT_VENDOR_ENTERPRISE_NUMBER.
   */
  readonly vendorEnterpriseNumber: number;
  /**
   * twin6's stricter accept/reject rules over a live ACTIVE lease, instead of
   * RFC 8156 §7.5.4 Figure 4 as written (failover/bindings.ts judge()).
   */
  readonly keepLongerLease?: boolean;
  /** TLS with mutual certificates; absent only with `insecure: true`, never by default (RFC 7653 §9.1). */
  readonly tls?: FailoverTls;
}

// Lab pieces for the CPE tests (issue #8): a downstream interface on a
// requesting router, a WAN-side host routed through the server namespace, the
// server's routes, and a twin6 config with router advertisements and routes.
// All of it lives in t6- namespaces and 2001:db8::/32; the WAN namespace is
// tracked like every other one, so a crash still removes it.

import { resolve } from 'node:path';
import { assertLabAddress } from './addr.js';
import { NETNS_PREFIX } from './cleanup.js';
import { Namespace, type Lan } from './netns.js';
import type { PairLab } from './pair.js';
import type { PairRole } from './pair-topology.js';
import { twin6LabConfig, type ServerContext } from './server.js';

export interface WanHost {
  readonly ns: Namespace;
  /** The host's address, and the server's on the WAN link. */
  readonly address: string;
  readonly serverAddress: string;
  /** ICMPv6 echo from the host (lab/ping6.ts). */
  ping(to: string, count?: number): Promise<{ sent: number; received: number; rttMs: number[] }>;
  removeSync(): void;
}

export const WAN = {
  serverIf: 'wan0',
  hostIf: 'eth0',
  prefix: '2001:db8:ffff::',
  serverAddress: '2001:db8:ffff::1',
  hostAddress: '2001:db8:ffff::2',
  length: 64,
} as const;

/**
 * Namespace t6-<id>-w with eth0 2001:db8:ffff::2/64, linked to wan0
 * (2001:db8:ffff::1/64) in the server namespace, default route through it.
 * The server namespace forwards IPv6 from then on: it is the router between
 * the WAN host and the delegated prefixes behind the LAN's requesting routers.
 */
export async function startWanHost(lan: Lan, dir: string): Promise<WanHost> {
  assertLabAddress(`${WAN.prefix}/${WAN.length}`);
  const ns = await Namespace.create(`${NETNS_PREFIX}${lan.id}-w`, { dir });
  try {
    await lan.server.ip(['link', 'add', WAN.serverIf, 'type', 'veth', 'peer', 'name', WAN.hostIf, 'netns', ns.name]);
    await lan.server.sysctl(`net.ipv6.conf.${WAN.serverIf}.accept_dad`, '0');
    await ns.sysctl(`net.ipv6.conf.${WAN.hostIf}.accept_dad`, '0');
    await lan.server.ip(['addr', 'add', `${WAN.serverAddress}/${WAN.length}`, 'dev', WAN.serverIf, 'nodad']);
    await ns.ip(['addr', 'add', `${WAN.hostAddress}/${WAN.length}`, 'dev', WAN.hostIf, 'nodad']);
    await lan.server.ip(['link', 'set', WAN.serverIf, 'up']);
    await ns.ip(['link', 'set', WAN.hostIf, 'up']);
    await ns.waitInterfaceReady(WAN.hostIf);
    await lan.server.waitInterfaceReady(WAN.serverIf);
    await ns.ip(['-6', 'route', 'add', 'default', 'via', WAN.serverAddress, 'dev', WAN.hostIf]);
    await lan.server.sysctl('net.ipv6.conf.all.forwarding', '1');
  } catch (e) {
    ns.removeSync();
    throw e;
  }
  return {
    ns,
    address: WAN.hostAddress,
    serverAddress: WAN.serverAddress,
    ping: pinger(ns),
    removeSync: () => ns.removeSync(),
  };
}

/** ICMPv6 echo from a namespace (lab/ping6.ts). */
function pinger(ns: Namespace): WanHost['ping'] {
  const entry = resolve('dist/testing/lab/ping6.js');
  return async (to, count = 3) => {
    const r = await ns.exec([process.execPath, entry, '--to', to, '--count', String(count)], { timeoutMs: 30_000 });
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { sent: number; received: number; rttMs: number[] };
  };
}

export interface PairWanHost extends Omit<WanHost, 'serverAddress'> {
  /** Each appliance's address on its WAN link. */
  readonly serverAddress: Readonly<Record<PairRole, string>>;
}

const PAIR_WAN: Record<PairRole, { hostIf: string; net: string }> = {
  primary: { hostIf: 'eth-a', net: '2001:db8:fffa::' },
  secondary: { hostIf: 'eth-b', net: '2001:db8:fffb::' },
};

/**
 * The upstream of a failover pair: namespace t6-<id>-w with one link to each
 * appliance's wan0 (2001:db8:fffa::/64 to the primary, fffb to the secondary)
 * and a route for the delegated pool through each — the primary's preferred
 * (metric 100), the secondary's behind it (200). As an upstream router with
 * link-down detection would, it ignores a route whose link lost its carrier
 * (ignore_routes_with_linkdown): when the primary loses power, traffic for the
 * delegations goes to the secondary, and only its routes can carry it on.
 */
export async function startPairWanHost(lab: PairLab, pdPool: string): Promise<PairWanHost> {
  assertLabAddress(pdPool);
  const ns = await Namespace.create(`${NETNS_PREFIX}${lab.id}-w`, { dir: lab.dir });
  const serverAddress = { primary: `${PAIR_WAN.primary.net}1`, secondary: `${PAIR_WAN.secondary.net}1` };
  try {
    for (const role of ['primary', 'secondary'] as const) {
      const { hostIf, net } = PAIR_WAN[role];
      const appliance = lab.server[role];
      assertLabAddress(`${net}/64`);
      await appliance.ip(['link', 'add', WAN.serverIf, 'type', 'veth', 'peer', 'name', hostIf, 'netns', ns.name]);
      await appliance.sysctl(`net.ipv6.conf.${WAN.serverIf}.accept_dad`, '0');
      // A port that goes dark keeps its address, as a powered-off box's config does.
      await appliance.sysctl(`net.ipv6.conf.${WAN.serverIf}.keep_addr_on_down`, '1');
      await ns.sysctl(`net.ipv6.conf.${hostIf}.accept_dad`, '0');
      await ns.sysctl(`net.ipv6.conf.${hostIf}.ignore_routes_with_linkdown`, '1');
      await appliance.ip(['addr', 'add', `${net}1/64`, 'dev', WAN.serverIf, 'nodad']);
      await ns.ip(['addr', 'add', `${net}2/64`, 'dev', hostIf, 'nodad']);
      await appliance.ip(['link', 'set', WAN.serverIf, 'up']);
      await ns.ip(['link', 'set', hostIf, 'up']);
      await ns.waitInterfaceReady(hostIf);
      await appliance.waitInterfaceReady(WAN.serverIf);
      await appliance.ip(['-6', 'route', 'add', 'default', 'via', `${net}2`, 'dev', WAN.serverIf]);
      await appliance.sysctl('net.ipv6.conf.all.forwarding', '1');
      await ns.ip(['-6', 'route', 'add', pdPool, 'via', `${net}1`, 'dev', hostIf, 'metric', role === 'primary' ? '100' : '200']);
    }
  } catch (e) {
    ns.removeSync();
    throw e;
  }
  return {
    ns,
    address: `${PAIR_WAN.primary.net}2`,
    serverAddress,
    ping: pinger(ns),
    removeSync: () => ns.removeSync(),
  };
}

/** A veth pair down0 ↔ down0p inside a requesting router's namespace: its downstream LAN, for dhcpcd to number. */
export async function addDownstream(ns: Namespace, ifname = 'down0'): Promise<void> {
  const peer = `${ifname}p`;
  await ns.ip(['link', 'add', ifname, 'type', 'veth', 'peer', 'name', peer]);
  await ns.sysctl(`net.ipv6.conf.${ifname}.accept_dad`, '0');
  await ns.ip(['link', 'set', ifname, 'up']);
  await ns.ip(['link', 'set', peer, 'up']);
  await ns.waitInterfaceReady(ifname);
}

/** Global addresses on an interface (e.g. what dhcpcd put on down0 from the delegated prefix). */
export async function globalAddresses(ns: Namespace, ifname: string): Promise<string[]> {
  const r = await ns.ip(['-6', '-j', 'addr', 'show', 'dev', ifname, 'scope', 'global'], { check: false });
  const parsed = JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  return parsed.flatMap((l) => (l.addr_info ?? []).flatMap((a) => (a.local ? [`${a.local}/${a.prefixlen}`] : [])));
}

export interface RouteRow {
  readonly dst: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly metric?: number;
}

/** `ip -6 route show [proto N]` in a namespace, as rows. */
export async function routesIn(ns: Namespace, protocol?: number): Promise<RouteRow[]> {
  const r = await ns.ip(['-6', '-j', 'route', 'show', ...(protocol === undefined ? [] : ['proto', String(protocol)])]);
  return JSON.parse(r.stdout || '[]') as RouteRow[];
}

/** Adds a route with our protocol number directly, as a stale one left by an earlier run would be. */
export async function plantRoute(
  ns: Namespace,
  prefix: string,
  gateway: string,
  dev: string,
  protocol: number,
  metric: number,
): Promise<void> {
  assertLabAddress(prefix);
  await ns.ip(['-6', 'route', 'add', prefix, 'via', gateway, 'dev', dev, 'proto', String(protocol), 'metric', String(metric)]);
}

/**
 * The lab config with router advertisements (short intervals, so tests see
 * them in seconds) and routes for delegated prefixes, plus `patch` merged
 * into the top level and `subnetPatch` into the subnet.
 */
export function twin6CpeConfig(
  patch: Record<string, unknown> = {},
  subnetPatch: Record<string, unknown> = {},
): (ctx: ServerContext) => string {
  return (ctx) => {
    const doc = JSON.parse(twin6LabConfig(ctx)) as Record<string, unknown> & { subnets: Record<string, unknown>[] };
    doc['pdRoutes'] = true;
    doc['options'] = { dnsServers: ctx.topology.dnsServers, domainSearch: ['lab.example'] };
    doc.subnets[0] = { ...doc.subnets[0], routerAdvertisements: { enabled: true, maxIntervalSec: 10 }, ...subnetPatch };
    return `${JSON.stringify({ ...doc, ...patch }, null, 2)}\n`;
  };
}

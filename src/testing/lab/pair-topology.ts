// The network of a failover pair, the one place that builds it: the pair lab
// (pair.ts) runs twin6d and real clients on it, the bench's pair mode
// (src/testing/bench/pair.ts) a twin6 or Kea HA pair and perfdhcp.
//
//   <ns>-a  lan0 2001:db8:1::1/64 ─┐                  ┌─ eth0  <ns>-c1 … cN
//           p0   fd00:ffff::1/64   ├─ br0 (<ns>-sw) ──┤
//   <ns>-b  lan0 2001:db8:1::2/64 ─┘                  └─
//           p0   fd00:ffff::2/64  (veth a.p0 ↔ b.p0: the partner link)
//
// <ns> is t6-<id>: t6-<hex> for the lab, t6-bench-<hex> for the bench. Every
// link keeps its addresses when taken down, as a pulled cable does, so that
// a test can cut and restore it.

import { NETNS_PREFIX } from './cleanup.js';
import { Namespace } from './netns.js';
import { LAB_TOPOLOGY, type LabTopology } from './topology.js';

export type PairRole = 'primary' | 'secondary';
export const PAIR_ROLES: readonly PairRole[] = ['primary', 'secondary'];
export const partnerOf = (role: PairRole): PairRole => (role === 'primary' ? 'secondary' : 'primary');

/** The partner link between the two appliances. */
export const PAIR_LINK = {
  ifname: 'p0',
  primary: 'fd00:ffff::1',
  secondary: 'fd00:ffff::2',
  prefixLength: 64,
} as const;

/** Each appliance's address on the client LAN. */
export const PAIR_LAN_ADDRESS: Readonly<Record<PairRole, string>> = { primary: '2001:db8:1::1', secondary: '2001:db8:1::2' };

/**
 * A twin6 `failover` section for one side on this topology: its role, both
 * ends of the partner link, no TLS (`insecure`, dropped when `extra` brings
 * `tls`), then `extra` (mcltSec, startupSec, …) as the caller wants it.
 */
export function pairFailoverSection(role: PairRole, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const section: Record<string, unknown> = {
    role,
    localAddress: PAIR_LINK[role],
    peerAddress: PAIR_LINK[partnerOf(role)],
    insecure: true,
    ...extra,
  };
  if ('tls' in extra) delete section['insecure'];
  return section;
}

export interface PairTopologyOptions {
  /** Names the namespaces t6-<id>-sw, -a, -b, -c1 … */
  readonly id: string;
  /** Where logs of processes spawned in the namespaces go. */
  readonly dir: string;
  /** Client namespaces plugged into the switch: the lab's DHCP clients, the bench's one perfdhcp. */
  readonly clients: number;
  /** Interface names and the LAN's prefix length (default LAB_TOPOLOGY's: lan0, eth0, /64). */
  readonly topology?: Pick<LabTopology, 'serverIf' | 'clientIf' | 'serverPrefixLength'>;
}

export class PairTopology {
  private constructor(
    readonly id: string,
    /** Holds the bridge br0, the LAN's switch (and the lab's fleet broker). */
    readonly switchNs: Namespace,
    readonly server: Readonly<Record<PairRole, Namespace>>,
    readonly clients: readonly Namespace[],
    private readonly topology: Pick<LabTopology, 'serverIf' | 'clientIf' | 'serverPrefixLength'>,
    /** Each appliance's port on br0. */
    private readonly ports: Readonly<Record<PairRole, string>>,
  ) {}

  /** In the order they were made: switch, primary, secondary, clients. */
  get namespaces(): Namespace[] {
    return [this.switchNs, this.server.primary, this.server.secondary, ...this.clients];
  }

  /**
   * Makes the namespaces and links and resolves once every LAN interface is
   * up with a usable link-local address; on failure removes what it made.
   */
  static async create(opts: PairTopologyOptions): Promise<PairTopology> {
    const topo = opts.topology ?? LAB_TOPOLOGY;
    const created: Namespace[] = [];
    const ns = async (suffix: string): Promise<Namespace> => {
      const n = await Namespace.create(`${NETNS_PREFIX}${opts.id}-${suffix}`, { dir: opts.dir });
      created.push(n);
      return n;
    };
    try {
      const sw = await ns('sw');
      const server: Record<PairRole, Namespace> = { primary: await ns('a'), secondary: await ns('b') };
      await sw.ip(['link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
      await sw.ip(['link', 'set', 'br0', 'up']);
      let port = 0;
      const plug = async (n: Namespace, ifname: string): Promise<string> => {
        const p = `sp${++port}`;
        await sw.ip(['link', 'add', p, 'type', 'veth', 'peer', 'name', ifname, 'netns', n.name]);
        // Ports only switch frames; an IPv6 stack on them would just add noise.
        await sw.sysctl(`net.ipv6.conf.${p}.disable_ipv6`, '1');
        await sw.ip(['link', 'set', p, 'master', 'br0']);
        await sw.ip(['link', 'set', p, 'up']);
        await n.sysctl(`net.ipv6.conf.${ifname}.accept_dad`, '0');
        await n.ip(['link', 'set', ifname, 'up']);
        return p;
      };
      const ports = {} as Record<PairRole, string>;
      for (const role of PAIR_ROLES) {
        ports[role] = await plug(server[role], topo.serverIf);
        await server[role].sysctl(`net.ipv6.conf.${topo.serverIf}.keep_addr_on_down`, '1');
        await server[role].ip(['addr', 'add', `${PAIR_LAN_ADDRESS[role]}/${topo.serverPrefixLength}`, 'dev', topo.serverIf, 'nodad']);
      }
      await server.primary.ip([
        'link',
        'add',
        PAIR_LINK.ifname,
        'type',
        'veth',
        'peer',
        'name',
        PAIR_LINK.ifname,
        'netns',
        server.secondary.name,
      ]);
      for (const role of PAIR_ROLES) {
        const n = server[role];
        await n.sysctl(`net.ipv6.conf.${PAIR_LINK.ifname}.accept_dad`, '0');
        // A cut link keeps its addresses, as a pulled cable does (Linux flushes IPv6 addresses on admin-down otherwise).
        await n.sysctl(`net.ipv6.conf.${PAIR_LINK.ifname}.keep_addr_on_down`, '1');
        await n.ip(['addr', 'add', `${PAIR_LINK[role]}/${PAIR_LINK.prefixLength}`, 'dev', PAIR_LINK.ifname, 'nodad']);
        await n.ip(['link', 'set', PAIR_LINK.ifname, 'up']);
      }
      const clients: Namespace[] = [];
      for (let i = 1; i <= opts.clients; i++) {
        const c = await ns(`c${i}`);
        clients.push(c);
        await plug(c, topo.clientIf);
      }
      for (const role of PAIR_ROLES) await server[role].waitInterfaceReady(topo.serverIf);
      for (const c of clients) await c.waitInterfaceReady(topo.clientIf);
      return new PairTopology(opts.id, sw, server, clients, topo, ports);
    } catch (e) {
      for (const n of created.reverse()) n.removeSync();
      throw e;
    }
  }

  /** Takes the partner link down or up (a partition between the appliances, clients still reach both). */
  async partnerLink(up: boolean): Promise<void> {
    for (const role of PAIR_ROLES) await this.server[role].ip(['link', 'set', PAIR_LINK.ifname, up ? 'up' : 'down']);
  }

  /** Takes one appliance's LAN interface down or up. */
  async lan(role: PairRole, up: boolean): Promise<void> {
    await this.server[role].ip(['link', 'set', this.topology.serverIf, up ? 'up' : 'down']);
  }

  /** Unplugs one appliance's LAN port from the switch (its LAN interface stays up, with carrier) or plugs it back. */
  async isolate(role: PairRole, isolated: boolean): Promise<void> {
    const p = this.ports[role];
    await this.switchNs.ip(isolated ? ['link', 'set', p, 'nomaster'] : ['link', 'set', p, 'master', 'br0']);
  }

  /** Deletes every namespace, clients first (anything still running inside is killed). */
  removeSync(): void {
    for (const n of this.namespaces.reverse()) n.removeSync();
  }
}

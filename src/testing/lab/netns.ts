// Network namespaces and the virtual LAN between them. Nothing here touches the
// host's own interfaces: links are created inside the server namespace and
// their peers are born directly in the client namespaces, so no interface
// ever exists in the host namespace, even briefly, and names cannot collide
// with the host's.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { assertLabAddress } from './addr.js';
import { assertLabNamespace, NETNS_PREFIX, prepareEtcNetns, removeNamespaceSync, trackNamespace } from './cleanup.js';
import { LabProcess, poll, run, type ExecResult, type RunOptions } from './proc.js';
import { LAB_TOPOLOGY, type LabTopology } from './topology.js';

/** Short enough that "t6-<id>-c12" stays readable; random so parallel runs don't collide. */
export function newLabId(): string {
  return randomBytes(3).toString('hex');
}

interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
  scope?: string;
  tentative?: boolean;
  dadfailed?: boolean;
}
interface IpLink {
  ifname?: string;
  flags?: string[];
  operstate?: string;
  addr_info?: IpAddrInfo[];
}

export interface NamespaceOptions {
  /** Where logs of processes spawned in this namespace go. */
  readonly dir: string;
  /** Content bind-mounted over /etc/resolv.conf inside the namespace. */
  readonly resolvConf?: string;
}

export class Namespace {
  private removed = false;

  private constructor(
    readonly name: string,
    readonly dir: string,
  ) {}

  static async create(name: string, opts: NamespaceOptions): Promise<Namespace> {
    assertLabNamespace(name);
    // Never adopt (and later delete) a namespace that is not ours.
    if (existsSync(`/run/netns/${name}`) || existsSync(`/etc/netns/${name}`)) {
      throw new Error(`namespace ${name} already exists; not reusing it`);
    }
    // /etc/netns/<ns>/resolv.conf first: `ip netns exec` bind-mounts it over
    // /etc/resolv.conf, so even a client hook that slipped through would write
    // into this file and not the host's.
    prepareEtcNetns(name, opts.resolvConf ?? `# twin6 lab namespace ${name}\nnameserver ${LAB_TOPOLOGY.dnsServers[0]}\n`);
    trackNamespace(name, opts.dir);
    const ns = new Namespace(name, opts.dir);
    try {
      await run(['ip', 'netns', 'add', name]);
      await ns.ip(['link', 'set', 'lo', 'up']);
      // DAD would hold every new address "tentative" for about a second, and
      // a tentative link-local cannot be bound: DHCPv6 clients and servers
      // fail or back off. Nothing else lives on these links, so skip DAD.
      await ns.sysctl('net.ipv6.conf.all.accept_dad', '0');
      await ns.sysctl('net.ipv6.conf.default.accept_dad', '0');
      // No routers exist here; make sure none is believed if a stray RA appears.
      await ns.sysctl('net.ipv6.conf.default.accept_ra', '0');
    } catch (e) {
      ns.removeSync();
      throw e;
    }
    return ns;
  }

  /** `ip -n <ns> ...` */
  ip(args: readonly string[], opts?: RunOptions): Promise<ExecResult> {
    return run(['ip', '-n', this.name, ...args], opts);
  }

  /** Runs a short command inside the namespace and waits for it. */
  exec(argv: readonly string[], opts?: RunOptions): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.name, ...argv], opts);
  }

  /**
   * Starts a long-running command inside the namespace. `ip netns exec` execs
   * the command in place, so the returned pid is the command's own.
   */
  spawn(label: string, argv: readonly string[], opts: { logFile?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): LabProcess {
    return new LabProcess(label, ['ip', 'netns', 'exec', this.name, ...argv], {
      logFile: opts.logFile ?? join(this.dir, `${label}.log`),
      env: opts.env,
      cwd: opts.cwd,
    });
  }

  /**
   * Writes /proc/sys through a shell inside the namespace (per-netns values);
   * avoids depending on procps' sysctl, which minimal images may lack.
   */
  async sysctl(key: string, value: string): Promise<void> {
    if (!/^[a-z0-9_.-]+$/i.test(key)) throw new Error(`bad sysctl key ${key}`);
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    await this.exec(['sh', '-c', 'printf %s "$2" > "$1"', 'sh', path, value]);
  }

  async pids(): Promise<number[]> {
    const r = await run(['ip', 'netns', 'pids', this.name], { check: false });
    return r.stdout
      .split(/\s+/)
      .filter((p) => /^\d+$/.test(p))
      .map(Number);
  }

  async link(ifname: string): Promise<IpLink | undefined> {
    const r = await this.ip(['-j', 'addr', 'show', 'dev', ifname], { check: false });
    if (r.code !== 0) return undefined;
    const parsed = JSON.parse(r.stdout || '[]') as IpLink[];
    return parsed[0];
  }

  /**
   * Resolves once the interface is up with carrier and owns a usable
   * (non-tentative) link-local address: DHCPv6 runs over link-local on both
   * sides, and binding a tentative address fails with EADDRNOTAVAIL.
   */
  async waitInterfaceReady(ifname: string, timeoutMs = 10_000): Promise<string> {
    let last: IpLink | undefined;
    return poll(
      async () => {
        const l = (last = await this.link(ifname));
        if (!l?.flags?.includes('UP') || !l.flags.includes('LOWER_UP')) return undefined;
        const v6 = (l.addr_info ?? []).filter((a) => a.family === 'inet6');
        if (v6.some((a) => a.tentative || a.dadfailed)) return undefined;
        return v6.find((a) => a.scope === 'link')?.local;
      },
      { timeoutMs, what: `${ifname} ready in ${this.name}`, detail: () => JSON.stringify(last) },
    );
  }

  /** Lists UDP sockets bound to a port inside the namespace (iproute2's ss). */
  async udpListeners(port: number): Promise<string[]> {
    const r = await this.exec(['ss', '-H', '-u', '-l', '-n', `sport = :${port}`], { check: false });
    return r.stdout.split('\n').filter((l) => l.trim() !== '');
  }

  /** Multicast groups joined on an interface (e.g. ff02::1:2 by a DHCPv6 server). */
  async multicastGroups(ifname: string): Promise<string[]> {
    const r = await this.ip(['-6', 'maddr', 'show', 'dev', ifname], { check: false });
    return [...r.stdout.matchAll(/inet6\s+(\S+)/g)].map((m) => m[1] ?? '');
  }

  get isRemoved(): boolean {
    return this.removed;
  }

  /** Kills anything left inside (all of it was started by this lab), deletes the namespace and its /etc/netns entry. */
  removeSync(): void {
    if (this.removed) return;
    this.removed = true;
    removeNamespaceSync(this.name);
  }
}

export interface LanOptions {
  readonly id: string;
  readonly clients: number;
  /** A bridge in the server namespace; required for more than one client. */
  readonly bridge?: boolean;
  readonly dir: string;
  readonly topology?: LabTopology;
}

export class Lan {
  private constructor(
    readonly id: string,
    readonly server: Namespace,
    readonly clients: readonly Namespace[],
    readonly topology: LabTopology,
    readonly bridged: boolean,
  ) {}

  get namespaces(): Namespace[] {
    return [this.server, ...this.clients];
  }

  /**
   * Server namespace `t6-<id>-s` with `lan0` (2001:db8:1::1/64) and client
   * namespaces `t6-<id>-c<n>` with `eth0`. One client: a veth pair. Several
   * (or bridge: true): lan0 is a bridge in the server namespace with one
   * veth port per client, multicast snooping off so that Solicits to
   * ff02::1:2 reach the server without an MLD querier on the link.
   */
  static async create(opts: LanOptions): Promise<Lan> {
    const topo = opts.topology ?? LAB_TOPOLOGY;
    const bridged = opts.bridge ?? opts.clients > 1;
    if (opts.clients < 1) throw new Error('a LAN needs at least one client');
    if (!bridged && opts.clients > 1) throw new Error('several clients need bridge: true');
    assertLabAddress(`${topo.serverAddress}/${topo.serverPrefixLength}`);

    const created: Namespace[] = [];
    try {
      const server = await Namespace.create(`${NETNS_PREFIX}${opts.id}-s`, { dir: opts.dir });
      created.push(server);
      const clients: Namespace[] = [];
      for (let i = 1; i <= opts.clients; i++) {
        const c = await Namespace.create(`${NETNS_PREFIX}${opts.id}-c${i}`, { dir: opts.dir });
        created.push(c);
        clients.push(c);
      }

      const s = topo.serverIf;
      const c = topo.clientIf;
      if (!bridged) {
        const only = clients[0];
        if (!only) throw new Error('unreachable');
        await server.ip(['link', 'add', s, 'type', 'veth', 'peer', 'name', c, 'netns', only.name]);
      } else {
        await server.ip(['link', 'add', s, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
        for (const [i, ns] of clients.entries()) {
          const port = `p${i + 1}`;
          await server.ip(['link', 'add', port, 'type', 'veth', 'peer', 'name', c, 'netns', ns.name]);
          // Ports only switch frames; an IPv6 stack on them would just add noise.
          await server.sysctl(`net.ipv6.conf.${port}.disable_ipv6`, '1');
          await server.ip(['link', 'set', port, 'master', s]);
          await server.ip(['link', 'set', port, 'up']);
        }
      }
      // Per-interface too: the "default" value is copied when a device is
      // registered, and being explicit costs nothing.
      await server.sysctl(`net.ipv6.conf.${s}.accept_dad`, '0');
      await server.ip(['addr', 'add', `${topo.serverAddress}/${topo.serverPrefixLength}`, 'dev', s, 'nodad']);
      await server.ip(['link', 'set', s, 'up']);
      for (const ns of clients) {
        await ns.sysctl(`net.ipv6.conf.${c}.accept_dad`, '0');
        await ns.ip(['link', 'set', c, 'up']);
      }
      await server.waitInterfaceReady(s);
      for (const ns of clients) await ns.waitInterfaceReady(c);
      return new Lan(opts.id, server, clients, topo, bridged);
    } catch (e) {
      for (const ns of created.reverse()) ns.removeSync();
      throw e;
    }
  }

  removeSync(): void {
    for (const ns of [...this.clients].reverse()) ns.removeSync();
    this.server.removeSync();
  }
}

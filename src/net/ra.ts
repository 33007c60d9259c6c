// Router advertisements on the LAN interfaces (RFC 4861 §6.2): one raw ICMPv6
// socket per advertising interface, periodic unsolicited advertisements,
// answers to Router Solicitations, a final advertisement with Router Lifetime 0
// when the interface stops advertising. Hosts start DHCPv6 because of the M
// and O flags (RFC 4861 §4.2) — without an RA, a stock host never asks.
//
// Receiving (RFC 4861 §6.1.1). Checked: ICMP code 0, length ≥ 8, no
// zero-length option, no source link-layer address from ::; the checksum is
// checked by the kernel. NOT checked: IP hop limit 255 — raw-socket reads with
// recvfrom() and cannot deliver the IPV6_HOPLIMIT ancillary data (see
// icmp6-socket.ts). What that leaves open is small: an RS never changes
// what we advertise, an answer always goes to ff02::1 (never to the
// solicitor), and answers are rate limited to one per MIN_DELAY_BETWEEN_RAS,
// so a forged off-link RS can at most bring the next periodic RA forward.
// The kernel's own Neighbor Discovery applies the hop-limit rule before it
// learns anything from the same packet.
//
// Sending (RFC 4861 §4.2, §6.1.2): IP hop limit 255, to ff02::1, from the
// interface's link-local address (the kernel's choice for a link-scope
// destination; an interface without one is skipped and counted).

import { networkInterfaces } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { RouterAdvertisementSettings, Subnet } from '../config/types.js';
import { decodeRouterSolicitation, encodeRouterAdvertisement, ND_ROUTER_SOLICIT } from '../wire/ndp.js';
import { openIcmp6Port, type Icmp6Port, type Icmp6PortOpener } from './icmp6-socket.js';
import { buildAdvertisement } from './ra-message.js';
import { RaSchedule } from './ra-schedule.js';

const ALL_NODES = 'ff02::1';
const ALL_ROUTERS = 'ff02::2';
const ND_HOP_LIMIT = 255;
/** After the socket failed, wait this long before opening it again. */
const REOPEN_DELAY_MS = 5_000;

export interface LinkInfo {
  readonly mac: Uint8Array | undefined;
  /** RFC 4861 §4.2: an RA's source MUST be a link-local address; without one we stay silent. */
  readonly hasLinkLocal: boolean;
}

export interface RouterAdvertiserDeps {
  readonly counters: { add(name: string, by?: number): void };
  readonly log: Logger;
  readonly open?: Icmp6PortOpener;
  /** Monotonic milliseconds. */
  readonly nowMs?: () => number;
  readonly random?: () => number;
  readonly linkInfo?: (ifname: string) => LinkInfo;
}

export interface RouterAdvertiserOptions {
  /** false: advertise with Router Lifetime 0 (a failover partner on standby); default true. */
  readonly defaultRouter?: boolean;
}

export interface RaInterfaceStatus {
  readonly interface: string;
  readonly subnet: string;
  readonly open: boolean;
  readonly sent: number;
  readonly nextInMs: number;
  /** What the advertisements carry now: 0 while not the default router (a failover partner on standby). */
  readonly routerLifetimeSec: number;
  readonly defaultRouter: boolean;
}

export function systemLinkInfo(ifname: string): LinkInfo {
  const addrs = networkInterfaces()[ifname] ?? [];
  const mac = addrs[0]?.mac;
  return {
    mac: mac ? Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16))) : undefined,
    hasLinkLocal: addrs.some((a) => a.family === 'IPv6' && /^fe[89ab]/i.test(a.address)),
  };
}

type AdvertisingSubnet = Subnet & { readonly routerAdvertisements: RouterAdvertisementSettings; readonly interface: string };

const isAdvertising = (s: Subnet): s is AdvertisingSubnet => s.routerAdvertisements !== undefined && s.interface !== undefined;

/** The subnets that advertise, by interface (config allows one subnet per interface). */
const advertising = (subnets: readonly Subnet[]): Map<string, AdvertisingSubnet> =>
  new Map(subnets.filter(isAdvertising).map((s) => [s.interface, s]));

export class RouterAdvertiser {
  private readonly interfaces = new Map<string, RaInterface>();
  private defaultRouter: boolean;

  private constructor(
    private readonly deps: Required<RouterAdvertiserDeps>,
    opts: RouterAdvertiserOptions,
  ) {
    this.defaultRouter = opts.defaultRouter ?? true;
  }

  static async start(
    subnets: readonly Subnet[],
    deps: RouterAdvertiserDeps,
    opts: RouterAdvertiserOptions = {},
  ): Promise<RouterAdvertiser> {
    const full: Required<RouterAdvertiserDeps> = {
      open: openIcmp6Port,
      nowMs: () => performance.now(),
      random: Math.random,
      linkInfo: systemLinkInfo,
      ...deps,
    };
    const ra = new RouterAdvertiser(full, opts);
    await ra.update(subnets);
    return ra;
  }

  /** Starts, changes or stops interfaces to match the config (SIGHUP). */
  async update(subnets: readonly Subnet[]): Promise<void> {
    const wanted = advertising(subnets);
    for (const [ifname, running] of this.interfaces) {
      if (wanted.has(ifname)) continue;
      this.interfaces.delete(ifname);
      await running.stop();
    }
    for (const [ifname, subnet] of wanted) {
      const running = this.interfaces.get(ifname);
      if (running) running.update(subnet);
      else {
        const created = new RaInterface(subnet, this.deps, this.defaultRouter);
        this.interfaces.set(ifname, created);
        await created.start();
      }
    }
  }

  status(): RaInterfaceStatus[] {
    return [...this.interfaces.values()].map((i) => i.status());
  }

  /**
   * Failover: only the serving partner offers itself as default router. A
   * change is advertised at once, as the first advertisements are (§6.2.4), so
   * hosts move to the partner that serves without waiting out a router lifetime.
   */
  setDefaultRouter(on: boolean): void {
    if (on === this.defaultRouter) return;
    this.defaultRouter = on;
    for (const i of this.interfaces.values()) i.setDefaultRouter(on);
  }

  /** Final advertisements on every interface, then the sockets close. */
  async stop(): Promise<void> {
    const all = [...this.interfaces.values()];
    this.interfaces.clear();
    await Promise.all(all.map((i) => i.stop()));
  }
}

class RaInterface {
  private port: Icmp6Port | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly schedule: RaSchedule;
  private solicitedPending = false;
  private sentCount = 0;
  private stopped = false;
  private domainsDroppedLogged = false;

  constructor(
    private subnet: AdvertisingSubnet,
    private readonly deps: Required<RouterAdvertiserDeps>,
    private defaultRouter: boolean,
  ) {
    this.schedule = new RaSchedule(subnet.routerAdvertisements, deps.random, deps.nowMs());
  }

  private get ifname(): string {
    return this.subnet.interface;
  }

  async start(): Promise<void> {
    await this.openPort();
    this.arm();
  }

  private async openPort(): Promise<void> {
    const { counters, log } = this.deps;
    try {
      this.port = await this.deps.open(
        { ifname: this.ifname, acceptTypes: [ND_ROUTER_SOLICIT], groups: [ALL_ROUTERS], hopLimit: ND_HOP_LIMIT },
        (data, source) => this.onSolicitation(data, source),
        (e) => this.onSocketError(e),
      );
    } catch (e) {
      counters.add('ra.open-failed');
      log.error(
        { code: 'RA_SOCKET_OPEN_FAILED', iface: this.ifname, err: (e as Error).message },
        'cannot open the ICMPv6 socket; no router advertisements on this interface',
      );
    }
  }

  private onSocketError(e: Error): void {
    this.port = undefined;
    this.deps.counters.add('ra.socket-error');
    this.deps.log.error({ code: 'RA_SOCKET_FAILED', iface: this.ifname, err: e.message }, 'ICMPv6 socket failed; reopening');
    if (!this.stopped) setTimeout(() => void (this.stopped ? undefined : this.openPort()), REOPEN_DELAY_MS).unref();
  }

  update(subnet: AdvertisingSubnet): void {
    const changed = !isDeepStrictEqual(subnet, this.subnet);
    this.subnet = subnet;
    if (!changed) return;
    this.schedule.changed(this.deps.nowMs(), subnet.routerAdvertisements);
    this.arm();
  }

  setDefaultRouter(on: boolean): void {
    this.defaultRouter = on;
    this.schedule.changed(this.deps.nowMs(), this.subnet.routerAdvertisements);
    this.arm();
  }

  /** Nothing thrown here leaves: a bad packet is counted and dropped. */
  private onSolicitation(data: Buffer, source: string): void {
    const { counters, log } = this.deps;
    const rs = decodeRouterSolicitation(data, source === '::');
    if (!rs.ok) {
      counters.add('ra.drop.total');
      counters.add(`ra.drop.${rs.reason}`);
      log.debug({ iface: this.ifname, from: source, reason: rs.reason, detail: rs.detail }, 'router solicitation dropped');
      return;
    }
    counters.add('ra.rx.rs');
    if (this.stopped) return;
    this.schedule.solicited(this.deps.nowMs());
    this.solicitedPending = true;
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const delay = Math.max(0, this.schedule.nextAtMs - this.deps.nowMs());
    this.timer = setTimeout(() => void this.fire(), delay);
    this.timer.unref?.();
  }

  private async fire(): Promise<void> {
    const kind = this.solicitedPending ? 'solicited' : 'unsolicited';
    this.solicitedPending = false;
    this.schedule.sent(this.deps.nowMs());
    this.arm();
    await this.send(kind, false);
  }

  private async send(kind: 'solicited' | 'unsolicited' | 'final', final: boolean): Promise<void> {
    const { counters, log } = this.deps;
    const link = this.deps.linkInfo(this.ifname);
    if (!link.hasLinkLocal) {
      counters.add('ra.tx.no-link-local');
      return;
    }
    if (!this.port) {
      counters.add('ra.tx.no-socket');
      return;
    }
    const built = buildAdvertisement(this.subnet, this.subnet.routerAdvertisements, link.mac, final || !this.defaultRouter);
    if (built.domainsDropped > 0 && !this.domainsDroppedLogged) {
      this.domainsDroppedLogged = true;
      log.warn(
        { code: 'RA_SEARCH_DOMAINS_DROPPED', iface: this.ifname, dropped: built.domainsDropped },
        'search domains left out of the router advertisement: it would exceed 1280 octets',
      );
    }
    try {
      await this.port.send(encodeRouterAdvertisement(built.ra), ALL_NODES);
      this.sentCount++;
      counters.add(`ra.tx.${kind}`);
    } catch (e) {
      counters.add('ra.tx.failed');
      log.warn({ code: 'RA_SEND_FAILED', iface: this.ifname, err: (e as Error).message }, 'router advertisement not sent');
    }
  }

  status(): RaInterfaceStatus {
    return {
      interface: this.ifname,
      subnet: this.subnet.name,
      open: this.port !== undefined,
      sent: this.sentCount,
      nextInMs: Math.max(0, Math.round(this.schedule.nextAtMs - this.deps.nowMs())),
      routerLifetimeSec: this.defaultRouter ? this.subnet.routerAdvertisements.routerLifetimeSec : 0,
      defaultRouter: this.defaultRouter,
    };
  }

  /** §6.2.5: one final advertisement with Router Lifetime 0, then the socket closes. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.send('final', true);
    this.port?.close();
    this.port = undefined;
  }
}

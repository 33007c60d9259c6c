// The lab around one or two appliance VMs. Everything sits in namespaces the
// lab creates and removes:
//
//   t6-<id>-w  the "wire": bridge br-lan (the appliances' LAN NICs and one veth
//              port per client namespace) and bridge br-ptn (the partner link
//              between the two appliances). QEMU runs here, its NICs are taps
//              of this namespace, so no frame can reach the host's network.
//   t6-<id>-c<n>  a client namespace with eth0 on br-lan (dhclient, dhcpcd,
//              the load client).
//
// No user-mode networking (slirp) is ever used: it would reach outside.
//
// Two appliances are a failover pair (RFC 8156): before its first boot each
// one's flash is provisioned with its own config — examples/primary.json or
// examples/secondary.json on the board's interfaces and the lab's partner
// link — and its TLS identity from a CA made for the lab, at the paths the
// examples name (/etc/twin6/pki/…), as a pair would be set up before it ships.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { interfaceFor } from '../../board/profile.js';
import { Appliance, loadImage, type ApplianceImage, type ProvisionedFile } from './appliance.js';
import { keepDirs, NETNS_PREFIX, sweepStaleLabs, trackDir, untrackDir } from './cleanup.js';
import { createClient, type ClientSpec, type Dhcp6Client } from './clients.js';
import { Namespace, newLabId } from './netns.js';
import { makePartnerPki, type PartnerPki } from './pki.js';
import type { OverlayFs } from '../../board/profile.js';

/** Addressing of the appliance lab: the same LAN as the namespace lab (2001:db8:1::/64). */
export const APPLIANCE_TOPOLOGY = {
  clientIf: 'eth0',
  lan6: ['2001:db8:1::1/64', '2001:db8:1::2/64'],
  partner6: ['fd00:6::1/64', 'fd00:6::2/64'],
} as const;

export interface ApplianceLabOptions {
  /** 1: a standalone appliance; 2: a primary and a secondary on a partner link. */
  readonly appliances: 1 | 2;
  readonly clients?: readonly ClientSpec[];
  /** Extra client namespaces with no DHCP client started (e.g. for the load client). */
  readonly spareNamespaces?: number;
  readonly flashFs?: OverlayFs;
  /** 'disk' (default): UEFI boots each appliance's copy of disk.img; 'kernel': QEMU's -kernel (see Appliance). */
  readonly boot?: 'disk' | 'kernel';
  readonly image?: ApplianceImage;
  readonly keepDir?: boolean;
  /**
   * With two appliances: how their failover configs differ from the examples
   * (lifetimes, timers, log level); false boots both with the image's
   * default (standalone) config instead.
   */
  readonly pair?: PairVmOptions | false;
  /** QEMU's -rtc base= for every appliance ("1970-01-01": boards without a real-time clock). */
  readonly rtcBase?: string;
  /**
   * More files on an appliance's flash before its first boot (its own config,
   * keys), by appliance name; they replace a pair's provisioned files of the same path.
   */
  readonly provision?: (name: string, lanIf: string) => Readonly<Record<string, ProvisionedFile>> | undefined;
}

export interface PairVmOptions {
  /** Replaces lifetimes and pdLifetimes (short ones make clients renew and rebind within seconds). */
  readonly lifetimes?: {
    readonly preferredSec: number;
    readonly validSec: number;
    readonly renewRatio?: number;
    readonly rebindRatio?: number;
  };
  /** Merged into the failover section (mcltSec, keepaliveSec, startupSec, …). */
  readonly failover?: Readonly<Record<string, unknown>>;
  /** twin6d's log level (default info: the log goes to a 115200-baud serial console). */
  readonly logLevel?: string;
  /** Top-level sections added to both configs (e.g. `time`). */
  readonly sections?: Readonly<Record<string, unknown>>;
  /** Top-level sections for one side only (e.g. its `mqtt` section, whose deviceId differs). */
  readonly sectionsFor?: (role: Role) => Readonly<Record<string, unknown>>;
}

type Role = 'primary' | 'secondary';
const PKI_NAMES = ['twin6-a', 'twin6-b'] as const;

interface PartnerTls {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly peerName?: string;
}

/** A twin6 config as far as the pair lab changes it (docs/config.md has the rest). */
export interface PairVmConfig {
  interfaces: string[];
  subnets: { interface?: string; [key: string]: unknown }[];
  failover: { tls: PartnerTls; [key: string]: unknown };
  [key: string]: unknown;
}

/**
 * One side's config: examples/<role>.json with the board's LAN interface, the
 * lab's partner addresses and the partner certificate's name, plus `opts`.
 */
export function pairVmConfig(role: Role, lanIf: string, opts: PairVmOptions = {}): PairVmConfig {
  const i = role === 'primary' ? 0 : 1;
  const c = JSON.parse(readFileSync(resolve('examples', `${role}.json`), 'utf8')) as PairVmConfig;
  c.interfaces = [lanIf];
  for (const sn of c.subnets) if (sn.interface) sn.interface = lanIf;
  if (opts.lifetimes) {
    c['lifetimes'] = { ...opts.lifetimes };
    c['pdLifetimes'] = { ...opts.lifetimes };
  }
  c['log'] = { level: opts.logLevel ?? 'info' };
  Object.assign(c, opts.sections, opts.sectionsFor?.(role));
  c.failover = {
    ...c.failover,
    localAddress: APPLIANCE_TOPOLOGY.partner6[i]!.split('/')[0],
    peerAddress: APPLIANCE_TOPOLOGY.partner6[1 - i]!.split('/')[0],
    tls: { ...c.failover.tls, peerName: PKI_NAMES[1 - i] },
    ...opts.failover,
  };
  return c;
}

/**
 * The files a pair member's flash gets: its config, the CA, its certificate
 * and key, and `extra` (files the config names that the test provisions).
 */
function pairProvision(
  role: Role,
  config: PairVmConfig,
  pki: PartnerPki,
  checkDir: string,
  extra: Readonly<Record<string, ProvisionedFile>> = {},
): Record<string, ProvisionedFile> {
  const tls = config.failover.tls;
  const id = pki.identity(PKI_NAMES[role === 'primary' ? 0 : 1]);
  // Checked on the host first, with the TLS paths pointing at the lab's files
  // and the extra files' paths at copies of them: a bad config would otherwise
  // show only as a restart loop on the console.
  const hostCopy = join(checkDir, `${role}.json`);
  let text = JSON.stringify({
    ...config,
    failover: { ...config.failover, tls: { ...tls, caFile: pki.ca, certFile: id.cert, keyFile: id.key } },
  });
  for (const [path, file] of Object.entries(extra)) {
    const host = join(checkDir, `${role}-${path.replace(/\//g, '_')}`);
    writeFileSync(host, file.content, { mode: file.mode ?? 0o644 });
    text = text.replaceAll(JSON.stringify(path), JSON.stringify(host));
  }
  writeFileSync(hostCopy, text);
  try {
    execFileSync(process.execPath, [resolve('dist/cli/twin6d.js'), '--check-config', hostCopy], { stdio: 'pipe', timeout: 60_000 });
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`the ${role}'s config does not check: ${String(out.stdout ?? '')}${String(out.stderr ?? '')}`, { cause: e });
  }
  return {
    '/etc/twin6/twin6.json': { content: JSON.stringify(config, null, 2) + '\n' },
    [tls.caFile]: { content: readFileSync(pki.ca) },
    [tls.certFile]: { content: readFileSync(id.cert) },
    [tls.keyFile]: { content: readFileSync(id.key), mode: 0o600 },
  };
}

export class ApplianceLab {
  private stopped = false;

  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly wire: Namespace,
    readonly clientNamespaces: readonly Namespace[],
    readonly appliances: readonly Appliance[],
    readonly clients: readonly Dhcp6Client[],
    private readonly keep: boolean,
  ) {}

  static async create(opts: ApplianceLabOptions): Promise<ApplianceLab> {
    sweepStaleLabs();
    const image = opts.image ?? loadImage();
    const id = newLabId();
    const dir = mkdtempSync(join(tmpdir(), `t6-lab-${id}-`));
    trackDir(dir);
    const made: Namespace[] = [];
    try {
      const wire = await Namespace.create(`${NETNS_PREFIX}${id}-w`, { dir });
      made.push(wire);
      for (const br of ['br-lan', 'br-ptn']) {
        // No snooping: DHCPv6 Solicits to ff02::1:2 must flood before any MLD state exists.
        await wire.ip(['link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
        await wire.sysctl(`net.ipv6.conf.${br}.disable_ipv6`, '1');
        await wire.ip(['link', 'set', br, 'up']);
      }
      const port = async (ifname: string, bridge: string) => {
        await wire.sysctl(`net.ipv6.conf.${ifname}.disable_ipv6`, '1');
        await wire.ip(['link', 'set', ifname, 'master', bridge]);
        await wire.ip(['link', 'set', ifname, 'up']);
      };

      const pairOpts = opts.appliances === 2 && opts.pair !== false ? (opts.pair ?? {}) : undefined;
      const pki = pairOpts ? await makePartnerPki(join(dir, 'pair-pki'), PKI_NAMES) : undefined;
      const lanIf = interfaceFor(image.board, 'lan');
      if (pairOpts && !lanIf) throw new Error(`board ${image.board.id} has no LAN interface`);
      const flashFs = opts.flashFs ?? image.board.storage[0]!.overlayFs;
      if (pairOpts && flashFs !== 'ext4')
        throw new Error(`a failover pair's flash is provisioned with mke2fs: it needs ext4, not ${flashFs} (or pair: false)`);

      const appliances: Appliance[] = [];
      for (let i = 0; i < opts.appliances; i++) {
        const name = String.fromCharCode(97 + i); // a, b
        const taps = { lan: `${name}-lan`, partner: `${name}-ptn` };
        for (const [tap, br] of [
          [taps.lan, 'br-lan'],
          [taps.partner, 'br-ptn'],
        ] as const) {
          // Persistent taps: they outlive a SIGKILLed QEMU, and the next boot attaches again.
          await wire.ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
          await port(tap, br);
        }
        const pair = opts.appliances === 2;
        const role: Role = i === 0 ? 'primary' : 'secondary';
        const extra = lanIf ? opts.provision?.(name, lanIf) : undefined;
        const pairFiles =
          pairOpts && pki ? pairProvision(role, pairVmConfig(role, lanIf!, pairOpts), pki, join(dir, 'pair-pki'), extra) : undefined;
        const provision = pairFiles || extra ? { ...pairFiles, ...extra } : undefined;
        appliances.push(
          new Appliance(
            image,
            wire,
            {
              name,
              index: i + 1,
              role: pair ? role : 'standalone',
              lan6: APPLIANCE_TOPOLOGY.lan6[i]!,
              ...(pair ? { partner6: APPLIANCE_TOPOLOGY.partner6[i]!, peer6: APPLIANCE_TOPOLOGY.partner6[1 - i]!.split('/')[0]! } : {}),
              diskFile: join(dir, `${name}-${opts.boot === 'kernel' ? 'flash' : 'disk'}.img`),
              ...(opts.boot ? { boot: opts.boot } : {}),
              ...(opts.flashFs ? { flashFs: opts.flashFs } : {}),
              ...(provision ? { provision } : {}),
              ...(opts.rtcBase ? { rtcBase: opts.rtcBase } : {}),
              taps,
            },
            dir,
          ),
        );
      }

      const specs = opts.clients ?? [];
      const nsCount = specs.length + (opts.spareNamespaces ?? 0);
      const clientNamespaces: Namespace[] = [];
      for (let n = 1; n <= nsCount; n++) {
        const ns = await Namespace.create(`${NETNS_PREFIX}${id}-c${n}`, { dir });
        made.push(ns);
        clientNamespaces.push(ns);
        await wire.ip(['link', 'add', `c${n}`, 'type', 'veth', 'peer', 'name', APPLIANCE_TOPOLOGY.clientIf, 'netns', ns.name]);
        await port(`c${n}`, 'br-lan');
        await ns.sysctl(`net.ipv6.conf.${APPLIANCE_TOPOLOGY.clientIf}.accept_dad`, '0');
        await ns.ip(['link', 'set', APPLIANCE_TOPOLOGY.clientIf, 'up']);
        await ns.waitInterfaceReady(APPLIANCE_TOPOLOGY.clientIf);
      }
      const clients = specs.map((s, i) => {
        const name = s.name ?? `${s.kind}-${i + 1}`;
        const cdir = join(dir, name);
        mkdirSync(cdir, { recursive: true });
        return createClient(s, name, clientNamespaces[i]!, APPLIANCE_TOPOLOGY.clientIf, cdir);
      });
      return new ApplianceLab(id, dir, wire, clientNamespaces, appliances, clients, opts.keepDir ?? keepDirs());
    } catch (e) {
      for (const ns of made.reverse()) ns.removeSync();
      untrackDir(dir);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  appliance(name: string): Appliance {
    const a = this.appliances.find((x) => x.spec.name === name);
    if (!a) throw new Error(`no appliance ${name}`);
    return a;
  }

  diagnostics(): string {
    return [
      `appliance lab ${this.id} in ${this.dir}`,
      ...this.appliances.map((a) => a.diagnostics()),
      ...this.clients.map((c) => c.diagnostics()),
    ].join('\n');
  }

  /** Clients, then VMs (SIGKILL: their flash files go with the lab), then namespaces and files. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.allSettled(this.clients.map((c) => c.stop()));
    await Promise.allSettled(this.appliances.map((a) => a.powerCut()));
    for (const ns of [...this.clientNamespaces].reverse()) ns.removeSync();
    this.wire.removeSync();
    untrackDir(this.dir);
    if (!this.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

// The two-appliance lab: a primary and a secondary twin6d on one client LAN,
// talking over their own partner link, as on a real pair of routers.
//
//   t6-<id>-a  lan0 2001:db8:1::1/64 ─┐                ┌─ eth0  t6-<id>-c1 … cN
//              p0   fd00:ffff::1/64   ├─ br0 (t6-<id>-sw) ┤
//   t6-<id>-b  lan0 2001:db8:1::2/64 ─┘                └─
//              p0   fd00:ffff::2/64  (veth a.p0 ↔ b.p0)
//
// Cutting the partner link (p0 down) makes a partition; cutting a server's
// lan0 makes the partial communication loss of RFC 7031 §4.7.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { keepDirs, sweepStaleLabs, trackDir, untrackDir } from './cleanup.js';
import { createClient, type ClientSpec, type Dhcp6Client } from './clients.js';
import { Namespace, newLabId } from './netns.js';
import { tail, type ExecResult } from './proc.js';
import { LAB_OPERATOR, LabBroker, makeFleetPki, randomHighPort, type FleetPki } from './mqtt.js';
import { startServer, twin6LabConfig, twin6Server, type RunningServer, type ServerContext } from './server.js';
import { LAB_TOPOLOGY, type LabTopology } from './topology.js';
import { NETNS_PREFIX } from './cleanup.js';

export type PairRole = 'primary' | 'secondary';

export const PAIR_LINK = {
  ifname: 'p0',
  primary: 'fd00:ffff::1',
  secondary: 'fd00:ffff::2',
  prefixLength: 64,
} as const;

const LAN_ADDRESS: Record<PairRole, string> = { primary: '2001:db8:1::1', secondary: '2001:db8:1::2' };

export interface PairOptions {
  readonly clients: readonly ClientSpec[];
  /** Each side's config before its failover section is added (default: the single-server lab config). */
  readonly config?: (ctx: ServerContext) => string;
  /** Extra keys merged into each side's failover section (mcltSec, keepaliveSec, tls, …). */
  readonly failover?: Partial<Record<PairRole, Record<string, unknown>>> & { both?: Record<string, unknown> };
  /** Whether the clients start right away. */
  readonly startClients?: boolean;
  /**
   * Which twin6d sides start right away (default both). A side left out can be
   * started later with `start`, or its namespace used for another partner
   * (the RFC 8156 test peer, src/testing/lab/rfc8156-peer.ts).
   */
  readonly servers?: readonly PairRole[];
  readonly topology?: LabTopology;
  /** twin6d's log level (the lab's default is debug: every packet). */
  readonly logLevel?: string;
  /**
   * A fleet broker (mosquitto, mutual TLS, per-device certificates, ACL) in the
   * switch namespace on the LAN (2001:db8:1::fe), with both appliances reporting
   * to it as devices lab-a (primary) and lab-b (secondary).
   */
  readonly mqtt?: boolean;
}

export const PAIR_DEVICES: Readonly<Record<PairRole, string>> = { primary: 'lab-a', secondary: 'lab-b' };
const BROKER_ADDRESS = '2001:db8:1::fe';
const FLEET_PREFIX = 'fleet/v1';

export interface PairLab {
  readonly id: string;
  readonly dir: string;
  readonly topology: LabTopology;
  readonly namespaces: readonly Namespace[];
  readonly server: Readonly<Record<PairRole, Namespace>>;
  readonly clientNamespaces: readonly Namespace[];
  readonly clients: readonly Dhcp6Client[];
  running(role: PairRole): RunningServer | undefined;
  stateDir(role: PairRole): string;
  start(role: PairRole): Promise<RunningServer>;
  /** SIGKILL: a crash (or a power cut, as far as the process is concerned); SIGTERM: a clean stop. */
  stop(role: PairRole, signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Takes the partner link down or up (a partition between the appliances, clients still reach both). */
  partnerLink(up: boolean): Promise<void>;
  /** Takes one appliance's LAN interface down or up. */
  lan(role: PairRole, up: boolean): Promise<void>;
  /** Unplugs one appliance's LAN port from the switch (its lan0 stays up, with carrier) or plugs it back. */
  isolate(role: PairRole, isolated: boolean): Promise<void>;
  /** With mqtt: `twin6ctl fleet …` as the lab operator, run in the broker's namespace. */
  fleet?(args: readonly string[]): Promise<ExecResult>;
  diagnostics(): string;
  close(): Promise<void>;
}

/** A twin6 config for one side: the single-server lab config plus the failover section. */
function pairConfig(role: PairRole, extra: Record<string, unknown>, logLevel: string | undefined, mqtt?: (role: PairRole) => Record<string, unknown>, config = twin6LabConfig) {
  return (ctx: ServerContext): string => {
    const base = JSON.parse(config(ctx)) as Record<string, unknown>;
    const failover = {
      role,
      localAddress: PAIR_LINK[role],
      peerAddress: PAIR_LINK[role === 'primary' ? 'secondary' : 'primary'],
      insecure: true,
      mcltSec: 60,
      keepaliveSec: 4,
      startupSec: 2,
      ...extra,
    };
    if ('tls' in extra) delete (failover as Record<string, unknown>)['insecure'];
    const log = logLevel ? { log: { level: logLevel } } : {};
    return JSON.stringify({ ...base, ...log, failover, ...(mqtt ? { mqtt: mqtt(role) } : {}) }, null, 2) + '\n';
  };
}

export async function startPairLab(opts: PairOptions): Promise<PairLab> {
  sweepStaleLabs();
  const topology = opts.topology ?? LAB_TOPOLOGY;
  const id = newLabId();
  const dir = mkdtempSync(join(tmpdir(), `t6-pair-${id}-`));
  trackDir(dir);
  const namespaces: Namespace[] = [];
  const running: Partial<Record<PairRole, RunningServer>> = {};
  const clients: Dhcp6Client[] = [];
  const ns = async (suffix: string) => {
    const n = await Namespace.create(`${NETNS_PREFIX}${id}-${suffix}`, { dir });
    namespaces.push(n);
    return n;
  };
  let broker: LabBroker | undefined;
  let pki: FleetPki | undefined;
  const close = async () => {
    await Promise.allSettled(clients.map((c) => c.stop()));
    await Promise.allSettled(Object.values(running).map((s) => s?.stop()));
    await broker?.stop();
    for (const n of [...namespaces].reverse()) n.removeSync();
    untrackDir(dir);
    if (!keepDirs()) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sw = await ns('sw');
    const a = await ns('a');
    const b = await ns('b');
    const server: Record<PairRole, Namespace> = { primary: a, secondary: b };
    await sw.ip(['link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
    await sw.ip(['link', 'set', 'br0', 'up']);
    let port = 0;
    const portOf = new Map<Namespace, string>();
    const plug = async (n: Namespace, ifname: string) => {
      const p = `sp${++port}`;
      portOf.set(n, p);
      await sw.ip(['link', 'add', p, 'type', 'veth', 'peer', 'name', ifname, 'netns', n.name]);
      await sw.sysctl(`net.ipv6.conf.${p}.disable_ipv6`, '1');
      await sw.ip(['link', 'set', p, 'master', 'br0']);
      await sw.ip(['link', 'set', p, 'up']);
      await n.sysctl(`net.ipv6.conf.${ifname}.accept_dad`, '0');
      await n.ip(['link', 'set', ifname, 'up']);
    };
    for (const role of ['primary', 'secondary'] as const) {
      await plug(server[role], topology.serverIf);
      await server[role].sysctl(`net.ipv6.conf.${topology.serverIf}.keep_addr_on_down`, '1');
      await server[role].ip(['addr', 'add', `${LAN_ADDRESS[role]}/${topology.serverPrefixLength}`, 'dev', topology.serverIf, 'nodad']);
    }
    await a.ip(['link', 'add', PAIR_LINK.ifname, 'type', 'veth', 'peer', 'name', PAIR_LINK.ifname, 'netns', b.name]);
    for (const role of ['primary', 'secondary'] as const) {
      const n = server[role];
      await n.sysctl(`net.ipv6.conf.${PAIR_LINK.ifname}.accept_dad`, '0');
      // A cut link keeps its addresses, as a pulled cable does (Linux flushes IPv6 addresses on admin-down otherwise).
      await n.sysctl(`net.ipv6.conf.${PAIR_LINK.ifname}.keep_addr_on_down`, '1');
      await n.ip(['addr', 'add', `${PAIR_LINK[role]}/${PAIR_LINK.prefixLength}`, 'dev', PAIR_LINK.ifname, 'nodad']);
      await n.ip(['link', 'set', PAIR_LINK.ifname, 'up']);
    }
    const clientNamespaces: Namespace[] = [];
    for (const [i, spec] of opts.clients.entries()) {
      const c = await ns(`c${i + 1}`);
      clientNamespaces.push(c);
      await plug(c, topology.clientIf);
      clients.push(createClient(spec, spec.name ?? `${spec.kind}${i + 1}`, c, topology.clientIf, join(dir, `client${i + 1}`)));
    }
    for (const n of [a, b, ...clientNamespaces]) await n.waitInterfaceReady(n === a || n === b ? topology.serverIf : topology.clientIf);

    const brokerPort = randomHighPort();
    if (opts.mqtt) {
      await sw.sysctl('net.ipv6.conf.br0.disable_ipv6', '0');
      await sw.sysctl('net.ipv6.conf.br0.accept_dad', '0');
      await sw.ip(['addr', 'add', `${BROKER_ADDRESS}/64`, 'dev', 'br0', 'nodad']);
      pki = await makeFleetPki(join(dir, 'fleet-pki'), { clients: [...Object.values(PAIR_DEVICES), LAB_OPERATOR], serverIps: ['::1', BROKER_ADDRESS] });
      broker = new LabBroker(sw, { dir: join(dir, 'broker'), pki, listen: ['::1', BROKER_ADDRESS], port: brokerPort, prefix: FLEET_PREFIX, operators: [LAB_OPERATOR] });
      await broker.start();
    }
    const mqttFor = pki
      ? (role: PairRole) => {
          const id = pki!.identity(PAIR_DEVICES[role]);
          return {
            url: `mqtts://[${BROKER_ADDRESS}]:${brokerPort}`,
            deviceId: PAIR_DEVICES[role],
            topicPrefix: FLEET_PREFIX,
            tls: { caFile: pki!.ca, certFile: id.cert, keyFile: id.key },
            commandKeys: [pki!.commandKey],
          };
        }
      : undefined;

    const ctx = (role: PairRole): ServerContext => ({ ns: server[role], dir: join(dir, role), topology });
    const spec = (role: PairRole) =>
      twin6Server({ config: pairConfig(role, { ...opts.failover?.both, ...opts.failover?.[role] }, opts.logLevel, mqttFor, opts.config), entry: resolve('dist/cli/twin6d.js') });
    const lab: PairLab = {
      id,
      dir,
      topology,
      namespaces,
      server,
      clientNamespaces,
      clients,
      running: (role) => running[role],
      stateDir: (role) => join(dir, role, 'state'),
      async start(role) {
        const s = await startServer(spec(role), ctx(role));
        running[role] = s;
        return s;
      },
      async stop(role, signal = 'SIGTERM') {
        const s = running[role];
        if (s) await s.process.stop(signal);
      },
      async partnerLink(up) {
        await a.ip(['link', 'set', PAIR_LINK.ifname, up ? 'up' : 'down']);
        await b.ip(['link', 'set', PAIR_LINK.ifname, up ? 'up' : 'down']);
      },
      async lan(role, up) {
        await server[role].ip(['link', 'set', topology.serverIf, up ? 'up' : 'down']);
      },
      async isolate(role, isolated) {
        const p = portOf.get(server[role])!;
        await sw.ip(isolated ? ['link', 'set', p, 'nomaster'] : ['link', 'set', p, 'master', 'br0']);
      },
      ...(pki
        ? {
            fleet(args: readonly string[]) {
              const op = pki!.identity(LAB_OPERATOR);
              const conn = ['--broker', `mqtts://[::1]:${brokerPort}`, '--ca', pki!.ca, '--cert', op.cert, '--key', op.key, '--prefix', FLEET_PREFIX];
              return sw.exec([process.execPath, resolve('dist/cli/twin6ctl.js'), 'fleet', ...conn, ...args], { check: false, timeoutMs: 60_000 });
            },
          }
        : {}),
      diagnostics() {
        const parts = [`pair lab ${id} in ${dir}`];
        for (const role of ['primary', 'secondary'] as const) {
          const s = running[role];
          if (s) parts.push(`--- ${role} log (tail):\n${tail(s.log(), 40)}`);
        }
        for (const c of clients) parts.push(c.diagnostics());
        return parts.join('\n');
      },
      close,
    };
    for (const role of opts.servers ?? (['primary', 'secondary'] as const)) await lab.start(role);
    if (opts.startClients ?? true) for (const c of clients) await c.start();
    return lab;
  } catch (e) {
    await close();
    throw e;
  }
}

/** Runs body on a new pair lab: a failure carries the lab's diagnostics; the lab is closed either way. */
export async function withPairLab<R>(opts: PairOptions, body: (lab: PairLab) => Promise<R>): Promise<R> {
  const lab = await startPairLab(opts);
  try {
    return await body(lab);
  } catch (e) {
    if (e instanceof Error) e.message += `\n${lab.diagnostics()}`;
    throw e;
  } finally {
    await lab.close();
  }
}

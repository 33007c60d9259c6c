// The two-appliance lab: a primary and a secondary twin6d on one client LAN,
// talking over their own partner link, as on a real pair of routers. The
// network is pair-topology.ts's (the bench's pair mode uses the same):
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
import { newLabId, type Namespace } from './netns.js';
import { tail, type ExecResult } from './proc.js';
import { LAB_OPERATOR, LabBroker, makeFleetPki, randomHighPort, type FleetPki } from './mqtt.js';
import { pairFailoverSection, PAIR_ROLES, PairTopology, type PairRole } from './pair-topology.js';
import { startServer, twin6LabConfig, twin6Server, type RunningServer, type ServerContext } from './server.js';
import { LAB_TOPOLOGY, type LabTopology } from './topology.js';

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
function pairConfig(
  role: PairRole,
  extra: Record<string, unknown>,
  logLevel: string | undefined,
  mqtt?: (role: PairRole) => Record<string, unknown>,
  config = twin6LabConfig,
) {
  return (ctx: ServerContext): string => {
    const base = JSON.parse(config(ctx)) as Record<string, unknown>;
    const failover = pairFailoverSection(role, { mcltSec: 60, keepaliveSec: 4, startupSec: 2, ...extra });
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
  let net: PairTopology | undefined;
  const running: Partial<Record<PairRole, RunningServer>> = {};
  const clients: Dhcp6Client[] = [];
  let broker: LabBroker | undefined;
  let pki: FleetPki | undefined;
  const close = async () => {
    await Promise.allSettled(clients.map((c) => c.stop()));
    await Promise.allSettled(Object.values(running).map((s) => s?.stop()));
    await broker?.stop();
    net?.removeSync();
    untrackDir(dir);
    if (!keepDirs()) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pairNet = (net = await PairTopology.create({ id, dir, clients: opts.clients.length, topology }));
    const { switchNs: sw, server, clients: clientNamespaces } = pairNet;
    for (const [i, spec] of opts.clients.entries()) {
      clients.push(
        createClient(spec, spec.name ?? `${spec.kind}${i + 1}`, clientNamespaces[i]!, topology.clientIf, join(dir, `client${i + 1}`)),
      );
    }

    const brokerPort = randomHighPort();
    if (opts.mqtt) {
      await sw.sysctl('net.ipv6.conf.br0.disable_ipv6', '0');
      await sw.sysctl('net.ipv6.conf.br0.accept_dad', '0');
      await sw.ip(['addr', 'add', `${BROKER_ADDRESS}/64`, 'dev', 'br0', 'nodad']);
      pki = await makeFleetPki(join(dir, 'fleet-pki'), {
        clients: [...Object.values(PAIR_DEVICES), LAB_OPERATOR],
        serverIps: ['::1', BROKER_ADDRESS],
      });
      broker = new LabBroker(sw, {
        dir: join(dir, 'broker'),
        pki,
        listen: ['::1', BROKER_ADDRESS],
        port: brokerPort,
        prefix: FLEET_PREFIX,
        operators: [LAB_OPERATOR],
      });
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
      twin6Server({
        config: pairConfig(role, { ...opts.failover?.both, ...opts.failover?.[role] }, opts.logLevel, mqttFor, opts.config),
        entry: resolve('dist/cli/twin6d.js'),
      });
    const lab: PairLab = {
      id,
      dir,
      topology,
      namespaces: pairNet.namespaces,
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
      partnerLink: (up) => pairNet.partnerLink(up),
      lan: (role, up) => pairNet.lan(role, up),
      isolate: (role, isolated) => pairNet.isolate(role, isolated),
      ...(pki
        ? {
            fleet(args: readonly string[]) {
              const op = pki!.identity(LAB_OPERATOR);
              const conn = [
                '--broker',
                `mqtts://[::1]:${brokerPort}`,
                '--ca',
                pki!.ca,
                '--cert',
                op.cert,
                '--key',
                op.key,
                '--prefix',
                FLEET_PREFIX,
              ];
              return sw.exec([process.execPath, resolve('dist/cli/twin6ctl.js'), 'fleet', ...conn, ...args], {
                check: false,
                timeoutMs: 60_000,
              });
            },
          }
        : {}),
      diagnostics() {
        const parts = [`pair lab ${id} in ${dir}`];
        for (const role of PAIR_ROLES) {
          const s = running[role];
          if (s) parts.push(`--- ${role} log (tail):\n${tail(s.log(), 40)}`);
        }
        for (const c of clients) parts.push(c.diagnostics());
        return parts.join('\n');
      },
      close,
    };
    for (const role of opts.servers ?? PAIR_ROLES) await lab.start(role);
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

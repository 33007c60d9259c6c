// A fleet broker for the lab and the integration tests: a throwaway CA with
// one certificate per device and operator (pki.ts, the openssl CLI), a
// command-signing key pair, and mosquitto with mutual TLS, identity =
// certificate CN and a %u ACL, running inside the lab's server namespace so
// nothing leaves it.

import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Namespace } from './netns.js';
import { issueCert, makeCa, type Identity } from './pki.js';
import { poll, tail, type ExecResult, type LabProcess } from './proc.js';
import { twin6LabConfig, twin6Server, type ServerContext, type ServerSpec } from './server.js';

export type { Identity } from './pki.js';

export interface FleetPki {
  readonly dir: string;
  readonly ca: string;
  readonly server: Identity;
  /** Per certificate CN: devices and operators alike. */
  identity(cn: string): Identity;
  /** Ed25519 private key (PKCS#8 PEM file) the operators sign dangerous commands with. */
  readonly signingKey: string;
  /** Its public key as config's mqtt.commandKeys wants it: base64 of the raw 32 bytes. */
  readonly commandKey: string;
}

/** A CA, a server certificate for the given addresses and names, and one client certificate per CN. */
export async function makeFleetPki(
  dir: string,
  opts: { clients: readonly string[]; serverIps: readonly string[]; serverNames?: readonly string[] },
): Promise<FleetPki> {
  const ca = await makeCa(dir, 'twin6 lab fleet CA');
  const san = [...opts.serverIps.map((a) => `IP:${a}`), ...(opts.serverNames ?? []).map((n) => `DNS:${n}`)].join(',');
  const server = await issueCert(dir, ca, 'broker', `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  const ids = new Map<string, Identity>();
  for (const cn of opts.clients)
    ids.set(cn, await issueCert(dir, ca, cn, `subjectAltName=URI:urn:dev:${cn}\nextendedKeyUsage=clientAuth\n`));
  const pair = generateKeyPairSync('ed25519');
  const signingKey = join(dir, 'command-signing.key');
  writeFileSync(signingKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const jwk = pair.publicKey.export({ format: 'jwk' });
  const commandKey = Buffer.from(jwk.x ?? '', 'base64url').toString('base64');
  return {
    dir,
    ca: ca.cert,
    server,
    identity(cn) {
      const id = ids.get(cn);
      if (!id) throw new Error(`no certificate for ${cn} (have ${[...ids.keys()].join(', ')})`);
      return id;
    },
    signingKey,
    commandKey,
  };
}

/**
 * The ACL of docs/fleet.md §1 with one listener for everyone: devices and
 * operators both prove who they are with a certificate, so no password file.
 */
export function fleetAcl(prefix: string, operators: readonly string[]): string {
  const lines = [
    `pattern write ${prefix}/%u/state`,
    `pattern write ${prefix}/%u/meta`,
    `pattern write ${prefix}/%u/evt/#`,
    `pattern write ${prefix}/%u/tele/#`,
    `pattern write ${prefix}/%u/rsp/#`,
    `pattern read ${prefix}/%u/cmd/#`,
    `pattern read ${prefix}/%u/config/desired`,
    `pattern write ${prefix}/%u/config/reported`,
  ];
  for (const op of operators)
    lines.push('', `user ${op}`, `topic read ${prefix}/#`, `topic write ${prefix}/+/cmd/#`, `topic write ${prefix}/+/config/desired`);
  return lines.join('\n') + '\n';
}

export interface BrokerOptions {
  readonly dir: string;
  readonly pki: FleetPki;
  /** Addresses inside the namespace, e.g. ::1 and the LAN address. */
  readonly listen: readonly string[];
  readonly port: number;
  readonly prefix: string;
  readonly operators: readonly string[];
}

/** A TCP port nothing in a fresh namespace uses; random so a rerun never meets a TIME_WAIT. */
export function randomHighPort(): number {
  return 20_000 + Math.floor(Math.random() * 40_000);
}

export class LabBroker {
  private proc: LabProcess | undefined;

  constructor(
    readonly ns: Namespace,
    readonly opts: BrokerOptions,
  ) {}

  get conf(): string {
    return join(this.opts.dir, 'mosquitto.conf');
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /** mqtts URL of the first listen address. */
  get url(): string {
    const a = this.opts.listen[0] ?? '::1';
    return `mqtts://${a.includes(':') ? `[${a}]` : a}:${this.opts.port}`;
  }

  private writeConfig(): void {
    const { dir, pki, port } = this.opts;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'acl'), fleetAcl(this.opts.prefix, this.opts.operators));
    const lines = [
      // Root keeps root: the key files sit in a 0700 lab directory.
      'user root',
      'per_listener_settings false',
      'allow_anonymous false',
      // No persistence: a restart loses retained messages, so a test sees the device republish them.
      'persistence false',
      `acl_file ${join(dir, 'acl')}`,
      'log_dest stdout',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages true',
      'log_timestamp_format %Y-%m-%dT%H:%M:%S',
    ];
    for (const addr of this.opts.listen) {
      lines.push(
        `listener ${port} ${addr}`,
        `cafile ${pki.ca}`,
        `certfile ${pki.server.cert}`,
        `keyfile ${pki.server.key}`,
        'tls_version tlsv1.2',
        'require_certificate true',
        'use_identity_as_username true',
      );
    }
    writeFileSync(this.conf, lines.join('\n') + '\n');
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (!existsSync(this.conf)) this.writeConfig();
    const proc = this.ns.spawn('mosquitto', ['mosquitto', '-c', this.conf], { logFile: join(this.opts.dir, 'mosquitto.log') });
    this.proc = proc;
    await poll(
      async () => {
        const r = await this.ns.exec(['ss', '-H', '-t', '-l', '-n', `sport = :${this.opts.port}`], { check: false });
        return r.stdout.split('\n').filter((l) => l.trim()).length >= this.opts.listen.length ? true : undefined;
      },
      {
        timeoutMs: 10_000,
        what: `mosquitto listening on port ${this.opts.port} in ${this.ns.name}`,
        abortIf: () => (proc.exitStatus ? `mosquitto exited (${proc.exitStatus.code ?? proc.exitStatus.signal})` : undefined),
        detail: () => tail(proc.log()),
      },
    );
  }

  async stop(): Promise<void> {
    await this.proc?.stop('SIGTERM', 3_000);
  }

  log(): string {
    return this.proc?.log() ?? '';
  }
}

export interface FleetLabOptions {
  readonly deviceId?: string;
  /** Client certificates besides the device's and the operator's (e.g. a second device for ACL checks). */
  readonly otherClients?: readonly string[];
  /** Keys merged into the device's mqtt section (willDelaySec, reconnect, outbox, …). */
  readonly mqtt?: Readonly<Record<string, unknown>>;
  readonly prefix?: string;
}

export const LAB_OPERATOR = 'operator1';

/**
 * twin6d in the lab with an MQTT uplink to a mosquitto in the same server
 * namespace (on ::1 and the LAN address). The broker and the PKI are made on
 * the first start and kept across server restarts.
 */
export class FleetLab {
  readonly deviceId: string;
  readonly prefix: string;
  readonly port = randomHighPort();
  private pkiNow: FleetPki | undefined;
  private brokerNow: LabBroker | undefined;

  constructor(readonly opts: FleetLabOptions = {}) {
    this.deviceId = opts.deviceId ?? 'lab-ap1';
    this.prefix = opts.prefix ?? 'fleet/v1';
  }

  get pki(): FleetPki {
    if (!this.pkiNow) throw new Error('FleetLab: not started');
    return this.pkiNow;
  }

  get broker(): LabBroker {
    if (!this.brokerNow) throw new Error('FleetLab: not started');
    return this.brokerNow;
  }

  /** The twin6 server spec: prepare() also makes the PKI and starts the broker. */
  serverSpec(): ServerSpec {
    const base = twin6Server({ config: (ctx) => this.config(ctx) });
    return {
      ...base,
      requires: [...(base.requires ?? []), 'mosquitto', 'openssl'],
      prepare: async (ctx) => {
        if (!this.pkiNow) {
          this.pkiNow = await makeFleetPki(join(ctx.dir, 'fleet-pki'), {
            clients: [this.deviceId, LAB_OPERATOR, ...(this.opts.otherClients ?? [])],
            serverIps: ['::1', ctx.topology.serverAddress],
          });
          this.brokerNow = new LabBroker(ctx.ns, {
            dir: join(ctx.dir, 'broker'),
            pki: this.pkiNow,
            listen: ['::1', ctx.topology.serverAddress],
            port: this.port,
            prefix: this.prefix,
            operators: [LAB_OPERATOR],
          });
        }
        await this.brokerNow!.start();
        await base.prepare?.(ctx);
      },
    };
  }

  /** The lab's twin6 config plus an mqtt section for this device. */
  config(ctx: ServerContext): string {
    const doc = JSON.parse(twin6LabConfig(ctx)) as Record<string, unknown>;
    const id = this.pki.identity(this.deviceId);
    doc['mqtt'] = {
      url: `mqtts://[::1]:${this.port}`,
      deviceId: this.deviceId,
      topicPrefix: this.prefix,
      tls: { caFile: this.pki.ca, certFile: id.cert, keyFile: id.key },
      commandKeys: [this.pki.commandKey],
      ...this.opts.mqtt,
    };
    return JSON.stringify(doc, null, 2) + '\n';
  }

  /** Connection flags for `twin6ctl fleet` as the given client certificate. */
  connectionArgs(cn: string = LAB_OPERATOR): string[] {
    const id = this.pki.identity(cn);
    return ['--broker', `mqtts://[::1]:${this.port}`, '--ca', this.pki.ca, '--cert', id.cert, '--key', id.key, '--prefix', this.prefix];
  }

  /** `twin6ctl fleet …` inside the server namespace (where the broker is). */
  fleet(args: readonly string[], opts: { entry?: string; check?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
    const entry = resolve(opts.entry ?? 'dist/cli/twin6ctl.js');
    return this.broker.ns.exec([process.execPath, entry, 'fleet', ...args], {
      check: opts.check ?? false,
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
  }

  async stop(): Promise<void> {
    await this.brokerNow?.stop();
  }
}

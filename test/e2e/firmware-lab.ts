// What the firmware upgrade tests share: the operator's side of a fleet in
// the lab — a CA and certificates (made before the appliances' flash is
// provisioned), mosquitto and the HTTPS bundle server on the LAN at SERVER,
// `twin6ctl fleet` in that namespace — and the bundles: each built image's
// update.t6fw, and one whose twin6d cannot start.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ProvisionedFile } from '../../src/testing/lab/appliance.js';
import type { ApplianceImage } from '../../src/testing/lab/appliance.js';
import { APPLIANCE_TOPOLOGY } from '../../src/testing/lab/appliance-lab.js';
import { parseRequestLog, type RequestLine } from '../../src/testing/lab/bundle-server.js';
import { LabBroker, LAB_OPERATOR, makeFleetPki, randomHighPort, type FleetPki } from '../../src/testing/lab/mqtt.js';
import type { Namespace } from '../../src/testing/lab/netns.js';
import { poll, type ExecResult, type LabProcess } from '../../src/testing/lab/proc.js';
import type { FirmwareStatus, StateDoc } from '../../src/mgmt/documents.js';

export const SERVER = '2001:db8:1::200';
export const PREFIX = 'fleet/v1';

export interface Bundle {
  readonly file: string;
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly version: string;
}

/** A built image's update.t6fw, copied to the server's directory as `name`. */
export function bundleOf(image: ApplianceImage, name: string, dir: string): Bundle {
  const m = JSON.parse(readFileSync(join(image.dir, 'manifest.json'), 'utf8')) as {
    bundle: { bytes: number; sha256: string; version: string };
  };
  copyFileSync(join(image.dir, 'update.t6fw'), join(dir, name));
  return { file: join(dir, name), name, bytes: m.bundle.bytes, sha256: m.bundle.sha256, version: m.bundle.version };
}

/**
 * A release whose twin6d exits at once: the image's root with twin6d's entry
 * point replaced, signed with the same release key. A real broken release,
 * made from the real one rather than by a switch in the product.
 */
export function brokenBundle(image: ApplianceImage, dir: string, version = 'broken'): Bundle {
  const work = join(dir, `${version}.work`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    execFileSync('unsquashfs', ['-q', '-n', '-d', join(work, 'root'), join(image.dir, 'rootfs.squashfs')], {
      stdio: 'pipe',
      timeout: 300_000,
    });
    writeFileSync(
      join(work, 'root/usr/lib/twin6/dist/cli/twin6d.js'),
      "console.error('twin6d: this build is broken on purpose'); process.exit(70);\n",
    );
    writeFileSync(join(work, 'root/etc/twin6-version'), `${version}\n`);
    execFileSync(
      'mksquashfs',
      [join(work, 'root'), join(work, 'rootfs.squashfs'), '-comp', 'lz4', '-noappend', '-all-root', '-no-xattrs', '-quiet', '-no-progress'],
      { stdio: 'pipe', timeout: 300_000 },
    );
    for (const f of ['vmlinuz', 'initrd.gz']) copyFileSync(join(image.dir, f), join(work, f));
    const kernelArgs = /^options (.*?) twin6\.root=/m.exec(readFileSync(join(image.dir, 'loader-entry.conf'), 'utf8'))?.[1] ?? '';
    const out = execFileSync(
      process.execPath,
      [
        resolve('scripts/image/make-bundle.mjs'),
        ...['--dir', work, '--key', resolve('.build/release-key.pem'), '--board', image.board.id, '--version', version],
        ...['--release', `twin6 ${version} (twin6d broken on purpose)`, '--store-format', '2', '--kernel-args', kernelArgs],
        ...['--out', join(dir, `${version}.t6fw`)],
      ],
      { encoding: 'utf8', timeout: 300_000 },
    );
    const j = JSON.parse(out.trim().split('\n').at(-1)!) as { bytes: number; sha256: string; version: string };
    return { file: join(dir, `${version}.t6fw`), name: `${version}.t6fw`, bytes: j.bytes, sha256: j.sha256, version: j.version };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The fleet's PKI, broker, bundle server and operator CLI for the firmware tests. */
export class FirmwareFleet {
  readonly port = randomHighPort();
  readonly httpsPort = randomHighPort();
  private broker: LabBroker | undefined;
  private server: LabProcess | undefined;
  private ns: Namespace | undefined;
  private wwwDir = '';

  private constructor(
    readonly pkiDir: string,
    readonly pki: FleetPki,
  ) {}

  /** Before the lab: the devices' certificates go on their flash when it is made. */
  static async create(devices: readonly string[]): Promise<FirmwareFleet> {
    const dir = mkdtempSync(join(tmpdir(), 't6-fw-pki-'));
    return new FirmwareFleet(dir, await makeFleetPki(dir, { clients: [...devices, LAB_OPERATOR], serverIps: ['::1', SERVER] }));
  }

  /** The device's mqtt and firmware sections, pointing at the files provision() puts on its flash. */
  sections(deviceId: string, firmware: Record<string, unknown>): Record<string, unknown> {
    return {
      mqtt: {
        url: `mqtts://[${SERVER}]:${this.port}`,
        deviceId,
        topicPrefix: PREFIX,
        tls: { caFile: '/etc/twin6/fleet-ca.pem', certFile: '/etc/twin6/device.crt', keyFile: '/etc/twin6/device.key' },
        commandKeys: [this.pki.commandKey],
        reconnect: { initialMs: 500, maxMs: 2000 },
      },
      firmware: { ...firmware, caFile: '/etc/twin6/fleet-ca.pem' },
    };
  }

  provision(deviceId: string): Record<string, ProvisionedFile> {
    const id = this.pki.identity(deviceId);
    return {
      '/etc/twin6/fleet-ca.pem': { content: readFileSync(this.pki.ca) },
      '/etc/twin6/device.crt': { content: readFileSync(id.cert) },
      '/etc/twin6/device.key': { content: readFileSync(id.key), mode: 0o600 },
    };
  }

  /** Broker and bundle server in `ns`, at SERVER on the LAN; `rate` caps the server's bytes per second. */
  async start(ns: Namespace, dir: string, rate: number): Promise<void> {
    this.ns = ns;
    await ns.ip(['addr', 'add', `${SERVER}/64`, 'dev', APPLIANCE_TOPOLOGY.clientIf, 'nodad']);
    this.broker = new LabBroker(ns, {
      dir: join(dir, 'broker'),
      pki: this.pki,
      listen: ['::1', SERVER],
      port: this.port,
      prefix: PREFIX,
      operators: [LAB_OPERATOR],
    });
    await this.broker.start();
    this.wwwDir = join(dir, 'www');
    mkdirSync(this.wwwDir, { recursive: true });
    this.server = ns.spawn('bundle-server', [
      process.execPath,
      resolve('dist/testing/lab/bundle-server.js'),
      ...[
        '--dir',
        this.wwwDir,
        '--listen',
        SERVER,
        '--port',
        String(this.httpsPort),
        '--cert',
        this.pki.server.cert,
        '--key',
        this.pki.server.key,
      ],
      ...['--rate', String(rate)],
    ]);
  }

  get www(): string {
    return this.wwwDir;
  }

  url(b: Bundle): string {
    return `https://[${SERVER}]:${this.httpsPort}/${b.name}`;
  }

  requests(): RequestLine[] {
    return parseRequestLog(this.server?.log() ?? '');
  }

  connectionArgs(): string[] {
    const op = this.pki.identity(LAB_OPERATOR);
    return ['--broker', `mqtts://[::1]:${this.port}`, '--ca', this.pki.ca, '--cert', op.cert, '--key', op.key, '--prefix', PREFIX];
  }

  /** `twin6ctl fleet CONNECTION …` as the operator, in the broker's namespace. */
  fleet(args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
    return this.ns!.exec([process.execPath, resolve('dist/cli/twin6ctl.js'), 'fleet', ...this.connectionArgs(), ...args], {
      check: false,
      timeoutMs,
    });
  }

  async state(device: string): Promise<StateDoc | undefined> {
    const r = await this.fleet(['list', '--json', '--wait', '1500']);
    return (JSON.parse(r.stdout || '{}') as Record<string, StateDoc>)[device];
  }

  /** Polls the device's retained state until its firmware section satisfies pred. */
  firmwareNow(
    device: string,
    pred: (f: FirmwareStatus) => boolean,
    what: string,
    detail: () => string,
    timeoutMs = 180_000,
  ): Promise<FirmwareStatus> {
    return poll(
      async () => {
        const s = await this.state(device);
        return s?.online && s.firmware && pred(s.firmware) ? s.firmware : undefined;
      },
      { timeoutMs, intervalMs: 1000, what, detail: () => `${detail()}\n${this.broker?.log().slice(-2000) ?? ''}` },
    );
  }

  async stop(): Promise<void> {
    await this.server?.stop('SIGTERM');
    await this.broker?.stop();
    rmSync(this.pkiDir, { recursive: true, force: true });
  }
}

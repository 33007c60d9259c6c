// Management across a reload: a SIGHUP that changes the mqtt section builds a
// new uplink, and a signed command used on the old one must stay used. The
// broker is never reached (its TLS files do not exist); requests are fed to
// the uplink as its broker link would deliver them.

import { EventEmitter } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttConfig, ServerConfig } from '../../../src/config/types.js';
import { Counters } from '../../../src/daemon/counters.js';
import type { ManagementHost } from '../../../src/daemon/host.js';
import { Management } from '../../../src/mgmt/index.js';
import type { Uplink } from '../../../src/mgmt/uplink.js';
import { argsHash, commandKeyText, newNonce, signCommand } from '../../../src/mgmt/signature.js';

const signer = generateKeyPairSync('ed25519');

const mqtt: MqttConfig = {
  url: 'mqtts://broker.invalid:8883',
  deviceId: 'dev-a',
  topicPrefix: 'fleet/v1',
  tls: { caFile: '/nonexistent/ca.pem', certFile: '/nonexistent/dev.pem', keyFile: '/nonexistent/dev.key' },
  keepaliveSec: 30,
  willDelaySec: 10,
  telemetryIntervalSec: 60,
  reconnect: { initialMs: 60_000, maxMs: 60_000 },
  outbox: { maxMessages: 100, maxBytes: 100_000 },
  commandKeys: [commandKeyText(signer.publicKey)],
  configGraceSec: 60,
};

type Logged = { event?: string; code?: string; result?: string; error?: string };

function fakeDaemon() {
  const events = new EventEmitter();
  const logged: Logged[] = [];
  const stops: (() => Promise<void>)[] = [];
  const record = (o: unknown) => {
    if (typeof o === 'object' && o !== null) logged.push(o as Logged);
  };
  let config = { mqtt, subnets: [], logLevel: 'info' } as unknown as ServerConfig;
  const d = {
    on: (e: string, f: (...a: unknown[]) => void) => events.on(e, f),
    off: (e: string, f: (...a: unknown[]) => void) => events.off(e, f),
    commands: {},
    counters: new Counters(),
    registerCommand: () => undefined,
    get config() {
      return config;
    },
    configFile: '/nonexistent/twin6.json',
    log: { info: record, warn: record, error: record, debug: record, level: 'info' },
    onStop: (f: () => Promise<void>) => stops.push(f),
    startedMs: Date.now() - 60_000,
    clockStatus: () => ({ trusted: true, nowSec: 0, floorSec: 0, floorSource: 'none', behindSec: 0 }),
  } as unknown as ManagementHost;
  const reload = (next: MqttConfig) => {
    config = { ...config, mqtt: next } as ServerConfig;
    events.emit('config-reloaded', config);
  };
  return { d, logged, reload, stop: () => Promise.all(stops.map((f) => f())) };
}

/** What the broker link calls for each delivered message. */
const deliver = (u: Uplink, topic: string, payload: string, responseTopic: string) =>
  (u as unknown as { onMessage(t: string, p: Buffer, pk: IPublishPacket): void }).onMessage(topic, Buffer.from(payload), {
    retain: false,
    properties: { responseTopic },
  } as IPublishPacket);

const settled = async (until: () => boolean) => {
  for (let i = 0; i < 1000 && !until(); i++) await new Promise((r) => setTimeout(r, 5));
};

let cleanup: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('management across a reload', () => {
  it('keeps the nonces of signed commands when a changed mqtt section rebuilds the uplink', async () => {
    const h = fakeDaemon();
    cleanup = h.stop;
    const m = new Management(h.d).start();
    await settled(() => m.uplink !== undefined);
    const first = m.uplink!;
    const args = { reason: 'partner burnt' };
    const now = Math.floor(Date.now() / 1000);
    const auth = signCommand(signer.privateKey, {
      sub: 'dev-a',
      cmd: 'failover.partner-down',
      argsHash: argsHash(args),
      iat: now,
      exp: now + 60,
      nonce: newNonce(),
      actor: 'alice',
    });
    const request = JSON.stringify({ v: 1, args, auth });
    const audits = () => h.logged.filter((l) => l.event === 'cmd-audit');

    deliver(first, first.topics.cmd('failover.partner-down'), request, `${first.topics.rspRoot}/ops`);
    await settled(() => audits().length === 1);
    expect(audits()[0]).toMatchObject({ code: 'MGMT_COMMAND_AUTHORIZED', result: 'CONFIRM_REQUIRED' });

    h.reload({ ...mqtt, telemetryIntervalSec: 30 });
    await settled(() => m.uplink !== undefined && m.uplink !== first);
    const second = m.uplink!;
    expect(second).not.toBe(first);
    deliver(second, second.topics.cmd('failover.partner-down'), request, `${second.topics.rspRoot}/ops`);
    await settled(() => audits().length === 2);
    expect(audits()[1]).toMatchObject({
      code: 'MGMT_COMMAND_NOT_AUTHORIZED',
      result: 'NOT_AUTHORIZED',
      error: 'nonce already used: this signed request was replayed',
    });
  });
});

// The mqtt section: defaults, and one check per key, each asserting the exact path of the problem.

import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { base, expectOnlyProblem, problemsOf } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/mqtt/', import.meta.url));
const CERT = join(FIXTURES, 'dev-a.crt');
const KEY = join(FIXTURES, 'dev-a.key');
const PUBKEY = Buffer.alloc(32, 7).toString('base64');

const mqtt = (patch: Record<string, unknown> = {}) => ({
  url: 'mqtts://broker.example:8883',
  deviceId: 'dev-a',
  tls: { caFile: CERT, certFile: CERT, keyFile: KEY },
  ...patch,
});
const withMqtt = (patch: Record<string, unknown> = {}) => ({ ...base(), mqtt: mqtt(patch) });

describe('mqtt section', () => {
  it('is optional, and absent means no uplink', () => {
    expect(parseConfig(base()).mqtt).toBeUndefined();
  });

  it('fills every default', () => {
    expect(parseConfig(withMqtt()).mqtt).toEqual({
      url: 'mqtts://broker.example:8883',
      deviceId: 'dev-a',
      topicPrefix: 'fleet/v1',
      tls: { caFile: CERT, certFile: CERT, keyFile: KEY },
      keepaliveSec: 60,
      willDelaySec: 30,
      telemetryIntervalSec: 60,
      reconnect: { initialMs: 1000, maxMs: 300000 },
      outbox: { maxMessages: 1000, maxBytes: 262144 },
      commandKeys: [],
      configGraceSec: 60,
    });
  });

  it('takes every key', () => {
    const m = parseConfig(
      withMqtt({
        url: 'mqtts://[2001:db8::1]',
        topicPrefix: 'acme/fleet/v1',
        tls: { caFile: CERT, certFile: CERT, keyFile: KEY, servername: 'broker.example' },
        keepaliveSec: 30,
        willDelaySec: 0,
        telemetryIntervalSec: 5,
        reconnect: { initialMs: 500 },
        outbox: { maxBytes: 4096 },
        commandKeys: [PUBKEY],
      }),
    ).mqtt!;
    expect(m.url).toBe('mqtts://[2001:db8::1]:8883');
    expect(m.tls.servername).toBe('broker.example');
    expect(m.reconnect).toEqual({ initialMs: 500, maxMs: 300000 });
    expect(m.outbox).toEqual({ maxMessages: 1000, maxBytes: 4096 });
    expect(m.commandKeys).toEqual([PUBKEY]);
  });

  it('requires url, deviceId and tls with its three files', () => {
    const problems = problemsOf({ ...base(), mqtt: { tls: {} } });
    expect(problems.map((p) => [p.path, p.problem])).toEqual([
      ['mqtt.url', 'is required'],
      ['mqtt.deviceId', 'is required'],
      ['mqtt.tls.caFile', 'is required'],
      ['mqtt.tls.certFile', 'is required'],
      ['mqtt.tls.keyFile', 'is required'],
    ]);
  });

  it('wants an mqtts URL with only a host and a port', () => {
    expectOnlyProblem(withMqtt({ url: 'mqtt://broker.example:1883' }), 'mqtt.url', /^must use mqtts:\/\/ \(TLS/);
    expectOnlyProblem(withMqtt({ url: 'mqtts://user:pw@broker.example' }), 'mqtt.url', /must not carry credentials/);
    expectOnlyProblem(withMqtt({ url: 'mqtts://broker.example/x?y' }), 'mqtt.url', /expected only a host and a port/);
    expectOnlyProblem(withMqtt({ url: 'broker' }), 'mqtt.url', 'expected "mqtts://host[:port]", got "broker"');
  });

  it('checks the device id, which is a topic level and the certificate CN', () => {
    expectOnlyProblem(withMqtt({ deviceId: 'Dev/A' }), 'mqtt.deviceId', /^expected 1 to 48 lowercase letters/);
    expectOnlyProblem(withMqtt({ deviceId: '+' }), 'mqtt.deviceId', /^expected 1 to 48 lowercase letters/);
    expectOnlyProblem(
      withMqtt({ deviceId: 'dev-b' }),
      'mqtt.deviceId',
      '"dev-b" is not the CN of tls.certFile ("dev-a"): the broker knows the device by its certificate',
    );
  });

  it('refuses wildcards and $ topics in the prefix', () => {
    for (const p of ['fleet/#', 'fleet/+/x', '$SYS/x', '/fleet', 'fleet/', 'a//b'])
      expectOnlyProblem(withMqtt({ topicPrefix: p }), 'mqtt.topicPrefix', /^expected 1 to 8 topic levels/);
  });

  it('reads the TLS files at load: relative, missing and non-PEM files are errors', () => {
    expectOnlyProblem(
      withMqtt({ tls: { caFile: 'ca.pem', certFile: CERT, keyFile: KEY } }),
      'mqtt.tls.caFile',
      'expected an absolute file path, got "ca.pem"',
    );
    expectOnlyProblem(
      withMqtt({ tls: { caFile: '/nonexistent/ca.pem', certFile: CERT, keyFile: KEY } }),
      'mqtt.tls.caFile',
      'cannot read /nonexistent/ca.pem: ENOENT',
    );
    const dir = mkdtempSync(join(tmpdir(), 't6-mqtt-config-'));
    try {
      writeFileSync(join(dir, 'junk'), 'not a pem');
      expectOnlyProblem(
        withMqtt({ tls: { caFile: CERT, certFile: CERT, keyFile: join(dir, 'junk') } }),
        'mqtt.tls.keyFile',
        `${join(dir, 'junk')} holds no PEM block`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expectOnlyProblem(withMqtt({ tls: { caFile: CERT, certFile: KEY, keyFile: KEY } }), 'mqtt.tls.certFile', /^not a certificate/);
    expectOnlyProblem(withMqtt({ tls: { caFile: CERT, certFile: CERT, keyFile: KEY, extra: 1 } }), 'mqtt.tls.extra', 'spurious key');
  });

  it('bounds the numbers', () => {
    expectOnlyProblem(withMqtt({ keepaliveSec: 4 }), 'mqtt.keepaliveSec', 'must be between 5 and 3600, got 4');
    expectOnlyProblem(withMqtt({ willDelaySec: -1 }), 'mqtt.willDelaySec', 'must be between 0 and 3600, got -1');
    expectOnlyProblem(withMqtt({ telemetryIntervalSec: 0 }), 'mqtt.telemetryIntervalSec', 'must be between 1 and 86400, got 0');
    expectOnlyProblem(withMqtt({ reconnect: { initialMs: 50 } }), 'mqtt.reconnect.initialMs', 'must be between 100 and 60000, got 50');
    expectOnlyProblem(withMqtt({ outbox: { maxMessages: 5 } }), 'mqtt.outbox.maxMessages', 'must be between 10 and 100000, got 5');
    expectOnlyProblem(withMqtt({ outbox: { maxBytes: 1024 } }), 'mqtt.outbox.maxBytes', 'must be between 4096 and 67108864, got 1024');
  });

  it('wants the back-off to start below its cap', () => {
    expectOnlyProblem(
      withMqtt({ reconnect: { initialMs: 5000, maxMs: 2000 } }),
      'mqtt.reconnect.maxMs',
      'initialMs (5000) must not exceed maxMs (2000)',
    );
  });

  it('checks the pinned command keys', () => {
    expectOnlyProblem(
      withMqtt({ commandKeys: ['abc'] }),
      'mqtt.commandKeys[0]',
      /^expected an Ed25519 public key as base64 of its 32 bytes/,
    );
    expectOnlyProblem(withMqtt({ commandKeys: [PUBKEY, PUBKEY] }), 'mqtt.commandKeys[1]', /^duplicate of mqtt.commandKeys\[0\]/);
    expectOnlyProblem(
      withMqtt({ commandKeys: Array.from({ length: 9 }, (_, i) => Buffer.alloc(32, i).toString('base64')) }),
      'mqtt.commandKeys',
      'must have at most 8 entries, got 9',
    );
  });
});

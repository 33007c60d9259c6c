// The `mqtt` section: the management uplink (src/mgmt/). Ids and topic levels
// follow the rules the uplink builds topics from (topic-rules.ts), so what
// loads is what the broker's %u ACL patterns can hold. Like the failover
// section, TLS files are read at load: a missing certificate, or one made for
// another device, is a config error with its key, not a silent reconnect loop.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';
import { DEFAULTS, LIMITS, RANGES } from './defaults.js';
import { integer, keyPath, listOf, object, optional, required, textOf, type Issues, type Reader } from './schema.js';
import type { MqttConfig } from './types.js';
import { DEVICE_ID_RE, topicPrefixProblem } from './topic-rules.js';

type Parse<T> = T | { problem: string };

const MQTTS_DEFAULT_PORT = 8883;

/** "mqtts://host[:port]", normalised to carry the port; nothing else (no credentials, path or query). */
function parseBrokerUrl(text: string): Parse<string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `expected "mqtts://host[:port]", got ${JSON.stringify(text)}` };
  }
  if (url.protocol !== 'mqtts:') {
    return { problem: `must use mqtts:// (TLS: the client certificate is the device's identity), got ${JSON.stringify(text)}` };
  }
  if (url.username || url.password) return { problem: 'must not carry credentials: the client certificate authenticates the device' };
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) {
    return { problem: `expected only a host and a port, got ${JSON.stringify(text)}` };
  }
  if (url.hostname === '') return { problem: `has no host, got ${JSON.stringify(text)}` };
  return `mqtts://${url.hostname}:${url.port || MQTTS_DEFAULT_PORT}`;
}

function parseDeviceId(text: string): Parse<string> {
  return DEVICE_ID_RE.test(text)
    ? text
    : {
        problem: `expected 1 to 48 lowercase letters, digits and "-", starting with a letter or digit (it is a topic level and the certificate CN), got ${JSON.stringify(text)}`,
      };
}

function parseTopicPrefix(text: string): Parse<string> {
  const problem = topicPrefixProblem(text);
  return problem === undefined ? text : { problem };
}

/** An absolute path to a readable PEM file; the path is kept (the uplink re-reads it at each connect). */
export function parsePemPath(text: string): Parse<string> {
  if (!isAbsolute(text)) return { problem: `expected an absolute file path, got ${JSON.stringify(text)}` };
  const path = normalize(text);
  try {
    return readFileSync(path, 'utf8').includes('-----BEGIN ') ? path : { problem: `${path} holds no PEM block` };
  } catch (e) {
    return { problem: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

/** base64 or base64url of exactly 32 bytes; the uplink turns it into a key object. */
function parseCommandKey(text: string): Parse<string> {
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    return {
      problem: `expected an Ed25519 public key as base64 of its 32 bytes (43 or 44 characters), got ${JSON.stringify(text.length > 20 ? `${text.slice(0, 17)}...` : text)}`,
    };
  }
  return text;
}

function parseServerName(text: string): Parse<string> {
  return /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(text)
    ? text
    : { problem: `expected a DNS name, got ${JSON.stringify(text)}` };
}

const intIn = ([min, max]: readonly [number, number]): Reader<number> => integer(min, max);

export const mqttShape = object({
  url: required(textOf('a broker URL', parseBrokerUrl)),
  deviceId: required(textOf('a device id', parseDeviceId)),
  topicPrefix: optional(textOf('a topic prefix', parseTopicPrefix)),
  tls: required(
    object({
      caFile: required(textOf('a PEM file path', parsePemPath)),
      certFile: required(textOf('a PEM file path', parsePemPath)),
      keyFile: required(textOf('a PEM file path', parsePemPath)),
      servername: optional(textOf('a DNS name', parseServerName)),
    }),
  ),
  keepaliveSec: optional(intIn(RANGES.mqttKeepaliveSec)),
  willDelaySec: optional(intIn(RANGES.mqttWillDelaySec)),
  telemetryIntervalSec: optional(intIn(RANGES.mqttTelemetryIntervalSec)),
  reconnect: optional(
    object({
      initialMs: optional(intIn(RANGES.mqttReconnectInitialMs)),
      maxMs: optional(intIn(RANGES.mqttReconnectMaxMs)),
    }),
  ),
  outbox: optional(
    object({
      maxMessages: optional(intIn(RANGES.mqttOutboxMessages)),
      maxBytes: optional(intIn(RANGES.mqttOutboxBytes)),
    }),
  ),
  configGraceSec: optional(intIn(RANGES.mqttConfigGraceSec)),
  commandKeys: optional(listOf(textOf('a public key', parseCommandKey), { min: 0, max: LIMITS.mqttCommandKeys, uniqueBy: (k) => k })),
});

type MqttInput = NonNullable<ReturnType<typeof mqttShape>>;

/** The subject CN of a PEM certificate, or a problem. */
export function certificateCn(pem: string): Parse<string> {
  try {
    const subject = new X509Certificate(pem).subject;
    const cn = /^CN=(.*)$/m.exec(subject)?.[1];
    return cn === undefined ? { problem: `the certificate's subject has no CN (${subject.replaceAll('\n', ', ')})` } : cn;
  } catch (e) {
    return { problem: `not a certificate: ${(e as Error).message}` };
  }
}

export function resolveMqtt(input: MqttInput | undefined, path: string, issues: Issues): MqttConfig | undefined {
  if (input === undefined) return undefined;
  const d = DEFAULTS.mqtt;
  const reconnect = { ...d.reconnect, ...input.reconnect };
  if (!issues.hasUnder(keyPath(path, 'reconnect')) && reconnect.initialMs > reconnect.maxMs) {
    const which = input.reconnect?.maxMs !== undefined ? 'maxMs' : 'initialMs';
    issues.report(
      keyPath(keyPath(path, 'reconnect'), which),
      `initialMs (${reconnect.initialMs}) must not exceed maxMs (${reconnect.maxMs})`,
    );
  }
  const tls = input.tls;
  if (input.deviceId !== undefined && tls?.certFile !== undefined) {
    const cn = certificateCn(readFileSync(tls.certFile, 'utf8'));
    if (typeof cn !== 'string') issues.report(keyPath(keyPath(path, 'tls'), 'certFile'), cn.problem);
    else if (cn !== input.deviceId) {
      issues.report(
        keyPath(path, 'deviceId'),
        `"${input.deviceId}" is not the CN of tls.certFile ("${cn}"): the broker knows the device by its certificate`,
      );
    }
  }
  if (
    input.url === undefined ||
    input.deviceId === undefined ||
    tls?.caFile === undefined ||
    tls.certFile === undefined ||
    tls.keyFile === undefined
  )
    return undefined;
  return {
    url: input.url,
    deviceId: input.deviceId,
    topicPrefix: input.topicPrefix ?? d.topicPrefix,
    tls: {
      caFile: tls.caFile,
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    },
    keepaliveSec: input.keepaliveSec ?? d.keepaliveSec,
    willDelaySec: input.willDelaySec ?? d.willDelaySec,
    telemetryIntervalSec: input.telemetryIntervalSec ?? d.telemetryIntervalSec,
    reconnect,
    outbox: { ...d.outbox, ...input.outbox },
    commandKeys: input.commandKeys ?? [],
    configGraceSec: input.configGraceSec ?? d.configGraceSec,
  };
}

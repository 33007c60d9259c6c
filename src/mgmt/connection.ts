// One connection attempt to the broker with mqtt.js, shaped for the
// supervisor: resolves once CONNACK arrived, rejects with a readable reason,
// and never reconnects by itself (reconnectPeriod 0: the supervisor owns
// retries). A new mqtt.js client per attempt means the TLS files are read
// again (a rotated certificate is picked up without a restart) and the Will
// carries the new session number.

import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { certificateCn } from '../config/mqtt.js';
import type { MqttConfig } from '../config/types.js';
import type { Connection } from './supervisor.js';

export interface BrokerLink extends Connection {
  readonly client: MqttClient;
}

export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

/** Largest packet we accept from the broker; a request is far smaller (requests.ts caps it at 64 KiB). */
const MAXIMUM_PACKET_BYTES = 256 * 1024;
const CONNECT_TIMEOUT_MS = 15_000;

function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`mqtt.tls.${key}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/** mqtt.js keeps the brackets of an IPv6 URL host, which TLS then fails to resolve: give it host and port apart. */
function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 8883) };
}

export interface AttemptOptions {
  readonly config: MqttConfig;
  readonly will: { readonly topic: string; readonly payload: string };
  readonly onMessage: MessageHandler;
}

export function connectOnce(opts: AttemptOptions): Promise<BrokerLink> {
  const { config } = opts;
  let ca: Buffer, cert: Buffer, key: Buffer;
  try {
    ca = readPem(config.tls.caFile, 'caFile');
    cert = readPem(config.tls.certFile, 'certFile');
    key = readPem(config.tls.keyFile, 'keyFile');
    const cn = certificateCn(cert.toString('utf8'));
    if (typeof cn !== 'string') throw new Error(`mqtt.tls.certFile: ${cn.problem}`);
    if (cn !== config.deviceId) throw new Error(`mqtt.tls.certFile: its CN is "${cn}", not the deviceId "${config.deviceId}"`);
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
  const options: IClientOptions = {
    protocol: 'mqtts',
    ...hostPort(config.url),
    protocolVersion: 5,
    clientId: `twin6-${config.deviceId}`,
    // No broker-side session: a command queued while the device was away is stale by the time it returns.
    clean: true,
    keepalive: config.keepaliveSec,
    connectTimeout: CONNECT_TIMEOUT_MS,
    reconnectPeriod: 0,
    // Never let mqtt.js queue in memory while offline: the outbox decides what waits.
    queueQoSZero: false,
    resubscribe: false,
    ca,
    cert,
    key,
    rejectUnauthorized: true,
    ...(config.tls.servername ? { servername: config.tls.servername } : {}),
    properties: { maximumPacketSize: MAXIMUM_PACKET_BYTES, requestProblemInformation: true },
    will: {
      topic: opts.will.topic,
      payload: Buffer.from(opts.will.payload),
      qos: 1,
      retain: true,
      properties: { willDelayInterval: config.willDelaySec, contentType: 'application/json' },
    },
  };
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(options);
    let lastError: string | undefined;
    let connected = false;
    let settle: ((reason: string) => void) | undefined;
    const closed = new Promise<string>((r) => (settle = r));
    const timer = setTimeout(() => fail(`no CONNACK within ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS + 1000);
    const fail = (reason: string): void => {
      if (connected) return;
      clearTimeout(timer);
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end(true);
      reject(new Error(reason));
    };
    client.on('error', (e) => {
      lastError = e.message;
      if (!connected) fail(e.message);
    });
    client.on('message', opts.onMessage);
    client.on('close', () => {
      if (!connected) {
        fail(lastError ?? 'connection closed before CONNACK');
        return;
      }
      client.end(true);
      settle?.(lastError ?? 'connection closed');
    });
    client.on('disconnect', (packet) => {
      lastError = `broker sent DISCONNECT (reason ${packet.reasonCode ?? 0}${packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : ''})`;
    });
    client.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      resolve({
        client,
        closed,
        close: () => {
          client.end(true);
          settle?.('closed by the device');
        },
      });
    });
  });
}

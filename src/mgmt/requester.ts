// The operator's end of the fleet protocol: read the retained state of every
// device, and send one command the MQTT 5 way (Response Topic inside the
// device's rsp/ subtree + random Correlation Data) and wait for its answer.
// Used by `twin6ctl fleet`; a backend would do the same with a shared subscription.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import type { ReportedDoc } from './config-push.js';
import type { OfflineDoc, ResponseDoc, StateDoc } from './documents.js';
import { deviceOfTopic, deviceTopics, fleetReportedFilter, fleetStateFilter, topicMatches } from './topics.js';

export interface FleetConnectOptions {
  readonly url: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly servername?: string;
  readonly prefix: string;
  /** One topic level naming this operator session in response topics. */
  readonly requesterId: string;
}

export interface RequestBody {
  readonly v: 1;
  readonly args: Record<string, unknown>;
  readonly auth?: string;
}

export type DeviceState = StateDoc | OfflineDoc;

/** Pending requests at once; each waits at most its timeout. */
const PENDING_MAX = 64;

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

export class FleetClient {
  private readonly pending = new Map<string, { resolve: (d: ResponseDoc) => void; timer: NodeJS.Timeout }>();
  private readonly subscribed = new Set<string>();

  private constructor(
    private readonly client: MqttClient,
    readonly opts: FleetConnectOptions,
  ) {
    client.on('message', (_topic, payload, packet) => {
      const corr = packet.properties?.correlationData?.toString('hex');
      const p = corr === undefined ? undefined : this.pending.get(corr);
      if (!p) return;
      this.pending.delete(corr!);
      clearTimeout(p.timer);
      try {
        p.resolve(JSON.parse(payload.toString('utf8')) as ResponseDoc);
      } catch {
        p.resolve({ v: 1, ok: false, code: 'BAD_REQUEST', error: `unreadable response: ${payload.toString('utf8').slice(0, 200)}` });
      }
    });
  }

  static async connect(opts: FleetConnectOptions, timeoutMs = 10_000): Promise<FleetClient> {
    const u = new URL(opts.url);
    const client = await mqtt.connectAsync({
      protocol: 'mqtts',
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(u.port || 8883),
      protocolVersion: 5,
      clientId: `twin6ctl-${opts.requesterId}-${randomBytes(3).toString('hex')}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      ca: readFileSync(opts.caFile),
      cert: readFileSync(opts.certFile),
      key: readFileSync(opts.keyFile),
      rejectUnauthorized: true,
      ...(opts.servername ? { servername: opts.servername } : {}),
    });
    return new FleetClient(client, opts);
  }

  /** Every device's retained state: what the broker holds arrives right after the subscription. */
  states(waitMs: number): Promise<Map<string, DeviceState>> {
    return this.retainedOf(fleetStateFilter(this.opts.prefix), '/state', waitMs);
  }

  /** Every device's retained config/reported (config push, docs/fleet.md §7). */
  reported(waitMs: number): Promise<Map<string, ReportedDoc>> {
    return this.retainedOf(fleetReportedFilter(this.opts.prefix), '/config/reported', waitMs);
  }

  private async retainedOf<T>(filter: string, suffix: string, waitMs: number): Promise<Map<string, T>> {
    const found = new Map<string, T>();
    const stop = await this.watch(filter, (topic, payload) => {
      const id = deviceOfTopic(this.opts.prefix, topic);
      if (id === undefined || !topic.endsWith(suffix)) return;
      try {
        found.set(id, JSON.parse(payload.toString('utf8')) as T);
      } catch {
        /* not ours to judge here; skip it */
      }
    });
    await new Promise((r) => setTimeout(r, waitMs));
    await stop();
    return found;
  }

  /** Subscribes and hands every message to `onMessage` until the returned function is called. */
  async watch(filter: string, onMessage: (topic: string, payload: Buffer, retained: boolean) => void): Promise<() => Promise<void>> {
    // The client carries every watch's subscription: only this filter's messages are this watch's.
    const listener = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
      if (topicMatches(filter, topic)) onMessage(topic, payload, packet.retain === true);
    };
    this.client.on('message', listener);
    await this.client.subscribeAsync(filter, { qos: 1 });
    return async () => {
      this.client.off('message', listener);
      await this.client.unsubscribeAsync(filter);
    };
  }

  /** Publishes retained, QoS 1 (config/desired). */
  async publishRetained(topic: string, payload: string): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain: true, properties: { contentType: 'application/json' } });
  }

  /** Sends one request and resolves with the device's response; rejects with TimeoutError when none comes. */
  async request(
    deviceId: string,
    cmd: string,
    body: RequestBody,
    opts: { timeoutMs: number; responseTopic?: string },
  ): Promise<ResponseDoc> {
    if (this.pending.size >= PENDING_MAX) throw new Error(`${PENDING_MAX} requests already wait for an answer`);
    const topics = deviceTopics(this.opts.prefix, deviceId);
    const responseTopic = opts.responseTopic ?? `${topics.rspRoot}/${this.opts.requesterId}`;
    if (!this.subscribed.has(responseTopic) && responseTopic.startsWith(`${topics.rspRoot}/`)) {
      await this.client.subscribeAsync(responseTopic, { qos: 1 });
      this.subscribed.add(responseTopic);
    }
    const correlation = randomBytes(16);
    const expirySec = Math.max(1, Math.ceil(opts.timeoutMs / 1000));
    const answer = new Promise<ResponseDoc>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlation.toString('hex'));
        reject(new TimeoutError(`no answer from ${deviceId} to "${cmd}" within ${opts.timeoutMs} ms`));
      }, opts.timeoutMs);
      this.pending.set(correlation.toString('hex'), { resolve, timer });
    });
    await this.client.publishAsync(topics.cmd(cmd), JSON.stringify(body), {
      qos: 1,
      properties: { responseTopic, correlationData: correlation, messageExpiryInterval: expirySec, contentType: 'application/json' },
    });
    return answer;
  }

  async close(): Promise<void> {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    await this.client.endAsync();
  }
}

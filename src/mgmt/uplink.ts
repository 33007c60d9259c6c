// The MQTT management uplink: one supervised broker connection that carries
// the retained state (birth, with a delayed Last Will saying offline),
// telemetry, events and the request/response commands. Nothing is published
// while disconnected: everything goes through the bounded outbox, drained one
// message at a time once connected, so an outage of hours costs the outbox's
// bound and the latest state is the first thing sent on return.

import type { KeyObject } from 'node:crypto';
import type { IPublishPacket } from 'mqtt';
import type { MqttConfig } from '../config/types.js';
import type { CommandSpec } from './commands.js';
import type { PushPort } from './config-pusher.js';
import { ConfirmTokens } from './confirm.js';
import { connectOnce, type BrokerLink } from './connection.js';
import { DOC_VERSION, event, type EventFields, type EventType, type OfflineDoc } from './documents.js';
import { failoverStatus } from './handlers.js';
import type { ManagementHost } from '../daemon/host.js';
import { Outbox, type OutboxStats, type OutMessage } from './outbox.js';
import { Reporter } from './reporter.js';
import { RequestHandler, type Answer } from './requests.js';
import { parseCommandKey, SignatureGate, type NonceMemory } from './signature.js';
import { Supervisor, type SupervisorEvent } from './supervisor.js';
import { deviceTopics, type DeviceTopics, type TelemetryGroup } from './topics.js';

const STATE_TICK_MS = 1000;
/** Queued events leave at most this often (docs/fleet.md §6: ≤ 20 msg/s after an outage). */
const EVENT_SPACING_MS = 50;
/** A connection up this long resets the back-off. */
const STABLE_MS = 30_000;
const EVENT_EXPIRY_SEC = 86_400;
const SHUTDOWN_PUBLISH_MS = 2000;

export interface UplinkStats {
  readonly connected: boolean;
  readonly session: number | null;
  readonly connections: number;
  readonly connectionErrors: number;
  readonly lastError: string | null;
  readonly publishSent: number;
  readonly publishFailed: number;
  readonly requests: number;
  readonly responsesDropped: number;
  readonly outbox: OutboxStats;
}

export class Uplink {
  readonly topics: DeviceTopics;
  private readonly outbox: Outbox;
  private readonly supervisor: Supervisor;
  private readonly requests: RequestHandler;
  private readonly reporter: Reporter;
  private link: BrokerLink | undefined;
  private session = 0;
  private lastStateKey = '';
  private draining = false;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private counts = { connectionErrors: 0, publishSent: 0, publishFailed: 0, requests: 0, responsesDropped: 0 };
  private lastError: string | null = null;
  private readonly onCommitted = (): void => this.reporter.markPoolsDirty();
  private readonly onReloaded = (): void => this.reporter.configReloaded();

  constructor(
    private readonly d: ManagementHost,
    readonly config: MqttConfig,
    /** The daemon's, not this uplink's: a reload that rebuilds the uplink must not forget used nonces. */
    nonces: NonceMemory,
    /** Config push (Management's, outliving this uplink): where desired documents go, and the reported one. */
    private readonly push?: PushPort,
  ) {
    this.topics = deviceTopics(config.topicPrefix, config.deviceId);
    this.outbox = new Outbox(config.outbox, Date.now);
    // The config loader checked the form; a key that still fails here is logged and left out.
    const keys: KeyObject[] = [];
    for (const text of config.commandKeys) {
      const k = parseCommandKey(text);
      if ('problem' in k) d.log.error({ code: 'MGMT_COMMAND_KEY_INVALID', key: text, problem: k.problem }, 'mqtt: command key left out');
      else keys.push(k);
    }
    const nowSec = (): number => Math.floor(Date.now() / 1000);
    this.reporter = new Reporter(d, config.deviceId, (type, fields) => this.emitEvent(type, fields));
    this.requests = new RequestHandler({
      topics: this.topics,
      gate: new SignatureGate({ keys, deviceId: config.deviceId, nowSec, nonces }),
      confirms: new ConfirmTokens(nowSec),
      run: (spec, args) => this.run(spec, args),
      preview: async (spec, args) => ({ command: spec.name, args, failover: await failoverStatus(this.d), effect: spec.summary }),
      emit: (type, fields, audit) => this.emitEvent(type, fields, audit),
    });
    this.supervisor = new Supervisor({
      connect: () => this.attempt(),
      backoff: config.reconnect,
      stableMs: STABLE_MS,
      onEvent: (e) => this.onSupervisor(e),
    });
  }

  start(): void {
    this.d.on('leases-committed', this.onCommitted);
    this.d.on('config-reloaded', this.onReloaded);
    this.timers.push(setInterval(() => void this.refreshState(), STATE_TICK_MS));
    this.timers.push(setInterval(() => this.sampleTelemetry(), this.config.telemetryIntervalSec * 1000));
    for (const t of this.timers) t.unref();
    this.supervisor.start();
  }

  stats(): UplinkStats {
    return {
      connected: this.link !== undefined,
      session: this.link ? this.session : null,
      connections: this.supervisor.connections,
      lastError: this.lastError,
      ...this.counts,
      outbox: this.outbox.stats(),
    };
  }

  /** Says offline on purpose (so the fleet need not wait for the Will), then disconnects cleanly. */
  async stop(reason: OfflineDoc['reason']): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.d.off('leases-committed', this.onCommitted);
    this.d.off('config-reloaded', this.onReloaded);
    const link = this.link;
    const live = this.supervisor.detach();
    if (!link?.client.connected) {
      live?.close();
      return;
    }
    const bye: OfflineDoc = {
      v: DOC_VERSION,
      online: false,
      session: this.session,
      deviceId: this.config.deviceId,
      reason,
      ts: new Date().toISOString(),
    };
    const said = link.client.publishAsync(this.topics.state, JSON.stringify(bye), { qos: 1, retain: true }).catch(() => undefined);
    await Promise.race([said, new Promise((r) => setTimeout(r, SHUTDOWN_PUBLISH_MS))]);
    await Promise.race([link.client.endAsync().catch(() => undefined), new Promise((r) => setTimeout(r, SHUTDOWN_PUBLISH_MS))]);
  }

  /** `rebirth`, and every connect: state first, then meta. */
  async rebirth(): Promise<{ session: number }> {
    this.lastStateKey = '';
    await this.refreshState();
    this.outbox.putLatest(this.retained(this.topics.meta, this.reporter.meta(this.config.telemetryIntervalSec)));
    if (this.push) this.outbox.putLatest(this.retained(this.topics.configReported, this.push.reported()));
    this.drain();
    return { session: this.session };
  }

  private attempt(): Promise<BrokerLink> {
    this.session = Date.now();
    const will: OfflineDoc = {
      v: DOC_VERSION,
      online: false,
      session: this.session,
      deviceId: this.config.deviceId,
      reason: 'connection-lost',
    };
    return connectOnce({
      config: this.config,
      will: { topic: this.topics.state, payload: JSON.stringify(will) },
      onMessage: (t, p, pk) => this.onMessage(t, p, pk),
    }).then((link) => (this.pendingLink = link));
  }

  private onSupervisor(e: SupervisorEvent): void {
    const log = this.d.log;
    switch (e.type) {
      case 'connected':
        log.info(
          { code: 'MQTT_CONNECTED', broker: this.config.url, deviceId: this.config.deviceId, session: this.session },
          'mqtt: connected',
        );
        void this.connected();
        break;
      case 'failed':
        this.counts.connectionErrors++;
        this.lastError = e.reason;
        log.warn({ code: 'MQTT_CONNECT_FAILED', broker: this.config.url, reason: e.reason }, 'mqtt: connect failed');
        break;
      case 'closed':
        this.link = undefined;
        this.lastError = e.reason;
        this.outbox.requeueInFlight();
        log.warn({ code: 'MQTT_CONNECTION_LOST', reason: e.reason, upMs: e.upMs }, 'mqtt: connection lost');
        break;
      case 'retry':
        log.info({ attempt: e.attempt, delayMs: e.delayMs }, 'mqtt: reconnecting after back-off');
        break;
      case 'connecting':
        break;
    }
  }

  private async connected(): Promise<void> {
    const link = this.pendingLink;
    if (!link) return;
    try {
      await link.client.subscribeAsync(this.topics.cmdFilter, { qos: 1 });
      // After the commands: the retained desired config arrives at once, and is acted on only if new.
      if (this.push) await link.client.subscribeAsync(this.topics.configDesired, { qos: 1 });
    } catch (e) {
      this.d.log.error({ code: 'MQTT_SUBSCRIBE_FAILED', err: (e as Error).message }, 'mqtt: subscribing to commands failed');
    }
    this.link = link;
    await this.rebirth();
  }

  /** Retains config/reported (config push); the latest only, sent at once or after the reconnect. */
  publishReported(doc: unknown): void {
    this.outbox.putLatest(this.retained(this.topics.configReported, doc));
    this.drain();
  }

  /** The link of the attempt that just succeeded; `link` once subscribed. */
  private pendingLink: BrokerLink | undefined;

  private run(spec: CommandSpec, args: Record<string, unknown>): Promise<unknown> {
    if (spec.servedBy === 'uplink') return this.rebirth();
    const handler = this.d.commands[spec.name];
    if (!handler) throw new Error(`"${spec.name}" has no handler on this device`);
    return Promise.resolve(handler(args));
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (topic === this.topics.configDesired) {
      // Retained by design: the retain flag tells the broker's kept copy from a live publish (config-push.ts).
      this.push?.onDesired(payload, packet.retain);
      return;
    }
    this.counts.requests++;
    if (packet.retain) {
      // A retained command would run again on every reconnect.
      this.emitEvent('cmd-refused', {
        code: 'MGMT_COMMAND_REFUSED',
        cmd: topic.split('/').pop() ?? null,
        reason: 'retained commands are never run',
        responseTopic: packet.properties?.responseTopic ?? null,
      });
      return;
    }
    const props = packet.properties ?? {};
    void this.requests
      .handle({
        topic,
        payload,
        ...(props.responseTopic !== undefined ? { responseTopic: props.responseTopic } : {}),
        ...(props.correlationData !== undefined ? { correlationData: props.correlationData } : {}),
        ...(props.messageExpiryInterval !== undefined ? { expirySec: props.messageExpiryInterval } : {}),
      })
      .then((answer) => answer && this.respond(answer))
      .catch((e: unknown) => this.d.log.error({ code: 'MGMT_REQUEST_FAILED', err: e }, 'mqtt: request handling failed'));
  }

  /** Responses skip the outbox: a late answer is worse than none, and the requester times out. */
  private respond(a: Answer): void {
    const client = this.link?.client;
    if (!client?.connected) {
      this.counts.responsesDropped++;
      return;
    }
    const properties = {
      contentType: 'application/json',
      ...(a.correlationData ? { correlationData: a.correlationData } : {}),
      ...(a.expirySec !== undefined ? { messageExpiryInterval: a.expirySec } : {}),
    };
    client.publish(a.topic, JSON.stringify(a.doc), { qos: 1, properties }, (e) => {
      if (e) this.counts.responsesDropped++;
    });
    this.d.log.debug({ topic: a.topic, result: a.doc.code }, 'mqtt: answered');
  }

  private retained(topic: string, doc: unknown): OutMessage {
    return { topic, payload: JSON.stringify(doc), qos: 1, retain: true };
  }

  /** The log line repeats the event with its code, so the log tells the same story as the fleet. */
  emitEvent<T extends EventType>(type: T, fields: EventFields<T>, audit = false): void {
    const doc = event(type, Date.now(), fields);
    this.d.log.info({ event: type, ...fields }, 'mqtt: event');
    this.outbox.enqueue({
      topic: this.topics.evt(type),
      payload: JSON.stringify(doc),
      qos: 1,
      retain: false,
      expirySec: EVENT_EXPIRY_SEC,
      audit,
    });
    this.drain();
  }

  private async refreshState(): Promise<void> {
    try {
      const doc = await this.reporter.state(this.session);
      const { ts: _ts, ...rest } = doc;
      const key = JSON.stringify(rest);
      if (key === this.lastStateKey) return;
      this.lastStateKey = key;
      this.outbox.putLatest(this.retained(this.topics.state, doc));
      this.drain();
    } catch (e) {
      this.d.log.error({ code: 'MGMT_STATE_DOC_FAILED', err: e }, 'mqtt: building the state document failed');
    }
  }

  private sampleTelemetry(): void {
    const tele = (group: TelemetryGroup, doc: unknown): void =>
      this.outbox.putLatest({
        topic: this.topics.tele(group),
        payload: JSON.stringify(doc),
        qos: 0,
        retain: false,
        expirySec: this.config.telemetryIntervalSec * 10,
      });
    tele('dhcp', this.reporter.dhcp());
    tele('pools', this.reporter.poolsTelemetry());
    tele('storage', this.reporter.storageTelemetry());
    tele('uplink', {
      v: DOC_VERSION,
      ts: new Date().toISOString(),
      ...this.stats(),
      rssBytes: process.memoryUsage().rss,
      heapUsedBytes: process.memoryUsage().heapUsed,
    });
    this.drain();
  }

  /** One message at a time: bounded in-flight state in mqtt.js, and a natural pace after an outage. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    void (async () => {
      try {
        for (;;) {
          const client = this.link?.client;
          if (!client?.connected) return;
          const msg = this.outbox.take();
          if (!msg) return;
          const outcome = await client
            .publishAsync(msg.topic, msg.payload, {
              qos: msg.qos,
              retain: msg.retain,
              properties: { contentType: 'application/json', ...(msg.expirySec ? { messageExpiryInterval: msg.expirySec } : {}) },
            })
            .then(
              () => 'sent' as const,
              (e: Error & { code?: unknown }) => {
                this.d.log.warn({ code: 'MQTT_PUBLISH_FAILED', topic: msg.topic, err: e.message }, 'mqtt: publish failed');
                // A PUBACK reason code (e.g. 135, not authorized) will not change on a retry; a lost link will.
                return typeof e.code === 'number' ? ('refused' as const) : ('lost' as const);
              },
            );
          this.outbox.settle(msg, outcome !== 'lost');
          if (outcome === 'sent') this.counts.publishSent++;
          else this.counts.publishFailed++;
          if (outcome === 'lost') return;
          if (!msg.retain) await new Promise((r) => setTimeout(r, EVENT_SPACING_MS));
        }
      } finally {
        this.draining = false;
      }
    })();
  }
}

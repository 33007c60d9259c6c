// Management for twin6d: the commands it adds to the daemon's table (always,
// so twin6ctl has them too) and, while the config has an `mqtt` section, the
// uplink. A reload that adds, removes or changes that section stops the old
// uplink (saying offline) and starts the new one; DHCP service never waits on it.

import type { MqttConfig } from '../config/types.js';
import type { RecoveredTrial } from './config-files.js';
import { ConfigPusher } from './config-pusher.js';
import type { EventFields, EventType } from './documents.js';
import { registerManagementCommands } from './handlers.js';
import type { ManagementHost } from '../daemon/host.js';
import { NonceMemory } from './signature.js';
import type { Uplink } from './uplink.js';

export { COMMANDS, type CommandSpec } from './commands.js';
export type { StateDoc, OfflineDoc, EventDoc, ResponseDoc, FailoverStatus } from './documents.js';
export type { Uplink, UplinkStats } from './uplink.js';
export { recoverTrialAtStart, type RecoveredTrial } from './config-files.js';

export class Management {
  private uplinkNow: Uplink | undefined;
  private applied: string;
  /** Outlives every uplink, so signed commands stay single-use across reloads; empty at start, hence not-before = now. */
  private readonly nonces = new NonceMemory({ notBeforeSec: Math.floor(Date.now() / 1000), monoMs: () => performance.now() });

  /** Config push: outlives every uplink, since a push may replace the uplink during its own trial. */
  private readonly pusher: ConfigPusher;
  /** Events found while no uplink runs (a trial a restart ended): sent once one does. */
  private readonly early: { type: EventType; fields: EventFields<EventType> }[] = [];

  constructor(
    private readonly d: ManagementHost,
    private readonly recovered?: RecoveredTrial,
  ) {
    this.applied = key(d.config.mqtt);
    this.pusher = new ConfigPusher(d, {
      brokerConnected: () => this.uplinkNow?.stats().connected ?? false,
      publishReported: (doc) => this.uplinkNow?.publishReported(doc),
      emit: (type, fields) => {
        if (this.uplinkNow) this.uplinkNow.emitEvent(type, fields);
        else if (this.early.length < 16) this.early.push({ type, fields });
      },
      bound: () => d.bound,
    });
  }

  get uplink(): Uplink | undefined {
    return this.uplinkNow;
  }

  start(): this {
    registerManagementCommands(this.d, { uplinkStats: () => this.uplinkNow?.stats() });
    void this.pusher.init(this.recovered);
    this.startUplink(this.d.config.mqtt).catch((e: unknown) =>
      this.d.log.error({ code: 'MQTT_UPLINK_START_FAILED', err: e }, 'mqtt: uplink failed to start'),
    );
    this.d.on('config-reloaded', (config) => {
      const next = key(config.mqtt);
      if (next === this.applied) return;
      this.applied = next;
      void this.replace(config.mqtt);
    });
    this.d.onStop(() => this.uplinkNow?.stop('shutdown') ?? Promise.resolve());
    return this;
  }

  private async startUplink(config: MqttConfig | undefined): Promise<void> {
    if (!config) return;
    // Loaded only when configured: mqtt.js and its dependencies cost about 10 MiB of RSS on a router.
    const { Uplink } = await import('./uplink.js');
    this.uplinkNow = new Uplink(this.d, config, this.nonces, this.pusher);
    this.uplinkNow.start();
    for (const e of this.early.splice(0)) this.uplinkNow.emitEvent(e.type, e.fields);
    this.d.log.info(
      { code: 'MQTT_UPLINK_STARTED', broker: config.url, deviceId: config.deviceId, topics: this.uplinkNow.topics.root },
      'mqtt: uplink started',
    );
  }

  private async replace(config: MqttConfig | undefined): Promise<void> {
    const old = this.uplinkNow;
    this.uplinkNow = undefined;
    await old?.stop('uplink-stopped');
    await this.startUplink(config);
    if (!config) this.d.log.info({ code: 'MQTT_UPLINK_STOPPED' }, 'mqtt: uplink stopped (no mqtt section any more)');
  }
}

const key = (c: MqttConfig | undefined): string => JSON.stringify(c ?? null);

/** What twin6d calls once the daemon serves. */
export function startManagement(d: ManagementHost, recovered?: RecoveredTrial): Management {
  return new Management(d, recovered).start();
}

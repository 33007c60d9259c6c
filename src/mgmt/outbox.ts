// What waits to be published, bounded whatever the broker does (docs/fleet.md
// §4, §6). mqtt.js keeps every publish made while offline in unbounded memory,
// so the uplink never publishes while disconnected: everything goes through
// here, and the outbox decides what survives an outage.
//
// - latest-only slots (retained state, meta, one per telemetry group): a new
//   message replaces the waiting one. Telemetry counters are absolute, so the
//   latest sample makes older ones redundant and nothing is lost by dropping them.
// - a queue for events, bounded in count and bytes: when full, the oldest
//   non-audit event goes first; audit events go only when nothing else is left.
//   Every drop is counted and shows up in the uplink telemetry.

export interface OutMessage {
  readonly topic: string;
  readonly payload: string;
  readonly qos: 0 | 1;
  readonly retain: boolean;
  /** MQTT 5 Message Expiry Interval. */
  readonly expirySec?: number;
  /** Command audit events: the last kind of event to be dropped. */
  readonly audit?: boolean;
}

interface Entry {
  readonly msg: OutMessage;
  readonly bytes: number;
  readonly atMs: number;
  inFlight: boolean;
}

export interface OutboxLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

export interface OutboxStats {
  /** Messages waiting or in flight. */
  readonly depth: number;
  readonly bytes: number;
  readonly dropped: number;
  readonly droppedAudit: number;
  readonly oldestAgeSec: number;
}

const sizeOf = (m: OutMessage): number => Buffer.byteLength(m.payload) + Buffer.byteLength(m.topic) + 32;

export class Outbox {
  /** topic → the message waiting for it; at most one in flight besides. */
  private readonly slots = new Map<string, { waiting?: Entry; inFlight?: Entry }>();
  private readonly queue: Entry[] = [];
  private queueBytes = 0;
  private droppedCount = 0;
  private droppedAuditCount = 0;

  constructor(
    private readonly limits: OutboxLimits,
    private readonly nowMs: () => number,
  ) {}

  /** Replaces whatever waits for this topic. */
  putLatest(msg: OutMessage): void {
    const slot = this.slots.get(msg.topic) ?? {};
    slot.waiting = { msg, bytes: sizeOf(msg), atMs: this.nowMs(), inFlight: false };
    this.slots.set(msg.topic, slot);
  }

  enqueue(msg: OutMessage): void {
    const entry: Entry = { msg, bytes: sizeOf(msg), atMs: this.nowMs(), inFlight: false };
    if (entry.bytes > this.limits.maxBytes) {
      this.countDrop(entry);
      return;
    }
    this.queue.push(entry);
    this.queueBytes += entry.bytes;
    while (this.queue.length > this.limits.maxMessages || this.queueBytes > this.limits.maxBytes) {
      if (!this.dropOne()) break;
    }
  }

  private dropOne(): boolean {
    let i = this.queue.findIndex((e) => !e.inFlight && !e.msg.audit);
    if (i < 0) i = this.queue.findIndex((e) => !e.inFlight);
    if (i < 0) return false;
    const [gone] = this.queue.splice(i, 1);
    this.queueBytes -= gone!.bytes;
    this.countDrop(gone!);
    return true;
  }

  private countDrop(e: Entry): void {
    if (e.msg.audit) this.droppedAuditCount++;
    else this.droppedCount++;
  }

  /**
   * The next message to publish, marked in flight: retained slots (state, meta)
   * first, then telemetry slots, then events oldest first.
   * Call settle() with the outcome.
   */
  take(): OutMessage | undefined {
    for (const retained of [true, false]) {
      for (const slot of this.slots.values()) {
        if (slot.waiting && !slot.inFlight && slot.waiting.msg.retain === retained) {
          slot.inFlight = slot.waiting;
          slot.waiting = undefined;
          slot.inFlight.inFlight = true;
          return slot.inFlight.msg;
        }
      }
    }
    const e = this.queue.find((x) => !x.inFlight);
    if (!e) return undefined;
    e.inFlight = true;
    return e.msg;
  }

  /** Delivered: forget it. Not delivered: publish it again later, unless something newer replaced it. */
  settle(msg: OutMessage, delivered: boolean): void {
    const slot = this.slots.get(msg.topic);
    if (slot?.inFlight?.msg === msg) {
      const entry = slot.inFlight;
      slot.inFlight = undefined;
      if (!delivered && !slot.waiting) {
        entry.inFlight = false;
        slot.waiting = entry;
      }
      return;
    }
    const i = this.queue.findIndex((e) => e.msg === msg);
    if (i < 0) return;
    if (delivered) {
      const [gone] = this.queue.splice(i, 1);
      this.queueBytes -= gone!.bytes;
    } else {
      this.queue[i]!.inFlight = false;
    }
  }

  /** After a disconnect: whatever was in flight is waiting again. */
  requeueInFlight(): void {
    for (const slot of this.slots.values()) if (slot.inFlight) this.settle(slot.inFlight.msg, false);
    for (const e of this.queue) e.inFlight = false;
  }

  stats(): OutboxStats {
    let depth = this.queue.length;
    let bytes = this.queueBytes;
    let oldest = this.queue[0]?.atMs;
    for (const slot of this.slots.values()) {
      for (const e of [slot.waiting, slot.inFlight]) {
        if (!e) continue;
        depth++;
        bytes += e.bytes;
        if (oldest === undefined || e.atMs < oldest) oldest = e.atMs;
      }
    }
    return {
      depth,
      bytes,
      dropped: this.droppedCount,
      droppedAudit: this.droppedAuditCount,
      oldestAgeSec: oldest === undefined ? 0 : Math.max(0, Math.round((this.nowMs() - oldest) / 1000)),
    };
  }
}

// One simulated appliance: a MemoryDisk that outlives every incarnation, and
// the incarnation running on it — a MemoryLeaseStore over the disk, a SimHost
// with the real packet path, and the real FailoverEndpoint with a SimLink, the
// node's virtual timers and its own (skewed) wall clock. A crash kills the
// incarnation's timers, so a batch whose write had not finished never lands
// (the lease store's promise never resolves: no Reply, no BNDREPLY); a clean
// stop runs the daemon's shutdown path first.

import type { ServerConfig } from '../../config/types.js';
import { FailoverEndpoint } from '../../failover/endpoint.js';
import { MemoryDisk, MemoryLeaseStore } from '../../store/index.js';
import type { Datagram } from '../../net/dhcp-socket.js';
import type { EndpointStateName } from '../../failover/states.js';
import { SimHost, simLogger } from './host.js';
import { NodeTimers, type VirtualTime } from './time.js';
import { SimLink, type PartnerNet, type Side } from './partner-net.js';
import type { Prng } from './prng.js';
import type { Trace } from './trace.js';
import { LAN } from './config.js';
import type { Violation } from './ledger.js';

/** Wall-clock seconds at virtual time 0. */
export const EPOCH_SEC = 1_800_000_000;

export interface ServerWorld {
  readonly time: VirtualTime;
  readonly rng: Prng;
  readonly trace: Trace;
  readonly partnerNet: PartnerNet;
  readonly diskLatencyMeanMs: number;
  readonly writeFaultRate: number;
  /** The daemon exited on a store failure: its supervisor restarts it. */
  exited(server: SimServer, why: string): void;
  /** A reply datagram from this server to a client. */
  reply(server: SimServer, clientIndex: number, data: Uint8Array): void;
  /** Lease changes landed: the pair-wide check runs after this event. */
  committed(): void;
  violated(v: Violation): void;
}

interface Incarnation {
  readonly n: number;
  readonly timers: NodeTimers;
  host?: SimHost;
  endpoint?: FailoverEndpoint;
}

const LEVELS: Record<number, string> = { 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

export class SimServer {
  readonly disk = new MemoryDisk();
  /** This incarnation's clock offset from true time. */
  offsetMs = 0;
  /** The LAN side is cut: no client reaches it. lanSeenDown: and its interface says so (operstate). */
  lanCut = false;
  lanSeenDown = false;
  private inc: Incarnation | undefined;
  private boots = 0;
  downSinceMs: number | undefined = 0;

  constructor(
    readonly side: Side,
    readonly role: 'primary' | 'secondary',
    readonly config: ServerConfig,
    readonly serverDuid: Uint8Array,
    private readonly world: ServerWorld,
  ) {}

  nowSec(): number {
    return EPOCH_SEC + Math.floor((this.world.time.nowMs + this.offsetMs) / 1000);
  }

  get up(): boolean {
    return this.inc !== undefined;
  }

  /** The running endpoint, once started. */
  get endpoint(): FailoverEndpoint | undefined {
    return this.inc?.endpoint;
  }

  get host(): SimHost | undefined {
    return this.inc?.host;
  }

  get state(): EndpointStateName | undefined {
    return this.inc?.endpoint?.status().state;
  }

  async boot(): Promise<void> {
    const inc: Incarnation = { n: ++this.boots, timers: new NodeTimers(this.world.time) };
    this.inc = inc;
    this.downSinceMs = undefined;
    this.trace(`boot #${inc.n} (clock ${this.offsetMs >= 0 ? '+' : ''}${this.offsetMs} ms)`);
    this.disk.beforeWrite = () => this.diskWrite(inc);
    const store = new MemoryLeaseStore({ disk: this.disk, commitWindowMs: 0 });
    await store.open();
    if (this.inc !== inc) return;
    const log = simLogger((level, obj, msg) => this.logLine(inc, level, obj, msg));
    const host = new SimHost(this.config, store, this.serverDuid, log, { nowSec: () => this.nowSec() }, inc.timers, (e) =>
      this.world.exited(this, `store failed: ${e instanceof Error ? e.message : String(e)}`),
    );
    inc.host = host;
    host.on('leases-committed', () => this.world.committed());
    const endpoint = await FailoverEndpoint.start(host, this.config.failover!, {
      link: () => new SimLink(this.side, this.role, this.world.partnerNet, inc.timers, this.world.rng),
      timers: inc.timers,
      lanUp: () => !(this.lanCut && this.lanSeenDown),
    });
    if (this.inc !== inc) return;
    inc.endpoint = endpoint;
  }

  /** Power lost: nothing more happens in this incarnation; the disk keeps what landed. */
  crash(why: string): void {
    const inc = this.inc;
    if (!inc) return;
    this.trace(`CRASH (${why})`);
    inc.timers.kill();
    this.world.partnerNet.unregister(this.side, true);
    this.inc = undefined;
    this.downSinceMs = this.world.time.nowMs;
  }

  /** SIGTERM: the daemon's stop path (DISCONNECT, writes drained), then down. */
  async stop(): Promise<void> {
    const inc = this.inc;
    if (!inc?.host) return this.crash('stopped while booting');
    this.trace('clean stop');
    await inc.host.stop();
    if (this.inc !== inc) return;
    inc.timers.kill();
    this.world.partnerNet.unregister(this.side, false);
    this.inc = undefined;
    this.downSinceMs = this.world.time.nowMs;
  }

  /**
   * The operator's `failover maintenance enter|leave` on this incarnation, as
   * twin6ctl sends it; undefined while it is down or booting.
   */
  maintenance(action: 'enter' | 'leave'): Promise<unknown> | undefined {
    const command = this.inc?.host?.commands['failover.maintenance'];
    return command ? Promise.resolve(command({ action })) : undefined;
  }

  /**
   * A client's datagram arrives on the LAN interface. Invariant: one that
   * arrives while this server is in maintenance (handing over or handed over)
   * is never answered — the partner serves.
   */
  receive(clientIndex: number, data: Uint8Array): void {
    const host = this.inc?.host;
    if (!host || host.stopping) return;
    const inMaintenance = this.inc?.endpoint?.maintenanceMode ?? 'off';
    const d: Datagram = {
      data: Buffer.from(data),
      sourceAddress: `fe80::${(clientIndex + 1).toString(16)}`,
      sourcePort: 546,
      interface: LAN,
      unicast: false,
      reply: async (out) => {
        if (this.inc?.host !== host) return;
        if (inMaintenance !== 'off')
          this.world.violated({
            invariant: 'maintenance-silent',
            text: `${this.side} answered c${clientIndex}, whose message came in maintenance (${inMaintenance})`,
          });
        this.world.reply(this, clientIndex, out);
      },
    };
    host.packetPath.onDatagram(d);
  }

  /** One batch write: it takes disk time on this incarnation's timers, and sometimes fails. */
  private diskWrite(inc: Incarnation): Promise<void> {
    if (this.world.rng.chance(this.world.writeFaultRate)) return Promise.reject(new Error('injected write fault'));
    const ms = this.world.rng.exponential(this.world.diskLatencyMeanMs);
    return new Promise((resolve) => inc.timers.set(resolve, ms));
  }

  private logLine(inc: Incarnation, level: number, obj: unknown, msg: string | undefined): void {
    if (this.inc !== inc) return;
    const fields = obj && typeof obj === 'object' ? compact(obj as Record<string, unknown>) : '';
    this.trace(`${level > 30 ? `${LEVELS[level] ?? level} ` : ''}${msg ?? ''}${fields ? ` ${fields}` : ''}`);
  }

  private trace(text: string): void {
    this.world.trace.add(this.side, text);
  }
}

/** A log line's fields, short: errors by message, long values cut. */
function compact(o: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    const text = v instanceof Error ? v.message : typeof v === 'object' ? JSON.stringify(v) : String(v);
    parts.push(`${k}=${text.length > 80 ? `${text.slice(0, 77)}...` : text}`);
  }
  return parts.join(' ');
}

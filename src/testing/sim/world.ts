// The simulated world of one seed: virtual time, the two appliances (P the
// primary, S the secondary), their partner link, the client LAN and the
// clients. Everything random comes from the seed, through one forked PRNG per
// part so that a change in one part's draws does not reshuffle another's.

import { Prng } from './prng.js';
import { VirtualTime } from './time.js';
import { Trace } from './trace.js';
import type { SwarmOptions } from './faults.js';
import { PartnerNet, type Side } from './partner-net.js';
import { DhcpNet } from './dhcp-net.js';
import { SimServer } from './server.js';
import { SimClient } from './clients.js';
import { Ledger, type Violation } from './ledger.js';
import { MaintenanceWatch } from './maintenance-watch.js';
import { pairConfig } from './config.js';
import { StoreError } from '../../store/index.js';

const SIDES: readonly Side[] = ['P', 'S'];

function serverDuid(side: Side): Uint8Array {
  // DUID-LL (RFC 8415 §11.4) with a made-up MAC per appliance.
  return Uint8Array.from([0, 3, 0, 1, 0x02, 0, 0, 0, 0, side === 'P' ? 1 : 2]);
}

function clientDuid(index: number): Uint8Array {
  return Uint8Array.from([0, 3, 0, 1, 0x0a, 0, 0, 0, (index >> 8) & 0xff, index & 0xff]);
}

export class World {
  readonly time = new VirtualTime();
  readonly trace: Trace;
  readonly rng: { readonly faults: Prng; readonly net: Prng; readonly link: Prng; readonly clients: Prng; readonly servers: Prng };
  readonly partnerNet: PartnerNet;
  readonly dhcpNet: DhcpNet;
  readonly servers: Record<Side, SimServer>;
  readonly clients: SimClient[] = [];
  readonly ledger: Ledger;
  violation: Violation | undefined;
  /** Off once the liveness phase begins. */
  faultsOn = true;
  /** Some lease change landed since the last pair-wide check. */
  leasesChanged = false;
  /** The side an operator declared down (injector.ts), until the pair is back in NORMAL. */
  declaredDown: Side | undefined;
  /** Invariant 4: while one side is in maintenance the other serves. */
  readonly maintenanceWatch: MaintenanceWatch;

  constructor(
    readonly seed: number,
    readonly opts: SwarmOptions,
    echo?: (line: string) => void,
  ) {
    const root = new Prng(seed);
    root.u32(); // the options were drawn from an equal generator: start this one elsewhere
    this.rng = { faults: root.fork(), net: root.fork(), link: root.fork(), clients: root.fork(), servers: root.fork() };
    this.trace = new Trace(this.time, echo);
    // Whole-second clocks (1 s) and what two skewed clocks may disagree by.
    this.ledger = new Ledger(this.time, 1000 + 2 * opts.skewMaxMs, (v) => this.violated(v));
    this.partnerNet = new PartnerNet(
      this.time,
      this.rng.link,
      { delayMinMs: opts.linkDelayMinMs, delayMeanMs: opts.linkDelayMeanMs, codec: opts.codec },
      this.trace,
      (side) => this.servers[side].nowSec(),
    );
    this.dhcpNet = new DhcpNet(this.time, this.rng.net, opts, {
      toServer: (side, i, data) => this.servers[side].receive(i, data),
      toClient: (i, data) => this.clients[i]?.receive(data),
      lanCut: (side) => this.servers[side].lanCut,
    });
    const serverWorld = {
      time: this.time,
      rng: this.rng.servers,
      trace: this.trace,
      partnerNet: this.partnerNet,
      diskLatencyMeanMs: opts.diskLatencyMeanMs,
      writeFaultRate: opts.writeFaultRate,
      exited: (s: SimServer, why: string) => this.exited(s, why),
      reply: (s: SimServer, i: number, data: Uint8Array) => this.dhcpNet.fromServer(s.side, i, data),
      committed: () => void (this.leasesChanged = true),
      violated: (v: Violation) => this.violated(v),
    };
    this.servers = {
      P: new SimServer('P', 'primary', pairConfig(opts, 'primary'), serverDuid('P'), serverWorld),
      S: new SimServer('S', 'secondary', pairConfig(opts, 'secondary'), serverDuid('S'), serverWorld),
    };
    const clientWorld = {
      time: this.time,
      rng: this.rng.clients,
      trace: this.trace,
      ledger: this.ledger,
      send: (c: SimClient, bytes: Buffer) => this.dhcpNet.fromClient(c.index, bytes),
      serverName: (duid: Uint8Array) => (duid[9] === 1 ? 'P' : duid[9] === 2 ? 'S' : '?'),
      violated: (v: Violation) => this.violated(v),
      releasePerLease: opts.releasePerLease,
      rapidCommit: opts.rapidCommit,
    };
    for (let i = 0; i < opts.clients; i++) {
      const kind = this.rng.clients.int(4); // both twice as often as either alone
      const wants = { na: kind !== 2, pd: kind !== 1 };
      this.clients.push(new SimClient(i, clientDuid(i), wants, clientWorld));
    }
    this.maintenanceWatch = new MaintenanceWatch(this);
  }

  /** The first violation ends the run; undefined (a check that passed) is ignored. */
  violated(v: Violation | undefined): void {
    if (!v || this.violation) return;
    this.violation = v;
    this.trace.add('sim', `VIOLATION ${v.invariant}: ${v.text}`);
  }

  /** Both appliances boot, the clients arrive over the first fifth of the safety phase. */
  start(): void {
    for (const side of SIDES) {
      const s = this.servers[side];
      s.offsetMs = this.clockOffsetMs(side);
      this.time.after(this.rng.servers.between(0, 3000), () => this.boot(s));
    }
    for (const c of this.clients) this.time.after(this.rng.clients.between(1000, (this.opts.safetySec * 1000) / 5), () => c.start());
  }

  boot(s: SimServer): void {
    s.boot().catch((e: unknown) => {
      // A write that fails while the daemon starts makes twin6d exit; its supervisor starts it again.
      if (e instanceof StoreError) this.exited(s, `start failed: ${e.message}`);
      else this.violated({ invariant: 'crash', text: `${s.side} boot threw: ${stackOf(e)}` });
    });
  }

  /** A new incarnation's clock: within the RFC's tolerance, or (one side, in large-skew seeds) far ahead. */
  clockOffsetMs(side: Side): number {
    if (this.faultsOn && side === 'S' && this.opts.largeSkewSec > 0) return this.opts.largeSkewSec * 1000;
    const max = this.opts.skewMaxMs;
    return max === 0 ? 0 : this.rng.servers.between(-max, max);
  }

  restart(s: SimServer, afterMs: number): void {
    this.time.after(afterMs, () => {
      if (s.up) return;
      // An appliance the operator declared down comes back only where it can meet its partner
      // (in PARTNER-DOWN, §8.4): booted alone it would serve from its old state unawares.
      const partner = this.servers[s.side === 'P' ? 'S' : 'P'];
      if (this.declaredDown === s.side && !partner.up) return this.restart(s, 1000);
      s.offsetMs = this.clockOffsetMs(s.side);
      this.boot(s);
    });
  }

  /** The daemon exited (a failed write): its supervisor starts it again from what is on disk. */
  exited(s: SimServer, why: string): void {
    // Not from inside the failing call: the crash runs as its own event.
    this.time.after(0, () => {
      s.crash(why);
      this.restart(s, 1000);
    });
  }

  /** Liveness phase: every fault off, maintenance over, everyone back up, clocks put right (within the RFC's 5 s), clients quiet. */
  heal(): void {
    this.faultsOn = false;
    this.dhcpNet.faultsOn = false;
    this.dhcpNet.split.clear();
    for (const side of SIDES) {
      const s = this.servers[side];
      this.partnerNet.setBlocked(side, false);
      s.lanCut = false;
      s.lanSeenDown = false;
      // An operator fixes a far-off clock by stepping it back (ahead → behind only ever lengthens leases).
      if (Math.abs(s.offsetMs) > this.opts.skewMaxMs) s.offsetMs = 0;
      if (!s.up) this.restart(s, 0);
      // The operator ends any maintenance: the pair is to reach NORMAL.
      s.maintenance('leave')?.catch((e: unknown) =>
        this.violated({ invariant: 'crash', text: `${side} maintenance leave threw: ${stackOf(e)}` }),
      );
    }
    for (const c of this.clients) c.freeze();
    this.trace.add('sim', 'HEAL: faults off, everything up, clients quiet');
  }
}

export function stackOf(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message).split('\n').slice(0, 6).join(' | ') : String(e);
}

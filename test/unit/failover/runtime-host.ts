// What the runtime tests (runtime.test.ts, backpressure.test.ts) share: a
// small failover configuration, a partner link the test drives by hand, and
// a secondary endpoint its primary has just connected to.

import { EventEmitter } from 'node:events';
import { parseConfig } from '../../../src/config/index.js';
import type { Lease } from '../../../src/engine/index.js';
import { FailoverEndpoint } from '../../../src/failover/endpoint.js';
import { Replication } from '../../../src/failover/replication.js';
import type { PartnerConnector, Timers } from '../../../src/failover/host.js';
import type { Channel, FailoverPdu, LinkEvents } from '../../../src/failover/link.js';
import { FoMsgType, PROTOCOL_VERSION, type ConnectParams } from '../../../src/wire/failover/index.js';
import { MemoryLeaseStore, type MemoryLeaseStoreOptions } from '../../../src/store/index.js';
import { SimHost, simLogger } from '../../../src/testing/sim/host.js';
import { NodeTimers, VirtualTime } from '../../../src/testing/sim/time.js';

export const NOW = 1_800_000_000;

/** pdPool: a pool of /56s to delegate from (handoff.test.ts), none by default. */
export const runtimeConfig = (role: 'primary' | 'secondary', pd: { pool?: string; secondaryPdShare?: number } = {}) =>
  parseConfig({
    interfaces: ['lan0'],
    subnets: [
      {
        name: 'lan',
        interface: 'lan0',
        prefix: '2001:db8:1::/64',
        pools: ['2001:db8:1::10-2001:db8:1::1f'],
        ...(pd.pool ? { pdPools: [{ prefix: pd.pool, delegatedLength: 56 }] } : {}),
      },
    ],
    failover: {
      role,
      localAddress: 'fd00::1',
      peerAddress: 'fd00::2',
      insecure: true,
      mcltSec: 60,
      ...(pd.secondaryPdShare ? { secondaryPdShare: pd.secondaryPdShare } : {}),
    },
  });

/** No connection of its own: the test emits `up` and `pdu`. */
export class FakeLink extends EventEmitter<LinkEvents> implements PartnerConnector {
  private xid = 100;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  nextXid(): number {
    return ++this.xid;
  }
  hold(): void {}
  /** Connections the endpoint reported accepted (they reset the re-dial back-off, §6.1). */
  establishedCount = 0;
  established(): void {
    this.establishedCount++;
  }
}

/** A server DUID (DUID-LL, RFC 8415 §11.4) for the runtime tests; the second partner of a pair gets another. */
export const serverDuid = (n = 1): Uint8Array => Uint8Array.from([0, 3, 0, 1, 2, 0, 0, 0, 0, n]);

/**
 * The simulation's small daemon on a fresh memory store and virtual time; fatal: what the daemon would exit with.
 * A pair of them shares one virtual time (runtime-pair.ts) and has two server DUIDs.
 */
export async function runtimeHost(
  role: 'primary' | 'secondary',
  clock: { now: number },
  fatal: (e: unknown) => void = (e) => {
    throw e;
  },
  storeOptions: MemoryLeaseStoreOptions = {},
  config = runtimeConfig(role),
  shared: { readonly time?: VirtualTime; readonly duid?: Uint8Array } = {},
) {
  const time = shared.time ?? new VirtualTime();
  const timers = new NodeTimers(time);
  const store = new MemoryLeaseStore(storeOptions);
  await store.open();
  const h = new SimHost(
    config,
    store,
    shared.duid ?? serverDuid(),
    simLogger(() => undefined),
    { nowSec: () => clock.now },
    timers,
    fatal,
  );
  return { h, time, timers };
}

/** Runs every timer due in the next `sec` seconds, the clock moving along. */
export function runFor(time: VirtualTime, clock: { now: number }): (sec: number) => Promise<void> {
  return async (sec) => {
    const untilMs = time.nowMs + sec * 1000;
    for (let e = time.next(untilMs); e; e = time.next(untilMs)) {
      clock.now = NOW + Math.floor(time.nowMs / 1000);
      e.fn();
      await new Promise((r) => setImmediate(r));
    }
    clock.now = NOW + Math.floor(untilMs / 1000);
  };
}

/** What the primary's CONNECT carries in these tests (the partner's keepalive sets our CONTACT rate). */
export const connectParams = (keepaliveSec = 60): ConnectParams => ({
  protocolVersion: PROTOCOL_VERSION,
  mcltSec: 60,
  keepaliveSec,
  maxUnackedBndupd: 10,
  relationshipName: 'twin6',
  connectFlags: { fixedPdLength: true },
});

/** A channel that records what the endpoint sends and why it closed. */
export function fakeChannel() {
  const sent: FailoverPdu[] = [];
  const closed: string[] = [];
  const c: Channel = { secure: false, remote: 'fd00::2', send: (p) => void sent.push(p), close: (r) => void closed.push(r) };
  return { c, sent, closed };
}

/** A secondary endpoint on h whose primary has just connected and sent CONNECT stamped sentTimeSec. */
export async function secondaryConnectedAt(h: SimHost, timers: Timers, sentTimeSec = NOW) {
  const link = new FakeLink();
  const endpoint = await FailoverEndpoint.start(h, h.config.failover!, { link: () => link, lanUp: () => true, timers });
  const ch = fakeChannel();
  link.emit('up', ch.c);
  link.emit('pdu', { type: FoMsgType.CONNECT, transactionId: 1, sentTimeSec, content: connectParams() }, ch.c);
  return { link, ch, endpoint };
}

/**
 * Replication on h with a partner that is always reachable: what it sends lands in `sent`; window is how many
 * BNDUPDs may be outstanding; wait is how it waits for a busy store (at once by default). `stamped` wires it into
 * h's commits as the daemon does, so a committed lease is stamped pending and sent.
 */
export function replicationFor(h: SimHost, opts: { window?: number; wait?: (ms: number) => Promise<void>; stamped?: boolean } = {}) {
  const sent: FailoverPdu[] = [];
  let xid = 0;
  const r = new Replication(h, h.config.failover!, h.log, {
    send: (p) => void sent.push(p),
    nextXid: () => ++xid,
    canSend: () => true,
    window: () => opts.window ?? 10,
    strict: () => false,
    wait: opts.wait ?? (async () => undefined),
  });
  if (opts.stamped ?? true) {
    h.setCommitStamp((c) => r.stamp(c));
    h.on('leases-committed', (c, o) => r.committed(c, o));
  }
  return { r, sent };
}

/** An active IA_NA lease of the runtime config's subnet, granted at NOW for 60 s. */
export const naLease = (resource: string, over: Partial<Lease> = {}): Lease => ({
  resource,
  type: 'na',
  duid: '000300010a0b0c0d0e0f',
  iaid: 1,
  state: 'active',
  preferredSec: 30,
  validSec: 60,
  clttSec: NOW,
  expiresAtSec: NOW + 60,
  ...over,
});

// The failover runtime (endpoint.ts, replication.ts) on injected time, store
// and partner link — the interfaces of daemon/host.ts and failover/host.ts,
// with the simulation's small daemon (src/testing/sim/host.ts) and virtual timers. Each case
// is a bug the simulation found.

import { describe, expect, it } from 'vitest';
import {
  connectParams,
  FakeLink,
  fakeChannel,
  naLease,
  NOW,
  replicationFor,
  runtimeConfig,
  runtimeHost,
  secondaryConnectedAt as connectedAt,
} from './runtime-host.js';
import { FailoverEndpoint } from '../../../src/failover/endpoint.js';
import { DIAL_GAP_SEC_MAX, REDIAL_MS_MAX, REDIAL_MS_MIN, RedialBackoff, type FailoverPdu } from '../../../src/failover/link.js';
import type { Lease } from '../../../src/engine/index.js';
import {
  BindingStatus,
  bindingReplyFor,
  FoMsgType,
  FoStatusCode,
  PROTOCOL_VERSION,
  ServerState,
  type BindingUpdate,
  type Status,
} from '../../../src/wire/failover/index.js';
import { NodeTimers, VirtualTime } from '../../../src/testing/sim/time.js';

const host = (role: 'primary' | 'secondary', clock: { now: number }, fatal?: (e: unknown) => void, pd = false) =>
  runtimeHost(role, clock, fatal, {}, runtimeConfig(role, pd ? { pool: '2001:db8:8000::/48' } : {}));
const channel = fakeChannel;

const contact = (sentTimeSec: number): FailoverPdu => ({ type: FoMsgType.CONTACT, transactionId: 7, sentTimeSec, content: {} });

describe('clock skew on the partner link (RFC 8156 §7.1)', () => {
  /** A secondary whose partner has just connected and sent CONNECT stamped sentTimeSec. */
  async function secondaryConnectedAt(sentTimeSec: number) {
    const { h } = await host('secondary', { now: NOW });
    const { link, ch } = await connectedAt(h, new NodeTimers(new VirtualTime()), sentTimeSec);
    return { h, link, ch };
  }

  async function connectedSecondary() {
    const { h, link, ch } = await secondaryConnectedAt(NOW);
    await new Promise((r) => setImmediate(r));
    expect(ch.sent.map((p) => p.type)).toContain(FoMsgType.CONNECTREPLY);
    return { h, link, ch };
  }

  it('closes it, with the alarm, when the partner clock is behind by more than 5 s (§7.5.1: either direction)', async () => {
    const { h, link, ch } = await connectedSecondary();
    link.emit('pdu', contact(NOW - 5), ch.c);
    expect(ch.closed).toEqual([]);
    link.emit('pdu', contact(NOW - 8), ch.c);
    expect(ch.closed).toEqual(['clock skew -8 s']);
    expect(h.counters.get('failover.alarms.clock-skew')).toBe(1);
  });

  it('closes it, with the alarm, when the partner clock is ahead by more than 5 s', async () => {
    const { h, link, ch } = await connectedSecondary();
    link.emit('pdu', contact(NOW + 8), ch.c);
    expect(ch.closed).toEqual(['clock skew 8 s']);
    expect(h.counters.get('failover.alarms.clock-skew')).toBe(1);
  });

  it('still refuses a CONNECT from a clock far behind (§6.1.2)', async () => {
    const { ch } = await secondaryConnectedAt(NOW - 30);
    expect(ch.sent[0]).toMatchObject({ type: FoMsgType.CONNECTREPLY, content: { status: { code: FoStatusCode.ExcessiveTimeSkew } } });
    expect(ch.closed).toEqual(['clock skew -30 s']);
  });
});

describe('OPTION_F_CONNECT_FLAGS (RFC 8156 §6.1.2, §6.1.3)', () => {
  const params = (fixedPdLength: boolean) => ({
    protocolVersion: PROTOCOL_VERSION,
    mcltSec: 60,
    keepaliveSec: 60,
    maxUnackedBndupd: 10,
    relationshipName: 'twin6',
    connectFlags: { fixedPdLength },
  });

  async function endpoint(role: 'primary' | 'secondary') {
    const { h } = await host(role, { now: NOW }, undefined, true);
    const link = new FakeLink();
    await FailoverEndpoint.start(h, h.config.failover!, { link: () => link, lanUp: () => true, timers: new NodeTimers(new VirtualTime()) });
    const ch = channel();
    link.emit('up', ch.c);
    return { link, ch };
  }

  it('secondary: refuses a CONNECT from a partner that delegates prefixes of variable length, since every pool here has one', async () => {
    const { link, ch } = await endpoint('secondary');
    link.emit('pdu', { type: FoMsgType.CONNECT, transactionId: 1, sentTimeSec: NOW, content: params(false) }, ch.c);
    expect(ch.sent[0]).toMatchObject({ type: FoMsgType.CONNECTREPLY, content: { status: { code: FoStatusCode.ConfigurationConflict } } });
    expect(ch.closed).toHaveLength(1);
  });

  it('primary: sends DISCONNECT and drops a CONNECTREPLY that announces variable lengths', async () => {
    const { link, ch } = await endpoint('primary');
    link.emit('pdu', { type: FoMsgType.CONNECTREPLY, transactionId: 1, sentTimeSec: NOW, content: { params: params(false) } }, ch.c);
    expect(ch.sent.map((p) => p.type)).toEqual([FoMsgType.CONNECT, FoMsgType.DISCONNECT]);
    expect(ch.closed).toHaveLength(1);
  });

  it('accepts fixed lengths', async () => {
    const { link, ch } = await endpoint('primary');
    link.emit('pdu', { type: FoMsgType.CONNECTREPLY, transactionId: 1, sentTimeSec: NOW, content: { params: params(true) } }, ch.c);
    expect(ch.closed).toEqual([]);
  });
});

describe('re-dialling after a rejected connection (RFC 8156 §6.1)', () => {
  const params = {
    protocolVersion: PROTOCOL_VERSION,
    mcltSec: 60,
    keepaliveSec: 60,
    maxUnackedBndupd: 10,
    relationshipName: 'twin6',
    connectFlags: { fixedPdLength: true },
  };

  async function primaryAnswered(content: { params?: typeof params; status?: Status }) {
    const { h } = await host('primary', { now: NOW });
    const link = new FakeLink();
    await FailoverEndpoint.start(h, h.config.failover!, { link: () => link, lanUp: () => true, timers: new NodeTimers(new VirtualTime()) });
    const ch = channel();
    link.emit('up', ch.c);
    link.emit('pdu', { type: FoMsgType.CONNECTREPLY, transactionId: 1, sentTimeSec: NOW, content }, ch.c);
    return link.establishedCount;
  }

  it('starts the back-off over only for a connection the partner accepted, never for one it refused', async () => {
    expect(await primaryAnswered({ status: { code: FoStatusCode.ConfigurationConflict, message: 'no' } })).toBe(0);
    expect(await primaryAnswered({ params })).toBe(1);
  });

  it('keeps doubling the wait (jittered) up to its cap until reset', () => {
    const b = new RedialBackoff();
    const waits = Array.from({ length: 6 }, () => b.next(0.5));
    expect(waits).toEqual([REDIAL_MS_MIN, 2 * REDIAL_MS_MIN, 4 * REDIAL_MS_MIN, 8 * REDIAL_MS_MIN, REDIAL_MS_MAX, REDIAL_MS_MAX]);
    expect(b.next(0)).toBe(0.75 * REDIAL_MS_MAX);
    b.reset();
    expect(b.next(0.5)).toBe(REDIAL_MS_MIN);
  });
});

describe('a binding update the partner refuses (RFC 8156 §7.7)', () => {
  async function replication() {
    const { h } = await host('primary', { now: NOW });
    return { h, ...replicationFor(h) };
  }

  type Statuses = { whole?: Status; ia?: Status; lease?: Status };
  const outdated: Status = { code: FoStatusCode.OutdatedBindingInformation, message: 'our binding is newer' };

  async function sentAndAnswered(state: Lease['state'], statuses: Statuses) {
    const { h, r, sent } = await replication();
    const lease = naLease('2001:db8:1::11', { duid: '0a0b', state });
    await h.commit([{ op: 'put', lease }]);
    expect(sent).toHaveLength(1);
    const leaseAck = { address: lease.resource, preferredSec: 30, validSec: 60, ...(statuses.lease ? { status: statuses.lease } : {}) };
    const ia = { type: 'IA_NA' as const, iaid: 1, t1Sec: 0, t2Sec: 0, ...(statuses.ia ? { status: statuses.ia } : {}), leases: [leaseAck] };
    await r.onReply(sent[0]!.transactionId, { form: 'client', ...(statuses.whole ? { status: statuses.whole } : {}), ias: [ia] });
    return h.store.byResource(lease.resource)!;
  }
  const sentAndRefused = (state: Lease['state']) => sentAndAnswered(state, { lease: outdated });

  it('stays pending when it was a release: the partner holds a newer binding, and until it arrives the resource is neither reused nor forgotten', async () => {
    expect((await sentAndRefused('released')).fo?.pending).toBe(true);
    expect((await sentAndRefused('expired')).fo?.pending).toBe(true);
  });

  it('is recorded and settled when it was an active lease', async () => {
    expect((await sentAndRefused('active')).fo?.pending).toBe(false);
  });

  it('is refused by an error on the CLIENT_DATA or the IA, whatever the lease itself says (§7.6, §7.7)', async () => {
    const success: Status = { code: FoStatusCode.Success, message: 'fine' };
    expect((await sentAndAnswered('released', { whole: outdated, lease: success })).fo?.pending).toBe(true);
    expect((await sentAndAnswered('released', { ia: outdated, lease: success })).fo?.pending).toBe(true);
    expect((await sentAndAnswered('released', { whole: success, lease: success })).fo?.pending).toBe(false);
  });
});

describe('binding updates twin6 cannot store (RFC 8156 §7.4, §7.5.4)', () => {
  const state = {
    status: BindingStatus.ACTIVE,
    startTimeOfStateSec: NOW,
    stateExpirationTimeSec: NOW + 60,
    clientLastTransactionTimeSec: NOW,
    partnerLifetimeSec: NOW + 90,
  };
  const na = {
    type: 'IA_NA' as const,
    iaid: 1,
    t1Sec: 15,
    t2Sec: 24,
    leases: [{ address: '2001:db8:1::12', preferredSec: 30, validSec: 60, ...state }],
  };

  async function received(update: Omit<Extract<BindingUpdate, { form: 'client' }>, 'form' | 'clientDuid' | 'baseTimeSec'>) {
    const { h } = await host('secondary', { now: NOW });
    const { r, sent } = replicationFor(h, { stamped: false });
    await r.onUpdate(9, { form: 'client', clientDuid: Uint8Array.from([0x0a, 0x0b]), baseTimeSec: NOW, ...update });
    expect(sent).toHaveLength(1);
    return { h, reply: sent[0]! };
  }

  it('refuses a temporary address, never acknowledges and drops it: we lease no IA_TA', async () => {
    const { reply } = await received({ ias: [{ type: 'IA_TA', iaid: 1, leases: na.leases }] });
    expect(reply).toMatchObject({
      type: FoMsgType.BNDREPLY,
      transactionId: 9,
      content: { ias: [{ type: 'IA_TA', leases: [{ status: { code: FoStatusCode.ConfigurationConflict } }] }] },
    });
  });

  it('refuses client data over what a lease keeps, rather than acknowledge it and send back less', async () => {
    const { h, reply } = await received({ relayData: new Uint8Array(2000), ias: [na] });
    expect(reply).toMatchObject({
      type: FoMsgType.BNDREPLY,
      content: { ias: [{ leases: [{ status: { code: FoStatusCode.ConfigurationConflict } }] }] },
    });
    expect(h.store.byResource('2001:db8:1::12')).toBeUndefined();
  });

  it('refuses what the record format cannot hold (a prefix with bits past its length), and does not stop the daemon', async () => {
    const fatal: unknown[] = [];
    const { h } = await host('secondary', { now: NOW }, (e) => void fatal.push(e), true);
    const { r, sent } = replicationFor(h, { stamped: false });
    const bad = { prefix: '2001:db8:8000:1:0:2000::', prefixLength: 56, preferredSec: 30, validSec: 60, ...state };
    const good = { prefix: '2001:db8:8000:200::', prefixLength: 56, preferredSec: 30, validSec: 60, ...state };
    await r.onUpdate(9, {
      form: 'client',
      clientDuid: Uint8Array.from([0x0a, 0x0b]),
      baseTimeSec: NOW,
      ias: [{ type: 'IA_PD', iaid: 1, t1Sec: 15, t2Sec: 24, leases: [bad, good] }],
    });
    expect(fatal).toEqual([]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      type: FoMsgType.BNDREPLY,
      content: { ias: [{ leases: [{ status: { code: FoStatusCode.ConfigurationConflict } }, {}] }] },
    });
    expect(h.store.byResource('2001:db8:8000:200::/56')).toBeDefined();
    expect(h.store.size).toBe(1);
  });

  it('refuses a whole CLIENT_DATA for a VPN (OPTION_VSS), echoing the VSS: we configure none', async () => {
    const vss = Uint8Array.from([1, 0, 0, 0, 7]);
    const { h, reply } = await received({ vss, ias: [na] });
    expect(reply).toMatchObject({ type: FoMsgType.BNDREPLY, content: { vss, status: { code: FoStatusCode.ConfigurationConflict } } });
    expect(h.store.byResource('2001:db8:1::12')).toBeUndefined();
  });
});

describe('a failover state that cannot be made durable', () => {
  it('stops the daemon (to be restarted from disk) instead of carrying on with nothing sent (§8.1)', async () => {
    const clock = { now: NOW };
    const fatal: unknown[] = [];
    const { h, time, timers } = await host('primary', clock, (e) => void fatal.push(e));
    await FailoverEndpoint.start(h, h.config.failover!, { link: () => new FakeLink(), lanUp: () => true, timers });
    h.store.disk.beforeWrite = () => {
      throw new Error('disk gone');
    };
    clock.now += 10; // past the STARTUP timer: the next state must be persisted
    for (let e = time.next(10_000); e; e = time.next(10_000)) e.fn();
    await new Promise((r) => setImmediate(r));
    expect(fatal).toHaveLength(1);
    expect(String(fatal[0])).toContain('write-failed');
  });
});

describe('STARTUP of a secondary (RFC 8156 §8.3.2)', () => {
  it("lasts at least the primary's longest gap between dials, whatever the configured time", async () => {
    const clock = { now: NOW };
    const { h, time, timers } = await host('secondary', clock);
    expect(h.config.failover!.startupSec).toBeLessThan(DIAL_GAP_SEC_MAX);
    const e = await FailoverEndpoint.start(h, h.config.failover!, { link: () => new FakeLink(), lanUp: () => true, timers });
    const runTo = async (sec: number) => {
      clock.now = NOW + sec;
      for (let ev = time.next(sec * 1000); ev; ev = time.next(sec * 1000)) ev.fn();
      await new Promise((r) => setImmediate(r));
    };
    await runTo(DIAL_GAP_SEC_MAX);
    expect(e.status().state).toBe('STARTUP');
    await runTo(DIAL_GAP_SEC_MAX + 3);
    expect(e.status().state).not.toBe('STARTUP');
  });
});

describe('transaction ids (RFC 8156 §5.4)', () => {
  /** A link whose counter wraps after four ids, as the real one does after 2^24. */
  class WrappingLink extends FakeLink {
    private n = 0;
    override nextXid(): number {
      return (this.n++ % 4) + 1;
    }
  }

  it('an outstanding UPDREQ/UPDREQALL id is not reused before its UPDDONE, however often the counter wraps', async () => {
    const clock = { now: NOW };
    const { h, time, timers } = await host('primary', clock);
    const link = new WrappingLink();
    const e = await FailoverEndpoint.start(h, h.config.failover!, { link: () => link, lanUp: () => true, timers });
    const ch = fakeChannel();
    link.emit('up', ch.c);
    const connect = ch.sent.find((p) => p.type === FoMsgType.CONNECT)!;
    link.emit(
      'pdu',
      { type: FoMsgType.CONNECTREPLY, transactionId: connect.transactionId, sentTimeSec: NOW, content: { params: connectParams(4) } },
      ch.c,
    );
    const down = {
      serverState: ServerState.PARTNER_DOWN,
      serverFlags: { communicated: true, startup: false, ackStartup: false },
      startTimeOfStateSec: NOW - 100,
      partnerDownTimeSec: NOW - 100,
    };
    link.emit('pdu', { type: FoMsgType.STATE, transactionId: 9, sentTimeSec: NOW, content: down }, ch.c);
    await new Promise((r) => setImmediate(r));
    const request = ch.sent.find((p) => p.type === FoMsgType.UPDREQ || p.type === FoMsgType.UPDREQALL)!;
    expect(request).toBeDefined();
    const before = ch.sent.length;
    // CONTACTs every second (a quarter of the partner's keepalive) while the UPDDONE is awaited.
    for (let ev = time.next(10_000); ev; ev = time.next(10_000)) ev.fn();
    const later = ch.sent.slice(before);
    expect(later.length).toBeGreaterThanOrEqual(8);
    expect(later.map((p) => p.transactionId)).not.toContain(request.transactionId);
    link.emit('pdu', { type: FoMsgType.UPDDONE, transactionId: request.transactionId, sentTimeSec: NOW, content: {} }, ch.c);
    await new Promise((r) => setImmediate(r));
    expect(e.status().state).not.toBe('RECOVER');
  });
});

describe('answering an UPDREQ (RFC 8156 §5.3.5, §5.3.7)', () => {
  it('sends UPDDONE only once every change is acknowledged, those made while answering too', async () => {
    const { h } = await host('secondary', { now: NOW });
    const { r, sent } = replicationFor(h, { window: 1 });
    const lease = (a: string, duid: string): Lease => naLease(a, { duid });
    // Granted while the partner was away: pending, and the window holds one update at a time.
    await h.commit([{ op: 'put', lease: lease('2001:db8:1::12', '0a0b') }]);
    r.onRequest(500, false);
    // A lease granted after the UPDREQ arrived (still in PARTNER-DOWN, from the partner's pool).
    await h.commit([{ op: 'put', lease: lease('2001:db8:1::14', '0a0c') }]);
    // Acknowledge every BNDUPD as it comes, one at a time (window 1), until UPDDONE.
    const acked = new Set<number>();
    const ackedResources: string[] = [];
    for (let i = 0; i < 10 && !sent.some((p) => p.type === FoMsgType.UPDDONE); i++) {
      const bndupd = sent.find((p) => p.type === FoMsgType.BNDUPD && !acked.has(p.transactionId));
      if (!bndupd) break;
      acked.add(bndupd.transactionId);
      const update = bndupd.content as Extract<BindingUpdate, { form: 'client' }>;
      const ia = update.ias[0]!;
      ackedResources.push('address' in ia.leases[0]! ? ia.leases[0].address : '');
      await r.onReply(
        bndupd.transactionId,
        bindingReplyFor(update, () => undefined),
      );
      await new Promise((res) => setImmediate(res));
    }
    expect(sent.filter((p) => p.type === FoMsgType.UPDDONE).map((p) => p.transactionId)).toEqual([500]);
    // The lease made after the request was acknowledged before UPDDONE said "that is all".
    expect(ackedResources).toContain('2001:db8:1::14');
  });
});

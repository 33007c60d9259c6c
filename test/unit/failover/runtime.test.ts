// The failover runtime (endpoint.ts, replication.ts) on injected time, store
// and partner link — the interfaces of failover/host.ts, with the
// simulation's small daemon (src/sim/host.ts) and virtual timers. Each case
// is a bug the simulation found.

import { describe, expect, it } from 'vitest';
import { connectParams, FakeLink, fakeChannel, NOW, runtimeHost, secondaryConnectedAt as connectedAt } from './runtime-host.js';
import { FailoverEndpoint } from '../../../src/failover/endpoint.js';
import { Replication } from '../../../src/failover/replication.js';
import { DIAL_GAP_SEC_MAX, type FailoverPdu } from '../../../src/failover/link.js';
import type { Lease } from '../../../src/engine/index.js';
import { FoMsgType, FoStatusCode, ServerState } from '../../../src/wire/failover/index.js';
import { NodeTimers, VirtualTime } from '../../../src/sim/time.js';

const host = runtimeHost;


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

  it('keeps a connection whose message merely arrived late (it looks like a partner clock behind ours)', async () => {
    const { h, link, ch } = await connectedSecondary();
    link.emit('pdu', contact(NOW - 8), ch.c);
    expect(ch.closed).toEqual([]);
    expect(h.counters.get('failover.alarms.clock-skew')).toBe(0);
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

describe('a binding update the partner refuses (RFC 8156 §7.7)', () => {
  async function sentAndRefused(state: Lease['state']) {
    const { h } = await host('primary', { now: NOW });
    const sent: FailoverPdu[] = [];
    let xid = 0;
    const r = new Replication(h, h.config.failover!, h.log, { send: (p) => void sent.push(p), nextXid: () => ++xid, canSend: () => true, window: () => 10, strict: () => false, wait: async () => undefined });
    h.setCommitStamp((c) => r.stamp(c));
    h.on('leases-committed', (c, o) => r.committed(c, o));
    const lease: Lease = { resource: '2001:db8:1::11', type: 'na', duid: '0a0b', iaid: 1, state, preferredSec: 30, validSec: 60, clttSec: NOW, expiresAtSec: NOW + 60 };
    await h.commit([{ op: 'put', lease }]);
    expect(sent).toHaveLength(1);
    const status = { code: FoStatusCode.OutdatedBindingInformation, message: 'our binding is newer' };
    await r.onReply(sent[0]!.transactionId, { form: 'client', ias: [{ type: 'IA_NA', iaid: 1, t1Sec: 0, t2Sec: 0, leases: [{ address: lease.resource, preferredSec: 30, validSec: 60, status }] }] });
    return h.store.byResource(lease.resource)!;
  }

  it('stays pending when it was a release: the partner holds a newer binding, and until it arrives the resource is neither reused nor forgotten', async () => {
    expect((await sentAndRefused('released')).fo?.pending).toBe(true);
    expect((await sentAndRefused('expired')).fo?.pending).toBe(true);
  });

  it('is recorded and settled when it was an active lease', async () => {
    expect((await sentAndRefused('active')).fo?.pending).toBe(false);
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
    link.emit('pdu', { type: FoMsgType.CONNECTREPLY, transactionId: connect.transactionId, sentTimeSec: NOW, content: { params: connectParams(4) } }, ch.c);
    const down = { serverState: ServerState.PARTNER_DOWN, serverFlags: { communicated: true, startup: false, ackStartup: false }, startTimeOfStateSec: NOW - 100, partnerDownTimeSec: NOW - 100 };
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

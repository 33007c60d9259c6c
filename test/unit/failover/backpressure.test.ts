// A store that answers 'busy' (more changes wait for the disk than it holds,
// src/store/commit-queue.ts pendingChangesMax) is behind, not broken: the
// reclaim loop, the binding updates from the partner and the endpoint's own
// state record must wait for it and carry on, never stop the daemon. The
// disk is held with MemoryDisk.beforeWrite; time is virtual.

import { describe, expect, it } from 'vitest';
import { FakeLink, naLease, NOW, replicationFor, runFor, runtimeHost, secondaryConnectedAt } from './runtime-host.js';
import { FailoverEndpoint } from '../../../src/failover/endpoint.js';
import type { FailoverPdu } from '../../../src/failover/link.js';
import { updateFor } from '../../../src/failover/bindings.js';
import { decodeEndpointRecord } from '../../../src/failover/state-record.js';
import type { Lease } from '../../../src/engine/index.js';
import type { MemoryLeaseStore } from '../../../src/store/index.js';
import { bindingReplyFor, FoMsgType, type BindingUpdate } from '../../../src/wire/failover/index.js';

/** Changes the store lets wait for the disk before it answers 'busy'. */
const BUSY_LIMIT = 2;

const settle = () => new Promise((r) => setImmediate(r));

async function node(role: 'primary' | 'secondary') {
  const clock = { now: NOW };
  const fatal: unknown[] = [];
  const { h, time, timers } = await runtimeHost(role, clock, (e) => void fatal.push(e), { pendingChangesMax: BUSY_LIMIT });
  const store = h.store;
  const run = runFor(time, clock);
  return { h, store, timers, fatal, clock, run };
}

/**
 * Holds the disk: one write stays in flight and BUSY_LIMIT changes wait
 * behind it, so the next write is refused with 'busy'. Returns the release.
 */
async function holdDisk(store: MemoryLeaseStore): Promise<() => void> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  store.disk.beforeWrite = () => held;
  void store.putMeta('fill-0', Uint8Array.of(0));
  await settle(); // that write is in flight now, held
  for (let i = 1; i <= BUSY_LIMIT; i++) void store.putMeta(`fill-${i}`, Uint8Array.of(i));
  expect(store.stats().pendingChanges).toBe(BUSY_LIMIT);
  await expect(store.putMeta('probe', Uint8Array.of(9))).rejects.toThrow(/busy/);
  return () => {
    store.disk.beforeWrite = undefined;
    release();
  };
}

const lease = naLease;

describe('a store behind its disk (busy) does not stop the daemon', () => {
  it('reclaim: the ended leases wait for the next tick, counted, and are reclaimed once the disk catches up', async () => {
    const { h, store, fatal, run } = await node('primary');
    await store.apply([{ op: 'put', lease: lease('2001:db8:1::11', { expiresAtSec: NOW - 10, clttSec: NOW - 70 }) }]);
    const release = await holdDisk(store);
    await run(3);
    expect(fatal).toEqual([]);
    expect(h.counters.get('deferred.store-busy.reclaim')).toBeGreaterThan(0);
    expect(store.byResource('2001:db8:1::11')?.state).toBe('active');
    release();
    await run(2);
    expect(fatal).toEqual([]);
    expect(h.counters.get('leases.reclaimed')).toBe(1);
    expect(store.byResource('2001:db8:1::11')?.state ?? 'gone').not.toBe('active');
  });

  /** A secondary whose primary has connected (CONNECT answered), and what it sends back. */
  async function connectedSecondary() {
    const n = await node('secondary');
    const { link, ch } = await secondaryConnectedAt(n.h, n.timers);
    await settle();
    const fromPartner = (pdu: FailoverPdu) => link.emit('pdu', pdu, ch.c);
    return { ...n, sent: ch.sent, fromPartner };
  }

  it("a partner's BNDUPD: not answered while the disk is behind, then committed and answered (§7.5.2)", async () => {
    const { h, store, fatal, run, sent, fromPartner, clock } = await connectedSecondary();
    const release = await holdDisk(store);
    const theirs = lease('2001:db8:1::12', {
      fo: {
        pending: true,
        partnerLifetimeSec: NOW + 60,
        ackedPartnerLifetimeSec: 0,
        expirationTimeSec: 0,
        startOfStateSec: NOW,
      } as Lease['fo'],
    });
    fromPartner({ type: FoMsgType.BNDUPD, transactionId: 4242, sentTimeSec: clock.now, content: updateFor(theirs, clock.now, 0) });
    await run(1);
    expect(fatal).toEqual([]);
    expect(h.counters.get('deferred.store-busy.bndupd')).toBeGreaterThan(0);
    expect(sent.filter((p) => p.type === FoMsgType.BNDREPLY)).toEqual([]);
    release();
    await run(1);
    expect(fatal).toEqual([]);
    expect(store.byResource('2001:db8:1::12')?.duid).toBe(theirs.duid);
    const replies = sent.filter((p) => p.type === FoMsgType.BNDREPLY);
    expect(replies.map((p) => p.transactionId)).toEqual([4242]);
    expect(JSON.stringify(replies[0]!.content)).not.toContain('"code"');
  });

  it("the partner's BNDREPLY: the acknowledgement is recorded once the disk catches up", async () => {
    const { h, store, timers, fatal, run } = await node('primary');
    const { r, sent } = replicationFor(h, { wait: (ms) => new Promise<void>((r) => timers.set(r, ms)) });
    await h.commit([{ op: 'put', lease: lease('2001:db8:1::13') }]);
    expect(store.byResource('2001:db8:1::13')?.fo?.pending).toBe(true);
    const release = await holdDisk(store);
    const acked = r.onReply(sent[0]!.transactionId, bindingReplyFor(sent[0]!.content as BindingUpdate));
    await run(1);
    expect(fatal).toEqual([]);
    expect(h.counters.get('deferred.store-busy.ack')).toBeGreaterThan(0);
    release();
    await run(1);
    await acked;
    expect(fatal).toEqual([]);
    expect(store.byResource('2001:db8:1::13')?.fo?.pending).toBe(false);
  });

  it('the endpoint state record: the transition waits for the disk, and its record lands', async () => {
    const { h, store, timers, fatal, run, clock } = await node('primary');
    await FailoverEndpoint.start(h, h.config.failover!, { link: () => new FakeLink(), lanUp: () => true, timers });
    const stored = () => {
      const d = decodeEndpointRecord(store.getMeta('failover-endpoint')!);
      return d.ok ? d.value.state : `unreadable: ${d.reason}`;
    };
    expect(stored()).toBe('STARTUP');
    const release = await holdDisk(store);
    clock.now += 10;
    await run(10); // the STARTUP timer expires: RECOVER must be persisted
    expect(fatal).toEqual([]);
    expect(h.counters.get('deferred.store-busy.failover-state')).toBeGreaterThan(0);
    expect(stored()).toBe('STARTUP');
    release();
    await run(1);
    expect(fatal).toEqual([]);
    expect(stored()).toBe('RECOVER');
  });
});

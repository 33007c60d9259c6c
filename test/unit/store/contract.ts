// The LeaseStore contract (MQTT.js test/node/abstract_store.ts style): every
// implementation runs this same suite through a harness that knows its backing.

import { AssertionError } from 'node:assert';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommitOptions, LeaseStore } from '../../../src/store/index.js';
import { StoreError, encodeLease, leaseKey } from '../../../src/store/index.js';
import { NOW_SEC, del, duidOf, naLease, naResource, pdLease, put, rejectionOf, sleep, tick } from './helpers.js';

export interface StoreHarness {
  /** A store over this harness's durable backing, not opened; each call models a restart. */
  create(options?: CommitOptions): LeaseStore;
  /** From now on, every write of the last created store fails (after ~10 ms) and lands nothing. */
  failWrites(error: Error): void;
  /** Puts a raw record into the backing while no store has it open. */
  writeRaw(key: Uint8Array, value: Uint8Array): Promise<void>;
  cleanup(): Promise<void>;
}

export function describeLeaseStore(name: string, makeHarness: () => Promise<StoreHarness> | StoreHarness): void {
  describe(`LeaseStore contract: ${name}`, () => {
    let h: StoreHarness;
    const open: LeaseStore[] = [];
    const start = async (options?: CommitOptions): Promise<LeaseStore> => {
      const s = h.create(options);
      open.push(s);
      await s.open();
      return s;
    };
    const restart = async (s: LeaseStore, options?: CommitOptions): Promise<LeaseStore> => {
      await s.close();
      return start(options);
    };

    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => undefined);
      await h.cleanup();
    });

    it('opens empty with a clean report', async () => {
      const s = h.create();
      open.push(s);
      const report = await s.open();
      expect(report).toMatchObject({ leases: 0, metaKeys: 0, lastSeq: 0, corrupt: { count: 0, keys: [] } });
      expect(s.size).toBe(0);
      expect([...s.all()]).toEqual([]);
    });

    it('serves a change before its batch is durable (no double allocation while in flight)', async () => {
      const s = await start({ commitWindowMs: 50 });
      const a = naLease(1);
      const p = s.apply([put(a)]);
      expect(s.byResource(a.resource)).toEqual(a);
      expect(s.byIa(a.duid, a.iaid, 'na')).toEqual([a]);
      expect(s.stats().pendingChanges).toBe(1);
      await p;
      expect(s.stats()).toMatchObject({ batchesWritten: 1, changesWritten: 1, pendingChanges: 0 });
    });

    it('returns a committed binding after close and reopen, with identical fields', async () => {
      let s = await start();
      const leases = [
        naLease(1),
        naLease(2, { state: 'declined' }),
        pdLease(3, { state: 'released', validSec: 0xffff_ffff, expiresAtSec: NOW_SEC + 0xffff_ffff }),
      ];
      await s.apply(leases.map(put));
      s = await restart(s);
      expect(s.size).toBe(3);
      for (const l of leases) expect(s.byResource(l.resource)).toEqual(l);
    });

    it("keeps a lease's failover state through the index and a reopen, and drops it when a put has none", async () => {
      let s = await start();
      const fo = {
        pending: true,
        partnerLifetimeSec: NOW_SEC + 9000,
        ackedPartnerLifetimeSec: NOW_SEC + 100,
        expirationTimeSec: 0,
        startOfStateSec: NOW_SEC,
      };
      const withFo = naLease(7, { fo });
      await s.apply([put(withFo), put(pdLease(8))]);
      expect(s.byResource(withFo.resource)).toEqual(withFo);
      s = await restart(s);
      expect(s.byResource(withFo.resource)).toEqual(withFo);
      expect(s.byIa(withFo.duid, withFo.iaid, 'na')).toEqual([withFo]);
      await s.apply([put(naLease(7))]);
      expect(s.byResource(withFo.resource)?.fo).toBeUndefined();
    });

    it('keeps byIa consistent across puts, IA moves and deletes', async () => {
      const s = await start();
      const duid = duidOf(9);
      const a = naLease(1, { duid, iaid: 5 });
      const b = naLease(2, { duid, iaid: 5 });
      const c = naLease(3, { duid, iaid: 6 });
      const d = pdLease(4, { duid, iaid: 5 });
      await s.apply([a, b, c, d].map(put));
      expect(new Set(s.byIa(duid, 5, 'na'))).toEqual(new Set([a, b].map((l) => expect.objectContaining(l))));
      expect(s.byIa(duid, 5, 'na')).toHaveLength(2);
      expect(s.byIa(duid, 6, 'na')).toEqual([c]);
      expect(s.byIa(duid, 5, 'pd')).toEqual([d]);
      expect(s.byIa(duid, 7, 'na')).toEqual([]);
      // The same resource re-bound to another client leaves the first one's IA.
      const moved = { ...b, duid: duidOf(10), iaid: 1 };
      await s.apply([put(moved)]);
      expect(s.byIa(duid, 5, 'na')).toEqual([a]);
      expect(s.byIa(duidOf(10), 1, 'na')).toEqual([moved]);
      await s.apply([del(a.resource)]);
      expect(s.byIa(duid, 5, 'na')).toEqual([]);
      expect(s.byIa(duid, 6, 'na')).toEqual([c]);
    });

    it('removes a deleted lease from every index, and the delete survives reopen', async () => {
      let s = await start();
      const a = naLease(1, { expiresAtSec: NOW_SEC - 10 });
      const b = naLease(2, { expiresAtSec: NOW_SEC - 5 });
      await s.apply([put(a), put(b)]);
      await s.apply([del(a.resource)]);
      const check = (st: LeaseStore): void => {
        expect(st.byResource(a.resource)).toBeUndefined();
        expect(st.byIa(a.duid, a.iaid, 'na')).toEqual([]);
        expect(st.dueBefore(NOW_SEC, 10)).toEqual([b]);
        expect(st.size).toBe(1);
        expect([...st.all()]).toEqual([b]);
      };
      check(s);
      s = await restart(s);
      check(s);
    });

    it('does not write a put identical to the lease it holds', async () => {
      const s = await start();
      const a = naLease(1);
      await s.apply([put(a)]);
      await s.apply([put({ ...a })]);
      await s.apply([put(a), put(naLease(2))]);
      expect(s.stats()).toMatchObject({ changesWritten: 2, unchangedSkipped: 2, syncs: 2 });
      await s.apply([put({ ...a, clttSec: a.clttSec + 1 })]);
      expect(s.stats().changesWritten).toBe(3);
    });

    it('deleting an unknown resource is harmless', async () => {
      const s = await start();
      await s.apply([del(naResource(42))]);
      expect(s.size).toBe(0);
    });

    it('dueBefore: soonest first, ties by resource, at most limit, and reading consumes nothing', async () => {
      const s = await start();
      const e = [30, 10, 20, 10, 50].map((ago, i) => naLease(i, { expiresAtSec: NOW_SEC - ago }));
      const future = naLease(9, { expiresAtSec: NOW_SEC + 1 });
      await s.apply([...e, future].map(put));
      const due = s.dueBefore(NOW_SEC, 100).map((l) => l.resource);
      expect(due).toEqual([e[4]!, e[0]!, e[2]!, e[1]!, e[3]!].map((l) => l.resource));
      expect(s.dueBefore(NOW_SEC, 2)).toEqual([e[4], e[0]]);
      expect(s.dueBefore(NOW_SEC, 100).map((l) => l.resource)).toEqual(due);
      expect(s.dueBefore(NOW_SEC - 40, 100)).toEqual([e[4]]);
      expect(s.dueBefore(NOW_SEC + 1, 100)).toHaveLength(6);
      expect(s.dueBefore(NOW_SEC, 0)).toEqual([]);
    });

    it('dueBefore follows state changes, renewals and re-adds', async () => {
      const s = await start();
      const a = naLease(1, { expiresAtSec: NOW_SEC - 1 });
      await s.apply([put(a)]);
      const expired = { ...a, state: 'expired' as const };
      await s.apply([put(expired)]); // same expiry, new state
      expect(s.dueBefore(NOW_SEC, 10)).toEqual([expired]);
      await s.apply([put({ ...a, expiresAtSec: NOW_SEC + 3600 })]); // renewed
      expect(s.dueBefore(NOW_SEC, 10)).toEqual([]);
      await s.apply([del(a.resource)]);
      await s.apply([put(a)]); // back with its first expiry: listed once
      expect(s.dueBefore(NOW_SEC, 10)).toEqual([a]);
    });

    it('groups concurrent applies into far fewer syncs than changes, and all of them land', async () => {
      let s = await start({ commitWindowMs: 5 });
      const n = 1000;
      const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => s.apply([put(naLease(i))])));
      expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
      const st = s.stats();
      expect(st.changesWritten).toBe(n);
      expect(st.syncs).toBeLessThanOrEqual(10);
      s = await restart(s);
      expect(s.size).toBe(n);
      for (let i = 0; i < n; i += 97) expect(s.byResource(naResource(i))).toEqual(naLease(i));
    });

    it('writes a change that finds it quiet at once; the next, however many changes wait, not before commitWindowMs after that write started', async () => {
      const s = await start({ commitWindowMs: 200 });
      const t0 = Date.now();
      await s.apply([put(naLease(1))]);
      expect(s.stats()).toMatchObject({ syncs: 1, pendingChanges: 0 });
      const group = Array.from({ length: 100 }, (_, i) => s.apply([put(naLease(2 + i))]));
      await tick();
      expect(s.stats()).toMatchObject({ inFlightChanges: 0, pendingChanges: 100, syncs: 1 }); // a big group waits too
      await Promise.all(group);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(195);
      expect(s.stats()).toMatchObject({ syncs: 2, lastBatchSize: 100 });
    });

    it('never syncs on a timer while idle', async () => {
      const s = await start({ commitWindowMs: 2 });
      await s.apply([put(naLease(1))]);
      await sleep(30);
      expect(s.stats().syncs).toBe(1);
    });

    it('apply([]) resolves once earlier changes are durable', async () => {
      const s = await start({ commitWindowMs: 20 });
      await s.apply([]);
      void s.apply([put(naLease(1))]);
      await s.apply([]);
      expect(s.stats().changesWritten).toBe(1);
    });

    it('close() writes what waits before closing', async () => {
      let s = await start({ commitWindowMs: 60_000 });
      await s.apply([put(naLease(0))]); // written at once; what follows waits out the window
      const p = s.apply([put(naLease(1)), put(pdLease(2))]);
      expect(s.stats().pendingChanges).toBe(2);
      s = await restart(s);
      await p;
      expect(s.size).toBe(3);
    });

    it('answers busy, applying nothing, once pendingChangesMax changes wait; the store stays usable', async () => {
      const s = await start({ commitWindowMs: 60_000, pendingChangesMax: 3 });
      await s.apply([put(naLease(0))]); // written at once; what follows waits out the window
      const ok = s.apply([put(naLease(1)), put(naLease(2))]);
      const busy = await rejectionOf(s.apply([put(naLease(3)), put(naLease(4))]));
      expect(busy).toBeInstanceOf(StoreError);
      expect(busy).toMatchObject({ code: 'busy' });
      expect(s.byResource(naResource(3))).toBeUndefined();
      const third = s.putMeta('a', Uint8Array.of(1)); // 3 waiting: at the limit, not over it
      expect(await rejectionOf(s.putMeta('b', Uint8Array.of(1)))).toMatchObject({ code: 'busy' });
      expect(s.getMeta('b')).toBeUndefined();
      expect(s.stats().state).toBe('open');
      await s.close(); // flushes what waits
      await Promise.all([ok, third]);
    });

    it('refuses a change it cannot store, applying nothing from that call', async () => {
      const s = await start();
      const good = naLease(1);
      const bad: Array<[string, ReturnType<typeof naLease>]> = [
        ['non-canonical address', naLease(2, { resource: '2001:DB8:1::1001' })],
        ['IA_NA with a prefix length', naLease(2, { resource: `${naResource(2)}/64` })],
        ['IA_PD without a length', pdLease(2, { resource: naResource(2) })],
        ['host bits under the prefix', pdLease(2, { resource: '2001:db8:8000:1::/56' })],
        ['odd-length duid', naLease(2, { duid: 'abc' })],
        ['uppercase duid', naLease(2, { duid: 'ABCD' })],
        ['iaid beyond u32', naLease(2, { iaid: 2 ** 32 })],
        ['fractional expiry', naLease(2, { expiresAtSec: 1.5 })],
        ['unknown state', naLease(2, { state: 'bound' as never })],
      ];
      for (const [why, lease] of bad) {
        // A typed refusal the daemon can shed, with the failed check as its cause.
        const e = await rejectionOf(s.apply([put(good), put(lease)]));
        expect(e, why).toBeInstanceOf(StoreError);
        expect((e as StoreError).code, why).toBe('rejected');
        expect((e as StoreError).cause, why).toBeInstanceOf(AssertionError);
      }
      const del_ = await rejectionOf(s.apply([del('not-an-address')]));
      expect(del_).toBeInstanceOf(StoreError);
      expect((del_ as StoreError).code).toBe('rejected');
      expect(s.size).toBe(0);
      expect(s.stats().pendingChanges).toBe(0);
    });

    it('keeps metadata durably', async () => {
      let s = await start();
      expect(s.getMeta('server-duid')).toBeUndefined();
      const duid = Uint8Array.from([0, 1, 0, 1, 0x2f, 0x1c, 0x2d, 0x3e, 0, 0x50, 0x56, 0, 0, 1]);
      const p = s.putMeta('server-duid', duid);
      expect(s.getMeta('server-duid')).toEqual(duid);
      await p;
      await s.putMeta('failover.state', Uint8Array.of(3));
      await s.putMeta('failover.state', Uint8Array.of(4));
      s = await restart(s);
      expect(s.getMeta('server-duid')).toEqual(duid);
      expect(s.getMeta('failover.state')).toEqual(Uint8Array.of(4));
      expect(await rejectionOf(s.putMeta('bad name', Uint8Array.of(1)))).toBeInstanceOf(AssertionError);
    });

    it('continues the batch sequence across restarts, deletes included', async () => {
      let s = await start();
      await s.apply([put(naLease(1))]);
      await s.apply([put(naLease(2))]);
      await s.apply([del(naResource(2))]);
      const seq = s.stats().lastSeq;
      expect(seq).toBe(3);
      s = await restart(s);
      expect(s.stats().lastSeq).toBe(seq);
      await s.apply([del(naResource(1))]); // removes the last record that carried a seq
      s = await restart(s);
      expect(s.stats().lastSeq).toBe(seq + 1);
    });

    it('on a failed write rejects every waiting apply and every later one, and reports nothing committed', async () => {
      const s = await start({ commitWindowMs: 0 });
      await s.apply([put(naLease(1))]);
      const before = s.stats();
      h.failWrites(new Error('EIO: injected'));
      const first = s.apply([put(naLease(2))]);
      await tick(); // the first batch is now in flight; these wait behind it
      const waiting = [s.apply([put(naLease(3))]), s.putMeta('x', Uint8Array.of(1)), s.apply([])];
      const errors = await Promise.all([first, ...waiting].map(rejectionOf));
      for (const e of errors) expect(e).toMatchObject({ name: 'StoreError', code: 'write-failed' });
      expect((errors[0] as StoreError).cause).toMatchObject({ message: 'EIO: injected' });
      expect(s.stats()).toMatchObject({ state: 'failed', changesWritten: before.changesWritten, syncs: before.syncs });
      const later = await rejectionOf(s.apply([put(naLease(4))]));
      expect(later).toBeInstanceOf(StoreError);
      expect(later).toMatchObject({ code: 'store-failed' });
      expect(await rejectionOf(s.putMeta('y', Uint8Array.of(1)))).toMatchObject({ code: 'store-failed' });
      const s2 = await restart(s);
      expect([...s2.all()].map((l) => l.resource)).toEqual([naResource(1)]);
    });

    it('reports records that fail their check and does not serve them', async () => {
      let s = await start();
      await s.apply([0, 1, 2].map((i) => put(naLease(i))));
      await s.close();
      const { key, value } = encodeLease(naLease(1), 1);
      const flipped = Buffer.from(value);
      flipped[10]! ^= 0x04; // a bit flip inside validSec
      await h.writeRaw(key, flipped);
      const future = Buffer.from(encodeLease(naLease(2), 1).value);
      future[0] = 9; // a record version this build does not know
      await h.writeRaw(leaseKey(naResource(2)), future);
      await h.writeRaw(Buffer.from('zz'), Buffer.from('?')); // not a key of ours
      s = h.create();
      open.push(s);
      const report = await s.open();
      expect(report.corrupt.count).toBe(3);
      expect(report.corrupt.reasons).toMatchObject({ crc: 1, version: 1, key: 1 });
      expect(report.corrupt.keys).toContain(Buffer.from(key).toString('hex'));
      expect(report.leases).toBe(1);
      expect(s.byResource(naResource(1))).toBeUndefined();
      expect(s.byResource(naResource(2))).toBeUndefined();
      expect(s.byResource(naResource(0))).toEqual(naLease(0));
      expect(s.stats().corruptOnOpen).toBe(3);
      // Writing the resource again replaces the bad record.
      await s.apply([put(naLease(1))]);
      s = await restart(s);
      expect(s.byResource(naResource(1))).toEqual(naLease(1));
    });

    it('rejects use before open and after close', async () => {
      const s = h.create();
      open.push(s);
      expect(await rejectionOf(s.apply([put(naLease(1))]))).toMatchObject({ code: 'not-open' });
      await s.open();
      await s.close();
      expect(await rejectionOf(s.apply([put(naLease(1))]))).toMatchObject({ code: 'not-open' });
      await s.close(); // idempotent
    });
  });
}

// Prefix hand-off (RFC 8156 §4.2.2): the primary gives the secondary its
// share of the free delegable prefixes as FREE-BACKUP BNDUPDs with a lone
// IAPREFIX (§7.4), driven by POOLREQ; the secondary delegates only those; a
// delegated prefix, once free, is the primary's; FREE takes one back unless
// the secondary has delegated it; and the set survives a restart. The
// runtime on virtual time, the partner driven by hand (runtime-host.ts).

import { describe, expect, it } from 'vitest';
import { connectParams, FakeLink, fakeChannel, NOW, runFor, runtimeConfig, runtimeHost } from './runtime-host.js';
import { FailoverEndpoint } from '../../../src/failover/endpoint.js';
import { BackupPrefixes } from '../../../src/failover/backup-prefixes.js';
import { BATCH } from '../../../src/failover/handoff.js';
import type { FailoverPdu } from '../../../src/failover/link.js';
import {
  BindingStatus,
  bindingReplyFor,
  FoMsgType,
  FoStatusCode,
  ServerState,
  type BindingUpdate,
  type PoolPrefixUpdate,
  type ServerStateValue,
} from '../../../src/wire/failover/index.js';
import { MemoryDisk, MemoryLeaseStore } from '../../../src/store/index.js';
import type { Lease } from '../../../src/engine/index.js';
import { updateFor } from '../../../src/failover/bindings.js';
import { duid, granted, iaPd, msg, MsgType, statuses } from '../engine/harness.js';
import type { SimHost } from '../../../src/testing/sim/host.js';

const SMALL = '2001:db8:8000::/52'; // 16 /56s
const HUGE = '2001:db8:8000::/40'; // 65,536 /56s
const settle = () => new Promise((r) => setImmediate(r));
const state = (serverState: number, startTimeOfStateSec: number) => ({
  serverState: serverState as ServerStateValue,
  serverFlags: { communicated: true, startup: false, ackStartup: false },
  startTimeOfStateSec,
});

/** A twin6 endpoint and the partner the test plays, taken to NORMAL (through RECOVER-WAIT: a fresh store, §8.5). */
async function inNormal(role: 'primary' | 'secondary', pd: { pool: string; secondaryPdShare?: number }, disk = new MemoryDisk()) {
  const clock = { now: NOW };
  const { h, time, timers } = await runtimeHost(
    role,
    clock,
    (e) => {
      throw e;
    },
    { disk },
    runtimeConfig(role, pd),
  );
  const run = runFor(time, clock);
  const link = new FakeLink();
  const endpoint = await FailoverEndpoint.start(h, h.config.failover!, { link: () => link, lanUp: () => true, timers });
  const ch = fakeChannel();
  const emit = (p: FailoverPdu) => link.emit('pdu', p, ch.c);
  const answered = new Set<number>();
  const answerRequests = () => {
    for (const p of ch.sent) {
      if ((p.type === FoMsgType.UPDREQ || p.type === FoMsgType.UPDREQALL) && !answered.has(p.transactionId)) {
        answered.add(p.transactionId);
        emit({ type: FoMsgType.UPDDONE, transactionId: p.transactionId, sentTimeSec: clock.now, content: {} });
      }
    }
  };
  link.emit('up', ch.c);
  if (role === 'primary') {
    const connect = ch.sent.find((p) => p.type === FoMsgType.CONNECT)!;
    emit({ type: FoMsgType.CONNECTREPLY, transactionId: connect.transactionId, sentTimeSec: NOW, content: { params: connectParams() } });
  } else {
    emit({ type: FoMsgType.CONNECT, transactionId: 1, sentTimeSec: NOW, content: connectParams() });
  }
  for (const s of [ServerState.COMMUNICATIONS_INTERRUPTED, ServerState.RECOVER_DONE, ServerState.NORMAL]) {
    emit({ type: FoMsgType.STATE, transactionId: 9, sentTimeSec: clock.now, content: state(s, clock.now - 100) });
    await settle();
    answerRequests();
    await settle();
    if (endpoint.status().state === 'NORMAL') break;
    await run(65);
  }
  expect(endpoint.status().state).toBe('NORMAL');
  return { h, clock, run, link, ch, emit, endpoint, disk };
}

const ofForm = (ch: { sent: FailoverPdu[] }, status: number) =>
  ch.sent.filter(
    (p): p is Extract<FailoverPdu, { type: typeof FoMsgType.BNDUPD }> =>
      p.type === FoMsgType.BNDUPD && p.content.form === 'prefix' && p.content.status === status,
  );
const resourceOf = (u: BindingUpdate) => (u.form === 'prefix' ? `${u.prefix}/${u.prefixLength}` : '');

/** The partner acknowledges every BNDUPD of ours not yet answered. */
function ackAll(x: { ch: { sent: FailoverPdu[] }; emit: (p: FailoverPdu) => void; clock: { now: number } }, acked: Set<number>): number {
  let n = 0;
  for (const p of x.ch.sent) {
    if (p.type !== FoMsgType.BNDUPD || acked.has(p.transactionId)) continue;
    acked.add(p.transactionId);
    x.emit({ type: FoMsgType.BNDREPLY, transactionId: p.transactionId, sentTimeSec: x.clock.now, content: bindingReplyFor(p.content) });
    n++;
  }
  return n;
}

/** The partner sends POOLREQ; returns the prefixes the endpoint has sent as FREE-BACKUP so far, in order. */
async function poolRequest(x: Awaited<ReturnType<typeof inNormal>>, xid: number): Promise<string[]> {
  x.emit({ type: FoMsgType.POOLREQ, transactionId: xid, sentTimeSec: x.clock.now, content: {} });
  await settle();
  await settle();
  return ofForm(x.ch, BindingStatus.FREE_BACKUP).map((u) => resourceOf(u.content));
}

const poolUpdate = (resource: string, status: number, at: number): PoolPrefixUpdate => {
  const [prefix, length] = resource.split('/');
  return {
    form: 'prefix',
    prefix: prefix!,
    prefixLength: Number(length),
    preferredSec: 0,
    validSec: 0,
    baseTimeSec: at,
    status: status as PoolPrefixUpdate['status'],
    startTimeOfStateSec: at,
  };
};

/** Sends the endpoint a BNDUPD for a delegable prefix; returns the Status Code of its BNDREPLY (0: accepted). */
async function move(x: Awaited<ReturnType<typeof inNormal>>, resource: string, status: number, xid: number): Promise<number> {
  x.emit({ type: FoMsgType.BNDUPD, transactionId: xid, sentTimeSec: x.clock.now, content: poolUpdate(resource, status, x.clock.now) });
  await settle();
  await settle();
  const reply = x.ch.sent.find((p) => p.type === FoMsgType.BNDREPLY && p.transactionId === xid);
  expect(reply, `BNDREPLY for ${resource}`).toBeDefined();
  const c = reply!.content as { form: string; status?: { code: number } };
  expect(c.form).toBe('prefix');
  return c.status?.code ?? 0;
}

/** The link to the partner drops: the secondary serves on its own pool (COMMUNICATIONS-INTERRUPTED §8.9.1, RESOLUTION-INTERRUPTED §8.11.1). */
async function cut(x: Awaited<ReturnType<typeof inNormal>>): Promise<void> {
  x.link.emit('down', 'test');
  await settle();
  expect(['COMMUNICATIONS-INTERRUPTED', 'RESOLUTION-INTERRUPTED']).toContain(x.endpoint.status().state);
}

/** A Request for a /56 from client n, through the engine with the endpoint's policy, committed as the daemon would. */
async function delegate(h: SimHost, n: number, hints: string[] = []) {
  const request = msg(MsgType.REQUEST, n, [{ kind: 'SERVERID', duid: h.engine.serverDuid }, iaPd(1, hints)]);
  const d = h.engine.handle(
    { message: request, relays: [], interface: 'lan0', unicast: false },
    { nowSec: h.clock.nowSec(), view: h.store, policy: h.policy },
  );
  if (d.kind !== 'reply') throw new Error(`no reply: ${d.kind}`);
  await h.commit(d.changes);
  const pd = granted(d.reply)
    .filter((l) => l.validSec > 0)
    .map((l) => l.resource);
  return { prefixes: pd, status: statuses(d.reply)['IA_PD:1'] };
}

const clientLease = (resource: string, client: number, at: number, over: Partial<Lease> = {}): Lease => ({
  resource,
  type: 'pd',
  duid: Buffer.from(duid(client)).toString('hex'),
  iaid: 1,
  state: 'active',
  preferredSec: 30,
  validSec: 60,
  clttSec: at,
  expiresAtSec: at + 60,
  ...over,
});

describe('prefix hand-off, primary (RFC 8156 §4.2.2)', () => {
  it('answers POOLREQ with POOLRESP and FREE-BACKUP BNDUPDs (a lone IAPREFIX) until the secondary holds its share of the free prefixes', async () => {
    const x = await inNormal('primary', { pool: SMALL, secondaryPdShare: 0.25 });
    const handed = await poolRequest(x, 500);
    expect(x.ch.sent.find((p) => p.type === FoMsgType.POOLRESP)?.transactionId).toBe(500);
    expect(handed).toHaveLength(4); // ¼ of 16 free
    // §4.2.2: "Once the message is sent, the primary MUST NOT use these prefixes".
    for (const r of handed) expect(x.h.policy.mayAllocate(r, 'pd'), r).toBe(false);
    expect(x.h.policy.mayAllocate('2001:db8:8000::/56', 'pd')).toBe(true);
    // Acknowledged and asked again: the share is held, nothing more moves.
    ackAll(x, new Set());
    await settle();
    expect(await poolRequest(x, 501)).toHaveLength(4);
  });

  it('hands a huge pool off in bounded batches, never more unacknowledged than the partner allows, and continues as they are acknowledged', async () => {
    const x = await inNormal('primary', { pool: HUGE, secondaryPdShare: 0.5 });
    const window = connectParams().maxUnackedBndupd;
    expect(await poolRequest(x, 500)).toHaveLength(window);
    const acked = new Set<number>();
    for (let round = 0; round < 60; round++) {
      if (ackAll(x, acked) === 0) break;
      await settle();
      await settle();
      expect(ofForm(x.ch, BindingStatus.FREE_BACKUP).length - acked.size).toBeLessThanOrEqual(window);
    }
    // One POOLREQ, more than one batch: the next pass starts once the last is acknowledged.
    expect(ofForm(x.ch, BindingStatus.FREE_BACKUP).length).toBeGreaterThan(BATCH);
    expect(x.h.store.size).toBe(0); // no lease records for free prefixes
  });

  it("a prefix the secondary delegated and that became free again is the primary's, not the secondary's (§4.2.2)", async () => {
    const x = await inNormal('primary', { pool: SMALL, secondaryPdShare: 0.25 });
    const [p] = await poolRequest(x, 500);
    ackAll(x, new Set());
    expect(x.h.policy.mayAllocate(p!, 'pd')).toBe(false);
    // The secondary delegates it, then the client releases it and the release is acknowledged.
    const at = x.clock.now;
    x.emit({ type: FoMsgType.BNDUPD, transactionId: 600, sentTimeSec: at, content: updateFor(clientLease(p!, 7, at), at, 0) });
    await settle();
    await settle();
    expect(x.h.store.byResource(p!)?.state).toBe('active');
    await x.h.commit([{ op: 'delete', resource: p! }], 'partner');
    await settle();
    expect(x.h.policy.mayAllocate(p!, 'pd')).toBe(true);
  });

  it('keeps a prefix handed back to the secondary when a late copy of its old release arrives (resent on UPDREQ)', async () => {
    // Simulation seed 137202297528: the secondary delegated p, the client released it, the primary
    // reclaimed it and handed it out again as FREE-BACKUP; then the secondary's resent RELEASED
    // update for the old lease arrived and took p out of the primary's record of the secondary's
    // set while the secondary held it: both would have delegated it.
    const x = await inNormal('primary', { pool: SMALL, secondaryPdShare: 0.25 });
    const [p] = await poolRequest(x, 500);
    ackAll(x, new Set());
    expect(x.h.policy.mayAllocate(p!, 'pd')).toBe(false);
    const at = x.clock.now;
    x.emit({
      type: FoMsgType.BNDUPD,
      transactionId: 700,
      sentTimeSec: at,
      content: updateFor(clientLease(p!, 7, at, { state: 'released' }), at, 0),
    });
    await settle();
    await settle();
    expect(x.h.store.byResource(p!)?.state).toBe('released');
    expect(x.h.policy.mayAllocate(p!, 'pd')).toBe(false);
  });

  it('takes surplus back with FREE on its tick, but never a prefix with a lease just recorded (no pass that only skips)', async () => {
    const x = await inNormal('primary', { pool: SMALL, secondaryPdShare: 0.25 });
    const handed = await poolRequest(x, 500);
    ackAll(x, new Set());
    // Half the pool delegated: the share of what is free halves. Two of the handed prefixes are
    // among them, on record before their commit is through (the set still holds them).
    const others = [
      '2001:db8:8000::/56',
      '2001:db8:8000:100::/56',
      '2001:db8:8000:200::/56',
      '2001:db8:8000:300::/56',
      '2001:db8:8000:400::/56',
      '2001:db8:8000:500::/56',
    ];
    await x.h.store.apply(
      [...others, ...handed.slice(0, 2)].map((r, i) => ({
        op: 'put' as const,
        lease: clientLease(r, 10 + i, x.clock.now, { validSec: 3600, expiresAtSec: x.clock.now + 3600 }),
      })),
    );
    await x.run(16);
    const back = ofForm(x.ch, BindingStatus.FREE).map((u) => resourceOf(u.content));
    expect(back.sort()).toEqual(handed.slice(2).sort());
  });

  it('gives the whole set again to a secondary that lost its database (UPDREQALL)', async () => {
    const x = await inNormal('primary', { pool: SMALL, secondaryPdShare: 0.25 });
    const handed = await poolRequest(x, 500);
    ackAll(x, new Set());
    x.emit({ type: FoMsgType.UPDREQALL, transactionId: 501, sentTimeSec: x.clock.now, content: {} });
    expect(await poolRequest(x, 502)).toEqual([...handed, ...handed]);
  });

  it('after a restart still keeps the handed prefixes out of its own allocation and announces them again', async () => {
    const x = await inNormal('primary', { pool: SMALL, secondaryPdShare: 0.25 });
    const handed = (await poolRequest(x, 500)).sort();
    expect(handed).toHaveLength(4);
    await x.h.stop();
    const y = await inNormal('primary', { pool: SMALL, secondaryPdShare: 0.25 }, x.disk);
    for (const r of handed) expect(y.h.policy.mayAllocate(r, 'pd'), r).toBe(false);
    expect((await poolRequest(y, 500)).sort()).toEqual(handed);
  });
});

describe('prefix hand-off, secondary (RFC 8156 §4.2.2)', () => {
  it('delegates only the FREE-BACKUP prefixes it was given, and one delegated goes back to the primary once free', async () => {
    const x = await inNormal('secondary', { pool: SMALL });
    expect(x.ch.sent.some((p) => p.type === FoMsgType.POOLREQ)).toBe(true); // §8.8, on entering NORMAL
    expect(await move(x, '2001:db8:8000:100::/56', BindingStatus.FREE_BACKUP, 700)).toBe(0);
    expect(await move(x, '2001:db8:8000:200::/56', BindingStatus.FREE_BACKUP, 701)).toBe(0);
    await cut(x);
    const a = await delegate(x.h, 1);
    const b = await delegate(x.h, 2);
    expect([...a.prefixes, ...b.prefixes].sort()).toEqual(['2001:db8:8000:100::/56', '2001:db8:8000:200::/56']);
    const c = await delegate(x.h, 3, ['2001:db8:8000:900::/56']);
    expect([c.prefixes, c.status]).toEqual([[], 6]); // NoPrefixAvail: the rest is the primary's
    // Client 1's prefix, released and forgotten, is the primary's again (§4.2.2).
    await x.h.commit([{ op: 'delete', resource: a.prefixes[0]! }], 'partner');
    expect((await delegate(x.h, 4)).prefixes).toEqual([]);
  });

  it('accepts FREE for a prefix it holds unused (the primary takes it back) and refuses it for one it has delegated', async () => {
    const x = await inNormal('secondary', { pool: SMALL });
    expect(await move(x, '2001:db8:8000:100::/56', BindingStatus.FREE_BACKUP, 700)).toBe(0);
    expect(await move(x, '2001:db8:8000:200::/56', BindingStatus.FREE_BACKUP, 701)).toBe(0);
    // Delegated here (while cut off from the primary, say).
    await x.h.commit([{ op: 'put', lease: clientLease('2001:db8:8000:100::/56', 1, x.clock.now) }]);
    // §4.2.2: "the secondary MUST reject that BNDUPD message if it has already allocated that lease".
    expect(await move(x, '2001:db8:8000:100::/56', BindingStatus.FREE, 702)).toBe(FoStatusCode.AddressInUse);
    expect(x.h.store.byResource('2001:db8:8000:100::/56')?.state).toBe('active');
    expect(await move(x, '2001:db8:8000:200::/56', BindingStatus.FREE, 703)).toBe(0);
    await cut(x);
    expect(await delegate(x.h, 2, ['2001:db8:8000:200::/56'])).toEqual({ prefixes: [], status: 6 });
  });

  it('gives every prefix back when the primary reports PARTNER-DOWN: it may use them after the MCLT and never says when their leases end (§4.2.2.1)', async () => {
    const x = await inNormal('secondary', { pool: SMALL });
    expect(await move(x, '2001:db8:8000:100::/56', BindingStatus.FREE_BACKUP, 700)).toBe(0);
    x.emit({
      type: FoMsgType.STATE,
      transactionId: 10,
      sentTimeSec: x.clock.now,
      content: { ...state(ServerState.PARTNER_DOWN, x.clock.now), partnerDownTimeSec: x.clock.now },
    });
    await settle();
    await cut(x);
    expect(await delegate(x.h, 1, ['2001:db8:8000:100::/56'])).toEqual({ prefixes: [], status: 6 });
  });

  it('refuses FREE-BACKUP for a prefix it holds a binding for (ours is newer, §7.5.4)', async () => {
    const x = await inNormal('secondary', { pool: SMALL });
    const at = x.clock.now;
    await x.h.commit([{ op: 'put', lease: clientLease('2001:db8:8000:300::/56', 9, at, { state: 'released' }) }], 'partner');
    expect(await move(x, '2001:db8:8000:300::/56', BindingStatus.FREE_BACKUP, 700)).toBe(FoStatusCode.OutdatedBindingInformation);
  });
});

describe("the secondary's prefixes on record (backup-prefixes.ts)", () => {
  it('survive a restart of the store, and a lease on record takes a prefix out (a crash between the two writes)', async () => {
    const disk = new MemoryDisk();
    const pools = runtimeConfig('secondary', { pool: HUGE }).subnets[0]!.pdPools;
    const store = new MemoryLeaseStore({ disk });
    await store.open();
    const set = new BackupPrefixes(pools, store);
    set.load(store.all());
    for (const r of ['2001:db8:8000::/56', '2001:db8:80ff:ff00::/56', '2001:db8:8001::/56']) expect(set.add(r)).toBe(true);
    await set.flush();
    await store.apply([{ op: 'put', lease: clientLease('2001:db8:8001::/56', 1, NOW) }]);
    await store.close();
    const again = new MemoryLeaseStore({ disk });
    await again.open();
    const back = new BackupPrefixes(pools, again);
    back.load(again.all());
    expect([...back.members(pools[0]!)!].sort()).toEqual(['2001:db8:8000::/56', '2001:db8:80ff:ff00::/56']);
  });
});

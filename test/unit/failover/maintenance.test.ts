// Maintenance handover (src/failover/maintenance.ts, docs/protocol.md §1.17):
// `twin6ctl failover maintenance enter|leave` through the command the daemon
// registers, on two real endpoints back to back (runtime-pair.ts) whose
// clients go through the real packet path. Each case names what it holds;
// the lab test (test/integration/failover.test.ts) does the same with real
// clients and processes.

import { describe, expect, it } from 'vitest';
import { MsgType } from '../../../src/wire/constants.js';
import { MAINTENANCE_DRAIN_MS, MAINTENANCE_HANDOVER_MS } from '../../../src/failover/maintenance.js';
import { addressIn, ask, bind, runtimePair, runUntil, sentBy, states, type Partner, type RuntimePair } from './runtime-pair.js';
import { connectParams, fakeChannel, NOW, runtimeHost, secondaryConnectedAt } from './runtime-host.js';
import { FoMsgType } from '../../../src/wire/failover/index.js';

interface MaintenanceAnswer {
  readonly maintenance: boolean;
  readonly held: readonly string[];
  readonly unackedUpdates: number;
}

/** The command as twin6ctl and the MQTT uplink call it; its promise is left to the test to await. */
const maintenance = (p: Partner, action: string, force = false): Promise<MaintenanceAnswer> =>
  Promise.resolve(p.h.commands['failover.maintenance']!({ action, ...(force ? { force } : {}) })) as Promise<MaintenanceAnswer>;

/** Whether the server answers a new client's Solicit at all. */
const answersSolicit = async (x: RuntimePair, p: Partner, client: number): Promise<boolean> =>
  (await ask(x, p, { type: MsgType.SOLICIT, client })) !== undefined;

/** Settles the promise while the pair runs; fails the test if it has not settled by then. */
async function within<T>(x: RuntimePair, sec: number, p: Promise<T>): Promise<T> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await runUntil(x, () => done, sec);
  expect(done, `settled within ${sec} s`).toBe(true);
  return p;
}

/** How long the secondary's disk takes to write, where it is slow: longer than the primary waits for acknowledgements. */
const SLOW_DISK_MS = MAINTENANCE_DRAIN_MS + 3000;

/**
 * A lease the primary granted whose BNDREPLY does not come yet: the secondary's
 * direction of the link is stalled (nothing of it arrives, its closing
 * neither), or its disk is slow (it answers after the write, §7.5.2).
 */
async function primaryWithUnackedUpdate(x: RuntimePair, stall: 'link' | 'disk'): Promise<string> {
  if (stall === 'link') x.net.setBlocked('S', true);
  else x.S.h.store.disk.beforeWrite = () => new Promise((r) => void x.time.after(SLOW_DISK_MS, r));
  const address = await bind(x, x.P, 1);
  expect(x.P.endpoint.status().unackedUpdates).toBe(1);
  return address;
}

/** The primary one second into entering maintenance, an update kept unacknowledged by the stalled link. */
async function primaryHandingOver() {
  const x = await runtimePair();
  await primaryWithUnackedUpdate(x, 'link');
  const sinceMs = x.time.nowMs;
  const entered = maintenance(x.P, 'enter');
  await x.run(1);
  return { x, sinceMs, entered };
}

describe('maintenance enter on the primary', () => {
  it('stops answering at once, and says DISCONNECT only once the partner has acknowledged our updates', async () => {
    const x = await runtimePair();
    await primaryWithUnackedUpdate(x, 'link');
    const enteredAtMs = x.time.nowMs;
    const entered = maintenance(x.P, 'enter');
    expect(await answersSolicit(x, x.P, 2)).toBe(false);
    await x.run(2);
    expect(sentBy(x, 'P', enteredAtMs)).not.toContain('DISCONNECT');

    x.net.setBlocked('S', false); // the BNDREPLY goes out
    const answer = await within(x, 2, entered);
    expect(answer).toMatchObject({ maintenance: true, held: ['maintenance'], unackedUpdates: 0 });
    expect(sentBy(x, 'P', enteredAtMs).filter((t) => t === 'DISCONNECT')).toHaveLength(1);
    expect(await answersSolicit(x, x.P, 3)).toBe(false);
  });

  it(`hands over after ${MAINTENANCE_DRAIN_MS / 1000} s when the partner does not acknowledge, with the update still pending`, async () => {
    const x = await runtimePair();
    await primaryWithUnackedUpdate(x, 'disk');
    const enteredAtMs = x.time.nowMs;
    const entered = maintenance(x.P, 'enter');
    await x.run(MAINTENANCE_DRAIN_MS / 1000 - 0.5);
    expect(sentBy(x, 'P', enteredAtMs)).not.toContain('DISCONNECT');
    const answer = await within(x, 2, entered);
    expect(answer).toMatchObject({ maintenance: true, held: ['maintenance'], unackedUpdates: 1 });
    expect(sentBy(x, 'P', enteredAtMs)).toContain('DISCONNECT');
  });

  it(`is called off when the partner does not close the connection within ${MAINTENANCE_HANDOVER_MS / 1000} s of our DISCONNECT: it may not have heard`, async () => {
    const x = await runtimePair();
    await primaryWithUnackedUpdate(x, 'link');
    const entered = maintenance(x.P, 'enter');
    await expect(within(x, (MAINTENANCE_DRAIN_MS + MAINTENANCE_HANDOVER_MS) / 1000 + 1, entered)).rejects.toThrow(
      /did not close the connection .*handover called off, still serving/,
    );
    expect(x.P.endpoint.status().held).toEqual([]);
    expect(await answersSolicit(x, x.P, 2)).toBe(true);
    x.net.setBlocked('S', false); // the partner's close arrives; nothing holds the link down: back to NORMAL
    await runUntil(x, () => states(x).every((st) => st === 'NORMAL'), 30);
    expect(states(x)).toEqual(['NORMAL', 'NORMAL']);
  });

  it('leaves the clients to the secondary: it finds communications interrupted and answers all of them, the primary none', async () => {
    const x = await runtimePair();
    const address = await bind(x, x.P, 1);
    await within(x, 2, maintenance(x.P, 'enter'));
    await runUntil(x, () => states(x)[1] === 'COMMUNICATIONS-INTERRUPTED', 5);
    expect(states(x)).toEqual(['COMMUNICATIONS-INTERRUPTED', 'COMMUNICATIONS-INTERRUPTED']);
    // The primary's client, its Renew unanswered, rebinds (RFC 8415 §18.2.5): the secondary extends its lease.
    const rebind = { type: MsgType.REBIND, client: 1, hints: { na: [address] } };
    expect(await ask(x, x.P, rebind)).toBeUndefined();
    expect(addressIn(await ask(x, x.S, rebind))).toBe(address);
    expect(await answersSolicit(x, x.S, 2)).toBe(true);
    expect(await answersSolicit(x, x.P, 2)).toBe(false);
    expect(x.S.endpoint.serving).toBe(true);
    expect(x.P.endpoint.serving).toBe(false);
  });

  it('is refused on the secondary while the primary is in maintenance: nobody would serve', async () => {
    const x = await runtimePair();
    await within(x, 2, maintenance(x.P, 'enter'));
    await x.run(2);
    await expect(maintenance(x.S, 'enter')).rejects.toThrow(/partner cannot take over .*not connected.*add force/);
    expect(x.S.endpoint.status().held).toEqual([]);
    expect(await answersSolicit(x, x.S, 2)).toBe(true);
  });

  it('refused with the partner gone, unless forced: then it answers nobody and has nobody to say DISCONNECT to', async () => {
    const x = await runtimePair();
    await x.S.h.stop();
    await runUntil(x, () => states(x)[0] === 'COMMUNICATIONS-INTERRUPTED', 5);
    expect(x.P.endpoint.status().connected).toBe(false);
    await expect(maintenance(x.P, 'enter')).rejects.toThrow(/we are COMMUNICATIONS-INTERRUPTED, the partner NORMAL, not connected/);
    expect(await answersSolicit(x, x.P, 2)).toBe(true);

    const sinceMs = x.time.nowMs;
    expect(await within(x, 1, maintenance(x.P, 'enter', true))).toMatchObject({ maintenance: true, held: ['maintenance'] });
    expect(sentBy(x, 'P', sinceMs)).toEqual([]);
    expect(await answersSolicit(x, x.P, 3)).toBe(false);
  });

  it('a second enter changes nothing: one DISCONNECT, still in maintenance', async () => {
    const x = await runtimePair();
    const sinceMs = x.time.nowMs;
    const [first, second] = await within(x, 2, Promise.all([maintenance(x.P, 'enter'), maintenance(x.P, 'enter')]));
    expect(first.maintenance).toBe(true);
    expect(second.maintenance).toBe(true);
    await x.run(5);
    expect(await within(x, 1, maintenance(x.P, 'enter'))).toMatchObject({ maintenance: true, held: ['maintenance'] });
    expect(sentBy(x, 'P', sinceMs).filter((t) => t === 'DISCONNECT')).toHaveLength(1);
    expect(await answersSolicit(x, x.P, 2)).toBe(false);
  });
});

describe('maintenance leave', () => {
  it('lets the link up: the pair returns to NORMAL and the primary answers again', async () => {
    const x = await runtimePair();
    const address = await bind(x, x.P, 1);
    await within(x, 2, maintenance(x.P, 'enter'));
    await x.run(10);
    expect(x.P.endpoint.status().connected).toBe(false);

    expect(await within(x, 1, maintenance(x.P, 'leave'))).toMatchObject({ maintenance: false, held: [] });
    await runUntil(x, () => states(x).every((s) => s === 'NORMAL'), 30);
    expect(states(x)).toEqual(['NORMAL', 'NORMAL']);
    expect(await answersSolicit(x, x.P, 2)).toBe(true);
    expect(await answersSolicit(x, x.S, 3)).toBe(false);
    expect(addressIn(await ask(x, x.P, { type: MsgType.RENEW, client: 1, hints: { na: [address] }, to: x.P.duid }))).toBe(address);
    expect(x.P.endpoint.serving).toBe(true);
  });

  it('during the handover calls it off: no DISCONNECT, and the primary answers again', async () => {
    const { x, sinceMs, entered } = await primaryHandingOver();
    expect(await within(x, 1, maintenance(x.P, 'leave'))).toMatchObject({ maintenance: false, held: [] });
    expect(await within(x, MAINTENANCE_DRAIN_MS / 1000, entered)).toMatchObject({ maintenance: false });
    expect(sentBy(x, 'P', sinceMs)).not.toContain('DISCONNECT');
    expect(states(x)).toEqual(['NORMAL', 'NORMAL']);
    expect(await answersSolicit(x, x.P, 2)).toBe(true);
  });

  it('and enter again during the handover: the second enter is the one that hands over, once', async () => {
    const { x, sinceMs, entered: first } = await primaryHandingOver();
    // At once, as a script would: the first enter's wait has not looked since.
    const left = maintenance(x.P, 'leave');
    const second = maintenance(x.P, 'enter');
    expect(await left).toMatchObject({ maintenance: false });
    await x.run(1);
    x.net.setBlocked('S', false);
    expect(await within(x, MAINTENANCE_DRAIN_MS / 1000, second)).toMatchObject({ maintenance: true, held: ['maintenance'] });
    expect(await first).toMatchObject({ maintenance: false });
    expect(sentBy(x, 'P', sinceMs).filter((t) => t === 'DISCONNECT')).toHaveLength(1);
  });

  it('without enter changes nothing: no hold, no DISCONNECT, still answering', async () => {
    const x = await runtimePair();
    const sinceMs = x.time.nowMs;
    expect(await within(x, 1, maintenance(x.P, 'leave'))).toMatchObject({ maintenance: false, held: [] });
    expect(await within(x, 1, maintenance(x.S, 'cancel'))).toMatchObject({ maintenance: false, held: [] });
    await x.run(5);
    expect(sentBy(x, 'P', sinceMs)).not.toContain('DISCONNECT');
    expect(sentBy(x, 'S', sinceMs)).not.toContain('DISCONNECT');
    expect(states(x)).toEqual(['NORMAL', 'NORMAL']);
    expect(x.P.endpoint.status().connected).toBe(true);
    expect(await answersSolicit(x, x.P, 2)).toBe(true);
  });

  it('refuses an action it does not know', async () => {
    const x = await runtimePair();
    await expect(maintenance(x.P, 'pause')).rejects.toThrow('action must be "enter" or "leave"');
    expect(x.P.endpoint.status().held).toEqual([]);
  });
});

describe('maintenance enter on the secondary', () => {
  it('hands its clients to the primary, which answers everyone in COMMUNICATIONS-INTERRUPTED', async () => {
    const x = await runtimePair();
    expect(await answersSolicit(x, x.S, 2)).toBe(false); // NORMAL: the primary's job
    await within(x, 2, maintenance(x.S, 'enter'));
    await runUntil(x, () => states(x)[0] === 'COMMUNICATIONS-INTERRUPTED', 5);
    expect(states(x)).toEqual(['COMMUNICATIONS-INTERRUPTED', 'COMMUNICATIONS-INTERRUPTED']);
    expect(await answersSolicit(x, x.P, 3)).toBe(true);
    expect(await answersSolicit(x, x.S, 4)).toBe(false);
    await expect(maintenance(x.P, 'enter')).rejects.toThrow(/partner cannot take over/);
  });
});

describe('maintenance entered on both sides at once', () => {
  /** Who answers a new client's Solicit, and who is in maintenance, once the dust has settled. */
  async function outcome(x: RuntimePair, entered: Promise<MaintenanceAnswer | Error>[]) {
    const answers = await within(x, 15, Promise.all(entered));
    await x.run(5);
    const on = answers.map((a) => (a instanceof Error ? false : a.maintenance));
    return {
      on,
      serving: [await answersSolicit(x, x.P, 11), await answersSolicit(x, x.S, 12)],
      held: [x.P.endpoint.status().held, x.S.endpoint.status().held],
    };
  }
  const settled = (p: Promise<MaintenanceAnswer>) => p.catch((e: unknown) => e as Error);

  it('the secondary entering while the primary waits for its acknowledgements: the secondary hands over, the primary calls it off and serves', async () => {
    const x = await runtimePair();
    await primaryWithUnackedUpdate(x, 'disk');
    const p = settled(maintenance(x.P, 'enter'));
    await x.run(1);
    const s = settled(maintenance(x.S, 'enter'));
    const o = await outcome(x, [p, s]);
    expect(o.on).toEqual([false, true]);
    expect(o.serving).toEqual([true, false]);
    expect(o.held).toEqual([[], ['maintenance']]);
    expect(String(await p)).toMatch(/the partner said DISCONNECT while we were handing over/);
  });

  it('both DISCONNECTs crossing on the link: both call it off and serve, and the pair returns to NORMAL', async () => {
    const x = await runtimePair();
    const o = await outcome(x, [settled(maintenance(x.P, 'enter')), settled(maintenance(x.S, 'enter'))]);
    expect(o.on).toEqual([false, false]);
    expect(o.held).toEqual([[], []]);
    await runUntil(x, () => states(x).every((st) => st === 'NORMAL'), 30);
    expect(states(x)).toEqual(['NORMAL', 'NORMAL']);
    expect(o.serving[0]).toBe(true);
  });
});

describe('a connection that comes up while the link is held down', () => {
  it('is closed at once: the partner re-dialled before our end saw the old connection close (simulation seed 1000196)', async () => {
    const { h, timers } = await runtimeHost('secondary', { now: NOW });
    const { link, ch, endpoint } = await secondaryConnectedAt(h, timers);
    const entered = Promise.resolve(h.commands['failover.maintenance']!({ action: 'enter', force: true }));
    await new Promise((r) => setImmediate(r));
    expect(ch.sent.map((p) => p.type)).toContain(FoMsgType.DISCONNECT);
    // The primary closed on our DISCONNECT and dialled again; its new connection replaces the old
    // one here before the old one's close arrived: the link reports the old one down, then the new one up.
    const next = fakeChannel();
    link.emit('down', 'replaced by a new connection from the partner');
    link.emit('up', next.c);
    expect(await entered).toMatchObject({ maintenance: true, held: ['maintenance'] });
    expect(next.closed).toEqual(['link held: maintenance']);
    link.emit('pdu', { type: FoMsgType.CONNECT, transactionId: 2, sentTimeSec: NOW, content: connectParams() }, next.c);
    expect(next.sent).toEqual([]);
    expect(endpoint.status().connected).toBe(false);
  });
});

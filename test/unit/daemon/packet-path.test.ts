// The packet path as the daemon runs it (decode → engine → size → commit →
// send), with a memory store and a recording socket: what a hostile client's
// packet may and may not do to the daemon (issue #16 A, B, C).

import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { parseConfig } from '../../../src/config/index.js';
import { createEngine, standalonePolicy, type LeaseChange } from '../../../src/engine/index.js';
import { MemoryLeaseStore, StoreError } from '../../../src/store/index.js';
import { decodeMessage, encodeMessage, type ClientServerMessage } from '../../../src/wire/index.js';
import { PacketPath, UDP6_PAYLOAD_MAX } from '../../../src/daemon/server.js';
import { Counters } from '../../../src/daemon/counters.js';
import { leaseKey } from '../../../src/store/record.js';
import { LAG_SHED_MOST_MS, LAG_SHED_NEW_MS, LoopLag, levelFor, sheds, AWAITING_COMMIT_SHED } from '../../../src/daemon/load-shed.js';
import { baseConfig, iaNa, iaPd, msg, MsgType, SERVER_DUID, T0 } from '../engine/harness.js';

interface Sent {
  readonly bytes: Uint8Array;
}

function setup(opts: { commit?: (c: readonly LeaseChange[]) => Promise<void>; lagMs?: number } = {}) {
  const store = new MemoryLeaseStore();
  const counters = new Counters();
  const onStoreFailure = vi.fn();
  const committed: LeaseChange[][] = [];
  const path = new PacketPath(createEngine(parseConfig(baseConfig), SERVER_DUID), {
    store,
    policy: () => standalonePolicy,
    commit: async (changes) => {
      if (opts.commit) await opts.commit(changes);
      else await store.apply(changes);
      committed.push([...changes]);
    },
    counters,
    log: pino({ level: 'silent' }),
    nowSec: () => T0,
    onStoreFailure,
    loopLagMs: () => opts.lagMs ?? 0,
  });
  const sent: Sent[] = [];
  let handled = 0;
  const deliver = async (m: ClientServerMessage): Promise<void> => {
    const before = counters.get('rx.packets');
    path.onDatagram({
      data: Buffer.from(encodeMessage(m)),
      sourceAddress: 'fe80::1234',
      sourcePort: 546,
      interface: 'lan0',
      unicast: false,
      reply: async (bytes) => {
        if (bytes.length > UDP6_PAYLOAD_MAX) throw Object.assign(new Error('send EMSGSIZE'), { code: 'EMSGSIZE' });
        sent.push({ bytes });
      },
    });
    expect(counters.get('rx.packets')).toBe(before + 1);
    // Let the commit and the send run.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    handled++;
  };
  return { store, counters, onStoreFailure, committed, sent, deliver, path, ready: store.open(), handled: () => handled };
}

const replyOf = (s: Sent): ClientServerMessage => {
  const d = decodeMessage(s.bytes);
  if (!d.ok || d.message.type === 12 || d.message.type === 13) throw new Error('not a client-server reply');
  return d.message as ClientServerMessage;
};

describe('PacketPath', () => {
  it('answers the one-packet kill (IAPREFIX hint with host bits set) and keeps serving', async () => {
    const t = setup();
    await t.ready;
    await t.deliver(msg(MsgType.REQUEST, 1, [iaPd(1, ['2001:db8:80fa:e00:0:2000::/56'])], true));
    expect(t.onStoreFailure).not.toHaveBeenCalled();
    expect(t.sent).toHaveLength(1);
    expect(t.counters.get('refused.hint-not-canonical')).toBe(1);
    const [lease] = [...t.store.all()];
    expect(lease?.resource).not.toBe('2001:db8:80fa:e00:0:2000::/56');
    expect(() => leaseKey(lease!.resource)).not.toThrow(); // canonical, host bits clear
    // Again, as the attacker would: still alive, still answering.
    await t.deliver(msg(MsgType.REQUEST, 2, [iaPd(1, ['2001:db8:80fa:e00:0:2000::/56'])], true));
    expect(t.sent).toHaveLength(2);
  });

  it('never commits a reply too large to send (thousands of IAs): nothing allocated, counted', async () => {
    const t = setup();
    await t.ready;
    const ias = Array.from({ length: 1500 }, (_, i) => iaNa(i));
    await t.deliver(msg(MsgType.REQUEST, 3, ias, true));
    expect(t.sent).toHaveLength(0);
    expect(t.committed).toHaveLength(0);
    expect(t.store.size).toBe(0);
    expect(t.counters.get('drop.reply-too-large')).toBe(1);
    // The refusals of the IAs over the limit are counted even though the reply was dropped.
    expect(t.counters.get('refused.ias-per-message')).toBe(1500 - 8);
  });

  it('answers a client with a few IAs over the limit, with a status for the rest', async () => {
    const t = setup();
    await t.ready;
    await t.deliver(
      msg(
        MsgType.REQUEST,
        4,
        Array.from({ length: 10 }, (_, i) => iaPd(i)),
        true,
      ),
    );
    expect(t.sent).toHaveLength(1);
    expect(replyOf(t.sent[0]!).options.filter((o) => o.kind === 'IA_PD')).toHaveLength(10);
    expect(t.store.size).toBe(8);
  });

  it('treats a change the store refuses as a dropped request, not a reason to stop', async () => {
    const t = setup({ commit: () => Promise.reject(new StoreError('rejected', 'prefix has host bits set')) });
    await t.ready;
    await t.deliver(msg(MsgType.REQUEST, 5, [iaNa(1)], true));
    expect(t.onStoreFailure).not.toHaveBeenCalled();
    expect(t.counters.get('drop.store-rejected')).toBe(1);
    expect(t.sent).toHaveLength(0);
  });

  it('still stops on a real write failure', async () => {
    const t = setup({ commit: () => Promise.reject(new StoreError('write-failed', 'EIO')) });
    await t.ready;
    await t.deliver(msg(MsgType.REQUEST, 6, [iaNa(1)], true));
    expect(t.onStoreFailure).toHaveBeenCalledTimes(1);
  });

  it('sheds Solicits while the loop lags, and keeps answering Renews of known clients', async () => {
    const calm = setup();
    await calm.ready;
    await calm.deliver(msg(MsgType.REQUEST, 7, [iaNa(1)], true));
    const [held] = [...calm.store.all()];

    const busy = setup({ lagMs: LAG_SHED_NEW_MS + 1 });
    await busy.ready;
    await busy.store.apply([{ op: 'put', lease: held! }]);
    await busy.deliver(msg(MsgType.SOLICIT, 8, [iaNa(1)]));
    expect(busy.sent).toHaveLength(0);
    expect(busy.counters.get('shed.SOLICIT')).toBe(1);
    await busy.deliver(msg(MsgType.RENEW, 7, [iaNa(1, [held!.resource])], true));
    expect(busy.sent).toHaveLength(1);
    expect(replyOf(busy.sent[0]!).type).toBe(MsgType.REPLY);
  });
});

describe('load shedding', () => {
  it('drops new conversations first, then Requests, never a Renew, Rebind, Release or Decline', () => {
    const kept = [MsgType.RENEW, MsgType.REBIND, MsgType.RELEASE, MsgType.DECLINE];
    for (const t of kept) for (const level of [0, 1, 2] as const) expect(sheds(t, level)).toBe(false);
    expect(sheds(MsgType.SOLICIT, 0)).toBe(false);
    expect(sheds(MsgType.SOLICIT, 1)).toBe(true);
    expect(sheds(MsgType.INFORMATION_REQUEST, 1)).toBe(true);
    expect(sheds(MsgType.REQUEST, 1)).toBe(false);
    expect(sheds(MsgType.REQUEST, 2)).toBe(true);
  });

  it('picks the level from loop lag and from replies stuck behind the disk', () => {
    expect(levelFor(0, 0)).toBe(0);
    expect(levelFor(LAG_SHED_NEW_MS, 0)).toBe(1);
    expect(levelFor(LAG_SHED_MOST_MS, 0)).toBe(2);
    expect(levelFor(0, AWAITING_COMMIT_SHED)).toBe(1);
  });

  it('measures lag as how late its timer fires, and forgets a stall over about a second', () => {
    let now = 0;
    const lag = new LoopLag(20, () => now);
    now += 20;
    lag.tick();
    expect(lag.lagMs).toBe(0);
    now += 620; // the thread was busy for 600 ms
    lag.tick();
    expect(lag.lagMs).toBe(600);
    for (let i = 0; i < 50; i++) {
      now += 20;
      lag.tick();
    }
    expect(lag.lagMs).toBeLessThan(LAG_SHED_NEW_MS);
    expect(lag.lagMs).toBeGreaterThan(0);
  });
});

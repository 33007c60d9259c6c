// RFC 5007 Leasequery through the packet path as the daemon runs it: answered
// or refused with a count of each, wrapped for the relay that sent it, shed
// under load, and never shown to failover as a client left unanswered.

import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { parseConfig } from '../../../src/config/index.js';
import { createEngine, standalonePolicy } from '../../../src/engine/index.js';
import { MemoryLeaseStore } from '../../../src/store/index.js';
import { decodeMessage, encodeMessage, unwrapRelay, type ClientServerMessage, type Message } from '../../../src/wire/index.js';
import { QueryType, leasequeryMessage, readLeasequeryReply } from '../../../src/wire/leasequery/index.js';
import { PacketPath } from '../../../src/daemon/server.js';
import { Counters } from '../../../src/daemon/counters.js';
import { LAG_SHED_NEW_MS } from '../../../src/daemon/load-shed.js';
import { baseConfig, duid, duidHex, SERVER_DUID, T0 } from '../engine/harness.js';

const config = { ...baseConfig, leasequery: { requestors: ['2001:db8:ff::/64', '2001:db8:2::1'] } };

async function setup(lagMs = 0) {
  const store = new MemoryLeaseStore();
  await store.open();
  await store.apply([
    {
      op: 'put',
      lease: {
        resource: '2001:db8:1::1000',
        type: 'na',
        duid: duidHex(1),
        iaid: 1,
        state: 'active',
        preferredSec: 3000,
        validSec: 4000,
        clttSec: T0 - 10,
        expiresAtSec: T0 + 3990,
      },
    },
  ]);
  const counters = new Counters();
  const onUnanswered = vi.fn();
  const commit = vi.fn(async () => {});
  const path = new PacketPath(createEngine(parseConfig(config), SERVER_DUID), {
    store,
    policy: () => standalonePolicy,
    commit,
    counters,
    log: pino({ level: 'silent' }),
    nowSec: () => T0,
    onStoreFailure: vi.fn(),
    onUnanswered,
    loopLagMs: () => lagMs,
  });
  const sent: { bytes: Uint8Array; to: string }[] = [];
  const deliver = async (m: Message, source: string): Promise<void> => {
    path.onDatagram({
      data: Buffer.from(encodeMessage(m)),
      sourceAddress: source,
      sourcePort: 547,
      interface: 'lan0',
      unicast: true,
      reply: async (bytes, to) => {
        sent.push({ bytes, to });
      },
    });
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  return { counters, onUnanswered, commit, sent, deliver };
}

const query = (address: string, queryType: number = QueryType.BY_ADDRESS): ClientServerMessage =>
  leasequeryMessage(7, duid(900), {
    queryType,
    linkAddress: '::',
    options: [{ kind: 'IAADDR', address, preferredSec: 0, validSec: 0, options: [] }],
  });

function answerIn(bytes: Uint8Array) {
  const d = decodeMessage(bytes);
  if (!d.ok) throw new Error(d.error.detail);
  const u = unwrapRelay(d.message);
  if (!u.ok) throw new Error(u.error.detail);
  const read = readLeasequeryReply(u.client);
  if (!read.ok) throw new Error(read.error.detail);
  return { relays: u.relays, answer: read.value };
}

describe('PacketPath: Leasequery (RFC 5007)', () => {
  it('answers an allowed requestor and counts it, with nothing committed and nothing left to failover', async () => {
    const t = await setup();
    await t.deliver(query('2001:db8:1::1000'), '2001:db8:ff::5');
    await t.deliver(query('2001:db8:1::2000'), '2001:db8:ff::5');
    expect(t.sent.map((s) => answerIn(s.bytes).answer.clientData?.clientDuid)).toEqual([duid(1), undefined]);
    expect(t.sent.map((s) => s.to)).toEqual(['2001:db8:ff::5', '2001:db8:ff::5']);
    expect(t.counters.snapshot()).toMatchObject({
      'rx.LEASEQUERY': 2,
      'leasequery.answered': 1,
      'leasequery.empty': 1,
      'tx.LEASEQUERY_REPLY': 2,
    });
    expect(t.commit).not.toHaveBeenCalled();
    expect(t.onUnanswered).not.toHaveBeenCalled();
  });

  it('counts each refusal by its reason, and drops what RFC 5007 §4.2.1 discards', async () => {
    const t = await setup();
    await t.deliver(query('2001:db8:1::1000'), '2001:db8:1::77');
    await t.deliver(query('2001:db8:1::1000', QueryType.BY_LINK_ADDRESS), '2001:db8:ff::5');
    await t.deliver(query('2001:db8:1::1000', 42), '2001:db8:ff::5');
    const noQuery = { ...query('::1'), options: [{ kind: 'CLIENTID' as const, duid: duid(900) }] };
    await t.deliver(noQuery, '2001:db8:ff::5');
    expect(t.sent.map((s) => answerIn(s.bytes).answer.status?.status)).toEqual([10, 10, 7]);
    expect(t.counters.snapshot()).toMatchObject({
      'leasequery.refused.not-allowed': 1,
      'leasequery.refused.bulk-over-udp': 1,
      'leasequery.refused.unknown-query-type': 1,
      'drop.engine.missing-lq-query': 1,
    });
    expect(t.onUnanswered).not.toHaveBeenCalled();
  });

  it('answers a relayed query through the relay, echoing its Interface-Id (RFC 8415 §19.3)', async () => {
    const t = await setup();
    const relayed: Message = {
      type: 12,
      hopCount: 0,
      linkAddress: '2001:db8:2::1',
      peerAddress: '2001:db8:ff::5',
      options: [
        { kind: 'INTERFACE_ID', id: Uint8Array.of(0x65, 0x74, 0x68, 0x31) },
        { kind: 'RELAY_MSG', message: query('2001:db8:1::1000') },
      ],
    };
    await t.deliver(relayed, '2001:db8:2::1');
    expect(t.sent).toHaveLength(1);
    const { relays, answer } = answerIn(t.sent[0]!.bytes);
    expect(relays.map((r) => [r.type, r.peerAddress, r.options[0]?.kind])).toEqual([[13, '2001:db8:ff::5', 'INTERFACE_ID']]);
    expect(answer.clientData?.addresses.map((a) => a.address)).toEqual(['2001:db8:1::1000']);
  });

  it('sheds queries while the loop lags: the clients come first (RFC 5007 §5)', async () => {
    const t = await setup(LAG_SHED_NEW_MS);
    await t.deliver(query('2001:db8:1::1000'), '2001:db8:ff::5');
    expect(t.sent).toHaveLength(0);
    expect(t.counters.get('shed.LEASEQUERY')).toBe(1);
  });
});

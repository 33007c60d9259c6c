// The engine's answers to RFC 5007 LEASEQUERY (§4.2.1, §4.4), from a lease
// view written directly, so each case states the bindings it answers from.

import { beforeEach, describe, expect, it } from 'vitest';
import type { Lease, LeasequeryDecision } from '../../../src/engine/index.js';
import { LEASES_PER_ANSWER_MAX } from '../../../src/engine/index.js';
import { INFINITY_SEC, type ClientServerMessage, type Option, type RelayMessage } from '../../../src/wire/index.js';
import {
  QueryType,
  leasequeryMessage,
  readLeasequeryReply,
  type LeasequeryAnswer,
  type LqQuery,
} from '../../../src/wire/leasequery/index.js';
import { SERVER_DUID, T0, World, baseConfig, duid, duidHex, iaNa, iaPd, msg, MsgType, reply } from './harness.js';

const REQUESTOR = duid(900);
const ALLOWED = '2001:db8:ff::5';
const config = { ...baseConfig, leasequery: { requestors: ['2001:db8:ff::/64', '2001:db8:2::1'] } };

const lease = (n: number, resource: string, patch: Partial<Lease> = {}): Lease => ({
  resource,
  type: resource.includes('/') ? 'pd' : 'na',
  duid: duidHex(n),
  iaid: 1,
  state: 'active',
  preferredSec: 3000,
  validSec: 4000,
  clttSec: T0 - 100,
  expiresAtSec: T0 - 100 + 4000,
  ...patch,
});

let w: World;
async function put(...leases: Lease[]): Promise<void> {
  await w.ready;
  await w.store.apply(leases.map((l) => ({ op: 'put' as const, lease: l })));
}

function ask(
  query: LqQuery | ClientServerMessage,
  from: { source?: string; relays?: RelayMessage[] } = { source: ALLOWED },
): LeasequeryDecision {
  const message = 'queryType' in query ? leasequeryMessage(0x4242, REQUESTOR, query) : query;
  return w.engine.leasequery(
    { message, relays: from.relays ?? [], interface: 'lan0', unicast: true, ...(from.source ? { sourceAddress: from.source } : {}) },
    { nowSec: w.nowSec, view: w.store },
  );
}

/** The reply as a requestor reads it, after checking what §4.2.2 makes it check. */
function answerOf(d: LeasequeryDecision): LeasequeryAnswer & { outcome: string } {
  const m = reply(d as never);
  expect(m.type).toBe(MsgType.LEASEQUERY_REPLY);
  expect(m.transactionId).toBe(0x4242);
  expect(m.options.filter((o) => o.kind === 'SERVERID')).toEqual([{ kind: 'SERVERID', duid: SERVER_DUID }]);
  expect(m.options.filter((o) => o.kind === 'CLIENTID')).toEqual([{ kind: 'CLIENTID', duid: REQUESTOR }]);
  const read = readLeasequeryReply(m);
  if (!read.ok) throw new Error(read.error.detail);
  return { ...read.value, outcome: d.kind === 'reply' ? d.outcome : d.reason };
}
const statusOf = (d: LeasequeryDecision): number | undefined => answerOf(d).status?.status;

const byAddress = (address: string, linkAddress = '::'): LqQuery => ({
  queryType: QueryType.BY_ADDRESS,
  linkAddress,
  options: [{ kind: 'IAADDR', address, preferredSec: 0, validSec: 0, options: [] }],
});
const byClient = (n: number, linkAddress = '::'): LqQuery => ({
  queryType: QueryType.BY_CLIENTID,
  linkAddress,
  options: [{ kind: 'CLIENTID', duid: duid(n) }],
});

beforeEach(() => {
  w = new World(config);
});

describe('QUERY_BY_ADDRESS (RFC 5007 §4.1.2.1, §4.4.1, §4.4.2)', () => {
  it("answers with the client's DUID, every live lease on the link with the lifetimes left now, and CLT_TIME", async () => {
    await put(
      lease(1, '2001:db8:1::1000'),
      lease(1, '2001:db8:8000:100::/56', { preferredSec: 6000, validSec: 8000, clttSec: T0 - 30, expiresAtSec: T0 - 30 + 8000 }),
      lease(1, '2001:db8:1::1001', { state: 'released', expiresAtSec: T0 + 100 }), // not live: left out
      lease(2, '2001:db8:1::1002'), // another client
    );
    const a = answerOf(ask(byAddress('2001:db8:1::1000')));
    expect(a.outcome).toBe('answered');
    expect(a.status).toBeUndefined();
    expect(a.clientData).toEqual({
      clientDuid: duid(1),
      addresses: [{ kind: 'IAADDR', address: '2001:db8:1::1000', preferredSec: 2900, validSec: 3900, options: [] }],
      prefixes: [{ kind: 'IAPREFIX', prefix: '2001:db8:8000:100::', prefixLength: 56, preferredSec: 5970, validSec: 7970, options: [] }],
      cltSec: 30, // the latest transaction, on the delegation
    });
  });

  it('finds the client delegated a prefix that contains the address', async () => {
    await put(lease(3, '2001:db8:8000:300::/56'));
    const a = answerOf(ask(byAddress('2001:db8:8000:3ab::1')));
    expect(a.clientData?.clientDuid).toEqual(duid(3));
    expect(a.clientData?.prefixes.map((p) => `${p.prefix}/${p.prefixLength}`)).toEqual(['2001:db8:8000:300::/56']);
  });

  it('answers an empty reply when nothing live holds the address (§4.3.3 variant 3)', async () => {
    await put(lease(1, '2001:db8:1::1000', { expiresAtSec: T0 }), lease(1, '2001:db8:1::1001', { state: 'declined' }));
    for (const address of ['2001:db8:1::1000', '2001:db8:1::1001', '2001:db8:1::9999']) {
      const a = answerOf(ask(byAddress(address)));
      expect(a).toEqual({ outcome: 'empty' });
    }
  });

  it('uses a non-zero link-address to find the link, and answers NotConfigured for a link it does not serve', async () => {
    await put(lease(1, '2001:db8:1::1000'));
    expect(answerOf(ask(byAddress('2001:db8:1::1000', '2001:db8:1::1'))).outcome).toBe('answered');
    expect(answerOf(ask(byAddress('2001:db8:1::1000', '2001:db8:2::1'))).outcome).toBe('empty'); // on another link
    expect(statusOf(ask(byAddress('2001:db8:1::1000', '2001:db8:77::1')))).toBe(9);
    expect(statusOf(ask(byAddress('2001:db8:77::1')))).toBe(9); // 0::0: the address finds no link either
  });

  it('keeps infinite lifetimes infinite', async () => {
    await put(lease(1, '2001:db8:1::1000', { preferredSec: INFINITY_SEC, validSec: INFINITY_SEC, expiresAtSec: T0 - 100 + INFINITY_SEC }));
    const a = answerOf(ask(byAddress('2001:db8:1::1000')));
    expect(a.clientData?.addresses[0]).toMatchObject({ preferredSec: INFINITY_SEC, validSec: INFINITY_SEC });
  });

  it('answers MalformedQuery without OPTION_IAADDR', () => {
    expect(statusOf(ask({ queryType: 1, linkAddress: '::', options: [{ kind: 'CLIENTID', duid: duid(1) }] }))).toBe(8);
  });
});

describe('QUERY_BY_CLIENTID (RFC 5007 §4.1.2.1, §4.4.1)', () => {
  it("answers the client's data when it is on one link", async () => {
    await put(lease(1, '2001:db8:1::1000'), lease(1, '2001:db8:1::1001', { iaid: 2 }));
    const a = answerOf(ask(byClient(1)));
    expect(a.outcome).toBe('answered');
    expect(a.clientData?.addresses.map((x) => x.address)).toEqual(['2001:db8:1::1000', '2001:db8:1::1001']);
  });

  it('lists the links, and no data, for a client with leases on two links (§4.4.1 MUST, MUST NOT)', async () => {
    await put(lease(1, '2001:db8:1::1000'), lease(1, '2001:db8:9000:10::/60'));
    const a = answerOf(ask(byClient(1)));
    expect(a).toEqual({ outcome: 'client-links', clientLinks: ['2001:db8:1::', '2001:db8:2::'] });
    // §4.1.2.5: the requestor asks again with each link-address, and gets that link's data.
    const second = answerOf(ask(byClient(1, a.clientLinks![1]!)));
    expect(second.clientData?.prefixes.map((p) => p.prefix)).toEqual(['2001:db8:9000:10::']);
    expect(second.clientData?.addresses).toEqual([]);
  });

  it('answers an empty reply for an unknown client, and NotConfigured for an unknown link', async () => {
    expect(answerOf(ask(byClient(7)))).toEqual({ outcome: 'empty' });
    expect(answerOf(ask(byClient(7, '2001:db8:1::')))).toEqual({ outcome: 'empty' });
    expect(statusOf(ask(byClient(7, 'fd00:99::1')))).toBe(9);
  });

  it('answers MalformedQuery without OPTION_CLIENTID in the query-options', () => {
    expect(statusOf(ask({ queryType: 2, linkAddress: '::', options: [] }))).toBe(8);
  });

  it(`lists at most ${LEASES_PER_ANSWER_MAX} leases, and says it left the rest out`, async () => {
    const many = Array.from({ length: LEASES_PER_ANSWER_MAX + 6 }, (_, i) =>
      lease(1, `2001:db8:1::${(0x1000 + i).toString(16)}`, { iaid: i }),
    );
    await put(...many);
    const d = ask(byClient(1));
    expect(d.kind === 'reply' && d.truncated).toBe(true);
    expect(answerOf(d).clientData?.addresses).toHaveLength(LEASES_PER_ANSWER_MAX);
  });

  it('answers the leases an exchange granted, as the engine granted them', async () => {
    const granted = reply(await w.send(msg(MsgType.SOLICIT, 5, [iaNa(1), iaPd(2), { kind: 'RAPID_COMMIT' }])));
    expect(granted.type).toBe(MsgType.ADVERTISE); // no rapid commit on this subnet: Request it
    const serverId = granted.options.find((o) => o.kind === 'SERVERID')!;
    const ias = granted.options.filter((o) => o.kind === 'IA_NA' || o.kind === 'IA_PD');
    reply(await w.send(msg(MsgType.REQUEST, 5, [serverId, ...ias])));
    w.nowSec += 10;
    const a = answerOf(ask(byClient(5)));
    expect(a.clientData?.addresses).toHaveLength(1);
    expect(a.clientData?.prefixes).toHaveLength(1);
    expect(a.clientData?.addresses[0]).toMatchObject({ preferredSec: 2990, validSec: 3990 });
    expect(a.clientData?.cltSec).toBe(10);
  });
});

describe('refusals and drops (RFC 5007 §4.1.3, §4.2.1; RFC 5460 §4)', () => {
  it('answers NotAllowed to a requestor not listed, before reading its query', async () => {
    await put(lease(1, '2001:db8:1::1000'));
    expect(statusOf(ask(byAddress('2001:db8:1::1000'), { source: '2001:db8:1::77' }))).toBe(10);
    expect(statusOf(ask({ queryType: 99, linkAddress: '::', options: [] }, { source: '2001:db8:1::77' }))).toBe(10);
    expect(statusOf(ask(byAddress('2001:db8:1::1000'), {}))).toBe(10); // no known source
    expect(statusOf(ask(byAddress('2001:db8:1::1000'), { source: '192.0.2.1' }))).toBe(10); // not IPv6 text: no one, no throw
  });

  it('answers NotAllowed to everybody when leasequery is off (section absent or empty)', async () => {
    for (const off of [baseConfig, { ...baseConfig, leasequery: {} }, { ...baseConfig, leasequery: { requestors: [] } }]) {
      w = new World(off);
      await put(lease(1, '2001:db8:1::1000'));
      expect(answerOf(ask(byAddress('2001:db8:1::1000')))).toMatchObject({ outcome: 'not-allowed', status: { status: 10 } });
    }
  });

  it('answers a relayed query only when the relay and the requestor it names are both listed (§5)', async () => {
    await put(lease(1, '2001:db8:1::1000'));
    const via = (peerAddress: string): RelayMessage[] => [
      { type: 12, hopCount: 0, linkAddress: '2001:db8:2::1', peerAddress, options: [] },
    ];
    expect(answerOf(ask(byAddress('2001:db8:1::1000'), { source: '2001:db8:2::1', relays: via(ALLOWED) })).outcome).toBe('answered');
    expect(statusOf(ask(byAddress('2001:db8:1::1000'), { source: '2001:db8:2::1', relays: via('2001:db8:1::77') }))).toBe(10);
    expect(statusOf(ask(byAddress('2001:db8:1::1000'), { source: '2001:db8:2::9', relays: via(ALLOWED) }))).toBe(10);
  });

  it('answers UnknownQueryType for query-types it does not know, NotAllowed for Bulk Leasequery ones over UDP', () => {
    for (const queryType of [0, 6, 255]) {
      expect(answerOf(ask({ queryType, linkAddress: '::', options: [] }))).toMatchObject({
        outcome: 'unknown-query-type',
        status: { status: 7 },
      });
    }
    for (const queryType of [QueryType.BY_RELAY_ID, QueryType.BY_LINK_ADDRESS, QueryType.BY_REMOTE_ID]) {
      expect(answerOf(ask({ queryType, linkAddress: '2001:db8:1::', options: [] }))).toMatchObject({
        outcome: 'bulk-over-udp',
        status: { status: 10 },
      });
    }
  });

  it('answers MalformedQuery to a query whose OPTION_LQ_QUERY does not read, or that has two', () => {
    const head: Option[] = [{ kind: 'CLIENTID', duid: REQUESTOR }];
    const short: ClientServerMessage = {
      type: 14,
      transactionId: 0x4242,
      options: [...head, { kind: 'UNKNOWN', code: 44, data: Uint8Array.of(1) }],
    };
    expect(answerOf(ask(short))).toMatchObject({ outcome: 'malformed-query', status: { status: 8 } });
    const q = leasequeryMessage(0x4242, REQUESTOR, byClient(1));
    expect(statusOf(ask({ ...q, options: [...q.options, q.options[1]!] }))).toBe(8);
  });

  it("drops what §4.2.1 says to discard: no Client Identifier, another server's Identifier, no query", () => {
    const q = leasequeryMessage(0x4242, REQUESTOR, byClient(1));
    expect(ask({ ...q, options: q.options.slice(1) })).toEqual({ kind: 'drop', reason: 'missing-client-id' });
    const other = leasequeryMessage(0x4242, REQUESTOR, byClient(1), duid(77));
    expect(ask(other)).toEqual({ kind: 'drop', reason: 'not-our-server-id' });
    expect(answerOf(ask(leasequeryMessage(0x4242, REQUESTOR, byClient(1), SERVER_DUID))).outcome).toBe('empty');
    expect(ask({ ...q, options: q.options.slice(0, 1) })).toEqual({ kind: 'drop', reason: 'missing-lq-query' });
  });

  it('changes nothing, and the DHCP path drops Leasequery replies and Bulk Leasequery messages (§4.2.2)', async () => {
    await put(lease(1, '2001:db8:1::1000'));
    const before = w.store.byClient(duidHex(1));
    ask(byAddress('2001:db8:1::1000'));
    expect(w.store.byClient(duidHex(1))).toEqual(before);
    for (const type of [15, 16, 17]) expect(await w.send(msg(type, 1, []))).toEqual({ kind: 'drop', reason: 'server-msg-type' });
    expect(await w.send(msg(14, 1, []))).toEqual({ kind: 'drop', reason: 'unknown-msg-type' }); // only engine.leasequery answers it
  });
});

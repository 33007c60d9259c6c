// RFC 5007 Leasequery codec: LEASEQUERY (14) and LEASEQUERY-REPLY (15) with
// the options of §4.1.2. Fixtures are written by hand from the RFC's layouts
// (docs/style.md §3.2); round trips go through the shared message codec too.

import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, type ClientServerMessage, type Option } from '../../../src/wire/index.js';
import {
  LqOptionCode,
  QueryType,
  clientDataOption,
  isBulkQueryType,
  leasequeryMessage,
  leasequeryReply,
  lqOption,
  queryTypeName,
  readLeasequeryReply,
  readLqOption,
  readQuery,
  type LqOptionName,
  type LqOptionValues,
} from '../../../src/wire/leasequery/index.js';
import { hex, roundTrip, tlv, u8 } from './helpers.js';

const requestor = u8(0, 3, 0, 1, 0x02, 0, 0, 0, 0, 0x5a); // DUID-LL 02:00:00:00:00:5a
const client = u8(0, 3, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56);
const server = u8(0, 2, 0, 0, 0x9f, 0x08, 0x74, 0x77, 0x69, 0x6e, 0x36);

/** A LEASEQUERY by address, written from §4.1.1 (RFC 8415 §8 header) and §4.1.2.1. */
const QUERY_BY_ADDRESS = hex(`
  0e                              // msg-type 14 LEASEQUERY (§4.1.1)
  00 42 17                        // transaction-id
  00 01 00 0a                     // option 1 CLIENTID, option-len 10: the requestor (§4.3.1)
    00 03 00 01 02 00 00 00 00 5a //   DUID-LL
  00 2c 00 2d                     // option 44 LQ_QUERY, option-len 45 = 17 + 28
    01                            //   query-type 1 QUERY_BY_ADDRESS
    00 00 00 00 00 00 00 00       //   link-address ::
    00 00 00 00 00 00 00 00
    00 05 00 18                   //   query-options: option 5 IAADDR, option-len 24
      20 01 0d b8 00 01 00 00     //     2001:db8:1::1000
      00 00 00 00 00 00 10 00
      00 00 00 00                 //     preferred-lifetime 0
      00 00 00 00                 //     valid-lifetime 0
`);

/** A LEASEQUERY-REPLY with one client's data (§4.4.2): CLIENTID, IAADDR, IAPREFIX, CLT_TIME. */
const REPLY_WITH_CLIENT_DATA = hex(`
  0f 00 42 17                     // msg-type 15 LEASEQUERY-REPLY, transaction-id copied (§4.4.1)
  00 02 00 0b                     // SERVERID, option-len 11
    00 02 00 00 9f 08 74 77 69 6e 36
  00 01 00 0a                     // CLIENTID: the requestor's
    00 03 00 01 02 00 00 00 00 5a
  00 2d 00 4f                     // option 45 CLIENT_DATA, option-len 79 = 14 + 28 + 29 + 8
    00 01 00 0a                   //   CLIENTID: the client's
      00 03 00 01 52 54 00 12 34 56
    00 05 00 18                   //   IAADDR 2001:db8:1::1000, preferred 1800, valid 3600
      20 01 0d b8 00 01 00 00 00 00 00 00 00 00 10 00
      00 00 07 08 00 00 0e 10
    00 1a 00 19                   //   IAPREFIX, preferred 7200, valid 14400, /56 2001:db8:8000:100::
      00 00 1c 20 00 00 38 40 38
      20 01 0d b8 80 00 01 00 00 00 00 00 00 00 00 00
    00 2e 00 04 00 00 00 5a       //   option 46 CLT_TIME: 90 s ago (§4.1.2.3)
`);

/** A reply listing two links (§4.1.2.5), and one refusing the query (§4.1.3 NotAllowed). */
const REPLY_WITH_LINKS = hex(`
  0f 00 00 01
  00 02 00 0b 00 02 00 00 9f 08 74 77 69 6e 36
  00 30 00 20                     // option 48 LQ_CLIENT_LINK, option-len 32: two links
    20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 00
    20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 00
`);
const REPLY_NOT_ALLOWED = hex(`
  0f 00 00 02
  00 02 00 0b 00 02 00 00 9f 08 74 77 69 6e 36
  00 0d 00 0d 00 0a               // STATUS_CODE, option-len 13, status 10 NotAllowed
    6e 6f 74 20 61 6c 6c 6f 77 65 64 // "not allowed"
`);

const asClientMessage = (bytes: Uint8Array): ClientServerMessage => {
  const d = decodeMessage(bytes);
  if (!d.ok) throw new Error(`${d.error.reason}: ${d.error.detail}`);
  expect(encodeMessage(d.message)).toEqual(Buffer.from(bytes)); // raw options survive byte for byte
  return d.message as ClientServerMessage;
};

describe('LEASEQUERY (RFC 5007 §4.1.1, §4.1.2.1)', () => {
  it('reads a query by address written from the RFC layout', () => {
    const m = asClientMessage(QUERY_BY_ADDRESS);
    expect(m.type).toBe(14);
    expect(readQuery(m)).toEqual({
      ok: true,
      query: {
        queryType: QueryType.BY_ADDRESS,
        linkAddress: '::',
        options: [{ kind: 'IAADDR', address: '2001:db8:1::1000', preferredSec: 0, validSec: 0, options: [] }],
      },
    });
  });

  it('builds the same octets from the typed query', () => {
    const built = leasequeryMessage(0x4217, requestor, {
      queryType: 1,
      linkAddress: '::',
      options: [{ kind: 'IAADDR', address: '2001:db8:1::1000', preferredSec: 0, validSec: 0, options: [] }],
    });
    expect(encodeMessage(built)).toEqual(Buffer.from(QUERY_BY_ADDRESS));
  });

  it('round-trips a query by client id with a link-address, an ORO and a Server Identifier', () => {
    const m = leasequeryMessage(
      0xffffff,
      requestor,
      {
        queryType: QueryType.BY_CLIENTID,
        linkAddress: '2001:db8:2::',
        options: [
          { kind: 'CLIENTID', duid: client },
          { kind: 'ORO', codes: [47] },
        ],
      },
      server,
    );
    roundTrip(m);
    const read = readQuery(asClientMessage(encodeMessage(m)));
    expect(read.ok && read.query.linkAddress).toBe('2001:db8:2::');
  });

  it('tells a missing query (§4.2.1: discard) from a repeated or malformed one (§4.1.3: MalformedQuery)', () => {
    const head = [0x0e, 0, 0, 1];
    expect(readQuery(asClientMessage(new Uint8Array([...head, ...tlv(1, requestor)])))).toEqual({ ok: false, problem: 'missing' });
    const q = tlv(44, [2], new Array<number>(16).fill(0));
    expect(readQuery(asClientMessage(new Uint8Array([...head, ...q, ...q])))).toMatchObject({ ok: false, problem: 'repeated' });
    for (const body of [[], [1], [1, ...new Array<number>(15).fill(0)]]) {
      expect(readQuery(asClientMessage(new Uint8Array([...head, ...tlv(44, body)])))).toMatchObject({
        ok: false,
        problem: 'malformed',
        error: { reason: 'bad-option' },
      });
    }
    // query-options that run past the option: the shared reasons, never a throw.
    const overflow = tlv(44, [1], new Array<number>(16).fill(0), [0, 5, 0, 24, 0x20]);
    expect(readQuery(asClientMessage(new Uint8Array([...head, ...overflow])))).toMatchObject({
      ok: false,
      problem: 'malformed',
      error: { reason: 'option-overflow' },
    });
  });

  it('names the query-types and marks RFC 5460 ones as bulk', () => {
    expect([1, 2, 3, 4, 5, 6].map(queryTypeName)).toEqual([
      'BY_ADDRESS',
      'BY_CLIENTID',
      'BY_RELAY_ID',
      'BY_LINK_ADDRESS',
      'BY_REMOTE_ID',
      'QUERY_6',
    ]);
    expect([0, 1, 2, 3, 4, 5, 6].map(isBulkQueryType)).toEqual([false, false, false, true, true, true, false]);
  });
});

describe('LEASEQUERY-REPLY (RFC 5007 §4.1.1, §4.4)', () => {
  it('reads client data written from §4.1.2.2–§4.1.2.3 and §4.4.2', () => {
    const answer = readLeasequeryReply(asClientMessage(REPLY_WITH_CLIENT_DATA));
    expect(answer).toEqual({
      ok: true,
      value: {
        clientData: {
          clientDuid: client,
          addresses: [{ kind: 'IAADDR', address: '2001:db8:1::1000', preferredSec: 1800, validSec: 3600, options: [] }],
          prefixes: [
            { kind: 'IAPREFIX', preferredSec: 7200, validSec: 14400, prefixLength: 56, prefix: '2001:db8:8000:100::', options: [] },
          ],
          cltSec: 90,
        },
      },
    });
  });

  it('builds the same octets from the typed answer', () => {
    const query = asClientMessage(QUERY_BY_ADDRESS);
    const read = readLeasequeryReply(asClientMessage(REPLY_WITH_CLIENT_DATA));
    if (!read.ok) throw new Error('unreachable');
    expect(encodeMessage(leasequeryReply(query, server, read.value))).toEqual(Buffer.from(REPLY_WITH_CLIENT_DATA));
  });

  it('reads a client-link list (§4.1.2.5) and a status (§4.1.3)', () => {
    expect(readLeasequeryReply(asClientMessage(REPLY_WITH_LINKS))).toEqual({
      ok: true,
      value: { clientLinks: ['2001:db8:1::', '2001:db8:2::'] },
    });
    expect(readLeasequeryReply(asClientMessage(REPLY_NOT_ALLOWED))).toEqual({
      ok: true,
      value: { status: { kind: 'STATUS_CODE', status: 10, message: 'not allowed' } },
    });
  });

  it('round-trips relay data (§4.1.2.4) inside client data, its relay message kept as octets', () => {
    const relayMessage = hex('0c 00 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 01 fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 02');
    const data = clientDataOption({
      clientDuid: client,
      addresses: [],
      prefixes: [],
      cltSec: 0,
      relayData: { peerAddress: 'fe80::1', relayMessage },
    });
    const reply: ClientServerMessage = { type: 15, transactionId: 7, options: [{ kind: 'SERVERID', duid: server }, data] };
    roundTrip(reply);
    const read = readLeasequeryReply(reply);
    expect(read.ok && read.value.clientData?.relayData).toEqual({ peerAddress: 'fe80::1', relayMessage });
  });
});

describe('RFC 5007 option bodies (§4.1.2)', () => {
  const samples: { [K in LqOptionName]: LqOptionValues[K][] } = {
    LQ_QUERY: [
      { queryType: 0, linkAddress: '::', options: [] },
      { queryType: 255, linkAddress: '2001:db8::1', options: [{ kind: 'UNKNOWN', code: 53, data: u8(0, 3) }] },
    ],
    CLIENT_DATA: [[], [{ kind: 'CLIENTID', duid: client }, lqOption('CLT_TIME', 1)]],
    CLT_TIME: [0, 1, 0xffffffff],
    LQ_RELAY_DATA: [{ peerAddress: '::', relayMessage: u8() }],
    LQ_CLIENT_LINK: [[], ['2001:db8::', 'fd00::1', '::']],
  };
  for (const name of Object.keys(samples) as LqOptionName[]) {
    it(`${name} (option ${LqOptionCode[name]}) round-trips through the shared codec`, () => {
      for (const value of samples[name]) {
        const option = lqOption(name, value as never);
        expect(option.code).toBe(LqOptionCode[name]);
        roundTrip({ type: 14, transactionId: 1, options: [option] });
        expect(readLqOption(option, name)).toEqual({ ok: true, value });
      }
    });
  }

  const bad: [LqOptionName, number[], string][] = [
    ['CLT_TIME', [0, 0, 1], 'bad-option'],
    ['CLT_TIME', [0, 0, 0, 0, 1], 'bad-option'],
    ['LQ_CLIENT_LINK', new Array<number>(17).fill(0), 'bad-option'],
    ['LQ_RELAY_DATA', new Array<number>(15).fill(0), 'bad-option'],
    ['LQ_QUERY', [1], 'bad-option'],
    ['CLIENT_DATA', [0, 1, 0, 2, 0], 'option-overflow'],
    ['CLIENT_DATA', [0, 1, 0, 1, 0], 'bad-duid'],
  ];
  it.each(bad)('%s with body %j is %s, a value and not a throw', (name, body, reason) => {
    const option: Option = { kind: 'UNKNOWN', code: LqOptionCode[name], data: Uint8Array.from(body) };
    const read = readLqOption(option, name);
    expect(read.ok ? 'ok' : read.error.reason).toBe(reason);
  });

  it('every truncation of the hand-written reply reads to a value or a problem, never a throw', () => {
    for (let n = 0; n <= REPLY_WITH_CLIENT_DATA.length; n++) {
      const d = decodeMessage(REPLY_WITH_CLIENT_DATA.subarray(0, n));
      if (!d.ok) continue;
      expect(() => readLeasequeryReply(d.message as ClientServerMessage)).not.toThrow();
    }
  });
});

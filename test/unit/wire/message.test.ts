import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  MsgType,
  optionCodecs,
  type Message,
  type Option,
  type RelayMessage,
} from '../../../src/wire/index.js';
import { roundTrip, roundTripOption, solicit, u8 } from './helpers.js';
import { clientId, iaNa, iaPd, samples, serverId } from './samples.js';

describe('round trip of every option kind (dns-packet style)', () => {
  it('has a sample for every codec in the table', () => {
    expect(Object.keys(samples).sort()).toEqual(Object.keys(optionCodecs).sort());
  });

  for (const [kind, values] of Object.entries(samples)) {
    it(`${kind}`, () => {
      for (const value of values as Option[]) roundTripOption(value);
    });
  }

  it('UNKNOWN options survive byte for byte (RFC 8415 §16)', () => {
    const body = roundTripOption({ kind: 'UNKNOWN', code: 0x1234, data: u8(9, 8, 7) });
    expect(Array.from(body)).toEqual([0x12, 0x34, 0, 3, 9, 8, 7]);
  });
});

describe('round trip of every message type', () => {
  const allOptions = Object.values(samples).flat() as Option[];

  for (let type = 1; type <= 11; type++) {
    it(`type ${type} with a typical option set`, () => {
      roundTrip({
        type,
        transactionId: 0xabcdef,
        options: [clientId, serverId, iaNa(1, '2001:db8::5'), { kind: 'ELAPSED_TIME', elapsedCs: 10 }],
      });
    });
  }

  it('RELAY_FORW (12) and RELAY_REPL (13)', () => {
    for (const type of [MsgType.RELAY_FORW, MsgType.RELAY_REPL] as const) {
      roundTrip({
        type,
        hopCount: 255,
        linkAddress: '2001:db8:1::1',
        peerAddress: 'fe80::5054:ff:fe12:3456',
        options: [{ kind: 'RELAY_MSG', message: solicit([clientId]) }],
      });
    }
  });

  it('a message holding one sample of every option kind at once', () => {
    roundTrip({ type: MsgType.REPLY, transactionId: 0, options: allOptions });
  });

  it('unknown message types decode with their numeric type (the engine drops them)', () => {
    for (const type of [0, 14, 23, 35, 255]) roundTrip({ type, transactionId: 0xffffff, options: [clientId] });
  });

  it('several IA_NA and IA_PD in one message keep their order (RFC 7550)', () => {
    const options = [
      clientId,
      iaNa(1, '2001:db8::1'),
      iaPd(10, '2001:db8:8000::', 56),
      iaNa(2, '2001:db8::2'),
      iaPd(11, '2001:db8:8000:100::', 56),
      iaNa(3),
      {
        kind: 'IA_NA',
        iaid: 4,
        t1Sec: 1,
        t2Sec: 2,
        options: [
          { kind: 'IAADDR', address: '2001:db8::4', preferredSec: 1, validSec: 2, options: [] },
          { kind: 'IAADDR', address: '2001:db8::5', preferredSec: 0, validSec: 0, options: [] },
        ],
      },
    ] satisfies Option[];
    roundTrip({ type: MsgType.REPLY, transactionId: 42, options });
  });

  it('three nested relay levels, each with its own interface-id', () => {
    let message: Message = solicit([clientId, iaNa(1), { kind: 'ORO', codes: [23, 24] }]);
    for (let level = 0; level < 3; level++) {
      const relay: RelayMessage = {
        type: 12,
        hopCount: 2 - level,
        linkAddress: level === 0 ? '2001:db8:1::1' : '::',
        peerAddress: `fe80::${level + 1}`,
        options: [
          { kind: 'INTERFACE_ID', id: u8(0x69, 0x66, 0x30 + level) },
          { kind: 'RELAY_MSG', message },
          { kind: 'UNKNOWN', code: 37, data: u8(0, 0, 0x10, 0x13, level) }, // REMOTE_ID, RFC 4649
        ],
      };
      message = relay;
    }
    const bytes = roundTrip(message);
    // per level: header 34, INTERFACE_ID 7, RELAY_MSG header 4, REMOTE_ID 9; Solicit: 4 + 18 + IA_NA 34 + ORO 8
    expect(bytes.length).toBe(3 * (34 + 7 + 4 + 9) + 4 + 18 + 34 + 8);
  });
});

describe('encoder guards programmer errors', () => {
  it.each([
    ['a bad address', solicit([{ kind: 'DNS_SERVERS', servers: ['not-an-address'] }])],
    ['a u32 out of range', solicit([{ kind: 'IA_NA', iaid: -1, t1Sec: 0, t2Sec: 0, options: [] }])],
    ['a transaction-id wider than 24 bits', solicit([], 0x1000000)],
    [
      'a prefix length above 128',
      solicit([{ kind: 'IAPREFIX', preferredSec: 0, validSec: 0, prefixLength: 129, prefix: '::', options: [] }]),
    ],
    ['an empty DUID', solicit([{ kind: 'CLIENTID', duid: u8() }])],
    ['a domain with an empty label', solicit([{ kind: 'DOMAIN_LIST', domains: ['a..b'] }])],
    ['a domain with a trailing dot', solicit([{ kind: 'DOMAIN_LIST', domains: ['example.com.'] }])],
    ['an option body over 65535 octets', solicit([{ kind: 'UNKNOWN', code: 99, data: new Uint8Array(65536) }])],
  ] as const)('throws on %s', (_what, message) => {
    expect(() => encodeMessage(message)).toThrow(/wire|IPv6/);
  });

  it('decodeMessage accepts a Buffer or a Uint8Array view into a larger buffer', () => {
    const bytes = encodeMessage(solicit([clientId]));
    const backing = new Uint8Array(bytes.length + 7);
    backing.set(bytes, 7);
    expect(decodeMessage(backing.subarray(7))).toEqual(decodeMessage(bytes));
    expect(decodeMessage(bytes).ok).toBe(true);
  });

  it('decoded byte fields are copies, not views of the datagram', () => {
    const bytes = encodeMessage(solicit([clientId]));
    const result = decodeMessage(bytes);
    bytes.fill(0);
    expect(result).toEqual({ ok: true, message: solicit([clientId]) });
  });
});

// Datagrams written by hand from the RFC 8415 layouts (§8, §9, §21), shaped
// like what real clients and relays send. None of these bytes come from our
// encoder (docs/style.md §3.2: fixtures are never our own output).

import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  describeDuid,
  duidToHex,
  encodeMessage,
  findOption,
  findOptions,
  findUnknown,
  unwrapRelay,
  wrapRelayReply,
  type ClientServerMessage,
  type Message,
} from '../../../src/wire/index.js';
import { DHCLIENT_SOLICIT, DHCPCD_SOLICIT, RELAY_HEADER, REPLY } from './captures.js';
import { hex } from './helpers.js';

function decoded(bytes: Uint8Array): Message {
  const result = decodeMessage(bytes);
  if (!result.ok) throw new Error(`${result.error.reason} at ${result.error.offset}: ${result.error.detail}`);
  // Everything these fixtures hold re-encodes to the very same octets.
  expect(encodeMessage(result.message)).toEqual(Buffer.from(bytes));
  return result.message;
}

const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('hand-written captures', () => {
  it('decodes an ISC dhclient Solicit', () => {
    const m = decoded(DHCLIENT_SOLICIT) as ClientServerMessage;
    expect(m.type).toBe(1);
    expect(m.transactionId).toBe(0xa1b2c3);
    expect(m.options.map((o) => o.kind)).toEqual(['CLIENTID', 'ELAPSED_TIME', 'ORO', 'IA_NA', 'IA_PD']);
    const duid = findOption(m.options, 'CLIENTID')!.duid;
    expect(duidToHex(duid)).toBe('000100012b1c5e3a525400123456');
    expect(describeDuid(duid)).toBe('DUID-LLT hw=1 time=723279418 (2022-12-02T06:56:58Z) ll=52:54:00:12:34:56');
    expect(findOption(m.options, 'ORO')!.codes).toEqual([23, 24]);
    expect(findOption(m.options, 'ELAPSED_TIME')!.elapsedCs).toBe(0);
    expect(findOption(m.options, 'IA_NA')).toEqual({ kind: 'IA_NA', iaid: 0x123456, t1Sec: 3600, t2Sec: 5400, options: [] });
    expect(findOption(m.options, 'IA_PD')).toEqual({ kind: 'IA_PD', iaid: 0x123456, t1Sec: 3600, t2Sec: 5400, options: [] });
  });

  it('decodes a dhcpcd Solicit, keeping options it does not model byte for byte', () => {
    const m = decoded(DHCPCD_SOLICIT) as ClientServerMessage;
    expect(m.transactionId).toBe(0x5e3f10);
    expect(describeDuid(findOption(m.options, 'CLIENTID')!.duid)).toBe('DUID-LL hw=1 ll=52:54:00:ab:cd:ef');
    expect(hexOf(findUnknown(m.options, 39)!.data)).toBe('0104686f737400');
    expect(Buffer.from(findUnknown(m.options, 16)!.data.subarray(6)).toString()).toBe('dhcpcd-10.0.6');
    expect(findOption(m.options, 'ORO')!.codes).toEqual([23, 24, 39, 82]);
    expect(findOption(m.options, 'IA_NA')!.iaid).toBe(0xabcdef01);
    const pd = findOption(m.options, 'IA_PD')!;
    expect(pd.options).toEqual([{ kind: 'IAPREFIX', preferredSec: 0, validSec: 0, prefixLength: 56, prefix: '::', options: [] }]);
  });

  it('decodes a Reply with nested IAADDR/IAPREFIX and RFC 3646 options', () => {
    const m = decoded(REPLY) as ClientServerMessage;
    expect(m.type).toBe(7);
    const na = findOption(m.options, 'IA_NA')!;
    expect([na.t1Sec, na.t2Sec]).toEqual([1800, 2880]);
    expect(findOptions(na.options, 'IAADDR')).toEqual([
      { kind: 'IAADDR', address: '2001:db8:1::1000', preferredSec: 3600, validSec: 7200, options: [] },
    ]);
    const prefix = findOption(findOption(m.options, 'IA_PD')!.options, 'IAPREFIX')!;
    expect([prefix.prefix, prefix.prefixLength]).toEqual(['2001:db8:8000:100::', 56]);
    expect(findOption(m.options, 'STATUS_CODE')).toEqual({ kind: 'STATUS_CODE', status: 0, message: 'all good' });
    expect(findOption(m.options, 'DNS_SERVERS')!.servers).toEqual(['2001:db8::53', '2001:db8::35']);
    expect(findOption(m.options, 'DOMAIN_LIST')!.domains).toEqual(['example.com', 'lab.example.com']);
  });

  it('unwraps a relayed Solicit and wraps the reply with the same link, peer and interface-id (§19.3)', () => {
    const forward = hex(`
      0c ${RELAY_HEADER}              // RELAY_FORW
      00 09 00 44 ${hexOf(DHCLIENT_SOLICIT)}   // RELAY_MSG, option-len 68
      00 25 00 06 00 00 0d e9 ab cd   // REMOTE_ID (RFC 4649): enterprise 3561, id abcd
    `);
    const unwrapped = unwrapRelay(decoded(forward));
    if (!unwrapped.ok) throw new Error(unwrapped.error.detail);
    expect(unwrapped.client).toEqual(decoded(DHCLIENT_SOLICIT));
    expect(unwrapped.relays).toHaveLength(1);
    expect(unwrapped.relays[0]).toMatchObject({
      type: 12,
      hopCount: 0,
      linkAddress: '2001:db8:1::1',
      peerAddress: 'fe80::5054:ff:fe12:3456',
    });

    const reply = decoded(REPLY) as ClientServerMessage;
    const wrapped = encodeMessage(wrapRelayReply(reply, unwrapped.relays));
    const expected = hex(`
      0d ${RELAY_HEADER}              // RELAY_REPL: same hop-count, addresses and INTERFACE_ID
      00 09 ${REPLY.length.toString(16).padStart(4, '0')} ${hexOf(REPLY)}
    `);
    expect(hexOf(wrapped)).toBe(hexOf(expected)); // REMOTE_ID is not echoed
  });

  it('decodes a doubly relayed Solicit (lightweight relay inside, RFC 6221)', () => {
    const inner = hex(`
      0c 00 00000000000000000000000000000000 fe800000000000005054 00fffe123456
      00 12 00 02 70 31               // INTERFACE_ID "p1"
      00 09 00 44 ${hexOf(DHCLIENT_SOLICIT)}
    `);
    const outer = hex(`
      0c 01 20010db8000200000000000000000001 20010db8000200000000000000000002
      00 09 ${inner.length.toString(16).padStart(4, '0')} ${hexOf(inner)}
    `);
    const unwrapped = unwrapRelay(decoded(outer));
    if (!unwrapped.ok) throw new Error(unwrapped.error.detail);
    expect(unwrapped.relays.map((r) => [r.hopCount, r.linkAddress, r.peerAddress])).toEqual([
      [1, '2001:db8:2::1', '2001:db8:2::2'],
      [0, '::', 'fe80::5054:ff:fe12:3456'],
    ]);
    expect((unwrapped.client as ClientServerMessage).transactionId).toBe(0xa1b2c3);
  });
});

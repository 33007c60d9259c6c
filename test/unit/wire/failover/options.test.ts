// Every option RFC 8156 defines (§5.5, codes 114–134) and every one it
// reuses from RFC 5007/7653/6607/4704: typed value → TLV → bytes → typed value.

import { describe, expect, it } from 'vitest';
import {
  decodePartnerMessage,
  encodePartnerMessage,
  FoMsgType,
  FoOptionCode,
  foOption,
  foOptionRfc,
  readFoOption,
  type FoOptionName,
  type FoOptionValues,
} from '../../../../src/wire/failover/index.js';
import { tlv, u8 } from '../helpers.js';
import { NOW } from './helpers.js';

const samples: { [K in FoOptionName]: FoOptionValues[K][] } = {
  CLIENT_FQDN: [u8(), u8(0x01, 4, 0x68, 0x6f, 0x73, 0x74, 0)],
  CLIENT_DATA: [[], [{ kind: 'CLIENTID', duid: u8(0, 3, 0, 1, 1, 2, 3, 4, 5, 6) }, foOption('LQ_BASE_TIME', NOW)]],
  CLT_TIME: [0, 10, 0xffffffff],
  LQ_RELAY_DATA: [new Uint8Array(20).fill(9)],
  VSS: [u8(0xff), u8(1, 0x6e, 0x65, 0x74)],
  LQ_BASE_TIME: [NOW, 946_684_800],
  F_BINDING_STATUS: [1, 2, 3, 4, 5, 6, 7, 8],
  F_CONNECT_FLAGS: [{ fixedPdLength: false }, { fixedPdLength: true }],
  F_DNS_REMOVAL_INFO: [{}, { hostName: u8(1, 0x61, 0), zoneName: u8(2, 0x63, 0x6f, 0), flags: 0x000f }, { flags: 0 }],
  F_DNS_HOST_NAME: [u8(4, 0x68, 0x6f, 0x73, 0x74, 0)],
  F_DNS_ZONE_NAME: [u8(0)],
  F_DNS_FLAGS: [0, 0x0001, 0x0008, 0xffff],
  F_EXPIRATION_TIME: [NOW + 86_400],
  F_MAX_UNACKED_BNDUPD: [0, 100, 0xffffffff],
  F_MCLT: [3600],
  F_PARTNER_LIFETIME: [NOW + 5400],
  F_PARTNER_LIFETIME_SENT: [NOW + 5400],
  F_PARTNER_DOWN_TIME: [NOW - 3600],
  F_PARTNER_RAW_CLT_TIME: [NOW - 1],
  F_PROTOCOL_VERSION: [
    { major: 1, minor: 0 },
    { major: 0xffff, minor: 7 },
  ],
  F_KEEPALIVE_TIME: [60],
  F_RECONFIGURE_DATA: [
    { timeSec: NOW, key: u8() },
    { timeSec: NOW - 5, key: new Uint8Array(16).fill(0xab) },
  ],
  F_RELATIONSHIP_NAME: ['', 'cpe-pair-1', 'relation ✓ 障害'],
  F_SERVER_FLAGS: [
    { communicated: false, startup: false, ackStartup: false },
    { communicated: true, startup: true, ackStartup: true },
    { communicated: false, startup: true, ackStartup: false },
  ],
  F_SERVER_STATE: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  F_START_TIME_OF_STATE: [NOW],
  F_STATE_EXPIRATION_TIME: [NOW + 1],
};

/** Puts the option in a CONTACT, encodes, decodes and reads it back. */
function roundTrip<K extends FoOptionName>(name: K, value: FoOptionValues[K]): Uint8Array {
  const option = foOption(name, value);
  const bytes = encodePartnerMessage({ type: FoMsgType.CONTACT, transactionId: 1, sentTimeSec: NOW, options: [option] });
  const decoded = decodePartnerMessage(bytes, NOW);
  if (!decoded.ok) throw new Error(decoded.error.detail);
  expect(decoded.message.options).toEqual([option]);
  const read = readFoOption(name, decoded.message.options[0]!, NOW);
  expect(read).toEqual({ ok: true, value });
  return bytes.subarray(8);
}

describe('round trip of every failover option', () => {
  it('has samples for every code of the table', () => {
    expect(Object.keys(samples).sort()).toEqual(Object.keys(FoOptionCode).sort());
    const codes = Object.values(FoOptionCode).filter((c) => c >= 114);
    expect(codes).toEqual(Array.from({ length: 21 }, (_, i) => 114 + i));
  });

  for (const name of Object.keys(samples) as FoOptionName[]) {
    it(`${name} (${FoOptionCode[name]}, RFC ${foOptionRfc(name)})`, () => {
      for (const value of samples[name]) roundTrip(name, value as never);
    });
  }

  it('writes the RFC layouts', () => {
    expect(Array.from(roundTrip('F_PROTOCOL_VERSION', { major: 1, minor: 0 }))).toEqual([0, 127, 0, 4, 0, 1, 0, 0]);
    expect(Array.from(roundTrip('F_CONNECT_FLAGS', { fixedPdLength: true }))).toEqual([0, 115, 0, 2, 0, 1]); // bit 15 (§5.5.2)
    // §5.5.18: MBZ(5) A S C, numbered from the most significant bit.
    expect(Array.from(roundTrip('F_SERVER_FLAGS', { communicated: true, startup: false, ackStartup: false }))).toEqual([
      0, 131, 0, 1, 0x01,
    ]);
    expect(Array.from(roundTrip('F_SERVER_FLAGS', { communicated: false, startup: true, ackStartup: false }))).toEqual([
      0, 131, 0, 1, 0x02,
    ]);
    expect(Array.from(roundTrip('F_SERVER_FLAGS', { communicated: false, startup: false, ackStartup: true }))).toEqual([
      0, 131, 0, 1, 0x04,
    ]);
    // 2025-06-01T00:00:00Z is 802_051_200 s after 2000-01-01.
    expect(Array.from(roundTrip('F_START_TIME_OF_STATE', NOW))).toEqual([0, 133, 0, 4, 0x2f, 0xce, 0x54, 0x80]);
    expect(Array.from(roundTrip('F_RELATIONSHIP_NAME', 'ab'))).toEqual([0, 130, 0, 2, 0x61, 0x62]); // no NUL (§5.5.17)
  });

  it('ignores MBZ bits on receipt (§5.5.2, §5.5.18)', () => {
    const flags = readFoOption('F_SERVER_FLAGS', { kind: 'UNKNOWN', code: 131, data: u8(0xf8) }, NOW);
    expect(flags).toEqual({ ok: true, value: { communicated: false, startup: false, ackStartup: false } });
    const connect = readFoOption('F_CONNECT_FLAGS', { kind: 'UNKNOWN', code: 115, data: u8(0xff, 0xfe) }, NOW);
    expect(connect).toEqual({ ok: true, value: { fixedPdLength: false } });
  });
});

describe('malformed failover options', () => {
  const bad = (name: FoOptionName, data: number[]) =>
    readFoOption(name, { kind: 'UNKNOWN', code: FoOptionCode[name], data: Uint8Array.from(data) }, NOW);

  it.each([
    ['F_BINDING_STATUS', []],
    ['F_BINDING_STATUS', [1, 1]],
    ['F_CONNECT_FLAGS', [1]],
    ['F_DNS_FLAGS', [0, 0, 0]],
    ['F_MCLT', [0, 0, 14]],
    ['F_PARTNER_LIFETIME', [0, 0, 0, 0, 0]],
    ['F_PROTOCOL_VERSION', [0, 1]],
    ['F_RECONFIGURE_DATA', [0, 0, 1]],
    ['F_SERVER_FLAGS', []],
    ['F_SERVER_STATE', [2, 0]],
    ['LQ_BASE_TIME', [1, 2, 3]],
    ['CLT_TIME', []],
  ] as const)('%s with body %j is a bad-option', (name, data) => {
    expect(bad(name, [...data])).toMatchObject({ ok: false, error: { reason: 'bad-option' } });
  });

  it.each([
    ['F_BINDING_STATUS', [0]],
    ['F_BINDING_STATUS', [9]],
    ['F_SERVER_STATE', [0]],
    ['F_SERVER_STATE', [11]],
    ['F_SERVER_STATE', [255]],
  ] as const)('%s value %j is a bad-value', (name, data) => {
    expect(bad(name, [...data])).toMatchObject({ ok: false, error: { reason: 'bad-value' } });
  });

  it('a broken sub-option of F_DNS_REMOVAL_INFO or CLIENT_DATA', () => {
    expect(bad('F_DNS_REMOVAL_INFO', [0, 117, 0, 9, 1])).toMatchObject({ ok: false, error: { reason: 'option-overflow' } });
    expect(bad('F_DNS_REMOVAL_INFO', [...tlv(119, [0])])).toMatchObject({ ok: false, error: { reason: 'bad-option' } });
    expect(bad('F_DNS_REMOVAL_INFO', [...tlv(117, [0]), ...tlv(117, [0])])).toMatchObject({
      ok: false,
      error: { reason: 'duplicate-option' },
    });
    expect(bad('CLIENT_DATA', [...tlv(1, [0, 1])])).toMatchObject({ ok: false, error: { reason: 'bad-duid' } });
  });

  it('asking for the wrong option is a bad-structure', () => {
    expect(readFoOption('F_MCLT', foOption('F_KEEPALIVE_TIME', 1), NOW)).toMatchObject({ ok: false, error: { reason: 'bad-structure' } });
  });
});

// One or more values of every option kind, for the round-trip and fuzz tests.

import type { Option, OptionKind } from '../../../src/wire/index.js';
import { solicit, u8 } from './helpers.js';

export const clientId: Option = { kind: 'CLIENTID', duid: u8(0, 1, 0, 1, 0x2b, 0x1c, 0x5e, 0x3a, 0x52, 0x54, 0, 0x12, 0x34, 0x56) };
export const serverId: Option = { kind: 'SERVERID', duid: u8(0, 2, 0, 0, 0x9f, 0x08, 0x74, 0x77, 0x69, 0x6e, 0x36) };

export const iaNa = (iaid: number, address?: string): Option => ({
  kind: 'IA_NA',
  iaid,
  t1Sec: 1800,
  t2Sec: 2880,
  options: address
    ? [{ kind: 'IAADDR', address, preferredSec: 3600, validSec: 7200, options: [] }]
    : [{ kind: 'STATUS_CODE', status: 2, message: 'NoAddrsAvail' }],
});

export const iaPd = (iaid: number, prefix: string, prefixLength: number): Option => ({
  kind: 'IA_PD',
  iaid,
  t1Sec: 0xffffffff,
  t2Sec: 0xffffffff,
  options: [{ kind: 'IAPREFIX', preferredSec: 0xffffffff, validSec: 0xffffffff, prefixLength, prefix, options: [] }],
});

/** One value per option kind; the `satisfies` makes a kind added to types.ts without a sample a compile error. */
export const samples = {
  CLIENTID: [clientId],
  SERVERID: [serverId, { kind: 'SERVERID', duid: u8(0, 4, 1) }, { kind: 'SERVERID', duid: new Uint8Array(130).fill(7) }],
  IA_NA: [iaNa(1, '2001:db8:1::1000'), iaNa(0xffffffff), { kind: 'IA_NA', iaid: 0, t1Sec: 0, t2Sec: 0, options: [] }],
  IA_TA: [
    { kind: 'IA_TA', iaid: 7, options: [] },
    { kind: 'IA_TA', iaid: 8, options: [{ kind: 'IAADDR', address: 'fe80::1', preferredSec: 0, validSec: 0, options: [] }] },
  ],
  IAADDR: [
    {
      kind: 'IAADDR',
      address: '2001:db8::1:0:0:1',
      preferredSec: 1,
      validSec: 2,
      options: [{ kind: 'STATUS_CODE', status: 0, message: '' }],
    },
  ],
  ORO: [
    { kind: 'ORO', codes: [] },
    { kind: 'ORO', codes: [23, 24, 82, 0xffff] },
  ],
  PREFERENCE: [{ kind: 'PREFERENCE', preference: 255 }],
  ELAPSED_TIME: [{ kind: 'ELAPSED_TIME', elapsedCs: 0xffff }],
  RELAY_MSG: [{ kind: 'RELAY_MSG', message: solicit([clientId]) }],
  STATUS_CODE: [
    { kind: 'STATUS_CODE', status: 6, message: 'NoPrefixAvail' },
    { kind: 'STATUS_CODE', status: 1, message: 'défaillance ✓ 障害' },
  ],
  RAPID_COMMIT: [{ kind: 'RAPID_COMMIT' }],
  RECONF_ACCEPT: [{ kind: 'RECONF_ACCEPT' }],
  INTERFACE_ID: [
    { kind: 'INTERFACE_ID', id: u8() },
    { kind: 'INTERFACE_ID', id: u8(0x65, 0x74, 0x68, 0x31) },
  ],
  DNS_SERVERS: [
    { kind: 'DNS_SERVERS', servers: [] },
    { kind: 'DNS_SERVERS', servers: ['2001:4860:4860::8888', '::1', '::'] },
  ],
  DOMAIN_LIST: [
    { kind: 'DOMAIN_LIST', domains: [] },
    { kind: 'DOMAIN_LIST', domains: ['example.com', 'lab.example.com', 'x', ''] },
    { kind: 'DOMAIN_LIST', domains: [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`] },
  ],
  IA_PD: [iaPd(1, '2001:db8:8000:100::', 56), { kind: 'IA_PD', iaid: 2, t1Sec: 10, t2Sec: 20, options: [] }],
  IAPREFIX: [
    { kind: 'IAPREFIX', preferredSec: 0, validSec: 0, prefixLength: 0, prefix: '::', options: [] },
    { kind: 'IAPREFIX', preferredSec: 5, validSec: 6, prefixLength: 128, prefix: '2001:db8::ffff', options: [] },
  ],
  INFORMATION_REFRESH_TIME: [{ kind: 'INFORMATION_REFRESH_TIME', seconds: 86_400 }],
  SOL_MAX_RT: [{ kind: 'SOL_MAX_RT', seconds: 3600 }],
  INF_MAX_RT: [{ kind: 'INF_MAX_RT', seconds: 0xffffffff }],
  UNKNOWN: [
    { kind: 'UNKNOWN', code: 39, data: u8(0x01, 4, 0x68, 0x6f, 0x73, 0x74, 0) },
    { kind: 'UNKNOWN', code: 0, data: u8() },
    { kind: 'UNKNOWN', code: 0xffff, data: new Uint8Array(300).fill(0xee) },
    { kind: 'UNKNOWN', code: 11, data: u8(3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1) }, // AUTH stays raw
  ],
} satisfies { [K in OptionKind]: Option[] };

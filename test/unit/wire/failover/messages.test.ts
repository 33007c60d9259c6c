// Round trip of every partner message type (RFC 8156 §5.3, RFC 7653 §8.2)
// and the builders' guards against records the RFC does not allow.

import { describe, expect, it } from 'vitest';
import {
  bindingReplyFor,
  decodePartnerFrame,
  encodePartnerFrame,
  FoMsgType,
  FoStatusCode,
  ServerState,
  serverStateFromRfcName,
  serverStateRfcName,
  toPartnerMessage,
  type PartnerPdu,
} from '../../../../src/wire/failover/index.js';
import type { VendorOption } from '../../../../src/wire/failover/binding.js';
import { encodeRequestedVia, readRequestedVia } from '../../../../src/wire/failover/twin6-via.js';
import { clientReply, clientUpdate, connectParams, NOW, poolPrefixUpdate, roundTripPdu, samplePdus } from './helpers.js';
import { RFC8156_STATES } from '../../rfc/rfc8156-states.js';

describe('round trip of every message type', () => {
  const pdus = samplePdus();

  it('covers types 7, 23 and 24–35', () => {
    const types = new Set(pdus.map((p) => p.type));
    expect([...types].sort((a, b) => a - b)).toEqual([7, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
  });

  for (const pdu of pdus) {
    const shape = 'form' in pdu.content ? ` (${pdu.content.form})` : '';
    it(`type ${pdu.type}${shape}`, () => {
      roundTripPdu(pdu);
    });
  }

  it('STARTTLS and REPLY use the 4-octet RFC 8415 header, the rest the 8-octet one (§5.2)', () => {
    expect(roundTripPdu({ type: FoMsgType.STARTTLS, transactionId: 0xabcdef, content: {} })).toEqual(Buffer.from([23, 0xab, 0xcd, 0xef]));
    expect(roundTripPdu({ type: FoMsgType.CONTACT, transactionId: 0xabcdef, sentTimeSec: 946_684_800 + 0x01020304, content: {} })).toEqual(
      Buffer.from([35, 0xab, 0xcd, 0xef, 1, 2, 3, 4]),
    );
  });

  it('transaction-id takes all 24 bits', () => {
    for (const transactionId of [0, 1, 0x7fffff, 0xffffff]) {
      roundTripPdu({ type: FoMsgType.UPDDONE, transactionId, sentTimeSec: NOW, content: {} });
    }
  });

  it('server-state codes are those of RFC 8156 §5.5.16: 7 is RECOVER-WAIT, and there is no SHUTDOWN', () => {
    const table = RFC8156_STATES;
    table.forEach((name, i) => expect(serverStateFromRfcName(name), name).toBe(i + 1));
    expect(serverStateFromRfcName('SHUTDOWN')).toBeUndefined();
    const pdu: PartnerPdu = {
      type: FoMsgType.STATE,
      transactionId: 9,
      sentTimeSec: NOW,
      content: {
        serverState: ServerState.RECOVER_WAIT,
        serverFlags: { communicated: true, startup: false, ackStartup: false },
        startTimeOfStateSec: NOW,
      },
    };
    const frame = encodePartnerFrame(pdu);
    // F_SERVER_STATE (132), length 1, the state.
    expect(frame.includes(Buffer.from([0, 132, 0, 1, 7]))).toBe(true);
    const r = decodePartnerFrame(frame.subarray(2), NOW);
    expect(r.ok && r.pdu.type === FoMsgType.STATE && serverStateRfcName(r.pdu.content.serverState)).toBe('RECOVER-WAIT');
  });

  it('a STATE in STARTUP reporting PARTNER-DOWN (§8.3.1) is sent and read with or without F_PARTNER_DOWN_TIME', () => {
    const serverFlags = { communicated: true, startup: true, ackStartup: false };
    for (const down of [{ partnerDownTimeSec: NOW - 600 }, {}]) {
      const content = { serverState: ServerState.PARTNER_DOWN, serverFlags, startTimeOfStateSec: NOW - 600, ...down };
      const r = decodePartnerFrame(
        encodePartnerFrame({ type: FoMsgType.STATE, transactionId: 3, sentTimeSec: NOW, content }).subarray(2),
        NOW,
      );
      expect(r.ok && r.pdu.content).toEqual(content);
    }
  });

  it('state names in the RFC spelling map to the values and back', () => {
    const names = RFC8156_STATES;
    for (const name of names) {
      const value = serverStateFromRfcName(name);
      expect(value, name).toBeDefined();
      expect(serverStateRfcName(value!)).toBe(name);
    }
    expect(serverStateFromRfcName('PAUSED')).toBeUndefined();
    expect(serverStateFromRfcName('toString')).toBeUndefined();
    expect(serverStateRfcName(11)).toBeUndefined();
  });

  it('every wire state code round-trips, STARTUP included', () => {
    for (let code = 1; code <= 10; code++) {
      const serverState = code as (typeof ServerState)[keyof typeof ServerState];
      const content =
        serverState === ServerState.PARTNER_DOWN
          ? {
              serverState,
              serverFlags: { communicated: false, startup: true, ackStartup: false },
              startTimeOfStateSec: NOW,
              partnerDownTimeSec: NOW - 1,
            }
          : { serverState, serverFlags: { communicated: false, startup: true, ackStartup: false }, startTimeOfStateSec: NOW };
      roundTripPdu({ type: FoMsgType.STATE, transactionId: code, sentTimeSec: NOW, content });
    }
  });

  it('a CLT_TIME is relative to LQ_BASE_TIME (§7.5.5): base − clt comes back', () => {
    const payload = roundTripPdu({ type: FoMsgType.BNDUPD, transactionId: 1, sentTimeSec: NOW, content: clientUpdate });
    // IA_NA's lease: base NOW, last transaction NOW − 10 → CLT_TIME 10 on the wire.
    expect(payload.includes(Buffer.from([0, 46, 0, 4, 0, 0, 0, 10]))).toBe(true);
  });
});

describe('bindingReplyFor (§7.6)', () => {
  it('echoes status, state expiration and partner lifetime of every lease', () => {
    const reply = bindingReplyFor(clientUpdate);
    expect(reply.form).toBe('client');
    if (reply.form !== 'client') return;
    expect(reply.clientDuid).toEqual(clientUpdate.form === 'client' && clientUpdate.clientDuid);
    expect(reply.ias.map((ia) => [ia.type, ia.iaid, ia.leases.length])).toEqual([
      ['IA_NA', 1, 1],
      ['IA_PD', 2, 2],
      ['IA_TA', 3, 1],
    ]);
    expect(reply.ias[0]!.leases[0]).toEqual({
      address: '2001:db8:1::1001',
      preferredSec: 3600,
      validSec: 3600,
      bindingStatus: 1,
      stateExpirationTimeSec: NOW + 3600,
      partnerLifetimeSentSec: NOW + 1800 + 3600,
    });
    roundTripPdu({ type: FoMsgType.BNDREPLY, transactionId: 5, sentTimeSec: NOW, content: reply });
  });

  it('F_PARTNER_LIFETIME_SENT is byte-exact with the F_PARTNER_LIFETIME received (§5.5.11)', () => {
    const upd = encodePartnerFrame({ type: FoMsgType.BNDUPD, transactionId: 5, sentTimeSec: NOW, content: clientUpdate });
    const got = decodePartnerFrame(upd.subarray(2), NOW + 1_000_000); // a skewed receiver clock changes nothing
    if (!got.ok || got.pdu.type !== FoMsgType.BNDUPD) throw new Error('decode');
    const rep = encodePartnerFrame({
      type: FoMsgType.BNDREPLY,
      transactionId: 5,
      sentTimeSec: NOW,
      content: bindingReplyFor(got.pdu.content),
    });
    const at = (frame: Buffer, code: number) => frame.subarray(frame.indexOf(Buffer.from([0, code, 0, 4])) + 4).subarray(0, 4);
    expect(at(rep, 124)).toEqual(at(upd, 123));
  });

  it('a per-lease verdict and a whole-update rejection', () => {
    const conflict = { code: FoStatusCode.ConfigurationConflict, message: 'not mine' };
    const reply = bindingReplyFor(clientUpdate, (l) => ('prefix' in l && l.prefixLength === 56 && l.status === 3 ? conflict : undefined));
    if (reply.form !== 'client') throw new Error('form');
    expect(reply.ias[1]!.leases.map((l) => l.status)).toEqual([undefined, conflict]);
    const whole = bindingReplyFor(poolPrefixUpdate, () => undefined, { code: FoStatusCode.ConfigurationConflict, message: 'unknown VPN' });
    expect(whole).toMatchObject({ form: 'prefix', status: { code: 17 }, bindingStatus: 6 });
  });
});

describe('builders refuse what the RFC does not allow (programmer errors)', () => {
  const h = { transactionId: 1, sentTimeSec: NOW };
  const flags = { communicated: false, startup: false, ackStartup: false };
  it.each([
    [
      'PARTNER-DOWN without F_PARTNER_DOWN_TIME (§6.3)',
      { type: FoMsgType.STATE, ...h, content: { serverState: ServerState.PARTNER_DOWN, serverFlags: flags, startTimeOfStateSec: NOW } },
    ],
    [
      'F_PARTNER_DOWN_TIME outside PARTNER-DOWN (§6.3)',
      {
        type: FoMsgType.STATE,
        ...h,
        content: { serverState: ServerState.NORMAL, serverFlags: flags, startTimeOfStateSec: NOW, partnerDownTimeSec: NOW },
      },
    ],
    ['an accepting CONNECTREPLY without parameters (§6.1.2)', { type: FoMsgType.CONNECTREPLY, ...h, content: {} }],
    ['a client update without an IA (§7.4)', { type: FoMsgType.BNDUPD, ...h, content: { ...clientUpdate, ias: [] } }],
    [
      'an IA without a lease (§7.4)',
      { type: FoMsgType.BNDUPD, ...h, content: { ...clientUpdate, ias: [{ type: 'IA_NA', iaid: 1, t1Sec: 0, t2Sec: 0, leases: [] }] } },
    ],
    ['binding-status 0 (reserved, §5.5.1)', { type: FoMsgType.BNDUPD, ...h, content: { ...poolPrefixUpdate, status: 0 } }],
    ['a transaction-id over 24 bits', { type: FoMsgType.CONTACT, transactionId: 0x1000000, sentTimeSec: NOW, content: {} }],
    ['a sent-time that is not a number', { type: FoMsgType.CONTACT, transactionId: 1, sentTimeSec: Number.NaN, content: {} }],
    ['an MCLT over 32 bits', { type: FoMsgType.CONNECT, ...h, content: { ...connectParams, mcltSec: 2 ** 32 } }],
    [
      'a message over 65535 octets (RFC 5460 §5.1)',
      { type: FoMsgType.DISCONNECT, ...h, content: { status: { code: 20, message: 'x'.repeat(65_530) } } },
    ],
  ] as const)('%s', (_what, pdu) => {
    expect(() => encodePartnerFrame(pdu as unknown as PartnerPdu)).toThrow(/wire/);
  });

  it('an unknown message type cannot be built', () => {
    expect(() => encodePartnerFrame({ type: 36, transactionId: 1, sentTimeSec: NOW, options: [] } as never)).toThrow(/wire/);
  });

  it('toPartnerMessage keeps the header and puts the content in options', () => {
    const m = toPartnerMessage({ type: FoMsgType.BNDREPLY, transactionId: 7, sentTimeSec: NOW, content: clientReply });
    expect(m).toMatchObject({ type: 25, transactionId: 7, sentTimeSec: NOW });
    expect(m.options.map((o) => (o.kind === 'UNKNOWN' ? o.code : o.kind))).toEqual([45]);
  });
});

describe("twin6's requesting-router extension (twin6-via.ts)", () => {
  const h = { type: FoMsgType.BNDUPD, transactionId: 9, sentTimeSec: NOW } as const;
  const OURS = 0x0001_e240; // 123456: an operator's PEN, for the test
  const withVendor = (vendorOptions: VendorOption[]): PartnerPdu => ({ ...h, content: { ...clientUpdate, vendorOptions } }) as PartnerPdu;
  const decoded = (frame: Buffer) => {
    const got = decodePartnerFrame(frame.subarray(2), NOW);
    return got.ok && got.pdu.type === FoMsgType.BNDUPD && got.pdu.content.form === 'client'
      ? got.pdu.content.vendorOptions
      : 'not a client BNDUPD';
  };

  it('round-trips the requesting router, with and without a relay, as vendor option 17 of the configured enterprise number inside CLIENT_DATA', () => {
    const direct = encodeRequestedVia({ address: 'fe80::5054:ff:fe12:3456' }, OURS);
    const payload = roundTripPdu(withVendor([direct]));
    expect(payload.includes(Buffer.from([0, 17, 0, 24, 0, 1, 0xe2, 0x40, 0, 1, 0, 16, 0xfe, 0x80]))).toBe(true);
    expect(readRequestedVia([direct], OURS)).toEqual({ via: { address: 'fe80::5054:ff:fe12:3456' } });
    const relayed = encodeRequestedVia({ address: '2001:db8:2::77', relay: '2001:db8:2::1' }, OURS);
    roundTripPdu(withVendor([relayed]));
    expect(readRequestedVia([relayed], OURS)).toEqual({ via: { address: '2001:db8:2::77', relay: '2001:db8:2::1' } });
  });

  it("keeps every vendor's option 17 as it came, and reads only the configured number's as ours", () => {
    const other = { enterpriseNumber: OURS + 1, data: Uint8Array.from([0, 1, 0, 2, 0xab, 0xcd]) };
    const ours = encodeRequestedVia({ address: 'fe80::1' }, OURS);
    const frame = encodePartnerFrame(withVendor([other, ours]));
    expect(decoded(frame)).toEqual([other, ours]);
    expect(readRequestedVia([other, ours], OURS)).toEqual({ via: { address: 'fe80::1' } });
    expect(readRequestedVia([ours], OURS + 1)).toBeUndefined();
    expect(decoded(encodePartnerFrame(withVendor([])))).toBeUndefined();
  });

  it('reports ours when it is malformed, without refusing the update: a short address, or no requesting router', () => {
    const frame = encodePartnerFrame(withVendor([encodeRequestedVia({ address: 'fe80::1' }, OURS)]));
    const i = frame.indexOf(Buffer.from([0, 17, 0, 24, 0, 1, 0xe2, 0x40]));
    const shortLen = Buffer.from(frame);
    shortLen.writeUInt16BE(15, i + 10); // sub-option 1 claims 15 octets
    expect(readRequestedVia(decoded(shortLen) as VendorOption[], OURS)).toEqual({
      problem: expect.stringMatching(/sub-option 1 must be 16 octets/),
    });
    const renumbered = Buffer.from(frame);
    renumbered.writeUInt16BE(9, i + 8); // sub-option 9: unknown, skipped — and then no router
    expect(readRequestedVia(decoded(renumbered) as VendorOption[], OURS)).toEqual({
      problem: expect.stringMatching(/requesting router .* is required/),
    });
  });
});

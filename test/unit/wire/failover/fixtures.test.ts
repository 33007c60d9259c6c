// Partner messages written by hand from the RFC 8156 layouts (§5.2 header,
// §5.5 options, §7.4/§7.6 BNDUPD/BNDREPLY trees), never from our encoder.
// Times: 2f ce 54 80 = 802 051 200 s after 2000-01-01 = 2025-06-01T00:00:00Z (NOW).

import { describe, expect, it } from 'vitest';
import { decodePartnerFrame, encodePartnerMessage, FrameParser, type PartnerPdu } from '../../../../src/wire/failover/index.js';
import { hex } from '../helpers.js';
import { NOW } from './helpers.js';

function decoded(bytes: Uint8Array, sameOctets = true): PartnerPdu {
  const r = decodePartnerFrame(bytes, NOW);
  if (!r.ok) throw new Error(`${r.error.reason} at ${r.error.offset}: ${r.error.detail}`);
  // Written in the order our encoder uses, so it must re-encode to the very same octets.
  if (sameOctets) expect(encodePartnerMessage(r.message)).toEqual(Buffer.from(bytes));
  return r.pdu;
}

const CONNECT = hex(`
  1f                              // msg-type 31 CONNECT (§5.3.8)
  00 00 2a                        // transaction-id 42
  2f ce 54 80                     // sent-time (§5.2)
  00 7f 00 04  00 01 00 00        // F_PROTOCOL_VERSION (127) 1.0 (§5.5.14)
  00 7a 00 04  00 00 0e 10        // F_MCLT (122) 3600 s (§5.5.9)
  00 80 00 04  00 00 00 3c        // F_KEEPALIVE_TIME (128) 60 s (§5.5.15)
  00 79 00 04  00 00 00 40        // F_MAX_UNACKED_BNDUPD (121) 64 (§5.5.8)
  00 82 00 09  6c 61 62 2d 70 61 69 72 31   // F_RELATIONSHIP_NAME (130) "lab-pair1", no NUL (§5.5.17)
  00 73 00 02  00 01              // F_CONNECT_FLAGS (115) FIXED_PD_LENGTH = bit 15 (§5.5.2)
`);

const STATE_PARTNER_DOWN = hex(`
  22                              // msg-type 34 STATE (§5.3.11)
  00 01 00                        // transaction-id 256
  2f ce 54 80                     // sent-time
  00 84 00 01  04                 // F_SERVER_STATE (132) PARTNER-DOWN (§5.5.19)
  00 83 00 01  05                 // F_SERVER_FLAGS (131) A|C: bits 5 and 7 from the MSB (§5.5.18)
  00 85 00 04  2f ce 46 70        // F_START_TIME_OF_STATE (133) NOW − 3600
  00 7d 00 04  2f ce 46 70        // F_PARTNER_DOWN_TIME (125) NOW − 3600 (§6.3: only in PARTNER-DOWN)
`);

const BNDUPD_CLIENT = hex(`
  18                              // msg-type 24 BNDUPD (§5.3.1)
  00 00 07                        // transaction-id 7
  2f ce 54 80                     // sent-time
  00 2d 00 b1                     // OPTION_CLIENT_DATA (45), 177 octets (RFC 5007 §4.1.2.2)
    00 01 00 0a                   //   CLIENTID, 10 octets: DUID-LL hw 1 52:54:00:ab:cd:ef
      00 03 00 01 52 54 00 ab cd ef
    00 64 00 04  2f ce 54 80      //   OPTION_LQ_BASE_TIME (100) NOW (RFC 7653 §6.3.1)
    00 03 00 5d                   //   IA_NA, 93 octets
      00 00 00 01                 //     IAID 1
      00 00 07 08  00 00 0b 40    //     T1 1800, T2 2880 sent to the client
      00 05 00 4d                 //     IAADDR, 77 octets
        20 01 0d b8 00 01 00 00 00 00 00 00 00 00 10 01   // 2001:db8:1::1001
        00 00 0e 10  00 00 0e 10  //       preferred 3600, valid 3600 sent to the client
        00 72 00 01  01           //       F_BINDING_STATUS (114) ACTIVE (§5.5.1)
        00 85 00 04  2f ce 54 76  //       F_START_TIME_OF_STATE NOW − 10
        00 86 00 04  2f ce 62 90  //       F_STATE_EXPIRATION_TIME (134) NOW + 3600
        00 2e 00 04  00 00 00 0a  //       OPTION_CLT_TIME (46) 10 s before the base time (RFC 5007 §4.1.2.3)
        00 7b 00 04  2f ce 70 a0  //       F_PARTNER_LIFETIME (123) NOW + 7200
        00 7e 00 04  2f ce 38 60  //       F_PARTNER_RAW_CLT_TIME (126) NOW − 7200
        00 78 00 04  2f ce 62 90  //       F_EXPIRATION_TIME (120) NOW + 3600
    00 19 00 36                   //   IA_PD, 54 octets
      00 00 00 02                 //     IAID 2
      00 00 0e 10  00 00 15 18    //     T1 3600, T2 5400
      00 1a 00 26                 //     IAPREFIX, 38 octets
        00 00 1c 20  00 00 1c 20  //       preferred 7200, valid 7200
        38                        //       prefix-length 56
        20 01 0d b8 80 00 01 00 00 00 00 00 00 00 00 00   // 2001:db8:8000:100::
        00 72 00 01  03           //       F_BINDING_STATUS RELEASED
        00 85 00 04  2f ce 54 7b  //       F_START_TIME_OF_STATE NOW − 5
`);

const BNDREPLY_CLIENT = hex(`
  19                              // msg-type 25 BNDREPLY (§5.3.2)
  00 00 07                        // the BNDUPD's transaction-id (§7.5.3)
  2f ce 54 81                     // sent-time NOW + 1
  00 2d 00 96                     // OPTION_CLIENT_DATA, 150 octets
    00 01 00 0a  00 03 00 01 52 54 00 ab cd ef        // CLIENTID
    00 03 00 3d                   //   IA_NA, 61 octets
      00 00 00 01  00 00 07 08  00 00 0b 40
      00 05 00 2d                 //     IAADDR, 45 octets: accepted, so no Status Code (§7.6)
        20 01 0d b8 00 01 00 00 00 00 00 00 00 00 10 01
        00 00 0e 10  00 00 0e 10
        00 72 00 01  01           //       F_BINDING_STATUS echoed
        00 86 00 04  2f ce 62 90  //       F_STATE_EXPIRATION_TIME echoed
        00 7c 00 04  2f ce 70 a0  //       F_PARTNER_LIFETIME_SENT (124) = the PARTNER_LIFETIME received (§5.5.11)
    00 19 00 43                   //   IA_PD, 67 octets
      00 00 00 02  00 00 0e 10  00 00 15 18
      00 1a 00 33                 //     IAPREFIX, 51 octets: rejected
        00 00 1c 20  00 00 1c 20  38
        20 01 0d b8 80 00 01 00 00 00 00 00 00 00 00 00
        00 0d 00 11  00 11        //       STATUS_CODE ConfigurationConflict (17)
          6e 6f 74 20 69 6e 20 6d 79 20 70 6f 6f 6c 73    // "not in my pools"
        00 72 00 01  03           //       F_BINDING_STATUS echoed
`);

const BNDUPD_POOL_PREFIX = hex(`
  18 00 00 08 2f ce 54 80         // BNDUPD, transaction-id 8, sent-time NOW
  00 1a 00 2e                     // top-level IAPREFIX, 46 octets (§7.4, second form)
    00 00 00 00  00 00 00 00  30  //   lifetimes 0, prefix-length 48
    20 01 0d b8 90 00 00 00 00 00 00 00 00 00 00 00   // 2001:db8:9000::
    00 64 00 04  2f ce 54 80      //   LQ_BASE_TIME NOW
    00 72 00 01  06               //   F_BINDING_STATUS FREE-BACKUP: handed to the secondary (§4.2.2)
    00 85 00 04  2f ce 54 7f      //   F_START_TIME_OF_STATE NOW − 1
`);

describe('hand-written partner messages', () => {
  it('CONNECT (§6.1.1)', () => {
    expect(CONNECT.length).toBe(8 + 4 * 8 + 13 + 6); // header, four 4-octet options, the name, the flags
    expect(decoded(CONNECT)).toEqual({
      type: 31,
      transactionId: 42,
      sentTimeSec: NOW,
      content: {
        protocolVersion: { major: 1, minor: 0 },
        mcltSec: 3600,
        keepaliveSec: 60,
        maxUnackedBndupd: 64,
        relationshipName: 'lab-pair1',
        connectFlags: { fixedPdLength: true },
      },
    });
  });

  it('CONNECT in another option order, with an option we do not know, reads the same', () => {
    const shuffled = hex(`
      1f 00 00 2a 2f ce 54 80
      00 73 00 02 00 00           // F_CONNECT_FLAGS first, F clear
      00 80 00 04 00 00 00 3c
      00 ff 00 03 01 02 03        // option 255: ignored (room for extensions)
      00 79 00 04 00 00 00 40
      00 7a 00 04 00 00 0e 10
      00 7f 00 04 00 01 00 00
    `);
    expect(decoded(shuffled, false)).toMatchObject({
      content: {
        protocolVersion: { major: 1, minor: 0 },
        mcltSec: 3600,
        keepaliveSec: 60,
        maxUnackedBndupd: 64,
        connectFlags: { fixedPdLength: false },
      },
    });
  });

  it('STATE in PARTNER-DOWN (§6.3)', () => {
    expect(decoded(STATE_PARTNER_DOWN)).toEqual({
      type: 34,
      transactionId: 256,
      sentTimeSec: NOW,
      content: {
        serverState: 4,
        serverFlags: { communicated: true, startup: false, ackStartup: true },
        startTimeOfStateSec: NOW - 3600,
        partnerDownTimeSec: NOW - 3600,
      },
    });
  });

  it('STATE during STARTUP carries the previous state and the S flag (§8.3)', () => {
    const startup = hex(`
      22 00 01 01 2f ce 54 80
      00 84 00 01 03              // COMMUNICATIONS-INTERRUPTED: the PREVIOUS-STATE
      00 83 00 01 02              // S (STARTUP)
      00 85 00 04 2f ce 54 80
      00 7d 00 04 2f ce 46 70     // a partner-down time outside PARTNER-DOWN: forgotten (§6.4)
    `);
    expect(decoded(startup, false)).toEqual({
      type: 34,
      transactionId: 257,
      sentTimeSec: NOW,
      content: { serverState: 3, serverFlags: { communicated: false, startup: true, ackStartup: false }, startTimeOfStateSec: NOW },
    });
  });

  it('BNDUPD with CLIENT_DATA: an address and a prefix lease (§7.4)', () => {
    expect(BNDUPD_CLIENT.length).toBe(8 + 4 + 177);
    expect(decoded(BNDUPD_CLIENT)).toEqual({
      type: 24,
      transactionId: 7,
      sentTimeSec: NOW,
      content: {
        form: 'client',
        clientDuid: Uint8Array.from([0, 3, 0, 1, 0x52, 0x54, 0, 0xab, 0xcd, 0xef]),
        baseTimeSec: NOW,
        ias: [
          {
            type: 'IA_NA',
            iaid: 1,
            t1Sec: 1800,
            t2Sec: 2880,
            leases: [
              {
                address: '2001:db8:1::1001',
                preferredSec: 3600,
                validSec: 3600,
                status: 1,
                startTimeOfStateSec: NOW - 10,
                stateExpirationTimeSec: NOW + 3600,
                clientLastTransactionTimeSec: NOW - 10, // LQ_BASE_TIME − CLT_TIME, raw (§7.5.5)
                partnerLifetimeSec: NOW + 7200,
                partnerRawCltTimeSec: NOW - 7200,
                expirationTimeSec: NOW + 3600,
              },
            ],
          },
          {
            type: 'IA_PD',
            iaid: 2,
            t1Sec: 3600,
            t2Sec: 5400,
            leases: [
              {
                prefix: '2001:db8:8000:100::',
                prefixLength: 56,
                preferredSec: 7200,
                validSec: 7200,
                status: 3,
                startTimeOfStateSec: NOW - 5,
              },
            ],
          },
        ],
      },
    });
  });

  it('BNDREPLY for it: one lease accepted, one rejected (§7.6)', () => {
    expect(BNDREPLY_CLIENT.length).toBe(8 + 4 + 150);
    expect(decoded(BNDREPLY_CLIENT)).toEqual({
      type: 25,
      transactionId: 7,
      sentTimeSec: NOW + 1,
      content: {
        form: 'client',
        clientDuid: Uint8Array.from([0, 3, 0, 1, 0x52, 0x54, 0, 0xab, 0xcd, 0xef]),
        ias: [
          {
            type: 'IA_NA',
            iaid: 1,
            t1Sec: 1800,
            t2Sec: 2880,
            leases: [
              {
                address: '2001:db8:1::1001',
                preferredSec: 3600,
                validSec: 3600,
                bindingStatus: 1,
                stateExpirationTimeSec: NOW + 3600,
                partnerLifetimeSentSec: NOW + 7200,
              },
            ],
          },
          {
            type: 'IA_PD',
            iaid: 2,
            t1Sec: 3600,
            t2Sec: 5400,
            leases: [
              {
                prefix: '2001:db8:8000:100::',
                prefixLength: 56,
                preferredSec: 7200,
                validSec: 7200,
                status: { code: 17, message: 'not in my pools' },
                bindingStatus: 3,
              },
            ],
          },
        ],
      },
    });
  });

  it('BNDUPD with a top-level IAPREFIX moves a delegable prefix to the secondary (§4.2.2)', () => {
    expect(decoded(BNDUPD_POOL_PREFIX)).toEqual({
      type: 24,
      transactionId: 8,
      sentTimeSec: NOW,
      content: {
        form: 'prefix',
        prefix: '2001:db8:9000::',
        prefixLength: 48,
        preferredSec: 0,
        validSec: 0,
        baseTimeSec: NOW,
        status: 6,
        startTimeOfStateSec: NOW - 1,
      },
    });
  });

  it('STARTTLS and its refusal (RFC 7653 §8.2) have the 4-octet header', () => {
    expect(decoded(hex('17 00 00 01'))).toEqual({ type: 23, transactionId: 1, content: {} });
    expect(decoded(hex('07 00 00 01  00 0d 00 02 00 0f'))).toEqual({
      type: 7,
      transactionId: 1,
      content: { status: { code: 15, message: '' } },
    });
  });

  it('all of them as one TCP stream, length-prefixed (RFC 5460 §5.1)', () => {
    const messages = [CONNECT, STATE_PARTNER_DOWN, BNDUPD_CLIENT, BNDREPLY_CLIENT, BNDUPD_POOL_PREFIX];
    const stream = Buffer.concat(messages.flatMap((m) => [Buffer.from([m.length >> 8, m.length & 0xff]), Buffer.from(m)]));
    const r = new FrameParser().push(stream);
    expect(r.error).toBeUndefined();
    expect(r.frames.map((f) => decodePartnerFrame(f, NOW).ok)).toEqual([true, true, true, true, true]);
    expect(r.frames.map((f) => Buffer.from(f))).toEqual(messages.map((m) => Buffer.from(m)));
  });
});

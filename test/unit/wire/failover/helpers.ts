// Samples and helpers for the RFC 8156 partner codec tests.

import { expect } from 'vitest';
import {
  BindingStatus,
  decodePartnerFrame,
  encodePartnerFrame,
  encodePartnerMessage,
  FoMsgType,
  FoStatusCode,
  PROTOCOL_VERSION,
  ServerState,
  toPartnerMessage,
  type BindingReply,
  type BindingUpdate,
  type ConnectParams,
  type PartnerPdu,
} from '../../../../src/wire/failover/index.js';
import { u8 } from '../helpers.js';

/** The receiver's clock in most tests: 2025-06-01T00:00:00Z. */
export const NOW = 1_748_736_000;

export const DUID = u8(0, 1, 0, 1, 0x2b, 0x1c, 0x5e, 0x3a, 0x52, 0x54, 0, 0x12, 0x34, 0x56);

export const connectParams: ConnectParams = {
  protocolVersion: PROTOCOL_VERSION,
  mcltSec: 3600,
  keepaliveSec: 60,
  maxUnackedBndupd: 64,
  relationshipName: 'cpe-pair-1',
  connectFlags: { fixedPdLength: true },
};

export const clientUpdate: BindingUpdate = {
  form: 'client',
  clientDuid: DUID,
  baseTimeSec: NOW,
  reconfigure: { timeSec: NOW - 86_400, key: u8(...Array.from({ length: 16 }, (_, i) => i)) },
  relayData: u8(0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(12).fill(0), 12, 0),
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
          status: BindingStatus.ACTIVE,
          startTimeOfStateSec: NOW - 10,
          stateExpirationTimeSec: NOW + 3600,
          clientLastTransactionTimeSec: NOW - 10,
          partnerLifetimeSec: NOW + 1800 + 3600,
          partnerRawCltTimeSec: NOW - 7200,
          expirationTimeSec: NOW + 3600,
          clientFqdn: u8(0x01, 4, 0x68, 0x6f, 0x73, 0x74, 0),
        },
      ],
    },
    {
      type: 'IA_PD',
      iaid: 2,
      t1Sec: 0xffffffff,
      t2Sec: 0xffffffff,
      leases: [
        {
          prefix: '2001:db8:8000:100::',
          prefixLength: 56,
          preferredSec: 7200,
          validSec: 7200,
          status: BindingStatus.ACTIVE,
          startTimeOfStateSec: NOW - 100,
          stateExpirationTimeSec: NOW + 7200,
          partnerLifetimeSec: NOW + 10_800,
          dnsRemovalInfo: { hostName: u8(4, 0x68, 0x6f, 0x73, 0x74, 0), zoneName: u8(0), flags: 0x0003 },
        },
        {
          prefix: '2001:db8:8000:200::',
          prefixLength: 56,
          preferredSec: 0,
          validSec: 0,
          status: BindingStatus.RELEASED,
          startTimeOfStateSec: NOW - 5,
        },
      ],
    },
    {
      type: 'IA_TA',
      iaid: 3,
      leases: [{ address: 'fe80::1', preferredSec: 0, validSec: 0, status: BindingStatus.EXPIRED, startTimeOfStateSec: NOW - 60 }],
    },
  ],
};

export const poolPrefixUpdate: BindingUpdate = {
  form: 'prefix',
  prefix: '2001:db8:9000::',
  prefixLength: 48,
  preferredSec: 0,
  validSec: 0,
  baseTimeSec: NOW,
  vss: u8(1, 0x76, 0x70, 0x6e),
  status: BindingStatus.FREE_BACKUP,
  startTimeOfStateSec: NOW - 1,
};

export const clientReply: BindingReply = {
  form: 'client',
  clientDuid: DUID,
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
          partnerLifetimeSentSec: NOW + 5400,
        },
        {
          address: '2001:db8:1::1002',
          preferredSec: 0,
          validSec: 0,
          status: { code: FoStatusCode.ConfigurationConflict, message: 'not in my pools' },
        },
      ],
    },
    { type: 'IA_TA', iaid: 3, status: { code: FoStatusCode.OutdatedBindingInformation, message: '' }, leases: [] },
    {
      type: 'IA_PD',
      iaid: 2,
      t1Sec: 1,
      t2Sec: 2,
      leases: [{ prefix: '2001:db8:8000:100::', prefixLength: 56, preferredSec: 1, validSec: 2, bindingStatus: 1 }],
    },
  ],
};

/** One PDU per message type, two for those with more than one shape. */
export function samplePdus(): PartnerPdu[] {
  const h = { transactionId: 0x123456, sentTimeSec: NOW };
  return [
    { type: FoMsgType.STARTTLS, transactionId: 1, content: {} },
    { type: FoMsgType.REPLY, transactionId: 1, content: {} },
    { type: FoMsgType.REPLY, transactionId: 1, content: { status: { code: FoStatusCode.TLSConnectionRefused, message: 'insecure mode' } } },
    { type: FoMsgType.BNDUPD, ...h, content: clientUpdate },
    { type: FoMsgType.BNDUPD, ...h, content: poolPrefixUpdate },
    { type: FoMsgType.BNDREPLY, ...h, content: clientReply },
    {
      type: FoMsgType.BNDREPLY,
      ...h,
      content: {
        form: 'prefix',
        prefix: '2001:db8:9000::',
        prefixLength: 48,
        preferredSec: 0,
        validSec: 0,
        vss: u8(1, 2),
        bindingStatus: 6,
      },
    },
    {
      type: FoMsgType.BNDREPLY,
      ...h,
      content: { form: 'client', status: { code: FoStatusCode.MissingBindingInformation, message: 'no CLIENTID' }, ias: [] },
    },
    {
      type: FoMsgType.BNDREPLY,
      ...h,
      content: { form: 'bare', status: { code: FoStatusCode.MissingBindingInformation, message: 'empty BNDUPD' } },
    },
    { type: FoMsgType.POOLREQ, ...h, content: {} },
    { type: FoMsgType.POOLRESP, ...h, content: {} },
    { type: FoMsgType.UPDREQ, ...h, content: {} },
    { type: FoMsgType.UPDREQALL, ...h, content: {} },
    { type: FoMsgType.UPDDONE, ...h, content: {} },
    { type: FoMsgType.CONNECT, ...h, content: connectParams },
    { type: FoMsgType.CONNECT, ...h, content: { ...connectParams, relationshipName: undefined } as ConnectParams },
    { type: FoMsgType.CONNECTREPLY, ...h, content: { params: { ...connectParams, keepaliveSec: 30 } } },
    { type: FoMsgType.CONNECTREPLY, ...h, content: { status: { code: FoStatusCode.ExcessiveTimeSkew, message: 'clock 9 s ahead' } } },
    { type: FoMsgType.DISCONNECT, ...h, content: { status: { code: FoStatusCode.ServerShuttingDown, message: 'reboot for upgrade' } } },
    { type: FoMsgType.DISCONNECT, ...h, content: {} },
    {
      type: FoMsgType.STATE,
      ...h,
      content: {
        serverState: ServerState.NORMAL,
        serverFlags: { communicated: true, startup: false, ackStartup: true },
        startTimeOfStateSec: NOW - 3600,
      },
    },
    {
      type: FoMsgType.STATE,
      ...h,
      content: {
        serverState: ServerState.PARTNER_DOWN,
        serverFlags: { communicated: true, startup: false, ackStartup: false },
        startTimeOfStateSec: NOW - 60,
        partnerDownTimeSec: NOW - 60,
      },
    },
    { type: FoMsgType.CONTACT, ...h, content: {} },
  ].map(stripUndefined) as PartnerPdu[];
}

/** JSON-ish copy without undefined fields (records compare with toEqual either way; this keeps intent clear). */
function stripUndefined<T>(v: T): T {
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(stripUndefined) as T;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => [k, stripUndefined(x)]),
  ) as T;
}

/** pdu → frame → pdu is the identity; the frame's prefix is its length; re-encoding gives the same octets. */
export function roundTripPdu(pdu: PartnerPdu, now = NOW): Buffer {
  const frame = encodePartnerFrame(pdu);
  const payload = frame.subarray(2);
  expect(frame.readUInt16BE(0)).toBe(payload.length);
  expect(encodePartnerMessage(toPartnerMessage(pdu))).toEqual(payload);
  const decoded = decodePartnerFrame(payload, now);
  if (!decoded.ok) throw new Error(`${decoded.error.reason} at ${decoded.error.offset}: ${decoded.error.detail}`);
  expect(decoded.pdu).toEqual(pdu);
  expect(encodePartnerFrame(decoded.pdu)).toEqual(frame);
  expect(encodePartnerFrame(decoded.message)).toEqual(frame);
  return payload;
}

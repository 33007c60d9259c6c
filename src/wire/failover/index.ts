// Public API of the RFC 8156 partner-message codec. The failover layer
// imports from here: it builds and reads PartnerPdu records, frames them
// with FrameParser / encodePartnerFrame, and never handles a raw option.

export * from './constants.js';
export { fromAbsoluteTime, toAbsoluteTime } from './time.js';
export { FAILOVER_DECODE_REASONS } from './errors.js';
export type { FailoverDecodeError, FailoverDecodeReason, FailoverHeaderInfo, FailoverResult } from './errors.js';
export { foOption, foOptionRfc, readFoOption } from './options.js';
export type { ConnectFlags, DnsRemovalInfo, FoOptionValues, ProtocolVersion, ReconfigureData, ServerFlags } from './options.js';
export type { ConnectParams, ConnectReplyContent, EmptyContent, StateContent, Status, StatusOnlyContent } from './content.js';
export type { AddressLease, BindingIa, BindingUpdate, ClientBindingUpdate, LeaseState, PoolPrefixUpdate, PrefixLease } from './binding.js';
export { bindingReplyFor, unusableUpdateReply } from './binding-reply.js';
export type {
  AddressLeaseAck,
  BareBindingReply,
  BindingIaAck,
  BindingReply,
  ClientBindingReply,
  LeaseAck,
  LeaseVerdict,
  PoolPrefixReply,
  PrefixLeaseAck,
} from './binding-reply.js';
export {
  decodePartnerFrame,
  decodePartnerMessage,
  encodePartnerFrame,
  encodePartnerMessage,
  partnerMessageLength,
  readPartnerMessage,
  toPartnerMessage,
} from './message.js';
export type {
  FailoverMessage,
  PartnerContentMap,
  PartnerFrameResult,
  PartnerMessage,
  PartnerMessageResult,
  PartnerPdu,
  PduOf,
  TlsNegotiationMessage,
} from './message.js';
export { FrameParser } from './framer.js';
export type { FramePushResult } from './framer.js';
export { decodeKept, encodeKept, type KeptClientData } from './kept.js';

// Public API of the DHCPv6 wire codec (RFC 8415). Everything outside wire/
// imports from here.

export * from './constants.js';
export * from './types.js';
export * from './address.js';
export { decodeMessage, decodeOptionList, encodeMessage, encodeMessageInto, messageLength } from './message.js';
export type { DecodeResult } from './message.js';
export { DECODE_REASONS } from './reader.js';
export type { DecodeError, DecodeReason } from './reader.js';
export { optionCodecs, optionCode, optionName, optionsLength } from './options.js';
export type { OptionCodec } from './options.js';
export { findOption, findOptions, findUnknown } from './find.js';
export { unwrapRelay, wrapRelayReply } from './relay.js';
export type { UnwrapResult } from './relay.js';
export { duidFromHex, duidToHex, describeDuid } from './duid.js';
export { isWireDomainName } from './domain.js';

// Public API of the RFC 5007 Leasequery codec. Everything outside wire/ imports from here.

export * from './constants.js';
export { isLqOption, lqOption, readLqOption } from './options.js';
export type { LqOptionName, LqOptionValues, LqQuery, LqRead, LqRelayData } from './options.js';
export { clientDataOption, leasequeryMessage, leasequeryReply, readLeasequeryReply, readQuery } from './message.js';
export type { ClientData, LeasequeryAnswer, QueryRead } from './message.js';

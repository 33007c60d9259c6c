// RFC 5007 (DHCPv6 Leasequery) protocol numbers, and the query-types RFC 5460
// (Bulk Leasequery) adds to the same registry. Message types and status codes
// are in ../constants.ts with the rest of RFC 8415's registries.

/**
 * Option codes of RFC 5007 §4.1.2. They pass through the shared codec as
 * UNKNOWN options, byte for byte, and are typed by ./options.ts only where a
 * Leasequery is read or built: see there for why they are not in the shared
 * `Option` union. RFC 8156 reuses 45–47 inside BNDUPD (../failover/constants.ts).
 */
export const LqOptionCode = {
  LQ_QUERY: 44, // §4.1.2.1
  CLIENT_DATA: 45, // §4.1.2.2
  CLT_TIME: 46, // §4.1.2.3
  LQ_RELAY_DATA: 47, // §4.1.2.4
  LQ_CLIENT_LINK: 48, // §4.1.2.5
} as const;

/** OPTION_LQ_QUERY query-type (RFC 5007 §4.1.2.1, §6; RFC 5460 §5.3). */
export const QueryType = {
  BY_ADDRESS: 1,
  BY_CLIENTID: 2,
  BY_RELAY_ID: 3, // RFC 5460 §5.3.1
  BY_LINK_ADDRESS: 4, // RFC 5460 §5.3.2
  BY_REMOTE_ID: 5, // RFC 5460 §5.3.3
} as const;
export type QueryTypeValue = (typeof QueryType)[keyof typeof QueryType];

/** The Bulk Leasequery query-types: RFC 5460 §4 forbids them over UDP. */
export const isBulkQueryType = (t: number): boolean =>
  t === QueryType.BY_RELAY_ID || t === QueryType.BY_LINK_ADDRESS || t === QueryType.BY_REMOTE_ID;

export const queryTypeName = (t: number): string =>
  (Object.keys(QueryType) as (keyof typeof QueryType)[]).find((k) => QueryType[k] === t) ?? `QUERY_${t}`;

/** §4.1.2.1: query-type(1) and link-address(16) come before the query-options. */
export const LQ_QUERY_HEADER_LENGTH = 17;
/** §4.1.2.4: peer-address(16) comes before the relay message. */
export const LQ_RELAY_DATA_HEADER_LENGTH = 16;

// LEASEQUERY (14) and LEASEQUERY-REPLY (15), RFC 5007 §4.1.1: ordinary
// client/server messages (RFC 8415 §8 header) whose RFC 5007 options the
// shared codec keeps raw. This module reads them into typed values and builds
// them back, for the server (src/engine/leasequery.ts) and for requestors in
// tests; a problem is a value, never a throw.

import { MsgType } from '../constants.js';
import { findOption } from '../find.js';
import type { DecodeError } from '../reader.js';
import type { ClientServerMessage, IaAddrOption, IaPrefixOption, Option, StatusCodeOption } from '../types.js';
import { isLqOption, lqOption, readLqOption, type LqQuery, type LqRead, type LqRelayData } from './options.js';

/** What a server must know of a LEASEQUERY before it answers it (§4.2.1, §4.4.1). */
export type QueryRead =
  | { readonly ok: true; readonly query: LqQuery }
  /** No OPTION_LQ_QUERY: §4.2.1 says discard the message. */
  | { readonly ok: false; readonly problem: 'missing' }
  /** More than one, or one whose body breaks §4.1.2.1: answered MalformedQuery (§4.1.3). */
  | { readonly ok: false; readonly problem: 'repeated' | 'malformed'; readonly error: DecodeError };

export function readQuery(m: ClientServerMessage): QueryRead {
  const raw = m.options.filter((o) => isLqOption(o, 'LQ_QUERY'));
  const first = raw[0];
  if (first === undefined) return { ok: false, problem: 'missing' };
  if (raw.length > 1) {
    return { ok: false, problem: 'repeated', error: { reason: 'bad-option', offset: 0, detail: `${raw.length} LQ_QUERY options` } };
  }
  const read = readLqOption(first, 'LQ_QUERY');
  return read.ok ? { ok: true, query: read.value } : { ok: false, problem: 'malformed', error: read.error };
}

/** A LEASEQUERY as a requestor sends it (§4.3.1): its own Client Identifier and the query. */
export function leasequeryMessage(
  transactionId: number,
  requestorDuid: Uint8Array,
  query: LqQuery,
  serverDuid?: Uint8Array,
): ClientServerMessage {
  const options: Option[] = [{ kind: 'CLIENTID', duid: requestorDuid }];
  if (serverDuid) options.push({ kind: 'SERVERID', duid: serverDuid });
  options.push(lqOption('LQ_QUERY', query));
  return { type: MsgType.LEASEQUERY, transactionId, options };
}

/** One client's data on one link (§4.1.2.2, §4.4.2). */
export interface ClientData {
  readonly clientDuid: Uint8Array;
  readonly addresses: readonly IaAddrOption[];
  readonly prefixes: readonly IaPrefixOption[];
  /** Seconds since the last transaction with the client; absent when the server has none to tell. */
  readonly cltSec?: number;
  readonly relayData?: LqRelayData;
}

/** §4.4.2's order: OPTION_CLIENTID, OPTION_IAADDR/OPTION_IAPREFIX, OPTION_CLT_TIME, then the rest. */
export function clientDataOption(d: ClientData): Option {
  const inner: Option[] = [{ kind: 'CLIENTID', duid: d.clientDuid }, ...d.addresses, ...d.prefixes];
  if (d.cltSec !== undefined) inner.push(lqOption('CLT_TIME', d.cltSec));
  if (d.relayData) inner.push(lqOption('LQ_RELAY_DATA', d.relayData));
  return lqOption('CLIENT_DATA', inner);
}

/** The body of a LEASEQUERY-REPLY: at most one of clientData and clientLinks (§4.4.1), or a status. */
export interface LeasequeryAnswer {
  readonly status?: StatusCodeOption;
  readonly clientData?: ClientData;
  readonly clientLinks?: readonly string[];
}

/** §4.4.1: the transaction-id copied; Server and Client Identifiers as in any reply (§4.2.2). */
export function leasequeryReply(query: ClientServerMessage, serverDuid: Uint8Array, answer: LeasequeryAnswer): ClientServerMessage {
  const options: Option[] = [{ kind: 'SERVERID', duid: serverDuid }];
  const requestor = findOption(query.options, 'CLIENTID');
  if (requestor) options.push(requestor);
  if (answer.status) options.push(answer.status);
  if (answer.clientData) options.push(clientDataOption(answer.clientData));
  if (answer.clientLinks) options.push(lqOption('LQ_CLIENT_LINK', answer.clientLinks));
  return { type: MsgType.LEASEQUERY_REPLY, transactionId: query.transactionId, options };
}

function readClientData(o: Option & { kind: 'UNKNOWN' }): LqRead<ClientData> {
  const read = readLqOption(o, 'CLIENT_DATA');
  if (!read.ok) return read;
  const inner = read.value;
  const client = findOption(inner, 'CLIENTID');
  if (!client) return { ok: false, error: { reason: 'bad-option', offset: 0, detail: 'CLIENT_DATA without OPTION_CLIENTID (§4.4.2)' } };
  let cltSec: number | undefined;
  let relayData: LqRelayData | undefined;
  for (const sub of inner) {
    if (isLqOption(sub, 'CLT_TIME')) {
      const clt = readLqOption(sub, 'CLT_TIME');
      if (!clt.ok) return clt;
      cltSec = clt.value;
    } else if (isLqOption(sub, 'LQ_RELAY_DATA')) {
      const relay = readLqOption(sub, 'LQ_RELAY_DATA');
      if (!relay.ok) return relay;
      relayData = relay.value;
    }
  }
  return {
    ok: true,
    value: {
      clientDuid: client.duid,
      addresses: inner.filter((x): x is IaAddrOption => x.kind === 'IAADDR'),
      prefixes: inner.filter((x): x is IaPrefixOption => x.kind === 'IAPREFIX'),
      ...(cltSec === undefined ? {} : { cltSec }),
      ...(relayData ? { relayData } : {}),
    },
  };
}

/** A LEASEQUERY-REPLY as a requestor reads it (§4.3.3). Never throws. */
export function readLeasequeryReply(m: ClientServerMessage): LqRead<LeasequeryAnswer> {
  if (m.type !== MsgType.LEASEQUERY_REPLY) {
    return { ok: false, error: { reason: 'bad-option', offset: 0, detail: `message type ${m.type} is not LEASEQUERY-REPLY` } };
  }
  const status = findOption(m.options, 'STATUS_CODE');
  let clientData: ClientData | undefined;
  let clientLinks: readonly string[] | undefined;
  for (const o of m.options) {
    if (isLqOption(o, 'CLIENT_DATA')) {
      if (clientData)
        return { ok: false, error: { reason: 'bad-option', offset: 0, detail: 'more than one CLIENT_DATA (§4.4.1: zero or one)' } };
      const read = readClientData(o);
      if (!read.ok) return read;
      clientData = read.value;
    } else if (isLqOption(o, 'LQ_CLIENT_LINK')) {
      const read = readLqOption(o, 'LQ_CLIENT_LINK');
      if (!read.ok) return read;
      clientLinks = read.value;
    }
  }
  return {
    ok: true,
    value: { ...(status ? { status } : {}), ...(clientData ? { clientData } : {}), ...(clientLinks ? { clientLinks } : {}) },
  };
}

// RFC 8415 §16: which messages a server accepts, as one row per message type
// (Kea's sanityCheck table). Everything else about a message is the handler's.

import { MsgType } from '../wire/constants.js';
import type { DropReason } from './inbound.js';

type Need = 'required' | 'forbidden' | 'optional';

interface Rule {
  readonly clientId: Need;
  readonly serverId: Need;
  /** What to do when the client sent it to a unicast address (§16, §18.4): drop, or answer UseMulticast. */
  readonly unicast: 'drop' | 'use-multicast';
}

export const acceptRules: Readonly<Record<number, Rule>> = {
  [MsgType.SOLICIT]: { clientId: 'required', serverId: 'forbidden', unicast: 'drop' }, // §16.2
  [MsgType.REQUEST]: { clientId: 'required', serverId: 'required', unicast: 'use-multicast' }, // §16.4
  [MsgType.CONFIRM]: { clientId: 'required', serverId: 'forbidden', unicast: 'drop' }, // §16.5
  [MsgType.RENEW]: { clientId: 'required', serverId: 'required', unicast: 'use-multicast' }, // §16.6
  [MsgType.REBIND]: { clientId: 'required', serverId: 'forbidden', unicast: 'drop' }, // §16.7
  [MsgType.RELEASE]: { clientId: 'required', serverId: 'required', unicast: 'use-multicast' }, // §16.9
  [MsgType.DECLINE]: { clientId: 'required', serverId: 'required', unicast: 'use-multicast' }, // §16.8
  [MsgType.INFORMATION_REQUEST]: { clientId: 'optional', serverId: 'optional', unicast: 'drop' }, // §16.12
};

// RFC 5007 §4.2.2: a server discards LEASEQUERY-REPLY; RFC 5460 §5.2 sends DATA and DONE server to requestor.
const SERVER_ONLY = new Set<number>([
  MsgType.ADVERTISE,
  MsgType.REPLY,
  MsgType.RECONFIGURE,
  MsgType.RELAY_REPL,
  MsgType.LEASEQUERY_REPLY,
  MsgType.LEASEQUERY_DATA,
  MsgType.LEASEQUERY_DONE,
]);

export type Verdict = { readonly ok: true; readonly useMulticast: boolean } | { readonly ok: false; readonly reason: DropReason };

export function checkMessage(
  type: number,
  has: { readonly clientId: boolean; readonly serverId: boolean; readonly serverIdIsOurs: boolean },
  clientSentUnicast: boolean,
): Verdict {
  const rule = acceptRules[type];
  if (!rule) return { ok: false, reason: SERVER_ONLY.has(type) ? 'server-msg-type' : 'unknown-msg-type' };
  if (rule.clientId === 'required' && !has.clientId) return { ok: false, reason: 'missing-client-id' };
  if (rule.serverId === 'required' && !has.serverId) return { ok: false, reason: 'missing-server-id' };
  if (rule.serverId === 'forbidden' && has.serverId) return { ok: false, reason: 'unexpected-server-id' };
  if (has.serverId && !has.serverIdIsOurs) return { ok: false, reason: 'not-our-server-id' };
  if (clientSentUnicast && rule.unicast === 'drop') return { ok: false, reason: 'unicast-not-allowed' };
  return { ok: true, useMulticast: clientSentUnicast };
}

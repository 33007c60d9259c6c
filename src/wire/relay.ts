// Relay unwrapping and reply wrapping (RFC 8415 §9, §19).
//
// The server answers the innermost client message and sends the answer back
// through the same relays, outermost first on the wire: each Relay-reply level
// mirrors one Relay-forward level (§19.3).

import { RELAY_DEPTH_MAX } from './constants.js';
import { findOption } from './find.js';
import { optionsLength } from './options.js';
import type { DecodeError } from './reader.js';
import { isRelay, type ClientServerMessage, type Message, type Option, type RelayMessage, type RelayMsgOption } from './types.js';

export type UnwrapResult =
  { ok: true; client: ClientServerMessage; relays: RelayMessage[] /* outermost first */ } | { ok: false; error: DecodeError };

const RELAY_HEADER_LENGTH = 34;

/**
 * Peels relay levels until the client message. Every level must hold exactly
 * one RELAY_MSG (§9.1). decodeMessage already enforces that for received
 * bytes; this re-checks messages built in code. Both relay types unwrap: a
 * server discards a received Relay-reply (§16), and it is the caller that
 * decides, from relays[0].type.
 *
 * Error offsets are where the level starts in the encoded message.
 */
export function unwrapRelay(m: Message): UnwrapResult {
  const relays: RelayMessage[] = [];
  let current = m;
  while (isRelay(current)) {
    if (relays.length >= RELAY_DEPTH_MAX) {
      return fail('relay-too-deep', relays, `more than ${RELAY_DEPTH_MAX} relay levels`);
    }
    let inner: RelayMsgOption | undefined;
    let count = 0;
    for (const o of current.options) {
      if (o.kind === 'RELAY_MSG' && count++ === 0) inner = o;
    }
    if (inner === undefined) return fail('relay-without-message', relays, 'relay message without a RELAY_MSG option');
    if (count > 1) return fail('relay-extra-message', relays, `relay message with ${count} RELAY_MSG options`);
    relays.push(current);
    current = inner.message;
  }
  return { ok: true, client: current, relays };
}

/** Where the level below `outer` starts in the encoded message; computed only on failure. */
function levelOffset(outer: readonly RelayMessage[]): number {
  let offset = 0;
  for (const level of outer) {
    const index = level.options.findIndex((o) => o.kind === 'RELAY_MSG');
    offset += RELAY_HEADER_LENGTH + optionsLength(level.options.slice(0, index)) + 4;
  }
  return offset;
}

const fail = (reason: DecodeError['reason'], outer: readonly RelayMessage[], detail: string): UnwrapResult => ({
  ok: false,
  error: { reason, offset: levelOffset(outer), detail },
});

/**
 * Builds the Relay-reply chain for `reply`. §19.3: each level copies
 * hop-count, link-address and peer-address of the matching Relay-forward, and
 * §21.18: the Interface-Id option "MUST be copied" into that level's reply.
 * Other relay options are not echoed (RFC 4994 ERO is not supported).
 */
export function wrapRelayReply(reply: ClientServerMessage, relays: readonly RelayMessage[]): Message {
  let message: Message = reply;
  for (let i = relays.length - 1; i >= 0; i--) {
    const forward = relays[i]!;
    const interfaceId = findOption(forward.options, 'INTERFACE_ID');
    const options: Option[] = [];
    if (interfaceId) options.push(interfaceId);
    options.push({ kind: 'RELAY_MSG', message });
    message = {
      type: 13,
      hopCount: forward.hopCount,
      linkAddress: forward.linkAddress,
      peerAddress: forward.peerAddress,
      options,
    };
  }
  return message;
}

import { describe, expect, it } from 'vitest';
import {
  encodeMessage,
  messageLength,
  RELAY_DEPTH_MAX,
  unwrapRelay,
  wrapRelayReply,
  type ClientServerMessage,
  type Message,
  type RelayMessage,
} from '../../../src/wire/index.js';
import { roundTrip, u8 } from './helpers.js';

const client: ClientServerMessage = {
  type: 1,
  transactionId: 7,
  options: [{ kind: 'CLIENTID', duid: u8(0, 3, 0, 1, 1, 2, 3, 4, 5, 6) }],
};
const reply: ClientServerMessage = { type: 7, transactionId: 7, options: [{ kind: 'RAPID_COMMIT' }] };

/** Relay-forward levels wrapped around `inner`, index 0 innermost. */
function chain(inner: Message, levels: number, withInterfaceId = true): Message {
  let m = inner;
  for (let i = 0; i < levels; i++) {
    m = {
      type: 12,
      hopCount: i,
      linkAddress: `2001:db8:${i + 1}::1`,
      peerAddress: `fe80::${i + 1}`,
      options: [
        { kind: 'UNKNOWN', code: 37, data: u8(0, 0, 0, 9, i) }, // REMOTE_ID: never echoed
        ...(withInterfaceId ? [{ kind: 'INTERFACE_ID' as const, id: u8(0x10 + i, 0xff) }] : []),
        { kind: 'RELAY_MSG', message: m },
      ],
    };
  }
  return m;
}

describe('unwrapRelay', () => {
  it('returns a direct client message with no relays', () => {
    expect(unwrapRelay(client)).toEqual({ ok: true, client, relays: [] });
  });

  it('returns three levels outermost first', () => {
    const result = unwrapRelay(chain(client, 3));
    if (!result.ok) throw new Error(result.error.detail);
    expect(result.client).toBe(client);
    expect(result.relays.map((r) => r.hopCount)).toEqual([2, 1, 0]);
    expect(result.relays.map((r) => r.linkAddress)).toEqual(['2001:db8:3::1', '2001:db8:2::1', '2001:db8:1::1']);
  });

  it(`accepts ${RELAY_DEPTH_MAX} levels and refuses ${RELAY_DEPTH_MAX + 1} (§7.6)`, () => {
    expect(unwrapRelay(chain(client, RELAY_DEPTH_MAX)).ok).toBe(true);
    const deep = unwrapRelay(chain(client, RELAY_DEPTH_MAX + 1));
    expect(deep.ok ? 'ok' : deep.error.reason).toBe('relay-too-deep');
  });

  it('refuses a relay message without, or with two, RELAY_MSG (§9), at the offset of that level', () => {
    const empty: RelayMessage = { type: 12, hopCount: 0, linkAddress: '::', peerAddress: '::', options: [] };
    expect(unwrapRelay(empty)).toMatchObject({ ok: false, error: { reason: 'relay-without-message', offset: 0 } });

    const outer = chain(empty, 1) as RelayMessage;
    // outer header 34 + REMOTE_ID 9 + INTERFACE_ID 6 + RELAY_MSG header 4
    expect(unwrapRelay(outer)).toMatchObject({ ok: false, error: { reason: 'relay-without-message', offset: 53 } });
    expect(encodeMessage(outer).subarray(53, 54)[0]).toBe(12);

    const twice: RelayMessage = {
      ...empty,
      options: [
        { kind: 'RELAY_MSG', message: client },
        { kind: 'RELAY_MSG', message: client },
      ],
    };
    expect(unwrapRelay(twice)).toMatchObject({ ok: false, error: { reason: 'relay-extra-message' } });
  });
});

describe('wrapRelayReply (§19.3)', () => {
  it('returns the reply itself when there were no relays', () => {
    expect(wrapRelayReply(reply, [])).toBe(reply);
  });

  it('mirrors every level: RELAY_REPL, same hop-count, addresses and INTERFACE_ID, nothing else', () => {
    const unwrapped = unwrapRelay(chain(client, 3));
    if (!unwrapped.ok) throw new Error(unwrapped.error.detail);
    const wrapped = wrapRelayReply(reply, unwrapped.relays);
    roundTrip(wrapped);

    const back = unwrapRelay(wrapped);
    if (!back.ok) throw new Error(back.error.detail);
    expect(back.client).toBe(reply);
    expect(back.relays).toHaveLength(3);
    back.relays.forEach((level, i) => {
      const forward = unwrapped.relays[i]!;
      expect(level.type).toBe(13);
      expect([level.hopCount, level.linkAddress, level.peerAddress]).toEqual([forward.hopCount, forward.linkAddress, forward.peerAddress]);
      expect(level.options.map((o) => o.kind)).toEqual(['INTERFACE_ID', 'RELAY_MSG']);
      expect(level.options[0]).toEqual(forward.options[1]);
    });
  });

  it('adds no INTERFACE_ID where the relay sent none', () => {
    const unwrapped = unwrapRelay(chain(client, 2, false));
    if (!unwrapped.ok) throw new Error(unwrapped.error.detail);
    const wrapped = wrapRelayReply(reply, unwrapped.relays);
    expect(messageLength(wrapped)).toBe(2 * (34 + 4) + messageLength(reply));
  });
});

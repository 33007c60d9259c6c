// The engine records who requested each delegation (Lease.via) so the shell
// can route the prefix there: the client's source on our link, or the
// innermost relay's peer-address plus the relay that sent it (RFC 8415 §9).

import { describe, expect, it } from 'vitest';
import type { RelayMessage } from '../../../src/wire/types.js';
import { World, msg, iaNa, iaPd, reply, granted, duidHex, MsgType } from './harness.js';

async function handle(w: World, m: ReturnType<typeof msg>, inbound: { sourceAddress?: string; relays?: RelayMessage[]; iface?: string }) {
  await w.ready;
  const d = w.engine.handle(
    {
      message: m,
      relays: inbound.relays ?? [],
      interface: inbound.iface ?? 'lan0',
      unicast: (inbound.relays ?? []).length > 0,
      ...(inbound.sourceAddress ? { sourceAddress: inbound.sourceAddress } : {}),
    },
    { nowSec: w.nowSec, view: w.store, policy: w.policy },
  );
  if (d.kind === 'reply' && d.changes.length > 0) await w.store.apply(d.changes);
  return d;
}

const relay = (linkAddress: string, peerAddress: string): RelayMessage =>
  ({ type: 12, hopCount: 0, linkAddress, peerAddress, options: [] }) as unknown as RelayMessage;

describe('requesting router of a delegation', () => {
  it('records the direct client source and arrival interface on the prefix, not on the address', async () => {
    const w = new World();
    const g = granted(reply(await handle(w, msg(MsgType.REQUEST, 1, [iaNa(1), iaPd(2)], true), { sourceAddress: 'fe80::1:2' })));
    const pd = w.store.byResource(g.find((l) => l.type === 'pd')!.resource)!;
    expect(pd.via).toEqual({ address: 'fe80::1:2', interface: 'lan0' });
    expect(w.store.byResource(g.find((l) => l.type === 'na')!.resource)!.via).toBeUndefined();
  });

  it('moves with a renewal from another address, and stays when the source is unknown', async () => {
    const w = new World();
    const held = granted(reply(await handle(w, msg(MsgType.REQUEST, 1, [iaPd(2)], true), { sourceAddress: 'fe80::1' })))[0]!.resource;
    w.nowSec += 100;
    await handle(w, msg(MsgType.RENEW, 1, [iaPd(2, [held])], true), { sourceAddress: 'fe80::2' });
    expect(w.store.byResource(held)!.via).toEqual({ address: 'fe80::2', interface: 'lan0' });
    w.nowSec += 100;
    await handle(w, msg(MsgType.RENEW, 1, [iaPd(2, [held])], true), {});
    expect(w.store.byResource(held)!.via).toEqual({ address: 'fe80::2', interface: 'lan0' });
    // Released: the lease keeps its via, the route manager drops the route by state.
    await handle(w, msg(MsgType.RELEASE, 1, [iaPd(2, [held])], true), { sourceAddress: 'fe80::2' });
    expect(w.store.byResource(held)).toMatchObject({ state: 'released', via: { address: 'fe80::2' } });
  });

  it('takes the innermost relay peer-address, and the sending relay when it is another node', async () => {
    const w = new World();
    const routed = [relay('2001:db8:2::1', 'fe80::77')];
    const g = granted(reply(await handle(w, msg(MsgType.REQUEST, 2, [iaPd(1)], true), { sourceAddress: '2001:db8:2::1', relays: routed })));
    expect(w.store.byResource(g[0]!.resource)!.via).toEqual({ address: 'fe80::77', interface: 'lan0', relay: '2001:db8:2::1' });
    // A relay that forwards with the client's own source (as a lightweight relay does, RFC 6221): no separate relay recorded.
    const ldra = [relay('2001:db8:2::', 'fe80::88')];
    const h = granted(reply(await handle(w, msg(MsgType.REQUEST, 3, [iaPd(1)], true), { sourceAddress: 'fe80::88', relays: ldra })));
    expect(w.store.byResource(h[0]!.resource)!.via).toEqual({ address: 'fe80::88', interface: 'lan0' });
    expect(w.store.byIa(duidHex(3), 1, 'pd')).toHaveLength(1);
  });
});

// A small world for engine tests: a config, a lease view that applies the
// engine's changes, and builders for client messages. The messages are built
// as typed values (not with our encoder) — the codec has its own tests.

import { parseConfig } from '../../../src/config/index.js';
import { createEngine, standalonePolicy, type Decision, type Engine, type FailoverPolicy } from '../../../src/engine/index.js';
import { MemoryLeaseStore } from '../../../src/store/index.js';
import { MsgType } from '../../../src/wire/constants.js';
import type { ClientServerMessage, Option, RelayMessage } from '../../../src/wire/types.js';

export const SERVER_DUID = Uint8Array.from([0, 1, 0, 1, 0x2f, 0, 0, 1, 0x52, 0x54, 0, 0, 0, 1]);
export const T0 = 1_800_000_000;

export const baseConfig = {
  interfaces: ['lan0'],
  lifetimes: { preferredSec: 3000, validSec: 4000 },
  pdLifetimes: { preferredSec: 6000, validSec: 8000 },
  options: { dnsServers: ['2001:db8:1::53'], domainSearch: ['lab.example'] },
  subnets: [
    {
      name: 'lan',
      interface: 'lan0',
      prefix: '2001:db8:1::/64',
      pools: ['2001:db8:1::1000-2001:db8:1::1fff'],
      pdPools: [{ prefix: '2001:db8:8000::/40', delegatedLength: 56 }],
    },
    {
      name: 'relayed',
      prefix: '2001:db8:2::/64',
      pools: ['2001:db8:2::100-2001:db8:2::1ff'],
      pdPools: [{ prefix: '2001:db8:9000::/48', delegatedLength: 60 }],
    },
  ],
};

export class World {
  readonly store = new MemoryLeaseStore();
  nowSec = T0;
  policy: FailoverPolicy = standalonePolicy;
  readonly engine: Engine;
  /** Resolves once the store is open. */
  readonly ready: Promise<unknown>;

  constructor(config: unknown = baseConfig) {
    this.engine = createEngine(parseConfig(config), SERVER_DUID);
    this.ready = this.store.open();
  }

  /** Runs one message through the engine and applies its changes, as the daemon would. */
  async send(message: ClientServerMessage, opts: { iface?: string; unicast?: boolean; relays?: RelayMessage[] } = {}): Promise<Decision> {
    await this.ready;
    const d = this.engine.handle(
      { message, relays: opts.relays ?? [], interface: opts.iface ?? 'lan0', unicast: opts.unicast ?? false },
      { nowSec: this.nowSec, view: this.store, policy: this.policy },
    );
    if (d.kind === 'reply' && d.changes.length > 0) await this.store.apply(d.changes);
    return d;
  }

  async reclaim(): Promise<number> {
    await this.ready;
    const changes = this.engine.reclaim({ nowSec: this.nowSec, view: this.store, policy: this.policy }, 1000);
    await this.store.apply(changes);
    return changes.length;
  }
}

export const duid = (n: number): Uint8Array => Uint8Array.from([0, 3, 0, 1, 0x02, 0, 0, 0, (n >> 8) & 0xff, n & 0xff]);
export const duidHex = (n: number): string => Buffer.from(duid(n)).toString('hex');

let xid = 0x1000;
export function msg(type: number, client: number | undefined, options: Option[], withServerId = false): ClientServerMessage {
  const head: Option[] = [];
  if (client !== undefined) head.push({ kind: 'CLIENTID', duid: duid(client) });
  if (withServerId) head.push({ kind: 'SERVERID', duid: SERVER_DUID });
  return { type, transactionId: xid++ & 0xffffff, options: [...head, ...options] };
}

export const iaNa = (iaid: number, addresses: string[] = []): Option => ({
  kind: 'IA_NA',
  iaid,
  t1Sec: 0,
  t2Sec: 0,
  options: addresses.map((address) => ({ kind: 'IAADDR', address, preferredSec: 0, validSec: 0, options: [] })),
});

export const iaPd = (iaid: number, prefixes: string[] = []): Option => ({
  kind: 'IA_PD',
  iaid,
  t1Sec: 0,
  t2Sec: 0,
  options: prefixes.map((p) => {
    const [prefix, len] = p.split('/') as [string, string];
    return { kind: 'IAPREFIX', prefix, prefixLength: Number(len), preferredSec: 0, validSec: 0, options: [] };
  }),
});

export const oro = (...codes: number[]): Option => ({ kind: 'ORO', codes });

export function reply(d: Decision): ClientServerMessage {
  if (d.kind !== 'reply') throw new Error(`expected a reply, got drop: ${d.reason}`);
  return d.reply;
}

/** The leases in a reply, flattened: "na 2001:db8:1::1000 3000/4000" style rows. */
export function granted(
  m: ClientServerMessage,
): { type: 'na' | 'pd'; iaid: number; resource: string; preferredSec: number; validSec: number; t1Sec: number; t2Sec: number }[] {
  const out = [];
  for (const o of m.options) {
    if (o.kind !== 'IA_NA' && o.kind !== 'IA_PD') continue;
    for (const i of o.options) {
      if (i.kind === 'IAADDR')
        out.push({
          type: 'na' as const,
          iaid: o.iaid,
          resource: i.address,
          preferredSec: i.preferredSec,
          validSec: i.validSec,
          t1Sec: o.t1Sec,
          t2Sec: o.t2Sec,
        });
      if (i.kind === 'IAPREFIX')
        out.push({
          type: 'pd' as const,
          iaid: o.iaid,
          resource: `${i.prefix}/${i.prefixLength}`,
          preferredSec: i.preferredSec,
          validSec: i.validSec,
          t1Sec: o.t1Sec,
          t2Sec: o.t2Sec,
        });
    }
  }
  return out;
}

/** Status codes found in the reply: top level as 'top', inside IAs as 'IA_NA:<iaid>' etc. */
export function statuses(m: ClientServerMessage): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of m.options) {
    if (o.kind === 'STATUS_CODE') out['top'] = o.status;
    if (o.kind === 'IA_NA' || o.kind === 'IA_PD' || o.kind === 'IA_TA') {
      for (const i of o.options) if (i.kind === 'STATUS_CODE') out[`${o.kind}:${o.iaid}`] = i.status;
    }
  }
  return out;
}

export { MsgType };

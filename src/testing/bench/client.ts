// The bench's own DHCPv6 client, run inside the client namespace by main.ts.
// perfdhcp cannot do either job: it only renews leases it obtained itself in
// the same run, and it has no notion of "the first Reply after the server was
// started". Prints one JSON line with its result; times are CLOCK_MONOTONIC
// (process.hrtime), which every process on the machine shares.
//
//   first-reply --iface IF [--timeout-ms N]
//       Solicits every 10 ms until an Advertise, then Requests until a Reply
//       granting an address. Prints {"ready":true} once it can send.
//   renew --iface IF --server-id HEX --pool-first ADDR --count N --rate R
//       Renews the IA_NA address pool-first+i of bench client i (the leases
//       prefill.ts put in the store), i < N, at R per second.

import dgram from 'node:dgram';
import { parseIPv6 } from '../lab/addr.js';
import { MSG, addressBytes, benchDuid, build, parse } from './dhcp6.js';

const CLIENT_PORT = 546;
const SERVER_PORT = 547;
/** Index of the probe's own DUID: far above any prefilled client. */
const PROBE_CLIENT = 0xfffffff0;
/** Replies later than this after the last Renew are counted as lost. */
const DRAIN_MS = 1000;

function args(argv: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (!k?.startsWith('--') || v === undefined) throw new Error(`bad argument near ${k ?? '(end)'}`);
    m.set(k.slice(2), v);
  }
  return m;
}

function need(a: Map<string, string>, k: string): string {
  const v = a.get(k);
  if (v === undefined) throw new Error(`--${k} is required`);
  return v;
}

const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function openSocket(): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp6', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(CLIENT_PORT, '::', () => resolve());
  });
  return sock;
}

async function firstReply(a: Map<string, string>): Promise<void> {
  const dest = `ff02::1:2%${need(a, 'iface')}`;
  const timeoutMs = Number(a.get('timeout-ms') ?? 30_000);
  const sock = await openSocket();
  const clientId = benchDuid(PROBE_CLIENT);
  const xid = 0x424242;
  let advertiseNs: bigint | undefined;
  let request: Buffer | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no Reply within ${timeoutMs} ms`)), timeoutMs);
    sock.on('message', (msg) => {
      const p = parse(msg);
      if (!p || p.xid !== xid) return;
      if (p.type === MSG.ADVERTISE && !request && p.serverId && p.addresses[0]) {
        advertiseNs = process.hrtime.bigint();
        request = build({ type: MSG.REQUEST, xid, clientId, serverId: p.serverId, iaid: 1, address: p.addresses[0].address });
        sock.send(request, SERVER_PORT, dest);
      } else if (p.type === MSG.REPLY && p.status === 0 && p.addresses.length > 0) {
        clearTimeout(timer);
        out({
          advertiseNs: String(advertiseNs),
          replyNs: String(process.hrtime.bigint()),
          serverId: Buffer.from(p.serverId ?? []).toString('hex'),
        });
        resolve();
      }
    });
  });
  const solicit = build({ type: MSG.SOLICIT, xid, clientId, iaid: 1 });
  // Until the server answers, resend on a short period: the first Reply is
  // then at most one period after the server became able to answer.
  const tick = setInterval(() => sock.send(request ?? solicit, SERVER_PORT, dest), 10);
  out({ ready: true });
  try {
    await done;
  } finally {
    clearInterval(tick);
    sock.close();
  }
}

async function renew(a: Map<string, string>): Promise<void> {
  const dest = `ff02::1:2%${need(a, 'iface')}`;
  const serverId = Buffer.from(need(a, 'server-id'), 'hex');
  const poolFirst = parseIPv6(need(a, 'pool-first'));
  const count = Number(need(a, 'count'));
  const rate = Number(need(a, 'rate'));
  if (!(count > 0 && count < 0x1000000 && rate > 0)) throw new Error('renew: need 0 < count < 2^24 and rate > 0');
  const sock = await openSocket();
  let replied = 0;
  let ok = 0;
  const seen = new Uint8Array(count);
  sock.on('message', (msg) => {
    const p = parse(msg);
    if (!p || p.type !== MSG.REPLY || p.xid >= count || seen[p.xid]) return;
    seen[p.xid] = 1;
    replied++;
    // An unchanged renew: the server keeps the address and extends it.
    if (p.status === 0 && p.addresses.some((x) => x.validSec > 0)) ok++;
  });
  let sent = 0;
  const startMs = performance.now();
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(count, Math.floor(((performance.now() - startMs) / 1000) * rate));
      for (; sent < due; sent++) {
        const msg = build({
          type: MSG.RENEW,
          xid: sent,
          clientId: benchDuid(sent),
          serverId,
          iaid: 1,
          address: addressBytes(poolFirst + BigInt(sent)),
        });
        sock.send(msg, SERVER_PORT, dest);
      }
      if (sent >= count) {
        clearInterval(tick);
        resolve();
      }
    }, 2);
  });
  const sendMs = performance.now() - startMs;
  await new Promise((r) => setTimeout(r, DRAIN_MS));
  sock.close();
  out({ sent, replied, ok, sendMs: Math.round(sendMs) });
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  const a = args(rest);
  if (mode === 'first-reply') await firstReply(a);
  else if (mode === 'renew') await renew(a);
  else throw new Error('usage: client.js first-reply|renew --iface IF ...');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

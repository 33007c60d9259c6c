#!/usr/bin/env node
// What a hostile LAN host sends once it has learned the server's DUID from an
// Advertise: well-formed messages the codec accepts, built byte by byte (our
// encoder would refuse some of them), meant to kill, wedge or drain the server.
// Every phase is bounded in count and rate, and it runs only inside a lab
// namespace. Prints one JSON object with what it sent and what came back.
//
//   node dist/testing/lab/hostile-packets.js --iface eth0 [--seconds 20] [--seed 1] [--port 547]
//
// Phases, interleaved round by round until --seconds have passed:
//   kill   — Request and Rapid-Commit Solicit with an IAPREFIX hint whose bits go past its length
//   many   — Requests with 1,500 IAs (a Reply too large to send) and with 40 IAs (over the per-message limit)
//   drain  — one DUID asking for fresh IAIDs again and again (the per-client limit)
//   fuzz   — mutated copies of valid Solicit/Request/Renew/Rebind/Release/Decline/Confirm/Information-request

import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { programArg, xorshift32 } from './program.js';
import { assertInsideLabNamespace } from './netns-guard.js';

const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const option = (code: number, body: number[]): number[] => [...u16(code), ...u16(body.length), ...body];
const addressBytes = (groups: number[]): number[] => groups.flatMap(u16);

export interface HostileReport {
  readonly sent: Record<'kill' | 'many' | 'drain' | 'fuzz', number>;
  /** Replies of any kind the attacker got back (it does not need them). */
  readonly replies: number;
  readonly seconds: number;
}

async function main(): Promise<void> {
  assertInsideLabNamespace('hostile-packets');
  const iface = programArg('hostile-packets', 'iface');
  const seconds = Number(programArg('hostile-packets', 'seconds', '20'));
  const rand = xorshift32(Number(programArg('hostile-packets', 'seed', '1')));
  const port = Number(programArg('hostile-packets', 'port', '547'));
  const dest = `ff02::1:2%${iface}`;
  const sock = dgram.createSocket({ type: 'udp6', recvBufferSize: 1 << 20 });
  await new Promise<void>((r) => sock.bind(0, '::', () => r()));
  let replies = 0;
  let serverId: number[] | undefined;
  sock.on('message', (m) => {
    replies++;
    if (serverId === undefined && m[0] === 2) serverId = findOption(m, 2);
  });
  const send = (bytes: number[]) => new Promise<void>((r) => sock.send(Uint8Array.from(bytes), port, dest, () => r())); // a failed send is not the test's concern
  const duid = (n: number): number[] => [0, 3, 0, 1, 2, 0x66, (n >> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  const xid = (): number[] => [rand() & 0xff, rand() & 0xff, rand() & 0xff];
  const iaNa = (iaid: number, hints: number[][] = []) =>
    option(3, [...u32(iaid), ...u32(0), ...u32(0), ...hints.flatMap((a) => option(5, [...a, ...u32(0), ...u32(0)]))]);
  const iaPd = (iaid: number, hints: [number[], number][] = []) =>
    option(25, [...u32(iaid), ...u32(0), ...u32(0), ...hints.flatMap(([a, len]) => option(26, [...u32(0), ...u32(0), len, ...a]))]);

  // Learn the server's DUID, as any client does.
  for (let i = 0; i < 20 && serverId === undefined; i++) {
    await send([1, ...xid(), ...option(1, duid(0xfffffff0)), ...iaNa(1)]);
    await new Promise((r) => setTimeout(r, 250));
  }
  if (serverId === undefined) throw new Error('hostile-packets: no Advertise from the server');
  const sid = option(2, serverId);

  // Valid messages to mutate; the mutations keep the header and most TLVs intact so they decode.
  const templates = (n: number): number[][] => [
    [1, ...xid(), ...option(1, duid(n)), ...iaNa(1), ...iaPd(2), ...option(6, [0, 23, 0, 24]), ...option(8, [0, 0])],
    [3, ...xid(), ...option(1, duid(n)), ...sid, ...iaNa(1, [addressBytes([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x1234])]), ...iaPd(2)],
    [5, ...xid(), ...option(1, duid(n)), ...sid, ...iaNa(1, [addressBytes([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x1235])])],
    [6, ...xid(), ...option(1, duid(n)), ...iaPd(2, [[addressBytes([0x2001, 0xdb8, 0x8000, 0x100, 0, 0, 0, 0]), 56]])],
    [8, ...xid(), ...option(1, duid(n)), ...sid, ...iaNa(1, [addressBytes([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x1236])])],
    [9, ...xid(), ...option(1, duid(n)), ...sid, ...iaNa(1, [addressBytes([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x1237])])],
    [4, ...xid(), ...option(1, duid(n)), ...iaNa(1, [addressBytes([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x1238])])],
    [11, ...xid(), ...option(1, duid(n)), ...option(6, [0, 23])],
  ];
  const mutate = (p: number[]): number[] => {
    const out = [...p];
    const flips = 1 + (rand() % 4);
    for (let i = 0; i < flips; i++) {
      const at = 4 + (rand() % Math.max(1, out.length - 4));
      const r = rand() % 4;
      if (r === 0) out[at] = rand() & 0xff;
      else if (r === 1) out.splice(at, 1 + (rand() % 3));
      else if (r === 2) out.splice(at, 0, rand() & 0xff);
      else out[at] = out[at]! ^ (1 << (rand() % 8));
    }
    return out;
  };

  const sent = { kill: 0, many: 0, drain: 0, fuzz: 0 };
  const started = Date.now();
  const drainDuid = duid(0x0d0d0d0d);
  let drainIaid = 0;
  for (let round = 0; Date.now() - started < seconds * 1000; round++) {
    // kill: the prefix that used to make the store's encoder assert.
    const badPrefix = addressBytes([0x2001, 0xdb8, 0x80fa, 0xe00, 0, 0x2000, 0, 0]);
    await send([3, ...xid(), ...option(1, duid(round)), ...sid, ...iaPd(1, [[badPrefix, 56]])]);
    await send([1, ...xid(), ...option(1, duid(round + 1_000_000)), ...option(14, []), ...iaPd(1, [[badPrefix, 56]])]);
    sent.kill += 2;
    // many: a Reply too large to send, and one with a few IAs over the limit.
    if (round % 4 === 0) {
      const big: number[] = [];
      for (let i = 0; i < 750; i++) big.push(...iaNa(i), ...iaPd(i));
      await send([3, ...xid(), ...option(1, duid(2_000_000 + round)), ...sid, ...big]);
      const forty: number[] = [];
      for (let i = 0; i < 20; i++) forty.push(...iaNa(i), ...iaPd(i));
      await send([3, ...xid(), ...option(1, duid(3_000_000 + round)), ...sid, ...forty]);
      sent.many += 2;
    }
    // drain: one DUID, ever new IAIDs.
    const ias: number[] = [];
    for (let i = 0; i < 8; i++) ias.push(...iaNa(drainIaid), ...iaPd(drainIaid++));
    await send([3, ...xid(), ...option(1, drainDuid), ...sid, ...ias]);
    sent.drain++;
    // fuzz
    for (const t of templates(4_000_000 + round)) {
      await send(mutate(t));
      sent.fuzz++;
    }
    // About 130 packets/s: a hostile host, not a bandwidth test.
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  const report: HostileReport = { sent, replies, seconds: (Date.now() - started) / 1000 };
  process.stdout.write(JSON.stringify(report) + '\n');
  sock.close();
}

/** The body of the first top-level option with this code in a DHCPv6 client/server message. */
function findOption(m: Uint8Array, code: number): number[] | undefined {
  for (let at = 4; at + 4 <= m.length;) {
    const c = (m[at]! << 8) | m[at + 1]!;
    const len = (m[at + 2]! << 8) | m[at + 3]!;
    if (c === code) return Array.from(m.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return undefined;
}

// Only when run as a program: importing the report type must send nothing.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}

#!/usr/bin/env node
// Sends what a hostile or broken LAN host might: malformed DHCPv6 datagrams,
// each kind built byte by byte (not with our encoder, which refuses to make
// them), then a flood of Solicits from random DUIDs. Prints one JSON object
// saying how many of each kind were sent, keyed by the counter the server is
// expected to raise, so a test can compare the two.
//
//   node dist/testing/lab/bad-packets.js --iface eth0 [--repeat 5] [--flood 2000] [--rate 500] [--port 547]

import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { programArg } from './program.js';
import { assertInsideLabNamespace } from './netns-guard.js';

const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const option = (code: number, body: number[]) => [...u16(code), ...u16(body.length), ...body];
const clientId = (duid: number[]) => option(1, duid);
const DUID = [0, 3, 0, 1, 2, 0, 0, 0, 0, 0x42];
const header = (type: number) => [type, 0x12, 0x34, 0x56];
const relayHeader = (hops: number) => [12, hops, ...new Array<number>(32).fill(0)];

/** Relay-forward nested `depth` times around a Solicit. */
function nestedRelays(depth: number): number[] {
  let inner = [...header(1), ...clientId(DUID)];
  for (let i = 0; i < depth; i++) inner = [...relayHeader(i), ...option(9, inner)];
  return inner;
}

/** Expected server counter → the datagrams that should raise it. */
export const MALFORMED: Readonly<Record<string, readonly number[][]>> = {
  'drop.decode.truncated-header': [[1], [3, 0, 0], [12, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  'drop.decode.option-overflow': [
    [...header(1), 0, 1, 0, 200, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    [...header(3), 0, 1],
  ],
  'drop.decode.bad-option': [[...header(1), ...clientId(DUID), ...option(3, [0, 0, 0, 1])]], // IA_NA shorter than 12
  'drop.decode.bad-duid': [
    [...header(1), ...clientId([])],
    [...header(1), ...clientId(new Array<number>(140).fill(7))],
  ],
  'drop.decode.relay-too-deep': [nestedRelays(40)],
  'drop.engine.unknown-msg-type': [
    [...header(99), ...clientId(DUID)],
    [...header(0), ...clientId(DUID)],
  ],
  'drop.engine.server-msg-type': [
    [...header(2), ...clientId(DUID)],
    [...header(7), ...clientId(DUID)],
  ],
  'drop.engine.missing-client-id': [[...header(1), ...option(3, new Array<number>(12).fill(0))]],
};

async function main(): Promise<void> {
  assertInsideLabNamespace('bad-packets');
  const iface = programArg('bad-packets', 'iface');
  const repeat = Number(programArg('bad-packets', 'repeat', '5'));
  const flood = Number(programArg('bad-packets', 'flood', '0'));
  const rate = Number(programArg('bad-packets', 'rate', '500'));
  const port = Number(programArg('bad-packets', 'port', '547'));
  const dest = `ff02::1:2%${iface}`;
  const sock = dgram.createSocket('udp6');
  await new Promise<void>((r) => sock.bind(0, '::', () => r()));
  let advertised = 0;
  sock.on('message', (m) => {
    if (m[0] === 2) advertised++;
  });
  const send = (bytes: Uint8Array) => new Promise<void>((r, j) => sock.send(bytes, port, dest, (e) => (e ? j(e) : r())));
  const sent: Record<string, number> = {};
  for (let i = 0; i < repeat; i++) {
    for (const [counter, packets] of Object.entries(MALFORMED)) {
      for (const p of packets) {
        await send(Uint8Array.from(p));
        sent[counter] = (sent[counter] ?? 0) + 1;
      }
    }
  }
  // The flood: valid Solicits (IA_NA + IA_PD) from random DUIDs, paced, bounded in count and time.
  const started = Date.now();
  for (let i = 0; i < flood; i++) {
    const duid = [0, 3, 0, 1, ...randomBytes(6)];
    const ias = [...option(3, [0, 0, 0, 1, ...new Array<number>(8).fill(0)]), ...option(25, [0, 0, 0, 2, ...new Array<number>(8).fill(0)])];
    await send(Uint8Array.from([1, ...randomBytes(3), ...clientId(duid), ...ias]));
    const due = started + ((i + 1) * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await new Promise((r) => setTimeout(r, 500));
  process.stdout.write(JSON.stringify({ sent, flood, advertised, floodMs: Date.now() - started }) + '\n');
  sock.close();
}

// Only when run as a program: importing MALFORMED (tests do) must send nothing.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}

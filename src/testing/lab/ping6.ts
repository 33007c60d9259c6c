#!/usr/bin/env node
// ICMPv6 echo (RFC 4443 §4.1, §4.2) from inside a lab namespace, through the
// same raw-socket addon twin6 advertises with: the lab machines need not have
// iputils installed. Prints one JSON line: { to, sent, received, rttMs }.
//
//   node dist/testing/lab/ping6.js --to 2001:db8:804e:3100::1 [--count 3] [--timeout-ms 2000]

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { programArg } from './program.js';
import { assertInsideLabNamespace } from './netns-guard.js';
import { assertLabAddress, parseIPv6 } from './addr.js';

const ECHO_REQUEST = 128;
const ECHO_REPLY = 129;

interface RawSocket {
  send(buf: Buffer, offset: number, length: number, address: string, cb: (e: Error | null) => void): void;
  on(event: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(event: 'error', cb: (e: Error) => void): void;
  close(): void;
}

async function main(): Promise<void> {
  assertInsideLabNamespace('ping6');
  const to = programArg('ping6', 'to');
  // Lab traffic stays inside the documentation prefix.
  assertLabAddress(`${to}/128`);
  const count = Number(programArg('ping6', 'count', '3'));
  const timeoutMs = Number(programArg('ping6', 'timeout-ms', '2000'));
  const raw = createRequire(import.meta.url)('raw-socket') as {
    createSocket(o: { protocol: number; addressFamily: number }): RawSocket;
    AddressFamily: { IPv6: number };
  };
  const socket = raw.createSocket({ protocol: 58, addressFamily: raw.AddressFamily.IPv6 });
  // raw-socket's poll handle does not keep Node's event loop alive (found by test): a timer does, until the end.
  const keepAlive = setInterval(() => undefined, 1000);
  const id = process.pid & 0xffff;
  const sentAt = new Map<number, number>();
  const rttMs: number[] = [];
  socket.on('error', (e) => {
    process.stderr.write(`ping6: ${e.message}\n`);
    process.exit(1);
  });
  socket.on('message', (buf, source) => {
    if (buf[0] !== ECHO_REPLY || buf.length < 8 || buf.readUInt16BE(4) !== id || parseIPv6(source) !== parseIPv6(to)) return;
    const at = sentAt.get(buf.readUInt16BE(6));
    if (at !== undefined) rttMs.push(Math.round((performance.now() - at) * 100) / 100);
    sentAt.delete(buf.readUInt16BE(6));
  });
  for (let seq = 1; seq <= count; seq++) {
    const msg = Buffer.alloc(16);
    msg[0] = ECHO_REQUEST;
    msg.writeUInt16BE(id, 4);
    msg.writeUInt16BE(seq, 6);
    msg.write('twin6lab', 8);
    sentAt.set(seq, performance.now());
    // The checksum (octets 2-3) is the kernel's (RFC 3542 §3.1).
    await new Promise<void>((resolve) => socket.send(msg, 0, msg.length, to, () => resolve()));
    await new Promise((r) => setTimeout(r, seq === count ? timeoutMs : 200));
  }
  socket.close();
  clearInterval(keepAlive);
  process.stdout.write(`${JSON.stringify({ to, sent: count, received: rttMs.length, rttMs })}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`ping6: ${(e as Error).message}\n`);
    process.exit(1);
  });
}

#!/usr/bin/env node
// A DHCPv6 load client for the lab: many simulated clients, each doing a full
// Solicit/Advertise/Request/Reply (or a Renew of what it got), printing one
// JSON line per lease acknowledged in a Reply. Crash tests read those lines as
// the external record of what the server promised. Real-client conformance is
// tested with dhclient and dhcpcd; this exists for load and for bookkeeping.
//
//   node dist/testing/lab/load-client.js --iface eth0 --clients 200 --rate 100 [--seconds 10] [--port 547]
//
// Output lines: {"duid":"…","iaid":1,"type":"na","resource":"2001:db8:1::1234","validSec":7200,"ackedAtMs":…}
// and one final {"done":true,"sent":…,"replies":…,"timeouts":…}.

import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { assertInsideLabNamespace } from './netns-guard.js';
import { decodeMessage, encodeMessage, findOption } from '../../wire/index.js';
import { MsgType, ALL_DHCP_RELAY_AGENTS_AND_SERVERS } from '../../wire/constants.js';
import type { ClientServerMessage, Option } from '../../wire/types.js';

/** One output line: a lease the server acknowledged in a Reply (what the crash tests hold it to). */
export interface AckedLease {
  readonly duid: string;
  readonly iaid: number;
  readonly type: 'na' | 'pd';
  readonly resource: string;
  readonly validSec: number;
  readonly ackedAtMs: number;
}

interface Args {
  iface: string;
  clients: number;
  rate: number;
  seconds: number;
  port: number;
  pd: boolean;
  na: boolean;
}

function parse(argv: string[]): Args {
  const get = (name: string, dflt?: string): string => {
    const i = argv.indexOf(`--${name}`);
    const v = i >= 0 ? argv[i + 1] : dflt;
    if (v === undefined) throw new Error(`--${name} is required`);
    return v;
  };
  const kinds = get('ia', 'na,pd').split(',');
  return {
    iface: get('iface'),
    clients: Number(get('clients', '100')),
    rate: Number(get('rate', '100')),
    seconds: Number(get('seconds', '30')),
    port: Number(get('port', '547')),
    na: kinds.includes('na'),
    pd: kinds.includes('pd'),
  };
}

/** Retransmission: RFC 8415 REQ_TIMEOUT is 1 s; a load client keeps it short and bounded. */
const RETRY_MS = 1000;
const TRIES_MAX = 4;

interface Pending {
  readonly duid: Uint8Array;
  stage: 'solicit' | 'request';
  tries: number;
  sentMs: number;
  message: ClientServerMessage;
}

function main(): void {
  assertInsideLabNamespace('load-client');
  const args = parse(process.argv.slice(2));
  const sock = dgram.createSocket({ type: 'udp6', reuseAddr: true });
  const pending = new Map<number, Pending>();
  const stats = { sent: 0, replies: 0, timeouts: 0, acked: 0 };
  const deadline = Date.now() + args.seconds * 1000;
  const dest = `${ALL_DHCP_RELAY_AGENTS_AND_SERVERS}%${args.iface}`;
  let started = 0;

  const ias = (): Option[] => [
    ...(args.na ? [{ kind: 'IA_NA' as const, iaid: 1, t1Sec: 0, t2Sec: 0, options: [] }] : []),
    ...(args.pd ? [{ kind: 'IA_PD' as const, iaid: 2, t1Sec: 0, t2Sec: 0, options: [] }] : []),
  ];
  const send = (xid: number, p: Pending) => {
    p.sentMs = Date.now();
    p.tries++;
    stats.sent++;
    sock.send(encodeMessage(p.message), args.port, dest);
  };
  const newXid = (): number => {
    let x: number;
    do x = randomBytes(3).readUIntBE(0, 3);
    while (pending.has(x));
    return x;
  };
  const startClient = () => {
    const duid = Buffer.concat([Buffer.from([0, 3, 0, 1]), randomBytes(6)]); // DUID-LL, random MAC
    const xid = newXid();
    const message: ClientServerMessage = {
      type: MsgType.SOLICIT,
      transactionId: xid,
      options: [{ kind: 'CLIENTID', duid }, { kind: 'ELAPSED_TIME', elapsedCs: 0 }, ...ias()],
    };
    const p: Pending = { duid, stage: 'solicit', tries: 0, sentMs: 0, message };
    pending.set(xid, p);
    send(xid, p);
  };

  sock.on('message', (data) => {
    const decoded = decodeMessage(data);
    if (!decoded.ok || decoded.message.type === 12 || decoded.message.type === 13) return;
    const m = decoded.message as ClientServerMessage;
    const p = pending.get(m.transactionId);
    if (!p) return;
    stats.replies++;
    pending.delete(m.transactionId);
    if (p.stage === 'solicit' && m.type === MsgType.ADVERTISE) {
      const serverId = findOption(m.options, 'SERVERID');
      if (!serverId) return;
      const offered = m.options.filter((o) => o.kind === 'IA_NA' || o.kind === 'IA_PD');
      const xid = newXid();
      const req: Pending = {
        duid: p.duid,
        stage: 'request',
        tries: 0,
        sentMs: 0,
        message: {
          type: MsgType.REQUEST,
          transactionId: xid,
          options: [{ kind: 'CLIENTID', duid: p.duid }, serverId, { kind: 'ELAPSED_TIME', elapsedCs: 0 }, ...offered],
        },
      };
      pending.set(xid, req);
      send(xid, req);
      return;
    }
    if (m.type !== MsgType.REPLY) return;
    const duid = Buffer.from(p.duid).toString('hex');
    const ackedAtMs = Date.now();
    for (const ia of m.options) {
      if (ia.kind !== 'IA_NA' && ia.kind !== 'IA_PD') continue;
      for (const l of ia.options) {
        if (l.kind === 'IAADDR' && l.validSec > 0) {
          stats.acked++;
          process.stdout.write(
            JSON.stringify({ duid, iaid: ia.iaid, type: 'na', resource: l.address, validSec: l.validSec, ackedAtMs }) + '\n',
          );
        }
        if (l.kind === 'IAPREFIX' && l.validSec > 0) {
          stats.acked++;
          process.stdout.write(
            JSON.stringify({
              duid,
              iaid: ia.iaid,
              type: 'pd',
              resource: `${l.prefix}/${l.prefixLength}`,
              validSec: l.validSec,
              ackedAtMs,
            }) + '\n',
          );
        }
      }
    }
  });

  const finish = () => {
    process.stdout.write(JSON.stringify({ done: true, ...stats, unanswered: pending.size }) + '\n');
    sock.close();
    process.exit(0);
  };
  process.on('SIGTERM', finish);

  sock.bind(546, '::', () => {
    const intervalMs = 10;
    const perTick = args.rate * (intervalMs / 1000);
    let credit = 0;
    const timer = setInterval(() => {
      const now = Date.now();
      if (now > deadline || (started >= args.clients && pending.size === 0)) {
        clearInterval(timer);
        finish();
        return;
      }
      credit += perTick;
      while (credit >= 1 && started < args.clients) {
        credit--;
        started++;
        startClient();
      }
      for (const [xid, p] of pending) {
        if (now - p.sentMs < RETRY_MS) continue;
        if (p.tries >= TRIES_MAX) {
          pending.delete(xid);
          stats.timeouts++;
        } else send(xid, p);
      }
    }, intervalMs);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
}

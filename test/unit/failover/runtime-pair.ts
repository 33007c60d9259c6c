// Two real endpoints back to back: each the whole failover runtime
// (endpoint.ts and its parts) on the simulation's small daemon
// (runtime-host.ts), joined by the simulation's partner network
// (src/testing/sim/partner-net.ts: an in-order stream each way, which a test
// may stall), on one virtual time. For what needs both sides real: a
// handover, who answers the clients, the way back to NORMAL. Clients are
// datagrams into each server's real packet path.

import { expect } from 'vitest';
import { FailoverEndpoint } from '../../../src/failover/endpoint.js';
import type { FailoverPdu } from '../../../src/failover/link.js';
import type { EndpointStateName } from '../../../src/failover/states.js';
import { foMsgTypeName } from '../../../src/wire/failover/index.js';
import { MsgType } from '../../../src/wire/constants.js';
import { PartnerNet, SimLink, type Side } from '../../../src/testing/sim/partner-net.js';
import { clientMessage, readAnswer, type Answer, type Hints } from '../../../src/testing/sim/client-messages.js';
import { Prng } from '../../../src/testing/sim/prng.js';
import { Trace } from '../../../src/testing/sim/trace.js';
import { VirtualTime } from '../../../src/testing/sim/time.js';
import type { SimHost } from '../../../src/testing/sim/host.js';
import { NOW, runFor, runtimeConfig, runtimeHost, serverDuid } from './runtime-host.js';

/** Long enough for both partners to come up and reach NORMAL (a fresh pair: STARTUP, then RECOVER at once, §8.5). */
const TO_NORMAL_SEC_MAX = 60;

export interface Partner {
  readonly side: Side;
  readonly h: SimHost;
  readonly endpoint: FailoverEndpoint;
  readonly duid: Uint8Array;
}

/** One message a partner put on the link, and when (virtual ms). */
export interface Sent {
  readonly from: Side;
  readonly type: string;
  readonly atMs: number;
}

export async function runtimePair() {
  const clock = { now: NOW };
  const time = new VirtualTime();
  const net = new PartnerNet(time, new Prng(1), { delayMinMs: 1, delayMeanMs: 2, codec: true }, new Trace(time), () => clock.now);
  const sent: Sent[] = [];
  const send = net.send.bind(net);
  net.send = (c, from, pdu: FailoverPdu) => {
    sent.push({ from, type: foMsgTypeName(pdu.type), atMs: time.nowMs });
    send(c, from, pdu);
  };
  const start = async (side: Side, n: number): Promise<Partner> => {
    const role = side === 'P' ? 'primary' : 'secondary';
    const duid = serverDuid(n);
    const { h, timers } = await runtimeHost(role, clock, undefined, {}, runtimeConfig(role), { time, duid });
    const endpoint = await FailoverEndpoint.start(h, h.config.failover!, {
      link: () => new SimLink(side, role, net, timers, new Prng(n + 1)),
      lanUp: () => true,
      timers,
    });
    return { side, h, endpoint, duid };
  };
  const P = await start('P', 1);
  const S = await start('S', 2);
  const run = runFor(time, clock);
  const pair = { P, S, net, sent, run, time, clock };
  for (let sec = 0; sec < TO_NORMAL_SEC_MAX && !inNormal(pair); sec++) await run(1);
  expect(states(pair)).toEqual(['NORMAL', 'NORMAL']);
  return pair;
}

export type RuntimePair = Awaited<ReturnType<typeof runtimePair>>;

export const states = (x: { P: Partner; S: Partner }): [EndpointStateName, EndpointStateName] => [
  x.P.endpoint.status().state,
  x.S.endpoint.status().state,
];
const inNormal = (x: { P: Partner; S: Partner }): boolean => states(x).every((s) => s === 'NORMAL');

/** The types of the messages `from` sent since virtual time `sinceMs`. */
export const sentBy = (x: RuntimePair, from: Side, sinceMs = 0): string[] =>
  x.sent.filter((s) => s.from === from && s.atMs >= sinceMs).map((s) => s.type);

/** Runs the pair until check() holds, a second at a time, at most maxSec. */
export async function runUntil(x: RuntimePair, check: () => boolean, maxSec = TO_NORMAL_SEC_MAX): Promise<void> {
  for (let sec = 0; sec < maxSec && !check(); sec++) await x.run(1);
}

/** A client's message, as the packet path gets it; what the server answers comes back from the commit. */
export interface Ask {
  readonly type: number;
  /** The client's number (its DUID, and its link-local address). */
  readonly client: number;
  readonly hints?: Hints;
  /** Server Identifier: whose answer the client took (Request, Renew). */
  readonly to?: Uint8Array;
}

/** Event-loop turns a server gets to answer a client; one that answers takes a few. */
const ANSWER_TURNS_MAX = 50;

const clientDuid = (n: number): Uint8Array => Uint8Array.from([0, 3, 0, 1, 0x0a, 0, 0, 0, 0, n]);
let xid = 1;

/** Sends the client's message to one server; its answer, or undefined when it answered nothing. */
export async function ask(x: RuntimePair, server: Partner, m: Ask): Promise<Answer | undefined> {
  const duid = clientDuid(m.client);
  const answers: Uint8Array[] = [];
  const data = clientMessage({
    type: m.type,
    xid: xid++,
    duid,
    elapsedMs: 0,
    wants: { na: true, pd: false },
    hints: m.hints ?? {},
    ...(m.to ? { serverDuid: m.to } : {}),
  });
  server.h.packetPath.onDatagram({
    data,
    sourceAddress: `fe80::${m.client}`,
    sourcePort: 546,
    interface: 'lan0',
    unicast: false,
    reply: async (out) => void answers.push(out),
  });
  // The packet path waits for the store (promises, no timers): a server that answers has by now.
  for (let turn = 0; turn < ANSWER_TURNS_MAX && answers.length === 0; turn++) await new Promise((r) => setImmediate(r));
  await x.run(0.5);
  const a = answers[0];
  return a ? readAnswer(a, duid) : undefined;
}

/** The address the answer gives the client (with a lifetime), if any. */
export const addressIn = (a: Answer | undefined): string | undefined => a?.ias.na?.leases.find((l) => l.validSec > 0)?.resource;

/** Solicit, then Request to the server that advertised: the client's address, on record there. */
export async function bind(x: RuntimePair, server: Partner, client: number): Promise<string> {
  const offer = await ask(x, server, { type: MsgType.SOLICIT, client });
  const address = addressIn(offer);
  expect(address, `${server.side} advertises to client ${client}`).toBeDefined();
  const reply = await ask(x, server, { type: MsgType.REQUEST, client, hints: { na: [address!] }, to: server.duid });
  expect(addressIn(reply)).toBe(address);
  return address!;
}

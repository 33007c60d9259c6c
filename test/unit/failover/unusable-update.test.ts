// RFC 8156 §7.5.3, §7.6: every BNDUPD gets a BNDREPLY with its
// transaction-id; one that cannot be used is rejected with
// MissingBindingInformation — the connection stays. Other messages that do
// not decode still close it.

import net from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PartnerLink, readFrame, type Channel, type FailoverPdu } from '../../../src/failover/link.js';
import {
  FoMsgType,
  FoStatusCode,
  FrameParser,
  decodePartnerFrame,
  encodePartnerFrame,
  toAbsoluteTime,
  unusableUpdateReply,
} from '../../../src/wire/failover/index.js';
import { connectParams, NOW, runtimeConfig, runtimeHost, secondaryConnectedAt } from './runtime-host.js';

const DUID = [0, 3, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f];

/** A whole frame (length prefix included) with the 8-octet header and these options. */
function frame(type: number, xid: number, ...options: number[][]): Buffer {
  const t = toAbsoluteTime(NOW);
  const body = [
    type,
    (xid >> 16) & 0xff,
    (xid >> 8) & 0xff,
    xid & 0xff,
    t >>> 24,
    (t >>> 16) & 0xff,
    (t >>> 8) & 0xff,
    t & 0xff,
    ...options.flat(),
  ];
  return Buffer.from([body.length >> 8, body.length & 0xff, ...body]);
}
const tlv = (code: number, data: number[]): number[] => [code >> 8, code & 0xff, data.length >> 8, data.length & 0xff, ...data];
/** CLIENT_DATA with the client's DUID and nothing else: no IA, no CLT_TIME — not enough to use (§7.4). */
const clientOnly = tlv(45, tlv(1, DUID));

/** A port no one listens on now: the kernel's pick, not a guess, since unit files run in parallel. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen({ port: 0, host: '::1' }, r));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

describe('a BNDUPD that cannot be used (§7.5.3)', () => {
  it('is read as one to answer, with MissingBindingInformation on the CLIENT_DATA it sent, DUID echoed', () => {
    const r = readFrame(frame(FoMsgType.BNDUPD, 0x123456, clientOnly).subarray(2), NOW);
    expect(r.kind).toBe('unusable-update');
    if (r.kind !== 'unusable-update') return;
    expect(r.transactionId).toBe(0x123456);
    expect(r.reply).toMatchObject({
      form: 'client',
      clientDuid: Uint8Array.from(DUID),
      status: { code: FoStatusCode.MissingBindingInformation },
      ias: [],
    });
    // And the answer itself goes on the wire and reads back as a BNDREPLY.
    const back = decodePartnerFrame(
      encodePartnerFrame({ type: FoMsgType.BNDREPLY, transactionId: r.transactionId, sentTimeSec: NOW, content: r.reply }).subarray(2),
      NOW,
    );
    expect(back.ok && back.pdu.type).toBe(FoMsgType.BNDREPLY);
  });

  it('with neither CLIENT_DATA nor IAPREFIX, or options that do not frame, gets the status alone', () => {
    for (const f of [frame(FoMsgType.BNDUPD, 7), frame(FoMsgType.BNDUPD, 7, [0, 45, 0, 9, 1])]) {
      const r = readFrame(f.subarray(2), NOW);
      expect(r).toMatchObject({
        kind: 'unusable-update',
        transactionId: 7,
        reply: { form: 'bare', status: { code: FoStatusCode.MissingBindingInformation } },
      });
    }
    expect(unusableUpdateReply(undefined, 'x')).toMatchObject({ form: 'bare' });
  });

  it('other messages that do not decode still close the connection', () => {
    expect(readFrame(frame(FoMsgType.STATE, 1, tlv(132, [4])).subarray(2), NOW).kind).toBe('close');
  });
});

describe('on the partner link', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
  });

  it('the link hands an unusable BNDUPD up and keeps the connection; its BNDREPLY reaches the partner', async () => {
    const port = await freePort();
    // The partner on loopback too: the configuration wants two addresses, the test has one.
    const config = { ...runtimeConfig('secondary').failover!, localAddress: '::1', peerAddress: '::1', port };
    const link = new PartnerLink(config, pino({ level: 'silent' }), () => NOW);
    await link.start();
    cleanup.push(() => link.stop());
    const downs: string[] = [];
    link.on('down', (r) => downs.push(r));
    // Without TLS the secondary opens the channel on the first message (a CONNECT), which is then delivered.
    const up = once(link, 'up');
    const unusable = once(link, 'unusable-update');
    const socket = net.connect({ host: '::1', port });
    cleanup.push(() => void socket.destroy());
    socket.write(encodePartnerFrame({ type: FoMsgType.CONNECT, transactionId: 1, sentTimeSec: NOW, content: connectParams() }));
    socket.write(frame(FoMsgType.BNDUPD, 4242, clientOnly));
    const [channel] = (await up) as [Channel];
    const [xid, reply] = (await unusable) as [number, FailoverPdu['content']];
    expect(xid).toBe(4242);
    expect(downs).toEqual([]);
    const parser = new FrameParser();
    const received = once(socket, 'data');
    channel.send({ type: FoMsgType.BNDREPLY, transactionId: xid, sentTimeSec: NOW, content: reply } as FailoverPdu);
    const [chunk] = (await received) as [Buffer];
    const out = decodePartnerFrame(parser.push(chunk).frames[0]!, NOW);
    expect(out.ok && [out.pdu.type, out.pdu.transactionId]).toEqual([FoMsgType.BNDREPLY, 4242]);
    expect(downs).toEqual([]);
  });

  it('the endpoint answers it with a BNDREPLY of the same transaction-id, and counts it', async () => {
    const { h, timers } = await runtimeHost('secondary', { now: NOW });
    const { link, ch } = await secondaryConnectedAt(h, timers);
    const { c, sent, closed } = ch;
    const r = readFrame(frame(FoMsgType.BNDUPD, 99, clientOnly).subarray(2), NOW);
    if (r.kind !== 'unusable-update') throw new Error(r.kind);
    link.emit('unusable-update', r.transactionId, r.reply, r.reason, c);
    expect(sent.filter((p) => p.type === FoMsgType.BNDREPLY)).toEqual([
      { type: FoMsgType.BNDREPLY, transactionId: 99, sentTimeSec: NOW, content: r.reply },
    ]);
    expect(closed).toEqual([]);
    expect(h.counters.get('failover.bndupd.unusable')).toBe(1);
  });
});

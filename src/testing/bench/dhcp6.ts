// Just enough DHCPv6 (RFC 8415) for the bench's own client: Solicit, Request and
// Renew out, Advertise and Reply in. Kept apart from src/wire on purpose: the
// bench must measure Kea even while the product codec is being changed, and a
// bug shared by server and client could otherwise hide itself.

export const MSG = { SOLICIT: 1, ADVERTISE: 2, REQUEST: 3, RENEW: 5, REPLY: 7 } as const;
const OPT = { CLIENTID: 1, SERVERID: 2, IA_NA: 3, IAADDR: 5, ELAPSED: 8, STATUS: 13 } as const;

export interface IaAddress {
  readonly address: Uint8Array; // 16 bytes
  readonly preferredSec: number;
  readonly validSec: number;
}

export interface Parsed {
  readonly type: number;
  readonly xid: number;
  readonly serverId?: Uint8Array;
  readonly clientId?: Uint8Array;
  /** Addresses in the first IA_NA; empty when the server sent none. */
  readonly addresses: readonly IaAddress[];
  /** Status code at message level or inside the IA; 0 (Success) when absent. */
  readonly status: number;
}

function option(code: number, body: Uint8Array): Buffer {
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt16BE(code, 0);
  b.writeUInt16BE(body.length, 2);
  b.set(body, 4);
  return b;
}

function iaNa(iaid: number, address?: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32BE(iaid >>> 0, 0); // T1 = T2 = 0: the server chooses
  if (!address) return option(OPT.IA_NA, head);
  const ia = Buffer.alloc(24); // lifetimes 0: a hint, the server chooses
  ia.set(address, 0);
  return option(OPT.IA_NA, Buffer.concat([head, option(OPT.IAADDR, ia)]));
}

export interface BuildArgs {
  readonly type: number;
  readonly xid: number;
  readonly clientId: Uint8Array;
  readonly serverId?: Uint8Array;
  readonly iaid: number;
  readonly address?: Uint8Array;
}

export function build(a: BuildArgs): Buffer {
  const head = Buffer.from([a.type, (a.xid >> 16) & 0xff, (a.xid >> 8) & 0xff, a.xid & 0xff]);
  const parts = [head, option(OPT.CLIENTID, a.clientId)];
  if (a.serverId) parts.push(option(OPT.SERVERID, a.serverId));
  parts.push(option(OPT.ELAPSED, Buffer.alloc(2)));
  parts.push(iaNa(a.iaid, a.address));
  return Buffer.concat(parts);
}

function* options(buf: Uint8Array, start: number, end: number): Generator<[number, Uint8Array]> {
  let i = start;
  while (i + 4 <= end) {
    const code = (buf[i]! << 8) | buf[i + 1]!;
    const len = (buf[i + 2]! << 8) | buf[i + 3]!;
    if (i + 4 + len > end) return;
    yield [code, buf.subarray(i + 4, i + 4 + len)];
    i += 4 + len;
  }
}

const u32 = (b: Uint8Array, at: number): number => Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32BE(at);
const u16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);

/** Undefined for anything too short to be a DHCPv6 message. */
export function parse(buf: Uint8Array): Parsed | undefined {
  if (buf.length < 4) return undefined;
  let serverId: Uint8Array | undefined;
  let clientId: Uint8Array | undefined;
  const addresses: IaAddress[] = [];
  let status = 0;
  let sawIa = false;
  for (const [code, body] of options(buf, 4, buf.length)) {
    if (code === OPT.SERVERID) serverId = body;
    else if (code === OPT.CLIENTID) clientId = body;
    else if (code === OPT.STATUS && body.length >= 2) status ||= u16(body, 0);
    else if (code === OPT.IA_NA && !sawIa && body.length >= 12) {
      sawIa = true;
      for (const [c, b] of options(body, 12, body.length)) {
        if (c === OPT.IAADDR && b.length >= 24) {
          addresses.push({ address: b.slice(0, 16), preferredSec: u32(b, 16), validSec: u32(b, 20) });
        } else if (c === OPT.STATUS && b.length >= 2) status ||= u16(b, 0);
      }
    }
  }
  return { type: buf[0]!, xid: (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!, serverId, clientId, addresses, status };
}

/** DUID-LL (type 3, Ethernet) whose link-layer address encodes n: distinct per n, stable across runs. */
export function benchDuid(n: number): Buffer {
  const d = Buffer.from([0, 3, 0, 1, 0x02, 0, 0, 0, 0, 0]);
  d.writeUInt32BE(n >>> 0, 6);
  return d;
}

/** The 16 bytes of an IPv6 address given as a number. */
export function addressBytes(v: bigint): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(v >> 64n, 0);
  b.writeBigUInt64BE(v & 0xffff_ffff_ffff_ffffn, 8);
  return b;
}

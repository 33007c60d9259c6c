// A raw ICMPv6 socket on one interface, through the `raw-socket` addon.
//
// What raw-socket gives and what it does not (raw-socket 1.8.1, src/raw.cc):
//  - It reads with recvfrom(), never recvmsg(): no ancillary data, so neither
//    the IP hop limit (IPV6_RECVHOPLIMIT) nor the arrival interface or
//    destination (IPV6_RECVPKTINFO) of a datagram can be seen. The interface is
//    made known by binding one socket per interface (SO_BINDTODEVICE).
//  - setOption(level, name, int | Buffer) reaches any setsockopt, so the
//    outgoing hop limits, multicast membership and the ICMPv6 type filter are
//    set directly. SO_ATTACH_FILTER would need a pointer in struct sock_fprog,
//    which JavaScript cannot produce, so a BPF test of the hop limit is out of reach;
//    IPV6_MINHOPCOUNT is accepted but enforced by Linux for TCP only (tested).
//  - send() hands the address to uv_ip6_addr(), which parses "%zone", so
//    "ff02::1%lan0" leaves through lan0. There is no bind(): the kernel picks
//    the source address, and for a link-scope destination RFC 6724 rule 2
//    makes that the interface's link-local address.
//  - The ICMPv6 checksum is the kernel's both ways (RFC 3542 §3.1).
//  - It emits 'message' with a slice of one receive buffer it reuses: the
//    handler must finish with the bytes before returning.
//  - Its poll handle does not keep Node's event loop alive (seen on Node 20):
//    a process with nothing else open exits with a send still queued. The
//    daemon always has its DHCP sockets open; a one-shot tool needs a timer.
//
// Linux only (the option numbers below are Linux's), and it needs CAP_NET_RAW.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { addressToBytes } from '../wire/address.js';

// <linux/in6.h>, <asm-generic/socket.h>, <linux/icmpv6.h>
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPPROTO_IPV6 = 41;
const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_ADD_MEMBERSHIP = 20;
const IPPROTO_ICMPV6 = 58;
const ICMP6_FILTER = 1;
const SEND_TIMEOUT_MS = 1000;

interface RawSocket {
  setOption(level: number, name: number, value: number | Buffer, length?: number): void;
  send(buf: Buffer, offset: number, length: number, address: string, cb: (error: Error | null, bytes: number) => void): void;
  on(event: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(event: 'error', cb: (error: Error) => void): void;
  close(): void;
}

interface RawSocketModule {
  createSocket(options: { protocol: number; addressFamily: number; bufferSize?: number }): RawSocket;
  AddressFamily: { IPv6: number };
}

let loaded: RawSocketModule | undefined;

/** Loaded on first use, so a daemon without router advertisements never needs the native addon. */
function rawSocket(): RawSocketModule {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    } catch (e) {
      throw new Error(`raw-socket (native addon) cannot be loaded: ${(e as Error).message}`, { cause: e });
    }
  }
  return loaded;
}

export interface Icmp6Port {
  readonly ifname: string;
  readonly ifindex: number;
  /** Sends one ICMPv6 message; a link-scope destination needs no zone, it is this port's interface. */
  send(data: Buffer, destination: string): Promise<void>;
  close(): void;
}

export interface Icmp6PortOptions {
  readonly ifname: string;
  /** ICMPv6 types delivered to onMessage; the kernel drops the rest before they are copied (RFC 3542 §3.2). */
  readonly acceptTypes: readonly number[];
  /** Multicast groups to join on the interface (e.g. ff02::2, where Router Solicitations go). */
  readonly groups: readonly string[];
  /** IP hop limit of everything sent (255 for Neighbor Discovery, RFC 4861 §6.1). */
  readonly hopLimit: number;
}

export type Icmp6PortOpener = (
  options: Icmp6PortOptions,
  onMessage: (data: Buffer, source: string) => void,
  onError: (e: Error) => void,
) => Promise<Icmp6Port>;

export function interfaceIndex(ifname: string): number {
  if (!/^[^\s/:]{1,15}$/.test(ifname) || ifname === '.' || ifname === '..') throw new Error(`bad interface name ${ifname}`);
  const index = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
  if (!Number.isInteger(index) || index <= 0) throw new Error(`no ifindex for ${ifname}`);
  return index;
}

const nativeU32 = (value: number): Buffer => {
  const b = Buffer.alloc(4);
  if (endianness() === 'LE') b.writeUInt32LE(value >>> 0);
  else b.writeUInt32BE(value >>> 0);
  return b;
};

/** struct icmp6_filter: 256 bits, a set bit blocks that type (Linux ICMP6_FILTER_SETBLOCK). */
function typeFilter(accept: readonly number[]): Buffer {
  const words = new Array<number>(8).fill(0xffff_ffff);
  for (const t of accept) words[t >> 5] = (words[t >> 5]! & ~(1 << (t & 31))) >>> 0;
  return Buffer.concat(words.map(nativeU32));
}

/** struct ipv6_mreq: the group, then the interface index as a native int. */
function membership(group: string, ifindex: number): Buffer {
  const b = Buffer.alloc(20);
  addressToBytes(group, b, 0);
  nativeU32(ifindex).copy(b, 16);
  return b;
}

export const openIcmp6Port: Icmp6PortOpener = async (options, onMessage, onError) => {
  const raw = rawSocket();
  const { ifname } = options;
  const ifindex = interfaceIndex(ifname);
  const socket = raw.createSocket({ protocol: IPPROTO_ICMPV6, addressFamily: raw.AddressFamily.IPv6, bufferSize: 2048 });
  try {
    const name = Buffer.from(`${ifname}\0`);
    socket.setOption(SOL_SOCKET, SO_BINDTODEVICE, name, name.length);
    socket.setOption(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, options.hopLimit);
    socket.setOption(IPPROTO_IPV6, IPV6_UNICAST_HOPS, options.hopLimit);
    socket.setOption(IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex);
    // Our own advertisements are not news to us.
    socket.setOption(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
    const filter = typeFilter(options.acceptTypes);
    socket.setOption(IPPROTO_ICMPV6, ICMP6_FILTER, filter, filter.length);
    for (const g of options.groups) {
      const mreq = membership(g, ifindex);
      socket.setOption(IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq, mreq.length);
    }
  } catch (e) {
    socket.close();
    throw new Error(`ICMPv6 socket on ${ifname}: ${(e as Error).message}`, { cause: e });
  }
  let closed = false;
  socket.on('message', (buf, source) => onMessage(buf, source));
  // raw-socket closes the socket itself after an 'error'.
  socket.on('error', (e) => {
    closed = true;
    onError(e);
  });
  return {
    ifname,
    ifindex,
    send: (data, destination) =>
      new Promise((resolve, reject) => {
        if (closed) return reject(new Error(`ICMPv6 socket on ${ifname} is closed`));
        const scoped =
          /^(fe[89ab]|ff[0-9a-f]2)/i.test(destination) && !destination.includes('%') ? `${destination}%${ifname}` : destination;
        // The timer bounds the send and keeps the loop alive until it is done (the final RA at shutdown).
        const timer = setTimeout(() => reject(new Error(`ICMPv6 send on ${ifname} timed out`)), SEND_TIMEOUT_MS);
        socket.send(data, 0, data.length, scoped, (e) => {
          clearTimeout(timer);
          if (e) reject(e);
          else resolve();
        });
      }),
    close: () => {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
};

// UDP port 547. Node's dgram does not report a datagram's destination
// address or arrival interface (no IPV6_PKTINFO), so both are made knowable by
// how the sockets are bound:
//  - per interface, one socket bound to ff02::1:2%<if>: Linux ties a socket
//    bound to a link-scope address to that device, and delivers to it only
//    datagrams for that group — so everything it reads is multicast, from <if>;
//  - per unicast address of those interfaces, one socket bound to it: what it
//    reads was sent to us by unicast (relays, or clients that must be told
//    UseMulticast).
// Replies leave through the socket the request came in on.

import dgram from 'node:dgram';
import os from 'node:os';
import { ALL_DHCP_RELAY_AGENTS_AND_SERVERS } from '../wire/constants.js';

export interface Datagram {
  readonly data: Buffer;
  /** Source address without zone, and port. */
  readonly sourceAddress: string;
  readonly sourcePort: number;
  /** Interface it arrived on (for unicast on a global address: the interface holding that address). */
  readonly interface: string;
  readonly unicast: boolean;
  /** Sends a datagram back to an address (scoped to the arrival interface when link-local) through the same socket. */
  reply(data: Uint8Array, address: string, port: number): Promise<void>;
}

export interface DhcpSocketsOptions {
  readonly interfaces: readonly string[];
  readonly port: number;
}

export interface DhcpSockets {
  close(): Promise<void>;
  /** What was bound, for logs. */
  readonly bound: readonly string[];
}

const isLinkLocal = (a: string): boolean => /^fe[89ab]/i.test(a);

function withScope(address: string, iface: string): string {
  return isLinkLocal(address) && !address.includes('%') ? `${address}%${iface}` : address;
}

/**
 * Replies leave in bursts when a group commit completes; meanwhile requests
 * queue in the socket. The default buffer (208 KiB) holds about 20 ms of a
 * 5000/s load and overflowed in the bench (Udp6RcvbufErrors). The kernel caps
 * this at net.core.rmem_max (4 MiB on Debian, the image sets it too); memory
 * is charged only for what actually waits.
 */
const RECEIVE_BUFFER_BYTES = 2 * 1024 * 1024;

function bindSocket(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp6', reuseAddr: true, recvBufferSize: RECEIVE_BUFFER_BYTES });
    const onError = (e: Error) => reject(new Error(`cannot bind [${address}]:${port}: ${e.message}`));
    s.once('error', onError);
    s.bind(port, address, () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

export async function openDhcpSockets(
  options: DhcpSocketsOptions,
  onDatagram: (d: Datagram) => void,
  onError: (e: Error) => void,
): Promise<DhcpSockets> {
  const sockets: dgram.Socket[] = [];
  const bound: string[] = [];
  const system = os.networkInterfaces();
  const listen = (s: dgram.Socket, iface: string, unicast: boolean) => {
    s.on('error', onError);
    s.on('message', (data, rinfo) => {
      const [sourceAddress, zone] = rinfo.address.split('%') as [string, string | undefined];
      const arrival = zone ?? iface;
      onDatagram({
        data,
        sourceAddress,
        sourcePort: rinfo.port,
        interface: arrival,
        unicast,
        reply: (out, address, port) =>
          new Promise((resolve, reject) => s.send(out, port, withScope(address, arrival), (e) => (e ? reject(e) : resolve()))),
      });
    });
  };
  try {
    for (const iface of options.interfaces) {
      const addrs = system[iface];
      if (!addrs) throw new Error(`interface ${iface} does not exist`);
      const m = await bindSocket(`${ALL_DHCP_RELAY_AGENTS_AND_SERVERS}%${iface}`, options.port);
      sockets.push(m);
      m.addMembership(ALL_DHCP_RELAY_AGENTS_AND_SERVERS, `::%${iface}`);
      listen(m, iface, false);
      bound.push(`${ALL_DHCP_RELAY_AGENTS_AND_SERVERS}%${iface}`);
      for (const a of addrs) {
        if (a.family !== 'IPv6' || a.internal) continue;
        const address = isLinkLocal(a.address) ? withScope(a.address, iface) : a.address;
        const u = await bindSocket(address, options.port);
        sockets.push(u);
        listen(u, iface, true);
        bound.push(address);
      }
    }
  } catch (e) {
    for (const s of sockets) s.close();
    throw e;
  }
  return {
    bound,
    close: async () => {
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

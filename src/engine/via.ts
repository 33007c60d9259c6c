// Who requested a delegation: the router that must be the next hop for the
// delegated prefix (RFC 8415 §6.3). The engine only records it in the lease;
// net/routes.ts turns it into a route.

import type { Inbound } from './inbound.js';
import type { RequestedVia } from './lease.js';

/**
 * Direct client: its source address on the arrival interface. Relayed: the
 * innermost relay's peer-address, which is the requesting router's address on
 * the relay's link (RFC 8415 §9), plus the relay that sent the datagram to us
 * when that is another node (a routed relay; with a lightweight relay, RFC
 * 6221, the two are the same). Undefined when the caller did not say where the
 * datagram came from.
 */
export function requestedVia(inbound: Inbound): RequestedVia | undefined {
  const source = inbound.sourceAddress;
  if (source === undefined) return undefined;
  const innermost = inbound.relays[inbound.relays.length - 1];
  if (innermost === undefined) return { address: source, interface: inbound.interface };
  const address = innermost.peerAddress;
  return address === source ? { address, interface: inbound.interface } : { address, interface: inbound.interface, relay: source };
}

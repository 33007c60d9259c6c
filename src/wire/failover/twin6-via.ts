// twin6's one extension to the binding update: who requested a client's
// delegations (RFC 8415 §6.3), so that after a takeover the surviving partner
// can route every active delegation at once instead of waiting for each
// requesting router's Rebind. RFC 8156 has no option for it; RFC 8415 §21.17's
// Vendor-specific Information option is the extension point every DHCPv6
// implementation knows to ignore, so a partner that is not twin6 (or an older
// twin6) loses nothing.
//
//   OPTION_VENDOR_OPTS (17) inside CLIENT_DATA
//     enterprise-number  failover.vendorEnterpriseNumber: 0 (IANA's reserved
//                        entry) unless the operator sets a PEN (docs/config.md)
//     sub-option 1  requesting router address (16 octets): the client's source
//                   address on our link, or the innermost relay's peer-address
//     sub-option 2  relay address (16 octets), when the request was relayed
//
// The interface is not sent: it names a device on the sender, and the receiver
// finds its own from the subnet the lease belongs to.
//
// Which vendor option is ours depends on configuration, so binding.ts keeps
// them all as they came and the failover layer picks ours here. One under our
// number that does not parse is reported, not thrown: refusing the whole
// BNDUPD for an extension would stall replication with a partner configured
// otherwise.

import { addressFromBytes, addressToBytes } from '../address.js';
import type { VendorOption } from './binding.js';

const SUB_ROUTER = 1;
const SUB_RELAY = 2;

export interface WireRequestedVia {
  readonly address: string;
  readonly relay?: string;
}

export function encodeRequestedVia(via: WireRequestedVia, enterpriseNumber: number): VendorOption {
  const subs: [number, string][] = [[SUB_ROUTER, via.address], ...(via.relay ? [[SUB_RELAY, via.relay] as [number, string]] : [])];
  const data = new Uint8Array(subs.length * 20);
  const view = new DataView(data.buffer);
  subs.forEach(([code, address], i) => {
    const o = i * 20;
    view.setUint16(o, code);
    view.setUint16(o + 2, 16);
    addressToBytes(address, data, o + 4);
  });
  return { enterpriseNumber, data };
}

/** Ours among CLIENT_DATA's vendor options: none, the requesting router, or why ours does not parse. */
export type ViaRead = undefined | { readonly via: WireRequestedVia } | { readonly problem: string };

export function readRequestedVia(options: readonly VendorOption[], enterpriseNumber: number): ViaRead {
  const ours = options.filter((o) => o.enterpriseNumber === enterpriseNumber);
  if (ours.length === 0) return undefined;
  const where = `VENDOR_OPTS ${enterpriseNumber}: `;
  if (ours.length > 1) return { problem: `${where}more than one` };
  const data = ours[0]!.data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let address: string | undefined;
  let relay: string | undefined;
  for (let o = 0; o < data.length;) {
    if (o + 4 > data.length) return { problem: `${where}truncated sub-option header` };
    const code = view.getUint16(o);
    const len = view.getUint16(o + 2);
    if (o + 4 + len > data.length) return { problem: `${where}sub-option ${code} overruns the option` };
    if ((code === SUB_ROUTER || code === SUB_RELAY) && len !== 16)
      return { problem: `${where}sub-option ${code} must be 16 octets, not ${len}` };
    if (code === SUB_ROUTER) address = addressFromBytes(data, o + 4);
    if (code === SUB_RELAY) relay = addressFromBytes(data, o + 4);
    o += 4 + len; // unknown sub-options: skipped, for a later version's additions
  }
  if (address === undefined) return { problem: `${where}the requesting router (sub-option ${SUB_ROUTER}) is required` };
  return { via: relay === undefined ? { address } : { address, relay } };
}

// twin6's one extension to the binding update: who requested a client's
// delegations (RFC 8415 §6.3), so that after a takeover the surviving partner
// can route every active delegation at once instead of waiting for each
// requesting router's Rebind. RFC 8156 has no option for it; RFC 8415 §21.17's
// Vendor-specific Information option is the extension point every DHCPv6
// implementation knows to ignore, so a partner that is not twin6 (or an older
// twin6) loses nothing.
//
//   OPTION_VENDOR_OPTS (17) inside CLIENT_DATA
//     enterprise-number  32473  (RFC 5612's example number, until twin6 has its own)
//     sub-option 1  requesting router address (16 octets): the client's source
//                   address on our link, or the innermost relay's peer-address
//     sub-option 2  relay address (16 octets), when the request was relayed
//
// The interface is not sent: it names a device on the sender, and the receiver
// finds its own from the subnet the lease belongs to.

import { addressFromBytes, addressToBytes } from '../address.js';
import type { Option, UnknownOption } from '../types.js';
import { foFail } from './errors.js';
import { at, type ReadContext } from './options.js';

export const OPTION_VENDOR_OPTS = 17;
export const TWIN6_ENTERPRISE_NUMBER = 32473;
const SUB_ROUTER = 1;
const SUB_RELAY = 2;

export interface WireRequestedVia {
  readonly address: string;
  readonly relay?: string;
}

export function encodeRequestedVia(via: WireRequestedVia): UnknownOption {
  const subs: [number, string][] = [[SUB_ROUTER, via.address], ...(via.relay ? [[SUB_RELAY, via.relay] as [number, string]] : [])];
  const data = new Uint8Array(4 + subs.length * 20);
  const view = new DataView(data.buffer);
  view.setUint32(0, TWIN6_ENTERPRISE_NUMBER);
  subs.forEach(([code, address], i) => {
    const o = 4 + i * 20;
    view.setUint16(o, code);
    view.setUint16(o + 2, 16);
    addressToBytes(address, data, o + 4);
  });
  return { kind: 'UNKNOWN', code: OPTION_VENDOR_OPTS, data };
}

/** Ours among CLIENT_DATA's sub-options, or undefined; another vendor's options are left alone. */
export function readRequestedVia(options: readonly Option[], ctx: ReadContext): WireRequestedVia | undefined {
  const ours = options.filter(
    (o): o is UnknownOption => o.kind === 'UNKNOWN' && o.code === OPTION_VENDOR_OPTS && o.data.length >= 4 && new DataView(o.data.buffer, o.data.byteOffset).getUint32(0) === TWIN6_ENTERPRISE_NUMBER,
  );
  if (ours.length === 0) return undefined;
  const c = at(ours[0]!, ctx);
  const where = `${ctx.where}VENDOR_OPTS ${TWIN6_ENTERPRISE_NUMBER} > `;
  if (ours.length > 1) return foFail('duplicate-option', at(ours[1]!, ctx).at, `${where}more than one`);
  const data = ours[0]!.data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let address: string | undefined;
  let relay: string | undefined;
  for (let o = 4; o < data.length; ) {
    if (o + 4 > data.length) return foFail('bad-value', c.at, `${where}truncated sub-option header`);
    const code = view.getUint16(o);
    const len = view.getUint16(o + 2);
    if (o + 4 + len > data.length) return foFail('bad-value', c.at, `${where}sub-option ${code} overruns the option`);
    if ((code === SUB_ROUTER || code === SUB_RELAY) && len !== 16) return foFail('bad-value', c.at, `${where}sub-option ${code} must be 16 octets, not ${len}`);
    if (code === SUB_ROUTER) address = addressFromBytes(data, o + 4);
    if (code === SUB_RELAY) relay = addressFromBytes(data, o + 4);
    o += 4 + len; // unknown sub-options: skipped, for a later version's additions
  }
  if (address === undefined) return foFail('missing-option', c.at, `${where}the requesting router (sub-option ${SUB_ROUTER}) is required`);
  return relay === undefined ? { address } : { address, relay };
}

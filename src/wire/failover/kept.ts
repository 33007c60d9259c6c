// What RFC 8156 §7.4 sends about a client that twin6 does not act on but must
// keep for the partner (§7.5.5: "stored with the client as appropriate") and
// send back in its own binding updates: the reconfigure data and relay data of
// the CLIENT_DATA, the CLIENT_FQDN and DNS removal info of one lease. Kept as
// the options' own octets, so what goes back is what came in.

import { encodeOptions, decodeOptions, optionsLength } from '../options.js';
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';
import type { Option } from '../types.js';
import { foOption, readOptional, type DnsRemovalInfo, type ReconfigureData } from './options.js';
import { defined } from './binding.js';

export interface KeptClientData {
  readonly reconfigure?: ReconfigureData;
  readonly relayData?: Uint8Array;
  readonly clientFqdn?: Uint8Array;
  readonly dnsRemovalInfo?: DnsRemovalInfo;
}

/** The options as octets (RFC 8415 §21.1 TLVs), or undefined when there is nothing to keep. */
export function encodeKept(k: KeptClientData): Uint8Array | undefined {
  const options: Option[] = [];
  if (k.reconfigure) options.push(foOption('F_RECONFIGURE_DATA', k.reconfigure));
  if (k.relayData) options.push(foOption('LQ_RELAY_DATA', k.relayData));
  if (k.clientFqdn) options.push(foOption('CLIENT_FQDN', k.clientFqdn));
  if (k.dnsRemovalInfo) options.push(foOption('F_DNS_REMOVAL_INFO', k.dnsRemovalInfo));
  if (options.length === 0) return undefined;
  const out = Buffer.alloc(optionsLength(options));
  encodeOptions(options, new Writer(out));
  return new Uint8Array(out);
}

/** Back from encodeKept's octets; nothing when they do not read (they were ours, so that is a bug, not input). */
export function decodeKept(bytes: Uint8Array, nowUnixSec: number): KeptClientData {
  try {
    const options = decodeOptions(new Reader(bytes), { relayDepth: 0, nesting: 0 });
    const ctx = { nowUnixSec, at: 0, where: 'kept client data > ' };
    return defined({
      reconfigure: readOptional(options, 'F_RECONFIGURE_DATA', ctx),
      relayData: readOptional(options, 'LQ_RELAY_DATA', ctx),
      clientFqdn: readOptional(options, 'CLIENT_FQDN', ctx),
      dnsRemovalInfo: readOptional(options, 'F_DNS_REMOVAL_INFO', ctx),
    });
  } catch {
    return {};
  }
}

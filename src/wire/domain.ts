// Domain names in RFC 1035 §3.1 wire format, as DOMAIN_LIST (RFC 3646 §4)
// carries them. RFC 8415 §10 forbids compression in DHCPv6, so a pointer is a
// malformed option rather than something to follow.
//
// Labels are limited to printable ASCII other than '.', so that the dotted text
// the rest of twin6 uses maps back to exactly the same octets; a name outside
// that set would not survive decode/encode, and no DHCPv6 server needs one.

import { DNS_LABEL_LENGTH_MAX, DNS_NAME_LENGTH_MAX } from './constants.js';
import { fail, type Reader } from './reader.js';
import { programmerError, type Writer } from './writer.js';

const DOT = 0x2e;
const labelByteOk = (c: number): boolean => c > 0x20 && c < 0x7f && c !== DOT;

/** Reads one uncompressed name ending in the root label; "" is the root itself. */
export function readName(r: Reader): string {
  const start = r.offset;
  let name = '';
  let wireLength = 1; // the root label that ends every name
  for (;;) {
    const n = r.u8();
    if (n === 0) return name;
    if (n > DNS_LABEL_LENGTH_MAX) {
      fail(
        'bad-option',
        r.offset - 1,
        n >= 0xc0
          ? 'DOMAIN_LIST: compression pointer (RFC 8415 §10 forbids compression)'
          : `DOMAIN_LIST: label length ${n} > ${DNS_LABEL_LENGTH_MAX} (RFC 1035 §2.3.4)`,
      );
    }
    wireLength += 1 + n;
    if (wireLength > DNS_NAME_LENGTH_MAX) {
      fail('bad-option', start, `DOMAIN_LIST: name longer than ${DNS_NAME_LENGTH_MAX} octets (RFC 1035 §2.3.4)`);
    }
    r.need(n, 'DOMAIN_LIST label');
    const buf = r.buf;
    for (let i = r.offset, end = r.offset + n; i < end; i++) {
      if (!labelByteOk(buf[i]!)) fail('bad-option', i, `DOMAIN_LIST: octet 0x${buf[i]!.toString(16)} in a label`);
    }
    const label = r.latin1(n);
    name = name === '' ? label : `${name}.${label}`;
  }
}

/** Octets `name` takes on the wire; valid only for names isWireDomainName accepts. */
export const nameLength = (name: string): number => (name === '' ? 1 : name.length + 2);

/**
 * True when `name` (no trailing dot) encodes losslessly: labels of 1..63
 * printable ASCII characters other than '.', at most 255 octets in all.
 * config/ should check names with this before they reach the encoder.
 */
export function isWireDomainName(name: string): boolean {
  if (name === '') return true;
  if (nameLength(name) > DNS_NAME_LENGTH_MAX) return false;
  let labelLength = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === DOT) {
      if (labelLength === 0) return false;
      labelLength = 0;
    } else if (!labelByteOk(c) || ++labelLength > DNS_LABEL_LENGTH_MAX) {
      return false;
    }
  }
  return labelLength > 0;
}

export function writeName(name: string, w: Writer): void {
  if (!isWireDomainName(name)) programmerError(`not an encodable domain name: ${JSON.stringify(name)}`);
  if (name !== '') {
    for (const label of name.split('.')) {
      w.u8(label.length);
      w.latin1(label);
    }
  }
  w.u8(0);
}

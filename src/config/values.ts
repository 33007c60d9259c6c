// Readers for the textual values of the file: IPv6 addresses, prefixes, pool
// ranges, DUIDs, DNS names, interface and subnet names. Operator text goes
// through ip-address (upper case, zero padding, "::" anywhere, embedded IPv4);
// what comes out is a bigint plus the RFC 5952 text that the rest of twin6
// uses as keys (wire/address.ts).

import { Address6 } from 'ip-address';
import { addressFromBigInt, addressToBigInt, hostMask, isAddress, networkOf } from '../wire/address.js';
import { DUID_BYTES, RANGES } from './defaults.js';
import { textOf, type Reader } from './schema.js';

type Parse<T> = T | { problem: string };

export interface PrefixValue {
  readonly prefix: bigint;
  readonly length: number;
}

export interface RangeValue {
  readonly first: bigint;
  readonly last: bigint;
  /** Canonical form of what was written: "first-last" or "prefix/len". */
  readonly name: string;
}

export const prefixText = (p: PrefixValue): string => `${addressFromBigInt(p.prefix)}/${p.length}`;
export const lastOf = (p: PrefixValue): bigint => p.prefix | hostMask(p.length);

function parseAddress(text: string): Parse<bigint> {
  if (text.includes('/')) return { problem: `expected an address without a prefix length, got ${JSON.stringify(text)}` };
  // Link-local scope is tied to one interface; a zone in a config value is a copy-paste slip.
  if (text.includes('%')) return { problem: `must not carry a zone index, got ${JSON.stringify(text)}` };
  // The plain hex forms, the bulk of a long reservation list, take wire/'s parser
  // (same values, checked against ip-address, several times faster); ip-address
  // reads the rest, such as embedded IPv4, and gives the verdict on bad text.
  if (isAddress(text)) return addressToBigInt(text);
  try {
    return new Address6(text).bigInt();
  } catch {
    return { problem: `expected an IPv6 address like 2001:db8::1, got ${JSON.stringify(text)}` };
  }
}

/** An address a host can hold: not unspecified, not multicast (RFC 4291 §2.5.2, §2.7). */
export function parseUnicast(text: string): Parse<bigint> {
  const value = parseAddress(text);
  if (typeof value !== 'bigint') return value;
  if (value === 0n) return { problem: 'must not be the unspecified address ::' };
  if (value >> 120n === 0xffn) return { problem: `must not be a multicast address, got ${JSON.stringify(text)}` };
  return value;
}

export function parsePrefix(text: string): Parse<PrefixValue> {
  const slash = text.lastIndexOf('/');
  const [min, max] = RANGES.prefixLength;
  if (slash < 0) return { problem: `expected a prefix like 2001:db8::/48, got ${JSON.stringify(text)}` };
  const lengthText = text.slice(slash + 1);
  const length = /^\d{1,3}$/.test(lengthText) ? Number(lengthText) : NaN;
  if (!(length >= min && length <= max)) {
    return { problem: `prefix length must be an integer ${min}..${max}, got ${JSON.stringify(text)}` };
  }
  const address = parseAddress(text.slice(0, slash));
  if (typeof address !== 'bigint') return address;
  const prefix = networkOf(address, length);
  if (prefix !== address) {
    return { problem: `has bits set after /${length} (did you mean ${addressFromBigInt(prefix)}/${length}?), got ${JSON.stringify(text)}` };
  }
  return { prefix, length };
}

function parseRange(text: string): Parse<RangeValue> {
  if (text.includes('/')) {
    const p = parsePrefix(text);
    return 'problem' in p ? p : { first: p.prefix, last: lastOf(p), name: prefixText(p) };
  }
  const parts = text.split('-');
  if (parts.length !== 2) {
    return { problem: `expected "first-last" or a prefix like 2001:db8:1::/112, got ${JSON.stringify(text)}` };
  }
  const first = parseAddress(parts[0]!.trim());
  if (typeof first !== 'bigint') return first;
  const last = parseAddress(parts[1]!.trim());
  if (typeof last !== 'bigint') return last;
  if (first > last) return { problem: `first address is above the last, got ${JSON.stringify(text)}` };
  return { first, last, name: `${addressFromBigInt(first)}-${addressFromBigInt(last)}` };
}

/** "00:01:00:01:…" (two hex digits per octet) or "00010001…"; lowercase hex without separators out. */
function parseDuid(text: string): Parse<string> {
  const [min, max] = DUID_BYTES;
  const hex = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})*$/.test(text) ? text.replaceAll(':', '') : text;
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
    return { problem: `expected hex octets like "00:01:00:01:…" or "00010001…", got ${JSON.stringify(text)}` };
  }
  const bytes = hex.length / 2;
  if (bytes < min || bytes > max) return { problem: `must be ${min} to ${max} octets long, got ${bytes}` };
  return hex.toLowerCase();
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/;

/** RFC 1035 §2.3.4 limits; a trailing dot is accepted and dropped, case is folded. */
export function parseDomain(text: string): Parse<string> {
  const name = (text.endsWith('.') ? text.slice(0, -1) : text).toLowerCase();
  if (name.length === 0) return { problem: 'must not be empty' };
  if (name.length > 253) return { problem: `must be at most 253 characters, got ${name.length}` };
  for (const label of name.split('.')) {
    if (label.length < 1 || label.length > 63) {
      return { problem: `every label must be 1 to 63 characters, got ${JSON.stringify(text)}` };
    }
    if (!LABEL.test(label)) {
      return { problem: `label ${JSON.stringify(label)} may hold only letters, digits, "-" and "_" and not start or end with "-"` };
    }
  }
  return name;
}

/** Linux dev_valid_name(): below IFNAMSIZ (16), no "/", ":" or white space, not "." or "..". */
function parseInterfaceName(text: string): Parse<string> {
  if (!/^[^\s/:]{1,15}$/.test(text) || text === '.' || text === '..') {
    return { problem: `expected a network interface name (1 to 15 characters, no "/", ":" or spaces), got ${JSON.stringify(text)}` };
  }
  return text;
}

/** Subnet names show up in logs, status and management topics, so keep them to a safe alphabet. */
function parseSubnetName(text: string): Parse<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(text)) {
    return { problem: `expected 1 to 64 letters, digits, ".", "-" or "_" (starting with a letter or digit), got ${JSON.stringify(text)}` };
  }
  return text;
}

export const address: Reader<bigint> = textOf('an IPv6 address', parseUnicast);
export const prefix: Reader<PrefixValue> = textOf('an IPv6 prefix', parsePrefix);
export const range: Reader<RangeValue> = textOf('an address range', parseRange);
export const duid: Reader<string> = textOf('a DUID', parseDuid);
export const domainName: Reader<string> = textOf('a domain name', parseDomain);
export const interfaceName: Reader<string> = textOf('an interface name', parseInterfaceName);
export const subnetName: Reader<string> = textOf('a subnet name', parseSubnetName);

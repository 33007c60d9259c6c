// DUIDs as text (RFC 8415 §11). The server treats DUIDs as opaque and
// compares them only for equality (§11); the hex form is the store's key and
// describeDuid exists for logs and the CLI, never for decisions.

import { DUID_LENGTH_MAX, DUID_LENGTH_MIN, DuidType } from './constants.js';

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex, no separators: "000100012b1c..." */
export function duidToHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX_BYTE[bytes[i]!];
  return s;
}

/**
 * Parses "00:01:00:01:…" (also with '-', and with 1-digit groups as some tools
 * print them) or "000100012b1c…". Undefined unless the result is a DUID of
 * 3..130 octets (§11.1).
 */
export function duidFromHex(text: string): Uint8Array | undefined {
  const t = text.trim();
  let bytes: number[];
  if (/[:-]/.test(t)) {
    const groups = t.split(/[:-]/);
    if (!groups.every((g) => /^[0-9a-fA-F]{1,2}$/.test(g))) return undefined;
    bytes = groups.map((g) => parseInt(g, 16));
  } else {
    if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) return undefined;
    bytes = [];
    for (let i = 0; i < t.length; i += 2) bytes.push(parseInt(t.slice(i, i + 2), 16));
  }
  if (bytes.length < DUID_LENGTH_MIN || bytes.length > DUID_LENGTH_MAX) return undefined;
  return Uint8Array.from(bytes);
}

const colonHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => HEX_BYTE[b]).join(':');

/** Seconds between the Unix epoch and 2000-01-01T00:00:00Z, the DUID-LLT epoch (§11.2). */
const DUID_EPOCH_UNIX_SEC = 946_684_800;

/**
 * One line for logs, e.g. "DUID-LLT hw=1 time=730000000 (2023-02-15T01:46:40Z) ll=52:54:00:12:34:56".
 * Falls back to the type and hex for unknown types or bodies too short for their type.
 */
export function describeDuid(bytes: Uint8Array): string {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = bytes.length >= 2 ? v.getUint16(0) : -1;
  const body = bytes.subarray(2);
  switch (type) {
    case DuidType.LLT: // §11.2: hw-type(2) time(4) link-layer address
      if (body.length > 6) {
        const time = v.getUint32(4);
        const iso = new Date((time + DUID_EPOCH_UNIX_SEC) * 1000).toISOString().replace('.000Z', 'Z');
        return `DUID-LLT hw=${v.getUint16(2)} time=${time} (${iso}) ll=${colonHex(bytes.subarray(8))}`;
      }
      break;
    case DuidType.EN: // §11.3: enterprise-number(4) identifier
      if (body.length > 4) return `DUID-EN ent=${v.getUint32(2)} id=${duidToHex(bytes.subarray(6))}`;
      break;
    case DuidType.LL: // §11.4: hw-type(2) link-layer address
      if (body.length > 2) return `DUID-LL hw=${v.getUint16(2)} ll=${colonHex(bytes.subarray(4))}`;
      break;
    case DuidType.UUID: // RFC 6355 §4: 16-octet UUID
      if (body.length === 16) {
        const h = duidToHex(body);
        return `DUID-UUID ${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
      }
      break;
  }
  return type < 0 ? `DUID ? ${duidToHex(bytes)}` : `DUID type=${type} ${duidToHex(body)}`;
}

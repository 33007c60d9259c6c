// The `time` section: where the appliance takes its time from (docs/config.md
// #time, docs/image.md §12). twin6d asks the NTP servers listed here, and in a
// failover pair may serve its time to the partner and ask the partner for its
// own: a box without a real-time clock that boots at 1970 can then take the
// time from its partner when no server outside is in reach.

import { addressFromBigInt } from '../wire/address.js';
import { LIMITS } from './defaults.js';
import { boolean, keyPath, listOf, object, optional, textOf, type Issues } from './schema.js';
import type { TimeConfig } from './types.js';
import { parseDomain, parseUnicast } from './values.js';

type Parse<T> = T | { problem: string };

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** An IPv6 address (RFC 5952 form out), an IPv4 address, or a host name; no port (NTP is UDP 123). */
function parseNtpServer(text: string): Parse<string> {
  if (text.includes(':') || text.includes('%') || text.includes('/')) {
    const v6 = parseUnicast(text);
    return typeof v6 === 'bigint' ? addressFromBigInt(v6) : { problem: `${v6.problem} (NTP servers are on port 123: give no port)` };
  }
  const v4 = IPV4.exec(text);
  if (v4) return v4.slice(1).every((o) => Number(o) <= 255) ? text : { problem: `not an IPv4 address, got ${JSON.stringify(text)}` };
  if (/^[\d.]+$/.test(text)) return { problem: `expected an address or a host name, got ${JSON.stringify(text)}` };
  return parseDomain(text);
}

export const timeShape = object({
  ntpServers: optional(listOf(textOf('an NTP server', parseNtpServer), { min: 0, max: LIMITS.ntpServers, uniqueBy: (s) => s })),
  servePartner: optional(boolean),
});

type TimeInput = NonNullable<ReturnType<typeof timeShape>>;

/** Present only when the file has the section, so configs without it resolve as before. */
export function resolveTime(input: TimeInput | undefined, hasFailover: boolean, path: string, issues: Issues): { time?: TimeConfig } {
  if (input === undefined) return {};
  if (input.servePartner === true && !hasFailover) {
    issues.report(keyPath(path, 'servePartner'), 'needs a failover section: the partner it serves is failover.peerAddress');
  }
  return { time: { ntpServers: input.ntpServers ?? [], servePartner: input.servePartner ?? false } };
}

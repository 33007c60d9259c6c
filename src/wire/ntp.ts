// The NTP packet as SNTP uses it (RFC 5905 §7.3, RFC 4330 §4): a 48-octet
// header, no extension fields, no authentication. twin6d asks servers for the
// time and answers its failover partner (daemon/time-sync.ts); this is the
// codec and the arithmetic of one exchange. Timestamps are carried here as
// Unix milliseconds (fractional); the era-0 conversion is at this boundary.

export const NTP_PORT = 123;
export const NTP_PACKET_BYTES = 48;
/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
export const NTP_UNIX_OFFSET_SEC = 2_208_988_800;
/** RFC 5905 §7.3: leap indicator 3 is "unknown (clock unsynchronized)". */
export const LEAP_UNSYNCHRONIZED = 3;
/** Stratum 16 is "unsynchronized"; 0 a kiss-o'-death (RFC 5905 §7.4). */
export const STRATUM_UNSYNCHRONIZED = 16;

export const NtpMode = { client: 3, server: 4 } as const;

export interface NtpPacket {
  readonly leap: number;
  readonly version: number;
  readonly mode: number;
  readonly stratum: number;
  /** log2 seconds. */
  readonly poll: number;
  /** log2 seconds. */
  readonly precision: number;
  readonly refId: number;
  /** Unix ms; 0 when the field is zero. */
  readonly referenceMs: number;
  readonly originMs: number;
  readonly receiveMs: number;
  readonly transmitMs: number;
  /**
   * The transmit timestamp's 8 octets as sent: a client matches a reply's
   * origin against them exactly (RFC 5905 §8: the bogus-packet check), and a
   * server echoes them as the origin.
   */
  readonly transmitRaw: Buffer;
}

function readTimestamp(b: Buffer, at: number): number {
  const sec = b.readUInt32BE(at);
  const frac = b.readUInt32BE(at + 4);
  if (sec === 0 && frac === 0) return 0;
  return (sec - NTP_UNIX_OFFSET_SEC) * 1000 + (frac / 2 ** 32) * 1000;
}

function writeTimestamp(b: Buffer, at: number, unixMs: number): void {
  if (unixMs === 0) {
    b.writeUInt32BE(0, at);
    b.writeUInt32BE(0, at + 4);
    return;
  }
  const ms = Math.max(0, unixMs + NTP_UNIX_OFFSET_SEC * 1000);
  const sec = Math.floor(ms / 1000);
  b.writeUInt32BE(sec >>> 0, at);
  b.writeUInt32BE(Math.min(0xffff_ffff, Math.floor(((ms - sec * 1000) / 1000) * 2 ** 32)), at + 4);
}

/** undefined when the datagram is no NTP header (too short, or version outside 1..4). */
export function decodeNtp(b: Buffer): NtpPacket | undefined {
  if (b.length < NTP_PACKET_BYTES) return undefined;
  const first = b.readUInt8(0);
  const version = (first >> 3) & 7;
  if (version < 1 || version > 4) return undefined;
  return {
    leap: first >> 6,
    version,
    mode: first & 7,
    stratum: b.readUInt8(1),
    poll: b.readInt8(2),
    precision: b.readInt8(3),
    refId: b.readUInt32BE(12),
    referenceMs: readTimestamp(b, 16),
    originMs: readTimestamp(b, 24),
    receiveMs: readTimestamp(b, 32),
    transmitMs: readTimestamp(b, 40),
    transmitRaw: Buffer.from(b.subarray(40, 48)),
  };
}

export interface NtpFields {
  readonly leap: number;
  readonly version: number;
  readonly mode: number;
  readonly stratum: number;
  readonly poll?: number;
  readonly precision?: number;
  readonly refId?: number;
  readonly referenceMs?: number;
  /** The request's transmit octets (a reply's origin), exactly as received. */
  readonly originRaw?: Buffer;
  readonly receiveMs?: number;
  readonly transmitMs?: number;
  /** Octets for the transmit field instead of transmitMs: a client's random nonce (RFC 9109 §5 keeps its clock to itself). */
  readonly transmitRaw?: Buffer;
}

export function encodeNtp(p: NtpFields): Buffer {
  const b = Buffer.alloc(NTP_PACKET_BYTES);
  b.writeUInt8(((p.leap & 3) << 6) | ((p.version & 7) << 3) | (p.mode & 7), 0);
  b.writeUInt8(p.stratum, 1);
  b.writeInt8(p.poll ?? 0, 2);
  b.writeInt8(p.precision ?? -20, 3);
  b.writeUInt32BE(p.refId ?? 0, 12);
  writeTimestamp(b, 16, p.referenceMs ?? 0);
  if (p.originRaw) p.originRaw.copy(b, 24, 0, 8);
  writeTimestamp(b, 32, p.receiveMs ?? 0);
  if (p.transmitRaw) p.transmitRaw.copy(b, 40, 0, 8);
  else writeTimestamp(b, 40, p.transmitMs ?? 0);
  return b;
}

/**
 * RFC 5905 §8, one exchange: t1 our transmit, t2 the server's receive, t3 its
 * transmit, t4 our receive (ms). The offset is what to add to our clock.
 */
export function exchangeOffset(t1: number, t2: number, t3: number, t4: number): { offsetMs: number; delayMs: number } {
  return { offsetMs: (t2 - t1 + (t3 - t4)) / 2, delayMs: t4 - t1 - (t3 - t2) };
}

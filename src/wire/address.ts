// IPv6 addresses between their three forms: 16 wire bytes, a bigint for pool
// arithmetic, and the canonical RFC 5952 text used as keys everywhere else.
// Hand-written rather than ip-address's Address6 because this runs for every
// IAADDR/IAPREFIX of every packet; config/ parses user text with ip-address.

const HEX = Array.from({ length: 65536 }, (_, i) => i.toString(16));

/** RFC 5952 §4: lowercase, no leading zeros, longest run (≥ 2) of zero groups as "::", first on a tie. */
export function addressFromBytes(bytes: Uint8Array, offset = 0): string {
  const g = new Array<number>(8);
  for (let i = 0; i < 8; i++) g[i] = (bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!;
  return formatGroups(g);
}

function formatGroups(g: number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return g.map((x) => HEX[x]).join(':');
  const head = g
    .slice(0, bestStart)
    .map((x) => HEX[x])
    .join(':');
  const tail = g
    .slice(bestStart + bestLen)
    .map((x) => HEX[x])
    .join(':');
  return `${head}::${tail}`;
}

/** Parses IPv6 text (no zone, no embedded IPv4) into 8 groups, or undefined. */
function parseGroups(text: string): number[] | undefined {
  if (text.length < 2 || text.length > 39) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const h of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(h)) return undefined;
      out.push(parseInt(h, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  if (head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

export function isAddress(text: string): boolean {
  return parseGroups(text) !== undefined;
}

/** Writes the address into out at offset; throws on text that is not an IPv6 address (a programmer error here). */
export function addressToBytes(text: string, out: Uint8Array, offset = 0): void {
  const g = parseGroups(text);
  if (!g) throw new TypeError(`not an IPv6 address: ${text}`);
  for (let i = 0; i < 8; i++) {
    out[offset + 2 * i] = g[i]! >> 8;
    out[offset + 2 * i + 1] = g[i]! & 0xff;
  }
}

export function addressToBigInt(text: string): bigint {
  const g = parseGroups(text);
  if (!g) throw new TypeError(`not an IPv6 address: ${text}`);
  let v = 0n;
  for (const x of g) v = (v << 16n) | BigInt(x);
  return v;
}

const MASK16 = 0xffffn;
export function addressFromBigInt(value: bigint): string {
  const g = new Array<number>(8);
  for (let i = 7; i >= 0; i--) {
    g[i] = Number(value & MASK16);
    value >>= 16n;
  }
  return formatGroups(g);
}

/** The canonical text of any valid IPv6 text, or undefined. */
export function canonicalAddress(text: string): string | undefined {
  const g = parseGroups(text);
  return g ? formatGroups(g) : undefined;
}

/** "2001:db8:8000:100::/56" from the prefix's address part and length. */
export const prefixKey = (prefix: string, length: number): string => `${prefix}/${length}`;

/** Network mask helpers for prefix math on bigints. */
export const ALL_ONES_128 = (1n << 128n) - 1n;
export const hostMask = (length: number): bigint => (1n << BigInt(128 - length)) - 1n;
export const networkOf = (addr: bigint, length: number): bigint => addr & (ALL_ONES_128 ^ hostMask(length));
export const prefixContains = (prefix: bigint, length: number, addr: bigint): boolean => networkOf(addr, length) === prefix;

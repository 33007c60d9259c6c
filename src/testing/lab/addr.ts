// Minimal IPv6 arithmetic for the lab's own checks (pool membership, the
// documentation-prefix guard). Kept separate from src/wire so the lab does not
// depend on code under development.

export function parseIPv6(text: string): bigint {
  const s = text.trim().toLowerCase().replace(/%.*$/, '');
  const halves = s.split('::');
  if (halves.length > 2) throw new Error(`bad IPv6 address: ${text}`);
  const groups = (part: string | undefined): string[] => (part ? part.split(':') : []);
  const head = groups(halves[0]);
  const tailGroups = groups(halves[1]);
  // An embedded IPv4 tail counts as two groups.
  const expand = (gs: string[]): string[] =>
    gs.flatMap((g) => {
      if (!g.includes('.')) return [g];
      const o = g.split('.').map(Number);
      if (o.length !== 4 || o.some((n) => !(n >= 0 && n <= 255))) throw new Error(`bad IPv6 address: ${text}`);
      return [(((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16), (((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16)];
    });
  const h = expand(head);
  const t = expand(tailGroups);
  const missing = 8 - h.length - t.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) throw new Error(`bad IPv6 address: ${text}`);
  const all = halves.length === 1 ? h : [...h, ...Array<string>(missing).fill('0'), ...t];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) throw new Error(`bad IPv6 address: ${text}`);
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

export function formatIPv6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run of two or more zero groups, leftmost on ties.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export interface Cidr {
  readonly address: bigint;
  readonly length: number;
}

export function parseCidr(text: string): Cidr {
  const [a, l] = text.split('/');
  const length = Number(l);
  if (a === undefined || !Number.isInteger(length) || length < 0 || length > 128) throw new Error(`bad prefix: ${text}`);
  return { address: parseIPv6(a), length };
}

function mask(length: number): bigint {
  return length === 0 ? 0n : ((1n << BigInt(length)) - 1n) << BigInt(128 - length);
}

/** True when the address (or whole prefix) lies inside outer. */
export function within(inner: string | Cidr, outer: string | Cidr): boolean {
  const i = typeof inner === 'string' ? (inner.includes('/') ? parseCidr(inner) : { address: parseIPv6(inner), length: 128 }) : inner;
  const o = typeof outer === 'string' ? parseCidr(outer) : outer;
  return i.length >= o.length && (i.address & mask(o.length)) === (o.address & mask(o.length));
}

export function inRange(address: string, first: string, last: string): boolean {
  const v = parseIPv6(address);
  return v >= parseIPv6(first) && v <= parseIPv6(last);
}

/** True when the prefix has no bits set past its length (a proper network address). */
export function isNetworkAddress(prefix: string, length: number): boolean {
  return (parseIPv6(prefix) & ~mask(length) & ((1n << 128n) - 1n)) === 0n;
}

const ALLOWED = ['2001:db8::/32', 'fd00::/8'];

/**
 * The lab only ever configures documentation or ULA space, so that nothing
 * it sets up could be mistaken for, or route to, a real network.
 */
export function assertLabAddress(addrOrCidr: string): void {
  const v = addrOrCidr.includes('/') ? addrOrCidr : `${addrOrCidr}/128`;
  if (!ALLOWED.some((a) => within(v, a))) {
    throw new Error(`lab address ${addrOrCidr} is outside ${ALLOWED.join(' and ')}`);
  }
}

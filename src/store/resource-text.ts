// Key bytes back to resource text ("2001:db8::1", "2001:db8:8000:100::/56"),
// RFC 5952 form, identical to wire/address.ts addressFromBytes (a test holds them
// to that). It exists because open() formats every key: writing ASCII into a
// scratch buffer and reading it out once is ~3× faster than arrays and join,
// and yields a flat string, where `${a}/${n}` would leave a cons string that the
// Map flattens again, keeping the wrapper alive for the lease's lifetime.

const COLON = 0x3a;
const SLASH = 0x2f;
const DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const scratch = Buffer.allocUnsafe(48); // 39 characters of address + "/128"

export function resourceText(bytes: Uint8Array, offset: number, prefixLength?: number): string {
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups, the first on a tie.
  let bestStart = -1;
  let bestLength = 1;
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    if (bytes[offset + 2 * i] === 0 && bytes[offset + 2 * i + 1] === 0) {
      if (runStart < 0) runStart = i;
      if (i - runStart + 1 > bestLength) {
        bestLength = i - runStart + 1;
        bestStart = runStart;
      }
    } else runStart = -1;
  }
  let n = 0;
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      scratch[n++] = COLON;
      scratch[n++] = COLON;
      i += bestLength - 1;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLength) scratch[n++] = COLON;
    n = writeGroup((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!, n);
  }
  if (prefixLength !== undefined) {
    scratch[n++] = SLASH;
    if (prefixLength >= 100) scratch[n++] = DIGITS[Math.floor(prefixLength / 100)]!;
    if (prefixLength >= 10) scratch[n++] = DIGITS[Math.floor(prefixLength / 10) % 10]!;
    scratch[n++] = DIGITS[prefixLength % 10]!;
  }
  return scratch.toString('latin1', 0, n);
}

/** RFC 5952 §4.1: lowercase, no leading zeros. */
function writeGroup(g: number, n: number): number {
  if (g >= 0x1000) scratch[n++] = DIGITS[g >> 12]!;
  if (g >= 0x100) scratch[n++] = DIGITS[(g >> 8) & 15]!;
  if (g >= 0x10) scratch[n++] = DIGITS[(g >> 4) & 15]!;
  scratch[n++] = DIGITS[g & 15]!;
  return n;
}

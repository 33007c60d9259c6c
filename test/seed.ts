// The seed convention of the tests (README "Tests"). A test that draws random
// inputs, histories or timings draws them from a seeded generator with a fixed
// seed of its own, so every run of it is the same; T6_SEED=<n> in the
// environment replaces the seed of every such test run, to try other inputs or
// to replay a failure. A seeded test puts `T6_SEED=<n>` in its name (vitest
// prints the name with a failure) and in its failure messages:
//
//   T6_SEED=123 npx vitest run test/unit/wire/message.fuzz.test.ts
//
// The simulation (test/sim) is the exception: its seeds are the runs
// themselves, and a failing one prints its own replay command.

/** The seed a randomised test uses: `fallback`, or the integer in T6_SEED. */
export function testSeed(fallback: number): number {
  const text = process.env['T6_SEED'];
  if (text === undefined || text.trim() === '') return fallback;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`T6_SEED must be a non-negative integer, got ${JSON.stringify(text)}`);
  return seed;
}

/** How a test names its seed: the assignment that replays it. */
export const seedText = (seed: number): string => `T6_SEED=${seed}`;

/** sfc32: small, fast, and the same sequence of 32-bit integers on every platform. */
export function prng(seed: number): () => number {
  // Seeds past 32 bits fold their high bits in; smaller ones start as they always did.
  let a = 0x9e3779b9,
    b = 0x243f6a88,
    c = 0xb7e15162,
    d = ((seed % 2 ** 32) ^ Math.floor(seed / 2 ** 32)) >>> 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

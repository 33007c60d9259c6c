// What the lab's small programs (bad-packets, hostile-packets, ping6) share:
// reading `--name value` arguments, and a seeded generator so a run replays.

/** The value after `--name`, or the default; a missing required one names the program and the flag. */
export function programArg(program: string, name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`${program}: --${name} is required`);
  return v;
}

/** xorshift32: small, and the same sequence for the same seed on every platform. */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

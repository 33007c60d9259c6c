// Which server runs first. On a shared machine load comes and goes during a
// run; a fixed order (twin6, then Kea, every time) would hand one server the
// same share of it every time. Instead every round (one ladder step, latency
// run or bindings run of each server) rotates the list by one: with two
// servers the sequence is A B, B A, A B, … (ABBA), which balances a linear
// drift within every pair of rounds. The seed picks who starts; it is printed
// with the results so a run's order can be repeated.

export function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  if (n === 0) return [];
  const k = ((by % n) + n) % n;
  return [...items.slice(k), ...items.slice(0, k)];
}

export interface Round<T extends string> {
  readonly round: number;
  readonly what: string;
  readonly order: readonly T[];
}

export class RunOrder<T extends string> {
  private rounds = 0;
  /** Every round handed out, for the JSON. */
  readonly history: Round<T>[] = [];

  constructor(
    readonly seed: number,
    /** Every server of the run, in the order of round 0 before the seed's rotation. */
    readonly names: readonly T[],
  ) {}

  /** The next round's order over the servers still running this phase (a finished ladder drops out). */
  next(what: string, running: readonly T[] = this.names): T[] {
    const round = this.rounds++;
    const order = rotate(this.names, round + this.seed).filter((n) => running.includes(n));
    this.history.push({ round, what, order });
    return order;
  }

  rule(): string {
    return `round k (every ladder step, latency run and bindings run, counted from 0) runs ${this.names.join(', ')} rotated by (k + seed) mod ${this.names.length}, seed ${this.seed}`;
  }
}

/** A seed when none was given: who goes first should not be the same every run. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 1000);
}

// A small declarative schema: each key of each object is declared once with
// its reader, unknown keys are reported (Kea's checkKeywords), and readers
// report into a shared Issues list instead of throwing, so one pass finds
// every problem in the file.

import { LIMITS } from './defaults.js';
import { ConfigError, ROOT_PATH, type ConfigProblem } from './errors.js';

export class Issues {
  private readonly found: ConfigProblem[] = [];
  private dropped = 0;

  report(path: string, problem: string): void {
    if (this.found.length < LIMITS.problems) this.found.push({ path, problem });
    else this.dropped++;
  }

  /** Whether anything at or below `path` was reported: checks relating several keys skip then, to avoid echoes. */
  hasUnder(path: string): boolean {
    return this.found.some((e) => e.path === path || e.path.startsWith(`${path}.`) || e.path.startsWith(`${path}[`));
  }

  throwIfAny(): void {
    if (this.found.length === 0) return;
    const all = this.dropped > 0 ? [...this.found, { path: ROOT_PATH, problem: `${this.dropped} more problems not listed` }] : this.found;
    throw ConfigError.fromProblems(all);
  }
}

/** Reads one JSON value: the result, or undefined after reporting why not. */
export type Reader<T> = (value: unknown, path: string, issues: Issues) => T | undefined;

export const keyPath = (path: string, key: string): string => {
  const step = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (path === ROOT_PATH) return step;
  return step.startsWith('[') ? `${path}${step}` : `${path}.${step}`;
};
export const indexPath = (path: string, index: number): string => `${path}[${index}]`;

/** A short, quoted rendering of what the operator wrote, for "got …". */
export function shown(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

export const integer =
  (min: number, max: number): Reader<number> =>
  (value, path, issues) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      issues.report(path, `expected an integer ${min}..${max}, got ${shown(value)}`);
      return undefined;
    }
    if (value < min || value > max) {
      issues.report(path, `must be between ${min} and ${max}, got ${value}`);
      return undefined;
    }
    return value;
  };

/** A fraction in (0, 1), or (0, 1] when `oneAllowed`. */
export const ratio =
  (oneAllowed: boolean): Reader<number> =>
  (value, path, issues) => {
    const range = oneAllowed ? 'greater than 0 and at most 1' : 'greater than 0 and less than 1';
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      issues.report(path, `expected a number ${range}, got ${shown(value)}`);
      return undefined;
    }
    if (value <= 0 || value > 1 || (value === 1 && !oneAllowed)) {
      issues.report(path, `must be ${range}, got ${value}`);
      return undefined;
    }
    return value;
  };

export const boolean: Reader<boolean> = (value, path, issues) => {
  if (typeof value === 'boolean') return value;
  issues.report(path, `expected true or false, got ${shown(value)}`);
  return undefined;
};

export const oneOf =
  <T extends string>(choices: readonly T[]): Reader<T> =>
  (value, path, issues) => {
    if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
    issues.report(path, `expected one of ${choices.map((c) => JSON.stringify(c)).join(', ')}, got ${shown(value)}`);
    return undefined;
  };

/** A string, trimmed, then handed to `parse`, which returns the value or a problem text. */
export const textOf =
  <T>(what: string, parse: (text: string) => T | { problem: string }): Reader<T> =>
  (value, path, issues) => {
    if (typeof value !== 'string') {
      issues.report(path, `expected ${what} as a string, got ${shown(value)}`);
      return undefined;
    }
    const result = parse(value.trim());
    if (typeof result === 'object' && result !== null && 'problem' in result) {
      issues.report(path, result.problem);
      return undefined;
    }
    return result as T;
  };

/** A list; items that fail are left out (their problem is already reported). */
export const listOf =
  <T>(item: Reader<T>, bounds: { min: number; max: number; uniqueBy?: (item: T) => string }): Reader<T[]> =>
  (value, path, issues) => {
    if (!Array.isArray(value)) {
      issues.report(path, `expected a list, got ${shown(value)}`);
      return undefined;
    }
    if (value.length < bounds.min) {
      issues.report(path, bounds.min === 1 ? 'must not be empty' : `needs at least ${bounds.min} entries, got ${value.length}`);
    }
    if (value.length > bounds.max) {
      issues.report(path, `must have at most ${bounds.max} entries, got ${value.length}`);
      return undefined;
    }
    const out: T[] = [];
    const seen = new Map<string, number>();
    value.forEach((v, i) => {
      const got = item(v, indexPath(path, i), issues);
      if (got === undefined) return;
      if (bounds.uniqueBy) {
        const key = bounds.uniqueBy(got);
        const first = seen.get(key);
        if (first !== undefined) issues.report(indexPath(path, i), `duplicate of ${indexPath(path, first)} (${key})`);
        else seen.set(key, i);
      }
      out.push(got);
    });
    return out;
  };

export interface Field<T> {
  readonly read: Reader<T>;
  readonly required: boolean;
}
export const optional = <T>(read: Reader<T>): Field<T> => ({ read, required: false });
export const required = <T>(read: Reader<T>): Field<T> => ({ read, required: true });

type Shape = Record<string, Field<unknown>>;
/** What an object reader yields: valid keys only; absent and invalid keys are missing. */
export type Parsed<S extends Shape> = { -readonly [K in keyof S]?: S[K] extends Field<infer T> ? T : never };

/** An object whose keys are exactly those of `shape`; any other key is reported as spurious. */
export const object =
  <S extends Shape>(shape: S): Reader<Parsed<S>> =>
  (value, path, issues) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      issues.report(path, `expected an object, got ${shown(value)}`);
      return undefined;
    }
    const input = value as Record<string, unknown>;
    const known = Object.keys(shape);
    for (const key of Object.keys(input)) {
      if (Object.hasOwn(shape, key)) continue;
      const near = closest(key, known);
      issues.report(keyPath(path, key), near ? `spurious key (did you mean "${near}"?)` : 'spurious key');
    }
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(shape)) {
      if (!Object.hasOwn(input, key)) {
        if (field.required) issues.report(keyPath(path, key), 'is required');
        continue;
      }
      const got = field.read(input[key], keyPath(path, key), issues);
      if (got !== undefined) out[key] = got;
    }
    return out as Parsed<S>;
  };

/** The known key within edit distance 2 of a misspelt one, if exactly one is that close. */
function closest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const near = known.filter((k) => k.toLowerCase() === lower || editDistance(k.toLowerCase(), lower) <= 2);
  return near.length === 1 ? near[0] : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

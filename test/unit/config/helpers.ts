// Shared fixtures for the config tests: a small valid document to break one
// key at a time, and a way to get at the problems a ConfigError lists.

import { expect } from 'vitest';
import { ConfigError, type ConfigProblem } from '../../../src/config/errors.js';
import { parseConfig } from '../../../src/config/load.js';

type Json = Record<string, unknown>;

/** A fresh minimal valid config: one directly served subnet with an address pool and a pd pool. */
export function base(): Json & { subnets: Json[] } {
  return {
    interfaces: ['lan0'],
    subnets: [
      {
        name: 'lan',
        interface: 'lan0',
        prefix: '2001:db8:1::/64',
        pools: ['2001:db8:1::1000-2001:db8:1::ffff'],
        pdPools: [{ prefix: '2001:db8:8000::/40', delegatedLength: 56 }],
      },
    ],
  };
}

/** `base()` with the first subnet's keys replaced or added. */
export function withSubnet(patch: Json): Json {
  const doc = base();
  doc.subnets[0] = { ...doc.subnets[0], ...patch };
  return doc;
}

/** A second subnet that fits next to `base()`'s first one. */
export function otherSubnet(patch: Json = {}): Json {
  return { name: 'guest', prefix: '2001:db8:2::/64', pools: ['2001:db8:2::/112'], ...patch };
}

export function problemsOf(doc: unknown): ConfigProblem[] {
  try {
    parseConfig(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return [...(e as ConfigError).errors];
  }
  throw new Error('expected the config to be rejected');
}

/** Asserts the config is rejected with exactly one problem, at `path`, whose text matches `problem`. */
export function expectOnlyProblem(doc: unknown, path: string, problem: RegExp | string): void {
  const problems = problemsOf(doc);
  expect(problems.map((p) => p.path)).toEqual([path]);
  if (typeof problem === 'string') expect(problems[0]!.problem).toBe(problem);
  else expect(problems[0]!.problem).toMatch(problem);
}

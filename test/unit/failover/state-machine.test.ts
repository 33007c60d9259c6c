// Every (state, trigger) pair against the table transcribed from the RFC text
// (rfc-transitions.ts), in the manner of Kea's testTransition matrix, for both
// roles. CONFLICT-DONE is a primary-only state (§8.12), so its cells run for
// the primary alone.

import { describe, expect, it } from 'vitest';
import { step, triggerKey } from '../../../src/failover/state-machine.js';
import { TRANSITIONS, TRIGGER_KEYS } from '../../../src/failover/transitions.js';
import { ENDPOINT_STATES, ROLES, type EndpointStateName } from '../../../src/failover/states.js';
import { PLAIN, RFC_TABLE, STATES, type Cell } from './rfc-transitions.js';
import { ctxOf, inState, triggerFor } from './fixtures.js';

const KEYS = [...PLAIN, ...STATES.map((s) => `partner:${s}`)];

describe('the transcribed table covers every pair', () => {
  it('lists the same states and triggers as the implementation', () => {
    expect([...ENDPOINT_STATES].sort()).toEqual([...STATES].sort());
    expect([...TRIGGER_KEYS].sort()).toEqual([...KEYS].sort());
  });
  it('has a cell for every (state, trigger) pair, in both tables', () => {
    for (const s of STATES) {
      expect(Object.keys(RFC_TABLE[s]!).sort(), s).toEqual([...KEYS].sort());
      expect(Object.keys(TRANSITIONS[s]).sort(), s).toEqual([...KEYS].sort());
    }
  });
});

function expected(cell: Cell, role: 'primary' | 'secondary'): string {
  return typeof cell.expect === 'string' ? cell.expect : cell.expect[role];
}

for (const role of ROLES) {
  describe(`transition matrix, ${role}`, () => {
    for (const state of STATES) {
      if (state === 'CONFLICT-DONE' && role === 'secondary') continue;
      for (const key of KEYS) {
        const cell = RFC_TABLE[state]![key]!;
        const want = expected(cell, role);
        const arrow = want === 'stay' ? `stays ${state}` : want === 'ignored' ? 'is ignored' : `→ ${want}`;
        it(`${state} + ${key} ${arrow} (${cell.section})`, () => {
          const before = inState(state as EndpointStateName, role);
          const t = triggerFor(key);
          expect(triggerKey(t)).toBe(key);
          const out = step(before, t, ctxOf(role));
          if (want === 'ignored') {
            expect(out.ignored?.reason).toBeDefined();
            expect(out.record).toBe(before); // untouched, not a copy with changes
            expect(out.effects).toEqual([]);
          } else {
            expect(out.ignored).toBeUndefined();
            expect(out.record.state).toBe(want === 'stay' ? state : want);
            // §8.1: every change of state is persisted and logged.
            if (want !== 'stay') {
              expect(out.effects.some((e) => e.kind === 'persist')).toBe(true);
              expect(out.effects.filter((e) => e.kind === 'log-transition').at(-1)).toMatchObject({ to: want });
            } else {
              expect(out.effects.some((e) => e.kind === 'log-transition')).toBe(false);
            }
          }
        });
      }
    }
  });
}

import { describe, expect, it } from 'vitest';
import type { IaType, Lease } from '../../../src/engine/lease.js';
import { ExpiryHeap } from '../../../src/store/expiry-heap.js';
import { LeaseIndex } from '../../../src/store/lease-index.js';
import { NOW_SEC, duidOf, naLease, pdLease } from './helpers.js';
import { seedText, testSeed } from '../../seed.js';

const SEED = testSeed(20240601);

/** The obvious, slow implementation the index must agree with. */
class NaiveIndex {
  readonly leases = new Map<string, Lease>();
  byIa(duid: string, iaid: number, type: IaType): Lease[] {
    return [...this.leases.values()].filter((l) => l.duid === duid && l.iaid === iaid && l.type === type);
  }
  byClient(duid: string): Lease[] {
    return [...this.leases.values()].filter((l) => l.duid === duid);
  }
  dueBefore(nowSec: number, limit: number): Lease[] {
    return [...this.leases.values()]
      .filter((l) => l.expiresAtSec <= nowSec)
      .sort((a, b) => a.expiresAtSec - b.expiresAtSec || (a.resource < b.resource ? -1 : 1))
      .slice(0, limit);
  }
}

const sortByResource = (ls: readonly Lease[]): Lease[] => [...ls].sort((a, b) => (a.resource < b.resource ? -1 : 1));

describe('LeaseIndex', () => {
  it(`agrees with a naive model over a long random history (${seedText(SEED)})`, () => {
    let seed = SEED;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const index = new LeaseIndex();
    const model = new NaiveIndex();
    for (let step = 0; step < 20_000; step++) {
      const r = rand(100);
      const i = rand(300);
      const client = rand(40);
      if (r < 60) {
        const make = rand(2) === 0 ? naLease : pdLease;
        const l = make(i, {
          duid: duidOf(client),
          iaid: rand(3),
          expiresAtSec: NOW_SEC + rand(200) - 100,
          state: (['active', 'expired', 'released', 'declined'] as const)[rand(4)]!,
        });
        index.put(l);
        model.leases.set(l.resource, l);
      } else if (r < 80) {
        const victim = [...model.leases.keys()][rand(Math.max(1, model.leases.size))];
        if (victim !== undefined) {
          index.delete(victim);
          model.leases.delete(victim);
        }
      } else {
        const now = NOW_SEC + rand(200) - 100;
        const limit = rand(20);
        expect(index.dueBefore(now, limit)).toEqual(model.dueBefore(now, limit));
        const duid = duidOf(client);
        for (const type of ['na', 'pd'] as const) {
          const iaid = rand(3);
          expect(sortByResource(index.byIa(duid, iaid, type))).toEqual(sortByResource(model.byIa(duid, iaid, type)));
        }
        expect(sortByResource(index.byClient(duid))).toEqual(sortByResource(model.byClient(duid)));
      }
      expect(index.size).toBe(model.leases.size);
    }
    expect(sortByResource([...index.values()])).toEqual(sortByResource([...model.leases.values()]));
  });

  it('keeps the expiry heap bounded when renewals pile up and nobody asks what is due', () => {
    const index = new LeaseIndex();
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 500; i++) index.put(naLease(i, { expiresAtSec: NOW_SEC + round * 1000 + i }));
    }
    expect(index.size).toBe(500);
    expect(index.expiryEntries).toBeLessThanOrEqual(2 * 500 + 1024 + 1);
    expect(index.dueBefore(NOW_SEC + 49_000 + 2, 10).map((l) => l.expiresAtSec)).toEqual([0, 1, 2].map((i) => NOW_SEC + 49_000 + i));
  });

  it('stores its own copy of each lease', () => {
    const index = new LeaseIndex();
    const duid = duidOf(1);
    const given = naLease(1, { duid: duid.slice(0, 4) + duid.slice(4) });
    index.put(given);
    index.put(pdLease(2, { duid }));
    const [a] = index.byIa(duid, given.iaid, 'na');
    expect(a).toEqual(given);
    expect(a).not.toBe(given); // a later mutation by the caller cannot reach the index
  });
});

describe('ExpiryHeap', () => {
  it('pops in (key, resource) order and rebuilds in place', () => {
    const h = new ExpiryHeap();
    const entries: Array<[number, string]> = [];
    for (let i = 0; i < 500; i++) entries.push([(i * 7919) % 101, `r${(i * 31) % 17}`]);
    for (const [k, r] of entries) h.push(k, r);
    const out: Array<[number, string]> = [];
    while (h.length > 0) {
      out.push([h.topKey()!, h.topResource()!]);
      h.pop();
    }
    const sorted = [...entries].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    expect(out).toEqual(sorted);
    h.rebuild(entries);
    expect(h.length).toBe(500);
    expect([h.topKey(), h.topResource()]).toEqual(sorted[0]);
  });
});

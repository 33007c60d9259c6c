// PdRouteManager against an in-memory kernel, and the ip-route parsers.

import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Counters } from '../../../src/daemon/counters.js';
import type { Lease, LeaseChange } from '../../../src/engine/lease.js';
import {
  batchLine,
  parseBatchErrors,
  parseRouteList,
  type KernelRoute,
  type RouteDriver,
  type RouteOp,
} from '../../../src/net/ip-route.js';
import { PdRouteManager, routeFor } from '../../../src/net/routes.js';

const NOW = 1_800_000_000;
const lease = (i: number, over: Partial<Lease> = {}): Lease => ({
  resource: `2001:db8:80${(i + 16).toString(16)}::/56`,
  type: 'pd',
  duid: '0003000102000000000' + i,
  iaid: i,
  state: 'active',
  preferredSec: 30,
  validSec: 60,
  clttSec: NOW,
  expiresAtSec: NOW + 60,
  via: { address: `fe80::${i}`, interface: 'lan0' },
  ...over,
});

class FakeKernel implements RouteDriver {
  readonly metric = 1062;
  readonly routes = new Map<string, KernelRoute>();
  batches: RouteOp[][] = [];
  failPrefixes = new Set<string>();
  failWholeBatch = false;
  async list(): Promise<KernelRoute[]> {
    return [...this.routes.values()];
  }
  async apply(ops: readonly RouteOp[]) {
    this.batches.push([...ops]);
    if (this.failWholeBatch) throw new Error('ip: not found');
    return ops.map((op) => {
      if (this.failPrefixes.has(op.route.prefix)) return { ok: false, error: 'RTNETLINK answers: No route to host' };
      if (op.op === 'replace') this.routes.set(op.route.prefix, { ...op.route, metric: this.metric });
      else this.routes.delete(op.route.prefix);
      return { ok: true };
    });
  }
}

function setup(leases: Lease[] = [], opts: { pendingMax?: number; batchMax?: number; serving?: boolean | undefined } = {}) {
  const kernel = new FakeKernel();
  const store = new Map(leases.map((l) => [l.resource, l]));
  const counters = new Counters();
  const routes = new PdRouteManager({
    driver: kernel,
    leases: () => store.values(),
    nowSec: () => NOW,
    counters,
    log: pino({ level: 'silent' }),
    reconcileIntervalMs: 0,
    ...opts,
  });
  const commit = async (changes: LeaseChange[]) => {
    for (const c of changes) {
      if (c.op === 'put') store.set(c.lease.resource, c.lease);
      else store.delete(c.resource);
    }
    routes.onCommitted(changes);
    await routes.idle();
  };
  return { kernel, store, counters, routes, commit };
}

const gateways = (k: FakeKernel) => Object.fromEntries([...k.routes.values()].map((r) => [r.prefix, `${r.gateway}%${r.dev ?? ''}`]));

describe('routeFor', () => {
  it('routes active, unexpired delegations with a via; a routed relay is the next hop; a link-local one needs its link', () => {
    expect(routeFor(lease(1), NOW)).toEqual({ prefix: lease(1).resource, gateway: 'fe80::1', dev: 'lan0' });
    expect(routeFor(lease(1, { via: { address: 'fe80::1', interface: 'lan0', relay: '2001:db8:2::1' } }), NOW)).toEqual({
      prefix: lease(1).resource,
      gateway: '2001:db8:2::1',
    });
    for (const l of [
      lease(1, { state: 'released' }),
      lease(1, { state: 'expired' }),
      lease(1, { expiresAtSec: NOW }),
      lease(1, { via: undefined }),
      lease(1, { via: { address: 'fe80::1', interface: '' } }),
      { ...lease(1), type: 'na' as const, resource: '2001:db8:1::5' },
    ]) {
      expect(routeFor(l, NOW)).toBeUndefined();
    }
  });
});

describe('PdRouteManager', () => {
  it('adds a route when a delegation is committed, moves it, and removes it on release, expiry and delete', async () => {
    const { kernel, commit, counters } = setup();
    await commit([
      { op: 'put', lease: lease(1) },
      { op: 'put', lease: lease(2) },
    ]);
    expect(gateways(kernel)).toEqual({ [lease(1).resource]: 'fe80::1%lan0', [lease(2).resource]: 'fe80::2%lan0' });
    expect(kernel.batches).toHaveLength(1); // both in one ip -batch
    // A renewal with the same router changes nothing in the kernel.
    await commit([{ op: 'put', lease: lease(1, { clttSec: NOW + 10, expiresAtSec: NOW + 70 }) }]);
    expect(kernel.batches).toHaveLength(1);
    await commit([{ op: 'put', lease: lease(1, { via: { address: 'fe80::99', interface: 'lan0' } }) }]);
    expect(gateways(kernel)[lease(1).resource]).toBe('fe80::99%lan0');
    await commit([{ op: 'put', lease: lease(1, { state: 'released' }) }]);
    await commit([{ op: 'put', lease: lease(2, { state: 'expired' }) }]);
    expect(kernel.routes.size).toBe(0);
    await commit([{ op: 'put', lease: lease(3) }]);
    await commit([{ op: 'delete', resource: lease(3).resource }]);
    expect(kernel.routes.size).toBe(0);
    // Address leases and deletes of prefixes we never routed cost nothing.
    const before = kernel.batches.length;
    await commit([
      { op: 'put', lease: { ...lease(4), type: 'na', resource: '2001:db8:1::4', via: undefined } },
      { op: 'delete', resource: lease(9).resource },
    ]);
    expect(kernel.batches).toHaveLength(before);
    expect(counters.snapshot()).toMatchObject({ 'routes.added': 4, 'routes.removed': 3 });
  });

  it('reconciles at start: removes our routes the store does not justify, adds the missing ones, keeps the rest', async () => {
    const { kernel, routes, store } = setup([lease(1), lease(2), lease(3, { state: 'released' }), lease(4, { via: undefined })]);
    kernel.routes.set(lease(1).resource, { prefix: lease(1).resource, gateway: 'fe80::1', dev: 'lan0', metric: 1062 });
    kernel.routes.set(lease(2).resource, { prefix: lease(2).resource, gateway: 'fe80::bad', dev: 'lan0', metric: 1062 });
    kernel.routes.set(lease(3).resource, { prefix: lease(3).resource, gateway: 'fe80::3', dev: 'lan0', metric: 1062 });
    kernel.routes.set('2001:db8:ff00::/56', { prefix: '2001:db8:ff00::/56', gateway: 'fe80::7', dev: 'lan0', metric: 1062 });
    const report = await routes.reconcile();
    await routes.idle();
    expect(report).toEqual({ kept: 1, added: 1, removed: 2, unroutable: 1 });
    expect(gateways(kernel)).toEqual({ [lease(1).resource]: 'fe80::1%lan0', [lease(2).resource]: 'fe80::2%lan0' });
    // Idempotent: a second pass finds nothing to do.
    const batches = kernel.batches.length;
    expect(await routes.reconcile()).toEqual({ kept: 2, added: 0, removed: 0, unroutable: 1 });
    await routes.idle();
    expect(kernel.batches).toHaveLength(batches);
    // Someone deleted a route behind our back: the next reconcile puts it back.
    kernel.routes.delete(lease(1).resource);
    store.set(lease(5).resource, lease(5));
    expect(await routes.reconcile()).toMatchObject({ added: 2 });
  });

  it('removes routes of ours left under another metric', async () => {
    const { kernel, routes } = setup([lease(1)]);
    kernel.routes.set(lease(1).resource, { prefix: lease(1).resource, gateway: 'fe80::1', dev: 'lan0', metric: 1024 });
    await routes.reconcile();
    await routes.idle();
    expect(kernel.batches[0]).toEqual([
      { op: 'delete', route: { prefix: lease(1).resource, gateway: 'fe80::1', dev: 'lan0', metric: 1024 } },
    ]);
    expect(kernel.routes.get(lease(1).resource)?.metric).toBe(1062);
  });

  it('withdraws everything when it stops serving and takes everything over when it serves again (failover)', async () => {
    const { kernel, routes, commit } = setup([lease(1), lease(2)]);
    await routes.reconcile();
    await routes.idle();
    expect(kernel.routes.size).toBe(2);
    expect(await routes.setServing(false)).toMatchObject({ removed: 2 });
    await routes.idle();
    expect(kernel.routes.size).toBe(0);
    // A standby records partner updates but routes nothing.
    await commit([{ op: 'put', lease: lease(3) }]);
    expect(kernel.routes.size).toBe(0);
    expect(await routes.setServing(true)).toMatchObject({ added: 3 });
    await routes.idle();
    expect(kernel.routes.size).toBe(3);
  });

  it('undecided (a failover partner starting) leaves the kernel as it is, then follows the decision', async () => {
    const { kernel, routes, commit } = setup([lease(1)], { serving: undefined });
    kernel.routes.set(lease(2).resource, { prefix: lease(2).resource, gateway: 'fe80::2', dev: 'lan0', metric: 1062 });
    expect(await routes.reconcile()).toEqual({ kept: 1, added: 0, removed: 0, unroutable: 0 });
    await commit([{ op: 'put', lease: lease(3) }]);
    expect([...kernel.routes.keys()]).toEqual([lease(2).resource]);
    expect(await routes.setServing(true)).toMatchObject({ added: 2, removed: 1 });
    expect([...kernel.routes.keys()].sort()).toEqual([lease(1).resource, lease(3).resource].sort());
  });

  it('batches at most batchMax routes per ip run, and bounds the queue: overflow is counted and repaired by reconcile', async () => {
    const { kernel, routes, commit, counters } = setup([], { batchMax: 4, pendingMax: 10 });
    const leases = Array.from({ length: 25 }, (_, i) => lease(i + 1));
    await commit(leases.map((l) => ({ op: 'put', lease: l })));
    expect(kernel.batches.every((b) => b.length <= 4)).toBe(true);
    expect(counters.get('routes.queue-full')).toBe(15);
    expect(kernel.routes.size).toBe(10);
    await routes.reconcile();
    await routes.idle();
    expect(kernel.routes.size).toBe(25);
  });

  it('counts and logs failures without throwing, and retries them at the next reconcile', async () => {
    const { kernel, routes, commit, counters } = setup();
    kernel.failPrefixes.add(lease(1).resource);
    await commit([
      { op: 'put', lease: lease(1) },
      { op: 'put', lease: lease(2) },
    ]);
    expect(counters.get('routes.add-failed')).toBe(1);
    expect(kernel.routes.size).toBe(1);
    kernel.failWholeBatch = true;
    await commit([{ op: 'put', lease: lease(3) }]);
    expect(counters.get('routes.batch-failed')).toBe(1);
    kernel.failWholeBatch = false;
    kernel.failPrefixes.clear();
    expect(await routes.reconcile()).toMatchObject({ added: 2 });
    await routes.idle();
    expect(kernel.routes.size).toBe(3);
    // A listener that throws inside would be a bug; a bad change is counted instead.
    expect(() => routes.onCommitted([{ op: 'put', lease: null as unknown as Lease }])).not.toThrow();
    expect(counters.get('routes.internal-error')).toBe(1);
  });
});

describe('ip route output', () => {
  it('parses ip -j route show into canonical routes', () => {
    const json = JSON.stringify([
      { dst: '2001:db8:804e:3100::/56', gateway: 'fe80::f884:51ff:fe63:f775', dev: 'lan0', metric: 1062, flags: [] },
      { dst: '2001:0db8:8000:0500::/56', gateway: '2001:DB8:1::99', dev: 'lan0', metric: 1062, flags: [] },
      { dst: 'unreachable', type: 'unreachable' },
      { dst: '2001:db8:9::/64', dev: 'lan0' },
    ]);
    expect(parseRouteList(json)).toEqual([
      { prefix: '2001:db8:804e:3100::/56', gateway: 'fe80::f884:51ff:fe63:f775', dev: 'lan0', metric: 1062 },
      { prefix: '2001:db8:8000:500::/56', gateway: '2001:db8:1::99', dev: 'lan0', metric: 1062 },
    ]);
    expect(parseRouteList('')).toEqual([]);
  });

  it('attributes each failure in ip -batch stderr to its line', () => {
    // As iproute2 6.1 prints it for lines 2, 3 and 4 of a batch.
    const stderr =
      'RTNETLINK answers: No such process\nCommand failed -:2\nRTNETLINK answers: No route to host\nCommand failed -:3\nCannot find device "nosuch"\nCommand failed -:4\n';
    expect([...parseBatchErrors(stderr, 5)]).toEqual([
      [1, 'RTNETLINK answers: No such process'],
      [2, 'RTNETLINK answers: No route to host'],
      [3, 'Cannot find device "nosuch"'],
    ]);
  });

  it('writes batch lines with our protocol and metric', () => {
    const route = { prefix: '2001:db8:8000:100::/56', gateway: 'fe80::1', dev: 'lan0' };
    expect(batchLine({ op: 'replace', route }, 62, 1062)).toBe(
      'route replace 2001:db8:8000:100::/56 via fe80::1 dev lan0 proto 62 metric 1062',
    );
    expect(batchLine({ op: 'delete', route: { ...route, metric: 1024 } }, 62, 1062)).toBe(
      'route del 2001:db8:8000:100::/56 proto 62 metric 1024',
    );
    expect(batchLine({ op: 'replace', route: { prefix: route.prefix, gateway: '2001:db8:2::1' } }, 62, 1062)).toBe(
      'route replace 2001:db8:8000:100::/56 via 2001:db8:2::1 proto 62 metric 1062',
    );
  });
});

// Routes for delegated prefixes: each active delegation is routed to the
// router that requested it (Lease.via), on the interface it came from, so a
// delegated prefix is reachable through this appliance (RFC 8415 §6.3; what
// RFC 8987 §4 asks of a delegating relay, done by the server when the
// requesting router is on its link).
//
// The kernel is brought to match the lease store, never the other way:
//  - a committed change queues the route it implies (replace, or delete when
//    the delegation ended: released, expired, reclaimed, revoked, deleted);
//  - reconcile() lists the kernel's routes with our protocol number and queues
//    the difference to what the store justifies — at start, periodically (an
//    interface going down takes its routes with it), and after a failover
//    takeover;
//  - the queue is coalesced by prefix (the latest wish wins) and bounded; when
//    it is full the change is dropped, counted, and the next reconcile repairs it;
//  - one `ip -batch` runs at a time with up to BATCH_MAX routes; failures are
//    counted and logged, and nothing here ever throws into the packet path.
//
// In a failover pair only the serving partner holds the routes: failover calls
// setServing(false) to withdraw them and setServing(true) to take them over.

import type { Logger } from 'pino';
import type { Lease, LeaseChange } from '../engine/lease.js';
import type { KernelRoute, RouteDriver, RouteOp } from './ip-route.js';

export const ROUTE_BATCH_MAX = 64;
export const ROUTE_PENDING_MAX = 10_000;
export const ROUTE_RECONCILE_INTERVAL_MS = 60_000;

export interface PdRouteManagerDeps {
  readonly driver: RouteDriver;
  /** Every lease in the store (LeaseStore.all). */
  readonly leases: () => Iterable<Lease>;
  /** Wall clock, whole seconds. */
  readonly nowSec: () => number;
  readonly counters: { add(name: string, by?: number): void };
  readonly log: Logger;
  readonly batchMax?: number;
  readonly pendingMax?: number;
  /** 0: no periodic reconcile. */
  readonly reconcileIntervalMs?: number;
  /**
   * Whether this server leads the link (failover); default true. undefined:
   * not decided yet — the kernel's routes are left as they are until it is.
   */
  readonly serving?: boolean | undefined;
}

export interface ReconcileReport {
  readonly kept: number;
  readonly added: number;
  readonly removed: number;
  readonly unroutable: number;
}

const isLinkLocal = (a: string): boolean => /^fe[89ab]/i.test(a);

/** The route a lease justifies now, if any. */
export function routeFor(lease: Lease, nowSec: number): KernelRoute | undefined {
  if (lease.type !== 'pd' || lease.state !== 'active' || lease.expiresAtSec <= nowSec || !lease.via) return undefined;
  // A routed relay is our next hop; it routes on to the requesting router (RFC 8987 §4).
  const gateway = lease.via.relay ?? lease.via.address;
  if (!isLinkLocal(gateway)) return { prefix: lease.resource, gateway };
  // A link-local next hop means nothing without its link (a partner's update for a subnet we serve only relayed).
  return lease.via.interface ? { prefix: lease.resource, gateway, dev: lease.via.interface } : undefined;
}

/** Same next hop; a route asked for without a device matches whatever device the kernel chose. */
const sameRoute = (want: KernelRoute, have: KernelRoute | undefined): boolean =>
  have !== undefined && want.gateway === have.gateway && (want.dev === undefined || want.dev === have.dev);

export class PdRouteManager {
  private readonly installed = new Map<string, KernelRoute>();
  /** prefix → wanted route, or null for "no route". */
  private readonly pending = new Map<string, KernelRoute | null>();
  private chain: Promise<unknown> = Promise.resolve();
  private draining = false;
  private servingNow: boolean | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastReport: ReconcileReport | undefined;
  private readonly batchMax: number;
  private readonly pendingMax: number;

  constructor(private readonly deps: PdRouteManagerDeps) {
    this.servingNow = 'serving' in deps ? deps.serving : true;
    this.batchMax = deps.batchMax ?? ROUTE_BATCH_MAX;
    this.pendingMax = deps.pendingMax ?? ROUTE_PENDING_MAX;
    const every = deps.reconcileIntervalMs ?? ROUTE_RECONCILE_INTERVAL_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.reconcile().catch(() => undefined), every);
      this.timer.unref();
    }
  }

  get serving(): boolean | undefined {
    return this.servingNow;
  }

  /** The 'leases-committed' listener: queues what the changes imply. Never throws. */
  onCommitted(changes: readonly LeaseChange[]): void {
    if (!this.servingNow || this.stopped) return;
    try {
      const nowSec = this.deps.nowSec();
      for (const c of changes) {
        const prefix = c.op === 'put' ? c.lease.resource : c.resource;
        if (!prefix.includes('/')) continue;
        const want = c.op === 'put' ? (routeFor(c.lease, nowSec) ?? null) : null;
        this.want(prefix, want);
      }
      this.pump();
    } catch (e) {
      this.deps.counters.add('routes.internal-error');
      this.deps.log.error({ code: 'ROUTE_UPDATE_FAILED', err: e }, 'route update failed');
    }
  }

  /** Queues a wish unless it is what the kernel already has; the queue is bounded. */
  private want(prefix: string, route: KernelRoute | null): void {
    const have = this.installed.get(prefix);
    const noop = route === null ? have === undefined : sameRoute(route, have);
    if (noop && !this.pending.has(prefix)) return;
    if (!this.pending.has(prefix) && this.pending.size >= this.pendingMax) {
      this.deps.counters.add('routes.queue-full');
      return; // the next reconcile puts it right
    }
    this.pending.delete(prefix); // re-insert at the end: a batch takes the oldest first
    this.pending.set(prefix, route);
  }

  /**
   * Makes the kernel match the store: adds routes for active delegations that
   * lack one, removes routes with our protocol number that no delegation
   * justifies. Idempotent. When not serving, removes all of ours.
   */
  reconcile(): Promise<ReconcileReport> {
    return this.serialize(async () => {
      let kernel: KernelRoute[];
      try {
        kernel = await this.deps.driver.list();
      } catch (e) {
        this.deps.counters.add('routes.list-failed');
        this.deps.log.error({ code: 'ROUTE_LIST_FAILED', err: (e as Error).message }, 'cannot list routes');
        throw e;
      }
      this.installed.clear();
      if (this.servingNow === undefined) {
        // Undecided (a failover partner starting): whatever is there stays, as a restart leaves it.
        for (const r of kernel) this.installed.set(r.prefix, r);
        return (this.lastReport = { kept: kernel.length, added: 0, removed: 0, unroutable: 0 });
      }
      // Ours under another metric (the config changed): removed first, they would shadow or duplicate.
      const stale = kernel.filter((r) => r.metric !== undefined && r.metric !== this.deps.driver.metric);
      if (stale.length > 0) await this.deps.driver.apply(stale.map((route) => ({ op: 'delete', route })));
      for (const r of kernel) if (!stale.includes(r)) this.installed.set(r.prefix, r);
      // The store is read after the listing: every change committed so far is in it.
      const wanted = new Map<string, KernelRoute>();
      let unroutable = 0;
      if (this.servingNow) {
        const nowSec = this.deps.nowSec();
        for (const lease of this.deps.leases()) {
          const route = routeFor(lease, nowSec);
          if (route) wanted.set(route.prefix, route);
          else if (lease.type === 'pd' && lease.state === 'active' && lease.expiresAtSec > nowSec) unroutable++;
        }
      }
      // The difference is applied here, in batches, past the bounded queue: it is bounded by the store.
      this.pending.clear();
      const ops: RouteOp[] = [];
      let kept = 0;
      for (const [prefix, have] of this.installed) {
        const want = wanted.get(prefix);
        if (want && sameRoute(want, have)) kept++;
        else if (!want) ops.push({ op: 'delete', route: have });
      }
      const removed = ops.length;
      for (const [prefix, want] of wanted) {
        if (!sameRoute(want, this.installed.get(prefix))) ops.push({ op: 'replace', route: want });
      }
      const added = ops.length - removed;
      for (let i = 0; i < ops.length; i += this.batchMax) await this.applyOps(ops.slice(i, i + this.batchMax));
      const report = { kept, added, removed, unroutable };
      this.lastReport = report;
      this.deps.counters.add('routes.reconciles');
      if (added + removed > 0) this.deps.log.info(report, 'routes reconciled with the lease store');
      this.pump();
      return report;
    });
  }

  /** Failover's hook: only the serving partner holds routes for the delegations. */
  async setServing(serving: boolean): Promise<ReconcileReport> {
    this.servingNow = serving;
    return this.reconcile();
  }

  /** Resolves when everything queued so far has been tried. */
  async idle(): Promise<void> {
    while ((this.pending.size > 0 || this.draining) && !this.stopped) await this.serialize(async () => undefined);
  }

  /** unroutable in the last report: active delegations without a recorded router (granted before via existed). */
  status(): { serving: boolean | undefined; installed: KernelRoute[]; pending: number; lastReconcile: ReconcileReport | undefined } {
    return {
      serving: this.servingNow,
      installed: [...this.installed.values()],
      pending: this.pending.size,
      lastReconcile: this.lastReport,
    };
  }

  /** Stops the timer and lets the batch in flight finish. Routes stay: a restart should not cut traffic. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.chain.catch(() => undefined);
  }

  private serialize<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f, f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private pump(): void {
    if (this.draining || this.pending.size === 0 || this.stopped) return;
    this.draining = true;
    void this.serialize(async () => {
      try {
        while (this.pending.size > 0 && !this.stopped) await this.applyBatch();
      } finally {
        this.draining = false;
      }
    });
  }

  private async applyBatch(): Promise<void> {
    const batch: [string, KernelRoute | null][] = [];
    for (const entry of this.pending) {
      batch.push(entry);
      if (batch.length >= this.batchMax) break;
    }
    for (const [prefix] of batch) this.pending.delete(prefix);
    await this.applyOps(
      batch.map(([prefix, route]): RouteOp =>
        route ? { op: 'replace', route } : { op: 'delete', route: this.installed.get(prefix) ?? { prefix, gateway: '::' } },
      ),
    );
  }

  /** One ip run; what succeeded is recorded as installed, what failed is counted (the periodic reconcile retries). */
  private async applyOps(ops: readonly RouteOp[]): Promise<void> {
    const { counters, log, driver } = this.deps;
    let results;
    try {
      results = await driver.apply(ops);
    } catch (e) {
      counters.add('routes.batch-failed');
      log.error({ code: 'ROUTE_BATCH_FAILED', err: (e as Error).message, routes: ops.length }, 'route batch could not run');
      return;
    }
    counters.add('routes.batches');
    ops.forEach((op, i) => {
      const r = results[i];
      const prefix = op.route.prefix;
      if (r?.ok) {
        counters.add(op.op === 'replace' ? 'routes.added' : 'routes.removed');
        if (op.op === 'replace') this.installed.set(prefix, op.route);
        else this.installed.delete(prefix);
        return;
      }
      counters.add(op.op === 'replace' ? 'routes.add-failed' : 'routes.remove-failed');
      log.warn(
        { code: 'ROUTE_CHANGE_FAILED', prefix, op: op.op, gateway: op.route.gateway, dev: op.route.dev, err: r?.error },
        'route change failed',
      );
    });
  }
}

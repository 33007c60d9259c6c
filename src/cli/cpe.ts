// The CPE features of a running daemon — router advertisements on the LAN
// interfaces and routes for delegated prefixes — started from twin6d when the
// config asks for them, and wired to the daemon's hooks: committed lease
// changes, reloads, shutdown (final advertisement), control commands.
//
// Failover hook: the object returned holds the route manager. Whichever
// partner serves holds the routes: failover calls `routes.setServing(false)`
// when this server stops serving (routes withdrawn) and
// `routes.setServing(true)` after a takeover (every active delegation routed
// here); `routes.reconcile()` re-checks the kernel against the store at any time.

import type { Daemon } from '../daemon/daemon.js';
import { ipRouteDriver } from '../net/ip-route.js';
import { RouterAdvertiser } from '../net/ra.js';
import { PdRouteManager } from '../net/routes.js';

export interface CpeFeatures {
  /** Present when `pdRoutes` is enabled (read at start; changing it needs a restart). */
  readonly routes: PdRouteManager | undefined;
  /** Router advertisements; follows the config across reloads. */
  readonly advertiser: () => RouterAdvertiser | undefined;
}

export interface CpeOptions {
  /** Whether this server serves clients now; a failover partner that starts as standby passes false. */
  readonly serving?: boolean;
}

export async function startCpe(daemon: Daemon, opts: CpeOptions = {}): Promise<CpeFeatures> {
  const { counters } = daemon;
  const log = daemon.log.child({ part: 'cpe' });
  const routesAtStart = JSON.stringify(daemon.config.pdRoutes ?? null);
  const routes = startRoutes(daemon, opts);
  const wantsRa = (subnets: Daemon['config']['subnets']) => subnets.some((s) => s.routerAdvertisements !== undefined);
  let advertiser: RouterAdvertiser | undefined;
  if (wantsRa(daemon.config.subnets)) advertiser = await RouterAdvertiser.start(daemon.config.subnets, { counters, log });

  daemon.on('config-reloaded', (config) => {
    const update = async (): Promise<void> => {
      if (advertiser) await advertiser.update(config.subnets);
      else if (wantsRa(config.subnets)) advertiser = await RouterAdvertiser.start(config.subnets, { counters, log });
    };
    update().catch((e: unknown) => log.error({ err: e }, 'router advertisements not updated'));
    if (JSON.stringify(config.pdRoutes ?? null) !== routesAtStart) log.warn('pdRoutes changed: the change takes effect at the next restart');
  });
  daemon.registerCommand('ra', () => advertiser?.status() ?? []);
  // Runs before the store closes: the final advertisement (RFC 4861 §6.2.5) goes out first.
  daemon.onStop(async () => {
    await advertiser?.stop();
    await routes?.stop();
  });
  return { routes, advertiser: () => advertiser };
}

function startRoutes(daemon: Daemon, opts: CpeOptions): PdRouteManager | undefined {
  const config = daemon.config.pdRoutes;
  if (!config?.enabled) return undefined;
  const routes = new PdRouteManager({
    driver: ipRouteDriver({ protocol: config.protocol, metric: config.metric }),
    leases: () => daemon.store.all(),
    nowSec: () => daemon.clock.nowSec(),
    counters: daemon.counters,
    log: daemon.log.child({ part: 'routes' }),
    serving: opts.serving ?? true,
  });
  daemon.on('leases-committed', (changes) => routes.onCommitted(changes));
  daemon.registerCommand('routes', () => routes.status());
  daemon.registerCommand('routes-reconcile', () => routes.reconcile());
  // At start, routes come to match the store; the DHCP service does not wait for it.
  void routes.reconcile().catch(() => undefined);
  return routes;
}

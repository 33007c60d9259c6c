// The CPE features of a running daemon — router advertisements on the LAN
// interfaces and routes for delegated prefixes — started from twin6d when the
// config asks for them, and wired to the daemon's hooks: committed lease
// changes, reloads, shutdown (final advertisement), control commands.
//
// Failover: whichever partner serves holds the routes and is the default
// router. `setServing(false)` withdraws the routes and advertises Router
// Lifetime 0; `setServing(true)` — after a takeover — routes every active
// delegation here (the partner's too: BNDUPDs carry the requesting router)
// and advertises this box as default router at once.

import type { CpeHost } from '../daemon/host.js';
import { ipRouteDriver } from '../net/ip-route.js';
import { RouterAdvertiser } from '../net/ra.js';
import { PdRouteManager } from '../net/routes.js';

export interface CpeFeatures {
  /** Present when `pdRoutes` is enabled (read at start; changing it needs a restart). */
  readonly routes: PdRouteManager | undefined;
  /** Router advertisements; follows the config across reloads. */
  readonly advertiser: () => RouterAdvertiser | undefined;
  /** Failover's hook: whether this server serves clients now. */
  setServing(serving: boolean): void;
}

export interface CpeOptions {
  /**
   * Whether this server leads the link (failover/responsiveness.ts leadsLink);
   * default true. undefined: a failover partner that has not decided yet —
   * the kernel's routes stay as they are (a restarted daemon must not cut the
   * delegations off) and it does not offer itself as default router.
   */
  readonly serving?: boolean | undefined;
}

export async function startCpe(daemon: CpeHost, opts: CpeOptions = {}): Promise<CpeFeatures> {
  const { counters } = daemon;
  const log = daemon.log.child({ part: 'cpe' });
  const routesAtStart = JSON.stringify(daemon.config.pdRoutes ?? null);
  let serving = 'serving' in opts ? opts.serving : true;
  const routes = startRoutes(daemon, serving);
  const wantsRa = (subnets: CpeHost['config']['subnets']) => subnets.some((s) => s.routerAdvertisements !== undefined);
  let advertiser: RouterAdvertiser | undefined;
  const start = (subnets: CpeHost['config']['subnets']) =>
    RouterAdvertiser.start(subnets, { counters, log }, { defaultRouter: serving === true });
  if (wantsRa(daemon.config.subnets)) advertiser = await start(daemon.config.subnets);

  daemon.on('config-reloaded', (config) => {
    const update = async (): Promise<void> => {
      if (advertiser) await advertiser.update(config.subnets);
      else if (wantsRa(config.subnets)) advertiser = await start(config.subnets);
    };
    update().catch((e: unknown) => log.error({ code: 'RA_UPDATE_FAILED', err: e }, 'router advertisements not updated'));
    if (JSON.stringify(config.pdRoutes ?? null) !== routesAtStart)
      log.warn({ code: 'CONFIG_PDROUTES_NEEDS_RESTART' }, 'pdRoutes changed: the change takes effect at the next restart');
  });
  daemon.registerCommand('ra', () => advertiser?.status() ?? []);
  // Runs before the store closes: the final advertisement (RFC 4861 §6.2.5) goes out first.
  daemon.onStop(async () => {
    await advertiser?.stop();
    await routes?.stop();
  });
  const setServing = (now: boolean): void => {
    serving = now;
    advertiser?.setDefaultRouter(now);
    routes?.setServing(now).catch(() => undefined); // failures are counted and logged; the periodic reconcile retries
  };
  return { routes, advertiser: () => advertiser, setServing };
}

function startRoutes(daemon: CpeHost, serving: boolean | undefined): PdRouteManager | undefined {
  const config = daemon.config.pdRoutes;
  if (!config?.enabled) return undefined;
  const routes = new PdRouteManager({
    driver: ipRouteDriver({ protocol: config.protocol, metric: config.metric }),
    leases: () => daemon.store.all(),
    nowSec: () => daemon.clock.nowSec(),
    counters: daemon.counters,
    log: daemon.log.child({ part: 'routes' }),
    serving,
  });
  daemon.on('leases-committed', (changes) => routes.onCommitted(changes));
  daemon.registerCommand('routes', () => routes.status());
  daemon.registerCommand('routes-reconcile', () => routes.reconcile());
  // At start, routes come to match the store (once failover has decided: routes.ts); the DHCP service does not wait for it.
  void routes.reconcile().catch(() => undefined);
  return routes;
}

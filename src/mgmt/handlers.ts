// Commands the management work adds to the daemon's command table, so that
// twin6ctl on the box and the fleet over MQTT run the same handlers. The
// failover ones are placeholders until failover (#4) registers its own under
// the same names: they answer "not available", while the signing and
// two-step path in front of them over MQTT is already the real one.

import { loadConfigFile } from '../config/index.js';
import { CommandError, FAILOVER_NOT_CONFIGURED, FIRMWARE_NOT_AVAILABLE, LOG_LEVEL_TTL_DEFAULT_SEC } from './commands.js';
import { configVersion, iso, poolSizes, STANDALONE, WAITING_FOR_CLOCK, type FailoverStatus } from './documents.js';
import type { ControlHandler, ManagementHost } from '../daemon/host.js';

interface StatusPool {
  readonly subnet: string;
  readonly pool: string;
  readonly kind: 'na' | 'pd';
  readonly active: number;
}

/** The daemon's own status answer, for its pool counts (one implementation of "which pool is a lease in"). */
export async function poolUse(
  d: ManagementHost,
): Promise<{ subnet: string; pool: string; kind: 'na' | 'pd'; used: number; size: number }[]> {
  const status = (await d.commands['status']!({})) as { pools: StatusPool[] };
  const sizes = poolSizes(d.config);
  return status.pools.map((p) => ({
    subnet: p.subnet,
    pool: p.pool,
    kind: p.kind,
    used: p.active,
    size: sizes.get(`${p.subnet}\0${p.kind}\0${p.pool}`) ?? 0,
  }));
}

/** What failover reports, or standalone while nothing registered `failover.status`. */
export async function failoverStatus(d: ManagementHost): Promise<FailoverStatus> {
  const handler = d.commands['failover.status'];
  if (!handler) return STANDALONE;
  const s = (await handler({})) as Partial<FailoverStatus>;
  return { role: s.role ?? 'standalone', state: s.state ?? 'standalone', partnerState: s.partnerState ?? null, since: s.since ?? null };
}

/** Why the config file would be refused now: the daemon logs it; the uplink wants it as text. */
export async function configProblem(d: ManagementHost): Promise<string> {
  try {
    await loadConfigFile(d.configFile);
    return 'the file loads now; it was refused when read';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export interface HandlerExtras {
  /** The uplink's own numbers for `stats`, while one runs. */
  readonly uplinkStats: () => unknown;
}

export function managementHandlers(d: ManagementHost, extras: HandlerExtras): Record<string, ControlHandler> {
  let levelRevert: NodeJS.Timeout | undefined;
  return {
    'leases.count': async (args) => {
      const subnet = typeof args['subnet'] === 'string' ? args['subnet'] : undefined;
      if (subnet !== undefined && !d.config.subnets.some((s) => s.name === subnet)) {
        throw new CommandError(
          'BAD_ARGS',
          `args.subnet: no subnet named "${subnet}" (have ${d.config.subnets.map((s) => s.name).join(', ')})`,
        );
      }
      const pools = (await poolUse(d)).filter((p) => subnet === undefined || p.subnet === subnet);
      const byState: Record<string, number> = { active: 0, released: 0, declined: 0, expired: 0 };
      for (const l of d.store.all()) byState[l.state] = (byState[l.state] ?? 0) + 1;
      return { pools: pools.map((p) => ({ ...p, utilisation: p.size > 0 ? p.used / p.size : 0 })), byState, total: d.store.size };
    },
    stats: () => ({
      counters: d.counters.snapshot(),
      countersSince: iso(d.startedMs),
      storage: d.store.stats(),
      uplink: extras.uplinkStats() ?? null,
      memory: process.memoryUsage(),
    }),
    'config.reload': async () => {
      if (await d.reload()) return { reloaded: true, version: configVersion(d.config) };
      throw new CommandError('REJECTED', `new configuration refused; still serving ${configVersion(d.config)}: ${await configProblem(d)}`);
    },
    'log.level': (args) => {
      const level = String(args['level']);
      const ttlSec = typeof args['ttlSec'] === 'number' ? args['ttlSec'] : LOG_LEVEL_TTL_DEFAULT_SEC;
      const previous = d.config.logLevel;
      clearTimeout(levelRevert);
      d.log.level = level;
      // Back to the configured level, unless a reload or another call changed it since.
      levelRevert = setTimeout(() => {
        if (d.log.level === level) d.log.level = d.config.logLevel;
      }, ttlSec * 1000);
      levelRevert.unref();
      d.log.warn({ code: 'MGMT_LOG_LEVEL_CHANGED', level, ttlSec }, 'log level changed by command');
      return { level, revertsTo: previous, until: iso(Date.now() + ttlSec * 1000) };
    },
    // Replaced by the endpoint's own once failover starts, which waits for a trustworthy clock.
    'failover.status': (): FailoverStatus => {
      const role = d.config.failover?.role;
      return role ? { role, state: WAITING_FOR_CLOCK, partnerState: null, since: null } : STANDALONE;
    },
    'failover.partner-down': () => {
      throw new CommandError('UNAVAILABLE', FAILOVER_NOT_CONFIGURED);
    },
    'failover.maintenance': () => {
      throw new CommandError('UNAVAILABLE', FAILOVER_NOT_CONFIGURED);
    },
    // Replaced by the firmware service's own where twin6d runs with --slots (the appliance image).
    'firmware.status': () => null,
    'firmware.upgrade': () => {
      throw new CommandError('UNAVAILABLE', FIRMWARE_NOT_AVAILABLE);
    },
    'firmware.cancel': () => {
      throw new CommandError('UNAVAILABLE', FIRMWARE_NOT_AVAILABLE);
    },
  };
}

/** Adds the handlers the daemon does not have yet; failover's own, if registered first, stay. */
export function registerManagementCommands(d: ManagementHost, extras: HandlerExtras): void {
  for (const [name, handler] of Object.entries(managementHandlers(d, extras))) {
    if (!Object.hasOwn(d.commands, name)) d.registerCommand(name, handler);
  }
}

// The faults of the safety phase as they happen, each a Poisson process at
// its swarm rate: crashes and clean stops with restarts, site power cuts
// (both at once), partner-link cuts
// (both ways or one way), client splits, LAN cuts, client reboots, the
// operator's PARTNER-DOWN for a partner that has been down a while, and the
// operator's maintenance on either side. Every process stops when the world
// heals.

import { StoreError } from '../../store/index.js';
import { stackOf, type World } from './world.js';
import type { SimServer } from './server.js';
import type { Side } from './partner-net.js';

const SIDES: readonly Side[] = ['P', 'S'];
/** How long a split or a LAN cut lasts on average. */
const SPLIT_MEAN_MS = 60_000;
/** Share of maintenance commands sent to both appliances at once (a fleet command to both, two operators)… */
const MAINTENANCE_BOTH_SHARE = 0.25;
/** …the second this long after the first, at most: within one handover. */
const MAINTENANCE_BOTH_GAP_MS_MAX = 3000;

export function injectFaults(w: World): void {
  const o = w.opts;
  const rng = w.rng.faults;
  /** Runs fire() at the rate, for as long as faults are on. */
  const every = (perMin: number, fire: () => void): void => {
    if (perMin <= 0) return;
    const next = (): void => {
      w.time.after(rng.exponential(60_000 / perMin), () => {
        if (!w.faultsOn) return;
        fire();
        next();
      });
    };
    next();
  };

  for (const side of SIDES) {
    every(o.crashPerMin, () => {
      const s = w.servers[side];
      if (!s.up) return;
      const downMs = 500 + rng.exponential(o.restartMeanSec * 1000);
      if (rng.chance(o.cleanStopShare)) {
        void s.stop().then(
          () => w.restart(s, downMs),
          // The last write failing at shutdown makes twin6d exit with it; the supervisor starts it again.
          (e: unknown) =>
            e instanceof StoreError
              ? w.exited(s, `stop failed: ${e.message}`)
              : w.violated({ invariant: 'crash', text: `${side} stop threw: ${stackOf(e)}` }),
        );
      } else {
        s.crash('power lost');
        w.restart(s, downMs);
      }
    });
  }

  every(o.sitePowerCutPerMin, () => sitePowerCut(w));

  every(o.linkCutPerMin, () => {
    const oneWay = rng.chance(o.asymmetricShare);
    const dirs: Side[] = oneWay ? [rng.pick(SIDES)] : [...SIDES];
    for (const d of dirs) w.partnerNet.setBlocked(d, true);
    w.trace.add('net', `partner link cut ${oneWay ? `${dirs[0]}→ only` : 'both ways'}`);
    w.time.after(rng.exponential(o.linkCutMeanSec * 1000), () => {
      if (!w.faultsOn) return;
      for (const d of dirs) w.partnerNet.setBlocked(d, false);
      w.trace.add('net', 'partner link healed');
    });
  });

  every(o.clientSplitPerMin, () => {
    const moved: number[] = [];
    for (const c of w.clients) {
      if (!rng.chance(0.4)) continue;
      w.dhcpNet.split.set(c.index, rng.pick(SIDES));
      moved.push(c.index);
    }
    w.trace.add('net', `clients split: ${moved.map((i) => `c${i}→${w.dhcpNet.split.get(i)}`).join(' ')}`);
    w.time.after(rng.exponential(SPLIT_MEAN_MS), () => {
      if (!w.faultsOn) return;
      for (const i of moved) w.dhcpNet.split.delete(i);
      w.trace.add('net', 'clients rejoined');
    });
  });

  every(o.lanCutPerMin, () => {
    const s = w.servers[rng.pick(SIDES)];
    if (s.lanCut) return;
    s.lanCut = true;
    s.lanSeenDown = rng.chance(o.lanDownSeenShare);
    w.trace.add('net', `${s.side} LAN cut${s.lanSeenDown ? ' (interface down)' : ''}`);
    w.time.after(rng.exponential(SPLIT_MEAN_MS), () => {
      if (!w.faultsOn) return;
      s.lanCut = false;
      s.lanSeenDown = false;
      w.trace.add('net', `${s.side} LAN back`);
    });
  });

  every(o.rebootPerMin, () => rng.pick(w.clients).reboot());

  every(o.maintenancePerMin, () => {
    const first = rng.pick(SIDES);
    maintenance(w, w.servers[first]);
    if (!rng.chance(MAINTENANCE_BOTH_SHARE)) return;
    w.time.after(rng.between(0, MAINTENANCE_BOTH_GAP_MS_MAX), () => w.faultsOn && maintenance(w, w.servers[first === 'P' ? 'S' : 'P']));
  });

  if (o.operatorPartnerDownSec !== undefined) operatorPartnerDown(w, o.operatorPartnerDownSec * 1000);
}

/**
 * Both appliances lose power and come back together, so each finds the other
 * in STARTUP: the STATEs of §8.3.1 cross, a PARTNER-DOWN one included, and
 * §8.3.2 step 5 picks the way back.
 */
function sitePowerCut(w: World): void {
  const rng = w.rng.faults;
  const downMs = 500 + rng.exponential(w.opts.restartMeanSec * 1000);
  w.trace.add('sim', `site power cut (P ${w.servers.P.state ?? 'down'}, S ${w.servers.S.state ?? 'down'})`);
  for (const side of SIDES) {
    const s = w.servers[side];
    if (!s.up) continue;
    s.crash('site power cut');
    w.restart(s, downMs + rng.between(0, 2000));
  }
}

/**
 * §8.4: an operator who sees a partner dead for a while declares it down.
 * The RFC's premise is that a partner in PARTNER-DOWN's view "is not
 * operating", so this operator keeps it true: no second declaration until
 * the pair has been back in NORMAL, and the declared appliance is started
 * again only while its partner is up to meet it (world.restart). Without
 * that, a double failure lets each serve the other's share unseen — the
 * RFC's own unresolvable case, not a bug to find.
 */
function operatorPartnerDown(w: World, afterMs: number): void {
  const check = (): void => {
    if (!w.faultsOn) return;
    if (w.servers.P.state === 'NORMAL' && w.servers.S.state === 'NORMAL') w.declaredDown = undefined;
    for (const side of SIDES) {
      const down = w.servers[side];
      const other = w.servers[side === 'P' ? 'S' : 'P'];
      const since = down.downSinceMs;
      if (w.declaredDown !== undefined || since === undefined || w.time.nowMs - since < afterMs) continue;
      const command = other.host?.commands['failover.partner-down'];
      if (!command || other.state !== 'COMMUNICATIONS-INTERRUPTED') continue;
      w.declaredDown = side;
      w.trace.add('sim', `operator: ${other.side} partner-down (${side} down ${((w.time.nowMs - since) / 1000).toFixed(0)} s)`);
      Promise.resolve(command({})).catch((e: unknown) => w.trace.add('sim', `operator refused: ${String(e)}`));
      // The case of a pair power-cycled with one side in PARTNER-DOWN, too rare by chance alone.
      if (w.opts.sitePowerCutPerMin > 0) w.time.after(w.rng.faults.exponential(30_000), () => w.faultsOn && sitePowerCut(w));
    }
    w.time.after(1000, check);
  };
  w.time.after(1000, check);
}

/**
 * An operator's maintenance: `twin6ctl failover maintenance enter` on either
 * appliance, whatever the pair is doing — sometimes on both within a few
 * seconds — and `leave` a while later. The endpoint refuses what would leave
 * nobody serving (the partner not connected or not in NORMAL: the other side
 * in maintenance or handing over, a cut link, a crash); an enter on a side
 * already in maintenance, or a leave on one that never entered or has
 * restarted since (maintenance is not kept across a restart), changes
 * nothing. The invariants are the same as ever, plus maintenance-watch.ts's.
 */
function maintenance(w: World, s: SimServer): void {
  const host = s.host;
  if (!host) return;
  command(w, s, 'enter');
  w.time.after(w.rng.faults.exponential(w.opts.maintenanceMeanSec * 1000), () => {
    if (!w.faultsOn || s.host !== host) return;
    command(w, s, 'leave');
  });
}

function command(w: World, s: SimServer, action: 'enter' | 'leave'): void {
  const done = s.maintenance(action);
  if (!done) return;
  w.trace.add('sim', `operator: ${s.side} maintenance ${action}`);
  done.then(
    (r) => w.trace.add('sim', `operator: ${s.side} maintenance ${(r as { maintenance?: boolean }).maintenance ? 'on' : 'off'}`),
    (e: unknown) => w.trace.add('sim', `operator: ${s.side} maintenance ${action} refused: ${e instanceof Error ? e.message : String(e)}`),
  );
}

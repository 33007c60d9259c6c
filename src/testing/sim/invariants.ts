// The checks that look at the servers (the clients' own are in ledger.ts and
// clients.ts): no resource bound to two clients across the pair; after the
// final heal, every lease a client still holds is on record; and the
// liveness goal — both partners NORMAL, nothing unacknowledged, the same
// active bindings on both sides.

import type { Lease } from '../../engine/index.js';
import type { World } from './world.js';
import type { SimServer } from './server.js';
import { EPOCH_SEC } from './server.js';
import type { Violation } from './ledger.js';
import { duidTag } from './describe.js';

/** Leases this close to their end (on either clock) are left out of comparisons: they are changing hands. */
const EDGE_SEC = 10;

const trueMsOf = (s: SimServer, wallSec: number): number => (wallSec - EPOCH_SEC) * 1000 - s.offsetMs;

function activeLeases(s: SimServer, marginSec: number): Map<string, Lease> {
  const out = new Map<string, Lease>();
  const store = s.host?.store;
  if (!store) return out;
  const now = s.nowSec();
  for (const l of store.all()) if (l.state === 'active' && l.expiresAtSec > now + marginSec) out.set(l.resource, l);
  return out;
}

const bindingText = (l: Lease): string => `${duidTag(l.duid)}/${l.iaid} until ${l.expiresAtSec}`;

/** Invariant 1 on the servers' side: one resource, two clients, both leases running. */
export function checkPairUnique(w: World): Violation | undefined {
  const { P, S } = w.servers;
  if (!P.host || !S.host) return undefined;
  const marginSec = Math.ceil(w.ledger.toleranceMs / 1000);
  const onS = activeLeases(S, marginSec);
  for (const [resource, p] of activeLeases(P, marginSec)) {
    const s = onS.get(resource);
    if (s && (s.duid !== p.duid || s.iaid !== p.iaid || s.type !== p.type)) {
      return { invariant: 'pair-unique', text: `${resource} is bound on P to ${bindingText(p)} and on S to ${bindingText(s)}` };
    }
  }
  return undefined;
}

/**
 * A free delegable prefix is owned by one partner at a time (RFC 8156 §4.2.2): whatever the
 * secondary holds as handed to it, the primary holds as given away too, so the primary never
 * delegates it. Judged with both partners in NORMAL: around a PARTNER-DOWN the primary may take
 * the secondary's prefixes by design (§4.2.2.1), and the secondary gives them all up on
 * hearing of it.
 */
export function checkPdOwners(w: World): Violation | undefined {
  const { P, S } = w.servers;
  const [ep, es] = [P.endpoint, S.endpoint];
  if (!ep || !es || ep.status().state !== 'NORMAL' || es.status().state !== 'NORMAL') return undefined;
  for (const pool of S.host?.config.subnets.flatMap((s) => s.pdPools) ?? []) {
    for (const r of es.backup.members(pool) ?? []) {
      if (!ep.backup.has(r)) return { invariant: 'pd-owner', text: `${r} is the secondary's (FREE-BACKUP) and the primary's too` };
    }
  }
  return undefined;
}

/** The liveness goal; undefined when reached, else what is still missing. */
export function notConverged(w: World): string | undefined {
  const { P, S } = w.servers;
  const [ep, es] = [P.endpoint, S.endpoint];
  if (!ep || !es) return `not both running (P ${P.up ? 'booting' : 'down'}, S ${S.up ? 'booting' : 'down'})`;
  const [sp, ss] = [ep.status(), es.status()];
  if (sp.state !== 'NORMAL' || ss.state !== 'NORMAL') return `states P ${sp.state}, S ${ss.state}`;
  for (const [side, st] of [
    ['P', sp],
    ['S', ss],
  ] as const) {
    if (st.unackedUpdates > 0 || st.inFlightUpdates > 0) return `${side} has ${st.unackedUpdates} unacked, ${st.inFlightUpdates} in flight`;
  }
  const onP = activeLeases(P, EDGE_SEC);
  const onS = activeLeases(S, EDGE_SEC);
  const compare = (a: Map<string, Lease>, b: Map<string, Lease>, bName: string, bServer: SimServer): string | undefined => {
    for (const [r, l] of a) {
      const o = b.get(r) ?? bServer.host?.store.byResource(r);
      if (!o) return `${r} (${bindingText(l)}) missing on ${bName}`;
      if (o.duid !== l.duid || o.iaid !== l.iaid || o.state !== l.state || o.expiresAtSec !== l.expiresAtSec) {
        return `${r}: ${bindingText(l)} vs ${bName} ${o.state} ${bindingText(o)}`;
      }
    }
    return undefined;
  };
  return compare(onP, onS, 'S', S) ?? compare(onS, onP, 'P', P);
}

/** Invariant 2: what a client holds (and will hold for a while yet) is on record for it, on at least one partner. */
export function checkLeasesKept(w: World): Violation | undefined {
  const now = w.time.nowMs;
  const slackMs = w.ledger.toleranceMs + EDGE_SEC * 1000;
  for (const c of w.clients) {
    for (const [resource, h] of c.held) {
      if (h.untilMs <= now + slackMs) continue;
      const found = (['P', 'S'] as const).some((side) => {
        const s = w.servers[side];
        const l = s.host?.store.byResource(resource);
        return (
          l !== undefined && l.state === 'active' && l.duid === c.duidHex && trueMsOf(s, l.expiresAtSec) >= h.untilMs - w.ledger.toleranceMs
        );
      });
      if (!found) {
        const records = (['P', 'S'] as const)
          .map((side) => {
            const l = w.servers[side].host?.store.byResource(resource);
            return `${side}: ${l ? `${l.state} ${bindingText(l)}` : 'none'}`;
          })
          .join(', ');
        return {
          invariant: 'lease-kept',
          text: `${c.name} holds ${resource} for ${((h.untilMs - now) / 1000).toFixed(0)} s more; ${records}`,
        };
      }
    }
  }
  return undefined;
}

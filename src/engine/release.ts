// RFC 8415 §18.3.7 (Release) and §18.3.8 (Decline): both end leases the
// client names, both answer Success at the top level and NoBinding for each
// IA we hold nothing for. A released lease stays with its client for
// affinitySec so the same client gets it back; a declined address is held
// away from everyone for declineHoldSec.

import { MsgType, StatusCode } from '../wire/constants.js';
import type { ClientServerMessage, Option } from '../wire/types.js';
import type { IaType, LeaseChange } from './lease.js';
import type { IaContext } from './ia.js';

const statusOpt = (code: number, message: string): Option => ({ kind: 'STATUS_CODE', status: code, message });

export function releaseOrDecline(ctx: IaContext, msg: ClientServerMessage): { options: Option[]; changes: LeaseChange[] } {
  const decline = msg.type === MsgType.DECLINE;
  const config = ctx.plan.config;
  const options: Option[] = [];
  const changes: LeaseChange[] = [];
  for (const ia of msg.options) {
    // §18.3.8: Decline concerns addresses only; an IA_PD in it is ignored.
    if (ia.kind !== 'IA_NA' && !(ia.kind === 'IA_PD' && !decline)) continue;
    const type: IaType = ia.kind === 'IA_NA' ? 'na' : 'pd';
    const bound = ctx.view.byIa(ctx.duid, ia.iaid, type).filter((l) => l.state === 'active' && l.expiresAtSec > ctx.nowSec);
    if (bound.length === 0) {
      options.push({
        kind: ia.kind,
        iaid: ia.iaid,
        t1Sec: 0,
        t2Sec: 0,
        options: [statusOpt(StatusCode.NoBinding, 'no binding for this IA')],
      });
      continue;
    }
    const named = new Set<string>();
    for (const o of ia.options) {
      if (o.kind === 'IAADDR') named.add(o.address);
      if (o.kind === 'IAPREFIX') named.add(`${o.prefix}/${o.prefixLength}`);
    }
    // Leases the client names that are not in its IA are ignored (§18.3.7).
    for (const lease of bound) {
      if (!named.has(lease.resource)) continue;
      const next = decline
        ? { ...lease, state: 'declined' as const, clttSec: ctx.nowSec, expiresAtSec: ctx.nowSec + config.declineHoldSec }
        : { ...lease, state: 'released' as const, clttSec: ctx.nowSec, expiresAtSec: ctx.nowSec + config.affinitySec };
      changes.push({ op: 'put', lease: next });
    }
  }
  options.unshift(statusOpt(StatusCode.Success, decline ? 'declined addresses noted' : 'released'));
  return { options, changes };
}

// What a simulated client puts in its messages (RFC 8415 §18.2) and reads
// from the server's: one IA_NA (IAID 1) and/or one IA_PD (IAID 2) per client.

import { MsgType, StatusCode } from '../../wire/constants.js';
import { decodeMessage, encodeMessage } from '../../wire/index.js';
import type { ClientServerMessage, Option } from '../../wire/types.js';

export type LeaseType = 'na' | 'pd';
export const IAID: Record<LeaseType, number> = { na: 1, pd: 2 };
const PD_LENGTH = 56;

export interface Wants {
  readonly na: boolean;
  readonly pd: boolean;
}

/** The leases the client asks about, per IA: the resources it holds or was offered. */
export type Hints = Partial<Record<LeaseType, readonly string[]>>;

function ia(type: LeaseType, resources: readonly string[]): Option {
  const inner: Option[] = [];
  for (const r of resources) {
    if (type === 'na') inner.push({ kind: 'IAADDR', address: r, preferredSec: 0, validSec: 0, options: [] });
    else {
      const [prefix, length] = r.split('/');
      inner.push({ kind: 'IAPREFIX', prefix: prefix!, prefixLength: Number(length), preferredSec: 0, validSec: 0, options: [] });
    }
  }
  // Without a hint, a requesting router says which length it wants (RFC 8415 §18.2.1).
  if (resources.length === 0 && type === 'pd')
    inner.push({ kind: 'IAPREFIX', prefix: '::', prefixLength: PD_LENGTH, preferredSec: 0, validSec: 0, options: [] });
  return { kind: type === 'na' ? 'IA_NA' : 'IA_PD', iaid: IAID[type], t1Sec: 0, t2Sec: 0, options: inner };
}

export interface Outgoing {
  readonly type: number;
  readonly xid: number;
  readonly duid: Uint8Array;
  readonly serverDuid?: Uint8Array;
  readonly elapsedMs: number;
  readonly wants: Wants;
  readonly hints: Hints;
  readonly rapidCommit?: boolean;
}

export function clientMessage(o: Outgoing): Buffer {
  const options: Option[] = [{ kind: 'CLIENTID', duid: o.duid }];
  if (o.serverDuid) options.push({ kind: 'SERVERID', duid: o.serverDuid });
  options.push({ kind: 'ELAPSED_TIME', elapsedCs: Math.min(0xffff, Math.floor(o.elapsedMs / 10)) });
  // Release names only what the client holds; every other message asks for each IA it wants.
  const types = (['na', 'pd'] as const).filter((t) => (o.type === MsgType.RELEASE ? (o.hints[t]?.length ?? 0) > 0 : o.wants[t]));
  for (const t of types) options.push(ia(t, o.hints[t] ?? []));
  if (o.rapidCommit) options.push({ kind: 'RAPID_COMMIT' });
  return encodeMessage({ type: o.type, transactionId: o.xid, options });
}

/** One IA of a server's answer. */
export interface IaAnswer {
  /** Resources with lifetimes, zero lifetimes included (those say "stop using it"). */
  readonly leases: readonly { readonly resource: string; readonly preferredSec: number; readonly validSec: number }[];
  readonly status: number;
  readonly t1Sec: number;
  readonly t2Sec: number;
}

export interface Answer {
  readonly type: number;
  readonly xid: number;
  readonly serverDuid: Uint8Array;
  readonly status: number;
  readonly rapidCommit: boolean;
  readonly preference: number;
  readonly ias: Partial<Record<LeaseType, IaAnswer>>;
  readonly message: ClientServerMessage;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** A server's Advertise or Reply for this client, or undefined for anything else. */
export function readAnswer(bytes: Uint8Array, duid: Uint8Array): Answer | undefined {
  const decoded = decodeMessage(bytes);
  if (!decoded.ok || decoded.message.type === 12 || decoded.message.type === 13) return undefined;
  const m = decoded.message as ClientServerMessage;
  if (m.type !== MsgType.ADVERTISE && m.type !== MsgType.REPLY) return undefined;
  let serverDuid: Uint8Array | undefined;
  let ours = false;
  let status: number = StatusCode.Success;
  let rapidCommit = false;
  let preference = 0;
  const ias: Partial<Record<LeaseType, IaAnswer>> = {};
  for (const o of m.options) {
    if (o.kind === 'SERVERID') serverDuid = o.duid;
    else if (o.kind === 'CLIENTID') ours = sameBytes(o.duid, duid);
    else if (o.kind === 'STATUS_CODE') status = o.status;
    else if (o.kind === 'RAPID_COMMIT') rapidCommit = true;
    else if (o.kind === 'PREFERENCE') preference = o.preference;
    else if ((o.kind === 'IA_NA' && o.iaid === IAID.na) || (o.kind === 'IA_PD' && o.iaid === IAID.pd)) {
      const leases: IaAnswer['leases'][number][] = [];
      let iaStatus: number = StatusCode.Success;
      for (const i of o.options) {
        if (i.kind === 'IAADDR') leases.push({ resource: i.address, preferredSec: i.preferredSec, validSec: i.validSec });
        if (i.kind === 'IAPREFIX')
          leases.push({ resource: `${i.prefix}/${i.prefixLength}`, preferredSec: i.preferredSec, validSec: i.validSec });
        if (i.kind === 'STATUS_CODE') iaStatus = i.status;
      }
      ias[o.kind === 'IA_NA' ? 'na' : 'pd'] = { leases, status: iaStatus, t1Sec: o.t1Sec, t2Sec: o.t2Sec };
    }
  }
  if (!ours || !serverDuid) return undefined;
  return { type: m.type, xid: m.transactionId, serverDuid, status, rapidCommit, preference, ias, message: m };
}

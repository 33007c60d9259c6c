// BNDREPLY content (RFC 8156 §7.6, §7.7). It mirrors the BNDUPD's shape and
// echoes, per lease, the binding-status, the state-expiration-time and, as
// F_PARTNER_LIFETIME_SENT, the partner lifetime received. A Status Code with
// an error can sit on the CLIENT_DATA or top-level IAPREFIX (the whole update
// rejected), on an IA option, or on one IAADDR/IAPREFIX (§7.6, §7.7); its
// absence means accepted, and a success code carries text only.

import { FoStatusCode, isBindingStatus, type BindingStatusCode } from './constants.js';
import { attempt, foFail } from './errors.js';
import { at, decodeFo, foOption, readOptional, type ReadContext } from './options.js';
import { isError, one, readStatus, statusOption, type ContentCodec, type Status } from './content.js';
import { bindingCarrier, defined, iaLeases, type BindingIa, type BindingUpdate, type LeaseState } from './binding.js';
import type { IaAddrOption, IaPrefixOption, Option } from '../types.js';
import { programmerError } from '../writer.js';

/** One lease's answer. Echoes are optional on receipt: a rejecting peer may leave them out. */
export interface LeaseAck {
  readonly status?: Status;
  readonly bindingStatus?: BindingStatusCode;
  readonly stateExpirationTimeSec?: number;
  /**
   * The F_PARTNER_LIFETIME received, "uncorrected and unadjusted" (§5.5.11):
   * the codec unwraps and re-wraps the same 32-bit value, so the echo is
   * byte-exact. The sender stores it as acked-partner-lifetime (§7.7).
   */
  readonly partnerLifetimeSentSec?: number;
}

export interface AddressLeaseAck extends LeaseAck {
  readonly address: string;
  readonly preferredSec: number;
  readonly validSec: number;
}

export interface PrefixLeaseAck extends LeaseAck {
  readonly prefix: string;
  readonly prefixLength: number;
  readonly preferredSec: number;
  readonly validSec: number;
}

export type BindingIaAck =
  | {
      readonly type: 'IA_NA';
      readonly iaid: number;
      readonly t1Sec: number;
      readonly t2Sec: number;
      readonly status?: Status;
      readonly leases: readonly AddressLeaseAck[];
    }
  | { readonly type: 'IA_TA'; readonly iaid: number; readonly status?: Status; readonly leases: readonly AddressLeaseAck[] }
  | {
      readonly type: 'IA_PD';
      readonly iaid: number;
      readonly t1Sec: number;
      readonly t2Sec: number;
      readonly status?: Status;
      readonly leases: readonly PrefixLeaseAck[];
    };

export interface ClientBindingReply {
  readonly form: 'client';
  /** §7.6 lists it; absent only when the update was too broken to name its client. */
  readonly clientDuid?: Uint8Array;
  readonly vss?: Uint8Array;
  readonly status?: Status;
  readonly ias: readonly BindingIaAck[];
}

export interface PoolPrefixReply extends LeaseAck {
  readonly form: 'prefix';
  readonly prefix: string;
  readonly prefixLength: number;
  readonly preferredSec: number;
  readonly validSec: number;
  readonly vss?: Uint8Array;
}

/**
 * Our extension for a BNDUPD that held neither a CLIENT_DATA nor an IAPREFIX
 * we could read: §7.5.3 still wants a BNDREPLY with the same xid (or the
 * sender's unacked window never drains), but there is no shape to mirror, so
 * the Status Code (MissingBindingInformation) goes at the top level.
 */
export interface BareBindingReply {
  readonly form: 'bare';
  readonly status: Status;
}

export type BindingReply = ClientBindingReply | PoolPrefixReply | BareBindingReply;

// ---- encode --------------------------------------------------------------

function ackOptions(a: LeaseAck): Option[] {
  const out: Option[] = [];
  if (a.status) out.push(statusOption(a.status));
  if (a.bindingStatus !== undefined) {
    if (!isBindingStatus(a.bindingStatus)) programmerError(`binding-status ${a.bindingStatus}`);
    out.push(foOption('F_BINDING_STATUS', a.bindingStatus));
  }
  if (a.stateExpirationTimeSec !== undefined) out.push(foOption('F_STATE_EXPIRATION_TIME', a.stateExpirationTimeSec));
  if (a.partnerLifetimeSentSec !== undefined) out.push(foOption('F_PARTNER_LIFETIME_SENT', a.partnerLifetimeSentSec));
  return out;
}

const addrAck = (l: AddressLeaseAck): IaAddrOption => ({
  kind: 'IAADDR',
  address: l.address,
  preferredSec: l.preferredSec,
  validSec: l.validSec,
  options: ackOptions(l),
});

const prefixAck = (l: PrefixLeaseAck, extra: Option[] = []): IaPrefixOption => ({
  kind: 'IAPREFIX',
  preferredSec: l.preferredSec,
  validSec: l.validSec,
  prefixLength: l.prefixLength,
  prefix: l.prefix,
  options: [...extra, ...ackOptions(l)],
});

function iaAckOption(ia: BindingIaAck): Option {
  const status = ia.status ? [statusOption(ia.status)] : [];
  switch (ia.type) {
    case 'IA_NA':
      return { kind: 'IA_NA', iaid: ia.iaid, t1Sec: ia.t1Sec, t2Sec: ia.t2Sec, options: [...status, ...ia.leases.map(addrAck)] };
    case 'IA_TA':
      return { kind: 'IA_TA', iaid: ia.iaid, options: [...status, ...ia.leases.map(addrAck)] };
    case 'IA_PD':
      return {
        kind: 'IA_PD',
        iaid: ia.iaid,
        t1Sec: ia.t1Sec,
        t2Sec: ia.t2Sec,
        options: [...status, ...ia.leases.map((l) => prefixAck(l))],
      };
  }
}

function encodeReply(r: BindingReply): Option[] {
  switch (r.form) {
    case 'bare':
      return [statusOption(r.status)];
    case 'prefix':
      return [prefixAck(r, r.vss ? [foOption('VSS', r.vss)] : [])];
    case 'client': {
      const subs: Option[] = [];
      if (r.clientDuid) subs.push({ kind: 'CLIENTID', duid: r.clientDuid });
      if (r.vss) subs.push(foOption('VSS', r.vss));
      if (r.status) subs.push(statusOption(r.status));
      for (const ia of r.ias) subs.push(iaAckOption(ia));
      return [foOption('CLIENT_DATA', subs)];
    }
  }
}

// ---- read ----------------------------------------------------------------

function readAck(options: readonly Option[], ctx: ReadContext): LeaseAck {
  return defined({
    status: readStatus(options, ctx),
    bindingStatus: readOptional(options, 'F_BINDING_STATUS', ctx),
    stateExpirationTimeSec: readOptional(options, 'F_STATE_EXPIRATION_TIME', ctx),
    partnerLifetimeSentSec: readOptional(options, 'F_PARTNER_LIFETIME_SENT', ctx),
  });
}

function readIaAck(o: Option, ctx: ReadContext): BindingIaAck | undefined {
  if (o.kind !== 'IA_NA' && o.kind !== 'IA_TA' && o.kind !== 'IA_PD') return undefined;
  const c = { ...ctx, where: `${ctx.where}${o.kind} ${o.iaid} > ` };
  const status = readStatus(o.options, c);
  const head = status ? { status } : {};
  if (o.kind === 'IA_PD') {
    const leases = iaLeases(o.options, 'IAPREFIX', c).map((p) => ({
      prefix: p.prefix,
      prefixLength: p.prefixLength,
      preferredSec: p.preferredSec,
      validSec: p.validSec,
      ...readAck(p.options, { ...c, where: `${c.where}IAPREFIX ${p.prefix}/${p.prefixLength} > ` }),
    }));
    return { type: 'IA_PD', iaid: o.iaid, t1Sec: o.t1Sec, t2Sec: o.t2Sec, ...head, leases };
  }
  const leases = iaLeases(o.options, 'IAADDR', c).map((a) => ({
    address: a.address,
    preferredSec: a.preferredSec,
    validSec: a.validSec,
    ...readAck(a.options, { ...c, where: `${c.where}IAADDR ${a.address} > ` }),
  }));
  return o.kind === 'IA_NA'
    ? { type: 'IA_NA', iaid: o.iaid, t1Sec: o.t1Sec, t2Sec: o.t2Sec, ...head, leases }
    : { type: 'IA_TA', iaid: o.iaid, ...head, leases };
}

function readClientReply(o: Option, ctx: ReadContext): ClientBindingReply {
  const c = { ...at(o, ctx), where: `${ctx.where}CLIENT_DATA > ` };
  const subs = decodeFo('CLIENT_DATA', o, c);
  const ias: BindingIaAck[] = [];
  for (const s of subs) {
    const ia = readIaAck(s, c);
    if (ia) ias.push(ia);
  }
  const head = defined({ clientDuid: one(subs, 'CLIENTID', c)?.duid, vss: readOptional(subs, 'VSS', c), status: readStatus(subs, c) });
  return { form: 'client', ...head, ias };
}

function readPrefixReply(p: IaPrefixOption, ctx: ReadContext): PoolPrefixReply {
  const c = { ...at(p, ctx), where: `${ctx.where}IAPREFIX ${p.prefix}/${p.prefixLength} > ` };
  const vss = readOptional(p.options, 'VSS', c);
  return {
    form: 'prefix',
    prefix: p.prefix,
    prefixLength: p.prefixLength,
    preferredSec: p.preferredSec,
    validSec: p.validSec,
    ...(vss && { vss }),
    ...readAck(p.options, c),
  };
}

export const bindingReplyCodec: ContentCodec<BindingReply> = {
  encode: encodeReply,
  read(options, ctx) {
    const carrier = bindingCarrier(options, ctx);
    if (carrier) return carrier.kind === 'IAPREFIX' ? readPrefixReply(carrier, ctx) : readClientReply(carrier, ctx);
    const status = readStatus(options, ctx);
    if (!status) return foFail('missing-option', ctx.at, `${ctx.where}CLIENT_DATA, IAPREFIX or a Status Code is required (§7.6)`);
    return { form: 'bare', status };
  },
};

// ---- building the answer -------------------------------------------------

/** Decides one lease of a received update: undefined accepts it (§7.6: no Status Code). */
export type LeaseVerdict = (
  lease: LeaseState & ({ address: string } | { prefix: string; prefixLength: number }),
  ia: BindingIa | undefined,
) => Status | undefined;

/**
 * The BNDREPLY for `update` (§7.6): same shape, each lease echoing its
 * binding-status, state-expiration-time and partner lifetime. `whole`, when
 * it is an error, rejects the entire update (e.g. ConfigurationConflict for
 * an unknown VPN, §7.5.4); otherwise `verdict` decides each lease.
 */
export function bindingReplyFor(update: BindingUpdate, verdict: LeaseVerdict = () => undefined, whole?: Status): BindingReply {
  const echo = (l: LeaseState, s: Status | undefined): LeaseAck =>
    defined({
      status: s,
      bindingStatus: l.status,
      stateExpirationTimeSec: l.stateExpirationTimeSec,
      partnerLifetimeSentSec: l.partnerLifetimeSec,
    });
  const rejected = isError(whole);
  if (update.form === 'prefix') {
    const { prefix, prefixLength, preferredSec, validSec, vss } = update;
    const ack = echo(update, rejected ? whole : (verdict(update, undefined) ?? whole));
    return { form: 'prefix', prefix, prefixLength, preferredSec, validSec, ...(vss && { vss }), ...ack };
  }
  const ias = update.ias.map((ia): BindingIaAck => {
    const one = <L extends LeaseState & ({ address: string } | { prefix: string; prefixLength: number })>(l: L) =>
      rejected ? undefined : verdict(l, ia);
    if (ia.type === 'IA_PD') {
      const leases = ia.leases.map((l) => ({
        prefix: l.prefix,
        prefixLength: l.prefixLength,
        preferredSec: l.preferredSec,
        validSec: l.validSec,
        ...echo(l, one(l)),
      }));
      return { type: 'IA_PD', iaid: ia.iaid, t1Sec: ia.t1Sec, t2Sec: ia.t2Sec, leases };
    }
    const leases = ia.leases.map((l) => ({ address: l.address, preferredSec: l.preferredSec, validSec: l.validSec, ...echo(l, one(l)) }));
    return ia.type === 'IA_NA'
      ? { type: 'IA_NA', iaid: ia.iaid, t1Sec: ia.t1Sec, t2Sec: ia.t2Sec, leases }
      : { type: 'IA_TA', iaid: ia.iaid, leases };
  });
  return { form: 'client', clientDuid: update.clientDuid, ...(update.vss && { vss: update.vss }), ...(whole && { status: whole }), ias };
}

/**
 * The BNDREPLY for a BNDUPD that could not be read: §7.5.3 rejects it with
 * MissingBindingInformation, and §7.6 answers every BNDUPD, mirroring its one
 * CLIENT_DATA (with the client's DUID when that much reads) or IAPREFIX. With
 * neither to mirror — or options that did not even frame — the status goes
 * alone (the 'bare' form). options: the update's top-level options, if they framed.
 */
export function unusableUpdateReply(options: readonly Option[] | undefined, detail: string): BindingReply {
  const status: Status = { code: FoStatusCode.MissingBindingInformation, message: detail };
  const ctx: ReadContext = { nowUnixSec: 0, at: 0, where: '' };
  const carrier = options && attempt(() => bindingCarrier(options, ctx));
  if (!carrier?.ok || !carrier.value) return { form: 'bare', status };
  const o = carrier.value;
  if (o.kind === 'IAPREFIX')
    return { form: 'prefix', prefix: o.prefix, prefixLength: o.prefixLength, preferredSec: o.preferredSec, validSec: o.validSec, status };
  const subs = attempt(() => decodeFo('CLIENT_DATA', o, ctx));
  const duid = subs.ok ? attempt(() => one(subs.value, 'CLIENTID', ctx)?.duid) : undefined;
  return { form: 'client', ...(duid?.ok && duid.value && { clientDuid: duid.value }), status, ias: [] };
}

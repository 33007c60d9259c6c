// BNDUPD content (RFC 8156 §7.4) as a plain record. A binding update is one
// of two shapes (§5.3.1, §7.5.3: "MUST contain either a single
// OPTION_CLIENT_DATA option or a single OPTION_IAPREFIX option"):
//  - a client: CLIENT_DATA holding its DUID, base time, and IA_NA/IA_TA/IA_PD
//    options whose IAADDR/IAPREFIX carry the lease's failover times;
//  - a delegable prefix owned by no client (pool balancing, §4.2.2): a
//    top-level IAPREFIX.
// The failover layer builds and reads these records; only this file knows
// where each time sits in the option tree.

import { isBindingStatus, type BindingStatusCode } from './constants.js';
import { foFail } from './errors.js';
import {
  at,
  decodeFo,
  foOption,
  isFo,
  readOptional,
  readRequired,
  type DnsRemovalInfo,
  type ReadContext,
  type ReconfigureData,
} from './options.js';
import { one, type ContentCodec } from './content.js';
import type { IaAddrOption, IaPrefixOption, Option, UnknownOption } from '../types.js';
import { OptionCode } from '../constants.js';
import { programmerError } from '../writer.js';

/** What §7.3 keeps per lease and §7.4 sends. Times are absolute, Unix seconds. */
export interface LeaseState {
  readonly status: BindingStatusCode;
  readonly startTimeOfStateSec: number;
  /** Only when the status has a timeout (§7.4 "*"); which ones do is the implementation's choice (§7.2). */
  readonly stateExpirationTimeSec?: number;
  /**
   * The sender's last real interaction with the client (§7.4: never, e.g., the
   * expiry). Sent as CLT_TIME, relative to the base time; the receiver stores
   * base − CLT_TIME as partner-raw-clt-time, uncorrected (§7.5.5). A time
   * after the base time (the clock stepped back) is sent as 0, "just now".
   */
  readonly clientLastTransactionTimeSec?: number;
  readonly partnerLifetimeSec?: number;
  readonly partnerRawCltTimeSec?: number;
  readonly expirationTimeSec?: number;
  /** RFC 4704 CLIENT_FQDN body, as octets. */
  readonly clientFqdn?: Uint8Array;
  readonly dnsRemovalInfo?: DnsRemovalInfo;
}

/** Lifetimes are those sent to the client (§7.4), intervals in seconds. */
export interface AddressLease extends LeaseState {
  readonly address: string;
  readonly preferredSec: number;
  readonly validSec: number;
}

export interface PrefixLease extends LeaseState {
  readonly prefix: string;
  readonly prefixLength: number;
  readonly preferredSec: number;
  readonly validSec: number;
}

/** T1/T2 are those sent to the client (§7.4); IA_TA has none (RFC 8415 §21.5). */
export type BindingIa =
  | {
      readonly type: 'IA_NA';
      readonly iaid: number;
      readonly t1Sec: number;
      readonly t2Sec: number;
      readonly leases: readonly AddressLease[];
    }
  | { readonly type: 'IA_TA'; readonly iaid: number; readonly leases: readonly AddressLease[] }
  | {
      readonly type: 'IA_PD';
      readonly iaid: number;
      readonly t1Sec: number;
      readonly t2Sec: number;
      readonly leases: readonly PrefixLease[];
    };

export interface ClientBindingUpdate {
  readonly form: 'client';
  readonly clientDuid: Uint8Array;
  /** LQ_BASE_TIME: when this data was put in the message (§7.4, RFC 7653 §6.3.1). */
  readonly baseTimeSec: number;
  /** RFC 6607 VSS body, only for a non-default VPN (§7.4). */
  readonly vss?: Uint8Array;
  readonly reconfigure?: ReconfigureData;
  /** RFC 5007 LQ_RELAY_DATA body, as octets. */
  readonly relayData?: Uint8Array;
  /** RFC 8415 §21.17 options in CLIENT_DATA, in order; twin6's requesting router is one (twin6-via.ts). */
  readonly vendorOptions?: readonly VendorOption[];
  /** At least one (§7.4). */
  readonly ias: readonly BindingIa[];
}

/** One OPTION_VENDOR_OPTS: its enterprise number, and the option-data after it. */
export interface VendorOption {
  readonly enterpriseNumber: number;
  readonly data: Uint8Array;
}

/** A delegable prefix that belongs to no client (§7.4, second form); lifetimes are normally 0. */
export interface PoolPrefixUpdate extends Pick<
  LeaseState,
  'status' | 'startTimeOfStateSec' | 'stateExpirationTimeSec' | 'partnerLifetimeSec' | 'expirationTimeSec'
> {
  readonly form: 'prefix';
  readonly prefix: string;
  readonly prefixLength: number;
  readonly preferredSec: number;
  readonly validSec: number;
  readonly baseTimeSec: number;
  readonly vss?: Uint8Array;
}

export type BindingUpdate = ClientBindingUpdate | PoolPrefixUpdate;

// ---- encode --------------------------------------------------------------

const MAX_U32 = 0xffff_ffff;

function leaseOptions(l: LeaseState, baseTimeSec: number): Option[] {
  if (!isBindingStatus(l.status)) programmerError(`binding-status ${l.status}`);
  const out: Option[] = [foOption('F_BINDING_STATUS', l.status), foOption('F_START_TIME_OF_STATE', l.startTimeOfStateSec)];
  if (l.stateExpirationTimeSec !== undefined) out.push(foOption('F_STATE_EXPIRATION_TIME', l.stateExpirationTimeSec));
  if (l.clientLastTransactionTimeSec !== undefined) {
    const clt = Math.min(MAX_U32, Math.max(0, Math.floor(baseTimeSec) - Math.floor(l.clientLastTransactionTimeSec)));
    out.push(foOption('CLT_TIME', clt));
  }
  if (l.partnerLifetimeSec !== undefined) out.push(foOption('F_PARTNER_LIFETIME', l.partnerLifetimeSec));
  if (l.partnerRawCltTimeSec !== undefined) out.push(foOption('F_PARTNER_RAW_CLT_TIME', l.partnerRawCltTimeSec));
  if (l.expirationTimeSec !== undefined) out.push(foOption('F_EXPIRATION_TIME', l.expirationTimeSec));
  if (l.clientFqdn) out.push(foOption('CLIENT_FQDN', l.clientFqdn));
  if (l.dnsRemovalInfo) out.push(foOption('F_DNS_REMOVAL_INFO', l.dnsRemovalInfo));
  return out;
}

const addrOption = (l: AddressLease, base: number): IaAddrOption => ({
  kind: 'IAADDR',
  address: l.address,
  preferredSec: l.preferredSec,
  validSec: l.validSec,
  options: leaseOptions(l, base),
});

const prefixOption = (l: PrefixLease, base: number): IaPrefixOption => ({
  kind: 'IAPREFIX',
  preferredSec: l.preferredSec,
  validSec: l.validSec,
  prefixLength: l.prefixLength,
  prefix: l.prefix,
  options: leaseOptions(l, base),
});

function iaOption(ia: BindingIa, base: number): Option {
  if (ia.leases.length === 0) programmerError(`${ia.type} ${ia.iaid} without a lease (§7.4: IAADDR/IAPREFIX MUST appear)`);
  switch (ia.type) {
    case 'IA_NA':
      return { kind: 'IA_NA', iaid: ia.iaid, t1Sec: ia.t1Sec, t2Sec: ia.t2Sec, options: ia.leases.map((l) => addrOption(l, base)) };
    case 'IA_TA':
      return { kind: 'IA_TA', iaid: ia.iaid, options: ia.leases.map((l) => addrOption(l, base)) };
    case 'IA_PD':
      return { kind: 'IA_PD', iaid: ia.iaid, t1Sec: ia.t1Sec, t2Sec: ia.t2Sec, options: ia.leases.map((l) => prefixOption(l, base)) };
  }
}

/** CLIENT_DATA sub-options in §7.4's order. */
function clientDataOptions(b: ClientBindingUpdate): Option[] {
  if (b.ias.length === 0) programmerError('a client binding update without an IA option (§7.4: at least one MUST appear)');
  const out: Option[] = [{ kind: 'CLIENTID', duid: b.clientDuid }, foOption('LQ_BASE_TIME', b.baseTimeSec)];
  if (b.vss) out.push(foOption('VSS', b.vss));
  if (b.reconfigure) out.push(foOption('F_RECONFIGURE_DATA', b.reconfigure));
  if (b.relayData) out.push(foOption('LQ_RELAY_DATA', b.relayData));
  for (const v of b.vendorOptions ?? []) out.push(vendorOption(v));
  for (const ia of b.ias) out.push(iaOption(ia, b.baseTimeSec));
  return out;
}

function vendorOption(v: VendorOption): UnknownOption {
  const data = new Uint8Array(4 + v.data.length);
  new DataView(data.buffer).setUint32(0, v.enterpriseNumber);
  data.set(v.data, 4);
  return { kind: 'UNKNOWN', code: OptionCode.VENDOR_OPTS, data };
}

function poolPrefixOption(p: PoolPrefixUpdate): IaPrefixOption {
  const inner: Option[] = [];
  if (p.vss) inner.push(foOption('VSS', p.vss));
  inner.push(foOption('LQ_BASE_TIME', p.baseTimeSec), ...leaseOptions(p, p.baseTimeSec));
  return {
    kind: 'IAPREFIX',
    preferredSec: p.preferredSec,
    validSec: p.validSec,
    prefixLength: p.prefixLength,
    prefix: p.prefix,
    options: inner,
  };
}

// ---- read ----------------------------------------------------------------

function readLease(options: readonly Option[], baseTimeSec: number, ctx: ReadContext): LeaseState {
  const clt = readOptional(options, 'CLT_TIME', ctx);
  const opt = {
    stateExpirationTimeSec: readOptional(options, 'F_STATE_EXPIRATION_TIME', ctx),
    clientLastTransactionTimeSec: clt === undefined ? undefined : baseTimeSec - clt,
    partnerLifetimeSec: readOptional(options, 'F_PARTNER_LIFETIME', ctx),
    partnerRawCltTimeSec: readOptional(options, 'F_PARTNER_RAW_CLT_TIME', ctx),
    expirationTimeSec: readOptional(options, 'F_EXPIRATION_TIME', ctx),
    clientFqdn: readOptional(options, 'CLIENT_FQDN', ctx),
    dnsRemovalInfo: readOptional(options, 'F_DNS_REMOVAL_INFO', ctx),
  };
  return {
    status: readRequired(options, 'F_BINDING_STATUS', ctx),
    startTimeOfStateSec: readRequired(options, 'F_START_TIME_OF_STATE', ctx),
    ...defined(opt),
  };
}

/** Drops undefined fields, so decoded records deep-equal built ones. */
export function defined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** The leases of one IA option: IAADDR in IA_NA/IA_TA, IAPREFIX in IA_PD, nothing else of either. */
export function iaLeases<K extends 'IAADDR' | 'IAPREFIX'>(
  options: readonly Option[],
  kind: K,
  ctx: ReadContext,
): (K extends 'IAADDR' ? IaAddrOption : IaPrefixOption)[] {
  const wrong = kind === 'IAADDR' ? 'IAPREFIX' : 'IAADDR';
  if (options.some((o) => o.kind === wrong)) foFail('bad-structure', ctx.at, `${ctx.where}${wrong} where ${kind} belongs`);
  return options.filter((o) => o.kind === kind) as (K extends 'IAADDR' ? IaAddrOption : IaPrefixOption)[];
}

function readIa(o: Option, base: number, ctx: ReadContext): BindingIa | undefined {
  if (o.kind !== 'IA_NA' && o.kind !== 'IA_TA' && o.kind !== 'IA_PD') return undefined;
  const c = { ...ctx, where: `${ctx.where}${o.kind} ${o.iaid} > ` };
  const leaf = o.kind === 'IA_PD' ? 'IAPREFIX' : 'IAADDR';
  const found = iaLeases(o.options, leaf, c);
  if (found.length === 0) foFail('missing-option', c.at, `${c.where}${leaf} is required (§7.4)`);
  if (o.kind === 'IA_PD') {
    const leases = (found as IaPrefixOption[]).map((p) => ({
      prefix: p.prefix,
      prefixLength: p.prefixLength,
      preferredSec: p.preferredSec,
      validSec: p.validSec,
      ...readLease(p.options, base, { ...c, where: `${c.where}IAPREFIX ${p.prefix}/${p.prefixLength} > ` }),
    }));
    return { type: 'IA_PD', iaid: o.iaid, t1Sec: o.t1Sec, t2Sec: o.t2Sec, leases };
  }
  const leases = (found as IaAddrOption[]).map((a) => ({
    address: a.address,
    preferredSec: a.preferredSec,
    validSec: a.validSec,
    ...readLease(a.options, base, { ...c, where: `${c.where}IAADDR ${a.address} > ` }),
  }));
  return o.kind === 'IA_NA'
    ? { type: 'IA_NA', iaid: o.iaid, t1Sec: o.t1Sec, t2Sec: o.t2Sec, leases }
    : { type: 'IA_TA', iaid: o.iaid, leases };
}

function readClientData(o: Option, ctx: ReadContext): ClientBindingUpdate {
  const c = { ...at(o, ctx), where: `${ctx.where}CLIENT_DATA > ` };
  const subs = decodeFo('CLIENT_DATA', o, c);
  const id = one(subs, 'CLIENTID', c);
  if (!id) return foFail('missing-option', c.at, `${c.where}CLIENTID is required (§7.4)`);
  const baseTimeSec = readRequired(subs, 'LQ_BASE_TIME', c);
  const ias: BindingIa[] = [];
  for (const s of subs) {
    const ia = readIa(s, baseTimeSec, c);
    if (ia) ias.push(ia);
  }
  if (ias.length === 0) foFail('missing-option', c.at, `${c.where}an IA_NA, IA_TA or IA_PD is required (§7.4)`);
  const opt = {
    vss: readOptional(subs, 'VSS', c),
    reconfigure: readOptional(subs, 'F_RECONFIGURE_DATA', c),
    relayData: readOptional(subs, 'LQ_RELAY_DATA', c),
    vendorOptions: readVendorOptions(subs),
  };
  return { form: 'client', clientDuid: id.duid, baseTimeSec, ...defined(opt), ias };
}

/** A VENDOR_OPTS too short to hold an enterprise number belongs to no vendor: ignored. */
function readVendorOptions(subs: readonly Option[]): VendorOption[] | undefined {
  const found = subs.filter((o): o is UnknownOption => o.kind === 'UNKNOWN' && o.code === OptionCode.VENDOR_OPTS && o.data.length >= 4);
  if (found.length === 0) return undefined;
  return found.map((o) => ({ enterpriseNumber: new DataView(o.data.buffer, o.data.byteOffset).getUint32(0), data: o.data.subarray(4) }));
}

function readPoolPrefix(p: IaPrefixOption, ctx: ReadContext): PoolPrefixUpdate {
  const c = { ...at(p, ctx), where: `${ctx.where}IAPREFIX ${p.prefix}/${p.prefixLength} > ` };
  const baseTimeSec = readRequired(p.options, 'LQ_BASE_TIME', c);
  const l = readLease(p.options, baseTimeSec, c);
  const opt = {
    vss: readOptional(p.options, 'VSS', c),
    stateExpirationTimeSec: l.stateExpirationTimeSec,
    partnerLifetimeSec: l.partnerLifetimeSec,
    expirationTimeSec: l.expirationTimeSec,
  };
  return {
    form: 'prefix',
    prefix: p.prefix,
    prefixLength: p.prefixLength,
    preferredSec: p.preferredSec,
    validSec: p.validSec,
    baseTimeSec,
    status: l.status,
    startTimeOfStateSec: l.startTimeOfStateSec,
    ...defined(opt),
  };
}

/**
 * The single CLIENT_DATA or top-level IAPREFIX of a BNDUPD/BNDREPLY
 * (§7.5.3), or undefined when there is neither; more than one is an error.
 */
export function bindingCarrier(options: readonly Option[], ctx: ReadContext): Option | undefined {
  const carriers = options.filter((o) => isFo(o, 'CLIENT_DATA') || o.kind === 'IAPREFIX');
  if (carriers.length > 1) {
    foFail('bad-structure', at(carriers[1]!, ctx).at, `${ctx.where}more than one CLIENT_DATA/IAPREFIX (§7.5.3: exactly one)`);
  }
  return carriers[0];
}

export const bindingUpdateCodec: ContentCodec<BindingUpdate> = {
  encode: (b) => (b.form === 'client' ? [foOption('CLIENT_DATA', clientDataOptions(b))] : [poolPrefixOption(b)]),
  read(options, ctx) {
    const carrier = bindingCarrier(options, ctx);
    if (!carrier) return foFail('missing-option', ctx.at, `${ctx.where}CLIENT_DATA or IAPREFIX is required (§7.5.3)`);
    return carrier.kind === 'IAPREFIX' ? readPoolPrefix(carrier, ctx) : readClientData(carrier, ctx);
  },
};

// The content of the connection-level messages: CONNECT and CONNECTREPLY
// (RFC 8156 §6.1), STATE (§6.3, §6.4), DISCONNECT (§5.3.10) and the REPLY
// that answers STARTTLS (RFC 7653 §8.2). Each has a typed record, a builder
// to options and a reader from options that checks what the RFC says MUST be
// there. Policy (is this version supported? is the MCLT ours?) is not the
// codec's: it decodes any value and leaves the verdict to the connection.

import { ServerState, type ServerStateValue } from './constants.js';
import { foFail } from './errors.js';
import {
  at,
  foOption,
  isFo,
  readOptional,
  readRequired,
  type ConnectFlags,
  type ProtocolVersion,
  type ReadContext,
  type ServerFlags,
} from './options.js';
import type { Option, OptionKind, OptionOf } from '../types.js';
import { programmerError } from '../writer.js';

/** OPTION_STATUS_CODE (RFC 8415 §21.13) as the failover layer sees it. */
export interface Status {
  readonly code: number;
  /** UTF-8 text for the partner's log; §5.3.10: DISCONNECT SHOULD say why. */
  readonly message: string;
}

/** What CONNECT carries (§6.1.1) and an accepting CONNECTREPLY echoes (§6.1.2). */
export interface ConnectParams {
  readonly protocolVersion: ProtocolVersion;
  readonly mcltSec: number;
  readonly keepaliveSec: number;
  readonly maxUnackedBndupd: number;
  /** Absent: "only a single relationship between this pair" (§6.1.1). */
  readonly relationshipName?: string;
  readonly connectFlags: ConnectFlags;
}

/**
 * §6.1.2: a CONNECTREPLY either accepts (the parameters, no error status) or
 * rejects "by including an OPTION_STATUS_CODE option with an error". A
 * rejection need not carry the parameters.
 */
export interface ConnectReplyContent {
  readonly params?: ConnectParams;
  readonly status?: Status;
}

/** §6.3. Times are absolute, Unix seconds. */
export interface StateContent {
  readonly serverState: ServerStateValue;
  readonly serverFlags: ServerFlags;
  readonly startTimeOfStateSec: number;
  /** Present when serverState is PARTNER_DOWN (§6.3), optional with the STARTUP flag (§8.3.1); §6.4 forgets it otherwise. */
  readonly partnerDownTimeSec?: number;
}

/** DISCONNECT (§5.3.10) and the REPLY to STARTTLS (RFC 7653 §8.2: no status = go ahead). */
export interface StatusOnlyContent {
  readonly status?: Status;
}

/** POOLREQ, POOLRESP, UPDREQ, UPDREQALL, UPDDONE, CONTACT and STARTTLS carry nothing we read. */
export type EmptyContent = Readonly<Record<never, never>>;

export interface ContentCodec<C> {
  encode(content: C): Option[];
  /** Throws FailoverFailure. Options it does not know are ignored (room for extensions, RFC 7031 §7). */
  read(options: readonly Option[], ctx: ReadContext): C;
}

/** The one option of a shared kind at this level, or undefined; a second one is an error. */
export function one<K extends OptionKind>(options: readonly Option[], kind: K, ctx: ReadContext): OptionOf<K> | undefined {
  let found: OptionOf<K> | undefined;
  for (const o of options) {
    if (o.kind !== kind) continue;
    if (found) foFail('duplicate-option', at(o, ctx).at, `${ctx.where}${kind} appears more than once`);
    found = o as OptionOf<K>;
  }
  return found;
}

export const statusOption = (s: Status): Option => ({ kind: 'STATUS_CODE', status: s.code, message: s.message });

export function readStatus(options: readonly Option[], ctx: ReadContext): Status | undefined {
  const o = one(options, 'STATUS_CODE', ctx);
  return o && { code: o.status, message: o.message };
}

/** An error status: present and not Success (RFC 8156 §7.7: success "has no bearing"). */
export const isError = (s: Status | undefined): s is Status => s !== undefined && s.code !== 0;

function encodeParams(p: ConnectParams): Option[] {
  const out: Option[] = [
    foOption('F_PROTOCOL_VERSION', p.protocolVersion),
    foOption('F_MCLT', p.mcltSec),
    foOption('F_KEEPALIVE_TIME', p.keepaliveSec),
    foOption('F_MAX_UNACKED_BNDUPD', p.maxUnackedBndupd),
  ];
  if (p.relationshipName !== undefined) out.push(foOption('F_RELATIONSHIP_NAME', p.relationshipName));
  out.push(foOption('F_CONNECT_FLAGS', p.connectFlags));
  return out;
}

function readParams(options: readonly Option[], ctx: ReadContext): ConnectParams {
  const relationshipName = readOptional(options, 'F_RELATIONSHIP_NAME', ctx);
  return {
    protocolVersion: readRequired(options, 'F_PROTOCOL_VERSION', ctx),
    mcltSec: readRequired(options, 'F_MCLT', ctx),
    keepaliveSec: readRequired(options, 'F_KEEPALIVE_TIME', ctx),
    maxUnackedBndupd: readRequired(options, 'F_MAX_UNACKED_BNDUPD', ctx),
    ...(relationshipName !== undefined && { relationshipName }),
    connectFlags: readRequired(options, 'F_CONNECT_FLAGS', ctx),
  };
}

/** §6.1.1: every item of the list is a MUST except the relationship name. */
export const connectCodec: ContentCodec<ConnectParams> = { encode: encodeParams, read: readParams };

const PARAM_OPTIONS = ['F_PROTOCOL_VERSION', 'F_MCLT', 'F_KEEPALIVE_TIME', 'F_MAX_UNACKED_BNDUPD', 'F_CONNECT_FLAGS'] as const;

export const connectReplyCodec: ContentCodec<ConnectReplyContent> = {
  encode(c) {
    if (!c.params && !isError(c.status)) programmerError('an accepting CONNECTREPLY needs its parameters (§6.1.2)');
    return [...(c.params ? encodeParams(c.params) : []), ...(c.status ? [statusOption(c.status)] : [])];
  },
  read(options, ctx) {
    const status = readStatus(options, ctx);
    // A rejection may omit the parameters; if it sends them they must still parse.
    const hasParams = options.some((o) => PARAM_OPTIONS.some((name) => isFo(o, name)));
    const params = isError(status) && !hasParams ? undefined : readParams(options, ctx);
    return { ...(params && { params }), ...(status && { status }) };
  },
};

/**
 * §6.3: F_PARTNER_DOWN_TIME goes with a server in PARTNER-DOWN. A server in
 * STARTUP reports its PREVIOUS-STATE with the STARTUP flag (§8.3.1) and is in
 * no state of the table yet: when that is PARTNER-DOWN the time may go along
 * (the partner's §8.3.2 step 5 compares it with its own last operation) but
 * need not.
 */
const partnerDownTime = (s: { serverState: number; serverFlags: ServerFlags }): 'required' | 'allowed' | 'absent' =>
  s.serverState !== ServerState.PARTNER_DOWN ? 'absent' : s.serverFlags.startup ? 'allowed' : 'required';

export const stateCodec: ContentCodec<StateContent> = {
  encode(s) {
    const rule = partnerDownTime(s);
    if (s.partnerDownTimeSec === undefined ? rule === 'required' : rule === 'absent') {
      programmerError('STATE carries F_PARTNER_DOWN_TIME in PARTNER-DOWN, and only there (§6.3)');
    }
    const out = [
      foOption('F_SERVER_STATE', s.serverState),
      foOption('F_SERVER_FLAGS', s.serverFlags),
      foOption('F_START_TIME_OF_STATE', s.startTimeOfStateSec),
    ];
    if (s.partnerDownTimeSec !== undefined) out.push(foOption('F_PARTNER_DOWN_TIME', s.partnerDownTimeSec));
    return out;
  },
  read(options, ctx) {
    const serverState = readRequired(options, 'F_SERVER_STATE', ctx); // 1..10, checked by its codec
    const serverFlags = readRequired(options, 'F_SERVER_FLAGS', ctx);
    const startTimeOfStateSec = readRequired(options, 'F_START_TIME_OF_STATE', ctx);
    const down = readOptional(options, 'F_PARTNER_DOWN_TIME', ctx);
    const rule = partnerDownTime({ serverState, serverFlags });
    // §6.4: "If the state is not PARTNER-DOWN, clear any memory of the
    // partner-down-time": one that is sent anyway is read and dropped.
    if (rule === 'absent' || down === undefined) {
      // §6.3 makes it a MUST in PARTNER-DOWN, and STARTUP (§8.3.2) compares it
      // with our own down time to choose RECOVER or POTENTIAL-CONFLICT.
      if (rule === 'required') return foFail('missing-option', ctx.at, `${ctx.where}F_PARTNER_DOWN_TIME is required in PARTNER-DOWN`);
      return { serverState, serverFlags, startTimeOfStateSec };
    }
    return { serverState, serverFlags, startTimeOfStateSec, partnerDownTimeSec: down };
  },
};

export const statusOnlyCodec: ContentCodec<StatusOnlyContent> = {
  encode: (c) => (c.status ? [statusOption(c.status)] : []),
  read(options, ctx) {
    const status = readStatus(options, ctx);
    return status ? { status } : {};
  },
};

export const emptyCodec: ContentCodec<EmptyContent> = { encode: () => [], read: () => ({}) };

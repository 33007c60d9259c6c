// Why a partner message was refused. Everything here is something a peer can
// cause, so it is a value, never an exception: the connection logs the
// reason and either answers (a BNDUPD it cannot use still gets its BNDREPLY
// with MissingBindingInformation, RFC 8156 §7.5.3) or closes (§7.5.1: "drop
// the connection ... a message SHOULD be logged").
//
// Internally the readers throw FailoverFailure, a plain object like
// ../reader.ts's DecodeFailure, and the public functions turn it into a
// result; nothing else may let it escape.

import { DECODE_REASONS, type DecodeReason } from '../reader.js';

/**
 * The DHCPv6 option-framing reasons of ../reader.ts (option-overflow,
 * bad-option, bad-duid, truncated-header), plus:
 *  - frame-empty           a length prefix of 0 (RFC 5460 §5.1 frames hold one message)
 *  - frame-too-large       a length prefix above the configured maximum
 *  - unknown-message-type  a msg-type that is neither 7, 23 nor 24–35
 *  - missing-option        an option the message MUST carry is absent (§6.1.1, §6.3, §7.4)
 *  - duplicate-option      an option that can appear once appears twice
 *  - bad-value             a field outside its defined values (binding-status 0, state 11, …)
 *  - bad-structure         options in the wrong place (IAPREFIX in IA_NA, CLIENT_DATA and IAPREFIX together, …)
 */
export type FailoverDecodeReason =
  | DecodeReason
  | 'frame-empty'
  | 'frame-too-large'
  | 'unknown-message-type'
  | 'missing-option'
  | 'duplicate-option'
  | 'bad-value'
  | 'bad-structure';

export const FAILOVER_DECODE_REASONS: readonly FailoverDecodeReason[] = [
  ...DECODE_REASONS,
  'frame-empty',
  'frame-too-large',
  'unknown-message-type',
  'missing-option',
  'duplicate-option',
  'bad-value',
  'bad-structure',
];

/** The header fields, once they were read: enough to answer a BNDUPD or CONNECT we refuse. */
export interface FailoverHeaderInfo {
  readonly type: number;
  readonly transactionId: number;
}

export interface FailoverDecodeError {
  readonly reason: FailoverDecodeReason;
  /**
   * Octet offset: in the frame for decoding errors; for content errors, of
   * the top-level option that holds the problem (or the end of the header
   * when a required option is missing); in the stream for framing errors.
   */
  readonly offset: number;
  /** For the log line; not for counting. */
  readonly detail: string;
  readonly header?: FailoverHeaderInfo;
}

export type FailoverResult<T> = { ok: true; value: T } | { ok: false; error: FailoverDecodeError };

export class FailoverFailure {
  constructor(readonly error: FailoverDecodeError) {}
}

export const foFail = (reason: FailoverDecodeReason, offset: number, detail: string): never => {
  throw new FailoverFailure({ reason, offset, detail });
};

/** Runs a reader; converts its failure (or, defensively, any bug) into a result. */
export function attempt<T>(read: () => T, header?: FailoverHeaderInfo): FailoverResult<T> {
  try {
    return { ok: true, value: read() };
  } catch (e) {
    const error: FailoverDecodeError =
      e instanceof FailoverFailure ? e.error : { reason: 'bad-option', offset: 0, detail: `internal decoder error: ${String(e)}` };
    return { ok: false, error: header && !error.header ? { ...error, header } : error };
  }
}

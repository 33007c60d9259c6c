// The secondary's test for partial communication loss (RFC 7031 §4.7): the
// primary is cut off from the clients while the partner link stays up, so
// heartbeats say all is well while nobody answers the clients. Pure: it is
// given what the secondary sees — the client messages it leaves to the
// primary, and the primary's binding updates for clients it served — on the
// secondary's monotonic clock, and says when to take over; the endpoint does
// the rest (it drops the partner link for UNSERVED_RULE.holdMs, so both
// partners find communications interrupted and the secondary serves).
//
// What the secondary can see. In NORMAL it hears every client message on the
// link — Solicit, Rebind and Confirm are multicast (RFC 8415 §16), and so are
// Request and Renew here, since twin6 never hands out the Server Unicast option
// — but not the replies, which go to the client's own address. A client that
// got its answer stops retransmitting (RFC 8415 §15); one that did not sends
// the same transaction again, same transaction-id, with a larger Elapsed Time
// (§21.9, hundredths of a second since its first transmission). And every
// client the primary serves with a lease sends the secondary a binding update
// (lazy, but at once while the window allows, RFC 8156 §6.2). So:
//
//   A client is unserved when one of its transactions (same DUID, message
//   type and transaction-id) goes on for 2 s — a transmission the secondary
//   saw, then a retransmission at least 2 s later on the secondary's clock,
//   Elapsed Time growing and by then at least 2 s — and from that first
//   transmission until 1.5 s after the retransmission the primary sent no
//   binding update for any client it had just served. Only clients the pair
//   holds an active lease for (one of the IAs in the message) are watched.
//   One unserved client is enough to take over.
//
// Why each part:
//   - Retransmissions, not one message's Elapsed Time: the first message of an
//     exchange says nothing about the server's answer to it. A transaction
//     still being sent 2 s after a transmission the secondary saw means the
//     primary left that transmission unanswered for 2 s; a reply crossing a
//     retransmission (the client sent again just before the reply reached it)
//     could count only if the primary took those 2 s, and twin6 answers in
//     milliseconds (one synced write). A datagram heard twice carries the same
//     Elapsed Time, so it is not taken for a retransmission.
//   - A new transaction from the client (another transaction-id or type)
//     starts the count again: the old one ended, answered or not.
//   - The primary serving anyone restarts every watch, and the 1.5 s after the
//     retransmission give it time to answer that one (its update comes over
//     the partner link after its synced write and ours). A primary cut off
//     the LAN serves nobody; a primary on a lossy LAN, or with one client that
//     cannot hear its replies, leaves some clients retransmitting while it
//     goes on serving — the retransmission among them. Without this, one lost
//     reply to a Renew (retransmitted 10 s later) would be a takeover.
//   - 2 s, not Kea's 10 s (max-ack-delay): dhcpcd rebinds a delegated prefix on
//     Confirm timers (RFC 3633 §12.1: IRT 1 s, MRT 4 s) and gives up after
//     10 s (CNF_MAX_RD), dropping the prefix; it transmits at about 0, 1, 3
//     and 7 s. Seen at 3 s and confirmed by 4.5 s, the takeover is in place
//     for the transmission at 7 s. Clients on RFC 8415 Renew/Rebind timers
//     (IRT 10 s, dhclient) show their first retransmission at about 10 s, and
//     have until their valid lifetime ends.
//   - Known clients only: a client the primary may rightly leave unanswered — a
//     Rebind for leases it has no record of (RFC 8415 §18.3.5), a Solicit the
//     primary answers only with NoAddrsAvail when its pool is full, which a
//     client ignores and solicits again (§18.2.1) — must not make the
//     secondary take over.
//   - One client (clientsMin): with the checks above one unserved client is
//     specific evidence, and waiting for a second costs the first its
//     delegated prefix (see dhcpcd above). A false alarm costs a spell of
//     COMMUNICATIONS-INTERRUPTED, in which both partners serve from their own
//     halves with lifetimes capped by MCLT (RFC 8156 §8.9.1): safe, and undone
//     when the link comes back.
//
// The primary's side of the same loss: it cannot tell a LAN cut with its
// interface still up from a quiet LAN (no client need send anything for
// hours), so it does not guess. When the secondary holds the link down, the
// primary too finds communications interrupted and, like the secondary, serves
// from its own half whoever still reaches it (nobody, while it is cut off).
// When the hold ends the two reconnect to NORMAL; if the primary is still cut
// off, the clients it leaves waiting make the secondary take over again. The
// clients the secondary served meanwhile renew with its Server Identifier,
// which it answers in NORMAL too (renew-responsive, §8.8.1). A primary whose
// client-facing interfaces are all down does notice, and steps back itself
// (partial-loss.ts, checkLan).

import { MsgType } from '../wire/constants.js';

export interface UnservedRule {
  /** A transaction counts once watched this long (a transmission to a later retransmission, our clock, nobody served). */
  readonly watchedMsMin: number;
  /** …with the retransmission carrying at least this Elapsed Time (RFC 8415 §21.9, 1/100 s). */
  readonly elapsedCsMin: number;
  /** …and the primary serving nobody for this long after the retransmission. */
  readonly confirmMs: number;
  /** Distinct unserved clients within windowMs before the secondary takes over. */
  readonly clientsMin: number;
  readonly windowMs: number;
  /** How long the partner link stays down after a takeover, before the pair tries NORMAL again. */
  readonly holdMs: number;
  /** Clients whose current transaction is remembered; beyond it the longest silent is forgotten. */
  readonly clientsTrackedMax: number;
}

export const UNSERVED_RULE: UnservedRule = {
  watchedMsMin: 2_000,
  elapsedCsMin: 200,
  confirmMs: 1_500,
  clientsMin: 1,
  windowMs: 30_000,
  holdMs: 60_000,
  clientsTrackedMax: 4096,
};

/** The exchanges the primary, and only the primary, answers in NORMAL (RFC 8156 §8.8.1). */
const WATCHED: ReadonlySet<number> = new Set([MsgType.SOLICIT, MsgType.REQUEST, MsgType.RENEW, MsgType.REBIND]);

/** Elapsed Time saturates here (RFC 8415 §21.9: 0xffff means "this long or longer"). */
const ELAPSED_CS_MAX = 0xffff;

/** One client message the secondary left to the primary. */
export interface Sighting {
  /** Monotonic milliseconds (Timers.nowMs). */
  readonly atMs: number;
  /** The client's DUID, hex. */
  readonly duid: string;
  readonly type: number;
  readonly xid: number;
  /** Its Elapsed Time option; 0 when absent. */
  readonly elapsedCs: number;
  /** The pair holds an active lease for one of the IAs in the message. */
  readonly known: boolean;
}

/** A client's transaction as watched so far. */
export interface Waiting {
  readonly duid: string;
  readonly type: number;
  readonly xid: number;
  /** Transmissions seen (the first one seen and its retransmissions). */
  readonly transmissions: number;
  readonly elapsedCs: number;
  /** From the first transmission seen since the primary last served anyone, to the latest; our clock. */
  readonly watchedMs: number;
}

/** What a sighting shows. */
export type Observation =
  | { readonly kind: 'ignored'; readonly reason: 'not-watched' | 'unknown-client' | 'duplicate' }
  | { readonly kind: 'watching'; readonly client: Waiting }
  /** Waited long enough: unserved unless the primary serves anyone by decideAtMs; call decide() then. */
  | { readonly kind: 'suspect'; readonly client: Waiting; readonly decideAtMs: number };

/** What decide() concludes. */
export type Decision =
  | { readonly kind: 'none' }
  /** fresh: clients newly found unserved; fewer than clientsMin are so far. */
  | { readonly kind: 'unserved'; readonly fresh: readonly Waiting[]; readonly count: number }
  /** Enough clients are unserved (all of them in clients): take over. The detector has started afresh. */
  | { readonly kind: 'take-over'; readonly fresh: readonly Waiting[]; readonly clients: readonly Waiting[] };

interface Transaction {
  readonly type: number;
  readonly xid: number;
  /** The first transmission seen since the primary last served anyone. */
  sinceMs: number;
  lastMs: number;
  elapsedCs: number;
  transmissions: number;
}

interface Found {
  readonly atMs: number;
  readonly client: Waiting;
}

export class UnservedDetector {
  /** DUID → its current transaction; Map order is least recently seen first. */
  private readonly current = new Map<string, Transaction>();
  /** DUID → waited long enough, the primary given confirmMs to show it serves. */
  private readonly suspects = new Map<string, Found>();
  /** DUID → unserved (confirmed), within windowMs. */
  private readonly unserved = new Map<string, Found>();
  /** When the primary last told us of a client it served; undefined: not since the last reset. */
  private servedMs: number | undefined;

  constructor(readonly rule: UnservedRule = UNSERVED_RULE) {}

  /** A client message the secondary leaves to the primary. */
  observe(s: Sighting): Observation {
    if (!WATCHED.has(s.type)) return { kind: 'ignored', reason: 'not-watched' };
    if (!s.known) return { kind: 'ignored', reason: 'unknown-client' };
    const t = this.track(s);
    if (t === undefined) return { kind: 'ignored', reason: 'duplicate' };
    const client: Waiting = {
      duid: s.duid,
      type: t.type,
      xid: t.xid,
      transmissions: t.transmissions,
      elapsedCs: t.elapsedCs,
      watchedMs: t.lastMs - t.sinceMs,
    };
    const waitedEnough = client.watchedMs >= this.rule.watchedMsMin && client.elapsedCs >= this.rule.elapsedCsMin;
    if (!waitedEnough || this.suspects.has(s.duid) || this.unserved.has(s.duid)) return { kind: 'watching', client };
    this.suspects.set(s.duid, { atMs: s.atMs, client });
    return { kind: 'suspect', client, decideAtMs: s.atMs + this.rule.confirmMs };
  }

  /**
   * The primary served a client (a binding update for an active lease it has
   * just granted or extended): every watch starts again from its next
   * transmission, and every client suspected or found unserved is forgiven.
   */
  primaryServed(atMs: number): void {
    this.servedMs = atMs;
    this.suspects.clear();
    this.unserved.clear();
  }

  /** Suspects whose confirmMs have passed, the primary serving nobody, are unserved; enough of them, a takeover. */
  decide(nowMs: number): Decision {
    const fresh: Waiting[] = [];
    for (const [duid, f] of this.suspects) {
      if (nowMs - f.atMs < this.rule.confirmMs) continue;
      this.suspects.delete(duid);
      this.unserved.set(duid, f);
      fresh.push(f.client);
    }
    for (const [duid, f] of this.unserved) if (nowMs - f.atMs > this.rule.windowMs) this.unserved.delete(duid);
    if (fresh.length === 0) return { kind: 'none' };
    if (this.unserved.size < this.rule.clientsMin) return { kind: 'unserved', fresh, count: this.unserved.size };
    const clients = [...this.unserved.values()].map((f) => f.client);
    this.reset();
    return { kind: 'take-over', fresh, clients };
  }

  /** Forgets everything (on leaving NORMAL, or after a takeover). */
  reset(): void {
    this.current.clear();
    this.suspects.clear();
    this.unserved.clear();
    this.servedMs = undefined;
  }

  /** The client's transaction after this sighting; undefined when it is one already counted, heard again. */
  private track(s: Sighting): Transaction | undefined {
    const t = this.current.get(s.duid);
    if (t !== undefined && t.type === s.type && t.xid === s.xid) {
      // A retransmission carries a larger Elapsed Time; one already saturated counts if it came later.
      const later =
        s.elapsedCs > t.elapsedCs || (s.elapsedCs === ELAPSED_CS_MAX && t.elapsedCs === ELAPSED_CS_MAX && s.atMs - t.lastMs >= 1000);
      if (!later) return undefined;
      this.current.delete(s.duid); // re-inserted below: Map order stays least recently seen first
      if (this.servedMs !== undefined && this.servedMs >= t.sinceMs) t.sinceMs = s.atMs;
      t.lastMs = s.atMs;
      t.elapsedCs = s.elapsedCs;
      t.transmissions++;
      this.current.set(s.duid, t);
      return t;
    }
    // A new transaction: whatever the last one was, it is over (RFC 8415 §15).
    this.current.delete(s.duid);
    this.suspects.delete(s.duid);
    this.unserved.delete(s.duid);
    const fresh: Transaction = { type: s.type, xid: s.xid, sinceMs: s.atMs, lastMs: s.atMs, elapsedCs: s.elapsedCs, transmissions: 1 };
    this.current.set(s.duid, fresh);
    if (this.current.size > this.rule.clientsTrackedMax) this.current.delete(this.current.keys().next().value!);
    return fresh;
  }
}

// The secondary's test for a primary cut off from the clients while the
// partner link is up (RFC 7031 §4.7; src/failover/unserved.ts). Sightings are
// written as the clients in the lab send them: dhcpcd rebinding a delegated
// prefix on Confirm timers (RFC 3633 §12.1), dhclient on RFC 8415 Rebind timers.

import { describe, expect, it } from 'vitest';
import { UNSERVED_RULE, UnservedDetector, type Decision, type Observation, type Sighting } from '../../../src/failover/unserved.js';
import { MsgType } from '../../../src/wire/constants.js';

const A = '000300010200000000a1';
const B = '000300010200000000b2';
const C = '000300010200000000c3';
const CONFIRM_SEC = UNSERVED_RULE.confirmMs / 1000;

/** One transmission: at our second `atSec`, with the client's Elapsed Time in seconds. */
const seen = (duid: string, type: number, xid: number, atSec: number, elapsedSec: number, known = true): Sighting => ({
  atMs: atSec * 1000,
  duid,
  type,
  xid,
  elapsedCs: Math.round(elapsedSec * 100),
  known,
});

/** Feeds the sightings in order; what each showed. */
const feed = (d: UnservedDetector, ss: readonly Sighting[]): Observation[] => ss.map((s) => d.observe(s));
const kinds = (os: readonly Observation[]) => os.map((o) => (o.kind === 'ignored' ? o.reason : o.kind));
const decideAt = (d: UnservedDetector, atSec: number): Decision => d.decide(atSec * 1000);

/** dhcpcd's Rebind of an IA_PD: IRT 1 s, MRT 4 s, given up after 10 s; it starts at t0 (our clock). */
const dhcpcdRebind = (duid: string, xid: number, t0: number) => [0, 1.05, 3.1, 7.2].map((e) => seen(duid, MsgType.REBIND, xid, t0 + e, e));

describe('unserved clients (RFC 7031 §4.7: the primary cut off the LAN, the partner link up)', () => {
  it('suspects a dhcpcd prefix Rebind at its third transmission (3 s) and takes over 1.5 s later, before its 7 s one and its 10 s give-up', () => {
    const d = new UnservedDetector();
    const [t0, t1, t3, t7] = dhcpcdRebind(A, 0x1234, 100);
    expect(kinds(feed(d, [t0!, t1!]))).toEqual(['watching', 'watching']);
    expect(d.observe(t3!)).toEqual({
      kind: 'suspect',
      client: { duid: A, type: MsgType.REBIND, xid: 0x1234, transmissions: 3, elapsedCs: 310, watchedMs: 3100 },
      decideAtMs: 103_100 + UNSERVED_RULE.confirmMs,
    });
    expect(decideAt(d, 103.1 + CONFIRM_SEC - 0.01)).toEqual({ kind: 'none' });
    const taken = decideAt(d, 103.1 + CONFIRM_SEC);
    expect(taken).toMatchObject({ kind: 'take-over', clients: [{ duid: A, xid: 0x1234, transmissions: 3 }] });
    expect(taken.kind === 'take-over' && taken.fresh).toHaveLength(1);
    expect(t7!.atMs, "decided before dhcpcd's last transmission").toBeGreaterThan(103_100 + UNSERVED_RULE.confirmMs);
    // Started afresh: the 7 s transmission is a first sighting again.
    expect(d.observe(t7!)).toMatchObject({ kind: 'watching', client: { transmissions: 1 } });
  });

  it('suspects a Rebind on RFC 8415 timers (dhclient, IRT 10 s) at its first retransmission', () => {
    const d = new UnservedDetector();
    expect(kinds(feed(d, [seen(A, MsgType.REBIND, 7, 24, 0), seen(A, MsgType.REBIND, 7, 34.2, 10.2)]))).toEqual(['watching', 'suspect']);
    expect(decideAt(d, 34.2 + CONFIRM_SEC).kind).toBe('take-over');
  });

  it('watches Solicit, Request and Renew the same way (Renew and Request are multicast here: no Server Unicast option)', () => {
    for (const type of [MsgType.SOLICIT, MsgType.REQUEST, MsgType.RENEW]) {
      const d = new UnservedDetector();
      expect(kinds(feed(d, [seen(A, type, 9, 0, 0), seen(A, type, 9, 1, 1), seen(A, type, 9, 3, 3)])), String(type)).toEqual([
        'watching',
        'watching',
        'suspect',
      ]);
      expect(decideAt(d, 3 + CONFIRM_SEC).kind, String(type)).toBe('take-over');
    }
  });

  it('does not count a retransmission that crossed the reply: the client stops after it', () => {
    // Transmitted at 0 and 1 s; the primary's reply to the first arrived just after the second left.
    const d = new UnservedDetector();
    expect(kinds(feed(d, [seen(A, MsgType.REBIND, 1, 0, 0), seen(A, MsgType.REBIND, 1, 1.05, 1.05)]))).toEqual(['watching', 'watching']);
    // Bound, it renews much later: a new transaction, which starts the count again.
    expect(kinds(feed(d, [seen(A, MsgType.RENEW, 2, 16, 0), seen(A, MsgType.RENEW, 2, 17.1, 1.1)]))).toEqual(['watching', 'watching']);
    expect(decideAt(d, 30)).toEqual({ kind: 'none' });
  });

  it('starts again with each new transaction: a Solicit answered, then its Request', () => {
    const d = new UnservedDetector();
    const os = feed(d, [
      seen(A, MsgType.SOLICIT, 1, 0, 0),
      seen(A, MsgType.SOLICIT, 1, 1.1, 1.1), // the Advertise came after this one
      seen(A, MsgType.REQUEST, 2, 2.2, 0),
      seen(A, MsgType.REQUEST, 2, 3.2, 1.0),
    ]);
    expect(kinds(os)).toEqual(['watching', 'watching', 'watching', 'watching']);
    // The Request goes on unanswered: 2 s watched, and it counts.
    expect(d.observe(seen(A, MsgType.REQUEST, 2, 5.3, 3.1)).kind).toBe('suspect');
  });

  it('a new transaction from a suspect clears it: the exchange it waited in is over', () => {
    const d = new UnservedDetector();
    feed(d, dhcpcdRebind(A, 1, 0).slice(0, 3));
    d.observe(seen(A, MsgType.SOLICIT, 2, 3.5, 0));
    expect(decideAt(d, 10)).toEqual({ kind: 'none' });
  });

  it('wants the wait seen on its own clock: a client first heard late in its exchange is watched 2 s more', () => {
    const d = new UnservedDetector();
    // We missed the first two transmissions (say we just started): Elapsed is already 3 s.
    expect(kinds(feed(d, [seen(A, MsgType.REBIND, 5, 50, 3.1), seen(A, MsgType.REBIND, 5, 51, 4.1)]))).toEqual(['watching', 'watching']);
    expect(d.observe(seen(A, MsgType.REBIND, 5, 54, 7.1)).kind).toBe('suspect');
  });

  it('wants the client to say it waited: Elapsed Time below 2 s does not count, whatever our clock says', () => {
    const os = feed(new UnservedDetector(), [
      seen(A, MsgType.REBIND, 5, 0, 0),
      seen(A, MsgType.REBIND, 5, 3, 0.5),
      seen(A, MsgType.REBIND, 5, 9, 1.5),
    ]);
    expect(kinds(os)).toEqual(['watching', 'watching', 'watching']);
  });

  it('does not take a datagram heard twice for a retransmission (same Elapsed Time)', () => {
    const d = new UnservedDetector();
    const os = feed(d, [
      seen(A, MsgType.REBIND, 5, 0, 0),
      seen(A, MsgType.REBIND, 5, 0.01, 0),
      seen(A, MsgType.REBIND, 5, 3, 3),
      seen(A, MsgType.REBIND, 5, 3.01, 3),
    ]);
    expect(kinds(os)).toEqual(['watching', 'duplicate', 'suspect', 'duplicate']);
  });

  it('counts a saturated Elapsed Time (0xffff) again when it comes a second or more later', () => {
    const d = new UnservedDetector();
    const sat = (atSec: number): Sighting => ({
      atMs: atSec * 1000,
      duid: A,
      type: MsgType.SOLICIT,
      xid: 3,
      elapsedCs: 0xffff,
      known: true,
    });
    expect(kinds(feed(d, [sat(0), sat(0.2), sat(3)]))).toEqual(['watching', 'duplicate', 'suspect']);
  });

  describe('the primary serving anyone (a binding update for a client it served) forgives', () => {
    it('a lost reply to a Renew: the primary answers the retransmission within the 1.5 s', () => {
      const d = new UnservedDetector();
      expect(kinds(feed(d, [seen(A, MsgType.RENEW, 4, 0, 0), seen(A, MsgType.RENEW, 4, 10.1, 10.1)]))).toEqual(['watching', 'suspect']);
      d.primaryServed(10_150);
      expect(decideAt(d, 10.1 + CONFIRM_SEC)).toEqual({ kind: 'none' });
      expect(decideAt(d, 60)).toEqual({ kind: 'none' });
    });

    it('every watch: serving another client restarts it from the next transmission', () => {
      const d = new UnservedDetector();
      const [t0, t1, t3, t7] = dhcpcdRebind(A, 1, 0);
      feed(d, [t0!, t1!]);
      d.primaryServed(2_000);
      expect(d.observe(t3!)).toMatchObject({ kind: 'watching', client: { transmissions: 3, watchedMs: 0 } });
      // Served nobody since: 4.1 s watched by the 7 s transmission.
      expect(d.observe(t7!)).toMatchObject({ kind: 'suspect', client: { watchedMs: 4100 } });
      expect(decideAt(d, 7.2 + CONFIRM_SEC).kind).toBe('take-over');
    });

    it('clients already found unserved (quorum 2)', () => {
      const d = new UnservedDetector({ ...UNSERVED_RULE, clientsMin: 2 });
      feed(d, dhcpcdRebind(A, 1, 0).slice(0, 3));
      expect(decideAt(d, 5)).toMatchObject({ kind: 'unserved', count: 1 });
      d.primaryServed(5_500);
      feed(d, dhcpcdRebind(B, 2, 6).slice(0, 3));
      expect(decideAt(d, 11)).toMatchObject({ kind: 'unserved', count: 1, fresh: [{ duid: B }] });
    });
  });

  it('ignores clients the pair holds no lease for (the primary may rightly leave them unanswered: §18.3.5, a full pool)', () => {
    const os = feed(
      new UnservedDetector(),
      dhcpcdRebind(A, 1, 0).map((s) => ({ ...s, known: false })),
    );
    expect(kinds(os)).toEqual(['unknown-client', 'unknown-client', 'unknown-client', 'unknown-client']);
  });

  it('ignores the exchanges the primary need not answer alone: Confirm, Information-request, Release, Decline', () => {
    for (const type of [MsgType.CONFIRM, MsgType.INFORMATION_REQUEST, MsgType.RELEASE, MsgType.DECLINE]) {
      const os = feed(new UnservedDetector(), [
        seen(A, type, 1, 0, 0),
        seen(A, type, 1, 1, 1),
        seen(A, type, 1, 3, 3),
        seen(A, type, 1, 7, 7),
      ]);
      expect(kinds(os), String(type)).toEqual(['not-watched', 'not-watched', 'not-watched', 'not-watched']);
    }
  });

  it('forgets everything on reset (the endpoint resets on every state change)', () => {
    const d = new UnservedDetector();
    feed(d, dhcpcdRebind(A, 1, 0).slice(0, 3));
    d.reset();
    expect(decideAt(d, 10)).toEqual({ kind: 'none' });
    expect(d.observe(seen(A, MsgType.REBIND, 1, 11, 11))).toMatchObject({ kind: 'watching', client: { transmissions: 1 } });
  });

  describe('with a quorum of clients (clientsMin 2)', () => {
    const rule = { ...UNSERVED_RULE, clientsMin: 2 };

    it('takes over at the second distinct unserved client within the window, naming both', () => {
      const d = new UnservedDetector(rule);
      feed(d, dhcpcdRebind(A, 1, 0).slice(0, 3));
      expect(decideAt(d, 5)).toMatchObject({ kind: 'unserved', count: 1, fresh: [{ duid: A }] });
      // The same client again is still one client.
      expect(d.observe(seen(A, MsgType.REBIND, 1, 7.2, 7.2)).kind).toBe('watching');
      feed(d, dhcpcdRebind(B, 9, 10).slice(0, 3));
      const taken = decideAt(d, 15);
      expect(taken.kind === 'take-over' && taken.clients.map((c) => c.duid)).toEqual([A, B]);
    });

    it('forgets an unserved client after the window', () => {
      const d = new UnservedDetector(rule);
      feed(d, dhcpcdRebind(A, 1, 0).slice(0, 3));
      decideAt(d, 5);
      const later = rule.windowMs / 1000 + 10;
      feed(d, dhcpcdRebind(B, 9, later).slice(0, 3));
      expect(decideAt(d, later + 5)).toMatchObject({ kind: 'unserved', count: 1, fresh: [{ duid: B }] });
    });
  });

  it('remembers at most clientsTrackedMax transactions, forgetting the one heard from longest ago', () => {
    const filled = () => {
      const d = new UnservedDetector({ ...UNSERVED_RULE, clientsTrackedMax: 2 });
      feed(d, [
        seen(A, MsgType.REBIND, 1, 0, 0),
        seen(B, MsgType.REBIND, 2, 0.5, 0),
        seen(A, MsgType.REBIND, 1, 1, 1),
        seen(C, MsgType.REBIND, 3, 1.5, 0),
      ]);
      return d;
    };
    // B was heard from longest ago, so it went: its retransmission starts a new watch.
    expect(filled().observe(seen(B, MsgType.REBIND, 2, 3.5, 3))).toMatchObject({ kind: 'watching', client: { transmissions: 1 } });
    expect(filled().observe(seen(A, MsgType.REBIND, 1, 3.1, 3.1)).kind).toBe('suspect');
  });
});

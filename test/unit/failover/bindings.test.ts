import { describe, expect, it } from 'vitest';
import {
  afterOutdated,
  applyIncoming,
  incomingLeases,
  judge,
  partnerLifetimeFor,
  stampLocal,
  updateFor,
  versions,
  type IncomingLease,
} from '../../../src/failover/bindings.js';
import { BindingStatus, FoStatusCode } from '../../../src/wire/failover/index.js';
import type { Lease } from '../../../src/engine/index.js';
import { decodeLease, encodeLease } from '../../../src/store/index.js';

const NOW = 1_800_000_000;
/** failover.vendorEnterpriseNumber of both partners. */
const EN = 0;
const A = '00030001020000000001';
const B = '00030001020000000002';

const lease = (over: Partial<Lease> = {}): Lease => ({
  resource: '2001:db8:1::11',
  type: 'na',
  duid: A,
  iaid: 1,
  state: 'active',
  preferredSec: 300,
  validSec: 600,
  clttSec: NOW - 100,
  expiresAtSec: NOW + 500,
  ...over,
});

const incoming = (status: number, over: { duid?: string; clt?: number; start?: number } = {}): IncomingLease => ({
  resource: '2001:db8:1::11',
  type: 'na',
  duid: over.duid ?? A,
  iaid: 1,
  timers: { t1Sec: 150, t2Sec: 240 },
  wire: {
    status: status as 1,
    startTimeOfStateSec: over.start ?? NOW,
    clientLastTransactionTimeSec: over.clt ?? NOW,
    preferredSec: 300,
    validSec: 600,
    stateExpirationTimeSec: NOW + 600,
    partnerLifetimeSec: NOW + 900,
  },
});

describe('a lease as a binding update and back (RFC 8156 §7.4, §7.5.5)', () => {
  it('round-trips through the CLIENT_DATA form', () => {
    const l = lease({
      timers: { t1Sec: 150, t2Sec: 240 },
      fo: { pending: true, partnerLifetimeSec: NOW + 1200, ackedPartnerLifetimeSec: 0, expirationTimeSec: 0, startOfStateSec: NOW - 100 },
    });
    const [inc] = incomingLeases(updateFor(l, NOW, EN), EN);
    expect(inc).toMatchObject({ resource: l.resource, type: 'na', duid: A, iaid: 1, timers: { t1Sec: 150, t2Sec: 240 } });
    expect(inc!.wire).toMatchObject({
      status: BindingStatus.ACTIVE,
      clientLastTransactionTimeSec: NOW - 100,
      stateExpirationTimeSec: NOW + 500,
      partnerLifetimeSec: NOW + 1200,
    });
    const change = applyIncoming(undefined, inc!);
    // The sender's CLT is the receiver's partner-raw-clt-time; the receiver never served this client itself.
    expect(change).toEqual({
      op: 'put',
      lease: {
        ...l,
        clttSec: 0,
        fo: {
          pending: false,
          partnerLifetimeSec: 0,
          ackedPartnerLifetimeSec: 0,
          expirationTimeSec: NOW + 1200,
          startOfStateSec: NOW - 100,
          partnerRawCltSec: NOW - 100,
        },
      },
    });
  });

  it('carries a delegated prefix and maps Decline to ABANDONED', () => {
    const pd = lease({ resource: '2001:db8:8000:100::/56', type: 'pd', state: 'declined' });
    const [inc] = incomingLeases(updateFor(pd, NOW, EN), EN);
    expect(inc).toMatchObject({ resource: '2001:db8:8000:100::/56', type: 'pd' });
    expect(inc!.wire.status).toBe(BindingStatus.ABANDONED);
    expect(applyIncoming(undefined, inc!)).toMatchObject({ op: 'put', lease: { state: 'declined' } });
  });

  it("carries a delegation's requesting router; the receiver puts it on its own interface for that link", () => {
    const direct = lease({ resource: '2001:db8:8000:100::/56', type: 'pd', via: { address: 'fe80::5054:ff:fe00:1', interface: 'eth7' } });
    const [inc] = incomingLeases(updateFor(direct, NOW, EN), EN);
    expect(inc!.via).toEqual({ address: 'fe80::5054:ff:fe00:1' }); // the sender's device name stays home
    const here = applyIncoming(undefined, inc!, (r) => (r === direct.resource ? 'lan0' : undefined));
    expect(here).toMatchObject({ op: 'put', lease: { via: { address: 'fe80::5054:ff:fe00:1', interface: 'lan0' } } });
    const relayed = lease({
      resource: '2001:db8:8000:200::/56',
      type: 'pd',
      via: { address: '2001:db8:2::77', interface: 'lan0', relay: '2001:db8:2::1' },
    });
    const [r] = incomingLeases(updateFor(relayed, NOW, EN), EN);
    expect(applyIncoming(undefined, r!)).toMatchObject({
      lease: { via: { address: '2001:db8:2::77', relay: '2001:db8:2::1', interface: '' } },
    });
  });

  it('keeps the requesting router it recorded when an update names none, and never gives an address one', () => {
    const pd = lease({ resource: '2001:db8:8000:100::/56', type: 'pd' });
    const [inc] = incomingLeases(updateFor(pd, NOW, EN), EN);
    expect(inc!.via).toBeUndefined();
    const recorded = { ...pd, via: { address: 'fe80::9', interface: 'lan0' } };
    expect(applyIncoming(recorded, inc!)).toMatchObject({ lease: { via: recorded.via } });
    expect(applyIncoming({ ...recorded, duid: B }, inc!)).not.toHaveProperty('lease.via');
    const [na] = incomingLeases(updateFor(lease({ via: { address: 'fe80::9', interface: 'lan0' } }), NOW, EN), EN);
    expect(na!.via).toBeUndefined();
  });

  it("reads the requesting router only under our vendorEnterpriseNumber: a partner configured otherwise is ignored as any vendor's, and ours unreadable is reported", () => {
    const pd = lease({ resource: '2001:db8:8000:100::/56', type: 'pd', via: { address: 'fe80::5054:ff:fe00:1', interface: 'eth7' } });
    const theirs = updateFor(pd, NOW, 4_000_000_000);
    expect(theirs.vendorOptions?.map((v) => v.enterpriseNumber)).toEqual([4_000_000_000]);
    const problems: string[] = [];
    const [inc] = incomingLeases(theirs, EN, (p) => problems.push(p));
    expect([inc!.via, problems]).toEqual([undefined, []]);
    const garbled = { ...theirs, vendorOptions: [{ enterpriseNumber: EN, data: Uint8Array.from([0, 1, 0, 4, 1, 2, 3, 4]) }] };
    const [kept] = incomingLeases(garbled, EN, (p) => problems.push(p));
    expect(kept).toMatchObject({ resource: pd.resource, type: 'pd' });
    expect(kept!.via).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/must be 16 octets/)]);
  });

  it('deletes what the partner says is free', () => {
    for (const s of [BindingStatus.FREE, BindingStatus.FREE_BACKUP, BindingStatus.RESET]) {
      expect(applyIncoming(lease(), incoming(s))).toEqual({ op: 'delete', resource: '2001:db8:1::11' });
    }
  });
});

describe('client last-transaction times and the lifetimes exchanged (RFC 8156 §7.3, §7.4, §7.5.5)', () => {
  const fo = (over: Partial<NonNullable<Lease['fo']>> = {}): NonNullable<Lease['fo']> => ({
    pending: false,
    partnerLifetimeSec: 0,
    ackedPartnerLifetimeSec: 0,
    expirationTimeSec: 0,
    startOfStateSec: NOW - 300,
    ...over,
  });
  const withWire = (inc: IncomingLease, over: Partial<IncomingLease['wire']>): IncomingLease => ({
    ...inc,
    wire: { ...inc.wire, ...over },
  });

  it("keeps the partner's CLT as partner-raw-clt-time exactly as received, and our own client-last-transaction-time apart", () => {
    const ours = lease({ clttSec: NOW - 400, fo: fo() });
    const put = applyIncoming(ours, incoming(BindingStatus.ACTIVE, { clt: NOW - 7 }));
    expect(put).toMatchObject({ op: 'put', lease: { clttSec: NOW - 400, fo: { partnerRawCltSec: NOW - 7 } } });
  });

  it('moves our client-last-transaction-time only to a later F_PARTNER_RAW_CLT_TIME (§7.5.5 e)', () => {
    const ours = lease({ clttSec: NOW - 400, fo: fo() });
    expect(applyIncoming(ours, withWire(incoming(BindingStatus.ACTIVE), { partnerRawCltTimeSec: NOW - 350 }))).toMatchObject({
      lease: { clttSec: NOW - 350 },
    });
    expect(applyIncoming(ours, withWire(incoming(BindingStatus.ACTIVE), { partnerRawCltTimeSec: NOW - 450 }))).toMatchObject({
      lease: { clttSec: NOW - 400 },
    });
  });

  it('sends F_PARTNER_RAW_CLT_TIME, and no CLT_TIME for a client we never served ourselves (§7.4)', () => {
    const theirs = lease({ clttSec: 0, fo: fo({ partnerRawCltSec: NOW - 20 }) });
    const [inc] = incomingLeases(updateFor(theirs, NOW, EN), EN);
    expect(inc!.wire.partnerRawCltTimeSec).toBe(NOW - 20);
    expect(inc!.wire).not.toHaveProperty('clientLastTransactionTimeSec');
  });

  it('stores F_PARTNER_LIFETIME as expiration-time, and takes F_EXPIRATION_TIME as partner-lifetime only when later (§7.5.5 b, f)', () => {
    const ours = lease({ fo: fo({ partnerLifetimeSec: NOW + 2000, expirationTimeSec: NOW + 100 }) });
    const earlier = applyIncoming(
      ours,
      withWire(incoming(BindingStatus.ACTIVE), { partnerLifetimeSec: NOW + 900, expirationTimeSec: NOW + 1500 }),
    );
    expect(earlier).toMatchObject({ lease: { fo: { partnerLifetimeSec: NOW + 2000, expirationTimeSec: NOW + 900 } } });
    const later = applyIncoming(
      ours,
      withWire(incoming(BindingStatus.ACTIVE), { partnerLifetimeSec: NOW + 900, expirationTimeSec: NOW + 2500 }),
    );
    expect(later).toMatchObject({ lease: { fo: { partnerLifetimeSec: NOW + 2500 } } });
  });

  it('sends the T1 and T2 the client was given, and keeps those the partner sends', () => {
    const update = updateFor(lease({ timers: { t1Sec: 1800, t2Sec: 2880 } }), NOW, EN);
    expect(update.ias[0]).toMatchObject({ type: 'IA_NA', t1Sec: 1800, t2Sec: 2880 });
    const [inc] = incomingLeases(update, EN);
    expect(applyIncoming(undefined, inc!)).toMatchObject({ lease: { timers: { t1Sec: 1800, t2Sec: 2880 } } });
  });
});

describe('what the partner sends that twin6 only keeps (RFC 8156 §7.4, §7.5.5)', () => {
  it('keeps reconfigure data, relay data, CLIENT_FQDN and DNS removal info, in the store too, and sends them back as they came', () => {
    const reconfigure = { timeSec: NOW - 60, key: Uint8Array.from({ length: 16 }, (_, i) => i) };
    const relayData = Uint8Array.from({ length: 400 }, (_, i) => i & 0xff); // longer than one record extension
    const clientFqdn = Uint8Array.from([0, 4, 104, 111, 115, 116, 0]);
    const dnsRemovalInfo = { hostName: Uint8Array.from([4, 104, 111, 115, 116, 0]), flags: 3 };
    const sent = updateFor(lease(), NOW, EN);
    const withData = {
      ...sent,
      reconfigure,
      relayData,
      ias: [{ ...sent.ias[0]!, leases: [{ ...sent.ias[0]!.leases[0]!, clientFqdn, dnsRemovalInfo }] }],
    } as typeof sent;
    const [inc] = incomingLeases(withData, EN);
    const change = applyIncoming(undefined, inc!);
    expect(change.op).toBe('put');
    const stored = change.op === 'put' ? change.lease : undefined;
    const { key, value } = encodeLease(stored!, 1);
    const back = decodeLease(key, value) as Lease;
    const again = updateFor(back, NOW + 10, EN);
    expect(again).toMatchObject({ reconfigure, relayData });
    expect(again.ias[0]!.leases[0]).toMatchObject({ clientFqdn, dnsRemovalInfo });
  });
});

describe('accept or reject an incoming update (RFC 8156 §7.5.4, Figure 4)', () => {
  const RFC = { keepLongerLease: false };
  const TWIN6 = { keepLongerLease: true };
  it('accepts anything for a lease it does not hold', () => {
    expect(judge(undefined, incoming(BindingStatus.ACTIVE), 'primary', NOW, RFC)).toEqual({ accept: true });
  });
  it('ACTIVE over ACTIVE of the same client: accept (3), whatever the times', () => {
    expect(judge(lease(), incoming(BindingStatus.ACTIVE, { clt: NOW - 1000 }), 'primary', NOW, RFC)).toEqual({ accept: true });
  });
  it('ACTIVE over ACTIVE of another client: time (2) against our start-time-of-state, or we are the secondary; else AddressInUse', () => {
    const local = lease({
      fo: { pending: false, partnerLifetimeSec: 0, ackedPartnerLifetimeSec: 0, expirationTimeSec: 0, startOfStateSec: NOW - 100 },
    });
    expect(judge(local, incoming(BindingStatus.ACTIVE, { duid: B, clt: NOW }), 'primary', NOW, RFC)).toEqual({ accept: true });
    const tie = judge(local, incoming(BindingStatus.ACTIVE, { duid: B, clt: NOW - 97 }), 'primary', NOW, RFC);
    expect(tie).toMatchObject({ accept: false, status: { code: FoStatusCode.AddressInUse } });
    expect(judge(local, incoming(BindingStatus.ACTIVE, { duid: B, clt: NOW - 97 }), 'secondary', NOW, RFC)).toEqual({ accept: true });
  });
  it('ACTIVE of the same client that ends sooner than ours: accepted by the RFC, refused with keepLongerLease however recent', () => {
    const renewedHere = lease({ clttSec: NOW - 10, expiresAtSec: NOW + 590 });
    const longer = incoming(BindingStatus.ACTIVE, { clt: NOW - 50 }); // ends NOW + 600 in the fixture
    const shorter = (clt: number): IncomingLease => ({
      ...longer,
      wire: { ...longer.wire, clientLastTransactionTimeSec: clt, stateExpirationTimeSec: NOW + 550 },
    });
    expect(judge(renewedHere, shorter(NOW - 50), 'secondary', NOW, RFC)).toEqual({ accept: true });
    expect(judge(renewedHere, shorter(NOW - 50), 'secondary', NOW, TWIN6)).toMatchObject({
      accept: false,
      status: { code: FoStatusCode.OutdatedBindingInformation },
    });
    // Both partners answered one Rebind, a second apart on clocks that may be 5 s apart: the longer end stays.
    expect(judge(renewedHere, shorter(NOW - 9), 'secondary', NOW, TWIN6)).toMatchObject({ accept: false });
    expect(judge(renewedHere, longer, 'secondary', NOW, TWIN6)).toEqual({ accept: true });
  });
  it("RELEASED over a live ACTIVE lease: accept when clearly later; keepLongerLease also refuses another client's", () => {
    const local = lease({ clttSec: NOW - 2 });
    expect(judge(local, incoming(BindingStatus.RELEASED, { duid: B, clt: NOW + 4 }), 'primary', NOW, RFC)).toEqual({ accept: true });
    expect(judge(local, incoming(BindingStatus.RELEASED, { duid: B, clt: NOW + 4 }), 'primary', NOW, TWIN6)).toMatchObject({
      accept: false,
    });
    expect(judge(local, incoming(BindingStatus.RELEASED, { clt: NOW + 3 }), 'primary', NOW, RFC)).toMatchObject({ accept: false }); // 5 s: the same time
    expect(judge(local, incoming(BindingStatus.RELEASED, { clt: NOW + 4 }), 'primary', NOW, TWIN6)).toEqual({ accept: true });
  });
  it('EXPIRED, FREE or FREE-BACKUP over a live ACTIVE lease: only once our own state has run out, time (1)', () => {
    for (const s of [BindingStatus.EXPIRED, BindingStatus.FREE, BindingStatus.FREE_BACKUP]) {
      expect(judge(lease(), incoming(s, { clt: NOW + 60, start: NOW + 60 }), 'primary', NOW, RFC)).toMatchObject({
        accept: false,
        status: { code: FoStatusCode.OutdatedBindingInformation },
      });
      expect(judge(lease({ expiresAtSec: NOW - 1 }), incoming(s), 'secondary', NOW, RFC)).toEqual({ accept: true });
    }
  });
  it('RESET or ABANDONED over a live ACTIVE lease: accept, by the later of CLT and start-time-of-state', () => {
    for (const s of [BindingStatus.RESET, BindingStatus.ABANDONED]) {
      expect(judge(lease(), incoming(s, { clt: NOW - 200, start: NOW }), 'primary', NOW, RFC)).toEqual({ accept: true });
      expect(judge(lease(), incoming(s, { clt: NOW - 200, start: NOW - 96 }), 'primary', NOW, RFC)).toMatchObject({
        accept: false,
        status: { code: FoStatusCode.OutdatedBindingInformation },
      });
    }
  });
  it('times within 5 s are the same time (§7.5.1): only a clearly later update is accepted, in every state', () => {
    const local = lease({ state: 'released', clttSec: NOW - 3, expiresAtSec: NOW + 100 });
    expect(judge(local, incoming(BindingStatus.ACTIVE, { clt: NOW + 2 }), 'primary', NOW, RFC)).toMatchObject({
      accept: false,
      status: { code: FoStatusCode.OutdatedBindingInformation },
    });
    expect(judge(local, incoming(BindingStatus.ACTIVE, { clt: NOW + 3 }), 'primary', NOW, RFC)).toEqual({ accept: true });
    expect(judge(lease({ clttSec: NOW }), incoming(BindingStatus.RELEASED, { clt: NOW - 60 }), 'primary', NOW, RFC)).toMatchObject({
      accept: false,
    });
  });
  it('rows EXPIRED, RELEASED and ABANDONED: accept whatever the status, when clearly later', () => {
    for (const state of ['expired', 'released', 'declined'] as const) {
      for (const s of [
        BindingStatus.ACTIVE,
        BindingStatus.EXPIRED,
        BindingStatus.RELEASED,
        BindingStatus.FREE,
        BindingStatus.RESET,
        BindingStatus.ABANDONED,
      ]) {
        expect(judge(lease({ state, clttSec: NOW - 100 }), incoming(s, { clt: NOW, start: NOW }), 'primary', NOW, RFC)).toEqual({
          accept: true,
        });
        expect(judge(lease({ state, clttSec: NOW }), incoming(s, { clt: NOW - 100, start: NOW - 100 }), 'primary', NOW, RFC)).toMatchObject(
          { accept: false },
        );
      }
    }
  });
});

describe('our own lease after refusing an update as outdated (RFC 8156 §7.5.4)', () => {
  const fo = (pending: boolean) => ({
    pending,
    partnerLifetimeSec: 0,
    ackedPartnerLifetimeSec: 0,
    expirationTimeSec: 0,
    startOfStateSec: NOW - 100,
  });
  it('is flagged and sent at once only when it was not flagged already, so two partners that disagree never trade updates in a loop', () => {
    const settled = lease({ fo: fo(false) });
    expect(afterOutdated(settled, settled.fo!, incoming(BindingStatus.RELEASED))).toEqual({
      change: { op: 'put', lease: { ...settled, fo: fo(true) } },
      resend: true,
    });
    const flagged = lease({ fo: fo(true) });
    expect(afterOutdated(flagged, flagged.fo!, incoming(BindingStatus.RELEASED))).toEqual({ resend: false });
  });
  it('is cleared, and sent once more, when neither side holds it active: no newer binding is on its way', () => {
    const expired = lease({ state: 'expired', fo: fo(true) });
    expect(afterOutdated(expired, expired.fo!, incoming(BindingStatus.EXPIRED))).toEqual({
      change: { op: 'put', lease: { ...expired, fo: fo(false) } },
      resend: true,
    });
    expect(afterOutdated(expired, expired.fo!, incoming(BindingStatus.RELEASED, { duid: B }))).toEqual({
      change: { op: 'put', lease: { ...expired, fo: fo(false) } },
      resend: true,
    });
    // Cleared already: nothing more goes, so two idle records never trade updates in a loop.
    const cleared = lease({ state: 'released', fo: fo(false) });
    expect(afterOutdated(cleared, cleared.fo!, incoming(BindingStatus.EXPIRED))).toEqual({ resend: false });
  });
  it('stays flagged while an update of ours for it is still unacknowledged: the partner may hold that one, active, by now (simulation seed 2000298)', () => {
    // We sent ACTIVE, then the client released; the partner's EXPIRED was written before ours reached it.
    const released = lease({ state: 'released', fo: fo(true) });
    expect(afterOutdated(released, released.fo!, incoming(BindingStatus.EXPIRED), true)).toEqual({ resend: false });
  });
});

describe('the partner lifetime and the pending stamp (RFC 8156 §4.4, §7.3)', () => {
  it('sends a partner lifetime far enough ahead for the next renewal to get the full lifetime', () => {
    expect(partnerLifetimeFor(lease({ clttSec: NOW, validSec: 3600, expiresAtSec: NOW + 3600 }), 7200)).toBe(NOW + 10_800);
    expect(partnerLifetimeFor(lease({ state: 'released', expiresAtSec: NOW + 86_400 }), 7200)).toBe(NOW + 86_400);
  });
  it('stamps a local change pending, keeps what the partner acknowledged for the same binding, and forgets it for another', () => {
    const before = lease({
      fo: {
        pending: false,
        partnerLifetimeSec: 0,
        ackedPartnerLifetimeSec: NOW + 5000,
        expirationTimeSec: NOW + 4000,
        startOfStateSec: NOW - 500,
      },
    });
    const renewed = stampLocal(lease({ clttSec: NOW }), before, 600, NOW);
    expect(renewed.fo).toMatchObject({
      pending: true,
      ackedPartnerLifetimeSec: NOW + 5000,
      expirationTimeSec: NOW + 4000,
      startOfStateSec: NOW - 500,
    });
    const other = stampLocal(lease({ duid: B, clttSec: NOW }), before, 600, NOW);
    expect(other.fo).toMatchObject({ pending: true, ackedPartnerLifetimeSec: 0, expirationTimeSec: 0, startOfStateSec: NOW });
  });
});

describe('both versions of a binding, for the log of a resolved conflict', () => {
  it('names ours and theirs when the client or the state differs, nothing when they agree or we held none', () => {
    expect(versions(undefined, incoming(BindingStatus.ACTIVE))).toBeUndefined();
    expect(versions(lease(), incoming(BindingStatus.ACTIVE))).toBeUndefined(); // a renewal: news, not a conflict
    expect(versions(lease(), incoming(BindingStatus.ACTIVE, { duid: B, clt: NOW - 3 }))).toEqual({
      ours: { client: `${A}/1`, state: 'active', clttSec: NOW - 100, endsSec: NOW + 500 },
      theirs: { client: `${B}/1`, state: 'active', clttSec: NOW - 3, endsSec: NOW + 600 },
    });
    expect(versions(lease(), incoming(BindingStatus.FREE_BACKUP))?.theirs.state).toBe('free-backup');
    expect(versions(lease({ state: 'released' }), incoming(BindingStatus.ACTIVE))?.ours.state).toBe('released');
  });
});

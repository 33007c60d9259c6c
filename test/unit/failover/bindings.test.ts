import { describe, expect, it } from 'vitest';
import { applyIncoming, incomingLeases, judge, partnerLifetimeFor, stampLocal, updateFor, versions, type IncomingLease } from '../../../src/failover/bindings.js';
import { BindingStatus, FoStatusCode } from '../../../src/wire/failover/index.js';
import type { Lease } from '../../../src/engine/index.js';

const NOW = 1_800_000_000;
/** failover.vendorEnterpriseNumber of both partners. */
const EN = 0;
const A = '00030001020000000001';
const B = '00030001020000000002';

const lease = (over: Partial<Lease> = {}): Lease => ({
  resource: '2001:db8:1::11', type: 'na', duid: A, iaid: 1, state: 'active', preferredSec: 300, validSec: 600,
  clttSec: NOW - 100, expiresAtSec: NOW + 500, ...over,
});

const incoming = (status: number, over: { duid?: string; clt?: number; start?: number } = {}): IncomingLease => ({
  resource: '2001:db8:1::11', type: 'na', duid: over.duid ?? A, iaid: 1,
  wire: { status: status as 1, startTimeOfStateSec: over.start ?? NOW, clientLastTransactionTimeSec: over.clt ?? NOW, preferredSec: 300, validSec: 600, stateExpirationTimeSec: NOW + 600, partnerLifetimeSec: NOW + 900 },
});

describe('a lease as a binding update and back (RFC 8156 §7.4, §7.5.5)', () => {
  it('round-trips through the CLIENT_DATA form', () => {
    const l = lease({ fo: { pending: true, partnerLifetimeSec: NOW + 1200, ackedPartnerLifetimeSec: 0, expirationTimeSec: 0, startOfStateSec: NOW - 100 } });
    const [inc] = incomingLeases(updateFor(l, NOW, EN), EN);
    expect(inc).toMatchObject({ resource: l.resource, type: 'na', duid: A, iaid: 1 });
    expect(inc!.wire).toMatchObject({ status: BindingStatus.ACTIVE, clientLastTransactionTimeSec: NOW - 100, stateExpirationTimeSec: NOW + 500, partnerLifetimeSec: NOW + 1200 });
    const change = applyIncoming(undefined, inc!);
    expect(change).toEqual({
      op: 'put',
      lease: { ...l, fo: { pending: false, partnerLifetimeSec: 0, ackedPartnerLifetimeSec: 0, expirationTimeSec: NOW + 1200, startOfStateSec: NOW - 100 } },
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
    const relayed = lease({ resource: '2001:db8:8000:200::/56', type: 'pd', via: { address: '2001:db8:2::77', interface: 'lan0', relay: '2001:db8:2::1' } });
    const [r] = incomingLeases(updateFor(relayed, NOW, EN), EN);
    expect(applyIncoming(undefined, r!)).toMatchObject({ lease: { via: { address: '2001:db8:2::77', relay: '2001:db8:2::1', interface: '' } } });
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

describe('accept or reject an incoming update (RFC 8156 §7.5.4)', () => {
  it('accepts anything for a lease it does not hold', () => {
    expect(judge(undefined, incoming(BindingStatus.ACTIVE), 'primary', NOW, true)).toEqual({ accept: true });
  });
  it('ACTIVE over ACTIVE of the same client: accept (3)', () => {
    expect(judge(lease(), incoming(BindingStatus.ACTIVE, { clt: NOW - 1000 }), 'primary', NOW, true)).toEqual({ accept: true });
  });
  it('ACTIVE over ACTIVE of another client: the clearly later interaction wins, a tie goes to the primary', () => {
    const local = lease({ fo: { pending: false, partnerLifetimeSec: 0, ackedPartnerLifetimeSec: 0, expirationTimeSec: 0, startOfStateSec: NOW - 100 } });
    expect(judge(local, incoming(BindingStatus.ACTIVE, { duid: B, clt: NOW }), 'primary', NOW, true)).toEqual({ accept: true });
    const tie = judge(local, incoming(BindingStatus.ACTIVE, { duid: B, clt: NOW - 97 }), 'primary', NOW, true);
    expect(tie).toMatchObject({ accept: false, status: { code: FoStatusCode.AddressInUse } });
    expect(judge(local, incoming(BindingStatus.ACTIVE, { duid: B, clt: NOW - 97 }), 'secondary', NOW, true)).toEqual({ accept: true });
  });
  it('ACTIVE of the same client that ends sooner than ours: refused, however recent, so no record ends before a lease the client may hold', () => {
    const renewedHere = lease({ clttSec: NOW - 10, expiresAtSec: NOW + 590 });
    const longer = incoming(BindingStatus.ACTIVE, { clt: NOW - 50 }); // ends NOW + 600 in the fixture
    const shorter = (clt: number): IncomingLease => ({ ...longer, wire: { ...longer.wire, clientLastTransactionTimeSec: clt, stateExpirationTimeSec: NOW + 550 } });
    expect(judge(renewedHere, shorter(NOW - 50), 'secondary', NOW, false)).toMatchObject({ accept: false, status: { code: FoStatusCode.OutdatedBindingInformation } });
    // Both partners answered one Rebind, a second apart on clocks that may be 5 s apart: the longer end stays.
    expect(judge(renewedHere, shorter(NOW - 9), 'secondary', NOW, false)).toMatchObject({ accept: false });
    expect(judge(renewedHere, longer, 'secondary', NOW, false)).toEqual({ accept: true });
  });
  it("RELEASED over a live ACTIVE lease: never another client's, and this client's only when clearly after its last renewal here", () => {
    const local = lease({ clttSec: NOW - 2 });
    expect(judge(local, incoming(BindingStatus.RELEASED, { duid: B, clt: NOW }), 'primary', NOW, false)).toMatchObject({ accept: false });
    expect(judge(local, incoming(BindingStatus.RELEASED, { clt: NOW - 4 }), 'primary', NOW, false)).toMatchObject({ accept: false });
    expect(judge(local, incoming(BindingStatus.RELEASED, { clt: NOW }), 'primary', NOW, false)).toEqual({ accept: true });
  });
  it('EXPIRED or FREE over a live ACTIVE lease: only once our own state has run out, time (1)', () => {
    expect(judge(lease(), incoming(BindingStatus.EXPIRED), 'primary', NOW, false)).toMatchObject({ accept: false, status: { code: FoStatusCode.OutdatedBindingInformation } });
    expect(judge(lease(), incoming(BindingStatus.FREE), 'secondary', NOW, false)).toMatchObject({ accept: false });
    expect(judge(lease({ expiresAtSec: NOW - 1 }), incoming(BindingStatus.EXPIRED), 'primary', NOW, false)).toEqual({ accept: true });
  });
  it('RELEASED over ACTIVE: accepted when it is newer', () => {
    expect(judge(lease(), incoming(BindingStatus.RELEASED, { clt: NOW }), 'primary', NOW, true)).toEqual({ accept: true });
    expect(judge(lease({ clttSec: NOW }), incoming(BindingStatus.RELEASED, { clt: NOW - 60 }), 'primary', NOW, true)).toMatchObject({ accept: false });
  });
  it('counts times within 5 s as equal in POTENTIAL-CONFLICT, and accepts them otherwise', () => {
    const local = lease({ state: 'released', clttSec: NOW - 3, expiresAtSec: NOW + 100 });
    expect(judge(local, incoming(BindingStatus.ACTIVE, { clt: NOW }), 'primary', NOW, true)).toMatchObject({ accept: false });
    expect(judge(local, incoming(BindingStatus.ACTIVE, { clt: NOW }), 'primary', NOW, false)).toEqual({ accept: true });
  });
});

describe('the partner lifetime and the pending stamp (RFC 8156 §4.4, §7.3)', () => {
  it('sends a partner lifetime far enough ahead for the next renewal to get the full lifetime', () => {
    expect(partnerLifetimeFor(lease({ clttSec: NOW, validSec: 3600, expiresAtSec: NOW + 3600 }), 7200)).toBe(NOW + 10_800);
    expect(partnerLifetimeFor(lease({ state: 'released', expiresAtSec: NOW + 86_400 }), 7200)).toBe(NOW + 86_400);
  });
  it('stamps a local change pending, keeps what the partner acknowledged for the same binding, and forgets it for another', () => {
    const before = lease({ fo: { pending: false, partnerLifetimeSec: 0, ackedPartnerLifetimeSec: NOW + 5000, expirationTimeSec: NOW + 4000, startOfStateSec: NOW - 500 } });
    const renewed = stampLocal(lease({ clttSec: NOW }), before, 600, NOW);
    expect(renewed.fo).toMatchObject({ pending: true, ackedPartnerLifetimeSec: NOW + 5000, expirationTimeSec: NOW + 4000, startOfStateSec: NOW - 500 });
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

// RouterAdvertiser against a fake ICMPv6 port and fake timers: what goes out,
// when, in answer to what, and what is dropped and counted.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { parseConfig } from '../../../src/config/load.js';
import { Counters } from '../../../src/daemon/counters.js';
import type { Icmp6PortOpener } from '../../../src/net/icmp6-socket.js';
import { buildAdvertisement, RA_BYTES_MAX } from '../../../src/net/ra-message.js';
import { RouterAdvertiser } from '../../../src/net/ra.js';
import { MIN_DELAY_BETWEEN_RAS_MS } from '../../../src/net/ra-schedule.js';
import {
  decodeRouterAdvertisement,
  encodeRouterAdvertisement,
  routerAdvertisementLength,
  type RouterAdvertisement,
} from '../../../src/wire/ndp.js';

const MAC = Uint8Array.from([2, 0, 0x5e, 0, 0x53, 1]);

function config(
  ra: Record<string, unknown> = {},
  options: Record<string, unknown> = { dnsServers: ['2001:db8:1::53'], domainSearch: ['home.example'] },
) {
  return parseConfig({
    interfaces: ['lan0'],
    options,
    subnets: [
      {
        name: 'lan',
        interface: 'lan0',
        prefix: '2001:db8:1::/64',
        pools: ['2001:db8:1::1000-2001:db8:1::ffff'],
        routerAdvertisements: { enabled: true, maxIntervalSec: 30, ...ra },
      },
    ],
  });
}

interface Sent {
  readonly atMs: number;
  readonly to: string;
  readonly ra: RouterAdvertisement;
}

function harness() {
  const sent: Sent[] = [];
  let deliver: ((data: Buffer, source: string) => void) | undefined;
  let closed = false;
  const open: Icmp6PortOpener = async (opts, onMessage) => {
    expect(opts).toMatchObject({ ifname: 'lan0', acceptTypes: [133], groups: ['ff02::2'], hopLimit: 255 });
    deliver = onMessage;
    return {
      ifname: opts.ifname,
      ifindex: 2,
      send: async (data, to) => {
        const d = decodeRouterAdvertisement(data);
        if (!d.ok) throw new Error(d.reason);
        sent.push({ atMs: Date.now(), to, ra: d.value });
      },
      close: () => void (closed = true),
    };
  };
  const counters = new Counters();
  const deps = {
    counters,
    log: pino({ level: 'silent' }),
    open,
    nowMs: () => Date.now(),
    random: () => 0.5,
    linkInfo: () => ({ mac: MAC, hasLinkLocal: true }),
  };
  return { sent, counters, deps, rs: (data: Buffer, from = 'fe80::1') => deliver!(data, from), closed: () => closed };
}

const RS = Buffer.from('8500000000000000', 'hex');

describe('RouterAdvertiser', () => {
  beforeEach(() => void vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => void vi.useRealTimers());

  it('advertises at once, three more within 16 s each, then every [min, max] — to ff02::1 with M, O, prefix, RDNSS, DNSSL', async () => {
    const h = harness();
    const ra = await RouterAdvertiser.start(config().subnets, h.deps);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.sent).toHaveLength(1);
    const first = h.sent[0]!;
    expect(first.to).toBe('ff02::1');
    expect(first.ra).toMatchObject({ managed: true, otherConfig: true, routerLifetimeSec: 90, curHopLimit: 64, preference: 'medium' });
    expect(first.ra.options).toEqual([
      { kind: 'SOURCE_LL_ADDR', address: MAC },
      {
        kind: 'PREFIX_INFO',
        prefix: '2001:db8:1::',
        prefixLength: 64,
        onLink: true,
        autonomous: true,
        validSec: 2_592_000,
        preferredSec: 604_800,
      },
      { kind: 'RDNSS', lifetimeSec: 90, servers: ['2001:db8:1::53'] },
      { kind: 'DNSSL', lifetimeSec: 90, domains: ['home.example'] },
    ]);
    await vi.advanceTimersByTimeAsync(120_000);
    const gaps = h.sent.slice(1).map((s, i) => s.atMs - h.sent[i]!.atMs);
    // min 9 s (0.33 × 30), max 30 s, random 0.5: 19.5 s; the first three capped at 16 s.
    expect(gaps.slice(0, 3)).toEqual([16_000, 16_000, 16_000]);
    expect(gaps.slice(3).every((g) => g === 19_500)).toBe(true);
    expect(h.counters.get('ra.tx.unsolicited')).toBe(h.sent.length);
    await ra.stop();
  });

  it('answers a solicitation within 0.5 s, but not sooner than 3 s after the last advertisement (§6.2.6)', async () => {
    const h = harness();
    const ra = await RouterAdvertiser.start(config().subnets, h.deps);
    // Initial advertisements at 0, 16, 32 and 48 s; the next periodic one at 67.5 s.
    await vi.advanceTimersByTimeAsync(53_000);
    const before = h.sent.length;
    const lastAt = h.sent.at(-1)!.atMs;
    expect(Date.now() - lastAt).toBe(5_000);
    h.rs(RS);
    await vi.advanceTimersByTimeAsync(600);
    expect(h.sent).toHaveLength(before + 1);
    expect(h.sent.at(-1)!.atMs - (lastAt + 5_000)).toBe(250);
    // Right after: wait MIN_DELAY_BETWEEN_RAS + the random delay after that one.
    h.rs(RS);
    await vi.advanceTimersByTimeAsync(MIN_DELAY_BETWEEN_RAS_MS + 300);
    expect(h.sent).toHaveLength(before + 2);
    expect(h.sent.at(-1)!.atMs - h.sent.at(-2)!.atMs).toBe(MIN_DELAY_BETWEEN_RAS_MS + 250);
    expect(h.counters.get('ra.tx.solicited')).toBe(2);
    expect(h.counters.get('ra.rx.rs')).toBe(2);
    await ra.stop();
  });

  it('drops and counts malformed solicitations by reason, and answers none of them', async () => {
    const h = harness();
    const ra = await RouterAdvertiser.start(config().subnets, h.deps);
    await vi.advanceTimersByTimeAsync(60_000);
    const before = h.sent.length;
    const nextPeriodic = 19_500 - (Date.now() - h.sent.at(-1)!.atMs);
    h.rs(Buffer.from('850000000000', 'hex')); // short
    h.rs(Buffer.from('8501000000000000', 'hex')); // code 1
    h.rs(Buffer.from('8500000000000000 0100000000000000'.replace(/ /g, ''), 'hex')); // zero-length option
    h.rs(Buffer.from('8500000000000000 0102fa845163f775'.replace(/ /g, ''), 'hex')); // option past the end
    h.rs(Buffer.from('8500000000000000 0101fa845163f775'.replace(/ /g, ''), 'hex'), '::'); // SLLA from ::
    await vi.advanceTimersByTimeAsync(Math.min(nextPeriodic - 1, 1000));
    expect(h.sent).toHaveLength(before);
    expect(h.counters.snapshot()).toMatchObject({
      'ra.drop.total': 5,
      'ra.drop.short': 1,
      'ra.drop.bad-code': 1,
      'ra.drop.zero-length-option': 1,
      'ra.drop.option-overflow': 1,
      'ra.drop.slla-from-unspecified': 1,
    });
    expect(h.counters.get('ra.rx.rs')).toBe(0);
    await ra.stop();
  });

  it('sends a final advertisement with router lifetime 0 when it stops, and closes the socket (§6.2.5)', async () => {
    const h = harness();
    const ra = await RouterAdvertiser.start(config().subnets, h.deps);
    await vi.advanceTimersByTimeAsync(10);
    await ra.stop();
    expect(h.sent.at(-1)!.ra.routerLifetimeSec).toBe(0);
    expect(h.sent.at(-1)!.ra.options.some((o) => o.kind === 'PREFIX_INFO')).toBe(true);
    expect(h.counters.get('ra.tx.final')).toBe(1);
    expect(h.closed()).toBe(true);
    const count = h.sent.length;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.sent).toHaveLength(count);
  });

  it('a failover partner on standby advertises Router Lifetime 0 with M/O and prefixes; taking over goes out at once', async () => {
    const h = harness();
    const ra = await RouterAdvertiser.start(config().subnets, h.deps, { defaultRouter: false });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.sent.length).toBeGreaterThan(0);
    for (const s of h.sent) expect(s.ra).toMatchObject({ routerLifetimeSec: 0, managed: true, otherConfig: true });
    expect(ra.status()[0]).toMatchObject({ defaultRouter: false, routerLifetimeSec: 0 });
    const before = h.sent.length;
    ra.setDefaultRouter(true);
    await vi.advanceTimersByTimeAsync(MIN_DELAY_BETWEEN_RAS_MS + 1);
    expect(h.sent.length).toBe(before + 1);
    expect(h.sent.at(-1)!.ra.routerLifetimeSec).toBe(90);
    ra.setDefaultRouter(false); // standing down: hosts drop us at once
    await vi.advanceTimersByTimeAsync(MIN_DELAY_BETWEEN_RAS_MS + 1);
    expect(h.sent.at(-1)!.ra.routerLifetimeSec).toBe(0);
    expect(h.sent.at(-1)!.ra.options.some((o) => o.kind === 'PREFIX_INFO')).toBe(true);
    await ra.stop();
  });

  it('follows a reload: new flags go out as a new initial burst; a subnet without advertisements gets a final one', async () => {
    const h = harness();
    const ra = await RouterAdvertiser.start(config().subnets, h.deps);
    await vi.advanceTimersByTimeAsync(60_000);
    await ra.update(config({ managed: false, routerLifetimeSec: 0 }).subnets);
    await vi.advanceTimersByTimeAsync(MIN_DELAY_BETWEEN_RAS_MS + 1);
    expect(h.sent.at(-1)!.ra).toMatchObject({ managed: false, routerLifetimeSec: 0 });
    await ra.update(
      parseConfig({ interfaces: ['lan0'], subnets: [{ name: 'lan', interface: 'lan0', prefix: '2001:db8:1::/64' }] }).subnets,
    );
    expect(h.counters.get('ra.tx.final')).toBe(1);
    expect(ra.status()).toEqual([]);
  });

  it('stays silent on an interface without a link-local address (RFC 4861 §4.2), and counts it', async () => {
    const h = harness();
    const ra = await RouterAdvertiser.start(config().subnets, { ...h.deps, linkInfo: () => ({ mac: MAC, hasLinkLocal: false }) });
    await vi.advanceTimersByTimeAsync(40_000);
    expect(h.sent).toHaveLength(0);
    expect(h.counters.get('ra.tx.no-link-local')).toBeGreaterThan(0);
    await ra.stop();
  });
});

describe('buildAdvertisement', () => {
  it('leaves out RDNSS and DNSSL when the subnet has no DNS options, and the MTU unless configured', () => {
    const subnet = config({ mtu: 1400, autonomous: false }, {}).subnets[0]!;
    const { ra } = buildAdvertisement(subnet, subnet.routerAdvertisements!, undefined, false);
    expect(ra.options.map((o) => o.kind)).toEqual(['MTU', 'PREFIX_INFO']);
    expect(ra.options[1]).toMatchObject({ autonomous: false, onLink: true });
  });

  it(`keeps the message within ${RA_BYTES_MAX} octets, splitting DNSSL and dropping what does not fit`, () => {
    const domains = Array.from({ length: 32 }, (_, i) => `${'x'.repeat(60)}.${'y'.repeat(60)}.d${i}.example`);
    const subnet = config({}, { dnsServers: Array.from({ length: 16 }, (_, i) => `2001:db8::${i + 1}`), domainSearch: domains })
      .subnets[0]!;
    const built = buildAdvertisement(subnet, subnet.routerAdvertisements!, MAC, false);
    expect(routerAdvertisementLength(built.ra)).toBeLessThanOrEqual(RA_BYTES_MAX);
    expect(built.domainsDropped).toBeGreaterThan(0);
    const kept = built.ra.options.flatMap((o) => (o.kind === 'DNSSL' ? o.domains : []));
    expect(kept).toEqual(domains.slice(0, 32 - built.domainsDropped));
    expect(decodeRouterAdvertisement(encodeRouterAdvertisement(built.ra)).ok).toBe(true);
  });
});

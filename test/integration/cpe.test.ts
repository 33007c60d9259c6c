// Issue #8 in network namespaces, with real dhcpcd: a stock host configures
// itself from twin6's router advertisements and starts DHCPv6 only because
// the RA says so; a requesting router gets a /56, numbers its downstream side
// from it, and a WAN-side host reaches that address through the twin6
// namespace; released and expired delegations lose their route; at restart
// the kernel's routes are made to match the store.
// Needs root and dhcpcd; without them it skips and says why (T6_LAB_REQUIRED=1 fails instead).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { callControl, CONTROL_SOCKET_NAME } from '../../src/daemon/control.js';
import {
  addDownstream,
  globalAddresses,
  labUnavailableReason,
  plantRoute,
  poll,
  routesIn,
  startLab,
  startWanHost,
  twin6CpeConfig,
  twin6Server,
  within,
  type Lab,
  type WanHost,
} from '../../src/lab/index.js';

const REQUIRED = process.env['T6_LAB_REQUIRED'] === '1';
const reason = await labUnavailableReason({ server: twin6Server(), clients: ['dhcpcd'] });
if (reason && REQUIRED) throw new Error(`T6_LAB_REQUIRED=1 but the lab cannot run: ${reason}`);
if (reason) console.warn(`[cpe.test] skipping: ${reason}`);

const PROTO = 62;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.info(`[cpe.test] ${line}`);

async function control(lab: Lab, cmd: string): Promise<unknown> {
  const answer = await callControl(join(lab.server!.ctx.dir, 'state', CONTROL_SOCKET_NAME), { cmd });
  if (!answer.ok) throw new Error(`${cmd}: ${answer.error}`);
  return answer.result;
}
const counters = async (lab: Lab) => ((await control(lab, 'status')) as { counters: Record<string, number> }).counters;

async function withLab<R>(lab: Lab, f: () => Promise<R>, extra: { wan?: WanHost } = {}): Promise<R> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof Error) e.message += `\n${lab.diagnostics()}`;
    throw e;
  } finally {
    extra.wan?.removeSync();
    await lab.stop();
  }
}

async function linkLocal(lab: Lab, which: 'server' | 'client'): Promise<string> {
  return which === 'server' ? lab.lan.server.waitInterfaceReady(lab.topology.serverIf) : lab.lan.clients[0]!.waitInterfaceReady(lab.topology.clientIf);
}

describe.skipIf(reason !== undefined)('CPE integration (issue #8): router advertisements and routes for delegated prefixes', () => {
  it('a stock dhcpcd host runs SLAAC from the RA and starts DHCPv6 only once the RA says M and O; the final RA removes its default route', async () => {
    // Phase 1: M = 0, O = 0. dhcpcd in its default mode must configure itself from the RA and not run DHCPv6.
    const config = twin6CpeConfig({}, { routerAdvertisements: { enabled: true, maxIntervalSec: 10, managed: false, otherConfig: false } });
    const lab = await startLab({ server: twin6Server({ config }), clients: [{ kind: 'dhcpcd', name: 'host', dhcpcdMode: 'stock', prefixLength: false }] });
    const wan: { wan?: WanHost } = {};
    await withLab(lab, async () => {
      const host = lab.clients[0]!;
      const serverLl = await linkLocal(lab, 'server');
      const startedAt = host.events()[0]?.at ?? Date.now();
      const ra = await poll(() => host.events().find((e) => e.reason === 'ROUTERADVERT'), { timeoutMs: 15_000, what: 'an RA at the host', detail: () => host.diagnostics() });
      const env = ra.env;
      expect(env['nd1_from']).toBe(serverLl);
      expect(env['nd1_flags'] ?? '').toBe('');
      expect(env['nd1_prefix_information1_prefix']).toBe('2001:db8:1::');
      expect(env['nd1_prefix_information1_length']).toBe('64');
      expect(env['nd1_prefix_information1_flags']).toBe('LA');
      expect(env['nd1_rdnss1_servers']).toBe('2001:db8:1::53');
      expect(env['nd1_dnssl1_search']).toBe('lab.example');
      expect(env['nd1_lifetime']).toBe('30'); // 3 × maxIntervalSec
      const slaac = env['nd1_addr1'] ?? '';
      expect(within(slaac, '2001:db8:1::/64'), slaac).toBe(true);
      const c1 = await counters(lab);
      log(`host got the RA ${ra.at - startedAt} ms after dhcpcd's first event; SLAAC ${slaac}; server counters rx.rs=${c1['ra.rx.rs'] ?? 0} tx.solicited=${c1['ra.tx.solicited'] ?? 0} tx.unsolicited=${c1['ra.tx.unsolicited'] ?? 0}`);
      expect(c1['ra.rx.rs'] ?? 0).toBeGreaterThanOrEqual(1);
      expect(c1['ra.tx.solicited'] ?? 0).toBeGreaterThanOrEqual(1);
      expect(await control(lab, 'ra')).toMatchObject([{ interface: lab.topology.serverIf, subnet: 'lab', open: true, routerLifetimeSec: 30 }]);
      // A default route through the server's link-local address, learnt from the RA.
      const hostRoutes = await routesIn(lab.lan.clients[0]!);
      expect(hostRoutes.find((r) => r.dst === 'default')?.gateway).toBe(serverLl);
      await sleep(5_000);
      const quiet = await counters(lab);
      expect(quiet['rx.SOLICIT'] ?? 0, 'no DHCPv6 while M = O = 0').toBe(0);
      expect(quiet['rx.INFORMATION_REQUEST'] ?? 0).toBe(0);
      expect(host.events().some((e) => e.kind === 'bound')).toBe(false);

      // Phase 2: the RA now says M and O (SIGHUP). The same dhcpcd starts DHCPv6 from it.
      const file = join(lab.server!.ctx.dir, 'twin6.json');
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { subnets: { routerAdvertisements: Record<string, unknown> }[] };
      doc.subnets[0]!.routerAdvertisements = { enabled: true, maxIntervalSec: 10 };
      writeFileSync(file, JSON.stringify(doc));
      const reloadAt = Date.now();
      process.kill(lab.server!.process.pid, 'SIGHUP');
      const b = await host.waitForBinding({ timeoutMs: 30_000 });
      const bound = host.events().find((e) => e.kind === 'bound')!;
      const mo = host.events().find((e) => e.reason === 'ROUTERADVERT' && e.env['nd1_flags'] === 'MO');
      expect(mo, 'an RA with M and O before the DHCPv6 binding').toBeDefined();
      expect(mo!.at).toBeLessThanOrEqual(bound.at);
      expect(within(b.addresses[0]!.address, '2001:db8:1::/64')).toBe(true);
      const c2 = await counters(lab);
      expect(c2['rx.SOLICIT'] ?? 0).toBeGreaterThanOrEqual(1);
      log(`after SIGHUP (M=1, O=1): RA with MO at +${mo!.at - reloadAt} ms, DHCPv6 address ${b.addresses[0]!.address} at +${bound.at - reloadAt} ms`);

      // Phase 3: twin6d stops; its final RA (router lifetime 0, RFC 4861 §6.2.5) makes the host drop it as default router.
      const stopAt = Date.now();
      await lab.server!.stop();
      await poll(async () => ((await routesIn(lab.lan.clients[0]!)).some((r) => r.dst === 'default') ? undefined : true), {
        timeoutMs: 5_000,
        what: 'the host to drop its default route after the final RA',
      });
      const last = host.events().filter((e) => e.reason === 'ROUTERADVERT').at(-1)!;
      expect(last.env['nd1_lifetime']).toBe('0');
      log(`final RA: default route gone ${Date.now() - stopAt} ms after SIGTERM`);
    }, wan);
  }, 120_000);

  it('a requesting router gets a /56 and numbers down0 from it; a WAN host reaches that address through twin6, and loses it on release', async () => {
    const lab = await startLab({
      server: twin6Server({ config: twin6CpeConfig() }),
      clients: [{ kind: 'dhcpcd', name: 'router', routerSolicitation: true, delegateTo: 'down0' }],
      startClients: false,
    });
    const extra: { wan?: WanHost } = {};
    await withLab(lab, async () => {
      const routerNs = lab.lan.clients[0]!;
      await addDownstream(routerNs, 'down0');
      const router = lab.clients[0]!;
      await router.start();
      const b = await router.waitForBinding({ timeoutMs: 30_000 });
      const delegated = `${b.prefixes[0]!.prefix}/${b.prefixes[0]!.length}`;
      expect(b.prefixes[0]!.length).toBe(56);
      const down = await poll(async () => (await globalAddresses(routerNs, 'down0')).find((a) => within(a.split('/')[0]!, delegated)), {
        timeoutMs: 10_000,
        what: 'an address from the delegated prefix on down0',
        detail: () => router.diagnostics(),
      });
      const downAddress = down.split('/')[0]!;
      const routerLl = await linkLocal(lab, 'client');
      const serverLl = await linkLocal(lab, 'server');

      // twin6 routes the /56 to the router's link-local address on lan0.
      const route = await poll(async () => (await routesIn(lab.lan.server, PROTO)).find((r) => r.dst === delegated), { timeoutMs: 10_000, what: `a route for ${delegated}` });
      expect(route).toMatchObject({ gateway: routerLl, dev: lab.topology.serverIf, metric: 1062 });
      const lease = await lab.server!.waitForLease((l) => l.type === 'pd' && `${l.address}/${l.prefixLength}` === delegated && l.state === 'active', 'active delegation');
      expect(lease.state).toBe('active');
      // The router's way back is the default route from twin6's RA.
      await poll(async () => ((await routesIn(routerNs)).find((r) => r.dst === 'default')?.gateway === serverLl ? true : undefined), {
        timeoutMs: 20_000,
        what: 'the router to take twin6 as its default router',
      });

      extra.wan = await startWanHost(lab.lan, lab.dir);
      const ping = await extra.wan.ping(downAddress, 3);
      log(`router ${routerLl} got ${delegated}, down0 ${down}; WAN host ${extra.wan.address} → ${downAddress}: ${ping.received}/${ping.sent} replies, rtt ${ping.rttMs.join(', ')} ms`);
      expect(ping.received).toBe(3);

      // Without the route there is no way in; reconcile (as at start, or after a takeover) puts it back.
      await lab.lan.server.ip(['-6', 'route', 'del', delegated, 'proto', String(PROTO)]);
      expect((await extra.wan.ping(downAddress, 1)).received).toBe(0);
      expect(await control(lab, 'routes-reconcile')).toMatchObject({ added: 1, removed: 0 });
      expect((await extra.wan.ping(downAddress, 2)).received).toBe(2);

      // Release: the lease is released and the route goes with it.
      const releasedAt = Date.now();
      await router.release();
      await lab.server!.waitForLease((l) => `${l.address}/${l.prefixLength}` === delegated && l.state === 'released', 'released delegation');
      await poll(async () => ((await routesIn(lab.lan.server, PROTO)).some((r) => r.dst === delegated) ? undefined : true), { timeoutMs: 5_000, what: 'the route to go after release' });
      log(`released: route for ${delegated} gone ${Date.now() - releasedAt} ms after dhcpcd -k`);
      expect((await routesIn(lab.lan.server, PROTO)).length).toBe(0);
    }, extra);
  }, 120_000);

  it("an expired delegation's route is gone, and at restart the kernel's routes are made to match the store", async () => {
    const short = { preferredSec: 30, validSec: 30, renewRatio: 0.5, rebindRatio: 0.8 };
    const lab = await startLab({ server: twin6Server({ config: twin6CpeConfig({ pdLifetimes: short }) }), clients: [{ kind: 'dhcpcd', name: 'router' }] });
    await withLab(lab, async () => {
      const router = lab.clients[0]!;
      const b = await router.waitForBinding({ timeoutMs: 30_000 });
      const delegated = `${b.prefixes[0]!.prefix}/${b.prefixes[0]!.length}`;
      const routerLl = await linkLocal(lab, 'client');
      await poll(async () => (await routesIn(lab.lan.server, PROTO)).find((r) => r.dst === delegated), { timeoutMs: 10_000, what: `a route for ${delegated}` });

      // A stale route of ours that no delegation justifies (left by a crash, or a lost store).
      const stale = '2001:db8:80ff:ff00::/56';
      await plantRoute(lab.lan.server, stale, 'fe80::dead', lab.topology.serverIf, PROTO, 1062);
      // Routes stay while twin6d is down: a restart does not cut the router off.
      await lab.server!.stop();
      expect((await routesIn(lab.lan.server, PROTO)).map((r) => r.dst).sort()).toEqual([delegated, stale].sort());
      await lab.restartServer('SIGTERM');
      const after = await poll(async () => {
        const rows = await routesIn(lab.lan.server, PROTO);
        return rows.some((r) => r.dst === stale) ? undefined : rows;
      }, { timeoutMs: 10_000, what: 'the stale route to be removed at start' });
      expect(after.map((r) => [r.dst, r.gateway])).toEqual([[delegated, routerLl]]);
      log(`restart: stale ${stale} removed, ${delegated} kept`);

      // The router disappears without a Release: the delegation expires and its route goes.
      await router.stop();
      const lease = await lab.server!.waitForLease((l) => `${l.address}/${l.prefixLength}` === delegated, 'the delegation');
      await poll(async () => ((await routesIn(lab.lan.server, PROTO)).some((r) => r.dst === delegated) ? undefined : true), {
        timeoutMs: (short.validSec + 15) * 1000,
        intervalMs: 250,
        what: 'the route to go at expiry',
      });
      const goneAtSec = Date.now() / 1000;
      const expired = await lab.server!.waitForLease((l) => `${l.address}/${l.prefixLength}` === delegated && l.state === 'expired', 'expired delegation');
      log(`expiry: lease valid until ${lease.expiresAt}, route gone at ${goneAtSec.toFixed(1)} (${(goneAtSec - lease.expiresAt).toFixed(1)} s after)`);
      expect(goneAtSec).toBeGreaterThanOrEqual(lease.expiresAt);
      expect(goneAtSec - lease.expiresAt).toBeLessThan(5);
      expect(expired.state).toBe('expired');
    });
  }, 150_000);
});

// Issue #8 in network namespaces, with real dhcpcd: a stock host configures
// itself from twin6's router advertisements and starts DHCPv6 only because
// the RA says so; a requesting router gets a /56, numbers its downstream side
// from it, and a WAN-side host reaches that address through the twin6
// namespace; released and expired delegations lose their route; at restart
// the kernel's routes are made to match the store. In a failover pair the
// serving partner alone routes the delegations and is the default router;
// when the primary loses power the secondary takes both over at once.
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
  startPairLab,
  startPairWanHost,
  startWanHost,
  twin6CpeConfig,
  twin6Server,
  within,
  type Lab,
  type PairLab,
  type PairRole,
  type PairWanHost,
  type WanHost,
} from '../../src/testing/lab/index.js';
import type { Lease } from '../../src/engine/index.js';
import type { FailoverStatus } from '../../src/failover/endpoint.js';
import type { RaInterfaceStatus } from '../../src/net/ra.js';
import { labRequired, skipUnlessRequired } from '../../src/testing/lab/prereq.js';

const reason = await labUnavailableReason({ server: twin6Server(), clients: ['dhcpcd'] });
skipUnlessRequired(reason, labRequired(), 'the lab');
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
  return which === 'server'
    ? lab.lan.server.waitInterfaceReady(lab.topology.serverIf)
    : lab.lan.clients[0]!.waitInterfaceReady(lab.topology.clientIf);
}

describe.skipIf(reason !== undefined)('CPE integration (issue #8): router advertisements and routes for delegated prefixes', () => {
  it('a stock dhcpcd host runs SLAAC from the RA and starts DHCPv6 only once the RA says M and O; the final RA removes its default route', async () => {
    // Phase 1: M = 0, O = 0. dhcpcd in its default mode must configure itself from the RA and not run DHCPv6.
    const config = twin6CpeConfig({}, { routerAdvertisements: { enabled: true, maxIntervalSec: 10, managed: false, otherConfig: false } });
    const lab = await startLab({
      server: twin6Server({ config }),
      clients: [{ kind: 'dhcpcd', name: 'host', dhcpcdMode: 'stock', prefixLength: false }],
    });
    const wan: { wan?: WanHost } = {};
    await withLab(
      lab,
      async () => {
        const host = lab.clients[0]!;
        const serverLl = await linkLocal(lab, 'server');
        const startedAt = host.events()[0]?.at ?? Date.now();
        const ra = await poll(() => host.events().find((e) => e.reason === 'ROUTERADVERT'), {
          timeoutMs: 15_000,
          what: 'an RA at the host',
          detail: () => host.diagnostics(),
        });
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
        log(
          `host got the RA ${ra.at - startedAt} ms after dhcpcd's first event; SLAAC ${slaac}; server counters rx.rs=${c1['ra.rx.rs'] ?? 0} tx.solicited=${c1['ra.tx.solicited'] ?? 0} tx.unsolicited=${c1['ra.tx.unsolicited'] ?? 0}`,
        );
        expect(c1['ra.rx.rs'] ?? 0).toBeGreaterThanOrEqual(1);
        expect(c1['ra.tx.solicited'] ?? 0).toBeGreaterThanOrEqual(1);
        expect(await control(lab, 'ra')).toMatchObject([
          { interface: lab.topology.serverIf, subnet: 'lab', open: true, routerLifetimeSec: 30 },
        ]);
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
        log(
          `after SIGHUP (M=1, O=1): RA with MO at +${mo!.at - reloadAt} ms, DHCPv6 address ${b.addresses[0]!.address} at +${bound.at - reloadAt} ms`,
        );

        // Phase 3: twin6d stops; its final RA (router lifetime 0, RFC 4861 §6.2.5) makes the host drop it as default router.
        const stopAt = Date.now();
        await lab.server!.stop();
        await poll(async () => ((await routesIn(lab.lan.clients[0]!)).some((r) => r.dst === 'default') ? undefined : true), {
          timeoutMs: 5_000,
          what: 'the host to drop its default route after the final RA',
        });
        // dhcpcd drops the route before its hook script records the RA: under load the record comes later.
        const last = await poll(
          async () => {
            const ra = host
              .events()
              .filter((e) => e.reason === 'ROUTERADVERT')
              .at(-1);
            return ra && ra.at >= stopAt ? ra : undefined;
          },
          { timeoutMs: 5_000, what: "dhcpcd's record of the final RA" },
        );
        expect(last.env['nd1_lifetime']).toBe('0');
        log(`final RA: default route gone ${Date.now() - stopAt} ms after SIGTERM`);
      },
      wan,
    );
  }, 120_000);

  it('a requesting router gets a /56 and numbers down0 from it; a WAN host reaches that address through twin6, and loses it on release', async () => {
    const lab = await startLab({
      server: twin6Server({ config: twin6CpeConfig() }),
      clients: [{ kind: 'dhcpcd', name: 'router', routerSolicitation: true, delegateTo: 'down0' }],
      startClients: false,
    });
    const extra: { wan?: WanHost } = {};
    await withLab(
      lab,
      async () => {
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
        const route = await poll(async () => (await routesIn(lab.lan.server, PROTO)).find((r) => r.dst === delegated), {
          timeoutMs: 10_000,
          what: `a route for ${delegated}`,
        });
        expect(route).toMatchObject({ gateway: routerLl, dev: lab.topology.serverIf, metric: 1062 });
        const lease = await lab.server!.waitForLease(
          (l) => l.type === 'pd' && `${l.address}/${l.prefixLength}` === delegated && l.state === 'active',
          'active delegation',
        );
        expect(lease.state).toBe('active');
        // The router's way back is the default route from twin6's RA.
        await poll(async () => ((await routesIn(routerNs)).find((r) => r.dst === 'default')?.gateway === serverLl ? true : undefined), {
          timeoutMs: 20_000,
          what: 'the router to take twin6 as its default router',
        });

        extra.wan = await startWanHost(lab.lan, lab.dir);
        const ping = await extra.wan.ping(downAddress, 3);
        log(
          `router ${routerLl} got ${delegated}, down0 ${down}; WAN host ${extra.wan.address} → ${downAddress}: ${ping.received}/${ping.sent} replies, rtt ${ping.rttMs.join(', ')} ms`,
        );
        expect(ping.received).toBe(3);

        // Without the route there is no way in; reconcile (as at start, or after a takeover) puts it back.
        await lab.lan.server.ip(['-6', 'route', 'del', delegated, 'proto', String(PROTO)]);
        expect((await extra.wan.ping(downAddress, 1)).received).toBe(0);
        expect(await control(lab, 'routes-reconcile')).toMatchObject({ added: 1, removed: 0 });
        expect((await extra.wan.ping(downAddress, 2)).received).toBe(2);

        // Release: the lease is released and the route goes with it.
        const releasedAt = Date.now();
        await router.release();
        await lab.server!.waitForLease(
          (l) => `${l.address}/${l.prefixLength}` === delegated && l.state === 'released',
          'released delegation',
        );
        await poll(async () => ((await routesIn(lab.lan.server, PROTO)).some((r) => r.dst === delegated) ? undefined : true), {
          timeoutMs: 5_000,
          what: 'the route to go after release',
        });
        log(`released: route for ${delegated} gone ${Date.now() - releasedAt} ms after dhcpcd -k`);
        expect((await routesIn(lab.lan.server, PROTO)).length).toBe(0);
      },
      extra,
    );
  }, 120_000);

  it("an expired delegation's route is gone, and at restart the kernel's routes are made to match the store", async () => {
    const short = { preferredSec: 30, validSec: 30, renewRatio: 0.5, rebindRatio: 0.8 };
    const lab = await startLab({
      server: twin6Server({ config: twin6CpeConfig({ pdLifetimes: short }) }),
      clients: [{ kind: 'dhcpcd', name: 'router' }],
    });
    await withLab(lab, async () => {
      const router = lab.clients[0]!;
      const b = await router.waitForBinding({ timeoutMs: 30_000 });
      const delegated = `${b.prefixes[0]!.prefix}/${b.prefixes[0]!.length}`;
      const routerLl = await linkLocal(lab, 'client');
      await poll(async () => (await routesIn(lab.lan.server, PROTO)).find((r) => r.dst === delegated), {
        timeoutMs: 10_000,
        what: `a route for ${delegated}`,
      });

      // A stale route of ours that no delegation justifies (left by a crash, or a lost store).
      const stale = '2001:db8:80ff:ff00::/56';
      await plantRoute(lab.lan.server, stale, 'fe80::dead', lab.topology.serverIf, PROTO, 1062);
      // Routes stay while twin6d is down: a restart does not cut the router off.
      await lab.server!.stop();
      expect((await routesIn(lab.lan.server, PROTO)).map((r) => r.dst).sort()).toEqual([delegated, stale].sort());
      await lab.restartServer('SIGTERM');
      const after = await poll(
        async () => {
          const rows = await routesIn(lab.lan.server, PROTO);
          return rows.some((r) => r.dst === stale) ? undefined : rows;
        },
        { timeoutMs: 10_000, what: 'the stale route to be removed at start' },
      );
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
      const expired = await lab.server!.waitForLease(
        (l) => `${l.address}/${l.prefixLength}` === delegated && l.state === 'expired',
        'expired delegation',
      );
      log(
        `expiry: lease valid until ${lease.expiresAt}, route gone at ${goneAtSec.toFixed(1)} (${(goneAtSec - lease.expiresAt).toFixed(1)} s after)`,
      );
      expect(goneAtSec).toBeGreaterThanOrEqual(lease.expiresAt);
      expect(goneAtSec - lease.expiresAt).toBeLessThan(5);
      expect(expired.state).toBe('expired');
    });
  }, 150_000);
});

describe.skipIf(reason !== undefined)('routes and router advertisements in a failover pair (issue #8 with #4)', () => {
  async function pairControl<T>(lab: PairLab, role: PairRole, cmd: string): Promise<T> {
    const answer = await callControl(join(lab.stateDir(role), CONTROL_SOCKET_NAME), { cmd, limit: 1000 });
    if (!answer.ok) throw new Error(`${role} ${cmd}: ${answer.error}`);
    return answer.result as T;
  }
  const stateOf = async (lab: PairLab, role: PairRole) => (await pairControl<FailoverStatus>(lab, role, 'failover.status')).state;
  const untilState = (lab: PairLab, role: PairRole, state: string, timeoutMs = 40_000) =>
    // A daemon just started answers on its control socket before failover has registered its commands.
    poll(async () => ((await stateOf(lab, role).catch(() => undefined)) === state ? true : undefined), {
      timeoutMs,
      intervalMs: 250,
      what: `${role} to reach ${state}`,
    });
  const routeOn = (lab: PairLab, role: PairRole, prefix: string) =>
    routesIn(lab.server[role], PROTO).then((rows) => rows.find((r) => r.dst === prefix));
  const defaultRouterOf = async (ns: PairLab['clientNamespaces'][number]) =>
    (await routesIn(ns)).filter((r) => r.dst === 'default').map((r) => r.gateway);

  it('only the serving partner routes the delegation and is the default router; after the primary loses power the secondary routes it at once, and hands it back', async () => {
    const lab = await startPairLab({
      config: twin6CpeConfig(),
      clients: [{ kind: 'dhcpcd', name: 'router', routerSolicitation: true, delegateTo: 'down0' }],
      startClients: false,
    });
    let wan: PairWanHost | undefined;
    try {
      const routerNs = lab.clientNamespaces[0]!;
      await addDownstream(routerNs, 'down0');
      const router = lab.clients[0]!;
      await router.start();
      const b = await router.waitForBinding({ timeoutMs: 30_000 });
      const delegated = `${b.prefixes[0]!.prefix}/${b.prefixes[0]!.length}`;
      const down = await poll(async () => (await globalAddresses(routerNs, 'down0')).find((a) => within(a.split('/')[0]!, delegated)), {
        timeoutMs: 10_000,
        what: 'an address from the delegated prefix on down0',
      });
      const downAddress = down.split('/')[0]!;
      const routerLl = await routerNs.waitInterfaceReady(lab.topology.clientIf);
      const ll = {
        primary: await lab.server.primary.waitInterfaceReady(lab.topology.serverIf),
        secondary: await lab.server.secondary.waitInterfaceReady(lab.topology.serverIf),
      };
      await untilState(lab, 'primary', 'NORMAL');
      await untilState(lab, 'secondary', 'NORMAL');

      // NORMAL: the primary routes the /56 to the router; the secondary knows the router from the
      // binding update alone (the router never talked to it) and holds no route.
      expect(
        await poll(() => routeOn(lab, 'primary', delegated), { timeoutMs: 10_000, what: 'the primary to route the delegation' }),
      ).toMatchObject({ gateway: routerLl, dev: lab.topology.serverIf });
      const replicated = await poll(
        async () =>
          (await pairControl<{ leases: Lease[] }>(lab, 'secondary', 'leases')).leases.find((l) => l.resource === delegated && l.via),
        { timeoutMs: 20_000, what: 'the secondary to hold the delegation with its requesting router' },
      );
      expect(replicated.via).toEqual({ address: routerLl, interface: lab.topology.serverIf });
      expect(await routeOn(lab, 'secondary', delegated)).toBeUndefined();
      expect((await pairControl<RaInterfaceStatus[]>(lab, 'secondary', 'ra'))[0]).toMatchObject({
        defaultRouter: false,
        routerLifetimeSec: 0,
      });
      expect((await pairControl<RaInterfaceStatus[]>(lab, 'primary', 'ra'))[0]).toMatchObject({ defaultRouter: true });
      await poll(async () => ((await defaultRouterOf(routerNs)).join() === ll.primary ? true : undefined), {
        timeoutMs: 30_000,
        what: 'the router to take only the primary as default router',
      });

      wan = await startPairWanHost(lab, `${lab.topology.pdPool.prefix}/${lab.topology.pdPool.prefixLength}`);
      expect((await wan.ping(downAddress, 3)).received).toBe(3);

      // The primary loses power: the daemon dies and every port goes dark with it.
      const cutAt = Date.now();
      await lab.stop('primary', 'SIGKILL');
      for (const ifname of ['wan0', lab.topology.serverIf, 'p0']) await lab.server.primary.ip(['link', 'set', ifname, 'down']);
      await untilState(lab, 'secondary', 'COMMUNICATIONS-INTERRUPTED');
      const route = await poll(() => routeOn(lab, 'secondary', delegated), {
        timeoutMs: 10_000,
        intervalMs: 100,
        what: 'the secondary to route the delegation',
      });
      const routedAt = Date.now();
      expect(route).toMatchObject({ gateway: routerLl, dev: lab.topology.serverIf });
      // The router has not renewed or rebound since: the route came from the replicated binding.
      expect(router.events().filter((e) => e.at > cutAt && (e.kind === 'renew' || e.kind === 'rebind'))).toEqual([]);
      // dhcpcd keeps the dead primary as its default router until the lifetime that primary last
      // advertised runs out (3 × maxIntervalSec = 30 s here); the secondary's advertisements are there.
      await poll(async () => ((await defaultRouterOf(routerNs)).includes(ll.secondary) ? true : undefined), {
        timeoutMs: 90_000,
        what: 'the router to take the secondary as default router',
      });
      const switchedAt = Date.now();
      const ping = await poll(
        async () => {
          const p = await wan!.ping(downAddress, 3);
          return p.received === 3 ? p : undefined;
        },
        { timeoutMs: 30_000, what: 'the WAN host to reach down0 through the secondary' },
      );
      log(
        `pair: primary cut at 0 s; secondary routed ${delegated} after ${((routedAt - cutAt) / 1000).toFixed(2)} s; router switched default router after ${((switchedAt - cutAt) / 1000).toFixed(1)} s; WAN host reached ${downAddress} through the secondary after ${((Date.now() - cutAt) / 1000).toFixed(1)} s (rtt ${ping.rttMs.join(', ')} ms)`,
      );

      // Power back: the primary recovers, the pair returns to NORMAL, and the secondary stands down.
      for (const ifname of ['wan0', lab.topology.serverIf, 'p0']) await lab.server.primary.ip(['link', 'set', ifname, 'up']);
      await lab.server.primary.ip(['-6', 'route', 'replace', 'default', 'via', '2001:db8:fffa::2', 'dev', 'wan0']);
      await lab.start('primary');
      await untilState(lab, 'primary', 'NORMAL', 90_000);
      await untilState(lab, 'secondary', 'NORMAL', 30_000);
      await poll(async () => ((await routeOn(lab, 'secondary', delegated)) ? undefined : true), {
        timeoutMs: 10_000,
        what: 'the secondary to withdraw its route',
      });
      expect(
        await poll(() => routeOn(lab, 'primary', delegated), { timeoutMs: 10_000, what: 'the primary to route the delegation again' }),
      ).toMatchObject({ gateway: routerLl });
      expect((await pairControl<RaInterfaceStatus[]>(lab, 'secondary', 'ra'))[0]).toMatchObject({ defaultRouter: false });
      expect(
        (
          await poll(
            async () => {
              const p = await wan!.ping(downAddress, 3);
              return p.received === 3 ? p : undefined;
            },
            { timeoutMs: 30_000, what: 'the WAN host to reach down0 through the primary again' },
          )
        ).received,
      ).toBe(3);
    } catch (e) {
      if (e instanceof Error) e.message += `\n${lab.diagnostics()}`;
      throw e;
    } finally {
      wan?.removeSync();
      await lab.close();
    }
  }, 300_000);
});

// twin6d as a whole, in network namespaces with real clients: restarts keep
// bindings, hostile input is dropped and counted while real clients are
// served, and SIGKILL under load never loses a lease a client saw in a Reply.
// Needs root, dhclient and dhcpcd; without them it skips and says why (CI
// sets T6_LAB_REQUIRED=1, which turns the skip into a failure).

import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labUnavailableReason, startLab, twin6Server, run, type Lab, type ServerLease } from '../../src/testing/lab/index.js';
import { MALFORMED } from '../../src/testing/lab/bad-packets.js';
import type { HostileReport } from '../../src/testing/lab/hostile-packets.js';
import { labRequired, skipUnlessRequired } from '../../src/testing/lab/prereq.js';
import { prng, seedText, testSeed } from '../seed.js';

const reason = await labUnavailableReason({ server: twin6Server(), clients: ['dhclient', 'dhcpcd'] });
skipUnlessRequired(reason, labRequired(), 'the lab');
if (reason) console.warn(`[twin6d.test] skipping: ${reason}`);

const DIST = resolve('dist');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How far ahead of the clock the floor test puts the floor: long enough for a client to be refused first. */
const CLOCK_FLOOR_AHEAD_SEC = 10;
/** When the SIGKILLs come (test/seed.ts). */
const KILL_SEED = testSeed(20);

async function status(lab: Lab): Promise<{ counters: Record<string, number>; leases: number; pid: number }> {
  const out = await run([
    process.execPath,
    join(DIST, 'cli/twin6ctl.js'),
    '--state-dir',
    join(lab.server!.ctx.dir, 'state'),
    'status',
    '--json',
  ]);
  return JSON.parse(out.stdout) as { counters: Record<string, number>; leases: number; pid: number };
}

async function withLab<R>(lab: Lab, f: (lab: Lab) => Promise<R>): Promise<R> {
  try {
    return await f(lab);
  } catch (e) {
    if (e instanceof Error) e.message += `\n${lab.diagnostics()}`;
    throw e;
  } finally {
    await lab.stop();
  }
}

/** A lab with dhcpcd bound and dhclient not started yet: the attack tests' starting point. */
async function withBoundDhcpcd(
  f: (w: {
    lab: Lab;
    dhcpcd: Lab['clients'][number];
    dhclient: Lab['clients'][number];
    first: Awaited<ReturnType<Lab['clients'][number]['waitForBinding']>>;
    boundAt: number;
  }) => Promise<void>,
): Promise<void> {
  const lab = await startLab({ server: twin6Server(), clients: [{ kind: 'dhcpcd' }, { kind: 'dhclient' }], startClients: false });
  await withLab(lab, async () => {
    const dhcpcd = lab.client('dhcpcd');
    const dhclient = lab.client('dhclient');
    await dhcpcd.start();
    const first = await dhcpcd.waitForBinding({ timeoutMs: 30_000 });
    await f({ lab, dhcpcd, dhclient, first, boundAt: Date.now() });
  });
}

const key = (type: string, resource: string) => `${type} ${resource}`;
const leaseResource = (l: ServerLease) => (l.type === 'na' ? l.address : `${l.address}/${l.prefixLength}`);

describe.skipIf(reason !== undefined)('twin6d with real clients', () => {
  it('keeps every client binding across a restart: dhclient and dhcpcd renew the same address and prefix', async () => {
    const lab = await startLab({ server: twin6Server(), clients: [{ kind: 'dhclient' }, { kind: 'dhcpcd' }] });
    await withLab(lab, async () => {
      const before = new Map<string, { binding: Awaited<ReturnType<(typeof lab.clients)[number]['waitForBinding']>>; at: number }>();
      for (const c of lab.clients) before.set(c.name, { binding: await c.waitForBinding({ timeoutMs: 30_000 }), at: Date.now() });
      await lab.restartServer('SIGTERM');
      const restartedAt = Date.now();
      for (const c of lab.clients) {
        const held = before.get(c.name)!;
        const r = await c.waitForRenewal(held.binding, restartedAt, { timeoutMs: (lab.topology.lifetimes.t1Sec + 25) * 1000 });
        expect(r.binding.addresses.map((a) => a.address)).toEqual(held.binding.addresses.map((a) => a.address));
        expect(r.binding.prefixes.map((p) => `${p.prefix}/${p.length}`)).toEqual(
          held.binding.prefixes.map((p) => `${p.prefix}/${p.length}`),
        );
        expect(r.binding.addresses[0]!.validLifetime).toBe(lab.topology.lifetimes.validSec);
      }
      // The server's record: both clients' leases still active under their own DUIDs, one each.
      const leases = await lab.server!.leases();
      const active = leases.filter((l) => l.state === 'active');
      expect(active).toHaveLength(4);
      expect(new Set(active.map((l) => l.duid)).size).toBe(2);
    });
  }, 120_000);

  it('drops and counts malformed packets by kind, survives a Solicit flood, and serves real clients during and after', async () => {
    await withBoundDhcpcd(async ({ lab, dhcpcd, dhclient, first, boundAt }) => {
      const leasesBefore = (await status(lab)).leases;

      const attacker = lab.lan.clients[0]!.spawn('bad-packets', [
        process.execPath,
        join(DIST, 'testing/lab/bad-packets.js'),
        '--iface',
        lab.topology.clientIf,
        '--repeat',
        '5',
        '--flood',
        '3000',
        '--rate',
        '600',
      ]);
      // A new client arrives in the middle of the flood and must be served.
      await sleep(1500);
      await dhclient.start();
      const during = await dhclient.waitForBinding({ timeoutMs: 30_000 });
      expect(during.addresses).toHaveLength(1);
      expect(during.prefixes).toHaveLength(1);
      const exit = await attacker.exited;
      expect(exit.code).toBe(0);
      const report = JSON.parse(attacker.log().trim().split('\n').pop()!) as {
        sent: Record<string, number>;
        advertised: number;
        flood: number;
      };

      const after = await status(lab);
      for (const [counter, sent] of Object.entries(report.sent)) {
        expect(after.counters[counter] ?? 0, counter).toBe(sent);
      }
      expect(Object.keys(report.sent).sort()).toEqual(Object.keys(MALFORMED).sort());
      // RFC 8415 §18.3.1: every valid Solicit of the flood gets an Advertise, and an Advertise commits nothing.
      expect(report.advertised).toBe(report.flood);
      expect(after.leases).toBe(leasesBefore + 2); // only dhclient's address and prefix were added

      // And after: the first client renews as usual.
      const r = await dhcpcd.waitForRenewal(first, boundAt, { timeoutMs: (lab.topology.lifetimes.t1Sec + 25) * 1000 });
      expect(r.binding.addresses[0]!.address).toBe(first.addresses[0]!.address);
    });
  }, 150_000);

  it('survives a hostile host (bad prefix hints, thousands of IAs, one DUID draining, fuzzed messages) and keeps serving real clients', async () => {
    await withBoundDhcpcd(async ({ lab, dhcpcd, dhclient, first, boundAt }) => {
      const pidBefore = (await status(lab)).pid;

      const attackSec = lab.topology.lifetimes.t1Sec + 15;
      const attacker = lab.lan.clients[0]!.spawn('hostile-packets', [
        process.execPath,
        join(DIST, 'testing/lab/hostile-packets.js'),
        '--iface',
        lab.topology.clientIf,
        '--seconds',
        String(attackSec),
        '--seed',
        '16',
      ]);
      // A new client arrives during the attack and must be served; the first one renews through it.
      await sleep(2000);
      await dhclient.start();
      const during = await dhclient.waitForBinding({ timeoutMs: 30_000 });
      expect(during.addresses).toHaveLength(1);
      expect(during.prefixes).toHaveLength(1);
      const renewed = await dhcpcd.waitForRenewal(first, boundAt, { timeoutMs: (lab.topology.lifetimes.t1Sec + 25) * 1000 });
      expect(renewed.binding.addresses[0]!.address).toBe(first.addresses[0]!.address);
      expect(renewed.binding.prefixes[0]!.prefix).toBe(first.prefixes[0]!.prefix);

      const exit = await attacker.exited;
      expect(exit.code, attacker.log()).toBe(0);
      const report = JSON.parse(attacker.log().trim().split('\n').pop()!) as HostileReport;
      expect(report.sent.kill).toBeGreaterThan(100);

      // The same process, never restarted, and its control socket answers.
      expect(lab.server!.process.running).toBe(true);
      const after = await status(lab);
      expect(after.pid).toBe(pidBefore);
      const c = (name: string) => after.counters[name] ?? 0;
      expect(c('refused.hint-not-canonical')).toBeGreaterThan(0);
      expect(c('refused.ias-per-message')).toBeGreaterThan(0);
      expect(c('refused.leases-per-client')).toBeGreaterThan(0);
      expect(c('drop.reply-too-large')).toBeGreaterThan(0);
      expect(c('drop.internal-error')).toBe(0);
      expect(c('drop.commit-failed')).toBe(0);
      expect(c('drop.store-rejected')).toBe(0);
      expect(lab.server!.log()).not.toMatch(/"level":(50|60)/); // no error or fatal line

      // Nothing the attacker did let one client hold more than the per-client limit.
      const perClient = new Map<string, number>();
      for (const l of await lab.server!.leases()) if (l.state === 'active') perClient.set(l.duid, (perClient.get(l.duid) ?? 0) + 1);
      expect(Math.max(...perClient.values())).toBeLessThanOrEqual(16);
    });
  }, 180_000);

  it('reloads its config on SIGHUP, refuses a bad one with the key and keeps serving', async () => {
    const lab = await startLab({ server: twin6Server(), clients: [{ kind: 'dhcpcd' }] });
    await withLab(lab, async () => {
      const c = lab.clients[0]!;
      const first = await c.waitForBinding({ timeoutMs: 30_000 });
      const boundAt = Date.now();
      const configFile = join(lab.server!.ctx.dir, 'twin6.json');
      const config = JSON.parse(readFileSync(configFile, 'utf8')) as { options: { dnsServers: string[] }; subnets: { pools: string[] }[] };
      const pid = lab.server!.process.pid;
      const counter = async (name: string) => (await status(lab)).counters[name] ?? 0;
      const until = async (name: string, value: number) => {
        for (let i = 0; i < 50 && (await counter(name)) !== value; i++) await sleep(100);
        expect(await counter(name), name).toBe(value);
      };

      config.options.dnsServers = ['2001:db8:1::54'];
      writeFileSync(configFile, JSON.stringify(config));
      process.kill(pid, 'SIGHUP');
      await until('config.reloads', 1);

      config.subnets[0]!.pools = ['2001:db8:99::1-2001:db8:99::9']; // outside the subnet prefix
      writeFileSync(configFile, JSON.stringify(config));
      process.kill(pid, 'SIGHUP');
      await until('config.rejected', 1);
      expect(lab.server!.log()).toMatch(/subnets\[0\]\.pools\[0\].*still serving the old one/);

      const r = await c.waitForRenewal(first, boundAt, { timeoutMs: (lab.topology.lifetimes.t1Sec + 25) * 1000 });
      expect(r.binding.addresses[0]!.address).toBe(first.addresses[0]!.address);
      expect(lab.server!.process.running).toBe(true);
    });
  }, 120_000);

  it('answers nobody while its clock is below the floor, says why, and serves within a second of the clock reaching it (docs/image.md §12)', async () => {
    // A floor just ahead of the clock, as the image's build time is ahead of a board that booted in 1970.
    const floorSec = Math.floor(Date.now() / 1000) + CLOCK_FLOOR_AHEAD_SEC;
    const lab = await startLab({
      server: twin6Server({
        args: (ctx) => {
          const mark = join(ctx.dir, 'build-time');
          writeFileSync(mark, `${floorSec}\n`);
          return ['--clock-floor-files', `${mark},${join(ctx.dir, 'no-such-file')}`];
        },
      }),
      clients: [{ kind: 'dhclient' }],
    });
    await withLab(lab, async () => {
      const c = lab.clients[0]!;
      // The client asks and is not answered: its Solicits are dropped and counted.
      for (let i = 0; i < 100 && ((await status(lab)).counters['drop.clock-behind'] ?? 0) === 0; i++) await sleep(100);
      const before = (await status(lab)) as Awaited<ReturnType<typeof status>> & { clock: { trusted: boolean; floorSec: number } };
      expect(Date.now() / 1000).toBeLessThan(floorSec);
      expect(before.counters['drop.clock-behind']).toBeGreaterThan(0);
      expect(before.clock).toMatchObject({ trusted: false, floorSec });
      expect(before.leases).toBe(0);
      expect(c.binding().addresses).toEqual([]);

      const b = await c.waitForBinding({ timeoutMs: 60_000 });
      expect(b.addresses).toHaveLength(1);
      // The packet path answers as soon as the clock is trusted; "serving" follows once every feature started.
      for (let i = 0; i < 100 && !lab.server!.log().includes('"code":"DAEMON_STARTED"'); i++) await sleep(100);
      const lines = lab.server!.log().split('\n');
      const at = (code: string) => lines.findIndex((l) => l.includes(`"code":"${code}"`));
      expect(lines[at('DAEMON_CLOCK_BEHIND')]).toContain(`"floorSource":"${join(lab.server!.ctx.dir, 'build-time')}"`);
      expect(at('DAEMON_CLOCK_BEHIND')).toBeLessThan(at('DAEMON_CLOCK_TRUSTED'));
      expect(at('DAEMON_CLOCK_TRUSTED')).toBeLessThan(at('DAEMON_STARTED'));
      const trustedAtMs = (JSON.parse(lines[at('DAEMON_CLOCK_TRUSTED')]!) as { time: number }).time;
      expect(trustedAtMs - floorSec * 1000).toBeLessThan(1500); // polled every second
      expect(trustedAtMs).toBeGreaterThanOrEqual(floorSec * 1000);
    });
  }, 120_000);

  it(`loses no lease a client saw in a Reply when SIGKILLed under load, 20 times (${seedText(KILL_SEED)})`, async () => {
    const rand = prng(KILL_SEED);
    const lab = await startLab({ server: twin6Server(), clients: [{ kind: 'dhcpcd' }], startClients: false });
    await withLab(lab, async () => {
      const load = lab.lan.clients[0]!.spawn('load-client', [
        process.execPath,
        join(DIST, 'testing/lab/load-client.js'),
        '--iface',
        lab.topology.clientIf,
        '--clients',
        '1000000',
        '--rate',
        '300',
        '--seconds',
        '240',
      ]);
      const kills = 20;
      for (let i = 0; i < kills; i++) {
        // A kill at a random point of the load, after the server has been serving for a while.
        await sleep(300 + (rand() % 1200));
        await lab.restartServer('SIGKILL');
      }
      await sleep(1000);
      await load.stop('SIGTERM');
      const lines = load
        .log()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      const acked = lines
        .map(
          (l) => JSON.parse(l) as { duid?: string; iaid: number; type: 'na' | 'pd'; resource: string; validSec: number; ackedAtMs: number },
        )
        .filter((a) => a.duid);
      expect(acked.length).toBeGreaterThan(kills * 50);

      const stored = new Map((await lab.server!.leases()).map((l) => [key(l.type, leaseResource(l)), l]));
      const lost = acked.filter((a) => {
        const l = stored.get(key(a.type, a.resource));
        return (
          !l || l.duid.replaceAll(':', '') !== a.duid || l.iaid !== a.iaid || l.expiresAt < Math.floor(a.ackedAtMs / 1000) + a.validSec - 2
        );
      });
      console.info(`[twin6d.test] crash loop: ${kills} SIGKILLs, ${acked.length} acknowledged leases checked, ${lost.length} lost`);
      expect(lost, `${lost.length} of ${acked.length} acknowledged leases missing or changed after ${kills} SIGKILLs`).toEqual([]);
      const log = readFileSync(join(lab.server!.ctx.dir, 'server.log'), 'utf8');
      expect(log.match(/"msg":"serving"/g)?.length).toBe(kills + 1);
    });
  }, 300_000);
});

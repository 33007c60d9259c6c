// Real DHCPv6 clients (ISC dhclient, dhcpcd) against a real server, in
// network namespaces the test creates and removes. The server under test is a
// parameter: kea-dhcp6 is the reference that validates the lab itself; twin6
// runs the same expectations once it is built (T6_LAB_SERVERS=kea,twin6).
//
// Needs root and the client/server binaries; without them the suites skip
// and print why. With T6_LAB_REQUIRED=1 (CI) a missing prerequisite fails.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  inRange,
  isNetworkAddress,
  keaServer,
  labRequired,
  labUnavailableReason,
  LAB_TOPOLOGY,
  parseNameList,
  skipUnlessRequired,
  startLab,
  twin6Server,
  within,
  type Binding,
  type ClientKind,
  type Dhcp6Client,
  type Lab,
  type ServerSpec,
} from '../../src/testing/lab/index.js';

interface ServerCase {
  readonly id: string;
  readonly spec: () => ServerSpec;
}

const ALL_SERVERS: readonly ServerCase[] = [
  { id: 'kea', spec: () => keaServer() },
  { id: 'twin6', spec: () => twin6Server() },
];
const REQUIRED = labRequired();
const selected = parseNameList(
  'T6_LAB_SERVERS',
  process.env['T6_LAB_SERVERS'],
  ALL_SERVERS.map((s) => s.id),
  ['kea'],
);
const SERVERS = ALL_SERVERS.filter((s) => selected.includes(s.id));
const CLIENTS: readonly ClientKind[] = ['dhclient', 'dhcpcd'];
const T = LAB_TOPOLOGY;
const PD_POOL = `${T.pdPool.prefix}/${T.pdPool.prefixLength}`;

const resolvConfAtStart = readFileSync('/etc/resolv.conf', 'utf8');

async function skipReason(what: string, spec: ServerSpec, clients: readonly ClientKind[]): Promise<string | undefined> {
  const reason = skipUnlessRequired(await labUnavailableReason({ server: spec, clients }), REQUIRED, `${what} (${spec.name})`);
  if (reason) console.warn(`[lab.test] skipping ${what} (${spec.name}): ${reason}`);
  return reason;
}

/** Everything the lab made must be gone, and the host's resolver untouched. */
function expectCleanedUp(lab: Lab, pids: readonly number[]): void {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  for (const ns of lab.lan.namespaces) {
    expect(listed).not.toContain(ns.name);
    expect(existsSync(`/etc/netns/${ns.name}`)).toBe(false);
  }
  for (const pid of pids) expect(existsSync(`/proc/${pid}`) && !isZombie(pid), `pid ${pid} still alive`).toBe(false);
  if (process.env['T6_LAB_KEEP'] !== '1') expect(existsSync(lab.dir)).toBe(false);
  expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(resolvConfAtStart);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function expectBindingInPools(b: Binding): void {
  expect(b.addresses).toHaveLength(1);
  expect(b.prefixes).toHaveLength(1);
  const a = b.addresses[0]!;
  const p = b.prefixes[0]!;
  expect(inRange(a.address, T.pool.first, T.pool.last), `${a.address} in ${T.pool.first}-${T.pool.last}`).toBe(true);
  expect(a.validLifetime).toBe(T.lifetimes.validSec);
  expect(a.preferredLifetime).toBe(T.lifetimes.preferredSec);
  expect(p.length).toBe(T.pdPool.delegatedLength);
  expect(within(`${p.prefix}/${p.length}`, PD_POOL), `${p.prefix}/${p.length} inside ${PD_POOL}`).toBe(true);
  expect(isNetworkAddress(p.prefix, p.length)).toBe(true);
  expect(p.validLifetime).toBe(T.lifetimes.validSec);
  expect(p.preferredLifetime).toBe(T.lifetimes.preferredSec);
}

for (const server of SERVERS) {
  const reason = await skipReason('the client lab', server.spec(), CLIENTS);

  describe.skipIf(reason !== undefined)(
    `DHCPv6 lab: dhclient and dhcpcd against ${server.spec().name}${reason ? ` (skipped: ${reason})` : ''}`,
    () => {
      let lab: Lab | undefined;
      let pids: number[] = [];
      const bound = new Map<string, { binding: Binding; at: number }>();

      beforeAll(async () => {
        // Both clients on one bridged LAN: also checks that they get distinct leases.
        lab = await startLab({ server: server.spec(), clients: CLIENTS.map((kind) => ({ kind })) });
        pids = [lab.server!.process.pid, ...lab.clients.map((c) => c.process.pid)];
      });

      afterAll(async () => {
        if (!lab) return;
        await lab.stop();
        expectCleanedUp(lab, pids);
      });

      const client = (kind: ClientKind): Dhcp6Client => lab!.client(kind);
      const withDiagnostics = async <R>(f: () => Promise<R>): Promise<R> => {
        try {
          return await f();
        } catch (e) {
          if (e instanceof Error && lab && !e.message.includes(`lab ${lab.id}`)) e.message += `\n${lab.diagnostics()}`;
          throw e;
        }
      };

      for (const kind of CLIENTS) {
        describe(kind, () => {
          it('obtains an address in the pool and a /56 inside the PD pool', () =>
            withDiagnostics(async () => {
              const c = client(kind);
              const b = await c.waitForBinding({ timeoutMs: 30_000 });
              expectBindingInPools(b);
              const at = Math.max(
                ...c
                  .events()
                  .filter((e) => e.kind === 'bound')
                  .map((e) => e.at),
              );
              bound.set(kind, { binding: b, at });

              const srv = lab!.server!;
              if (srv.hasLeases) {
                const na = await srv.waitForLease(
                  (l) => l.type === 'na' && l.address === b.addresses[0]!.address && l.state === 'active',
                  'active NA lease',
                );
                const pd = await srv.waitForLease(
                  (l) =>
                    l.type === 'pd' &&
                    l.address === b.prefixes[0]!.prefix &&
                    l.prefixLength === b.prefixes[0]!.length &&
                    l.state === 'active',
                  'active PD lease',
                );
                expect(pd.duid).toBe(na.duid);
              }
            }));

          it('renews and keeps the same address and prefix', () =>
            withDiagnostics(async () => {
              const c = client(kind);
              const first = bound.get(kind);
              if (!first) throw new Error('no binding from the previous test');
              // T1 after the Reply; the wait allows T1 plus retransmissions.
              const r = await c.waitForRenewal(first.binding, first.at, { timeoutMs: (T.lifetimes.t1Sec + 20) * 1000 });
              expect(
                r.events.some((e) => e.kind === 'renew'),
                'a Renew (not only a Rebind) succeeded',
              ).toBe(true);
              expect(r.binding.addresses.map((a) => a.address)).toEqual(first.binding.addresses.map((a) => a.address));
              expect(r.binding.prefixes.map((p) => `${p.prefix}/${p.length}`)).toEqual(
                first.binding.prefixes.map((p) => `${p.prefix}/${p.length}`),
              );
              expectBindingInPools(r.binding);

              const srv = lab!.server!;
              if (srv.hasLeases) {
                const renewedAt = Math.min(...r.events.map((e) => e.at)) / 1000;
                // The server extended the leases: expiry moved to (about) renewal + valid lifetime.
                const na = await srv.waitForLease(
                  (l) =>
                    l.type === 'na' &&
                    l.address === first.binding.addresses[0]!.address &&
                    l.expiresAt >= renewedAt + T.lifetimes.validSec - 2,
                  'NA lease extended by the renewal',
                );
                expect(na.state).toBe('active');
                const pd = await srv.waitForLease(
                  (l) =>
                    l.type === 'pd' &&
                    l.address === first.binding.prefixes[0]!.prefix &&
                    l.expiresAt >= renewedAt + T.lifetimes.validSec - 2,
                  'PD lease extended by the renewal',
                );
                expect(pd.state).toBe('active');
              }
            }));
        });
      }

      it('gave the two clients different addresses and prefixes', () => {
        const [a, b] = CLIENTS.map((k) => bound.get(k)?.binding);
        if (!a || !b) throw new Error('missing bindings from earlier tests');
        expect(a.addresses[0]!.address).not.toBe(b.addresses[0]!.address);
        expect(a.prefixes[0]!.prefix).not.toBe(b.prefixes[0]!.prefix);
      });

      for (const kind of CLIENTS) {
        it(`${kind} releases, and the server sees the release`, () =>
          withDiagnostics(async () => {
            const c = client(kind);
            const held = c.binding();
            expect(held.addresses.length + held.prefixes.length).toBeGreaterThan(0);
            const events = await c.release({ timeoutMs: 20_000 });
            expect(events.length).toBeGreaterThan(0);
            expect(c.process.running).toBe(false);
            expect(c.binding()).toEqual({ addresses: [], prefixes: [] });

            const srv = lab!.server!;
            if (srv.hasLeases) {
              for (const a of held.addresses) {
                await srv.waitForLease(
                  (l) => l.type === 'na' && l.address === a.address && l.state === 'released',
                  `release of ${a.address}`,
                );
              }
              for (const p of held.prefixes) {
                await srv.waitForLease(
                  (l) => l.type === 'pd' && l.address === p.prefix && l.state === 'released',
                  `release of ${p.prefix}/${p.length}`,
                );
              }
            } else {
              console.warn(`[lab.test] ${srv.name} exposes no leases: server side of the release not checked`);
            }
          }));
      }
    },
  );
}

// The fixture itself: point-to-point (no bridge) and complete cleanup.
const fixtureServer = SERVERS[0];
// T6_LAB_SERVERS= (empty) selects none: fine on a laptop, a failure where the lab is required.
const fixtureReason = fixtureServer
  ? await skipReason('the fixture tests', fixtureServer.spec(), ['dhcpcd'])
  : skipUnlessRequired('T6_LAB_SERVERS selects no server', REQUIRED, 'the lab fixture');

describe.skipIf(fixtureReason !== undefined)(`lab fixture${fixtureReason ? ` (skipped: ${fixtureReason})` : ''}`, () => {
  it('runs one client on a plain veth link and leaves nothing behind', async () => {
    const hostLinks = (): string[] =>
      spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
        .stdout.split('\n')
        .map((l) => l.split(':')[1]?.trim() ?? '')
        .filter((n) => n !== '')
        .sort();
    const linksBefore = hostLinks();
    const lab = await startLab({ server: fixtureServer!.spec(), clients: [{ kind: 'dhcpcd' }], bridge: false });
    const pids = [lab.server!.process.pid, lab.clients[0]!.process.pid];
    try {
      expect(lab.lan.bridged).toBe(false);
      expect(lab.lan.namespaces.map((n) => n.name)).toEqual([`t6-${lab.id}-s`, `t6-${lab.id}-c1`]);
      const b = await lab.clients[0]!.waitForBinding({ timeoutMs: 30_000 });
      expectBindingInPools(b);
      // Links are born inside the namespaces: the host namespace never gains one.
      expect(hostLinks()).toEqual(linksBefore);
    } catch (e) {
      if (e instanceof Error) e.message += `\n${lab.diagnostics()}`;
      throw e;
    } finally {
      await lab.stop();
    }
    expectCleanedUp(lab, pids);
  });

  it('fails startLab with the server log when the server dies, and leaves nothing behind', async () => {
    const err = await startLab({
      serverCmd: () => ({ argv: ['sh', '-c', 'echo "no config for you" >&2; exit 3'] }),
      clients: [{ kind: 'dhclient' }],
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(/server exited \(3\)/);
    expect(err!.message).toContain('no config for you');
    const id = /lab ([0-9a-f]{6}) in/.exec(err!.message)?.[1];
    expect(id).toBeDefined();
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(`t6-${id}-`);
    expect(existsSync(`/etc/netns/t6-${id}-s`)).toBe(false);
    expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(resolvConfAtStart);
  });
});

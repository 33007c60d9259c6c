// twin6d against an independent RFC 8156 partner: test/peer/rfc8156_peer.py,
// written in Python from the RFC text alone, driven by src/testing/lab/rfc8156-peer.ts.
// twin6d runs in one side of the pair lab (src/testing/lab/pair.ts), the peer in the
// other side's namespace, on the same partner link (plain TCP: `insecure`,
// except for one test over TLS with the lab's PKI). Both roles: the peer as
// primary with twin6d as secondary, and the reverse.
//
// The pair reaches NORMAL; leases granted on either side reach the other;
// delegable prefixes are handed to the secondary (§4.2.2); and the peer drives
// twin6d through the §8 states: PARTNER-DOWN on the peer during a split,
// twin6d replaced (empty storage) while the peer is in PARTNER-DOWN (RECOVER,
// RECOVER-WAIT, RECOVER-DONE), and the peer restarted with and without its
// stable storage. twin6d's states are read from its log, in order.
//
// Needs root, dhcpcd, python3 and openssl; skips and says why without them (CI sets
// T6_LAB_REQUIRED=1, which turns the skip into a failure).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  LAB_TOPOLOGY,
  labUnavailableReason,
  missingBinaries,
  PAIR_LINK,
  parseIPv6,
  poll,
  python3,
  Rfc8156Peer,
  twin6FailoverStatus,
  twin6Leases,
  twin6Server,
  twin6Transitions,
  waitTwin6State,
  withPairLab,
  within,
  type ClientSpec,
  type LabTopology,
  type PairLab,
  type PairRole,
  type PeerBinding,
  type ServerLease,
} from '../../src/testing/lab/index.js';
import { makePartnerPki } from '../../src/testing/lab/pki.js';

const REQUIRED = process.env['T6_LAB_REQUIRED'] === '1';
const reason =
  (await labUnavailableReason({ server: twin6Server(), clients: ['dhcpcd'] })) ??
  (python3() ? undefined : 'python3 is missing (the RFC 8156 test peer)');
if (reason && REQUIRED) throw new Error(`T6_LAB_REQUIRED=1 but the lab cannot run: ${reason}`);
if (reason) console.warn(`[rfc8156-interop.test] skipping: ${reason}`);
const noOpenssl = (await missingBinaries(['openssl'])).length > 0;
if (noOpenssl && REQUIRED) throw new Error("T6_LAB_REQUIRED=1 but openssl is missing (the TLS test's certificates)");

/** The lab's LAN, with a small prefix pool (16 /56s) so that the peer's split of it stays readable. */
const TOPOLOGY: LabTopology = { ...LAB_TOPOLOGY, pdPool: { prefix: '2001:db8:8000::', prefixLength: 52, delegatedLength: 56 } };
const PD_POOL = `${TOPOLOGY.pdPool.prefix}/${TOPOLOGY.pdPool.prefixLength}`;
/** twin6's floor (docs/config.md: mcltSec 30..86400); a peer primary's shorter MCLT is adopted by twin6 (§6.1.2). */
const TWIN6_MCLT = 30;
const PEER_PRIMARY_MCLT = 10;

const other = (r: PairRole): PairRole => (r === 'primary' ? 'secondary' : 'primary');
const hex = (duid: string) => duid.replace(/:/g, '').toLowerCase();
const leaseKey = (l: ServerLease) => (l.type === 'na' ? l.address : `${l.address}/${l.prefixLength}`);
const sameResource = (a: string, b: string) => {
  const [aa, al] = a.split('/');
  const [ba, bl] = b.split('/');
  return parseIPv6(aa!) === parseIPv6(ba!) && (al ?? '128') === (bl ?? '128');
};

interface Interop {
  readonly lab: PairLab;
  readonly twin6: PairRole;
  readonly stateDir: string;
  peer: Rfc8156Peer;
  /** The peer again, in its namespace; `fresh` drops its stable storage first. */
  restartPeer(opts: { fresh: boolean; extraArgs?: readonly string[] }): Promise<Rfc8156Peer>;
  /** twin6d's states (`to` of each logged transition) from a log offset on. */
  twin6States(from: number): string[];
  /** Current length of twin6d's log, for twin6States. */
  twin6LogMark(): number;
  diagnostics(): string;
}

/** A pair lab with twin6d in role `twin6` and the Python peer in the other role, both NORMAL-bound from a clean start. */
async function withInterop(
  twin6: PairRole,
  opts: { clients?: readonly ClientSpec[]; tls?: boolean },
  body: (x: Interop) => Promise<void>,
): Promise<void> {
  // With tls: a CA made for the test, a certificate for each side (the lab's PKI, src/testing/lab/pki.ts).
  const pkiDir = opts.tls ? mkdtempSync(join(tmpdir(), 't6-interop-pki-')) : undefined;
  const pki = pkiDir ? await makePartnerPki(pkiDir, ['twin6', 'peer']) : undefined;
  const twin6Tls = pki && {
    tls: { caFile: pki.ca, certFile: pki.identity('twin6').cert, keyFile: pki.identity('twin6').key, peerName: 'peer' },
  };
  const peerTls = pki
    ? [
        '--tls',
        '--ca',
        pki.ca,
        '--cert',
        pki.identity('peer').cert,
        '--key',
        pki.identity('peer').key,
        ...(twin6 === 'secondary' ? ['--tls-server-name', 'twin6'] : []),
      ]
    : [];
  try {
    await withPairLab(
      {
        clients: opts.clients ?? [],
        startClients: false,
        servers: [twin6],
        topology: TOPOLOGY,
        failover: { both: { mcltSec: TWIN6_MCLT }, [twin6]: { ...twin6Tls } },
      },
      async (lab) => {
        const peerRole = other(twin6);
        const stateFile = join(lab.dir, 'peer-state.json');
        let boots = 0;
        const peers: Rfc8156Peer[] = [];
        const startPeer = async (extraArgs: readonly string[] = []) => {
          const p = await Rfc8156Peer.start(lab.server[peerRole], {
            role: peerRole,
            name: `rfc8156-peer-${++boots}`,
            dir: lab.dir,
            // The secondary listens on its link address; the primary dials it from its own.
            address: PAIR_LINK.secondary,
            partnerOrLocal: PAIR_LINK.primary,
            mcltSec: peerRole === 'primary' ? PEER_PRIMARY_MCLT : TWIN6_MCLT,
            keepaliveSec: 4,
            addrPools: [TOPOLOGY.subnet],
            delegable: [PD_POOL],
            delegatedLength: TOPOLOGY.pdPool.delegatedLength,
            stateFile,
            extraArgs: ['--startup-time', '2', '--retry', '1', '--quiet-contact', ...peerTls, ...extraArgs],
          });
          peers.push(p);
          return p;
        };
        const x: Interop = {
          lab,
          twin6,
          stateDir: lab.stateDir(twin6),
          peer: await startPeer(),
          async restartPeer({ fresh, extraArgs }) {
            await x.peer.stop();
            if (fresh) rmSync(stateFile, { force: true });
            x.peer = await startPeer(extraArgs);
            return x.peer;
          },
          twin6States: (from) => twin6Transitions(lab.running(twin6)!.log().slice(from)).map((t) => t.to),
          twin6LogMark: () => lab.running(twin6)!.log().length,
          diagnostics: () => x.peer.diagnostics(80),
        };
        try {
          await body(x);
          // Nothing twin6 sent was malformed or unexpected to the peer, in any of its runs.
          expect(
            peers.flatMap((p) => p.events().filter((e) => e.event === 'error')),
            "the peer's error events",
          ).toEqual([]);
        } catch (e) {
          if (e instanceof Error) e.message += `\n${x.diagnostics()}`;
          throw e;
        } finally {
          await x.peer.stop();
        }
      },
    );
  } finally {
    if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
  }
}

/** Both sides in NORMAL, each seeing the other in NORMAL. */
async function bothNormal(x: Interop, timeoutMs = 60_000): Promise<void> {
  await x.peer.waitState('NORMAL', 'NORMAL', timeoutMs);
  await waitTwin6State(x.stateDir, 'NORMAL', { partner: 'NORMAL', timeoutMs, detail: () => x.peer.diagnostics(30) });
}

/** The peer's answer (BNDREPLY event) to its BNDUPD for a resource, from a mark on. */
const bndreplyFor = (x: Interop, resource: string, from: number, timeoutMs = 15_000) =>
  x.peer.waitFor((e) => e.event === 'bndreply' && typeof e['resource'] === 'string' && sameResource(e['resource'], resource), {
    from,
    timeoutMs,
    what: `BNDREPLY for ${resource}`,
  });

/** Resolves with twin6d's lease on a resource once it is active for this client. */
const twin6Holds = (x: Interop, resource: string, duid: string, timeoutMs = 15_000) =>
  poll(
    async () =>
      (await twin6Leases(x.stateDir)).find((l) => l.state === 'active' && sameResource(leaseKey(l), resource) && hex(l.duid) === hex(duid)),
    { timeoutMs, intervalMs: 250, what: `twin6 holding ${resource} for ${duid}`, detail: () => x.peer.diagnostics(30) },
  );

/** Resolves with the peer's binding on a resource once it is ACTIVE for this client. */
const peerHolds = (x: Interop, resource: string, duid: string, timeoutMs = 15_000) =>
  poll(
    async () => {
      const b = await x.peer.binding(resource);
      return b && b.status === 'ACTIVE' && hex(b.duid ?? '') === hex(duid) ? b : undefined;
    },
    { timeoutMs, intervalMs: 250, what: `the peer holding ${resource} for ${duid}` },
  );

/** A lease the peer grants from its own share: §4.2.1.1, the primary's addresses odd, the secondary's even. */
function peerAddress(x: Interop, n: number): string {
  const odd = other(x.twin6) === 'primary';
  return `2001:db8:1::${(0x1000 + 2 * n + (odd ? 1 : 0)).toString(16)}`;
}
const peerDuid = (n: number) => `0003000102000000${(0x0a00 + n).toString(16).padStart(4, '0')}`;

async function peerGrant(x: Interop, n: number, resource = peerAddress(x, n)): Promise<{ resource: string; duid: string }> {
  const from = x.peer.mark();
  const duid = peerDuid(n);
  await x.peer.command('grant', { duid, resource, iaid: n, valid: 600 });
  const reply = await bndreplyFor(x, resource, from);
  expect(reply['accepted'], `twin6 accepted the peer's BNDUPD for ${resource}: ${JSON.stringify(reply)}`).toBe(true);
  return { resource, duid };
}

const delegable = (bs: readonly PeerBinding[], status: string) =>
  bs.filter((b) => b.delegable && b.status === status).map((b) => b.resource);

const countBy = (xs: readonly string[]) =>
  JSON.stringify(Object.fromEntries([...new Set(xs)].map((k) => [k, xs.filter((x) => x === k).length])));

function timed(name: string): () => void {
  const t0 = Date.now();
  return () => console.info(`[rfc8156-interop.test] ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

describe.skipIf(reason !== undefined)('twin6d against the independent RFC 8156 partner (test/peer)', () => {
  for (const twin6 of ['primary', 'secondary'] as const) {
    const peerRole = other(twin6);
    describe(`twin6 ${twin6}, peer ${peerRole}`, () => {
      it("both reach NORMAL; a lease the peer grants shows in twin6ctl leases, and a real client's address and /56 from twin6 show in the peer's bindings", async () => {
        const done = timed(`twin6 ${twin6}: NORMAL and leases both ways`);
        await withInterop(twin6, { clients: [{ kind: 'dhcpcd' }] }, async (x) => {
          await bothNormal(x);
          const status = await twin6FailoverStatus(x.stateDir);
          expect(status.connected).toBe(true);
          expect(status.commsOk).toBe(true);
          // §6.1.2: the secondary adopts the primary's MCLT.
          expect(status.mcltSec).toBe(twin6 === 'primary' ? TWIN6_MCLT : PEER_PRIMARY_MCLT);
          expect((await x.peer.state()).mclt).toBe(twin6 === 'primary' ? TWIN6_MCLT : PEER_PRIMARY_MCLT);

          // The peer grants an address (and, as primary, a prefix it owns): twin6 accepts and holds them.
          const na = await peerGrant(x, 1);
          await twin6Holds(x, na.resource, na.duid);
          if (peerRole === 'primary') {
            const free = delegable(await x.peer.bindings(), 'FREE');
            expect(free.length).toBeGreaterThan(0);
            const pd = await peerGrant(x, 2, free.at(-1)!);
            await twin6Holds(x, pd.resource, pd.duid);
          }

          // A real client served by twin6 (the primary: a secondary in NORMAL leaves new clients to it, §8.8.1).
          if (twin6 === 'primary') {
            const client = x.lab.clients[0]!;
            await client.start();
            const b = await client.waitForBinding({ timeoutMs: 30_000 });
            expect(b.addresses).toHaveLength(1);
            expect(b.prefixes).toHaveLength(1);
            expect(b.prefixes[0]!.length).toBe(56);
            const leases = (await twin6Leases(x.stateDir)).filter((l) => l.state === 'active');
            const addr = b.addresses[0]!.address;
            const prefix = `${b.prefixes[0]!.prefix}/${b.prefixes[0]!.length}`;
            const duid = leases.find((l) => sameResource(leaseKey(l), addr))!.duid;
            await peerHolds(x, addr, duid);
            const pdBinding = await peerHolds(x, prefix, duid);
            expect(pdBinding.type).toBe('pd');
            const rejected = x.peer
              .events()
              .filter((e) => e.event === 'bndupd' && (e['results'] as { accepted: boolean }[]).some((r) => !r.accepted));
            expect(rejected, 'BNDUPDs from twin6 the peer rejected').toEqual([]);
          }
        });
        done();
      }, 120_000);

      it.skipIf(noOpenssl)(
        'over TLS (§10, RFC 7653 §8.2): STARTTLS, mutual certificate authentication, both reach NORMAL and replicate a lease',
        async () => {
          const done = timed(`twin6 ${twin6}: TLS`);
          await withInterop(twin6, { tls: true }, async (x) => {
            await bothNormal(x);
            expect((await twin6FailoverStatus(x.stateDir)).secure).toBe(true);
            expect(x.peer.events().find((e) => e.event === 'established')?.['tls']).toBe(true);
            const na = await peerGrant(x, 1);
            await twin6Holds(x, na.resource, na.duid);
          });
          done();
        },
        90_000,
      );

      if (twin6 === 'secondary') {
        it('prefix hand-off (§4.2.2): twin6 secondary asks with POOLREQ, accepts the FREE-BACKUP prefixes the peer sends, and delegates from them when cut off from the primary', async () => {
          const done = timed('twin6 secondary: prefix hand-off');
          await withInterop(twin6, { clients: [{ kind: 'dhcpcd' }] }, async (x) => {
            await bothNormal(x);
            // twin6 asks on entering NORMAL (§8.8); the peer answers and moves its backup share.
            const poolreq = await x.peer.waitFor((e) => e.event === 'poolreq', { what: 'POOLREQ from twin6', timeoutMs: 20_000 });
            expect(poolreq['moved'], 'prefixes the peer moved to FREE-BACKUP').toHaveLength(8);
            await poll(async () => ((await x.peer.state()).outstanding === 0 ? true : undefined), {
              timeoutMs: 20_000,
              what: 'every BNDUPD acknowledged',
            });
            const backup = delegable(await x.peer.bindings(), 'FREE-BACKUP');
            expect(backup).toHaveLength(8);
            for (const p of backup) {
              const r = x.peer.events().find((e) => e.event === 'bndreply' && sameResource(String(e['resource']), p));
              expect(r?.['accepted'], `twin6's BNDREPLY for FREE-BACKUP ${p}: ${JSON.stringify(r)}`).toBe(true);
            }

            // Cut off from the peer, twin6 serves a new client: its prefix comes from what it was given (§4.2.2).
            await x.peer.command('net', { enabled: false });
            await waitTwin6State(x.stateDir, 'COMMUNICATIONS-INTERRUPTED', { timeoutMs: 20_000 });
            const client = x.lab.clients[0]!;
            await client.start();
            const b = await client.waitForBinding({ timeoutMs: 30_000 });
            const prefix = `${b.prefixes[0]!.prefix}/${b.prefixes[0]!.length}`;
            expect(within(prefix, PD_POOL)).toBe(true);
            expect(parseIPv6(b.addresses[0]!.address) % 2n, "a secondary's new address is even (§4.2.1.1)").toBe(0n);
            // Soft: the rest (the heal) still runs and reports.
            expect
              .soft(
                backup.some((p) => sameResource(p, prefix)),
                `twin6 delegated ${prefix}, not one of the FREE-BACKUP prefixes ${backup.join(', ')}`,
              )
              .toBe(true);

            // Healed: NORMAL again, and the peer learns the new client's leases.
            await x.peer.command('net', { enabled: true });
            await bothNormal(x);
            const duid = (await twin6Leases(x.stateDir)).find((l) => sameResource(leaseKey(l), prefix))!.duid;
            await peerHolds(x, prefix, duid);
            await peerHolds(x, b.addresses[0]!.address, duid);
          });
          done();
        }, 120_000);
      } else {
        it('prefix hand-off (§4.2.2): the peer secondary sends POOLREQ; twin6 primary answers POOLRESP and gives it FREE-BACKUP prefixes', async () => {
          const done = timed('twin6 primary: prefix hand-off');
          await withInterop(twin6, {}, async (x) => {
            await bothNormal(x);
            // The peer asks on entering NORMAL once its updates are acknowledged (§8.8).
            await x.peer.waitFor((e) => e.event === 'tx' && e['msg'] === 'POOLREQ', { what: "the peer's POOLREQ", timeoutMs: 20_000 });
            await x.peer.waitFor((e) => e.event === 'poolresp', { what: "twin6's POOLRESP", timeoutMs: 10_000 });
            let last: PeerBinding[] = [];
            await poll(
              async () => {
                last = await x.peer.bindings();
                return delegable(last, 'FREE-BACKUP').length > 0 ? true : undefined;
              },
              {
                timeoutMs: 15_000,
                intervalMs: 500,
                what: 'FREE-BACKUP prefixes from twin6 (BNDUPDs with a lone IAPREFIX, §4.2.2)',
                detail: () =>
                  `the peer's delegable bindings by status: ${countBy(last.filter((b) => b.delegable).map((b) => b.status))}; messages from twin6 after POOLRESP: ${x.peer.messages('rx').slice(-10).join(' ')}`,
              },
            );
          });
          done();
        }, 90_000);
      }

      it("split, then PARTNER-DOWN on the peer; healed, twin6 goes COMMUNICATIONS-INTERRUPTED → POTENTIAL-CONFLICT → … → NORMAL and keeps the peer's PARTNER-DOWN leases (§8.9.2, §8.10)", async () => {
        const done = timed(`twin6 ${twin6}: peer PARTNER-DOWN during a split`);
        await withInterop(twin6, {}, async (x) => {
          await bothNormal(x);
          const mark = x.twin6LogMark();
          const peerMark = x.peer.mark();
          await x.peer.command('net', { enabled: false });
          await waitTwin6State(x.stateDir, 'COMMUNICATIONS-INTERRUPTED', { timeoutMs: 20_000 });
          await x.peer.waitState('COMMUNICATIONS-INTERRUPTED', undefined, 20_000);
          expect((await x.peer.command('goto', { state: 'PARTNER-DOWN' }))['own']).toBe('PARTNER-DOWN');
          // Served by the peer while it believes twin6 down: any address of the pool (§8.4.1).
          await x.peer.command('grant', { duid: peerDuid(7), resource: '2001:db8:1::7777', iaid: 7, valid: 600 });
          await x.peer.command('net', { enabled: true });
          await bothNormal(x, 60_000);
          // §8.9.2: partner PARTNER-DOWN → POTENTIAL-CONFLICT; §8.10.2: the primary's UPDDONE → CONFLICT-DONE → NORMAL,
          // the secondary's (after the primary's CONFLICT-DONE) → NORMAL.
          const expected =
            twin6 === 'primary'
              ? ['COMMUNICATIONS-INTERRUPTED', 'POTENTIAL-CONFLICT', 'CONFLICT-DONE', 'NORMAL']
              : ['COMMUNICATIONS-INTERRUPTED', 'POTENTIAL-CONFLICT', 'NORMAL'];
          expect(x.twin6States(mark)).toEqual(expected);
          console.info(
            `[rfc8156-interop.test] twin6 ${twin6}: ${x.twin6States(mark).join(' → ')}; peer: ${x.peer.ownStates(peerMark).join(' → ')}`,
          );
          await twin6Holds(x, '2001:db8:1::7777', peerDuid(7));
        });
        done();
      }, 120_000);

      it('twin6 replaced (empty storage) while the peer is in PARTNER-DOWN: STARTUP → RECOVER → RECOVER-WAIT → RECOVER-DONE → NORMAL, with every binding caught up (§8.3.2, §8.5–§8.7)', async () => {
        const done = timed(`twin6 ${twin6}: RECOVER after replacement`);
        await withInterop(twin6, {}, async (x) => {
          await bothNormal(x);
          const before = await peerGrant(x, 1);
          await x.lab.stop(twin6, 'SIGKILL');
          await x.peer.waitState('COMMUNICATIONS-INTERRUPTED', undefined, 20_000);
          expect((await x.peer.command('goto', { state: 'PARTNER-DOWN' }))['own']).toBe('PARTNER-DOWN');
          await x.peer.command('grant', { duid: peerDuid(2), resource: '2001:db8:1::2222', iaid: 2, valid: 600 });
          rmSync(x.stateDir, { recursive: true, force: true });
          const mark = x.twin6LogMark();
          const peerMark = x.peer.mark();
          const startedAt = Date.now();
          await x.lab.start(twin6);
          await bothNormal(x, 90_000);
          const states = x.twin6States(mark);
          console.info(
            `[rfc8156-interop.test] twin6 ${twin6} replaced: ${states.join(' → ')} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; peer: ${x.peer.ownStates(peerMark).join(' → ')}`,
          );
          expect(states).toEqual(['STARTUP', 'RECOVER', 'RECOVER-WAIT', 'RECOVER-DONE', 'NORMAL']);
          // §8.5.2: a server with no record of its partner asks for everything.
          expect(x.peer.messages('rx', peerMark)).toContain('UPDREQALL');
          await twin6Holds(x, before.resource, before.duid);
          await twin6Holds(x, '2001:db8:1::2222', peerDuid(2));
          // §8.4.2: the peer left PARTNER-DOWN for NORMAL once twin6 was RECOVER-DONE.
          expect(x.peer.ownStates(peerMark).at(-1)).toBe('NORMAL');
        });
        done();
      }, 150_000);

      it("the peer restarted with its stable storage, then without (RECOVER, UPDREQALL): twin6 goes COMMUNICATIONS-INTERRUPTED → NORMAL each time and the peer ends up with twin6's bindings (§8.3, §8.5, §8.9.2)", async () => {
        const done = timed(`twin6 ${twin6}: peer restarts`);
        await withInterop(twin6, {}, async (x) => {
          await bothNormal(x);
          const granted = await peerGrant(x, 1);

          // With its storage: STARTUP from NORMAL (comms failed: COMMUNICATIONS-INTERRUPTED), then NORMAL on both.
          let mark = x.twin6LogMark();
          await x.restartPeer({ fresh: false });
          await bothNormal(x);
          expect(x.twin6States(mark)).toEqual(['COMMUNICATIONS-INTERRUPTED', 'NORMAL']);
          expect(await x.peer.binding(granted.resource)).toMatchObject({ status: 'ACTIVE' });

          // Without: the peer starts in RECOVER (§8.3.2 step 1), asks for everything, waits MCLT, and is back.
          mark = x.twin6LogMark();
          const startedAt = Date.now();
          await x.restartPeer({ fresh: true, extraArgs: ['--initial-state', 'RECOVER'] });
          await bothNormal(x, 90_000);
          const peerStates = x.peer.ownStates();
          console.info(
            `[rfc8156-interop.test] twin6 ${twin6}: fresh peer ${peerStates.join(' → ')} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; twin6 ${x.twin6States(mark).join(' → ')}`,
          );
          expect(x.twin6States(mark)).toEqual(['COMMUNICATIONS-INTERRUPTED', 'NORMAL']);
          expect(peerStates).toEqual(expect.arrayContaining(['RECOVER', 'RECOVER-WAIT', 'RECOVER-DONE', 'NORMAL']));
          expect(x.peer.messages('tx')).toContain('UPDREQALL');
          // The lease granted before came back from twin6.
          await peerHolds(x, granted.resource, granted.duid);
        });
        done();
      }, 150_000);
    });
  }
});

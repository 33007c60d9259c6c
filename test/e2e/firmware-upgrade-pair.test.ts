// The rolling upgrade of a failover pair (docs/fleet.md §8.3): two appliances
// (qemu-x86_64, UEFI disks) in NORMAL, each with an MQTT uplink, a real
// dhcpcd and a real dhclient renewing every 15 s, and `twin6ctl fleet
// upgrade-pair` from the operator's side: the secondary hands its clients to
// the primary (maintenance), is upgraded over MQTT, reboots into its trial,
// commits once the pair is NORMAL again; then the primary the same way. At
// the end both run the new version in NORMAL and no client lost or changed
// its address or prefix. Then the variant where the first partner's trial
// never becomes healthy (its twin6d cannot start): it rolls back by itself,
// the rollout stops, the primary is never touched, and the pair is NORMAL on
// the version it had, the clients still bound.

import { describe, expect, it } from 'vitest';
import { ApplianceLab } from '../../src/testing/lab/appliance-lab.js';
import type { Appliance } from '../../src/testing/lab/appliance.js';
import type { Binding, Dhcp6Client } from '../../src/testing/lab/clients.js';
import { applianceSkipReason, buildImage } from './setup.js';
import { brokenBundle, bundleOf, FirmwareFleet, type Bundle } from './firmware-lab.js';

const reason = await applianceSkipReason('firmware-upgrade-pair.test', 'qemu-x86_64', [
  'openssl',
  'mosquitto',
  'dhcpcd',
  'dhclient',
  'unsquashfs',
  'mksquashfs',
]);

const DEVICES = { primary: 'lab-pair-a', secondary: 'lab-pair-b' } as const;
// T1 15 s, T2 24 s: the clients renew (and rebind, while a partner is away) many times during the rollout.
const LIFETIMES = { preferredSec: 30, validSec: 900, renewRatio: 0.5, rebindRatio: 0.8 };
const TRIAL_SEC = 60;
const HEALTHY_SEC = 5;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const held = (b: Binding) => [...b.addresses.map((a) => `na ${a.address}`), ...b.prefixes.map((p) => `pd ${p.prefix}/${p.length}`)].sort();

describe.skipIf(reason !== undefined)('rolling firmware upgrade of a failover pair (qemu-x86_64, UEFI)', () => {
  it(
    'upgrades the secondary, then the primary, with every client keeping its lease; a failed trial stops the rollout with the pair NORMAL on the old version',
    async () => {
      const t0 = Date.now();
      const v1 = buildImage('qemu-x86_64');
      const v2 = buildImage('qemu-x86_64', 'fw2');
      const fleet = await FirmwareFleet.create([DEVICES.primary, DEVICES.secondary]);
      const figures: Record<string, unknown> = {};
      const lab = await ApplianceLab.create({
        appliances: 2,
        clients: [{ kind: 'dhcpcd' }, { kind: 'dhclient' }],
        spareNamespaces: 1,
        image: v1,
        pair: {
          lifetimes: LIFETIMES,
          failover: { keepaliveSec: 10 },
          sectionsFor: (role) => fleet.sections(DEVICES[role], { trialSec: TRIAL_SEC, healthySec: HEALTHY_SEC }),
        },
        provision: (name) => fleet.provision(name === 'a' ? DEVICES.primary : DEVICES.secondary),
      });
      try {
        await fleet.start(lab.clientNamespaces[2]!, lab.dir, 12 << 20);
        const b2 = bundleOf(v2, 'v2.t6fw', fleet.www);
        const broken = brokenBundle(v2, fleet.www);
        const [primary, secondary] = lab.appliances as [Appliance, Appliance];
        const clients = lab.clients as Dhcp6Client[];
        const detail = () => lab.diagnostics();

        primary.boot();
        secondary.boot();
        for (const a of lab.appliances) await a.waitFailoverState('NORMAL', { timeoutMs: 240_000 });
        for (const c of clients) await c.start();
        const before = await Promise.all(clients.map((c) => c.waitForBinding({ timeoutMs: 90_000 })));
        const since = Date.now();

        const upgradePair = async (b: Bundle) => {
          const at = Date.now();
          const r = await fleet.fleet(
            [
              ...['upgrade-pair', DEVICES.primary, DEVICES.secondary, '--bundle', b.file, '--url', fleet.url(b)],
              ...['--sign-key', fleet.pki.signingKey, '--actor', 'test', '--json', '--timeout', '900'],
            ],
            40 * 60_000,
          );
          return {
            ...r,
            ms: Date.now() - at,
            doc: JSON.parse(r.stdout || '{}') as { ok: boolean; steps?: { device: string; outcome: string; ms: number }[]; error?: string },
          };
        };
        // The guests reboot themselves (QEMU runs with -no-reboot): power them on again as they do.
        let rebooting = true;
        const reboots = { [primary.spec.name]: 0, [secondary.spec.name]: 0 };
        const keepOn = (a: Appliance) =>
          (async () => {
            while (rebooting) {
              try {
                await a.waitSelfReboot(3_600_000);
                reboots[a.spec.name]!++;
              } catch {
                return;
              }
            }
          })();
        const keepers = [keepOn(primary), keepOn(secondary)];

        // 1. The rolling upgrade to v2.
        const up = await upgradePair(b2);
        expect(up.code, `${up.stdout}\n${up.stderr}\n${detail()}`).toBe(0);
        expect(up.doc.steps?.map((s) => [s.device, s.outcome])).toEqual([
          [DEVICES.secondary, 'committed'],
          [DEVICES.primary, 'committed'],
        ]);
        figures['upgrade-pair'] = secs(up.ms);
        figures['per partner'] = up.doc.steps?.map((s) => `${s.device} ${secs(s.ms)}`);
        expect(reboots).toEqual({ a: 1, b: 1 });
        for (const [role, d] of Object.entries(DEVICES)) {
          const s = await fleet.state(d);
          expect(s?.firmware, role).toMatchObject({ version: b2.version, slot: 'b', state: 'committed' });
          expect(s?.failover.state, role).toBe('NORMAL');
        }
        // Every client kept its address and prefix, renewing throughout; none expired or was released.
        for (const [i, c] of clients.entries()) {
          const evs = c.events().filter((e) => e.at > since);
          expect(
            evs.filter((e) => e.kind === 'expire' || e.kind === 'release'),
            c.name,
          ).toEqual([]);
          expect(held(c.binding()), c.name).toEqual(held(before[i]!));
          figures[`${c.name} renewals / rebinds`] =
            `${evs.filter((e) => e.kind === 'renew').length} / ${evs.filter((e) => e.kind === 'rebind').length}`;
        }

        // No lease lost: both partners hold every client's address and prefix, active, for that client.
        const clientHeld = clients.flatMap((c) => held(c.binding()));
        for (const a of lab.appliances) {
          const leases = await a.leases();
          const active = new Set(leases.filter((l) => l.state === 'active').map((l) => `${l.type} ${l.resource}`));
          expect(
            clientHeld.filter((k) => !active.has(k)),
            `${a.spec.name} lost`,
          ).toEqual([]);
        }

        // 2. A release whose twin6d cannot start: the secondary's trial fails, the rollout stops there.
        const failedAt = Date.now();
        const bad = await upgradePair(broken);
        expect(bad.code, `${bad.stdout}\n${bad.stderr}`).toBe(1);
        expect(bad.doc.ok).toBe(false);
        expect(bad.doc.error).toMatch(new RegExp(`${DEVICES.secondary}: rolled-back`));
        // The rollout waited for the pair, and saw it, before it gave up (not its time-out).
        expect(bad.stderr).toMatch(
          new RegExp(`${DEVICES.secondary}: rolled-back[^]*\\n${DEVICES.primary} and ${DEVICES.secondary}: NORMAL\\n`),
        );
        figures['failed rollout, to the pair back in NORMAL'] = secs(Date.now() - failedAt);
        expect(reboots).toEqual({ a: 1, b: 3 }); // into the trial, and the guard's reboot back
        const p = await fleet.state(DEVICES.primary);
        const s = await fleet.state(DEVICES.secondary);
        expect(p?.firmware).toMatchObject({
          version: b2.version,
          slot: 'b',
          state: 'committed',
          last: { version: b2.version, outcome: 'committed' },
        });
        expect(s?.firmware).toMatchObject({
          version: b2.version,
          slot: 'b',
          state: 'committed',
          other: { slot: 'a', state: 'failed' },
          last: { version: 'broken', outcome: 'rolled-back' },
        });
        expect([p?.failover.state, s?.failover.state]).toEqual(['NORMAL', 'NORMAL']);
        for (const [i, c] of clients.entries()) {
          expect(
            c.events().filter((e) => e.at > since && (e.kind === 'expire' || e.kind === 'release')),
            c.name,
          ).toEqual([]);
          expect(held(c.binding()), c.name).toEqual(held(before[i]!));
        }
        rebooting = false;
        figures['whole test'] = secs(Date.now() - t0);
        console.log(`[firmware-upgrade-pair.test] ${JSON.stringify(figures)}`);
        await lab.stop(); // ends the guests, and with them the loops that power them on again
        await Promise.all(keepers);
      } catch (e) {
        console.error(lab.diagnostics());
        throw e;
      } finally {
        await lab.stop();
        await fleet.stop();
      }
    },
    60 * 60_000,
  );
});

// Firmware upgrade over MQTT into the inactive boot slot, on the UEFI disk,
// under QEMU (docs/fleet.md §8, docs/image.md §5); qemu-x86_64 in CI, qemu-aarch64
// too with T6_FIRMWARE_BOARDS=qemu-x86_64,qemu-aarch64. One appliance (UEFI:
// OVMF, systemd-boot) with an MQTT uplink to a real mosquitto (mutual TLS, the
// fleet ACL) and an HTTPS server with the bundles on the LAN, a real dhcpcd
// client holding a lease throughout. In order:
//   1. firmware.upgrade (signed) to an image with another tag: downloaded,
//      written to slot b, rebooted into its trial, committed; the fleet sees
//      the new version, slot b, outcome committed; the client's lease stays;
//   2. back to the first image, with power cuts on the way: during the
//      download (the same command then resumes it with a byte range), during
//      the slot write, and during the trial boot — each time the appliance
//      comes back on the slot it was running, every lease there; then the
//      upgrade goes through and slot a runs the first image again;
// A release whose twin6d cannot start, rolled back by the trial guard, is in
// firmware-upgrade-pair.test.ts (on the secondary of a pair, the harder case).
// Refusals that write nothing (bad hash, signature, board, size, space) are
// in test/integration/firmware-service.test.ts, against the same code.

import { describe, expect, it } from 'vitest';
import { ApplianceLab } from '../../src/testing/lab/appliance-lab.js';
import type { Appliance } from '../../src/testing/lab/appliance.js';
import { poll } from '../../src/testing/lab/proc.js';
import type { FirmwareStatus } from '../../src/mgmt/documents.js';
import { APPLIANCE_BOARDS, boardCases, buildImage, type ApplianceBoard } from './setup.js';
import { parseNameList } from '../../src/testing/lab/prereq.js';
import { bundleOf, FirmwareFleet, type Bundle } from './firmware-lab.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

// qemu-x86_64 in CI; on demand T6_FIRMWARE_BOARDS=qemu-x86_64,qemu-aarch64 adds the
// arm64 disk (AAVMF, systemd-boot), and qemu-aarch64-uboot the SD card layout
// under a real U-Boot (boot.scr, the U-Boot selector).
const BOARD_LIST = parseNameList(
  'T6_FIRMWARE_BOARDS',
  process.env['T6_FIRMWARE_BOARDS'],
  Object.keys(APPLIANCE_BOARDS) as ApplianceBoard[],
  ['qemu-x86_64'],
);
const cases = await boardCases('firmware-upgrade.test', ['openssl', 'mosquitto', 'dhcpcd', 'unsquashfs', 'mksquashfs'], BOARD_LIST);

const DEVICE = 'lab-fw1';
const TRIAL_SEC = 60;
const HEALTHY_SEC = 5;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe.each(cases)('firmware upgrade over MQTT into the other boot slot ($board)', ({ board, reason, timeScale }) => {
  it.skipIf(reason !== undefined)(
    'upgrades and commits, survives power cuts in every phase on a good slot, and rolls back a trial that never becomes healthy',
    async () => {
      const t0 = Date.now();
      const v1 = buildImage(board);
      const v2 = buildImage(board, 'fw2');
      const figures: Record<string, unknown> = {};
      // The fleet's PKI first: the device's certificate goes on its flash when the lab is made.
      const fleet = await FirmwareFleet.create([DEVICE]);
      const lab = await ApplianceLab.create({
        appliances: 1,
        clients: [{ kind: 'dhcpcd' }],
        spareNamespaces: 1,
        image: v1,
        provision: (_name, lanIf) => {
          const c = JSON.parse(readFileSync(resolve('examples/standalone.json'), 'utf8')) as Record<string, unknown> & {
            interfaces: string[];
            subnets: { interface?: string }[];
          };
          c.interfaces = [lanIf];
          for (const sn of c.subnets) if (sn.interface) sn.interface = lanIf;
          Object.assign(c, fleet.sections(DEVICE, { trialSec: TRIAL_SEC, healthySec: HEALTHY_SEC }));
          return { '/etc/twin6/twin6.json': { content: JSON.stringify(c, null, 2) + '\n' }, ...fleet.provision(DEVICE) };
        },
      });
      try {
        const a: Appliance = lab.appliances[0]!;
        const [client] = lab.clients;
        // 6 MiB/s: a download of seconds, long enough to cut the power in its middle.
        await fleet.start(lab.clientNamespaces[1]!, lab.dir, 6 << 20);
        const b2 = bundleOf(v2, 'v2.t6fw', fleet.www);
        const b1 = bundleOf(v1, 'v1.t6fw', fleet.www);
        const upgrade = async (b: Bundle) => {
          const args = { url: fleet.url(b), sha256: b.sha256, size: b.bytes, version: b.version };
          const r = await fleet.fleet([
            'send',
            DEVICE,
            'firmware.upgrade',
            '--args',
            JSON.stringify(args),
            '--sign-key',
            fleet.pki.signingKey,
            '--actor',
            'test',
            '--json',
            '--timeout',
            '30',
          ]);
          expect(r.code, `firmware.upgrade: ${r.stdout}${r.stderr}`).toBe(0);
          return JSON.parse(r.stdout) as { ok: boolean; data: { requestId: string } };
        };
        const firmwareNow = (pred: (f: FirmwareStatus) => boolean, what: string, timeoutMs = 180_000) =>
          fleet.firmwareNow(DEVICE, pred, what, () => a.diagnostics(), timeoutMs);

        a.boot();
        await a.waitServing(180_000);
        await client!.start();
        const lease = await client!.waitForBinding({ timeoutMs: 60_000 });
        const start = await firmwareNow((f) => f.slot === 'a', 'the device to report slot a');
        expect(start).toMatchObject({ version: v1.manifest.version, slot: 'a', generation: 1, state: 'committed', other: null });

        // 1. Upgrade to v2: slot b, trial, commit.
        let at = Date.now();
        const accepted = await upgrade(b2);
        expect(accepted.ok).toBe(true);
        await a.waitSelfReboot(300_000);
        const toReboot = Date.now() - at;
        await a.waitServing(180_000);
        const committed = await firmwareNow((f) => f.last?.outcome === 'committed', 'v2 to commit');
        expect(committed).toMatchObject({ version: v2.manifest.version, slot: 'b', generation: 2, state: 'committed' });
        expect(committed.last).toMatchObject({ requestId: accepted.data.requestId, version: b2.version });
        expect(committed.other).toMatchObject({ slot: 'a', generation: 1, state: 'committed' });
        figures['upgrade: command to reboot'] = secs(toReboot);
        figures['upgrade: command to committed'] = secs(Date.now() - at);
        const renewed = await client!.waitForBinding({ timeoutMs: 60_000 });
        expect(renewed.addresses).toEqual(lease.addresses);
        expect(renewed.prefixes).toEqual(lease.prefixes);
        const leasesBefore = await a.leases();
        expect(leasesBefore.length).toBeGreaterThan(0);

        // 2a. Back to v1, the power cut in the middle of the download.
        const requestsBefore = fleet.requests().length;
        await upgrade(b1);
        await firmwareNow((f) => f.upgrade?.phase === 'download' && f.upgrade.bytes > b1.bytes / 4, 'a quarter of the download', 120_000);
        await a.powerCut();
        a.boot();
        await a.waitServing(180_000);
        const afterDownloadCut = await firmwareNow((f) => f.last?.outcome === 'interrupted', 'the interrupted download reported');
        expect(afterDownloadCut).toMatchObject({ version: v2.manifest.version, slot: 'b', state: 'committed' });
        expect((await a.leases()).length).toBeGreaterThanOrEqual(leasesBefore.length);

        // 2b. The same command again resumes the download, then the power is cut while the slot is written.
        at = Date.now();
        await upgrade(b1);
        await firmwareNow((f) => f.upgrade?.phase === 'write', 'the slot write', 180_000);
        await a.powerCut();
        const resumed = fleet
          .requests()
          .slice(requestsBefore)
          .filter((r) => r.path === `/${b1.name}`);
        expect(resumed.length, JSON.stringify(resumed)).toBeGreaterThanOrEqual(2);
        expect(resumed[0]!.range).toBeNull();
        expect(resumed[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
        figures['download resumed from'] = resumed[1]!.range;
        a.boot();
        await a.waitServing(180_000);
        expect(
          await firmwareNow(
            (f) => f.last?.outcome === 'interrupted' && f.last.at > new Date(at).toISOString(),
            'the interrupted write reported',
          ),
        ).toMatchObject({
          version: v2.manifest.version,
          slot: 'b',
        });
        expect(a.console()).toContain('"slot":"b"');

        // 2c. Again; this time the power is cut during the trial boot of slot a: slot b comes back.
        await upgrade(b1);
        await a.waitSelfReboot(300_000);
        await poll(() => (/"code":"FIRMWARE_BOOTED".*"state":"trial"/.test(a.console()) ? true : undefined), {
          timeoutMs: 180_000,
          what: 'the trial boot',
          detail: () => a.diagnostics(),
        });
        await a.powerCut();
        a.boot();
        await a.waitServing(180_000);
        expect(await firmwareNow((f) => f.last?.outcome === 'rolled-back', 'the cut trial rolled back')).toMatchObject({
          version: v2.manifest.version,
          slot: 'b',
          other: { slot: 'a', state: 'failed' },
        });
        expect((await a.leases()).length).toBeGreaterThanOrEqual(leasesBefore.length);

        // 2d. And through: v1 in slot a, committed.
        at = Date.now();
        await upgrade(b1);
        await a.waitSelfReboot(300_000);
        await a.waitServing(180_000);
        expect(await firmwareNow((f) => f.last?.outcome === 'committed' && f.slot === 'a', 'v1 committed in slot a')).toMatchObject({
          version: v1.manifest.version,
          slot: 'a',
          generation: 4,
          state: 'committed',
        });
        figures['downgrade: command to committed'] = secs(Date.now() - at);
        const back = await client!.waitForBinding({ timeoutMs: 60_000 });
        expect(back.addresses).toEqual(lease.addresses);

        figures['whole test'] = secs(Date.now() - t0);
        console.log(`[firmware-upgrade.test ${board}] ${JSON.stringify(figures)}`);
      } catch (e) {
        console.error(lab.diagnostics());
        throw e;
      } finally {
        await lab.stop();
        await fleet.stop();
      }
    },
    40 * 60_000 * timeScale,
  );
});

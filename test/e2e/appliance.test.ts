// The appliance as people get it: the QEMU image boots to serving, real
// DHCPv6 clients on its LAN get an address and a /56, the supervisor
// respawns a killed twin6d, the hardware watchdog resets a guest that stops
// feeding it, and an upgrade (a new image on the same flash)
// keeps config and leases and drops the rest, like OpenWrt's sysupgrade.
// Once per emulated board (qemu-x86_64, qemu-aarch64; T6_APPLIANCE_BOARDS
// picks). Needs root and QEMU (scripts/setup-debian); TCG, so timeouts are
// generous, and scaled for arm64 emulated on x86.

import { describe, expect, it } from 'vitest';
import { within } from '../../src/testing/lab/addr.js';
import { ApplianceLab } from '../../src/testing/lab/appliance-lab.js';
import { LAB_TOPOLOGY } from '../../src/testing/lab/topology.js';
import { boardCases, buildImage } from './setup.js';

const cases = await boardCases('appliance.test');

describe.each(cases)('the QEMU appliance ($board)', ({ board, reason, timeScale }) => {
  it.skipIf(reason !== undefined)(
    'boots to serving; dhcpcd and dhclient get an address and a /56; twin6d is respawned; the watchdog resets a hang; an upgrade keeps config and leases',
    async () => {
      const image = buildImage(board);
      const lab = await ApplianceLab.create({ appliances: 1, clients: [{ kind: 'dhcpcd' }, { kind: 'dhclient' }], image });
      try {
        const a = lab.appliances[0]!;
        a.boot();
        const firstBootMs = await a.waitServing(180_000);
        // The flash was blank: the first boot formatted it.
        expect(a.console()).toMatch(/first boot: formatting|first boot: creating UBI/);
        expect(a.console()).toMatch(new RegExp(`flash mounted: \\S+ ${a.flashFs}`));
        // The disk is disk.img enlarged to the board's flash size, as when the image is written to a
        // larger disk: the first boot grew rootfs_data (the last partition) to the end of the disk
        // and made the ext4 fill it.
        expect(a.console()).toMatch(/growing \/dev\/vda4 \(partition 4 of \/dev\/vda\) to the end of the disk/);
        const sb = (skip: number) => `dd if=/dev/vda4 bs=1 skip=${skip} count=4 2>/dev/null | od -An -tu4`;
        const geo = await a.sh(
          `cat /sys/class/block/vda/size /sys/class/block/vda4/start /sys/class/block/vda4/size; ${sb(1028)}; ${sb(1048)}`,
        );
        const [diskSectors, start, sectors, blocks, logBlock] = geo.out.trim().split(/\s+/).map(Number);
        const dataMiB = (sectors! * 512) / 2 ** 20;
        expect(diskSectors! - (start! + sectors!), 'sectors after rootfs_data').toBeLessThanOrEqual(4096);
        expect(dataMiB).toBeGreaterThanOrEqual(image.board.storage[0]!.sizeMb - 1);
        expect(blocks! * (1024 << logBlock!), 'ext4 size').toBeGreaterThan(sectors! * 512 - (1 << 20));

        const pd = LAB_TOPOLOGY.pdPool;
        const bindings = [];
        for (const c of lab.clients) {
          await c.start();
          const b = await c.waitForBinding({ timeoutMs: 60_000 });
          expect(b.addresses).toHaveLength(1);
          expect(within(b.addresses[0]!.address, LAB_TOPOLOGY.subnet)).toBe(true);
          expect(b.prefixes).toHaveLength(1);
          expect(b.prefixes[0]!.length).toBe(56);
          expect(within(`${b.prefixes[0]!.prefix}/56`, `${pd.prefix}/${pd.prefixLength}`)).toBe(true);
          bindings.push(b);
        }
        const held = bindings
          .flatMap((b) => [...b.addresses.map((x) => x.address), ...b.prefixes.map((p) => `${p.prefix}/${p.length}`)])
          .sort();
        const active = async () =>
          (await a.leases())
            .filter((l) => l.state === 'active')
            .map((l) => l.resource)
            .sort();
        expect(await active()).toEqual(held);

        // RAM and boot time, for docs/image.md §10 and §11 (TCG, 1 vCPU, the board's RAM).
        const mem = await a.sh("free | awk '/Mem:/ {print $2, $3}'; awk '/VmRSS/ {print $2}' /proc/$(pidof node)/status");
        const [totalKiB, usedKiB, rssKiB] = mem.out.trim().split(/\s+/).map(Number);
        console.info(
          `[appliance.test ${board}] first boot to serving ${(firstBootMs / 1000).toFixed(1)} s; RAM used ${Math.round(usedKiB! / 1024)} MiB of ${Math.round(totalKiB! / 1024)} MiB, twin6d RSS ${Math.round(rssKiB! / 1024)} MiB`,
        );
        expect(usedKiB).toBeLessThan(200 * 1024);

        // The supervisor: twin6d killed in the guest comes back and serves again.
        await a.sh('kill -9 $(pidof node)');
        await expect.poll(() => a.console().match(/"msg":"serving"/g)?.length ?? 0, { timeout: 60_000, interval: 250 }).toBe(2);
        expect(a.console()).toMatch(/twin6d exited with status 137; restarting/);

        // The hardware watchdog: a guest that stops feeding it (as a hung kernel would) is
        // reset within its 30 s (-no-reboot turns the reset into QEMU's exit), and boots again.
        // Armed on both boards; the hang is staged on x86 only (CI time).
        expect(a.console()).toMatch(/watchdog armed/);
        if (board === 'qemu-x86_64') {
          const hungAt = Date.now();
          await a.sh('kill -STOP $(pidof watchdog)');
          await a.waitSelfReboot(120_000);
          const resetMs = Date.now() - hungAt;
          console.log(`[appliance.test ${board}] watchdog reset ${(resetMs / 1000).toFixed(1)} s after the feeding stopped`);
          expect(resetMs).toBeGreaterThan(25_000);
          await a.waitServing(180_000);
          expect(await active()).toEqual(held);
        }

        // Upgrade: an operator's config change and a stray file, then a new image on the same flash.
        await a.sh("sed -i 's/2001:db8:1::53/2001:db8:1::54/' /etc/twin6/twin6.json && echo stray > /root/stray && sync");
        await a.poweroff();
        const next = buildImage(board, 'upgrade-test');
        // Written as a sysupgrade writes it: the new boot partition and squashfs over the old, rootfs_data kept.
        a.upgrade(next);
        a.boot();
        await a.waitServing(180_000);
        expect(a.console()).toMatch(/new image .* keeping \/etc\/twin6\/ \/var\/lib\/twin6\//);
        expect((await a.sh('cat /etc/twin6-release')).out).toContain('upgrade-test');
        expect((await a.sh('grep -c 2001:db8:1::54 /etc/twin6/twin6.json')).out.trim()).toBe('1');
        expect((await a.sh('ls /root/stray')).code).not.toBe(0);
        expect(await active()).toEqual(held);
      } catch (e) {
        if (e instanceof Error) e.message += `\n${lab.diagnostics()}`;
        throw e;
      } finally {
        await lab.stop();
      }
    },
    600_000 * timeScale,
  );
});

// Time a pair can trust (docs/image.md §12): both appliances of a failover
// pair power on with their real-time clocks at 1970-01-01 (QEMU -rtc base=),
// as a board without one (a Raspberry Pi) does. Below their clock floor (the
// image's build time) neither grants a lease nor starts failover, and each
// says why on its console; a real client on the LAN gets nothing. Then an NTP
// server appears on the LAN (test/e2e/sntp-server.py, the lab host's clock):
// both set their clocks from it, serve, reach NORMAL, and a client gets an
// address and a /56. Last, the secondary is shut down and powered on in 1970
// again with the LAN's server gone: the clock saved on its flash at shutdown
// is restored at boot, and it takes the time from its partner (time.servePartner).
// qemu-x86_64 only (CI time), booted with -kernel (see below); TCG guests keep
// time with the HPET (§8).

import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApplianceLab, APPLIANCE_TOPOLOGY } from '../../src/testing/lab/appliance-lab.js';
import type { Appliance } from '../../src/testing/lab/appliance.js';
import { poll, sleep, type LabProcess } from '../../src/testing/lab/proc.js';
import { applianceSkipReason, buildImage } from './setup.js';

const reason = await applianceSkipReason('clock.test', 'qemu-x86_64', ['openssl', 'mke2fs', 'dhcpcd', 'dhclient', 'python3']);

const NTP_SERVER = '2001:db8:1::123';
/** How long a client asks in vain while the clocks are in 1970. */
const NO_LEASE_WINDOW_MS = 20_000;
/** A year after the epoch: a guest clock below it was never set. */
const YEAR_1971_SEC = 365 * 86_400;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/**
 * The guest's clock less the host's, in seconds, to the microsecond the guest
 * reports (busybox adjtimex reads the clock without setting anything; date
 * has whole seconds), against the midpoint of the console round trip.
 */
async function skewSec(a: Appliance): Promise<{ skewSec: number; roundTripMs: number }> {
  const before = Date.now();
  const r = await a.sh('adjtimex | awk \'/tv_sec/ {s = $2} /tv_usec/ {u = $2} END {printf "%d.%06d\\n", s, u}\'');
  const after = Date.now();
  return { skewSec: Number(r.out.trim()) - (before + after) / 2000, roundTripMs: after - before };
}

/** Host time (ms) at which `text` first showed on this boot's console, polled from `fromMs`. */
async function consoleShows(a: Appliance, text: string, timeoutMs: number): Promise<number> {
  await poll(() => (a.console().includes(text) ? true : undefined), {
    timeoutMs,
    intervalMs: 100,
    what: `${a.spec.name} to log ${text}`,
    detail: () => a.diagnostics(),
  });
  return Date.now();
}

describe.skipIf(reason !== undefined)('a failover pair whose clocks start in 1970', () => {
  it('grants nothing and keeps failover down below the clock floor, serves and reaches NORMAL once NTP sets the time, and restores the saved clock at the next boot', async () => {
    const started = Date.now();
    const image = buildImage('qemu-x86_64');
    const lab = await ApplianceLab.create({
      appliances: 2,
      clients: [{ kind: 'dhcpcd' }, { kind: 'dhclient' }],
      spareNamespaces: 1,
      image,
      rtcBase: '1970-01-01',
      // The loose kernel (SeaBIOS), not the UEFI disk: OVMF, like a PC's UEFI
      // firmware, rewrites the CMOS century, and a 1970 RTC then reads as 2070.
      // A board without an RTC has no firmware clock at all and its kernel
      // starts at the epoch, which this boot of the same image reproduces; the
      // disk boot itself is what the other appliance tests boot.
      boot: 'kernel',
      pair: { failover: { keepaliveSec: 10 }, sections: { time: { ntpServers: [NTP_SERVER], servePartner: true } } },
    });
    let ntp: LabProcess | undefined;
    try {
      const [primary, secondary] = lab.appliances as [Appliance, Appliance];
      const [dhcpcd, dhclient] = lab.clients;
      primary.boot();
      secondary.boot();

      // Below the floor: each says why, and neither serves nor starts failover.
      for (const a of lab.appliances) await consoleShows(a, '"code":"DAEMON_CLOCK_BEHIND"', 180_000);
      for (const a of lab.appliances) {
        expect(Number((await a.sh('date +%s')).out.trim())).toBeLessThan(YEAR_1971_SEC);
        expect(a.console()).toMatch(/"code":"DAEMON_CLOCK_BEHIND"[^\n]*"floorSource":"\/etc\/twin6-build-time"/);
      }
      await dhcpcd!.start();
      await sleep(NO_LEASE_WINDOW_MS);
      expect(dhcpcd!.binding()).toEqual({ addresses: [], prefixes: [] });
      for (const a of lab.appliances) {
        const status = JSON.parse((await a.sh('twin6ctl status --json')).out) as {
          counters: Record<string, number>;
          clock: { trusted: boolean };
          leases: number;
        };
        expect(status.clock.trusted).toBe(false);
        expect(status.leases).toBe(0);
        expect(await a.failover()).toMatchObject({ role: a.spec.role, state: 'waiting-for-clock' });
        expect(a.console()).not.toMatch(/"msg":"serving"|FAILOVER_PARTNER_CONNECTED|"to":"/);
      }
      // The primary was asked (the Solicits reached it) and dropped them for the clock.
      const dropped = JSON.parse((await primary.sh('twin6ctl status --json')).out) as { counters: Record<string, number> };
      expect(dropped.counters['drop.clock-behind']).toBeGreaterThan(0);
      await dhcpcd!.stop();

      // An NTP server on the LAN, with the lab host's clock.
      const ns = lab.clientNamespaces[2]!;
      await ns.ip(['addr', 'add', `${NTP_SERVER}/64`, 'dev', APPLIANCE_TOPOLOGY.clientIf, 'nodad']);
      ntp = ns.spawn('sntp-server', ['python3', resolve('test/e2e/sntp-server.py'), NTP_SERVER]);
      const ntpAt = Date.now();
      const serving: number[] = [];
      for (const a of lab.appliances) {
        await consoleShows(a, '"code":"TIME_CLOCK_STEPPED"', 60_000);
        serving.push((await consoleShows(a, '"msg":"serving"', 120_000)) - ntpAt);
      }
      const normal: number[] = [];
      for (const a of lab.appliances) normal.push((await a.waitFailoverState('NORMAL', { timeoutMs: 180_000 })) - ntpAt);
      const skews = [await skewSec(primary), await skewSec(secondary)];
      // A step lands within about half a second (whole seconds in date -s; smaller offsets are left
      // alone), the console's round trip adds its half: 1 s keeps a busy CI host from failing it.
      for (const s of skews) expect(Math.abs(s.skewSec) - s.roundTripMs / 2000).toBeLessThan(1);
      expect(primary.console()).toMatch(/"code":"DAEMON_CLOCK_TRUSTED"/);
      await dhclient!.start();
      const bound = await dhclient!.waitForBinding({ timeoutMs: 60_000 });
      expect(bound.addresses).toHaveLength(1);
      expect(bound.prefixes).toHaveLength(1);

      // The secondary shuts down (rcK saves its clock) and boots in 1970 again with no server on the LAN.
      await ntp.stop('SIGTERM');
      ntp = undefined;
      await secondary.poweroff();
      secondary.boot();
      await consoleShows(secondary, 'behind the one saved on flash: set to', 120_000);
      const rebootServing = (await consoleShows(secondary, '"msg":"serving"', 120_000)) - secondary.poweredOnAtMs;
      expect(secondary.console()).not.toMatch(/"code":"DAEMON_CLOCK_BEHIND"/);
      // Its clock, restored to the shutdown's, is behind by the time it was off: the partner sets it.
      await consoleShows(secondary, `"code":"TIME_CLOCK_STEPPED","server":"${APPLIANCE_TOPOLOGY.partner6[0].split('/')[0]}"`, 60_000);
      const renormal = (await secondary.waitFailoverState('NORMAL', { timeoutMs: 180_000 })) - secondary.poweredOnAtMs;
      const rebootSkew = await skewSec(secondary);
      expect(Math.abs(rebootSkew.skewSec) - rebootSkew.roundTripMs / 2000).toBeLessThan(1);

      console.info(
        `[clock.test] in 1970 for ${secs(NO_LEASE_WINDOW_MS)}: no lease, ${dropped.counters['drop.clock-behind']} messages dropped for the clock; ` +
          `NTP server up to serving ${serving.map(secs).join(', ')}, to NORMAL ${normal.map(secs).join(', ')} (primary, secondary); ` +
          `guest clocks ${skews.map((s) => `${s.skewSec >= 0 ? '+' : ''}${s.skewSec.toFixed(3)} s (console round trip ${s.roundTripMs} ms)`).join(', ')} from the host; ` +
          `secondary rebooted in 1970 with its saved clock: power-on to serving ${secs(rebootServing)}, to NORMAL ${secs(renormal)}, ` +
          `then ${rebootSkew.skewSec.toFixed(3)} s from the host; steps ${lab.appliances.map((a) => (a.console().match(/TIME_CLOCK_STEPPED/g) ?? []).length).join(', ')} on this boot; whole test ${secs(Date.now() - started)}`,
      );
    } catch (e) {
      if (e instanceof Error) e.message += `\n${lab.diagnostics()}\n--- sntp-server:\n${ntp?.log() ?? ''}`;
      throw e;
    } finally {
      await ntp?.stop('SIGKILL');
      await lab.stop();
    }
  }, 900_000);
});

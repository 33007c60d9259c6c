// Power cuts: the appliance's QEMU process is SIGKILLed (nothing in the guest
// runs, its page cache is gone) at a random moment while a load client keeps
// acquiring leases; it boots again on the same flash and must still hold
// every lease a client saw in a Reply. Per board: 6 cuts on qemu-x86_64, 4
// on qemu-aarch64 (CI time); T6_POWER_CUTS=100 sets every
// board's count for the long run. The check reads the leases from the
// rebooted guest's twin6d, so it covers the whole path: flash filesystem,
// LevelDB recovery, twin6d start.

import { describe, expect, it } from 'vitest';
import { ApplianceLab } from '../../src/testing/lab/appliance-lab.js';
import type { GuestLease } from '../../src/testing/lab/appliance.js';
import type { OverlayFs } from '../../src/board/profile.js';
import { APPLIANCE_BOARDS, boardCases, buildImage, median, startLoadClient } from './setup.js';
import { prng, seedText, testSeed } from '../seed.js';

const cases = (await boardCases('power-cut.test')).map((c) => ({
  ...c,
  cuts: Number(process.env['T6_POWER_CUTS'] ?? APPLIANCE_BOARDS[c.board].powerCuts),
}));
const FLASH = process.env['T6_POWER_CUT_FLASH'] as OverlayFs | undefined;
const CLOCK_SLACK_SEC = 5;
/** When the cuts come (test/seed.ts). */
const CUT_SEED = testSeed(2020);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(cases)('power cuts under load ($board)', ({ board, reason, timeScale, cuts: CUTS }) => {
  it.skipIf(reason !== undefined)(
    `loses no acknowledged lease over ${CUTS} power cuts (${seedText(CUT_SEED)})`,
    async () => {
      const rand = prng(CUT_SEED);
      const image = buildImage(board);
      const lab = await ApplianceLab.create({ appliances: 1, spareNamespaces: 1, image, ...(FLASH ? { flashFs: FLASH } : {}) });
      const started = Date.now();
      try {
        const a = lab.appliances[0]!;
        a.boot();
        await a.waitServing(180_000);
        const { proc: load, acked } = startLoadClient(lab.clientNamespaces[0]!, 20, 60 + CUTS * 90 * timeScale);

        const bootMs: number[] = [];
        let checked = 0;
        let lastCount = 0;
        const quietCycles: number[] = [];
        for (let i = 1; i <= CUTS; i++) {
          // A cut at a random moment of the load (0.5–2.5 s after the check ended).
          await sleep(500 + (rand() % 2000));
          await a.powerCut();
          a.boot();
          bootMs.push(await a.waitServing(120_000));
          const skew = await a.clockSkewSec();
          const askedAt = Date.now();
          const byResource = new Map<string, GuestLease>((await a.leases()).map((l) => [`${l.type} ${l.resource}`, l]));
          // Acks that reached the client before the question: twin6d had them on flash.
          const due = acked().filter((x) => x.ackedAtMs < askedAt);
          const lost = due.flatMap((x) => {
            const l = byResource.get(`${x.type} ${x.resource}`);
            if (!l) return [{ ...x, problem: 'missing' }];
            if (l.duid !== x.duid || l.iaid !== x.iaid) return [{ ...x, problem: `now held by ${l.duid}/${l.iaid}` }];
            // The lease may have been extended since, never shortened. Guest and
            // host clocks differ by the skew measured now, give or take the
            // RTC's whole seconds and what TCG let the guest clock drift.
            const short = Math.floor(x.ackedAtMs / 1000 + skew) + x.validSec - l.expiresAtSec;
            return short > CLOCK_SLACK_SEC ? [{ ...x, problem: `expires ${short} s early` }] : [];
          });
          expect(
            lost,
            `after cut ${i} (skew ${skew.toFixed(1)} s): ${lost.length} of ${due.length} acknowledged leases lost: ${JSON.stringify(lost.slice(0, 8))}`,
          ).toEqual([]);
          if (due.length === lastCount) quietCycles.push(i);
          lastCount = due.length;
          checked = due.length;
        }
        await load.stop('SIGTERM');
        const seconds = (Date.now() - started) / 1000;
        console.info(
          `[power-cut.test ${board}] ${CUTS} power cuts (flash ${a.flashFs}) in ${seconds.toFixed(0)} s: ${checked} acknowledged leases checked after every boot, 0 lost; ` +
            `boot to serving median ${(median(bootMs) / 1000).toFixed(1)} s, max ${(Math.max(...bootMs) / 1000).toFixed(1)} s`,
        );
        // The load really ran between cuts: leases were acknowledged in most cycles.
        expect(checked).toBeGreaterThan(CUTS * 10);
        expect(quietCycles.length, `cycles without new acknowledged leases: ${quietCycles.join(', ')}`).toBeLessThan(Math.ceil(CUTS / 4));
      } catch (e) {
        if (e instanceof Error) e.message += `\n${lab.diagnostics()}`;
        throw e;
      } finally {
        await lab.stop();
      }
    },
    (240 + CUTS * 60) * 1000 * timeScale,
  );
});

// The bench is not a pass/fail test of speed; this only keeps it from breaking
// silently: `bench --quick` must run both servers through every measurement
// and report every figure as a number. Needs root, Kea and perfdhcp.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { labRequired, labUnavailableReason, skipUnlessRequired } from '../../src/testing/lab/prereq.js';

const MAIN = fileURLToPath(new URL('../../dist/testing/bench/main.js', import.meta.url));

/** Figures both servers must report. */
const BOTH = [
  'rate_na',
  'rate_pd',
  'rate_both',
  'reply_p50_ms',
  'reply_p99_ms',
  'advertise_p99_ms',
  'reply_p50_light_ms',
  'reply_p99_light_ms',
  'rss_small_mib',
  'rss_large_mib',
  'bytes_per_grant',
  'bytes_per_renew',
  'syncs_per_sec',
  'syncs_per_sec_renewing',
  'start_small_ms',
  'start_large_ms',
  'rcvbuf_kib',
];
/** Read from twin6's own counter; Kea has none. */
const TWIN6_ONLY = ['syncs_per_sec_ladder_max'];

interface Figure {
  id: string;
  twin6: number | null;
  kea: number | null;
}

interface Order {
  seed: number;
  rule: string;
  rounds: { round: number; what: string; order: string[] }[];
}

/** Neither server may always go first: consecutive rounds with both swap them. */
function expectAlternating(order: Order): void {
  expect(order.rule).toContain(`seed ${order.seed}`);
  const both = order.rounds.filter((r) => r.order.length === 2);
  expect(both.length).toBeGreaterThan(0);
  for (let i = 1; i < both.length; i++) {
    if (both[i]!.round === both[i - 1]!.round + 1)
      expect(both[i]!.order, `round ${both[i]!.round}`).toEqual([...both[i - 1]!.order].reverse());
  }
}

// The same prerequisites and the same T6_LAB_REQUIRED rule as the other lab
// suites: in CI (scripts/test) a machine that cannot run the bench fails.
const reason = skipUnlessRequired(
  await labUnavailableReason({ binaries: ['kea-dhcp6', 'perfdhcp', 'strace'] }),
  labRequired(),
  'the bench (Debian: iproute2 kea-dhcp6-server kea-admin strace)',
);
if (reason) console.warn(`[bench-smoke.test] skipping: ${reason}`);

describe.skipIf(reason !== undefined)('npm run bench -- --quick', () => {
  it('measures both servers and reports every figure as a number', async () => {
    expect(existsSync(MAIN), `${MAIN} missing: npm run build`).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 't6-bench-smoke-'));
    const jsonFile = join(dir, 'bench.json');
    try {
      const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(
          process.execPath,
          [MAIN, '--quick', '--json', jsonFile],
          { timeout: 200_000, killSignal: 'SIGTERM', maxBuffer: 8 << 20 },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: `${stdout}\n${stderr}` }),
        );
      });
      expect(existsSync(jsonFile), `no JSON written; bench output:\n${run.out}`).toBe(true);
      const doc = JSON.parse(readFileSync(jsonFile, 'utf8')) as { mode: string; figures: Figure[]; problems: string[]; order: Order };
      expect(doc.mode).toBe('quick');
      expectAlternating(doc.order);
      // A server crash or a failed phase is a broken bench (or server), whatever the speed.
      expect(doc.problems, run.out).toEqual([]);
      expect(run.code, run.out).toBe(0);
      const byId = new Map(doc.figures.map((f) => [f.id, f]));
      for (const id of BOTH) {
        const f = byId.get(id);
        expect(f, `figure ${id}`).toBeDefined();
        expect(Number.isFinite(f?.twin6), `${id} for twin6: ${f?.twin6}`).toBe(true);
        expect(Number.isFinite(f?.kea), `${id} for Kea: ${f?.kea}`).toBe(true);
      }
      for (const id of TWIN6_ONLY) expect(Number.isFinite(byId.get(id)?.twin6), `${id} for twin6`).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});

// --pair --quick: one 50/s IA_NA step against each failover pair (twin6
// primary+secondary in NORMAL, Kea hot-standby with a 2 s heartbeat); about
// 20-30 s on 2 vCPUs, most of it Kea's HA handshake.
describe.skipIf(reason !== undefined)('npm run bench -- --pair --quick', () => {
  it('runs both pairs to their serving state and reports a rate for each', async () => {
    expect(existsSync(MAIN), `${MAIN} missing: npm run build`).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 't6-bench-smoke-'));
    const jsonFile = join(dir, 'pair.json');
    try {
      const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(
          process.execPath,
          [MAIN, '--pair', '--quick', '--json', jsonFile],
          { timeout: 110_000, killSignal: 'SIGTERM', maxBuffer: 8 << 20 },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: `${stdout}\n${stderr}` }),
        );
      });
      expect(existsSync(jsonFile), `no JSON written; bench output:\n${run.out}`).toBe(true);
      const doc = JSON.parse(readFileSync(jsonFile, 'utf8')) as {
        mode: string;
        figures: Figure[];
        problems: string[];
        order: Order;
        sockets: Record<string, { rcvbufMinBytes: number }>;
        details: { ladders: { server: string; steps: { pairLeases?: { primary: number; secondary: number } }[] }[] };
      };
      expect(doc.mode).toBe('pair-quick');
      // One round, both pairs: which went first is the seed's choice, and said.
      expect(doc.order.rounds.map((r) => [...r.order].sort())).toEqual([['kea', 'twin6']]);
      expect(doc.order.rule).toContain(`seed ${doc.order.seed}`);
      for (const s of ['twin6', 'kea']) expect(doc.sockets[s]?.rcvbufMinBytes, `${s}: receive buffer read`).toBeGreaterThan(0);
      expect(doc.problems, run.out).toEqual([]);
      expect(run.code, run.out).toBe(0);
      const f = doc.figures.find((x) => x.id === 'pair_rate_na');
      expect(f?.twin6, run.out).toBe(50);
      expect(f?.kea, run.out).toBe(50);
      // Both pairs replicated: the partner holds what the serving side granted
      // (both counted alike, from what each partner persisted once stopped).
      for (const l of doc.details.ladders) {
        const leases = l.steps[0]?.pairLeases;
        expect(leases, `${l.server}: lease counts`).toBeDefined();
        expect(leases!.primary, `${l.server}: primary leases`).toBeGreaterThan(0);
        expect(leases!.secondary, `${l.server}: partner leases`).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});

import { availableParallelism } from 'node:os';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

// One vitest project per test tier (README "Tests", docs/architecture.md §5).
// `npm run test:<tier>` runs one; `npm test` runs the four tiers in one vitest
// run, a group after another (sequence.groupOrder): unit, then the sim, then
// the integration lab, then the QEMU appliances, so no two tiers overlap.
// Only the unit tier runs its files in parallel: the sim is CPU heavy, and the
// lab and the appliances share namespaces, addresses, ports and the CPU.
// `bench` (the store micro-benchmark) is opt-in: `npm run bench:store`.

// vitest's default is one worker fewer than the CPUs: one, on the 2-vCPU CI
// machine. The unit files wait on fsync and child processes as much as on the
// CPU, so they get one worker per CPU. VITEST_MAX_WORKERS sets the unit tier's
// count here and is then removed, because vitest would apply it to every
// project and run the serial tiers' files in parallel.
const UNIT_WORKERS = Number(process.env['VITEST_MAX_WORKERS']) || Math.max(2, availableParallelism());
delete process.env['VITEST_MAX_WORKERS'];

const tier = (name: string, groupOrder: number, parallel: boolean): TestProjectInlineConfiguration => ({
  extends: true,
  test: {
    name,
    include: [`test/${name}/**/*.test.ts`],
    // A unit worker keeps its module cache from one file to the next
    // (isolate: false): importing src/ again for every file was half the
    // tier's time. So a unit test leaves no global state behind: fake
    // timers, spies, umask and the like are restored in afterEach.
    ...(parallel ? { maxWorkers: UNIT_WORKERS, isolate: false } : { fileParallelism: false }),
    sequence: { groupOrder },
  },
});

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Group orders from 1: vitest runs a project of group 0 with one worker
    // after every group, not first.
    projects: [tier('unit', 1, true), tier('sim', 2, false), tier('integration', 3, false), tier('e2e', 4, false), tier('bench', 5, false)],
  },
});

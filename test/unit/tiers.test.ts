// The test tiers as vitest.config.ts and package.json define them (README
// "Tests"): every test file in a tier, the tiers run one after another, and
// only the unit tier runs its files in parallel. A project of group order 0
// with one worker would be run after all the others, so the orders start at 1.

import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProjectInlineConfiguration } from 'vitest/config';
import { describe, expect, it } from 'vitest';
import config from '../../vitest.config.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TIERS = ['unit', 'sim', 'integration', 'e2e'] as const;
const projects = (config.test?.projects ?? []) as TestProjectInlineConfiguration[];
const project = (name: string) => projects.find((p) => p.test?.name === name)?.test;

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return testFiles(path);
    return e.name.endsWith('.test.ts') ? [relative(REPO_ROOT, path)] : [];
  });
}

describe('test tiers', () => {
  it('has a project per tier and the opt-in bench, each taking its own folder', () => {
    expect(projects.map((p) => p.test?.name)).toEqual([...TIERS, 'bench']);
    for (const p of projects) expect(p.test?.include).toEqual([`test/${p.test?.name}/**/*.test.ts`]);
    // No test file outside a tier's folder, where no project would run it.
    const tierOf = (file: string) => file.split('/')[1];
    expect(testFiles(join(REPO_ROOT, 'test')).filter((f) => !projects.some((p) => p.test?.name === tierOf(f)))).toEqual([]);
  });

  it('runs the tiers in order, one group each, from group 1', () => {
    const orders = projects.map((p) => p.test?.sequence?.groupOrder ?? 0);
    expect(orders[0]).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < orders.length; i++) expect(orders[i]).toBeGreaterThan(orders[i - 1]!);
  });

  it('runs only the unit files in parallel', () => {
    expect(project('unit')?.fileParallelism).not.toBe(false);
    expect(project('unit')?.maxWorkers).toBeGreaterThanOrEqual(2);
    expect(project('unit')?.isolate).toBe(false);
    for (const name of ['sim', 'integration', 'e2e', 'bench']) expect(project(name)?.fileParallelism, name).toBe(false);
  });

  it('has npm scripts for each tier, and npm test runs the four after the type check', () => {
    const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const tier of TIERS) expect(scripts[`test:${tier}`]).toMatch(new RegExp(`vitest run --project ${tier}$`));
    expect(scripts['test']).toMatch(/^npm run typecheck && /);
    expect(scripts['test']).toMatch(/vitest run --project unit --project sim --project integration --project e2e$/);
  });
});

// Why the lab cannot run here, if it cannot: tests turn this into a skip
// with the reason printed (or a failure where the lab is required, as in CI).

import { existsSync } from 'node:fs';
import { CLIENT_BINARIES, which, type ClientKind } from './clients.js';
import type { ServerSpec } from './server.js';

/** What every lab needs regardless of server and clients (iproute2 and util-linux). */
export const BASE_BINARIES = ['ip', 'ss', 'unshare', 'mount', 'sh'] as const;

export async function missingBinaries(bins: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  // A path (e.g. dist/cli/twin6d.js, run by node) only has to exist.
  for (const b of new Set(bins)) if (!(b.includes('/') ? existsSync(b) : await which(b))) missing.push(b);
  return missing;
}

/** Returns undefined when the lab can run, else a human-readable reason. */
export async function labUnavailableReason(opts: {
  readonly server?: ServerSpec;
  readonly clients?: readonly ClientKind[];
  /** Anything else the suite runs (perfdhcp, strace, …). */
  readonly binaries?: readonly string[];
}): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the network-namespace lab needs root (ip netns, mount)';
  }
  const bins = [
    ...BASE_BINARIES,
    ...(opts.server?.requires ?? []),
    ...(opts.clients ?? []).flatMap((k) => CLIENT_BINARIES[k]),
    ...(opts.binaries ?? []),
  ];
  const missing = await missingBinaries(bins);
  if (missing.length > 0) return `missing binaries: ${missing.join(', ')}`;
  return undefined;
}

/**
 * T6_LAB_REQUIRED: "1" (CI) turns a lab that cannot run into a failure.
 * Any other value but "0" or empty is an error rather than "not required":
 * a CI script saying "true" or "yes" would otherwise skip every lab quietly.
 */
export function labRequired(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const v = env['T6_LAB_REQUIRED'];
  if (v === undefined || v === '' || v === '0') return false;
  if (v === '1') return true;
  throw new Error(`T6_LAB_REQUIRED=${JSON.stringify(v)}: expected 1 (the lab must run) or 0`);
}

/**
 * A comma-separated list of names (T6_LAB_SERVERS), each one of `known`;
 * unset gives `fallback`. An unknown name is an error whether or not the lab
 * is required: a misspelt name would otherwise drop that server silently.
 */
export function parseNameList<T extends string>(what: string, value: string | undefined, known: readonly T[], fallback: readonly T[]): T[] {
  if (value === undefined) return [...fallback];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = names.filter((n) => !(known as readonly string[]).includes(n));
  if (unknown.length > 0)
    throw new Error(`${what}: unknown ${unknown.map((n) => JSON.stringify(n)).join(', ')} (known: ${known.join(', ')})`);
  return [...new Set(names as T[])];
}

/**
 * What a suite does about a reason it cannot run: nothing to do without one,
 * skip with it when the lab is optional, throw (fail the run) when it is required.
 */
export function skipUnlessRequired(reason: string | undefined, required: boolean, what: string): string | undefined {
  if (reason !== undefined && required) throw new Error(`T6_LAB_REQUIRED=1 but ${what} cannot run: ${reason}`);
  return reason;
}

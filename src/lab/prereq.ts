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
}): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the network-namespace lab needs root (ip netns, mount)';
  }
  const bins = [
    ...BASE_BINARIES,
    ...(opts.server?.requires ?? []),
    ...(opts.clients ?? []).flatMap((k) => CLIENT_BINARIES[k]),
  ];
  const missing = await missingBinaries(bins);
  if (missing.length > 0) return `missing binaries: ${missing.join(', ')}`;
  return undefined;
}

// Pair mode compares how many leases each partner holds after a step; the
// count must mean the same for twin6 and Kea: distinct active leases in what
// a stopped server left on disk, not lines of a journal for one and a live
// count for the other.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { persistedActiveLeases } from '../../../src/testing/bench/pair.js';
import { twin6StateDir } from '../../../src/testing/bench/servers.js';
import { LevelLeaseStore } from '../../../src/store/index.js';
import { naLease, pdLease, put } from '../store/helpers.js';

const dirs: string[] = [];
const runDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 't6-pair-leases-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const NOW = 1_800_000_000;
const LATER = NOW + 7200;

describe('leases a stopped partner left on disk', () => {
  it('Kea: one per lease however many journal lines it has, released and expired ones left out', async () => {
    const dir = runDir();
    const header =
      'address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source';
    const row = (addr: string, valid: number, expire: number, type = 0, plen = 128): string =>
      `${addr},00:03:00:01:ee:d8:2b:c3:f0:49,${valid},${expire},1,${valid / 2},${type},1,${plen},0,0,,,0,,0,0`;
    writeFileSync(
      join(dir, 'kea-leases6.csv'),
      [
        header,
        row('2001:db8:1::100:0', 7200, LATER),
        // The same lease written again (an HA update after the local write): still one lease.
        row('2001:db8:1::100:0', 7200, LATER),
        row('2001:db8:8000::', 7200, LATER, 2, 56),
        row('2001:db8:1::100:1', 7200, LATER),
        row('2001:db8:1::100:1', 0, LATER), // released
        row('2001:db8:1::100:2', 7200, NOW - 1), // expired
        '',
      ].join('\n'),
    );
    expect(await persistedActiveLeases('kea', dir, NOW)).toBe(2);
  });

  it('twin6: active, unexpired leases in its store, opened after the daemon exited', async () => {
    const dir = runDir();
    mkdirSync(twin6StateDir(dir), { recursive: true });
    const store = new LevelLeaseStore(join(twin6StateDir(dir), 'leases'));
    await store.open();
    const live = { expiresAtSec: LATER };
    await store.apply([
      put(naLease(0, live)),
      put(pdLease(0, live)),
      put(naLease(1, { ...live, state: 'released' })),
      put(naLease(2, { expiresAtSec: NOW - 1 })),
      put(naLease(3, live)),
    ]);
    await store.close();
    expect(await persistedActiveLeases('twin6', dir, NOW)).toBe(3);
  });

  it('says nothing, rather than 0, when there is nothing to read', async () => {
    expect(await persistedActiveLeases('kea', runDir())).toBeUndefined();
  });
});

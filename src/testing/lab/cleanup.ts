// Last-resort cleanup. Normal teardown is Lab.stop(); this covers a test that
// throws before stop(), a Ctrl-C, or a worker that exits early. It runs
// synchronously because 'exit' handlers cannot await.
//
// Every namespace also gets an owner record (pid + start time of the creating
// process) so that sweepStaleLabs() can remove namespaces whose creator died
// without running any hook (SIGKILL), without touching a parallel run's.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NETNS_PREFIX = 't6-';
const NAME_RE = /^t6-[a-z0-9][a-z0-9-]{0,40}$/;
export const ETC_NETNS = '/etc/netns';

const pids = new Set<number>();
const namespaces = new Set<string>();
const dirs = new Set<string>();
let hooksInstalled = false;

export function ownerDir(): string {
  return join(tmpdir(), 't6-lab-owners');
}

export function assertLabNamespace(name: string): void {
  // Guards every destructive ip-netns call: only names this lab could have made.
  if (!NAME_RE.test(name)) throw new Error(`refusing to touch namespace ${JSON.stringify(name)}: not a t6- lab name`);
}

/** Start time of a live process (a zombie counts as dead: its cleanup never ran). */
function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces; fields after the closing paren are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19]; // field 22, starttime
  } catch {
    return undefined;
  }
}

export function trackPid(pid: number): void {
  installHooks();
  pids.add(pid);
}

export function untrackPid(pid: number): void {
  pids.delete(pid);
}

export function trackDir(path: string): void {
  installHooks();
  dirs.add(path);
}

export function untrackDir(path: string): void {
  dirs.delete(path);
}

// Left in /etc/netns when a lab created the directory, so that whichever lab
// (of several running in parallel) empties it last also removes it. `ip`
// only looks up /etc/netns/<namespace>, so a dotfile is inert.
const ETC_NETNS_MARKER = join(ETC_NETNS, '.t6-lab-created');

/** Creates /etc/netns/<ns>/resolv.conf so that `ip netns exec` bind-mounts it over the host's. */
export function prepareEtcNetns(name: string, resolvConf: string): void {
  assertLabNamespace(name);
  if (!existsSync(ETC_NETNS)) {
    mkdirSync(ETC_NETNS, { recursive: true });
    writeFileSync(ETC_NETNS_MARKER, '');
  }
  mkdirSync(join(ETC_NETNS, name), { recursive: true });
  writeFileSync(join(ETC_NETNS, name, 'resolv.conf'), resolvConf);
}

function removeEtcNetnsIfOurs(): void {
  try {
    const left = readdirSync(ETC_NETNS);
    if (left.length === 1 && left[0] === '.t6-lab-created') {
      rmSync(ETC_NETNS_MARKER, { force: true });
      rmdirSync(ETC_NETNS);
    }
  } catch {
    /* gone already, or another lab just added an entry */
  }
}

interface OwnerRecord {
  pid?: number;
  start?: string;
  /** The lab directory, removed with a stale namespace. */
  dir?: string;
}

export function trackNamespace(name: string, labDir?: string): void {
  assertLabNamespace(name);
  installHooks();
  namespaces.add(name);
  mkdirSync(ownerDir(), { recursive: true });
  const record: OwnerRecord = {
    pid: process.pid,
    start: procStartTime(process.pid) ?? '',
    ...(labDir ? { dir: labDir } : {}),
  };
  writeFileSync(join(ownerDir(), name), JSON.stringify(record) + '\n');
}

export function untrackNamespace(name: string): void {
  namespaces.delete(name);
  rmSync(join(ownerDir(), name), { force: true });
  try {
    rmdirSync(ownerDir());
  } catch {
    /* not empty: another lab is alive */
  }
}

export function removeEtcNetns(name: string): void {
  assertLabNamespace(name);
  rmSync(join(ETC_NETNS, name), { recursive: true, force: true });
  removeEtcNetnsIfOurs();
}

function killSync(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Kills whatever still runs inside one of our namespaces, then deletes it. */
export function removeNamespaceSync(name: string): void {
  assertLabNamespace(name);
  const listed = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  if (listed.status === 0) {
    for (const p of listed.stdout.split(/\s+/)) if (/^\d+$/.test(p)) killSync(Number(p));
  }
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  removeEtcNetns(name);
  untrackNamespace(name);
}

export function keepDirs(): boolean {
  return process.env['T6_LAB_KEEP'] === '1';
}

export function cleanupSync(): void {
  for (const pid of [...pids]) killSync(pid);
  pids.clear();
  for (const ns of [...namespaces]) removeNamespaceSync(ns);
  if (!keepDirs()) for (const d of [...dirs]) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupSync);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (sig: NodeJS.Signals): void => {
    // Another listener (a test runner, scripts/lab.mjs releasing leases
    // first) owns the shutdown; the 'exit' hook still cleans up after it.
    if (process.listenerCount(sig) > 1) return;
    cleanupSync();
    for (const s of signals) process.removeListener(s, onSignal);
    // Alone, restore the default action so the signal still ends the process.
    process.kill(process.pid, sig);
  };
  for (const s of signals) process.on(s, onSignal);
}

/**
 * Removes lab namespaces whose creating process is gone (killed before any
 * hook could run). Namespaces of live labs, including parallel runs, stay.
 * Returns the names removed.
 */
export function sweepStaleLabs(): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(ownerDir());
  } catch {
    return removed;
  }
  for (const name of entries) {
    if (!NAME_RE.test(name)) continue;
    let owner: OwnerRecord = {};
    try {
      owner = JSON.parse(readFileSync(join(ownerDir(), name), 'utf8')) as typeof owner;
    } catch {
      /* unreadable record: treat as stale */
    }
    const alive = owner.pid !== undefined && procStartTime(owner.pid) === owner.start && owner.start !== '';
    if (alive) continue;
    removeNamespaceSync(name);
    removed.push(name);
    // Only a directory this lab made (tmpdir/t6-lab-*), never an arbitrary path from the record.
    if (owner.dir && owner.dir.startsWith(join(tmpdir(), 't6-lab-')) && !owner.dir.includes('..')) {
      rmSync(owner.dir, { recursive: true, force: true });
    }
  }
  return removed;
}

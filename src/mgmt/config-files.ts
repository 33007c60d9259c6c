// Config push, the files (docs/fleet.md §7.3): the config written atomically
// (a temporary file in the same directory, fsync, rename over the config,
// fsync the directory), the previous file kept as `<config>.prev`, and the
// push record in the state directory, which says which version is in force
// and whether one is on trial. A start that finds a trial unconfirmed (power
// cut, crash or kill during the grace period) puts the previous file back
// before the config is loaded, so an unproven config never outlives a restart.

import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sha256Hex, type LastPush } from './config-push.js';

export const PUSH_RECORD_NAME = 'config-push.json';

export interface TrialRecord {
  readonly version: number;
  readonly sha256: string;
  readonly actor: string | null;
  /** The version and hash of the file it replaced (now `<config>.prev`). */
  readonly prevVersion: number | null;
  readonly prevSha256: string;
  readonly startedAt: string;
}

export interface PushRecord {
  readonly v: 1;
  readonly highestVersion: number;
  /** The pushed version in force and the hash of the file it wrote; null before the first push. */
  readonly applied: { readonly version: number; readonly sha256: string } | null;
  readonly last: LastPush | null;
  /** Set (and synced) before the new file is renamed into place; cleared when the trial ends. */
  readonly trial: TrialRecord | null;
}

export const EMPTY_RECORD: PushRecord = { v: 1, highestVersion: 0, applied: null, last: null, trial: null };

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Write, fsync, rename over `path`, fsync its directory: after a power cut the file is the old one or the new one, whole. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const h = await open(tmp, 'w', mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(path));
}

export const prevPath = (configFile: string): string => `${configFile}.prev`;

export async function readPushRecord(stateDir: string): Promise<PushRecord> {
  try {
    const r = JSON.parse(await readFile(join(stateDir, PUSH_RECORD_NAME), 'utf8')) as Partial<PushRecord>;
    return {
      v: 1,
      highestVersion: Number.isSafeInteger(r.highestVersion) ? r.highestVersion! : 0,
      applied: r.applied ?? null,
      last: r.last ?? null,
      trial: r.trial ?? null,
    };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_RECORD;
    throw new Error(`${join(stateDir, PUSH_RECORD_NAME)}: unreadable push record: ${(e as Error).message}`, { cause: e });
  }
}

export function writePushRecord(stateDir: string, r: PushRecord): Promise<void> {
  return writeFileAtomic(join(stateDir, PUSH_RECORD_NAME), JSON.stringify(r, null, 2) + '\n');
}

export const fileHash = async (path: string): Promise<string> => sha256Hex(await readFile(path));

/**
 * Steps 1–3 of an apply: the current file saved as `.prev`, the trial
 * recorded, the new file renamed into place. Each step is atomic on its own;
 * a power cut between any two leaves a state the next start resolves (a trial
 * whose file is not in place rolls back to the same file).
 */
export async function installTrial(configFile: string, stateDir: string, record: PushRecord, text: string): Promise<void> {
  await writeFileAtomic(prevPath(configFile), await readFile(configFile));
  await writePushRecord(stateDir, record);
  await writeFileAtomic(configFile, text);
}

/** The previous file back in place (atomically); `.prev` stays, so a second rollback finds it too. */
export async function restorePrevious(configFile: string): Promise<void> {
  await writeFileAtomic(configFile, await readFile(prevPath(configFile)));
}

export interface RecoveredTrial {
  readonly version: number;
  readonly restored: boolean;
  readonly reason: string;
}

/**
 * At start, before the config is read: a trial still recorded means the
 * process ended before it was confirmed. The previous file goes back, and
 * the push is recorded as rolled back (reported once the uplink connects).
 */
export async function recoverTrialAtStart(configFile: string, stateDir: string, now = new Date()): Promise<RecoveredTrial | undefined> {
  const record = await readPushRecord(stateDir);
  const trial = record.trial;
  if (!trial) return undefined;
  const inPlace = (await fileHash(configFile).catch(() => '')) === trial.sha256;
  if (inPlace) await restorePrevious(configFile);
  const reason = `twin6d restarted during the trial of version ${trial.version} (power cut, crash or kill) before it was confirmed; the previous file is back`;
  await writePushRecord(stateDir, {
    ...record,
    applied: trial.prevVersion === null ? null : { version: trial.prevVersion, sha256: trial.prevSha256 },
    trial: null,
    last: { outcome: 'rolled-back', desiredVersion: trial.version, actor: trial.actor, errors: [], reason, at: now.toISOString() },
  });
  return { version: trial.version, restored: inPlace, reason };
}

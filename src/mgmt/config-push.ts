// Config push, the decisions (docs/fleet.md §7): the desired and reported
// documents, whether a desired document is taken, refused or ignored, which
// keys a push may not change, the keys both partners of a pair must agree on,
// and the trial after an apply that ends confirmed or rolled back. No I/O
// here but the config check the caller passes in; config-pusher.ts does the
// files, the reload and the broker.

import { createHash, type KeyObject } from 'node:crypto';
import type { ConfigProblem } from '../config/errors.js';
import { parseConfig } from '../config/load.js';
import type { ServerConfig } from '../config/types.js';
import { argsHash, canonicalJson, verifySigned, type CommandClaims } from './signature.js';
import { DOC_VERSION } from './documents.js';

/** The `cmd` claim of a pushed config's signature: a command token cannot pass for a config and back. */
export const CONFIG_PUSH_CLAIM = 'config.desired';
/**
 * A desired document is retained and waits for a device that is away, so its
 * signature may last longer than a command's 300 s; the version, not a nonce,
 * makes it single-use (every version is acted on once, across restarts).
 */
export const CONFIG_SIGNATURE_LIFETIME_MAX_SEC = 7 * 86_400;
/** The config text a desired document may carry (the broker packet limit is 256 KiB). */
export const CONFIG_TEXT_BYTES_MAX = 192 * 1024;
/** Checks must hold this long, without a break, before a trial is confirmed (or the whole grace, if shorter). */
export const TRIAL_STABLE_MS = 3000;

/** What an operator retains on P/config/desired. */
export interface DesiredDoc {
  readonly v: typeof DOC_VERSION;
  /** 1..2^53-1, above every version this device has acted on. */
  readonly version: number;
  /** The file's exact text: what lands on flash, byte for byte. */
  readonly config: string;
  /** sha256 hex of `config` as UTF-8. */
  readonly sha256: string;
  /** A pair push (twin6ctl fleet push-config-pair): the partner's device id and the hash of the keys both must agree on. */
  readonly pair?: { readonly partner: string; readonly pairHash: string };
  /** Compact JWS by a key in mqtt.commandKeys over {sub: deviceId, cmd: "config.desired", argsHash: argsHash(signedPart(doc)), …}. */
  readonly auth: string;
}

export type PushOutcome = 'applied' | 'rejected' | 'rolled-back' | 'pending';

/** The last push this device acted on, kept in the state directory. */
export interface LastPush {
  readonly outcome: PushOutcome;
  readonly desiredVersion: number;
  readonly actor: string | null;
  readonly errors: readonly ConfigProblem[];
  readonly reason: string | null;
  readonly at: string;
}

/** What the device retains on P/config/reported. */
export interface ReportedDoc {
  readonly v: typeof DOC_VERSION;
  readonly deviceId: string;
  /** The pushed version of the file in force; null when no push wrote it (or it was edited on the box since). */
  readonly version: number | null;
  /** sha256 hex of the config file in force. */
  readonly hash: string;
  /** The resolved config's version, as the state document has it. */
  readonly configVersion: string;
  /** Hash of the keys both partners of a pair must agree on (pairKeys). */
  readonly pairHash: string;
  /** The last push acted on; `none` when there was none. */
  readonly outcome: PushOutcome | 'none';
  readonly desiredVersion: number | null;
  readonly actor: string | null;
  /** For `rejected`: every problem, with its key path. */
  readonly errors: readonly ConfigProblem[];
  /** For `rolled-back` and refusals that are not about a key: why. */
  readonly reason: string | null;
  readonly at: string | null;
}

export const sha256Hex = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

/** What the signature's argsHash covers: the version, the config bytes (by hash) and the pair claim. */
export function signedPart(d: Pick<DesiredDoc, 'version' | 'sha256' | 'pair'>): Record<string, unknown> {
  return { version: d.version, sha256: d.sha256, ...(d.pair ? { pair: d.pair } : {}) };
}

export function desiredArgsHash(d: Pick<DesiredDoc, 'version' | 'sha256' | 'pair'>): string {
  return argsHash(signedPart(d));
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The shape of a desired document; the signature is checked apart. */
export function parseDesired(payload: Buffer): DesiredDoc | { problem: string } {
  if (payload.length === 0) return { problem: 'empty (a cleared retained message)' };
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return { problem: 'not JSON' };
  }
  const o = body as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o) || o['v'] !== DOC_VERSION)
    return { problem: 'must be a JSON object with "v": 1' };
  const { version, config, sha256, pair, auth } = o;
  if (!Number.isSafeInteger(version) || (version as number) < 1) return { problem: 'version: must be an integer from 1 to 2^53-1' };
  if (typeof config !== 'string') return { problem: 'config: must be the config file as a string' };
  if (Buffer.byteLength(config) > CONFIG_TEXT_BYTES_MAX) return { problem: `config: longer than ${CONFIG_TEXT_BYTES_MAX} bytes` };
  if (typeof sha256 !== 'string' || !HEX64.test(sha256)) return { problem: 'sha256: must be 64 lowercase hex digits' };
  if (typeof auth !== 'string') return { problem: 'auth: a signature is required (compact JWS)' };
  if (pair !== undefined) {
    const p = pair as Record<string, unknown> | null;
    if (typeof p !== 'object' || p === null || typeof p['partner'] !== 'string' || typeof p['pairHash'] !== 'string')
      return { problem: 'pair: must be {"partner": DEVICE, "pairHash": HEX}' };
    return { v: DOC_VERSION, version: version as number, config, sha256, auth, pair: { partner: p['partner'], pairHash: p['pairHash'] } };
  }
  return { v: DOC_VERSION, version: version as number, config, sha256, auth };
}

/** What the device has acted on so far (persisted by the shell). */
export interface PushMemory {
  /** The highest version ever acted on (taken or refused after its signature passed); 0 at first. */
  readonly highestVersion: number;
}

export type DesiredVerdict =
  /** A retained copy of a version already acted on: the broker hands it over at every subscribe. Nothing to say. */
  | { readonly kind: 'ignore'; readonly why: string }
  /** Unsigned, badly signed, replayed, or malformed before a trusted version could be read: refused, the reported document stays. */
  | { readonly kind: 'refuse'; readonly reason: string; readonly version: number | null }
  /** Signed and new: the version is used up whatever follows; `check` decides between apply and reject. */
  | { readonly kind: 'signed'; readonly doc: DesiredDoc; readonly claims: CommandClaims };

/**
 * The first gate. `retained` is the MQTT retain flag as delivered: set for
 * the copy the broker keeps (at subscribe), clear for a live publish. A live
 * publish of a version already acted on is a replay and is refused loudly.
 */
export function admitDesired(
  payload: Buffer,
  retained: boolean,
  o: { readonly keys: readonly KeyObject[]; readonly deviceId: string; readonly nowSec: () => number; readonly memory: PushMemory },
): DesiredVerdict {
  const doc = parseDesired(payload);
  if ('problem' in doc) {
    if (retained && payload.length === 0) return { kind: 'ignore', why: 'no desired config retained' };
    return { kind: 'refuse', reason: `desired document: ${doc.problem}`, version: null };
  }
  if (doc.version <= o.memory.highestVersion) {
    if (retained) return { kind: 'ignore', why: `version ${doc.version} was already acted on` };
    return {
      kind: 'refuse',
      reason: `version ${doc.version} is not above ${o.memory.highestVersion}, the highest this device has acted on: a replay, or push a higher version`,
      version: doc.version,
    };
  }
  if (o.keys.length === 0)
    return { kind: 'refuse', reason: 'no command signing key is configured (mqtt.commandKeys)', version: doc.version };
  const v = verifySigned(doc.auth, {
    keys: o.keys,
    deviceId: o.deviceId,
    nowSec: o.nowSec,
    cmd: CONFIG_PUSH_CLAIM,
    args: signedPart(doc),
    lifetimeMaxSec: CONFIG_SIGNATURE_LIFETIME_MAX_SEC,
  });
  if (!v.ok) return { kind: 'refuse', reason: v.reason, version: doc.version };
  return { kind: 'signed', doc, claims: v.claims };
}

/** A bigint-safe canonical JSON of a resolved config part. */
const canonical = (v: unknown): string =>
  canonicalJson(JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))));

/**
 * The keys both partners of a failover pair must agree on (docs/fleet.md §7.4):
 * every subnet's name, prefix, pools, pd pools and reservations (RFC 8156 §4.1:
 * the pools are configured identically on both), and the failover settings
 * that describe the relationship rather than one side of it.
 */
export function pairKeys(c: ServerConfig): unknown {
  const f = c.failover;
  return {
    subnets: c.subnets.map((s) => ({
      name: s.name,
      prefix: `${s.prefix}/${s.prefixLength}`,
      pools: s.pools,
      pdPools: s.pdPools,
      reservations: s.reservations,
    })),
    failover: f
      ? {
          relationshipName: f.relationshipName,
          port: f.port,
          mcltSec: f.mcltSec,
          vendorEnterpriseNumber: f.vendorEnterpriseNumber,
          keepLongerLease: f.keepLongerLease ?? false,
          tls: f.tls !== undefined,
        }
      : null,
  };
}

export const pairHash = (c: ServerConfig): string => sha256Hex(canonical(pairKeys(c))).slice(0, 32);

/** Keys a reload does not apply (read only at start): a push may not change them. */
const RESTART_ONLY: readonly { readonly key: keyof ServerConfig; readonly why: string }[] = [
  { key: 'failover', why: 'the failover endpoint reads it only at start (role, addresses, TLS, MCLT): change it on the box and restart' },
  { key: 'serverDuid', why: 'the server DUID is fixed at start; clients would see another server' },
  { key: 'pdRoutes', why: 'routes for delegated prefixes are set up only at start' },
];

/**
 * What a push may not do, beyond what --check-config checks: change keys that
 * only a restart applies, or cut the device off from the fleet (no uplink, another
 * identity, no key to verify the next push with).
 */
export function pushProblems(current: ServerConfig, next: ServerConfig, pair: DesiredDoc['pair'] | undefined): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const { key, why } of RESTART_ONLY) {
    if (canonical(current[key] ?? null) !== canonical(next[key] ?? null))
      problems.push({ path: key, problem: `cannot change by a push: ${why}` });
  }
  const m = current.mqtt;
  if (m && !next.mqtt) problems.push({ path: 'mqtt', problem: 'cannot be removed by a push: the device would leave the fleet' });
  if (m && next.mqtt && next.mqtt.deviceId !== m.deviceId)
    problems.push({ path: 'mqtt.deviceId', problem: `must stay "${m.deviceId}": a push cannot move a device to another identity` });
  if (m && next.mqtt && next.mqtt.topicPrefix !== m.topicPrefix)
    problems.push({
      path: 'mqtt.topicPrefix',
      problem: `must stay "${m.topicPrefix}": under another prefix the device would no longer see its desired config nor report the outcome`,
    });
  if (next.mqtt && next.mqtt.commandKeys.length === 0)
    problems.push({ path: 'mqtt.commandKeys', problem: 'must keep at least one key: without one no later push could be verified' });
  if (current.failover) {
    const have = pairHash(current);
    const want = pairHash(next);
    if (pair === undefined) {
      if (have !== want)
        problems.push({
          path: 'subnets',
          problem:
            'changes keys both partners of the pair must agree on (pools, pd pools, reservations; docs/fleet.md §7.4): push both with twin6ctl fleet push-config-pair',
        });
    } else if (pair.pairHash !== want) {
      problems.push({
        path: 'subnets',
        problem: `the pair push says the partner "${pair.partner}" gets keys hashing to ${pair.pairHash}, this config's hash to ${want}: the two files disagree`,
      });
    }
  }
  return problems;
}

/** The failover state and sockets before the apply: what the trial compares with. */
export interface HealthBefore {
  readonly failoverState: string | null;
}

export interface HealthNow {
  readonly interfaces: readonly string[];
  /** What the DHCP sockets are bound to (net/dhcp-socket.ts: ff02::1:2%<if> per interface, then unicast addresses). */
  readonly bound: readonly string[];
  readonly failoverState: string | null;
  /** Whether the config in force has an mqtt section, and whether its uplink is connected. */
  readonly mqttConfigured: boolean;
  readonly brokerConnected: boolean;
}

/** Why the device does not serve as it did before the apply; empty when it does. */
export function healthProblems(before: HealthBefore, now: HealthNow): string[] {
  const problems: string[] = [];
  const missing = now.interfaces.filter((i) => !now.bound.some((b) => b.endsWith(`%${i}`) && b.startsWith('ff02::1:2')));
  if (missing.length > 0) problems.push(`no DHCP socket bound on ${missing.join(', ')}`);
  if (before.failoverState === 'NORMAL' && now.failoverState !== 'NORMAL')
    problems.push(`failover is ${now.failoverState ?? 'gone'}, it was NORMAL before the change`);
  if (now.mqttConfigured && !now.brokerConnected) problems.push('the broker is not reachable with the new mqtt section');
  return problems;
}

export type TrialStep = { readonly kind: 'wait' } | { readonly kind: 'confirm' } | { readonly kind: 'rollback'; readonly reason: string };

/**
 * The trial after an apply: confirmed once every check has held for
 * TRIAL_STABLE_MS (or until the grace ends, if that comes first), rolled back
 * when the grace ends with a check failing. A reload that failed outright
 * rolls back at once.
 */
export class Trial {
  private healthySinceMs: number | undefined;
  private done = false;

  constructor(
    readonly startedMs: number,
    readonly graceMs: number,
  ) {}

  get deadlineMs(): number {
    return this.startedMs + this.graceMs;
  }

  step(nowMs: number, problems: readonly string[]): TrialStep {
    if (this.done) return { kind: 'wait' };
    const late = nowMs >= this.deadlineMs;
    if (problems.length === 0) {
      this.healthySinceMs ??= nowMs;
      if (late || nowMs - this.healthySinceMs >= TRIAL_STABLE_MS) return this.finish({ kind: 'confirm' });
      return { kind: 'wait' };
    }
    this.healthySinceMs = undefined;
    if (!late) return { kind: 'wait' };
    return this.finish({ kind: 'rollback', reason: `after ${Math.round(this.graceMs / 1000)} s: ${problems.join('; ')}` });
  }

  /** The reload itself failed: no point waiting. */
  reloadFailed(why: string): TrialStep {
    if (this.done) return { kind: 'wait' };
    return this.finish({ kind: 'rollback', reason: `the reload failed: ${why}` });
  }

  private finish(s: TrialStep): TrialStep {
    this.done = true;
    return s;
  }
}

/**
 * The operator side's pair hash of a config file (twin6ctl fleet push-config-pair):
 * computed without the device's files, so the mqtt section and the failover TLS
 * files are left out before the check; only whether TLS is on counts (pairKeys).
 * Throws ConfigError for what the file gets wrong otherwise.
 */
export function pairHashOfJson(json: unknown): string {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return pairHash(parseConfig(json));
  const { mqtt: _mqtt, ...rest } = json as Record<string, unknown>;
  const f = rest['failover'];
  let tls = false;
  if (typeof f === 'object' && f !== null && !Array.isArray(f)) {
    const { tls: t, insecure: _insecure, ...fo } = f as Record<string, unknown>;
    tls = t !== undefined;
    rest['failover'] = { ...fo, insecure: true };
  }
  const keys = pairKeys(parseConfig(rest)) as { failover: Record<string, unknown> | null };
  if (keys.failover) keys.failover = { ...keys.failover, tls };
  return sha256Hex(canonical(keys)).slice(0, 32);
}

// The commands the fleet may send, as a table: each entry says how its
// arguments are checked, whether it is dangerous (signed by a pinned key) or
// two-step (preview + confirm token), and where its handler lives. Handlers
// are the daemon's command table (src/daemon/commands.ts plus those
// registered in handlers.ts), so MQTT and twin6ctl serve the same code; only
// `rebirth` is the uplink's own. Argument checks reuse the config schema
// readers, so a bad argument reads like a bad config key: "args.limit: …".

import { LOG_LEVELS } from '../config/defaults.js';
import { ROOT_PATH } from '../config/errors.js';
import { boolean, integer, Issues, object, oneOf, optional, required, textOf, type Reader } from '../config/schema.js';
import { ConfigError } from '../config/errors.js';
import { duid, subnetName } from '../config/values.js';
import type { ResponseCode } from './documents.js';

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly args: Reader<Record<string, unknown>>;
  /** Needs a signature from a key pinned in mqtt.commandKeys (over MQTT; the root-only control socket is trusted). */
  readonly dangerous: boolean;
  /** Two steps: the first answers CONFIRM_REQUIRED with a preview and a token; the second, carrying args.confirmToken, acts. */
  readonly twoStep: boolean;
  /** 'daemon': the daemon's command table under this name; 'uplink': the uplink itself. */
  readonly servedBy: 'daemon' | 'uplink';
}

/** An error a handler throws to answer with a specific code rather than INTERNAL. */
export class CommandError extends Error {
  constructor(
    readonly code: Exclude<ResponseCode, 'OK' | 'CONFIRM_REQUIRED'>,
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export const FAILOVER_NOT_CONFIGURED = 'not available: failover is not configured';
export const FIRMWARE_NOT_AVAILABLE = 'not available: this device has no boot slots (twin6d runs without --slots)';

/** Page size over MQTT: one response stays a few tens of kilobytes. */
export const LEASES_PAGE_MAX_MQTT = 100;
export const LOG_LEVEL_TTL_MAX_SEC = 3600;
export const LOG_LEVEL_TTL_DEFAULT_SEC = 600;

const text = (what: string, max: number): Reader<string> =>
  textOf(what, (t) => (t.length > 0 && t.length <= max ? t : { problem: `must be 1 to ${max} characters` }));
const confirmToken = text('a confirm token', 64);
const noArgs = object({});
/** The exact URL the signature covers: https only, no credentials in it. */
const httpsUrl = (t: string): string | { problem: string } => {
  if (t.length > 2048) return { problem: 'must be at most 2048 characters' };
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    return { problem: `not a URL: ${JSON.stringify(t.slice(0, 80))}` };
  }
  if (u.protocol !== 'https:') return { problem: `must be https:, got ${u.protocol}` };
  if (u.username || u.password) return { problem: 'must not carry credentials' };
  return t;
};

const spec = (
  name: string,
  summary: string,
  args: Reader<Record<string, unknown>>,
  more: Partial<Omit<CommandSpec, 'name' | 'summary' | 'args'>> = {},
): CommandSpec => ({
  name,
  summary,
  args,
  dangerous: false,
  twoStep: false,
  servedBy: 'daemon',
  ...more,
});

export const COMMANDS: readonly CommandSpec[] = [
  spec('status', 'server DUID, sockets, pool use, storage and packet counters', noArgs),
  spec(
    'leases',
    'leases, filtered by state and client DUID, paged by offset/limit',
    object({
      state: optional(oneOf(['active', 'released', 'declined', 'expired'] as const)),
      duid: optional(duid),
      offset: optional(integer(0, 1_000_000_000)),
      limit: optional(integer(1, LEASES_PAGE_MAX_MQTT)),
    }),
  ),
  spec('leases.count', 'per pool: active leases against its size; per state: how many records', object({ subnet: optional(subnetName) })),
  spec('stats', 'packet counters, storage writes and syncs, uplink and outbox', noArgs),
  spec('failover.status', 'role, own and partner state (standalone until failover is configured)', noArgs),
  spec(
    'failover.partner-down',
    'declare the partner down and serve its clients (RFC 8156 §8.4)',
    object({ reason: required(text('a reason', 200)), confirmToken: optional(confirmToken) }),
    {
      dangerous: true,
      twoStep: true,
    },
  ),
  spec(
    'failover.maintenance',
    'hand service to the partner before maintenance, or take it back',
    object({ action: required(oneOf(['start', 'cancel'] as const)), confirmToken: optional(confirmToken) }),
    {
      dangerous: true,
      twoStep: true,
    },
  ),
  spec('config.reload', 're-read the config file, as SIGHUP does', noArgs),
  spec(
    'log.level',
    'change the log level for a limited time',
    object({ level: required(oneOf(LOG_LEVELS)), ttlSec: optional(integer(1, LOG_LEVEL_TTL_MAX_SEC)) }),
  ),
  spec('firmware.status', 'running version and slot, the other slot, a running upgrade, the last outcome', noArgs),
  spec(
    'firmware.upgrade',
    'download a signed bundle over HTTPS into the inactive slot and reboot into it on trial',
    object({
      url: required(textOf('an https URL', httpsUrl)),
      sha256: required(textOf('a SHA-256 in hex', (t) => (/^[0-9a-f]{64}$/.test(t) ? t : { problem: 'must be 64 lowercase hex digits' }))),
      size: required(integer(1, 2 ** 32)),
      version: required(
        textOf('a version', (t) =>
          /^[\x21-\x7e]{1,128}$/.test(t) ? t : { problem: 'must be 1 to 128 printable ASCII characters without spaces' },
        ),
      ),
      stage: optional(boolean),
    }),
    { dangerous: true },
  ),
  spec(
    'firmware.cancel',
    'stop an upgrade still downloading or verifying, or drop a staged bundle; a slot being written is not stopped',
    noArgs,
    { dangerous: true },
  ),
  spec('rebirth', 'publish the retained state and meta again', noArgs, { servedBy: 'uplink' }),
];

export const commandSpec = (name: string): CommandSpec | undefined => COMMANDS.find((c) => c.name === name);

export type ArgsCheck = { readonly ok: true; readonly args: Record<string, unknown> } | { readonly ok: false; readonly error: string };

/** Checks a request's args against its spec; every problem, each with its path under "args". */
export function checkArgs(spec: CommandSpec, raw: unknown): ArgsCheck {
  const issues = new Issues();
  const args = spec.args(raw ?? {}, 'args', issues);
  try {
    issues.throwIfAny();
  } catch (e) {
    if (e instanceof ConfigError)
      return { ok: false, error: e.errors.map((p) => (p.path === ROOT_PATH ? p.problem : `${p.path}: ${p.problem}`)).join('; ') };
    throw e;
  }
  return { ok: true, args: args ?? {} };
}

/** The args without the confirm token: what a confirm token is bound to. */
export function withoutConfirm(args: Record<string, unknown>): Record<string, unknown> {
  const { confirmToken: _token, ...rest } = args;
  return rest;
}

// `twin6ctl fleet …`: the operator side of the MQTT uplink. Lists the devices
// the broker holds a retained state for, and sends any command to one device
// and prints the answer; dangerous commands are signed with the operator's
// Ed25519 key (--sign-key) or carry a token signed elsewhere (--auth).

import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ResponseDoc, StateDoc } from '../mgmt/documents.js';
import { FleetClient, TimeoutError, type DeviceState, type FleetConnectOptions, type RequestBody } from '../mgmt/requester.js';
import { argsHash, commandKeyText, newNonce, signCommand } from '../mgmt/signature.js';
import { DEFAULT_TOPIC_PREFIX, requesterIdProblem } from '../mgmt/topics.js';
import { DEVICE_ID_RE, topicPrefixProblem } from '../config/topic-rules.js';
import { parseArgs, type ParsedArgs } from './args.js';

export const FLEET_USAGE = `usage: twin6ctl fleet CONNECTION list [--json] [--wait MS]
       twin6ctl fleet CONNECTION send DEVICE COMMAND [--args JSON] [--sign-key FILE] [--actor NAME]
                  [--auth JWS] [--confirm-token TOKEN] [--timeout SEC] [--json] [--response-topic TOPIC]
       twin6ctl fleet pubkey --sign-key FILE      (the value for the devices' mqtt.commandKeys)
CONNECTION: --broker mqtts://HOST:PORT --ca FILE --cert FILE --key FILE [--servername NAME]
            [--prefix ${DEFAULT_TOPIC_PREFIX}] [--requester ID]`;

const VALUE_FLAGS = [
  'broker',
  'ca',
  'cert',
  'key',
  'servername',
  'prefix',
  'requester',
  'wait',
  'args',
  'sign-key',
  'actor',
  'auth',
  'confirm-token',
  'timeout',
  'response-topic',
];
/** Signatures made here are valid this long: enough for a slow link, short enough to be useless later. */
const SIGNATURE_TTL_SEC = 60;

class UsageError extends Error {}

const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const err = (s: string): void => void process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

function flag(a: ParsedArgs, name: string): string | undefined {
  const v = a.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function connection(a: ParsedArgs): FleetConnectOptions {
  const need = (name: string): string => {
    const v = flag(a, name);
    if (v === undefined) throw new UsageError(`--${name} is required`);
    return v;
  };
  const prefix = flag(a, 'prefix') ?? DEFAULT_TOPIC_PREFIX;
  const prefixProblem = topicPrefixProblem(prefix);
  if (prefixProblem) throw new UsageError(`--prefix: ${prefixProblem}`);
  const requesterId = flag(a, 'requester') ?? `ctl-${randomBytes(4).toString('hex')}`;
  const requesterProblem = requesterIdProblem(requesterId);
  if (requesterProblem) throw new UsageError(`--requester: ${requesterProblem}`);
  const servername = flag(a, 'servername');
  return {
    url: need('broker'),
    caFile: need('ca'),
    certFile: need('cert'),
    keyFile: need('key'),
    prefix,
    requesterId,
    ...(servername ? { servername } : {}),
  };
}

function readSigningKey(file: string): KeyObject {
  const key = createPrivateKey(readFileSync(file));
  if (key.asymmetricKeyType !== 'ed25519')
    throw new UsageError(
      `--sign-key: ${file} is a ${key.asymmetricKeyType} key; an Ed25519 key is needed (openssl genpkey -algorithm ed25519)`,
    );
  return key;
}

function describe(id: string, s: DeviceState): string {
  if (!s.online) return `${id.padEnd(20)} offline  (${s.reason}${s.ts ? ` at ${s.ts}` : ''})`;
  const doc = s as StateDoc;
  const pools = doc.pools.map((p) => `${p.kind}:${p.used}/${p.size}`).join(' ') || '-';
  const fo =
    doc.failover.state === doc.role
      ? doc.role
      : `${doc.role} ${doc.failover.state}${doc.failover.partnerState ? ` (partner ${doc.failover.partnerState})` : ''}`;
  return `${id.padEnd(20)} online   ${fo.padEnd(24)} ${doc.config.version}  storage ${doc.storage.status}  pools ${pools}  since ${new Date(doc.session).toISOString()}`;
}

async function list(a: ParsedArgs): Promise<number> {
  const wait = Number(flag(a, 'wait') ?? 1500);
  if (!Number.isInteger(wait) || wait < 0 || wait > 60_000) throw new UsageError('--wait: milliseconds, 0..60000');
  const fleet = await FleetClient.connect(connection(a));
  try {
    const states = [...(await fleet.states(wait)).entries()].sort(([x], [y]) => x.localeCompare(y));
    if (a.flags.has('json')) out(JSON.stringify(Object.fromEntries(states), null, 2));
    else {
      out(`${states.length} device(s)`);
      for (const [id, s] of states) out(describe(id, s));
    }
    return 0;
  } finally {
    await fleet.close();
  }
}

function printResponse(r: ResponseDoc, json: boolean): number {
  if (json) out(JSON.stringify(r, null, 2));
  else if (r.ok && r.code === 'CONFIRM_REQUIRED') {
    const d = r.data as { confirmToken: string; expiresInSec: number; preview: unknown };
    out(`CONFIRM_REQUIRED: nothing was done yet. Preview:\n${JSON.stringify(d.preview, null, 2)}`);
    out(`To go ahead, send the same command again within ${d.expiresInSec} s with --confirm-token ${d.confirmToken}`);
  } else if (r.ok) out(JSON.stringify(r.data, null, 2));
  else err(`${r.code}: ${r.error}`);
  return r.ok ? 0 : 1;
}

async function send(a: ParsedArgs): Promise<number> {
  const [device, cmd] = a.positional.slice(1);
  if (device === undefined || cmd === undefined) throw new UsageError('send needs DEVICE and COMMAND');
  if (!DEVICE_ID_RE.test(device)) throw new UsageError(`DEVICE: not a device id: ${JSON.stringify(device)}`);
  let args: Record<string, unknown> = {};
  const argsText = flag(a, 'args');
  if (argsText !== undefined) {
    try {
      args = JSON.parse(argsText) as Record<string, unknown>;
    } catch {
      throw new UsageError('--args: not JSON');
    }
  }
  const token = flag(a, 'confirm-token');
  if (token !== undefined) args = { ...args, confirmToken: token };
  let auth = flag(a, 'auth');
  const keyFile = flag(a, 'sign-key');
  if (keyFile !== undefined) {
    if (auth !== undefined) throw new UsageError('--sign-key and --auth: choose one');
    const iat = Math.floor(Date.now() / 1000);
    const actor = flag(a, 'actor') ?? `${os.userInfo().username}@${os.hostname()}`;
    auth = signCommand(readSigningKey(keyFile), {
      sub: device,
      cmd,
      argsHash: argsHash(args),
      iat,
      exp: iat + SIGNATURE_TTL_SEC,
      nonce: newNonce(),
      actor,
    });
  }
  const timeoutSec = Number(flag(a, 'timeout') ?? 10);
  if (!(timeoutSec > 0 && timeoutSec <= 600)) throw new UsageError('--timeout: seconds, up to 600');
  const body: RequestBody = { v: 1, args, ...(auth !== undefined ? { auth } : {}) };
  const fleet = await FleetClient.connect(connection(a));
  try {
    const responseTopic = flag(a, 'response-topic');
    const r = await fleet.request(device, cmd, body, { timeoutMs: timeoutSec * 1000, ...(responseTopic ? { responseTopic } : {}) });
    return printResponse(r, a.flags.has('json'));
  } catch (e) {
    if (e instanceof TimeoutError) {
      err(`twin6ctl fleet: ${e.message} (is the device online? see \`fleet list\` and its evt/cmd-refused events)`);
      return 3;
    }
    throw e;
  } finally {
    await fleet.close();
  }
}

export async function fleetMain(argv: readonly string[]): Promise<number> {
  let a: ParsedArgs;
  try {
    a = parseArgs(argv, VALUE_FLAGS, ['json', 'help']);
  } catch (e) {
    err(`${(e as Error).message}\n${FLEET_USAGE}`);
    return 2;
  }
  const sub = a.positional[0];
  if (a.flags.has('help') || sub === undefined) {
    (a.flags.has('help') ? out : err)(FLEET_USAGE);
    return a.flags.has('help') ? 0 : 2;
  }
  try {
    if (sub === 'list') return await list(a);
    if (sub === 'send') return await send(a);
    if (sub === 'pubkey') {
      const file = flag(a, 'sign-key');
      if (file === undefined) throw new UsageError('pubkey needs --sign-key FILE');
      out(commandKeyText(readSigningKey(file)));
      return 0;
    }
    throw new UsageError(`unknown fleet subcommand "${sub}" (list, send, pubkey)`);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`twin6ctl fleet: ${e.message}\n${FLEET_USAGE}`);
      return 2;
    }
    err(`twin6ctl fleet: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

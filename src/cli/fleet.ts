// `twin6ctl fleet …`: the operator side of the MQTT uplink. Lists the devices
// the broker holds a retained state for, and sends any command to one device
// and prints the answer; dangerous commands are signed with the operator's
// Ed25519 key (--sign-key) or carry a token signed elsewhere (--auth).

import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ResponseDoc, StateDoc } from '../mgmt/documents.js';
import {
  CONFIG_PUSH_CLAIM,
  CONFIG_SIGNATURE_LIFETIME_MAX_SEC,
  desiredArgsHash,
  pairHashOfJson,
  sha256Hex,
  type DesiredDoc,
  type ReportedDoc,
} from '../mgmt/config-push.js';
import { ConfigError, parseJsonText } from '../config/index.js';
import { FleetClient, TimeoutError, type DeviceState, type FleetConnectOptions, type RequestBody } from '../mgmt/requester.js';
import { commandKeyText, newNonce, signCommand } from '../mgmt/signature.js';
import { DEFAULT_TOPIC_PREFIX, deviceTopics, requesterIdProblem } from '../mgmt/topics.js';
import { DEVICE_ID_RE, topicPrefixProblem } from '../config/topic-rules.js';
import { parseArgs, type ParsedArgs } from './args.js';
import { bundleRequest, RolloutError, signedBody, StateWatch, upgradeDevice, upgradePair } from './fleet-upgrade.js';

export const FLEET_USAGE = `usage: twin6ctl fleet CONNECTION list [--json] [--wait MS]
       twin6ctl fleet CONNECTION send DEVICE COMMAND [--args JSON] [--sign-key FILE] [--actor NAME]
                  [--auth JWS] [--confirm-token TOKEN] [--timeout SEC] [--json] [--response-topic TOPIC]
       twin6ctl fleet CONNECTION push-config DEVICE FILE --sign-key FILE [--version N] [--actor NAME]
                  [--ttl SEC] [--timeout SEC] [--json] [--no-local-check]
       twin6ctl fleet CONNECTION push-config-pair PRIMARY SECONDARY FILE1 FILE2 --sign-key FILE [--actor NAME]
                  [--ttl SEC] [--timeout SEC] [--json]
       twin6ctl fleet CONNECTION upgrade DEVICE --bundle FILE --url URL --sign-key FILE [--actor NAME]
                  [--timeout SEC] [--json]
       twin6ctl fleet CONNECTION upgrade-pair PRIMARY SECONDARY --bundle FILE --url URL --sign-key FILE
                  [--actor NAME] [--timeout SEC] [--json]
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
  'version',
  'ttl',
  'bundle',
  'url',
];

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

function signer(a: ParsedArgs, keyFile: string) {
  return { key: readSigningKey(keyFile), actor: flag(a, 'actor') ?? `${os.userInfo().username}@${os.hostname()}` };
}

function readSigningKey(file: string): KeyObject {
  const key = createPrivateKey(readFileSync(file));
  if (key.asymmetricKeyType !== 'ed25519')
    throw new UsageError(
      `--sign-key: ${file} is a ${key.asymmetricKeyType} key; an Ed25519 key is needed (openssl genpkey -algorithm ed25519)`,
    );
  return key;
}

/** The config columns: pushed version in force (or "-" for a file no push wrote) and the last push's outcome. */
function pushColumns(r: ReportedDoc | undefined): string {
  if (!r) return 'push -';
  const last = r.outcome === 'none' ? 'none' : `${r.outcome} v${r.desiredVersion}`;
  return `push v${r.version ?? '-'} (last: ${last})`;
}

/** Running version and slot, a running upgrade, the last upgrade's outcome (docs/fleet.md §8). */
function firmwareColumn(doc: StateDoc): string {
  const f = doc.firmware;
  if (!f) return 'fw - (no slots)';
  const slot = `${f.version} slot ${f.slot ?? '?'}${f.state === 'committed' ? '' : ` ${f.state}`}`;
  const now = f.upgrade ? ` upgrading to ${f.upgrade.version}: ${f.upgrade.phase}` : '';
  const last = f.last ? ` (last: ${f.last.outcome} ${f.last.version})` : '';
  return `fw ${slot}${now}${last}`;
}

function describe(id: string, s: DeviceState, r?: ReportedDoc): string {
  if (!s.online) return `${id.padEnd(20)} offline  (${s.reason}${s.ts ? ` at ${s.ts}` : ''})  ${pushColumns(r)}`;
  const doc = s as StateDoc;
  const pools = doc.pools.map((p) => `${p.kind}:${p.used}/${p.size}`).join(' ') || '-';
  const fo =
    doc.failover.state === doc.role
      ? doc.role
      : `${doc.role} ${doc.failover.state}${doc.failover.partnerState ? ` (partner ${doc.failover.partnerState})` : ''}`;
  return `${id.padEnd(20)} online   ${fo.padEnd(24)} ${firmwareColumn(doc)}  ${doc.config.version}  ${pushColumns(r)}  storage ${doc.storage.status}  pools ${pools}  since ${new Date(doc.session).toISOString()}`;
}

async function list(a: ParsedArgs): Promise<number> {
  const wait = Number(flag(a, 'wait') ?? 1500);
  if (!Number.isInteger(wait) || wait < 0 || wait > 60_000) throw new UsageError('--wait: milliseconds, 0..60000');
  const fleet = await FleetClient.connect(connection(a));
  try {
    const [found, reported] = await Promise.all([fleet.states(wait), fleet.reported(wait)]);
    const states = [...found.entries()].sort(([x], [y]) => x.localeCompare(y));
    if (a.flags.has('json'))
      out(JSON.stringify(Object.fromEntries(states.map(([id, s]) => [id, { ...s, configReported: reported.get(id) ?? null }])), null, 2));
    else {
      out(`${states.length} device(s)`);
      for (const [id, s] of states) out(describe(id, s, reported.get(id)));
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
    auth = signedBody(device, cmd, args, signer(a, keyFile)).auth;
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

/** A config file for a push: its exact text, checked here for all a device's files are not needed for. */
function readPushFile(file: string): { text: string; pairHash: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
  try {
    return { text, pairHash: pairHashOfJson(parseJsonText(text, file)) };
  } catch (e) {
    if (e instanceof ConfigError) throw new PushRefusedLocally(`${file}: refused before sending:\n${e.message}`);
    throw e;
  }
}

class PushRefusedLocally extends Error {}

interface PushPlan {
  readonly device: string;
  readonly text: string;
  readonly pair?: DesiredDoc['pair'];
}

/** Signs and retains each plan's desired document, then waits for every device's reported outcome (or a refusal event). */
async function pushAndWait(a: ParsedArgs, plans: readonly PushPlan[]): Promise<number> {
  const keyFile = flag(a, 'sign-key');
  if (keyFile === undefined) throw new UsageError('--sign-key FILE is required: devices take only signed configs');
  const key = readSigningKey(keyFile);
  const ttl = Number(flag(a, 'ttl') ?? 3600);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > CONFIG_SIGNATURE_LIFETIME_MAX_SEC)
    throw new UsageError(`--ttl: seconds, 1..${CONFIG_SIGNATURE_LIFETIME_MAX_SEC}`);
  const timeoutSec = Number(flag(a, 'timeout') ?? 120);
  if (!(timeoutSec > 0 && timeoutSec <= 3600)) throw new UsageError('--timeout: seconds, up to 3600');
  const explicit = flag(a, 'version');
  if (explicit !== undefined && plans.length > 1)
    throw new UsageError('--version: only for push-config (a pair push picks each next version)');
  const actor = flag(a, 'actor') ?? `${os.userInfo().username}@${os.hostname()}`;
  const fleet = await FleetClient.connect(connection(a));
  try {
    const before = await fleet.reported(700);
    const outcomes = new Map<string, ReportedDoc | { refused: string }>();
    const versions = new Map<string, number>();
    for (const p of plans) {
      const r = before.get(p.device);
      const version = explicit !== undefined ? Number(explicit) : Math.max(r?.desiredVersion ?? 0, r?.version ?? 0) + 1;
      if (!Number.isSafeInteger(version) || version < 1) throw new UsageError('--version: an integer from 1');
      versions.set(p.device, version);
    }
    const stops: (() => Promise<void>)[] = [];
    const done = new Promise<void>((resolve) => {
      const check = (): void => {
        if (plans.every((p) => outcomes.has(p.device))) resolve();
      };
      for (const p of plans) {
        const t = deviceTopics(fleet.opts.prefix, p.device);
        const want = versions.get(p.device)!;
        void fleet
          .watch(t.configReported, (_topic, payload) => {
            const r = JSON.parse(payload.toString('utf8')) as ReportedDoc;
            if (r.desiredVersion === want && r.outcome !== 'pending') outcomes.set(p.device, r);
            check();
          })
          .then((s) => stops.push(s));
        void fleet
          .watch(t.evt('config-rejected'), (_topic, payload) => {
            const e = JSON.parse(payload.toString('utf8')) as { code: string; desiredVersion: number | null; reason?: string };
            if (e.code === 'CONFIG_PUSH_REFUSED' && e.desiredVersion === want) outcomes.set(p.device, { refused: e.reason ?? '' });
            check();
          })
          .then((s) => stops.push(s));
      }
    });
    await new Promise((r) => setTimeout(r, 300)); // the subscriptions are in place before anything is sent
    for (const p of plans) {
      const version = versions.get(p.device)!;
      const sha256 = sha256Hex(p.text);
      const iat = Math.floor(Date.now() / 1000);
      const signedPart = { version, sha256, ...(p.pair ? { pair: p.pair } : {}) };
      const auth = signCommand(key, {
        sub: p.device,
        cmd: CONFIG_PUSH_CLAIM,
        argsHash: desiredArgsHash(signedPart),
        iat,
        exp: iat + ttl,
        nonce: newNonce(),
        actor,
      });
      const doc: DesiredDoc = { v: 1, ...signedPart, config: p.text, auth };
      await fleet.publishRetained(deviceTopics(fleet.opts.prefix, p.device).configDesired, JSON.stringify(doc));
      if (!a.flags.has('json')) out(`${p.device}: version ${version} sent (sha256 ${sha256.slice(0, 16)}…), waiting for its outcome`);
    }
    const timedOut = await Promise.race([
      done.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), timeoutSec * 1000)),
    ]);
    for (const s of stops) await s();
    let status = timedOut ? 3 : 0;
    const json: Record<string, unknown> = {};
    for (const p of plans) {
      const o = outcomes.get(p.device);
      json[p.device] = o ?? null;
      if (!o) {
        err(`${p.device}: no outcome within ${timeoutSec} s (offline? \`fleet list\` shows it; it acts on the retained config when back)`);
        continue;
      }
      if ('refused' in o) {
        status = Math.max(status, 1);
        err(`${p.device}: refused: ${o.refused}`);
      } else if (o.outcome === 'applied') {
        if (!a.flags.has('json')) out(`${p.device}: applied version ${o.version} (${o.configVersion}, sha256 ${o.hash.slice(0, 16)}…)`);
      } else {
        status = Math.max(status, 1);
        err(`${p.device}: ${o.outcome} version ${o.desiredVersion}${o.reason ? `: ${o.reason}` : ''}`);
        for (const e of o.errors) err(`  ${e.path}: ${e.problem}`);
      }
    }
    if (a.flags.has('json')) out(JSON.stringify(json, null, 2));
    return status;
  } finally {
    await fleet.close();
  }
}

async function pushConfig(a: ParsedArgs): Promise<number> {
  const [device, file] = a.positional.slice(1);
  if (device === undefined || file === undefined) throw new UsageError('push-config needs DEVICE and FILE');
  if (!DEVICE_ID_RE.test(device)) throw new UsageError(`DEVICE: not a device id: ${JSON.stringify(device)}`);
  try {
    // --no-local-check sends a file this side would refuse, for the device to judge (and report) itself.
    const text = a.flags.has('no-local-check') ? readFileSync(file, 'utf8') : readPushFile(file).text;
    return await pushAndWait(a, [{ device, text }]);
  } catch (e) {
    if (e instanceof PushRefusedLocally) return (err(e.message), 1);
    throw e;
  }
}

/** Both partners' files must agree on the pair keys (docs/fleet.md §7.4) before either is sent. */
async function pushConfigPair(a: ParsedArgs): Promise<number> {
  const [primary, secondary, file1, file2] = a.positional.slice(1);
  if (primary === undefined || secondary === undefined || file1 === undefined || file2 === undefined)
    throw new UsageError('push-config-pair needs PRIMARY SECONDARY FILE1 FILE2');
  for (const d of [primary, secondary]) if (!DEVICE_ID_RE.test(d)) throw new UsageError(`not a device id: ${JSON.stringify(d)}`);
  try {
    const one = readPushFile(file1);
    const two = readPushFile(file2);
    if (one.pairHash !== two.pairHash) {
      err(
        `refused, nothing sent: ${file1} and ${file2} disagree on keys both partners must share (subnets' prefixes, pools, pd pools, reservations; failover relationshipName, port, mcltSec, vendorEnterpriseNumber, keepLongerLease, TLS on or off): pair hashes ${one.pairHash} and ${two.pairHash}`,
      );
      return 1;
    }
    return await pushAndWait(a, [
      { device: primary, text: one.text, pair: { partner: secondary, pairHash: one.pairHash } },
      { device: secondary, text: two.text, pair: { partner: primary, pairHash: two.pairHash } },
    ]);
  } catch (e) {
    if (e instanceof PushRefusedLocally) return (err(e.message), 1);
    throw e;
  }
}

/** --bundle, --url, --sign-key and --timeout of the upgrade commands. */
async function upgradeArgs(a: ParsedArgs) {
  const bundle = flag(a, 'bundle');
  const url = flag(a, 'url');
  const keyFile = flag(a, 'sign-key');
  if (bundle === undefined || url === undefined || keyFile === undefined)
    throw new UsageError(
      '--bundle FILE (to read its hash, size and version), --url URL (where the devices fetch it) and --sign-key FILE are required',
    );
  if (!/^https:\/\//.test(url)) throw new UsageError('--url: the devices download over https only');
  const timeoutSec = Number(flag(a, 'timeout') ?? 1800);
  if (!(timeoutSec > 0 && timeoutSec <= 86_400)) throw new UsageError('--timeout: seconds per device, up to 86400');
  return { req: await bundleRequest(bundle, url), signer: signer(a, keyFile), timeoutMs: timeoutSec * 1000 };
}

async function upgrade(a: ParsedArgs): Promise<number> {
  const device = a.positional[1];
  if (device === undefined || !DEVICE_ID_RE.test(device)) throw new UsageError('upgrade needs DEVICE');
  const { req, signer: s, timeoutMs } = await upgradeArgs(a);
  const fleet = await FleetClient.connect(connection(a));
  const watch = await StateWatch.start(fleet, [device]);
  try {
    const r = await upgradeDevice(fleet, watch, device, req, { signer: s, timeoutMs, say: err });
    if (a.flags.has('json')) out(JSON.stringify({ device, ...r }, null, 2));
    return r.last.outcome === 'committed' ? 0 : 1;
  } catch (e) {
    if (e instanceof RolloutError) {
      err(`twin6ctl fleet: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await watch.close();
    await fleet.close();
  }
}

async function upgradePairCmd(a: ParsedArgs): Promise<number> {
  const [primary, secondary] = a.positional.slice(1);
  if (primary === undefined || secondary === undefined || !DEVICE_ID_RE.test(primary) || !DEVICE_ID_RE.test(secondary))
    throw new UsageError('upgrade-pair needs PRIMARY and SECONDARY');
  const { req, signer: s, timeoutMs } = await upgradeArgs(a);
  const fleet = await FleetClient.connect(connection(a));
  try {
    const steps = await upgradePair(fleet, primary, secondary, req, { signer: s, timeoutMs, normalTimeoutMs: 600_000, say: err });
    if (a.flags.has('json')) out(JSON.stringify({ ok: true, version: req.version, steps }, null, 2));
    else out(`${primary} and ${secondary}: both run ${req.version}, in NORMAL`);
    return 0;
  } catch (e) {
    if (e instanceof RolloutError) {
      if (a.flags.has('json')) out(JSON.stringify({ ok: false, version: req.version, error: e.message }, null, 2));
      err(`twin6ctl fleet: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await fleet.close();
  }
}

export async function fleetMain(argv: readonly string[]): Promise<number> {
  let a: ParsedArgs;
  try {
    a = parseArgs(argv, VALUE_FLAGS, ['json', 'help', 'no-local-check']);
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
    if (sub === 'push-config') return await pushConfig(a);
    if (sub === 'push-config-pair') return await pushConfigPair(a);
    if (sub === 'upgrade') return await upgrade(a);
    if (sub === 'upgrade-pair') return await upgradePairCmd(a);
    if (sub === 'pubkey') {
      const file = flag(a, 'sign-key');
      if (file === undefined) throw new UsageError('pubkey needs --sign-key FILE');
      out(commandKeyText(readSigningKey(file)));
      return 0;
    }
    throw new UsageError(`unknown fleet subcommand "${sub}" (list, send, push-config, push-config-pair, upgrade, upgrade-pair, pubkey)`);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`twin6ctl fleet: ${e.message}\n${FLEET_USAGE}`);
      return 2;
    }
    err(`twin6ctl fleet: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

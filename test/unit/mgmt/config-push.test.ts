// Config push, the pure parts (src/mgmt/config-push.ts) and the files
// (src/mgmt/config-files.ts): which desired documents are taken, what a push
// may not change, the pair keys, the trial, and the rollback a restart makes.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import type { MqttConfig, ServerConfig } from '../../../src/config/types.js';
import {
  admitDesired,
  CONFIG_PUSH_CLAIM,
  desiredArgsHash,
  healthProblems,
  pairHash,
  pairHashOfJson,
  pushProblems,
  sha256Hex,
  Trial,
  TRIAL_STABLE_MS,
  type DesiredDoc,
} from '../../../src/mgmt/config-push.js';
import {
  installTrial,
  prevPath,
  readPushRecord,
  recoverTrialAtStart,
  writeFileAtomic,
  type PushRecord,
} from '../../../src/mgmt/config-files.js';
import { commandKeyText, newNonce, signCommand } from '../../../src/mgmt/signature.js';
import { base } from '../config/helpers.js';

const signer = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const NOW = 1_800_000_000;
const DEV = 'dev-a';

function desired(
  version: number,
  text: string,
  o: { sub?: string; key?: typeof signer.privateKey; ttl?: number; iat?: number; pair?: DesiredDoc['pair']; cmd?: string } = {},
): DesiredDoc {
  const sha256 = sha256Hex(text);
  const iat = o.iat ?? NOW;
  const signedPart = { version, sha256, ...(o.pair ? { pair: o.pair } : {}) };
  const auth = signCommand(o.key ?? signer.privateKey, {
    sub: o.sub ?? DEV,
    cmd: o.cmd ?? CONFIG_PUSH_CLAIM,
    argsHash: desiredArgsHash(signedPart),
    iat,
    exp: iat + (o.ttl ?? 3600),
    nonce: newNonce(),
    actor: 'ops',
  });
  return { v: 1, ...signedPart, config: text, auth };
}

const admit = (doc: unknown, retained = false, highestVersion = 0) =>
  admitDesired(Buffer.from(JSON.stringify(doc)), retained, {
    keys: [signer.publicKey],
    deviceId: DEV,
    nowSec: () => NOW,
    memory: { highestVersion },
  });

const TEXT = JSON.stringify(base());

describe('admitDesired: what a device takes from config/desired', () => {
  it('takes a signed document with a version above every one acted on', () => {
    const v = admit(desired(3, TEXT), false, 2);
    expect(v).toMatchObject({ kind: 'signed', doc: { version: 3 }, claims: { actor: 'ops', sub: DEV } });
  });

  it('ignores the retained copy of a version already acted on, and refuses the same document published live (a replay)', () => {
    const doc = desired(3, TEXT);
    expect(admit(doc, true, 3)).toEqual({ kind: 'ignore', why: 'version 3 was already acted on' });
    expect(admit(doc, false, 3)).toMatchObject({
      kind: 'refuse',
      version: 3,
      reason: expect.stringMatching(/^version 3 is not above 3.*replay/),
    });
    expect(admit(desired(2, TEXT), false, 3)).toMatchObject({ kind: 'refuse', version: 2 });
  });

  it('refuses a document signed for another device, by another key, for a command, or altered after signing', () => {
    expect(admit(desired(1, TEXT, { sub: 'dev-b' }))).toMatchObject({
      kind: 'refuse',
      reason: 'signed for device "dev-b", this is "dev-a"',
    });
    expect(admit(desired(1, TEXT, { key: stranger.privateKey }))).toMatchObject({
      kind: 'refuse',
      reason: 'signature does not verify against any pinned command key',
    });
    expect(admit(desired(1, TEXT, { cmd: 'failover.partner-down' }))).toMatchObject({
      kind: 'refuse',
      reason: 'signed for command "failover.partner-down", not "config.desired"',
    });
    const bumped = { ...desired(1, TEXT), version: 9 };
    expect(admit(bumped)).toMatchObject({ kind: 'refuse', reason: "the signed arguments differ from the request's" });
    const otherBytes = { ...desired(1, TEXT), sha256: sha256Hex(TEXT + ' ') };
    expect(admit(otherBytes)).toMatchObject({ kind: 'refuse', reason: "the signed arguments differ from the request's" });
  });

  it('lets a signature last up to 7 days (a retained config waits for a device that is away), not longer', () => {
    expect(admit(desired(1, TEXT, { iat: NOW - 6 * 86_400, ttl: 7 * 86_400 }))).toMatchObject({ kind: 'signed' });
    expect(admit(desired(1, TEXT, { ttl: 7 * 86_400 + 1 }))).toMatchObject({
      kind: 'refuse',
      reason: expect.stringMatching(/validity must be 1 to 604800 s/),
    });
    expect(admit(desired(1, TEXT, { iat: NOW - 7200, ttl: 3600 }))).toMatchObject({
      kind: 'refuse',
      reason: 'signature expired 3600 s ago',
    });
  });

  it('refuses malformed documents, and ignores a cleared retained message', () => {
    expect(admit({ v: 1, version: 0, config: TEXT, sha256: sha256Hex(TEXT), auth: 'x' })).toMatchObject({
      kind: 'refuse',
      reason: 'desired document: version: must be an integer from 1 to 2^53-1',
    });
    expect(admit({ v: 1, version: 1, config: TEXT, sha256: sha256Hex(TEXT) })).toMatchObject({
      kind: 'refuse',
      reason: 'desired document: auth: a signature is required (compact JWS)',
    });
    expect(
      admitDesired(Buffer.alloc(0), true, { keys: [], deviceId: DEV, nowSec: () => NOW, memory: { highestVersion: 0 } }),
    ).toMatchObject({
      kind: 'ignore',
    });
  });
});

const MQTT: MqttConfig = {
  url: 'mqtts://broker.example:8883',
  deviceId: DEV,
  topicPrefix: 'fleet/v1',
  tls: { caFile: '/x/ca.pem', certFile: '/x/dev.pem', keyFile: '/x/dev.key' },
  keepaliveSec: 60,
  willDelaySec: 30,
  telemetryIntervalSec: 60,
  reconnect: { initialMs: 1000, maxMs: 300_000 },
  outbox: { maxMessages: 1000, maxBytes: 262_144 },
  commandKeys: [commandKeyText(signer.publicKey)],
  configGraceSec: 60,
};

const cfg = (patch: Record<string, unknown> = {}, mqtt: Partial<MqttConfig> | null = {}): ServerConfig => {
  const c = parseConfig({ ...base(), ...patch });
  return mqtt === null ? c : { ...c, mqtt: { ...MQTT, ...mqtt } };
};

const FAILOVER = { role: 'primary', localAddress: 'fd00::1', peerAddress: 'fd00::2', insecure: true, mcltSec: 600 };
const otherPools = (doc: Record<string, unknown>) => ({
  ...doc,
  subnets: [{ ...(doc['subnets'] as Record<string, unknown>[])[0], pools: ['2001:db8:1::2000-2001:db8:1::2fff'] }],
});

describe('pushProblems: what a push may not change', () => {
  it('passes an ordinary change (options, lifetimes)', () => {
    expect(pushProblems(cfg(), cfg({ options: { dnsServers: ['2001:db8::53'] } }), undefined)).toEqual([]);
  });

  it('refuses keys only a restart applies, and cutting the device off from the fleet, each by key path', () => {
    const problems = pushProblems(
      cfg(),
      cfg({ serverDuid: '000300010a0b0c0d0e0f', pdRoutes: true }, { deviceId: 'dev-b', topicPrefix: 'other/v1', commandKeys: [] }),
      undefined,
    );
    expect(problems.map((p) => p.path)).toEqual(['serverDuid', 'pdRoutes', 'mqtt.deviceId', 'mqtt.topicPrefix', 'mqtt.commandKeys']);
    expect(pushProblems(cfg(), cfg({ failover: FAILOVER }), undefined).map((p) => p.path)).toEqual(['failover']);
    expect(pushProblems(cfg(), cfg({}, null), undefined)).toEqual([
      { path: 'mqtt', problem: 'cannot be removed by a push: the device would leave the fleet' },
    ]);
  });

  it('in a pair, refuses a change of the pair keys unless pushed as a pair whose hash matches the new file', () => {
    const now = cfg({ failover: FAILOVER });
    const next = cfg(otherPools({ ...base(), failover: FAILOVER }));
    expect(pairHash(now)).not.toBe(pairHash(next));
    expect(pushProblems(now, cfg({ failover: FAILOVER, declineHoldSec: 600 }), undefined)).toEqual([]);
    expect(pushProblems(now, next, undefined)).toEqual([{ path: 'subnets', problem: expect.stringMatching(/push-config-pair/) }]);
    expect(pushProblems(now, next, { partner: 'dev-b', pairHash: pairHash(next) })).toEqual([]);
    expect(pushProblems(now, next, { partner: 'dev-b', pairHash: pairHash(now) })).toEqual([
      { path: 'subnets', problem: expect.stringMatching(/^the pair push says the partner "dev-b" gets keys hashing to/) },
    ]);
  });

  it('computes the same pair hash on the operator side (no device files) for the two example partners, and another when pools differ', () => {
    const read = (f: string) =>
      JSON.parse(readFileSync(new URL(`../../../examples/${f}`, import.meta.url), 'utf8')) as Record<string, unknown>;
    const primary = read('primary.json');
    const secondary = read('secondary.json');
    expect(pairHashOfJson(primary)).toBe(pairHashOfJson(secondary));
    expect(pairHashOfJson(otherPools(primary))).not.toBe(pairHashOfJson(secondary));
    expect(pairHashOfJson({ ...primary, failover: { ...(primary['failover'] as object), mcltSec: 600 } })).not.toBe(
      pairHashOfJson(secondary),
    );
    // The device side over the resolved config agrees with the operator side (TLS off on both here).
    const plain = { ...base(), failover: FAILOVER };
    expect(pairHash(parseConfig(plain))).toBe(pairHashOfJson(plain));
  });
});

describe('the trial after an apply', () => {
  const now = {
    interfaces: ['lan0'],
    bound: ['ff02::1:2%lan0', '2001:db8:1::1'],
    failoverState: null,
    mqttConfigured: true,
    brokerConnected: true,
  };

  it('names what does not serve as before', () => {
    expect(healthProblems({ failoverState: null }, now)).toEqual([]);
    expect(
      healthProblems(
        { failoverState: 'NORMAL' },
        { ...now, interfaces: ['lan0', 'lan9'], failoverState: 'COMMUNICATIONS-INTERRUPTED', brokerConnected: false },
      ),
    ).toEqual([
      'no DHCP socket bound on lan9',
      'failover is COMMUNICATIONS-INTERRUPTED, it was NORMAL before the change',
      'the broker is not reachable with the new mqtt section',
    ]);
    // A pair that was apart before need not come together for the change to stand.
    expect(
      healthProblems({ failoverState: 'COMMUNICATIONS-INTERRUPTED' }, { ...now, failoverState: 'COMMUNICATIONS-INTERRUPTED' }),
    ).toEqual([]);
  });

  it('confirms once the checks held for TRIAL_STABLE_MS, a failure resetting the count', () => {
    const t = new Trial(0, 60_000);
    expect(t.step(500, [])).toEqual({ kind: 'wait' });
    expect(t.step(1000, ['x'])).toEqual({ kind: 'wait' });
    expect(t.step(1500, [])).toEqual({ kind: 'wait' });
    expect(t.step(1500 + TRIAL_STABLE_MS - 1, [])).toEqual({ kind: 'wait' });
    expect(t.step(1500 + TRIAL_STABLE_MS, [])).toEqual({ kind: 'confirm' });
    expect(t.step(1600 + TRIAL_STABLE_MS, ['x'])).toEqual({ kind: 'wait' }); // over: nothing more
  });

  it('rolls back when the grace ends with a check failing, or at once when the reload failed', () => {
    const t = new Trial(0, 10_000);
    expect(t.step(9_999, ['the broker is not reachable with the new mqtt section'])).toEqual({ kind: 'wait' });
    expect(t.step(10_000, ['the broker is not reachable with the new mqtt section'])).toEqual({
      kind: 'rollback',
      reason: 'after 10 s: the broker is not reachable with the new mqtt section',
    });
    expect(new Trial(0, 10_000).reloadFailed('interface lan9 does not exist')).toEqual({
      kind: 'rollback',
      reason: 'the reload failed: interface lan9 does not exist',
    });
    // Healthy at the deadline but not yet for long: confirmed, the grace is the limit.
    const late = new Trial(0, 2000);
    late.step(1500, []);
    expect(late.step(2000, [])).toEqual({ kind: 'confirm' });
  });
});

describe('the files', () => {
  const made: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 't6-push-'));
    made.push(d);
    return d;
  };
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('writes atomically and leaves no temporary file', async () => {
    const d = dir();
    const f = join(d, 'twin6.json');
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, 'two');
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(existsSync(join(d, `.twin6.json.tmp-${process.pid}`))).toBe(false);
  });

  it('a start that finds a trial unconfirmed puts the previous file back and records the rollback', async () => {
    const d = dir();
    const f = join(d, 'twin6.json');
    writeFileSync(f, 'old');
    const trial: PushRecord = {
      v: 1,
      highestVersion: 4,
      applied: { version: 3, sha256: sha256Hex('old') },
      last: null,
      trial: { version: 4, sha256: sha256Hex('new'), actor: 'ops', prevVersion: 3, prevSha256: sha256Hex('old'), startedAt: 'x' },
    };
    await installTrial(f, d, trial, 'new');
    expect(readFileSync(f, 'utf8')).toBe('new');
    expect(readFileSync(prevPath(f), 'utf8')).toBe('old');
    // The power cut: the next start.
    const recovered = await recoverTrialAtStart(f, d, new Date(0));
    expect(recovered).toMatchObject({ version: 4, restored: true });
    expect(readFileSync(f, 'utf8')).toBe('old');
    const r = await readPushRecord(d);
    expect(r).toMatchObject({
      highestVersion: 4,
      applied: { version: 3 },
      trial: null,
      last: { outcome: 'rolled-back', desiredVersion: 4, actor: 'ops' },
    });
    // Nothing on trial any more: the start after that changes nothing.
    expect(await recoverTrialAtStart(f, d)).toBeUndefined();
    expect(readFileSync(f, 'utf8')).toBe('old');
  });

  it('a cut before the new file was renamed into place rolls back to the same file', async () => {
    const d = dir();
    const f = join(d, 'twin6.json');
    writeFileSync(f, 'old');
    writeFileSync(
      join(d, 'config-push.json'),
      JSON.stringify({
        v: 1,
        highestVersion: 1,
        applied: null,
        last: null,
        trial: { version: 1, sha256: sha256Hex('new'), actor: null, prevVersion: null, prevSha256: sha256Hex('old'), startedAt: 'x' },
      }),
    );
    expect(await recoverTrialAtStart(f, d)).toMatchObject({ version: 1, restored: false });
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect((await readPushRecord(d)).applied).toBeNull();
  });
});

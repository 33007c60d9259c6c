// Config push over MQTT (docs/fleet.md §7) against a real mosquitto (mutual
// TLS, per-device certificates, the %u ACL with config/desired readable and
// config/reported writable by the device only) and a real twin6d serving a
// real dhcpcd: `twin6ctl fleet push-config` applied; a bad config refused with
// every key path and nothing written; configs that break serving (an
// interface that does not exist, a broker that does not answer) rolled back;
// a push replayed, or signed for another device, refused; a kill during the
// trial rolled back at the next start. Needs root, mosquitto, openssl and
// dhcpcd; without them it skips and says why (T6_LAB_REQUIRED=1 fails instead).

import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callControl, CONTROL_SOCKET_NAME } from '../../src/daemon/control.js';
import { FleetLab, LAB_OPERATOR, labUnavailableReason, poll, startLab, type Lab, type ServerSpec } from '../../src/testing/lab/index.js';
import { labRequired, skipUnlessRequired } from '../../src/testing/lab/prereq.js';
import { publishAs as publishProbe, watch as watchAs } from './mqtt-probe-client.js';
import { CONFIG_PUSH_CLAIM, desiredArgsHash, sha256Hex, type DesiredDoc, type ReportedDoc } from '../../src/mgmt/config-push.js';
import type { StateDoc } from '../../src/mgmt/documents.js';
import { newNonce, signCommand } from '../../src/mgmt/signature.js';

const GRACE_SEC = 6;
const fl = new FleetLab({
  deviceId: 'lab-ap1',
  otherClients: ['lab-ap2'],
  mqtt: { willDelaySec: 5, telemetryIntervalSec: 5, reconnect: { initialMs: 250, maxMs: 1000 }, configGraceSec: GRACE_SEC },
});
const fleetSpec = fl.serverSpec();
/** The lab writes its config at every (re)start; the appliance's flash keeps the file: so does this lab after the first. */
const spec: ServerSpec = {
  ...fleetSpec,
  prepare: async (ctx) => {
    const file = join(ctx.dir, 'twin6.json');
    const kept = existsSync(file) ? readFileSync(file) : undefined;
    await fleetSpec.prepare?.(ctx);
    if (kept) writeFileSync(file, kept);
  },
};
const reason = await labUnavailableReason({ server: spec, clients: ['dhcpcd'] });
skipUnlessRequired(reason, labRequired(), 'the config push lab');
if (reason) console.warn(`[mqtt-config-push.test] skipping: ${reason}`);

const DEV = fl.deviceId;
const figures: Record<string, unknown> = {};
let lab: Lab;
let pushes = 0;

const configFile = () => join(lab.server!.ctx.dir, 'twin6.json');
const baseDoc = (): Record<string, unknown> => JSON.parse(original) as Record<string, unknown>;
let original = '';

const watch = (filter: string) => watchAs(fl, filter);
const publishAs = (cn: string, topic: string, payload: string, retain: boolean) => publishProbe(fl, cn, topic, payload, retain);

/** `twin6ctl fleet push-config` with the lab's signing key; the file is written into the lab directory first. */
async function push(
  doc: unknown,
  flags: string[] = [],
): Promise<{ code: number | null; out: Record<string, ReportedDoc | { refused: string } | null>; stderr: string; ms: number }> {
  const file = join(lab.server!.ctx.dir, `push-${++pushes}.json`);
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2) + '\n');
  const at = Date.now();
  const r = await fl.fleet(
    [...fl.connectionArgs(), 'push-config', DEV, file, '--sign-key', fl.pki.signingKey, '--actor', 'test', '--json', ...flags],
    {
      timeoutMs: 120_000,
    },
  );
  const ms = Date.now() - at;
  return { code: r.code, out: r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, ReportedDoc>) : {}, stderr: r.stderr, ms };
}

async function fleetList(): Promise<Record<string, StateDoc & { configReported: ReportedDoc | null }>> {
  const r = await fl.fleet([...fl.connectionArgs(), 'list', '--json', '--wait', '700']);
  if (r.code !== 0) throw new Error(`fleet list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, StateDoc & { configReported: ReportedDoc | null }>;
}

async function reportedNow(pred: (r: ReportedDoc) => boolean, what: string, timeoutMs = 30_000): Promise<ReportedDoc> {
  let last: unknown;
  return poll(
    async () => {
      const s = (await fleetList())[DEV];
      last = s;
      return s?.online && s.configReported && pred(s.configReported) ? s.configReported : undefined;
    },
    { timeoutMs, intervalMs: 300, what, detail: () => `${JSON.stringify(last)}\n${lab.diagnostics()}` },
  );
}

async function control(cmd: string): Promise<Record<string, unknown>> {
  const a = await callControl(join(lab.server!.ctx.dir, 'state', CONTROL_SOCKET_NAME), { cmd });
  if (!a.ok) throw new Error(a.error);
  return a.result as Record<string, unknown>;
}

function signedDesired(version: number, text: string, sub = DEV): DesiredDoc {
  const sha256 = sha256Hex(text);
  const iat = Math.floor(Date.now() / 1000);
  const auth = signCommand(createPrivateKey(readFileSync(fl.pki.signingKey)), {
    sub,
    cmd: CONFIG_PUSH_CLAIM,
    argsHash: desiredArgsHash({ version, sha256 }),
    iat,
    exp: iat + 600,
    nonce: newNonce(),
    actor: 'test',
  });
  return { v: 1, version, sha256, config: text, auth };
}

const withDns = (dns: string) => ({ ...baseDoc(), options: { dnsServers: [dns] } });
let v1Text = '';

describe.skipIf(reason !== undefined)('config push over MQTT against mosquitto', () => {
  beforeAll(async () => {
    lab = await startLab({ server: spec, clients: [{ kind: 'dhcpcd' }] });
    await lab.clients[0]!.waitForBinding({ timeoutMs: 30_000 });
    original = readFileSync(configFile(), 'utf8');
    // Before any push: retained, outcome none, no pushed version in force.
    await reportedNow((r) => r.outcome === 'none' && r.version === null && r.hash === sha256Hex(original), 'the first reported document');
  }, 90_000);

  afterAll(async () => {
    console.log(`[mqtt-config-push.test] figures: ${JSON.stringify(figures)}`);
    await fl.stop().catch(() => undefined);
    await lab?.stop();
  });

  it('applies a signed config: written to flash with the previous kept, reloaded, confirmed, reported retained', async () => {
    const stateBefore = (await fleetList())[DEV]!;
    const doc = withDns('2001:db8:1::5353');
    const r = await push(doc);
    expect(r.code, r.stderr).toBe(0);
    v1Text = JSON.stringify(doc, null, 2) + '\n';
    expect(r.out[DEV]).toMatchObject({
      outcome: 'applied',
      version: 1,
      desiredVersion: 1,
      actor: 'test',
      hash: sha256Hex(v1Text),
      errors: [],
    });
    figures['pushToAppliedMs'] = r.ms;
    // The device's own figure: from receipt of the desired document to confirmation.
    const line = lab
      .server!.log()
      .split('\n')
      .find((l) => l.includes('"code":"CONFIG_PUSH_APPLIED"') && !l.includes('mqtt: event'));
    figures['deviceReceiptToConfirmedMs'] = (JSON.parse(line!) as { ms: number }).ms;
    expect(readFileSync(configFile(), 'utf8')).toBe(v1Text);
    expect(readFileSync(`${configFile()}.prev`, 'utf8')).toBe(original);
    const after = (await fleetList())[DEV]!;
    expect(after.config.version).not.toBe(stateBefore.config.version);
    expect(after.config.reloads).toBe(stateBefore.config.reloads + 1);
    expect(after.configReported).toMatchObject({ version: 1, outcome: 'applied', configVersion: after.config.version });
    // The table view has the columns too.
    const text = await fl.fleet([...fl.connectionArgs(), 'list', '--wait', '700']);
    expect(text.stdout).toMatch(/lab-ap1 .* push v1 \(last: applied v1\)/);
  }, 120_000);

  it('refuses a bad config with every problem by key path, writing nothing', async () => {
    const bad = { ...baseDoc(), lifetimes: { preferredSec: 7200, validSec: 3600 }, declineHoldSec: 5, spurious: true };
    const r = await push(bad, ['--no-local-check']);
    expect(r.code).toBe(1);
    expect(r.out[DEV]).toMatchObject({ outcome: 'rejected', version: 1, desiredVersion: 2 });
    const errors = (r.out[DEV] as ReportedDoc).errors;
    expect(errors.map((e) => e.path).sort()).toEqual(['declineHoldSec', 'lifetimes.preferredSec', 'spurious'].sort());
    expect(r.stderr).toMatch(/lab-ap1: rejected version 2/);
    expect(r.stderr).toMatch(/ {2}declineHoldSec: must be between 60 and 2592000, got 5/);
    expect(readFileSync(configFile(), 'utf8')).toBe(v1Text);
    // Without --no-local-check the CLI refuses it before sending.
    const local = await push(bad);
    expect(local.code).toBe(1);
    expect(local.stderr).toMatch(/refused before sending/);
    // Keys only a restart applies are refused the same way.
    const duid = await push({ ...baseDoc(), serverDuid: '00030001020304050607' });
    expect(duid.code).toBe(1);
    expect((duid.out[DEV] as ReportedDoc).errors).toEqual([
      { path: 'serverDuid', problem: 'cannot change by a push: the server DUID is fixed at start; clients would see another server' },
    ]);
    expect(readFileSync(configFile(), 'utf8')).toBe(v1Text);
  }, 120_000);

  it('rolls back at once a config whose reload fails (an interface that does not exist), and serves on', async () => {
    const doc = baseDoc();
    const r = await push({ ...doc, interfaces: [...(doc['interfaces'] as string[]), 'nosuch0'] });
    expect(r.code).toBe(1);
    expect(r.out[DEV]).toMatchObject({ outcome: 'rolled-back', version: 1, reason: 'the reload failed: interface nosuch0 does not exist' });
    figures['reloadFailureToRolledBackMs'] = r.ms;
    expect(readFileSync(configFile(), 'utf8')).toBe(v1Text);
    const status = await control('status');
    const iface = (doc['interfaces'] as string[])[0]!;
    expect(status['bound']).toEqual(expect.arrayContaining([`ff02::1:2%${iface}`]));
    // A client still gets served.
    const client = lab.clients[0]!;
    const binding = await client.waitForBinding({ timeoutMs: 30_000 });
    const renewed = await client.waitForRenewal(binding, Date.now(), { timeoutMs: 40_000 });
    expect(renewed.binding.addresses[0]!.address).toBe(binding.addresses[0]!.address);
  }, 120_000);

  it('rolls back after the grace period a config that leaves the broker unreachable, and reports it once back', async () => {
    const doc = baseDoc();
    const mqtt = doc['mqtt'] as Record<string, unknown>;
    const dead = { ...doc, mqtt: { ...mqtt, url: `mqtts://[::1]:${fl.port === 65000 ? 65001 : fl.port + 1}` } };
    const r = await push(dead);
    expect(r.code).toBe(1);
    const rep = r.out[DEV] as ReportedDoc;
    expect(rep).toMatchObject({ outcome: 'rolled-back', version: 1, desiredVersion: 5 });
    expect(rep.reason).toBe(`after ${GRACE_SEC} s: the broker is not reachable with the new mqtt section`);
    figures['brokerBreakToRolledBackMs'] = r.ms;
    expect(r.ms).toBeGreaterThanOrEqual(GRACE_SEC * 1000);
    expect(readFileSync(configFile(), 'utf8')).toBe(v1Text);
    const log = lab.server!.log();
    expect(log).toMatch(/"code":"CONFIG_PUSH_ROLLED_BACK"/);
  }, 120_000);

  it('refuses a signed push replayed, and one signed for another device, without changing what it reports', async () => {
    const before = (await fleetList())[DEV]!.configReported!;
    const events = watch(`fleet/v1/${DEV}/evt/config-rejected`);
    const desired = watch(`fleet/v1/${DEV}/config/desired`);
    try {
      await poll(() => (events.seen().some((m) => m.connected) ? true : undefined), { timeoutMs: 10_000, what: 'watch connected' });
      // The retained desired document is the last push (version 5); published again, live, it is a replay.
      const kept = await poll(() => desired.seen().find((m) => m.topic && m.retain), {
        timeoutMs: 10_000,
        what: 'the retained desired config',
      });
      expect((JSON.parse(kept.payload!) as DesiredDoc).version).toBe(5);
      expect(await publishAs(LAB_OPERATOR, `fleet/v1/${DEV}/config/desired`, kept.payload!, true)).toEqual({ ok: true });
      const replay = await poll(() => events.seen().find((m) => m.topic), { timeoutMs: 10_000, what: 'config-rejected for the replay' });
      expect(JSON.parse(replay.payload!)).toMatchObject({
        type: 'config-rejected',
        code: 'CONFIG_PUSH_REFUSED',
        desiredVersion: 5,
        reason: 'version 5 is not above 5, the highest this device has acted on: a replay, or push a higher version',
      });
      // Signed for lab-ap2, published on lab-ap1's topic, with a version well above.
      const foreign = signedDesired(100, withDnsText('2001:db8:1::1'), 'lab-ap2');
      expect(await publishAs(LAB_OPERATOR, `fleet/v1/${DEV}/config/desired`, JSON.stringify(foreign), true)).toEqual({ ok: true });
      const refused = await poll(() => events.seen().filter((m) => m.topic)[1], {
        timeoutMs: 10_000,
        what: 'config-rejected for the foreign push',
      });
      expect(JSON.parse(refused.payload!)).toMatchObject({
        code: 'CONFIG_PUSH_REFUSED',
        desiredVersion: 100,
        reason: 'signed for device "lab-ap2", this is "lab-ap1"',
      });
      // The other device may not write lab-ap1's desired config at all (ACL).
      expect(await publishAs('lab-ap2', `fleet/v1/${DEV}/config/desired`, JSON.stringify(signedDesired(101, v1Text)), true)).toMatchObject({
        ok: false,
        reasonCode: 135,
      });
    } finally {
      await events.proc.stop();
      await desired.proc.stop();
    }
    expect(readFileSync(configFile(), 'utf8')).toBe(v1Text);
    expect((await fleetList())[DEV]!.configReported).toEqual(before);
    // The refused version 100 was not taken: the next push is version 6 and applies.
    const next = await push(withDns('2001:db8:1::5354'));
    expect(next.code, next.stderr).toBe(0);
    expect(next.out[DEV]).toMatchObject({ outcome: 'applied', version: 6 });
  }, 120_000);

  it('rolls back at the next start a config still on trial when twin6d was killed', async () => {
    const before = readFileSync(configFile(), 'utf8');
    const doc = baseDoc();
    const mqtt = doc['mqtt'] as Record<string, unknown>;
    // A broker that does not answer and a long grace: the trial is still running when the process dies.
    const dead = { ...doc, mqtt: { ...mqtt, url: `mqtts://[::1]:${fl.port + 2}`, configGraceSec: 300 } };
    const r = await push(dead, ['--timeout', '2']);
    expect(r.code).toBe(3);
    await poll(() => (readFileSync(configFile(), 'utf8') !== before ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the trial file in place',
    });
    expect(existsSync(join(lab.server!.ctx.dir, 'state', 'config-push.json'))).toBe(true);
    const record = JSON.parse(readFileSync(join(lab.server!.ctx.dir, 'state', 'config-push.json'), 'utf8')) as {
      trial: { version: number } | null;
    };
    expect(record.trial?.version).toBe(7);
    const at = Date.now();
    await lab.restartServer('SIGKILL');
    const rep = await reportedNow((x) => x.outcome === 'rolled-back' && x.desiredVersion === 7, 'rolled back after the restart');
    figures['restartToRolledBackReportedMs'] = Date.now() - at;
    expect(rep.reason).toMatch(/^twin6d restarted during the trial of version 7/);
    expect(rep.version).toBe(6);
    expect(readFileSync(configFile(), 'utf8')).toBe(before);
    expect(lab.server!.log()).toMatch(/"code":"CONFIG_PUSH_ROLLED_BACK"/);
  }, 120_000);
});

function withDnsText(dns: string): string {
  return JSON.stringify(withDns(dns), null, 2) + '\n';
}

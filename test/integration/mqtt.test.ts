// The MQTT management uplink against a real mosquitto: mutual TLS with a test
// CA and per-device certificates made here with openssl, identity = CN, an ACL
// with %u patterns. twin6d runs in the lab's server namespace with a real
// dhcpcd client on its LAN; the broker, the operator CLI (`twin6ctl fleet`)
// and a small probe run in the same namespace. Needs root, mosquitto, openssl
// and dhcpcd; without them it skips and says why (T6_LAB_REQUIRED=1 fails instead).

import { generateKeyPairSync } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callControl, CONTROL_SOCKET_NAME } from '../../src/daemon/control.js';
import { FleetLab, LAB_OPERATOR, labUnavailableReason, poll, startLab, type Lab } from '../../src/testing/lab/index.js';
import { COMMANDS, FIRMWARE_NOT_AVAILABLE } from '../../src/mgmt/commands.js';
import type { ResponseDoc, StateDoc } from '../../src/mgmt/documents.js';
import { argsHash, newNonce, signCommand } from '../../src/mgmt/signature.js';
import { labRequired, skipUnlessRequired } from '../../src/testing/lab/prereq.js';
import { publishAs as publishProbe, watch as watchAs } from './mqtt-probe-client.js';

const WILL_DELAY_SEC = 5;
const BACKOFF = { initialMs: 250, maxMs: 4000 };
const OUTBOX = { maxMessages: 20, maxBytes: 16384 };
const fl = new FleetLab({
  deviceId: 'lab-ap1',
  otherClients: ['lab-ap2'],
  mqtt: { willDelaySec: WILL_DELAY_SEC, telemetryIntervalSec: 1, reconnect: BACKOFF, outbox: OUTBOX },
});
const reason = await labUnavailableReason({ server: fl.serverSpec(), clients: ['dhcpcd'] });
skipUnlessRequired(reason, labRequired(), 'the MQTT lab');
if (reason) console.warn(`[mqtt.test] skipping: ${reason}`);

const DEV = fl.deviceId;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Figures for the report at the end of the run. */
const figures: Record<string, unknown> = {};

let lab: Lab;

const watch = (filter: string, cn = LAB_OPERATOR) => watchAs(fl, filter, cn);
const publishAs = (cn: string, topic: string, payload: string, retain = false) => publishProbe(fl, cn, topic, payload, retain);

/** `twin6ctl fleet send` as the operator; the parsed response on success, the exit code and stderr always. */
async function send(
  cmd: string,
  args?: unknown,
  flags: string[] = [],
): Promise<{ code: number | null; doc?: ResponseDoc; stderr: string }> {
  const r = await fl.fleet([
    ...fl.connectionArgs(),
    'send',
    DEV,
    cmd,
    '--json',
    ...(args === undefined ? [] : ['--args', JSON.stringify(args)]),
    ...flags,
  ]);
  const doc = r.stdout.trim() ? (JSON.parse(r.stdout) as ResponseDoc) : undefined;
  return { code: r.code, ...(doc ? { doc } : {}), stderr: r.stderr };
}

async function fleetStates(): Promise<Record<string, StateDoc | { online: false; reason: string; session: number }>> {
  const r = await fl.fleet([...fl.connectionArgs(), 'list', '--json', '--wait', '700']);
  if (r.code !== 0) throw new Error(`fleet list failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, StateDoc>;
}

async function onlineState(pred: (s: StateDoc) => boolean = () => true, timeoutMs = 20_000): Promise<StateDoc> {
  let last: unknown;
  return poll(
    async () => {
      const s = (last = (await fleetStates())[DEV]) as StateDoc | undefined;
      return s?.online && pred(s) ? s : undefined;
    },
    {
      timeoutMs,
      intervalMs: 300,
      what: `${DEV} online in the retained state`,
      detail: () => `${JSON.stringify(last)}\n${lab.diagnostics()}`,
    },
  );
}

async function control(cmd: string): Promise<Record<string, unknown>> {
  const a = await callControl(join(lab.server!.ctx.dir, 'state', CONTROL_SOCKET_NAME), { cmd });
  if (!a.ok) throw new Error(a.error);
  return a.result as Record<string, unknown>;
}

function token(claims: { sub?: string; cmd: string; args: Record<string, unknown>; iat: number; exp: number; nonce?: string }): string {
  const key = createPrivateKey(readFileSync(fl.pki.signingKey));
  return signCommand(key, {
    sub: claims.sub ?? DEV,
    cmd: claims.cmd,
    argsHash: argsHash(claims.args),
    iat: claims.iat,
    exp: claims.exp,
    nonce: claims.nonce ?? newNonce(),
    actor: 'test',
  });
}

const signFlags = ['--sign-key', () => fl.pki.signingKey] as const;
const signed = (): string[] => [signFlags[0], signFlags[1](), '--actor', 'test'];

describe.skipIf(reason !== undefined)('MQTT uplink against mosquitto', () => {
  beforeAll(async () => {
    lab = await startLab({ server: fl.serverSpec(), clients: [{ kind: 'dhcpcd' }] });
    await lab.clients[0]!.waitForBinding({ timeoutMs: 30_000 });
  }, 60_000);

  afterAll(async () => {
    console.log(`[mqtt.test] figures: ${JSON.stringify(figures)}`);
    await fl.stop().catch(() => undefined);
    await lab?.stop();
  });

  it('publishes its state retained: a subscriber that comes later gets it, with role, pools and config version', async () => {
    const state = await onlineState((s) => s.pools.every((p) => p.used >= 1));
    expect(state).toMatchObject({
      v: 1,
      online: true,
      deviceId: DEV,
      role: 'standalone',
      failover: { role: 'standalone', state: 'standalone', partnerState: null },
    });
    expect(state.config.version).toMatch(/^cfg-[0-9a-f]{12}$/);
    expect(state.pools.map((p) => [p.kind, p.used, p.size])).toEqual([
      ['na', 1, 61440],
      ['pd', 1, 65536],
    ]);
    expect(state.storage.status).toBe('ok');
    const w = watch(`fleet/v1/${DEV}/+`);
    try {
      const seen = await poll(
        () =>
          w.seen().some((m) => m.topic?.endsWith('/meta')) && w.seen().some((m) => m.topic?.endsWith('/state')) ? w.seen() : undefined,
        { timeoutMs: 10_000, what: 'retained state and meta' },
      );
      expect(seen.find((m) => m.topic === `fleet/v1/${DEV}/state`)!.retain).toBe(true);
      const meta = JSON.parse(seen.find((m) => m.topic?.endsWith('/meta'))!.payload!) as { commands: { name: string }[] };
      expect(meta.commands.map((c) => c.name)).toEqual(COMMANDS.map((c) => c.name));
    } finally {
      await w.proc.stop();
    }
    // Telemetry named after TR-181 arrives every telemetryIntervalSec.
    const t = watch(`fleet/v1/${DEV}/tele/dhcp`);
    try {
      const msg = await poll(() => t.seen().find((m) => m.topic), { timeoutMs: 10_000, what: 'tele/dhcp' });
      const tele = JSON.parse(msg.payload!) as { object: string; stats: Record<string, number> };
      expect(tele.object).toBe('Device.DHCPv6.Server.Stats.');
      expect(tele.stats['Solicit']).toBeGreaterThanOrEqual(1);
      expect(tele.stats['Reply']).toBeGreaterThanOrEqual(1);
    } finally {
      await t.proc.stop();
    }
  }, 60_000);

  it('answers every command of the table', async () => {
    const answered = new Set<string>();
    const expectOk = async (cmd: string, args?: unknown) => {
      const r = await send(cmd, args);
      expect(r.doc, `${cmd}: ${r.stderr}`).toMatchObject({ ok: true, code: 'OK' });
      answered.add(cmd);
      return (r.doc as { data: Record<string, unknown> }).data;
    };
    expect((await expectOk('status'))['serverDuid']).toMatch(/^[0-9a-f]+$/);
    expect((await expectOk('leases', { state: 'active', limit: 10 }))['total']).toBe(2);
    expect((await expectOk('leases.count'))['byState']).toMatchObject({ active: 2 });
    expect((await expectOk('stats'))['uplink']).toMatchObject({ connected: true });
    expect(await expectOk('failover.status')).toMatchObject({ role: 'standalone', state: 'standalone' });
    expect(await expectOk('config.reload')).toMatchObject({ reloaded: true });
    expect(await expectOk('log.level', { level: 'debug', ttlSec: 5 })).toMatchObject({ level: 'debug', revertsTo: 'debug' });
    expect((await expectOk('rebirth'))['session']).toBeGreaterThan(0);
    // Dangerous, two-step: signed preview, then signed confirmation; until failover (#4) lands the handler says why not.
    for (const [cmd, args] of [
      ['failover.partner-down', { reason: 'test' }],
      ['failover.maintenance', { action: 'start' }],
    ] as const) {
      const first = await send(cmd, args, signed());
      expect(first.doc, first.stderr).toMatchObject({
        ok: true,
        code: 'CONFIRM_REQUIRED',
        data: { expiresInSec: 30, preview: { failover: { role: 'standalone' } } },
      });
      const tokenValue = (first.doc as { data: { confirmToken: string } }).data.confirmToken;
      const second = await send(cmd, args, [...signed(), '--confirm-token', tokenValue]);
      expect(second.doc).toEqual({ v: 1, ok: false, code: 'UNAVAILABLE', error: 'not available: failover is not configured' });
      answered.add(cmd);
    }
    // Firmware: this twin6d runs without boot slots (--slots): the status says so, an upgrade is
    // signed and then refused as unavailable (test/e2e/firmware-upgrade.test.ts runs them on slots).
    expect(await expectOk('firmware.status')).toBeNull();
    const upgradeArgs = { url: 'https://[2001:db8::1]/x.t6fw', sha256: 'ab'.repeat(32), size: 1000, version: '0.2.0' };
    const upgrade = await send('firmware.upgrade', upgradeArgs, signed());
    expect(upgrade.doc).toEqual({ v: 1, ok: false, code: 'UNAVAILABLE', error: FIRMWARE_NOT_AVAILABLE });
    answered.add('firmware.upgrade');
    const cancel = await send('firmware.cancel', {}, signed());
    expect(cancel.doc).toEqual({ v: 1, ok: false, code: 'UNAVAILABLE', error: FIRMWARE_NOT_AVAILABLE });
    answered.add('firmware.cancel');
    expect([...answered].sort()).toEqual(COMMANDS.map((c) => c.name).sort());
  }, 90_000);

  it('refuses a bad signature, an expired or replayed one, bad args and an unknown command, each with a clear error', async () => {
    const args = { reason: 'test' };
    const unsigned = await send('failover.partner-down', args);
    expect(unsigned.doc).toMatchObject({
      ok: false,
      code: 'NOT_AUTHORIZED',
      error: expect.stringMatching(/is a dangerous command and needs a signature/),
    });
    expect(unsigned.code).toBe(1);

    const stranger = join(fl.pki.dir, 'stranger.key');
    writeFileSync(stranger, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect((await send('failover.partner-down', args, ['--sign-key', stranger])).doc).toMatchObject({
      code: 'NOT_AUTHORIZED',
      error: 'signature does not verify against any pinned command key',
    });

    const now = Math.floor(Date.now() / 1000);
    expect(
      (await send('failover.partner-down', args, ['--auth', token({ cmd: 'failover.partner-down', args, iat: now - 120, exp: now - 60 })]))
        .doc,
    ).toMatchObject({
      code: 'EXPIRED',
      error: expect.stringMatching(/^signature expired \d+ s ago$/),
    });
    expect(
      (
        await send('failover.partner-down', args, [
          '--auth',
          token({ sub: 'lab-ap2', cmd: 'failover.partner-down', args, iat: now, exp: now + 60 }),
        ])
      ).doc,
    ).toMatchObject({
      code: 'NOT_AUTHORIZED',
      error: 'signed for device "lab-ap2", this is "lab-ap1"',
    });
    const once = token({ cmd: 'failover.partner-down', args, iat: now, exp: now + 60 });
    expect((await send('failover.partner-down', args, ['--auth', once])).doc).toMatchObject({ ok: true, code: 'CONFIRM_REQUIRED' });
    expect((await send('failover.partner-down', args, ['--auth', once])).doc).toMatchObject({
      code: 'NOT_AUTHORIZED',
      error: 'nonce already used: this signed request was replayed',
    });

    expect((await send('leases', { limit: 1000 })).doc).toEqual({
      v: 1,
      ok: false,
      code: 'BAD_ARGS',
      error: 'args.limit: must be between 1 and 100, got 1000',
    });
    expect((await send('log.level', { level: 'loud' })).doc).toMatchObject({
      code: 'BAD_ARGS',
      error: expect.stringMatching(/^args.level: expected one of/),
    });
    expect((await send('reboot')).doc).toMatchObject({
      code: 'UNKNOWN_COMMAND',
      error: expect.stringMatching(/^unknown command "reboot"; known: status, leases/),
    });
  }, 90_000);

  it('answers only inside its own rsp/ subtree: a request asking it to write its state topic is refused through an event', async () => {
    const w = watch(`fleet/v1/${DEV}/evt/cmd-refused`);
    try {
      await poll(() => (w.seen().some((m) => m.connected) ? true : undefined), { timeoutMs: 10_000, what: 'watch connected' });
      const r = await send('status', undefined, ['--response-topic', `fleet/v1/${DEV}/state`, '--timeout', '2']);
      expect(r.code).toBe(3); // no answer: the device never published outside rsp/
      expect(r.stderr).toMatch(/no answer from lab-ap1 to "status" within 2000 ms/);
      const refused = await poll(() => w.seen().find((m) => m.topic), { timeoutMs: 10_000, what: 'evt/cmd-refused' });
      expect(JSON.parse(refused.payload!)).toMatchObject({
        type: 'cmd-refused',
        code: 'MGMT_COMMAND_REFUSED',
        cmd: 'status',
        responseTopic: `fleet/v1/${DEV}/state`,
        reason: `Response Topic "fleet/v1/${DEV}/state" is outside this device's response subtree fleet/v1/${DEV}/rsp/#`,
      });
    } finally {
      await w.proc.stop();
    }
    expect((await fleetStates())[DEV]).toMatchObject({ online: true, deviceId: DEV });
  }, 60_000);

  it('lets a device publish into its own topics only (broker ACL with %u)', async () => {
    const forged = JSON.stringify({ v: 1, online: false, deviceId: DEV, reason: 'forged' });
    expect(await publishAs('lab-ap2', `fleet/v1/${DEV}/state`, forged, true)).toMatchObject({ ok: false, reasonCode: 135 });
    expect(await publishAs('lab-ap2', `fleet/v1/${DEV}/evt/config-rejected`, '{}')).toMatchObject({ ok: false, reasonCode: 135 });
    expect(await publishAs('lab-ap2', `fleet/v1/${DEV}/rsp/ctl-x`, '{}')).toMatchObject({ ok: false, reasonCode: 135 });
    expect(await publishAs('lab-ap2', `fleet/v1/${DEV}/cmd/status`, '{"v":1}')).toMatchObject({ ok: false, reasonCode: 135 });
    // The same certificate may write its own state: the refusals above are the ACL, not a broken client.
    expect(
      await publishAs(
        'lab-ap2',
        'fleet/v1/lab-ap2/state',
        JSON.stringify({ v: 1, online: false, deviceId: 'lab-ap2', reason: 'shutdown' }),
        true,
      ),
    ).toEqual({ ok: true });
    const states = await fleetStates();
    expect(states[DEV]).toMatchObject({ online: true });
    expect(states['lab-ap2']).toMatchObject({ online: false, reason: 'shutdown' });
  }, 60_000);

  it('survives a quick restart without flapping, and its Last Will says offline after the will delay once it stays dead', async () => {
    const before = await onlineState();
    const w = watch(`fleet/v1/${DEV}/state`);
    try {
      await poll(() => (w.seen().some((m) => m.topic) ? true : undefined), { timeoutMs: 10_000, what: 'watch got the retained state' });
      // SIGKILL and start again at once: back before the will delay, the will never fires.
      const quick = await lab.restartServer('SIGKILL');
      expect(quick.process.running).toBe(true);
      const back = await onlineState((s) => s.session > before.session);
      await sleep(WILL_DELAY_SEC * 1000 + 1500);
      const states = w
        .seen()
        .filter((m) => m.topic)
        .map((m) => JSON.parse(m.payload!) as { online: boolean });
      expect(
        states.some((s) => !s.online),
        JSON.stringify(states),
      ).toBe(false);

      // SIGKILL and stay dead: the broker publishes the retained will after the delay.
      await lab.server!.process.stop('SIGKILL');
      const killedAt = Date.now();
      const will = await poll(
        () => w.seen().find((m) => m.topic && m.t > killedAt && !(JSON.parse(m.payload!) as { online: boolean }).online),
        {
          timeoutMs: (WILL_DELAY_SEC + 10) * 1000,
          what: 'the Last Will',
        },
      );
      const delayMs = will.t - killedAt;
      figures['willDelayObservedMs'] = delayMs;
      expect(JSON.parse(will.payload!)).toEqual({ v: 1, online: false, session: back.session, deviceId: DEV, reason: 'connection-lost' });
      expect(delayMs).toBeGreaterThanOrEqual(WILL_DELAY_SEC * 1000 - 200);
      expect(delayMs).toBeLessThan((WILL_DELAY_SEC + 3) * 1000);
      expect(await fleetStates()).toMatchObject({ [DEV]: { online: false, reason: 'connection-lost' } });
    } finally {
      await w.proc.stop();
    }
    await lab.restartServer('SIGKILL');
    await onlineState();
  }, 120_000);

  it('keeps serving DHCP through a broker outage under telemetry load, with a bounded outbox, then reconnects with back-off and republishes', async () => {
    const client = lab.clients[0]!;
    const binding = await client.waitForBinding({ timeoutMs: 30_000 });
    const before = (await control('stats')) as { uplink: { connected: boolean; publishSent: number }; memory: { rss: number } };
    expect(before.uplink.connected).toBe(true);
    const online = await onlineState();
    const logBefore = lab.server!.log().length;

    await fl.broker.stop();
    const outageAt = Date.now();
    // Events while the broker is away: each SIGHUP reload is one, far more than the outbox holds.
    for (let i = 0; i < 60; i++) {
      process.kill(lab.server!.process.pid, 'SIGHUP');
      await sleep(100);
    }
    // A real client renews meanwhile (T1 is 15 s in the lab).
    const renewed = await client.waitForRenewal(binding, outageAt, { timeoutMs: 40_000 });
    expect(renewed.binding.addresses[0]!.address).toBe(binding.addresses[0]!.address);
    const outageMs = Date.now() - outageAt;
    if (outageMs < 20_000) await sleep(20_000 - outageMs);
    const during = (await control('stats')) as {
      uplink: { connected: boolean; connectionErrors: number; outbox: { depth: number; bytes: number; dropped: number } };
      memory: { rss: number };
      counters: Record<string, number>;
    };
    expect(during.uplink.connected).toBe(false);
    expect(during.counters['config.reloads']).toBeGreaterThanOrEqual(60);
    // 20 events at most, plus one latest slot each for state, meta, config/reported and four telemetry groups.
    expect(during.uplink.outbox.depth).toBeLessThanOrEqual(OUTBOX.maxMessages + 7);
    expect(during.uplink.outbox.dropped).toBeGreaterThanOrEqual(60 - OUTBOX.maxMessages);
    figures['outage'] = {
      ms: Date.now() - outageAt,
      outbox: during.uplink.outbox,
      rssBeforeMiB: before.memory.rss / 2 ** 20,
      rssDuringMiB: during.memory.rss / 2 ** 20,
    };
    expect(during.memory.rss - before.memory.rss).toBeLessThan(32 * 2 ** 20);

    // The retry delays twin6d chose: each inside its doubling window, reaching the cap.
    const retries = lab
      .server!.log()
      .slice(logBefore)
      .split('\n')
      .filter((l) => l.includes('mqtt: reconnecting after back-off'))
      .map((l) => JSON.parse(l) as { attempt: number; delayMs: number });
    figures['backoffDelaysMs'] = retries.map((r) => r.delayMs);
    expect(retries.length).toBeGreaterThanOrEqual(5);
    for (const r of retries) {
      const base = Math.min(BACKOFF.maxMs, BACKOFF.initialMs * 2 ** (r.attempt - 1));
      expect(r.delayMs, JSON.stringify(r)).toBeGreaterThanOrEqual(base);
      expect(r.delayMs, JSON.stringify(r)).toBeLessThanOrEqual(Math.min(BACKOFF.maxMs, 2 * base));
    }
    expect(retries.at(-1)!.delayMs).toBeGreaterThanOrEqual(BACKOFF.maxMs / 2);

    // The broker comes back empty (no persistence): the device republishes its retained state.
    const restartAt = Date.now();
    await fl.broker.start();
    const republished = await onlineState((s) => s.session > online.session, 30_000);
    figures['reconnectAfterBrokerBackMs'] = republished.session - restartAt;
    expect(republished.config.reloads).toBeGreaterThanOrEqual(60);
    const after = await poll(
      async () => {
        const s = (await control('stats')) as { uplink: { connected: boolean; publishSent: number; outbox: { depth: number } } };
        return s.uplink.connected && s.uplink.outbox.depth <= 1 ? s : undefined;
      },
      { timeoutMs: 20_000, what: 'outbox drained after reconnect' },
    );
    // The events that survived the outage went out, at most the outbox bound of them.
    expect(after.uplink.publishSent - before.uplink.publishSent).toBeGreaterThanOrEqual(OUTBOX.maxMessages);
  }, 180_000);

  it('says offline at once on a clean stop (SIGTERM), without waiting for the will', async () => {
    const w = watch(`fleet/v1/${DEV}/state`);
    try {
      await poll(() => (w.seen().some((m) => m.topic) ? true : undefined), { timeoutMs: 10_000, what: 'watch got the retained state' });
      const at = Date.now();
      await lab.server!.process.stop('SIGTERM');
      const bye = await poll(() => w.seen().find((m) => m.topic && m.t >= at && !(JSON.parse(m.payload!) as { online: boolean }).online), {
        timeoutMs: 5000,
        what: 'offline on shutdown',
      });
      expect(JSON.parse(bye.payload!)).toMatchObject({ online: false, reason: 'shutdown' });
      figures['offlineOnSigtermMs'] = bye.t - at;
      expect(bye.t - at).toBeLessThan(WILL_DELAY_SEC * 1000);
    } finally {
      await w.proc.stop();
    }
  }, 30_000);
});

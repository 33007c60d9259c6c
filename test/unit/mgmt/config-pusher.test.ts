// Config push, the shell (src/mgmt/config-pusher.ts) against a fake daemon on
// real files in a temporary directory: a config that breaks the partner link
// (failover leaves NORMAL after its reload) is rolled back at the end of the
// grace period, and a desired config that comes during a trial is handled once
// the trial ends. Its clock runs 2 s per reading, so a 5 s grace takes a few
// real ticks of 0.5 s.

import { generateKeyPairSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, parseJsonText } from '../../../src/config/load.js';
import type { ServerConfig } from '../../../src/config/types.js';
import { Counters } from '../../../src/daemon/counters.js';
import type { ManagementHost } from '../../../src/daemon/host.js';
import { CONFIG_PUSH_CLAIM, desiredArgsHash, sha256Hex, type ReportedDoc } from '../../../src/mgmt/config-push.js';
import { ConfigPusher } from '../../../src/mgmt/config-pusher.js';
import { commandKeyText, newNonce, signCommand } from '../../../src/mgmt/signature.js';
import { base } from '../config/helpers.js';

const FIXTURES = fileURLToPath(new URL('../config/fixtures/mqtt/', import.meta.url));
const signer = generateKeyPairSync('ed25519');

/** A pair member's file; `declineHoldSec: 600` is the change that, in this fake, cuts the partner link. */
function text(patch: Record<string, unknown> = {}): string {
  const cert = join(FIXTURES, 'dev-a.crt');
  return (
    JSON.stringify({
      ...base(),
      failover: { role: 'primary', localAddress: 'fd00::1', peerAddress: 'fd00::2', insecure: true },
      mqtt: {
        url: 'mqtts://broker.example:8883',
        deviceId: 'dev-a',
        tls: { caFile: cert, certFile: cert, keyFile: join(FIXTURES, 'dev-a.key') },
        commandKeys: [commandKeyText(signer.publicKey)],
        configGraceSec: 5,
      },
      ...patch,
    }) + '\n'
  );
}

function desired(version: number, body: string): Buffer {
  const sha256 = sha256Hex(body);
  const iat = Math.floor(Date.now() / 1000);
  const auth = signCommand(signer.privateKey, {
    sub: 'dev-a',
    cmd: CONFIG_PUSH_CLAIM,
    argsHash: desiredArgsHash({ version, sha256 }),
    iat,
    exp: iat + 600,
    nonce: newNonce(),
    actor: 'ops',
  });
  return Buffer.from(JSON.stringify({ v: 1, version, sha256, config: body, auth }));
}

const harnessDirs: string[] = [];
afterAll(() => harnessDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function harness() {
  const dir = mkdtempSync(join(tmpdir(), 't6-pusher-'));
  harnessDirs.push(dir);
  const configFile = join(dir, 'twin6.json');
  writeFileSync(configFile, text());
  const load = (): ServerConfig => parseConfig(parseJsonText(readFileSync(configFile, 'utf8'), configFile));
  let config = load();
  let failoverState = 'NORMAL';
  const events = new EventEmitter();
  const emitted: { type: string; fields: Record<string, unknown> }[] = [];
  const reported: ReportedDoc[] = [];
  const quiet = () => undefined;
  const d = {
    on: (e: string, f: (...a: unknown[]) => void) => events.on(e, f),
    off: (e: string, f: (...a: unknown[]) => void) => events.off(e, f),
    get config() {
      return config;
    },
    configFile,
    stateDir: dir,
    bound: ['ff02::1:2%lan0'],
    counters: new Counters(),
    commands: { 'failover.status': () => ({ role: 'primary', state: failoverState, partnerState: failoverState, since: null }) },
    log: { info: quiet, warn: quiet, error: quiet, debug: quiet },
    reload: () => {
      config = load();
      failoverState = config.declineHoldSec === 600 ? 'COMMUNICATIONS-INTERRUPTED' : 'NORMAL';
      events.emit('config-reloaded', config);
      return Promise.resolve(true);
    },
  } as unknown as ManagementHost;
  // Wall-clock based (signatures are checked against it), 2 s per reading.
  let t = Date.now();
  const pusher = new ConfigPusher(d, {
    brokerConnected: () => true,
    publishReported: (doc) => reported.push(doc),
    emit: (type, fields) => emitted.push({ type, fields }),
    bound: () => d.bound,
    nowMs: () => (t += 2000),
  });
  return { pusher, configFile, emitted, reported };
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 400 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(what()).toBe(true);
};

describe('ConfigPusher', () => {
  it('rolls back a config after which failover is no longer NORMAL, once the grace has passed', async () => {
    const h = harness();
    await h.pusher.init();
    const before = readFileSync(h.configFile, 'utf8');
    h.pusher.onDesired(desired(1, text({ declineHoldSec: 600 })), false);
    await until(() => h.emitted.some((e) => e.type === 'config-rolled-back'));
    expect(h.emitted.at(-1)).toEqual({
      type: 'config-rolled-back',
      fields: {
        code: 'CONFIG_PUSH_ROLLED_BACK',
        desiredVersion: 1,
        actor: 'ops',
        reason: 'after 5 s: failover is COMMUNICATIONS-INTERRUPTED, it was NORMAL before the change',
      },
    });
    expect(readFileSync(h.configFile, 'utf8')).toBe(before);
    expect(h.reported.map((r) => r.outcome)).toEqual(['none', 'pending', 'rolled-back']);
    expect(h.pusher.reported()).toMatchObject({ version: null, hash: sha256Hex(before), outcome: 'rolled-back', desiredVersion: 1 });
  }, 20_000);

  it('handles a desired config that came during a trial once the trial has ended', async () => {
    const h = harness();
    await h.pusher.init();
    const v2 = text({ declineHoldSec: 900 });
    h.pusher.onDesired(desired(1, text({ declineHoldSec: 700 })), false);
    await until(() => h.reported.some((r) => r.outcome === 'pending'));
    h.pusher.onDesired(desired(2, v2), false);
    await until(() => h.emitted.filter((e) => e.type === 'config-applied').length === 2);
    expect(h.emitted.map((e) => [e.type, e.fields['version']])).toEqual([
      ['config-applied', 1],
      ['config-applied', 2],
    ]);
    expect(readFileSync(h.configFile, 'utf8')).toBe(v2);
    expect(readFileSync(`${h.configFile}.prev`, 'utf8')).toBe(text({ declineHoldSec: 700 }));
    expect(h.pusher.reported()).toMatchObject({ version: 2, hash: sha256Hex(v2), outcome: 'applied' });
  }, 20_000);
});

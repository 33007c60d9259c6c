// One request from topic to response, without a broker: confinement of the
// Response Topic, the command table's argument checks, signatures and the
// two-step confirmation in front of dangerous commands.

import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkArgs, commandSpec, COMMANDS, CommandError, FAILOVER_NOT_CONFIGURED } from '../../../src/mgmt/commands.js';
import { ConfirmTokens } from '../../../src/mgmt/confirm.js';
import type { ResponseDoc } from '../../../src/mgmt/documents.js';
import { RequestHandler, type IncomingRequest } from '../../../src/mgmt/requests.js';
import { argsHash, newNonce, NonceMemory, signCommand, SignatureGate } from '../../../src/mgmt/signature.js';
import { deviceTopics } from '../../../src/mgmt/topics.js';

const keys = generateKeyPairSync('ed25519');
const topics = deviceTopics('fleet/v1', 'dev-a');
const now = () => Math.floor(Date.now() / 1000);

function setup(run: (name: string, args: Record<string, unknown>) => unknown = (name) => ({ ran: name })) {
  const events: { type: string; fields: Record<string, unknown>; audit?: boolean }[] = [];
  const ran: { name: string; args: Record<string, unknown> }[] = [];
  const h = new RequestHandler({
    topics,
    gate: new SignatureGate({
      keys: [keys.publicKey],
      deviceId: 'dev-a',
      nowSec: now,
      nonces: new NonceMemory({ notBeforeSec: now() - 60, monoMs: () => performance.now() }),
    }),
    confirms: new ConfirmTokens(now),
    run: async (spec, args) => {
      ran.push({ name: spec.name, args });
      return run(spec.name, args);
    },
    preview: async (spec, args) => ({ would: spec.name, args }),
    emit: (type, fields, audit) => events.push({ type, fields, ...(audit ? { audit } : {}) }),
  });
  return { h, events, ran };
}

const req = (cmd: string, body: unknown, patch: Partial<IncomingRequest> = {}): IncomingRequest => ({
  topic: topics.cmd(cmd),
  payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  responseTopic: `${topics.rspRoot}/ctl-1`,
  correlationData: Buffer.from('c0ffee', 'hex'),
  ...patch,
});

const sign = (cmd: string, args: Record<string, unknown>, actor = 'alice') =>
  signCommand(keys.privateKey, { sub: 'dev-a', cmd, argsHash: argsHash(args), iat: now(), exp: now() + 60, nonce: newNonce(), actor });

async function answer(h: RequestHandler, r: IncomingRequest): Promise<ResponseDoc> {
  const a = await h.handle(r);
  if (!a) throw new Error('no answer');
  expect(a.topic).toBe(r.responseTopic);
  expect(a.correlationData?.toString('hex')).toBe('c0ffee');
  return a.doc;
}

describe('command table', () => {
  it('lists every command of the issues, each name unique; the dangerous ones, two-step where they change who serves', () => {
    expect(COMMANDS.map((c) => c.name)).toEqual([
      'status',
      'leases',
      'leases.count',
      'stats',
      'failover.status',
      'failover.partner-down',
      'failover.maintenance',
      'config.reload',
      'log.level',
      'firmware.status',
      'firmware.upgrade',
      'firmware.cancel',
      'rebirth',
    ]);
    expect(COMMANDS.filter((c) => c.dangerous).map((c) => c.name)).toEqual([
      'failover.partner-down',
      'failover.maintenance',
      'firmware.upgrade',
      'firmware.cancel',
    ]);
    // An upgrade is one signed step: its signature binds the exact bundle (URL, hash, size, version), and
    // the device commits it only after a healthy trial; the failover commands act at once.
    expect(COMMANDS.filter((c) => c.twoStep).map((c) => c.name)).toEqual(['failover.partner-down', 'failover.maintenance']);
  });

  it('checks args with paths like a config, and reports every problem', () => {
    const leases = commandSpec('leases')!;
    expect(checkArgs(leases, { state: 'active', duid: '00:01:00:01:aa:bb', limit: 5 })).toEqual({
      ok: true,
      args: { state: 'active', duid: '00010001aabb', limit: 5 },
    });
    expect(checkArgs(leases, { limit: 101, colour: 1 })).toEqual({
      ok: false,
      error: 'args.colour: spurious key; args.limit: must be between 1 and 100, got 101',
    });
    expect(checkArgs(commandSpec('log.level')!, { level: 'loud' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^args.level: expected one of "fatal"/),
    });
    expect(checkArgs(commandSpec('log.level')!, {})).toEqual({ ok: false, error: 'args.level: is required' });
    expect(checkArgs(commandSpec('status')!, [])).toEqual({ ok: false, error: 'args: expected an object, got a list' });
  });
});

describe('request handling', () => {
  it('answers a plain command on the Response Topic with the correlation data', async () => {
    const { h, ran } = setup();
    expect(await answer(h, req('status', { v: 1 }))).toEqual({ v: 1, ok: true, code: 'OK', data: { ran: 'status' } });
    expect(ran).toEqual([{ name: 'status', args: {} }]);
  });

  it('refuses, through an event and without answering, a Response Topic outside rsp/ (e.g. its own retained state)', async () => {
    const { h, events, ran } = setup();
    expect(await h.handle(req('status', { v: 1 }, { responseTopic: topics.state }))).toBeUndefined();
    expect(await h.handle(req('status', { v: 1 }, { responseTopic: undefined }))).toBeUndefined();
    expect(ran).toEqual([]);
    expect(events.map((e) => [e.type, e.fields['code'], e.fields['reason']])).toEqual([
      [
        'cmd-refused',
        'MGMT_COMMAND_REFUSED',
        `Response Topic "fleet/v1/dev-a/state" is outside this device's response subtree fleet/v1/dev-a/rsp/#`,
      ],
      ['cmd-refused', 'MGMT_COMMAND_REFUSED', 'request has no Response Topic (MQTT 5 request/response is required)'],
    ]);
    expect(events[0]!.fields['correlationData']).toBe('c0ffee');
  });

  it('answers malformed requests, unknown commands and bad args with their code', async () => {
    const { h, ran } = setup();
    expect(await answer(h, req('status', 'not json'))).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    expect(await answer(h, req('status', { args: {} }))).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
      error: 'request must be a JSON object with "v": 1',
    });
    expect(await answer(h, req('reboot', { v: 1 }))).toMatchObject({
      ok: false,
      code: 'UNKNOWN_COMMAND',
      error: expect.stringMatching(/^unknown command "reboot"; known: status, leases/),
    });
    expect(await answer(h, req('leases', { v: 1, args: { limit: 0 } }))).toEqual({
      v: 1,
      ok: false,
      code: 'BAD_ARGS',
      error: 'args.limit: must be between 1 and 100, got 0',
    });
    expect(ran).toEqual([]);
  });

  it('keeps a handler error code (CommandError), and calls anything else INTERNAL', async () => {
    const { h } = setup((name) => {
      if (name === 'config.reload') throw new CommandError('REJECTED', 'subnets[0].pools[0]: outside');
      throw new Error('boom');
    });
    expect(await answer(h, req('config.reload', { v: 1 }))).toEqual({
      v: 1,
      ok: false,
      code: 'REJECTED',
      error: 'subnets[0].pools[0]: outside',
    });
    expect(await answer(h, req('stats', { v: 1 }))).toEqual({ v: 1, ok: false, code: 'INTERNAL', error: 'boom' });
  });

  it('refuses an unsigned or wrongly signed dangerous command, and audits it', async () => {
    const { h, events, ran } = setup();
    const args = { reason: 'x' };
    expect(await answer(h, req('failover.partner-down', { v: 1, args }))).toMatchObject({
      ok: false,
      code: 'NOT_AUTHORIZED',
      error: expect.stringMatching(/needs a signature/),
    });
    const other = generateKeyPairSync('ed25519');
    const bad = signCommand(other.privateKey, {
      sub: 'dev-a',
      cmd: 'failover.partner-down',
      argsHash: argsHash(args),
      iat: now(),
      exp: now() + 60,
      nonce: newNonce(),
      actor: 'eve',
    });
    expect(await answer(h, req('failover.partner-down', { v: 1, args, auth: bad }))).toMatchObject({
      ok: false,
      code: 'NOT_AUTHORIZED',
      error: 'signature does not verify against any pinned command key',
    });
    expect(ran).toEqual([]);
    expect(events.filter((e) => e.type === 'cmd-audit').map((e) => [e.fields['code'], e.fields['result'], e.audit])).toEqual([
      ['MGMT_COMMAND_NOT_AUTHORIZED', 'NOT_AUTHORIZED', true],
      ['MGMT_COMMAND_NOT_AUTHORIZED', 'NOT_AUTHORIZED', true],
    ]);
  });

  it('runs a dangerous two-step command only with a signed second request carrying the confirm token', async () => {
    const { h, ran, events } = setup(() => {
      throw new CommandError('UNAVAILABLE', FAILOVER_NOT_CONFIGURED);
    });
    const args = { reason: 'partner burnt' };
    const first = await answer(h, req('failover.partner-down', { v: 1, args, auth: sign('failover.partner-down', args) }));
    expect(first).toMatchObject({
      ok: true,
      code: 'CONFIRM_REQUIRED',
      data: { expiresInSec: 30, preview: { would: 'failover.partner-down', args } },
    });
    expect(ran).toEqual([]);
    const confirmToken = (first as { data: { confirmToken: string } }).data.confirmToken;

    // The token is bound to the arguments and the actor, and works once.
    const otherArgs = { reason: 'other', confirmToken };
    expect(
      await answer(h, req('failover.partner-down', { v: 1, args: otherArgs, auth: sign('failover.partner-down', otherArgs) })),
    ).toMatchObject({ ok: false, code: 'BAD_ARGS' });
    const confirmed = { ...args, confirmToken };
    expect(
      await answer(h, req('failover.partner-down', { v: 1, args: confirmed, auth: sign('failover.partner-down', confirmed, 'bob') })),
    ).toMatchObject({ ok: false, code: 'NOT_AUTHORIZED', error: 'confirm token was issued to "alice", not "bob"' });
    expect(
      await answer(h, req('failover.partner-down', { v: 1, args: confirmed, auth: sign('failover.partner-down', confirmed) })),
    ).toEqual({
      v: 1,
      ok: false,
      code: 'UNAVAILABLE',
      error: FAILOVER_NOT_CONFIGURED,
    });
    expect(ran).toEqual([{ name: 'failover.partner-down', args }]);
    expect(
      await answer(h, req('failover.partner-down', { v: 1, args: confirmed, auth: sign('failover.partner-down', confirmed) })),
    ).toMatchObject({ ok: false, code: 'EXPIRED', error: expect.stringMatching(/unknown or expired/) });
    expect(events.filter((e) => e.type === 'cmd-audit').map((e) => e.fields['result'])).toEqual([
      'CONFIRM_REQUIRED',
      'BAD_ARGS',
      'NOT_AUTHORIZED',
      'UNAVAILABLE',
      'EXPIRED',
    ]);
    // The signature was good every time; the confirm token's refusals are results, not a refused signature.
    expect(new Set(events.filter((e) => e.type === 'cmd-audit').map((e) => e.fields['code']))).toEqual(
      new Set(['MGMT_COMMAND_AUTHORIZED']),
    );
  });

  it('answers BUSY instead of queueing without bound', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { h } = setup(() => gate.then(() => 'done'));
    const pending = Array.from({ length: 16 }, () => h.handle(req('stats', { v: 1 })));
    expect(await answer(h, req('stats', { v: 1 }))).toMatchObject({ ok: false, code: 'BUSY' });
    release();
    expect((await Promise.all(pending)).every((a) => a?.doc.ok)).toBe(true);
  });
});

// One incoming request, from topic to response, without the broker: which
// command, may the device answer where it is asked to, are the args right, is
// it signed (dangerous commands), is it the confirming second step (two-step
// ones), then the handler. A request that cannot be answered — no Response
// Topic, or one outside this device's rsp/ subtree — is refused through an
// evt/cmd-refused event instead, so the refusal is still visible.

import type { EventCode, EventFields, EventType, ResponseDoc } from './documents.js';
import { failed, ok } from './documents.js';
import { checkArgs, commandSpec, COMMANDS, CommandError, withoutConfirm, type CommandSpec } from './commands.js';
import type { ConfirmTokens } from './confirm.js';
import { argsHash, type SignatureGate } from './signature.js';
import { checkResponseTopic, commandOfTopic, type DeviceTopics } from './topics.js';

export interface IncomingRequest {
  readonly topic: string;
  readonly payload: Buffer;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  /** Message Expiry Interval left, as the broker delivered it. */
  readonly expirySec?: number;
}

export interface Answer {
  readonly topic: string;
  readonly doc: ResponseDoc;
  readonly correlationData?: Buffer;
  readonly expirySec?: number;
}

export interface RequestDeps {
  readonly topics: DeviceTopics;
  readonly gate: SignatureGate;
  readonly confirms: ConfirmTokens;
  /** Runs a command by name with checked args. */
  readonly run: (spec: CommandSpec, args: Record<string, unknown>) => Promise<unknown>;
  /** A preview for the first step of a two-step command. */
  readonly preview: (spec: CommandSpec, args: Record<string, unknown>) => Promise<unknown>;
  readonly emit: <T extends EventType>(type: T, fields: EventFields<T>, audit?: boolean) => void;
}

/** Requests in progress at once; more are answered BUSY rather than queued without bound. */
const IN_PROGRESS_MAX = 16;
const PAYLOAD_BYTES_MAX = 64 * 1024;

const CODES = new Set([
  'BAD_REQUEST',
  'BAD_ARGS',
  'UNKNOWN_COMMAND',
  'NOT_AUTHORIZED',
  'EXPIRED',
  'BUSY',
  'REJECTED',
  'UNAVAILABLE',
  'INTERNAL',
]);

/** A handler's failure as a response: CommandError (or anything carrying a known code) keeps its code. */
function failureOf(e: unknown): ResponseDoc {
  const code = e instanceof CommandError ? e.code : (e as { code?: unknown })?.code;
  const message = e instanceof Error ? e.message : String(e);
  return typeof code === 'string' && CODES.has(code) ? failed(code as Parameters<typeof failed>[0], message) : failed('INTERNAL', message);
}

export class RequestHandler {
  private inProgress = 0;
  private dangerousInProgress = false;

  constructor(private readonly deps: RequestDeps) {}

  /** The response to publish, or undefined when the request was refused without one. */
  async handle(req: IncomingRequest): Promise<Answer | undefined> {
    const { topics, emit } = this.deps;
    const cmd = commandOfTopic(topics, req.topic);
    const where = checkResponseTopic(topics, req.responseTopic);
    if (!where.ok || cmd === undefined) {
      const reason = cmd === undefined ? `not a command topic of this device: ${JSON.stringify(req.topic)}` : where.ok ? '' : where.reason;
      emit('cmd-refused', {
        code: 'MGMT_COMMAND_REFUSED',
        cmd: cmd ?? null,
        reason,
        responseTopic: req.responseTopic ?? null,
        correlationData: req.correlationData?.toString('hex') ?? null,
      });
      return undefined;
    }
    const answer = (doc: ResponseDoc): Answer => ({
      topic: req.responseTopic!,
      doc,
      ...(req.correlationData ? { correlationData: req.correlationData } : {}),
      ...(req.expirySec !== undefined ? { expirySec: req.expirySec } : {}),
    });
    if (this.inProgress >= IN_PROGRESS_MAX) return answer(failed('BUSY', `${IN_PROGRESS_MAX} requests are already in progress; try again`));
    this.inProgress++;
    try {
      return answer(await this.answer(cmd, req.payload));
    } finally {
      this.inProgress--;
    }
  }

  private async answer(cmd: string, payload: Buffer): Promise<ResponseDoc> {
    if (payload.length > PAYLOAD_BYTES_MAX) return failed('BAD_REQUEST', `request is larger than ${PAYLOAD_BYTES_MAX} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return failed('BAD_REQUEST', 'request is not JSON; expected {"v":1,"args":{…}}');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body) || (body as { v?: unknown }).v !== 1) {
      return failed('BAD_REQUEST', 'request must be a JSON object with "v": 1');
    }
    const { args: rawArgs, auth } = body as { args?: unknown; auth?: unknown };
    const spec = commandSpec(cmd);
    if (!spec) return failed('UNKNOWN_COMMAND', `unknown command "${cmd}"; known: ${COMMANDS.map((c) => c.name).join(', ')}`);
    const checked = checkArgs(spec, rawArgs);
    if (!checked.ok) return failed('BAD_ARGS', checked.error);
    if (!spec.dangerous) return this.run(spec, checked.args);

    const verdict = this.deps.gate.check(auth, spec.name, rawArgs ?? {});
    // `code` tells a refused signature from a signed command (docs/log-codes.md); `result` is the response's code.
    const audit = (code: EventCode<'cmd-audit'>, result: string, actor: string | null, extra: Record<string, unknown> = {}): void =>
      this.deps.emit('cmd-audit', { code, cmd: spec.name, actor, argsHash: argsHash(rawArgs ?? {}), result, ...extra }, true);
    if (!verdict.ok) {
      audit('MGMT_COMMAND_NOT_AUTHORIZED', verdict.code, null, { error: verdict.reason });
      return failed(verdict.code, verdict.reason);
    }
    const actor = verdict.claims.actor;
    if (this.dangerousInProgress) {
      audit('MGMT_COMMAND_AUTHORIZED', 'BUSY', actor);
      return failed('BUSY', 'another dangerous command is in progress');
    }
    this.dangerousInProgress = true;
    try {
      const doc = await this.dangerous(spec, checked.args, actor);
      audit('MGMT_COMMAND_AUTHORIZED', doc.code, actor, doc.ok ? {} : { error: doc.error });
      return doc;
    } finally {
      this.dangerousInProgress = false;
    }
  }

  private async dangerous(spec: CommandSpec, args: Record<string, unknown>, actor: string): Promise<ResponseDoc> {
    if (!spec.twoStep) return this.run(spec, args);
    const bare = withoutConfirm(args);
    const token = args['confirmToken'];
    if (typeof token !== 'string') {
      let preview: unknown;
      try {
        preview = await this.deps.preview(spec, bare);
      } catch (e) {
        return failureOf(e);
      }
      return ok({ ...this.deps.confirms.issue(spec.name, bare, actor), preview }, 'CONFIRM_REQUIRED');
    }
    const redeemed = this.deps.confirms.redeem(token, spec.name, bare, actor);
    if (!redeemed.ok) return failed(redeemed.code, redeemed.reason);
    return this.run(spec, bare);
  }

  private async run(spec: CommandSpec, args: Record<string, unknown>): Promise<ResponseDoc> {
    try {
      return ok(await this.deps.run(spec, args));
    } catch (e) {
      return failureOf(e);
    }
  }
}

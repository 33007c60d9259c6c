// A driver for test/peer/rfc8156_peer.py, the independent RFC 8156 partner
// written in Python from the RFC text: it runs inside a lab namespace, takes
// JSON commands on stdin (one answer line each) and prints JSON events on
// stdout (test/peer/README.md has both). Every line it prints is kept, in
// memory and in a log file, for waits and for diagnostics.
//
// Safety as in the rest of the lab: only in a namespace the lab made, only
// documentation or ULA addresses, and only this process is ever signalled,
// by its own pid (`ip netns exec` execs the interpreter in place).

import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { assertLabAddress } from './addr.js';
import { assertLabNamespace, trackPid, untrackPid } from './cleanup.js';
import type { Namespace } from './netns.js';
import { labEnv, poll, sleep, tail, type ExitStatus } from './proc.js';

export const RFC8156_PEER_SCRIPT = resolve('test/peer/rfc8156_peer.py');

/** One line the peer printed: an event (`event`) or a command's answer (`ok`, `cmd`). */
export type PeerLine = Record<string, unknown> & { readonly event?: string; readonly at: number };

/** A command's answer (`ok: true`; a refusal rejects the promise). */
export type PeerAnswer = Record<string, unknown>;

export interface PeerState {
  readonly role: 'primary' | 'secondary';
  readonly own: string;
  readonly partner: string | null;
  readonly previous: string | null;
  readonly comm_ok: boolean;
  readonly connected: boolean;
  readonly mclt: number;
  readonly pending: number;
  readonly outstanding: number;
  readonly now: number;
  readonly [key: string]: unknown;
}

/** A binding as the peer reports it (README "A binding object has"). */
export interface PeerBinding {
  readonly resource: string;
  readonly type: 'na' | 'ta' | 'pd';
  readonly status: string;
  readonly duid: string | null;
  readonly iaid: number | null;
  readonly delegable: boolean;
  readonly source: 'local' | 'partner' | 'config';
  readonly [key: string]: unknown;
}

export interface Rfc8156PeerOptions {
  readonly role: 'primary' | 'secondary';
  /** Names the log file (`<name>.log` in dir). Default rfc8156-peer. */
  readonly name?: string;
  /** Where the log (and, by default, nothing else) goes. */
  readonly dir: string;
  /** Secondary: --listen; primary: --connect (the partner's address). */
  readonly address: string;
  /** Primary: --local-address; secondary: --partner-address. */
  readonly partnerOrLocal?: string;
  readonly port?: number;
  readonly mcltSec?: number;
  readonly keepaliveSec?: number;
  readonly addrPools?: readonly string[];
  readonly delegable?: readonly string[];
  readonly delegatedLength?: number;
  /** Stable storage; the same path on a restart keeps the peer's state and bindings. */
  readonly stateFile?: string;
  /** Any other flags, verbatim (e.g. ['--startup-time', '2', '--retry', '1']). */
  readonly extraArgs?: readonly string[];
}

/** The Python interpreter itself (not a pyenv shim): its pid is then the peer's. */
let interpreter: string | undefined;
export function python3(): string | undefined {
  if (interpreter) return interpreter;
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', env: labEnv(), timeout: 30_000 });
  const p = r.status === 0 ? r.stdout.trim() : '';
  return (interpreter = p && existsSync(p) ? p : undefined);
}

function peerArgs(o: Rfc8156PeerOptions): string[] {
  for (const a of [o.address, o.partnerOrLocal, ...(o.addrPools ?? []), ...(o.delegable ?? [])]) if (a !== undefined) assertLabAddress(a);
  const primary = o.role === 'primary';
  const args = ['--role', o.role, primary ? '--connect' : '--listen', o.address];
  if (o.partnerOrLocal) args.push(primary ? '--local-address' : '--partner-address', o.partnerOrLocal);
  args.push('--port', String(o.port ?? 647));
  if (o.mcltSec !== undefined) args.push('--mclt', String(o.mcltSec));
  if (o.keepaliveSec !== undefined) args.push('--keepalive', String(o.keepaliveSec));
  for (const p of o.addrPools ?? []) args.push('--addr-pool', p);
  for (const p of o.delegable ?? []) args.push('--delegable', p);
  if (o.delegatedLength !== undefined) args.push('--delegated-length', String(o.delegatedLength));
  if (o.stateFile) args.push('--state-file', o.stateFile);
  return [...args, ...(o.extraArgs ?? [])];
}

export class Rfc8156Peer {
  readonly pid: number;
  readonly logFile: string;
  /** Every line printed, in order (events and answers). */
  readonly lines: PeerLine[] = [];
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (line: PeerLine) => void>();
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;

  private constructor(
    readonly ns: Namespace,
    readonly opts: Rfc8156PeerOptions,
  ) {
    assertLabNamespace(ns.name);
    const py = python3();
    if (!py) throw new Error('python3 is not installed: the RFC 8156 test peer cannot run');
    this.logFile = join(opts.dir, `${opts.name ?? 'rfc8156-peer'}.log`);
    const argv = ['netns', 'exec', ns.name, py, '-u', RFC8156_PEER_SCRIPT, ...peerArgs(opts)];
    appendFileSync(this.logFile, `# ip ${argv.join(' ')}\n`);
    this.child = spawn('ip', argv, { stdio: ['pipe', 'pipe', 'pipe'], env: labEnv() });
    if (this.child.pid === undefined) {
      this.child.on('error', () => undefined);
      throw new Error('could not start ip netns exec … rfc8156_peer.py');
    }
    this.pid = this.child.pid;
    trackPid(this.pid);
    this.child.stdin.on('error', () => undefined); // a peer that died: the command times out with its log
    this.exited = new Promise((done) => {
      this.child.on('error', () => undefined);
      this.child.on('exit', (code, signal) => {
        this.status = { code, signal };
        untrackPid(this.pid);
        appendFileSync(this.logFile, `# exited ${code ?? signal}\n`);
        done(this.status);
      });
    });
    createInterface({ input: this.child.stdout }).on('line', (text) => this.onLine(text));
    createInterface({ input: this.child.stderr }).on('line', (text) => appendFileSync(this.logFile, `! ${text}\n`));
  }

  /** Starts the peer and waits for its `started` event (and, for a secondary, `listening`). */
  static async start(ns: Namespace, opts: Rfc8156PeerOptions): Promise<Rfc8156Peer> {
    const peer = new Rfc8156Peer(ns, opts);
    try {
      await peer.waitFor((e) => e.event === (opts.role === 'secondary' ? 'listening' : 'started'), {
        what: 'the peer to start',
        timeoutMs: 15_000,
      });
    } catch (e) {
      await peer.kill();
      throw e;
    }
    return peer;
  }

  private onLine(text: string): void {
    appendFileSync(this.logFile, `${text}\n`);
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const line = { ...obj, at: Date.now() } as PeerLine;
    this.lines.push(line);
    const id = obj['id'];
    if ('ok' in obj && typeof id === 'number') {
      this.pending.get(id)?.(line);
      this.pending.delete(id);
    }
  }

  get running(): boolean {
    return this.status === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** Sends a command and resolves with its answer; an `ok: false` answer rejects with the peer's error. */
  async command(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<PeerAnswer> {
    const answer = await this.tryCommand(cmd, args, timeoutMs);
    if (answer['ok'] !== true) throw new Error(`peer refused ${cmd} ${JSON.stringify(args)}: ${String(answer['error'])}`);
    return answer;
  }

  /** As command, but an `ok: false` answer is returned, not thrown. */
  tryCommand(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<PeerAnswer> {
    if (!this.running)
      return Promise.reject(
        new Error(`peer ${cmd}: the peer has exited (${this.status?.code ?? this.status?.signal})\n${this.diagnostics()}`),
      );
    const id = this.nextId++;
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`peer ${cmd}: no answer within ${timeoutMs} ms\n${this.diagnostics()}`));
      }, timeoutMs);
      this.pending.set(id, (line) => {
        clearTimeout(timer);
        resolvePromise(line);
      });
      this.child.stdin.write(JSON.stringify({ ...args, cmd, id }) + '\n');
    });
  }

  state(): Promise<PeerState> {
    return this.command('state') as Promise<unknown> as Promise<PeerState>;
  }

  async bindings(changedOnly = false): Promise<PeerBinding[]> {
    return (await this.command('bindings', { changed_only: changedOnly }))['bindings'] as PeerBinding[];
  }

  async binding(resource: string): Promise<PeerBinding | null> {
    return (await this.command('binding', { resource }))['binding'] as PeerBinding | null;
  }

  /** Index of the next line: pass it as `from` to wait only for what comes after now. */
  mark(): number {
    return this.lines.length;
  }

  /** Events (lines with `event`) from index `from` on. */
  events(from = 0): PeerLine[] {
    return this.lines.slice(from).filter((l) => l.event !== undefined);
  }

  /** Resolves with the first event from `from` on (default: all of them) that pred accepts. */
  waitFor(pred: (e: PeerLine) => boolean, opts: { timeoutMs?: number; what?: string; from?: number } = {}): Promise<PeerLine> {
    const from = opts.from ?? 0;
    return poll(() => this.events(from).find(pred), {
      timeoutMs: opts.timeoutMs ?? 30_000,
      intervalMs: 50,
      what: `peer: ${opts.what ?? 'an event'}`,
      abortIf: () => (this.status ? `the peer exited (${this.status.code ?? this.status.signal})` : undefined),
      detail: () => this.diagnostics(),
    });
  }

  /** Waits until the peer's own and its partner's states are these (from its `state` command). */
  async waitState(own: string, partner?: string, timeoutMs = 30_000): Promise<PeerState> {
    let last: PeerState | undefined;
    return poll(
      async () => {
        last = await this.state();
        return last.own === own && (partner === undefined || last.partner === partner) ? last : undefined;
      },
      {
        timeoutMs,
        intervalMs: 200,
        what: `peer in ${own}${partner ? ` with partner ${partner}` : ''}`,
        abortIf: () => (this.status ? `the peer exited (${this.status.code ?? this.status.signal})` : undefined),
        detail: () => `last: ${JSON.stringify(last)}\n${this.diagnostics()}`,
      },
    );
  }

  /** The peer's own states, in order, from its `state` events (change "own"). */
  ownStates(from = 0): string[] {
    return this.events(from)
      .filter((e) => e.event === 'state' && e['change'] === 'own')
      .map((e) => String(e['own']));
  }

  /** Message types sent (`tx`) or received (`rx`), in order. */
  messages(dir: 'rx' | 'tx', from = 0): string[] {
    return this.events(from)
      .filter((e) => e.event === dir)
      .map((e) => String(e['msg']));
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** The log's tail without command answers (a `bindings` answer alone can fill a screen), long lines cut. */
  diagnostics(lines = 60): string {
    const events = this.log()
      .split('\n')
      .filter((l) => !l.startsWith('{') || l.startsWith('{"event"'))
      .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
    return `--- rfc8156 peer (${this.opts.role}, pid ${this.pid}) events (tail; full log ${this.logFile}):\n${tail(events.join('\n'), lines)}`;
  }

  /** `quit`: DISCONNECT, stable storage written, exit 0; SIGKILL if it does not go within graceMs. */
  async stop(graceMs = 5_000): Promise<ExitStatus> {
    if (!this.running) return this.status!;
    try {
      this.child.stdin.write(JSON.stringify({ cmd: 'quit', id: this.nextId++ }) + '\n');
    } catch {
      /* stdin gone: the kill below */
    }
    const done = await Promise.race([this.exited, sleep(graceMs).then(() => undefined)]);
    return done ?? this.kill();
  }

  /** Signals the peer by its pid (SIGKILL: a crash, nothing written). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitStatus> {
    if (!this.running) return this.status!;
    try {
      process.kill(this.pid, signal);
    } catch {
      /* already gone */
    }
    const done = await Promise.race([this.exited, sleep(5_000).then(() => undefined)]);
    if (done) return done;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    return this.exited;
  }
}

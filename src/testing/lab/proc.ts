// Child processes of the lab: every long-running one is tracked by pid so that
// cleanup (normal, failed test, or process exit) can end exactly what the lab
// started and nothing else.

import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { trackPid, untrackPid } from './cleanup.js';

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Throw when the command fails (default true). */
  readonly check?: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: ExecResult,
  ) {
    super(`command failed (${result.code ?? result.signal}): ${argv.join(' ')}\n${result.stderr.trim()}`);
    this.name = 'CommandError';
  }
}

/**
 * The environment for lab commands: the caller's, with the sbin directories
 * on PATH (ip, dhclient, dhcpcd and kea-dhcp6 live there, and a non-login
 * shell's PATH may lack them).
 */
export function labEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  const path = (env['PATH'] ?? '/usr/bin:/bin').split(':');
  for (const d of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!path.includes(d)) path.push(d);
  env['PATH'] = path.join(':');
  return env;
}

/** Runs a short command without a shell, so that no argument is ever re-parsed. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        env: opts.env ?? labEnv(),
        cwd: opts.cwd,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
        const result: ExecResult = {
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr: e && typeof e.code === 'string' ? `${stderr}${e.message}` : stderr,
        };
        if (e && (opts.check ?? true)) reject(new CommandError(argv, result));
        else resolve(result);
      },
    );
  });
}

export interface SpawnOptions {
  /** stdout and stderr are appended here; the file outlives the process for post-mortems. */
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class LabProcess {
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;

  constructor(
    readonly name: string,
    readonly argv: readonly string[],
    readonly opts: SpawnOptions,
  ) {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error('spawn: empty argv');
    const fd = openSync(opts.logFile, 'a');
    try {
      const child = spawn(cmd, args, {
        stdio: ['ignore', fd, fd],
        env: opts.env ?? labEnv(),
        cwd: opts.cwd,
      });
      if (child.pid === undefined) {
        // spawn reports ENOENT asynchronously; the pid is already known to be missing.
        child.on('error', () => undefined);
        throw new Error(`could not start ${cmd} (is it installed?)`);
      }
      this.pid = child.pid;
      trackPid(this.pid);
      this.exited = new Promise((resolve) => {
        child.on('error', () => {
          /* reported through 'exit' / 'close' */
        });
        child.on('exit', (code, signal) => {
          this.status = { code, signal };
          untrackPid(this.pid);
          resolve(this.status);
        });
      });
    } finally {
      closeSync(fd);
    }
  }

  get running(): boolean {
    return this.status === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** Signals the process (by pid), escalating to SIGKILL if it outlives graceMs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<ExitStatus> {
    if (this.status) return this.status;
    try {
      process.kill(this.pid, signal);
    } catch {
      /* already gone */
    }
    const timer = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    return this.exited;
  }

  log(): string {
    return existsSync(this.opts.logFile) ? readFileSync(this.opts.logFile, 'utf8') : '';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class TimeoutError extends Error {
  constructor(what: string, ms: number, detail?: string) {
    super(`timed out after ${ms} ms waiting for ${what}${detail ? `\n${detail}` : ''}`);
    this.name = 'TimeoutError';
  }
}

export interface PollOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  readonly what: string;
  /** Called on timeout to add context (logs) to the error. */
  readonly detail?: () => string;
  /** Checked each round: a dead process should fail the wait at once, not after the timeout. */
  readonly abortIf?: () => string | undefined;
}

/** Polls until fn returns a value other than undefined. */
export async function poll<T>(fn: () => T | undefined | Promise<T | undefined>, opts: PollOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    const abort = opts.abortIf?.();
    if (abort) throw new Error(`${abort} while waiting for ${opts.what}${opts.detail ? `\n${opts.detail()}` : ''}`);
    if (Date.now() >= deadline) throw new TimeoutError(opts.what, opts.timeoutMs, opts.detail?.());
    await sleep(opts.intervalMs ?? 100);
  }
}

/** Last lines of a log, for error messages that stay readable. */
export function tail(text: string, lines = 40): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

// The kernel's routing table through iproute2, run with execFile (no shell:
// nothing is ever re-parsed). Our routes are the ones carrying our protocol
// number; changes go in batches through `ip -force -batch -`, one process for
// many routes, and each failed line is attributed from ip's stderr.

import { execFile } from 'node:child_process';
import { canonicalAddress } from '../wire/address.js';

export interface KernelRoute {
  /** "2001:db8:8000:100::/56", RFC 5952. */
  readonly prefix: string;
  readonly gateway: string;
  /** Needed for a link-local gateway; for a global one the kernel finds the interface. */
  readonly dev?: string;
  /** As listed; absent in what we ask for (the driver's metric is used). */
  readonly metric?: number;
}

export type RouteOp = { readonly op: 'replace'; readonly route: KernelRoute } | { readonly op: 'delete'; readonly route: KernelRoute };

export interface RouteOpResult {
  readonly ok: boolean;
  readonly error?: string;
}

export interface RouteDriver {
  /** The metric our routes are installed with. */
  readonly metric: number;
  /** Every route in the main table with our protocol number. */
  list(): Promise<KernelRoute[]>;
  /** One result per op, in order. Rejects only when the batch could not run at all. */
  apply(ops: readonly RouteOp[]): Promise<RouteOpResult[]>;
}

export interface IpRouteOptions {
  readonly protocol: number;
  readonly metric: number;
  /** Default "ip" from PATH. */
  readonly ipPath?: string;
  readonly timeoutMs?: number;
}

const TIMEOUT_MS = 10_000;
/** ip's answer when the route to delete is not there: already what we want. */
const GONE = /No such process/;

interface IpJsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  metric?: number;
}

/** `ip -j route show` output to routes; entries that are not a prefix with a gateway are not ours to manage. */
export function parseRouteList(json: string): KernelRoute[] {
  const parsed = JSON.parse(json || '[]') as IpJsonRoute[];
  const out: KernelRoute[] = [];
  for (const r of parsed) {
    if (!r.dst || !r.gateway) continue;
    const [net, length] = r.dst.split('/');
    const address = net === undefined ? undefined : canonicalAddress(net);
    const gateway = canonicalAddress(r.gateway);
    // A host route is listed without a length.
    if (address === undefined || gateway === undefined) continue;
    out.push({
      prefix: `${address}/${length ?? '128'}`,
      gateway,
      ...(r.dev ? { dev: r.dev } : {}),
      ...(r.metric !== undefined ? { metric: r.metric } : {}),
    });
  }
  return out;
}

/**
 * Stderr of `ip -force -batch -` to one result per line: each failure is a few
 * lines of messages followed by "Command failed -:N" (N counts from 1).
 */
export function parseBatchErrors(stderr: string, lines: number): Map<number, string> {
  const failed = new Map<number, string>();
  let messages: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(line);
    if (m) {
      const n = Number(m[1]);
      if (n >= 1 && n <= lines) failed.set(n - 1, messages.join('; ') || 'failed');
      messages = [];
    } else if (line.trim() !== '') messages.push(line.trim());
  }
  return failed;
}

export function batchLine(op: RouteOp, protocol: number, metric: number): string {
  const r = op.route;
  const tail = ['proto', String(protocol), 'metric', String(r.metric ?? metric)];
  if (op.op === 'delete') return ['route', 'del', r.prefix, ...tail].join(' ');
  return ['route', 'replace', r.prefix, 'via', r.gateway, ...(r.dev ? ['dev', r.dev] : []), ...tail].join(' ');
}

/** Values reach ip's batch parser as words: anything with white space or quotes would split or join them. */
const safeWord = (w: string): boolean => /^[0-9A-Za-z.:/_@%-]+$/.test(w);

export function ipRouteDriver(opts: IpRouteOptions): RouteDriver {
  const ip = opts.ipPath ?? 'ip';
  const timeout = opts.timeoutMs ?? TIMEOUT_MS;
  const exec = (args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const child = execFile(
        ip,
        args,
        { timeout, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
          if (e && typeof e.code !== 'number') return reject(new Error(`${ip} ${args.join(' ')}: ${e.message}`));
          resolve({ code: e ? Number(e.code) : 0, stdout, stderr });
        },
      );
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input ?? '');
    });
  return {
    metric: opts.metric,
    async list() {
      const r = await exec(['-6', '-j', 'route', 'show', 'table', 'main', 'proto', String(opts.protocol)]);
      if (r.code !== 0) throw new Error(`ip route show: ${r.stderr.trim()}`);
      return parseRouteList(r.stdout);
    },
    async apply(ops) {
      if (ops.length === 0) return [];
      const results: (RouteOpResult | undefined)[] = ops.map((o) => {
        const words = [o.route.prefix, o.route.gateway, o.route.dev ?? ''].filter((w) => w !== '');
        return words.every(safeWord) ? undefined : { ok: false, error: 'not a plain word' };
      });
      const runnable = ops.filter((_, i) => results[i] === undefined);
      const r = await exec(
        ['-6', '-force', '-batch', '-'],
        runnable.map((o) => batchLine(o, opts.protocol, opts.metric)).join('\n') + '\n',
      );
      const failed = parseBatchErrors(r.stderr, runnable.length);
      let line = 0;
      return ops.map((o, i) => {
        const early = results[i];
        if (early) return early;
        const error = failed.get(line++);
        if (error === undefined || (o.op === 'delete' && GONE.test(error))) return { ok: true };
        return { ok: false, error };
      });
    },
  };
}

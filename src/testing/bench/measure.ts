// The figures besides the ladder: reply latency percentiles at a fixed rate,
// and runs with a store prefilled with bindings (start to first Reply, RSS,
// and bytes and syncs written per lease granted and per renew).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { poll, sleep, tail } from '../lab/proc.js';
import { BenchContext, CLIENT_IF } from './context.js';
import { percentile, runPerfdhcp, warmUp } from './perfdhcp.js';
import { clientsFor, prefillKea, prefillTwin6 } from './prefill.js';
import { PLAN, countSyncs, readIo, readRssKiB, startServer, type ServerName } from './servers.js';
import { formatIPv6 } from '../lab/addr.js';

const CLIENT_JS = fileURLToPath(new URL('./client.js', import.meta.url));
/** Lets LevelDB's memtable flushes and Kea's buffered appends reach the kernel before /proc/<pid>/io is read. */
const SETTLE_MS = 1000;

export interface LatencyResult {
  readonly rate: number;
  readonly seconds: number;
  readonly exchanges: number;
  readonly failedRatio: number;
  readonly replyP50Ms: number;
  readonly replyP99Ms: number;
  readonly replyMaxMs: number;
  readonly advertiseP50Ms: number;
  readonly advertiseP99Ms: number;
}

/** Request→Reply and Solicit→Advertise delays of every exchange, from perfdhcp's own timestamps (-x t). */
export async function latency(ctx: BenchContext, server: ServerName, rate: number): Promise<LatencyResult> {
  const dir = ctx.newDir(`latency-${server}-${rate}`);
  const srv = await startServer(server, ctx.server, dir, ctx.opts);
  try {
    const seconds = ctx.opts.latencySeconds;
    await warmUp(ctx.client, CLIENT_IF, 'na', rate, ctx.opts.quick);
    const r = await runPerfdhcp(ctx.client, { iface: CLIENT_IF, mode: 'na', rate, seconds, seed: 7, timestamps: true });
    if (!srv.proc.running) ctx.problem(`${server} exited during the latency run at ${rate}/s\n${srv.log()}`);
    const reply = [...(r.request.delaysMs ?? [])].sort((a, b) => a - b);
    const adv = [...(r.solicit.delaysMs ?? [])].sort((a, b) => a - b);
    return {
      rate,
      seconds,
      exchanges: reply.length,
      failedRatio: r.failedRatio,
      replyP50Ms: percentile(reply, 50),
      replyP99Ms: percentile(reply, 99),
      replyMaxMs: reply.at(-1) ?? NaN,
      advertiseP50Ms: percentile(adv, 50),
      advertiseP99Ms: percentile(adv, 99),
    };
  } finally {
    await ctx.stop(srv, `the latency run at ${rate}/s`);
    ctx.dropDir(dir);
  }
}

export interface StorageResult {
  readonly rate: number;
  readonly grants: number;
  readonly bytesPerGrant: number;
  /** Bytes handed to write(2) (wchar), before the page cache: shows what write_bytes hides in Kea's case. */
  readonly wcharPerGrant: number;
  readonly syncsPerSecGranting: number;
  readonly renewsSent: number;
  readonly renewsOk: number;
  readonly bytesPerRenew: number;
  readonly wcharPerRenew: number;
  readonly syncsPerSecRenewing: number;
}

export interface BindingsResult {
  readonly bindings: number;
  /** Launch of the server process to the first Reply granting an address to the probe. */
  readonly startToFirstReplyMs: number;
  readonly startToFirstAdvertiseMs: number;
  readonly rssMiB: number;
  readonly storage?: StorageResult;
}

function jsonLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Prefills `bindings` leases, starts the server with the probe already
 * Soliciting, and reads RSS once it has served. With storageRate, then renews
 * prefilled leases and grants new ones at that rate, under strace for syncs.
 */
export async function bindingsRun(ctx: BenchContext, server: ServerName, bindings: number, storageRate?: number): Promise<BindingsResult> {
  const dir = ctx.newDir(`bindings-${server}-${bindings}`);
  const nowSec = Math.floor(Date.now() / 1000);
  if (server === 'kea') prefillKea(dir, bindings, nowSec);
  else await prefillTwin6(dir, bindings, nowSec);

  const probeLog = join(dir, 'probe.out');
  const probe = ctx.client.spawn('probe', [process.execPath, CLIENT_JS, 'first-reply', '--iface', CLIENT_IF, '--timeout-ms', '60000'], {
    logFile: probeLog,
  });
  const probeDead = (): string | undefined => (probe.running ? undefined : `probe exited: ${tail(probe.log(), 5)}`);
  const straceLog = storageRate ? join(dir, 'syncs.strace') : undefined;
  let srv: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await poll(() => (jsonLines(probeLog).some((o) => o['ready']) ? true : undefined), {
      timeoutMs: 10_000,
      what: 'probe ready',
      abortIf: probeDead,
    });
    srv = await startServer(server, ctx.server, dir, ctx.opts, straceLog ? { straceLog } : {});
    const launched = srv.launchedNs;
    const first = await poll(() => jsonLines(probeLog).find((o) => typeof o['replyNs'] === 'string'), {
      timeoutMs: 60_000,
      intervalMs: 20,
      what: `first Reply from ${server}`,
      abortIf: probeDead,
      detail: () => srv?.log() ?? '',
    });
    const ms = (ns: unknown): number => Number(BigInt(String(ns)) - launched) / 1e6;
    await sleep(SETTLE_MS);
    const result = {
      bindings,
      startToFirstReplyMs: ms(first['replyNs']),
      startToFirstAdvertiseMs: ms(first['advertiseNs']),
      rssMiB: readRssKiB(srv.pid) / 1024,
    };
    if (!storageRate || !straceLog) return result;
    const storage = await storageRuns(ctx, srv.pid, String(first['serverId']), bindings, storageRate);
    await ctx.stop(srv, `the run with ${bindings} bindings`);
    // Over the time requests were sent: the server is idle while draining and settling.
    const syncs = (w: Window): number => countSyncs(straceLog, w.from, w.to) / w.loadSeconds;
    return {
      ...result,
      storage: {
        ...storage.figures,
        syncsPerSecRenewing: syncs(storage.renewWindow),
        syncsPerSecGranting: syncs(storage.grantWindow),
      },
    };
  } finally {
    await probe.stop('SIGKILL', 1000);
    if (srv) await ctx.stop(srv, `the run with ${bindings} bindings`);
    ctx.dropDir(dir);
  }
}

interface Window {
  readonly from: number;
  readonly to: number;
  readonly loadSeconds: number;
}

async function storageRuns(
  ctx: BenchContext,
  pid: number,
  serverId: string,
  bindings: number,
  rate: number,
): Promise<{ renewWindow: Window; grantWindow: Window; figures: Omit<StorageResult, 'syncsPerSecGranting' | 'syncsPerSecRenewing'> }> {
  const seconds = ctx.opts.storageSeconds;
  await warmUp(ctx.client, CLIENT_IF, 'na', rate, ctx.opts.quick);
  // Renews first, while the store holds only the prefilled bindings.
  const count = Math.min(clientsFor(bindings), Math.round(rate * seconds));
  const io0 = readIo(pid);
  const r0 = Date.now();
  const renewOut = await ctx.client.exec(
    [
      process.execPath,
      CLIENT_JS,
      'renew',
      '--iface',
      CLIENT_IF,
      '--server-id',
      serverId,
      '--pool-first',
      formatIPv6(PLAN.poolFirst),
      '--count',
      String(count),
      '--rate',
      String(rate),
    ],
    { timeoutMs: (seconds + 30) * 1000 },
  );
  const renew = JSON.parse(renewOut.stdout.trim().split('\n').at(-1) ?? '{}') as { sent: number; ok: number; sendMs: number };
  await sleep(SETTLE_MS);
  const r1 = Date.now();
  const io1 = readIo(pid);
  if (renew.ok < 0.9 * renew.sent) ctx.problem(`only ${renew.ok} of ${renew.sent} renews answered with the address kept`);

  const g0 = Date.now();
  const grant = await runPerfdhcp(ctx.client, { iface: CLIENT_IF, mode: 'na', rate, seconds, seed: 11 });
  await sleep(SETTLE_MS);
  const g1 = Date.now();
  const io2 = readIo(pid);
  const grants = grant.solicit.sent - grant.failed;
  return {
    renewWindow: { from: r0, to: r1, loadSeconds: renew.sendMs / 1000 },
    grantWindow: { from: g0, to: g1, loadSeconds: seconds },
    figures: {
      rate,
      grants,
      bytesPerGrant: (io2.writeBytes - io1.writeBytes) / grants,
      wcharPerGrant: (io2.wchar - io1.wchar) / grants,
      renewsSent: renew.sent,
      renewsOk: renew.ok,
      bytesPerRenew: (io1.writeBytes - io0.writeBytes) / renew.ok,
      wcharPerRenew: (io1.wchar - io0.wchar) / renew.ok,
    },
  };
}

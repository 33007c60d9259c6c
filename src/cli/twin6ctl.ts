#!/usr/bin/env node
// twin6ctl — asks a running twin6d over its control socket.

import path from 'node:path';
import { callControl, CONTROL_SOCKET_NAME, type ControlAnswer } from '../daemon/control.js';
import { parseArgs } from './args.js';
import { fleetMain } from './fleet.js';
import type { StoreStats } from '../store/index.js';
import type { ClockStatus } from '../daemon/host.js';
import type { TimeStatus } from '../daemon/time-sync.js';

const USAGE = `usage: twin6ctl --state-dir DIR status [--json]     (any command: --timeout SEC, default 5)
       twin6ctl --state-dir DIR leases [--json] [--all] [--state active|released|declined|expired] [--duid HEX]
                                            --all: every lease, page after page (twin6d answers one page a request)
       twin6ctl --state-dir DIR failover [--json]            RFC 8156 state, partner, unacknowledged updates, skew
       twin6ctl --state-dir DIR partner-down [--force]       declare the partner down (refused while it is reachable)
       twin6ctl --state-dir DIR failover maintenance enter|leave [--force]
                                            hand the clients to the partner (to reboot this box), or take them back
       twin6ctl --state-dir DIR time [--json]                NTP: servers, stratum, last offset, clock steps
       twin6ctl fleet …                     devices through the MQTT broker (twin6ctl fleet --help)`;

interface LeaseRow {
  resource: string;
  type: string;
  duid: string;
  iaid: number;
  state: string;
  expiresAtSec: number;
}

function printStatus(r: Record<string, unknown>): void {
  const pools = r['pools'] as { subnet: string; pool: string; kind: string; active: number }[];
  const counters = r['counters'] as Record<string, number>;
  const st = r['storage'] as StoreStats;
  const lines = [
    `server DUID  ${r['serverDuid']}`,
    `pid          ${r['pid']}   uptime ${r['uptimeSec']} s   RSS ${Math.round((r['memory'] as { rssBytes: number }).rssBytes / 1048576)} MiB`,
    `listening    ${(r['bound'] as string[]).join(', ')}`,
    clockLine(r['clock'] as ClockStatus),
    `leases       ${r['leases']}`,
    ...pools.map((p) => `  ${p.kind.toUpperCase()} ${p.subnet} ${p.pool}: ${p.active} active`),
    `storage      ${st.state}   ${st.syncs} syncs   last commit ${Math.round(st.lastCommitMs)} ms (max ${Math.round(st.maxCommitMs)})`,
    `  write in flight ${Math.round(st.inFlightMs)} ms (${st.inFlightChanges} changes), ${st.pendingChanges} changes waiting`,
    `counters`,
    ...Object.entries(counters).map(([k, v]) => `  ${k.padEnd(40)} ${v}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

const iso = (sec: number): string => new Date(sec * 1000).toISOString();

function clockLine(c: ClockStatus): string {
  return c.trusted
    ? `clock        ${iso(c.nowSec)}, at or past its floor`
    : `clock        ${iso(c.nowSec)}, ${c.behindSec} s BEHIND its floor ${iso(c.floorSec)} (${c.floorSource}): granting nothing`;
}

function printTime(t: TimeStatus): void {
  const lines = [
    `servers      ${t.servers.join(', ') || 'none (no time section)'}`,
    `stratum      ${t.stratum}${t.source ? `, from ${t.source}` : ''}   sets the clock: ${t.setsClock ? 'yes' : 'no'}   steps ${t.steps}`,
    `last offset  ${t.lastOffsetMs === null ? 'never synchronised' : `${t.lastOffsetMs} ms, ${t.lastSyncMs === null ? '' : iso(t.lastSyncMs / 1000)}`}`,
    `serving      ${t.serving ?? 'no'}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

function printLeases(r: { total: number; leases: LeaseRow[] }): void {
  const now = Date.now() / 1000;
  process.stdout.write(`${r.total} lease(s)\n`);
  for (const l of r.leases) {
    const left = Math.round(l.expiresAtSec - now);
    process.stdout.write(
      `${l.type.padEnd(3)} ${l.resource.padEnd(40)} ${l.state.padEnd(9)} ${String(left).padStart(8)} s  iaid ${l.iaid}  duid ${l.duid}\n`,
    );
  }
}

/** Asks for page after page until every lease the filter matches has come; one answer, as for a single page. */
async function allLeases(socket: string, request: Record<string, unknown>, timeoutMs: number): Promise<ControlAnswer> {
  const leases: LeaseRow[] = [];
  for (;;) {
    const a = await callControl(socket, { ...request, offset: leases.length }, timeoutMs);
    if (!a.ok) return a;
    const page = a.result as { total: number; leases: LeaseRow[] };
    leases.push(...page.leases);
    if (page.leases.length === 0 || leases.length >= page.total) return { ok: true, result: { total: page.total, offset: 0, leases } };
  }
}

/** Subcommand → control-socket command. */
const COMMANDS: Readonly<Record<string, string>> = {
  status: 'status',
  leases: 'leases',
  failover: 'failover.status',
  'partner-down': 'failover.partner-down',
  time: 'time',
};

function printFailover(r: Record<string, unknown>): void {
  if (r['role'] === 'standalone' || r['role'] === undefined) {
    process.stdout.write('failover is not configured: standalone server\n');
    return;
  }
  const ago = (sec: unknown) => (typeof sec === 'number' ? `${Math.round(Date.now() / 1000 - sec)} s ago` : 'never');
  const lines = [
    `role          ${r['role']}`,
    `state         ${r['state']} (since ${ago(r['stateSinceSec'])})`,
    `partner       ${r['partnerState'] ?? 'unknown'}   ${r['connected'] ? (r['secure'] ? 'connected, TLS' : 'connected, no TLS') : 'not connected'}`,
    `last contact  ${ago(r['lastContactSec'])}   clock skew ${r['skewSec'] ?? '?'} s`,
    `MCLT          ${r['mcltSec']} s`,
    `updates       ${r['unackedUpdates']} unacknowledged, ${r['inFlightUpdates']} in flight`,
    ...(r['partnerDownSinceSec'] ? [`partner down  since ${ago(r['partnerDownSinceSec'])}`] : []),
    ...(Array.isArray(r['held']) && r['held'].length > 0 ? [`link held     down: ${r['held'].join(', ')}`] : []),
    ...(typeof r['maintenance'] === 'boolean' ? [`maintenance   ${r['maintenance'] ? 'on: the partner serves the clients' : 'off'}`] : []),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'fleet') return fleetMain(argv.slice(1)); // the broker, not a local twin6d
  let args;
  try {
    args = parseArgs(argv, ['state-dir', 'state', 'duid', 'timeout'], ['json', 'help', 'force', 'all']);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const stateDir = args.flags.get('state-dir');
  const cmd = args.positional[0];
  if (args.flags.has('help') || typeof stateDir !== 'string' || cmd === undefined || !Object.hasOwn(COMMANDS, cmd)) {
    process.stderr.write(`${USAGE}\n`);
    return args.flags.has('help') ? 0 : 2;
  }
  const request: Record<string, unknown> = { cmd: COMMANDS[cmd] };
  if (cmd === 'failover' && args.positional[1] !== undefined) {
    // failover maintenance enter|leave
    if (args.positional[1] !== 'maintenance' || (args.positional[2] !== 'enter' && args.positional[2] !== 'leave')) {
      process.stderr.write(`${USAGE}\n`);
      return 2;
    }
    request['cmd'] = 'failover.maintenance';
    request['action'] = args.positional[2];
  }
  if (args.flags.has('force')) request['force'] = true;
  for (const k of ['state', 'duid'] as const) if (typeof args.flags.get(k) === 'string') request[k] = args.flags.get(k);
  const timeout = args.flags.get('timeout');
  const timeoutSec = typeof timeout === 'string' ? Number(timeout) : 5;
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) {
    process.stderr.write(`twin6ctl: --timeout takes seconds, got ${String(timeout)}\n${USAGE}\n`);
    return 2;
  }
  const socket = path.join(stateDir, CONTROL_SOCKET_NAME);
  let answer;
  try {
    answer =
      cmd === 'leases' && args.flags.has('all')
        ? await allLeases(socket, request, timeoutSec * 1000)
        : await callControl(socket, request, timeoutSec * 1000);
  } catch (e) {
    process.stderr.write(`twin6ctl: cannot reach twin6d in ${stateDir}: ${(e as Error).message}\n`);
    return 1;
  }
  if (!answer.ok) {
    process.stderr.write(`twin6ctl: ${answer.error}\n`);
    return 1;
  }
  if (args.flags.has('json')) process.stdout.write(JSON.stringify(answer.result, null, 2) + '\n');
  else if (cmd === 'status') printStatus(answer.result as Record<string, unknown>);
  else if (cmd === 'leases') printLeases(answer.result as { total: number; leases: LeaseRow[] });
  else if (cmd === 'time') printTime(answer.result as TimeStatus);
  else printFailover(answer.result as Record<string, unknown>);
  return 0;
}

void main(process.argv.slice(2)).then((code) => process.exit(code));

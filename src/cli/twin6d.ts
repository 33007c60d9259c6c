#!/usr/bin/env node
// twin6d — the DHCPv6 server daemon. The only place that reads the real clock,
// opens sockets and the database, and hands them to the layers.

import path from 'node:path';
import fs from 'node:fs/promises';
import { pino, type Logger } from 'pino';
import { loadConfigFile, ConfigError } from '../config/index.js';
import type { ServerConfig } from '../config/types.js';
import { createEngine, standalonePolicy } from '../engine/index.js';
import { LevelLeaseStore } from '../store/index.js';
import { duidFromHex, duidToHex } from '../wire/duid.js';
import { openDhcpSockets, type DhcpSockets } from '../net/dhcp-socket.js';
import { PacketPath } from '../daemon/server.js';
import { Counters } from '../daemon/counters.js';
import { serveControl, CONTROL_SOCKET_NAME } from '../daemon/control.js';
import { makeServerDuid } from '../daemon/server-duid.js';
import { controlCommands } from '../daemon/commands.js';
import { parseArgs } from './args.js';

const USAGE = `usage: twin6d --config FILE --state-dir DIR
       twin6d --check-config FILE`;
/** Expiry work per tick: bounded so a backlog after downtime never stalls the packet path. */
const RECLAIM_BATCH_MAX = 1000;
const RECLAIM_INTERVAL_MS = 1000;

const nowSec = (): number => Math.floor(Date.now() / 1000);

async function checkConfig(file: string): Promise<number> {
  try {
    await loadConfigFile(file);
    process.stdout.write(`${file}: OK\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

async function serverDuidFor(config: ServerConfig, store: LevelLeaseStore): Promise<Uint8Array> {
  if (config.serverDuid) {
    const fixed = duidFromHex(config.serverDuid);
    if (!fixed) throw new Error(`serverDuid: not a DUID: ${config.serverDuid}`);
    return fixed;
  }
  const kept = await store.getMeta('server-duid');
  if (kept) return kept;
  const made = makeServerDuid(config.interfaces, nowSec());
  await store.putMeta('server-duid', made);
  return made;
}

async function run(configFile: string, stateDir: string): Promise<void> {
  // A bad config is refused before anything starts (no socket, no database).
  let config = await loadConfigFile(configFile);
  const log: Logger = pino({ level: config.logLevel, base: { svc: 'twin6d', pid: process.pid } });
  await fs.mkdir(stateDir, { recursive: true });
  const startedMs = Date.now();

  const store = new LevelLeaseStore(path.join(stateDir, 'leases'), config.storage);
  const opened = await store.open();
  if (opened.corrupt.count > 0) {
    log.error({ corrupt: opened.corrupt.count, reasons: opened.corrupt.reasons, keys: opened.corrupt.keys }, 'lease records failed their check and are not served');
  }
  const serverDuid = await serverDuidFor(config, store);
  const counters = new Counters();
  let stopping = false;
  const fail = (e: unknown) => {
    if (stopping) return;
    log.fatal({ err: e }, 'lease store write failed; stopping so the supervisor restarts from what is on disk');
    process.exit(70);
  };
  let engine = createEngine(config, serverDuid);
  const packetPath = new PacketPath(engine, {
    store,
    policy: standalonePolicy,
    counters,
    log,
    nowSec,
    onStoreFailure: fail,
  });
  const openSockets = () =>
    openDhcpSockets({ interfaces: config.interfaces, port: config.port }, (d) => packetPath.onDatagram(d), (e) =>
      log.error({ err: e }, 'socket error'),
    );
  let sockets: DhcpSockets = await openSockets();

  let reclaiming = false;
  const reclaimTimer = setInterval(() => {
    if (reclaiming || stopping) return;
    const changes = engine.reclaim({ nowSec: nowSec(), view: store, policy: standalonePolicy }, RECLAIM_BATCH_MAX);
    if (changes.length === 0) return;
    reclaiming = true;
    store
      .apply(changes)
      .then(() => counters.add('leases.reclaimed', changes.length))
      .catch(fail)
      .finally(() => (reclaiming = false));
  }, RECLAIM_INTERVAL_MS);

  const reload = async () => {
    try {
      const next = await loadConfigFile(configFile);
      const interfacesChanged = next.interfaces.join() !== config.interfaces.join() || next.port !== config.port;
      config = next;
      engine = createEngine(config, serverDuid);
      packetPath.setEngine(engine);
      log.level = config.logLevel;
      if (interfacesChanged) {
        await sockets.close();
        sockets = await openSockets();
      }
      counters.add('config.reloads');
      log.info({ interfaces: config.interfaces, subnets: config.subnets.length }, 'configuration reloaded');
    } catch (e) {
      counters.add('config.rejected');
      log.error({ err: e instanceof Error ? e.message : e }, 'new configuration refused; still serving the old one');
    }
  };

  const control = await serveControl(
    path.join(stateDir, CONTROL_SOCKET_NAME),
    controlCommands({ store, counters, config: () => config, serverDuid: duidToHex(serverDuid), startedMs, bound: () => sockets.bound }),
  );

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    clearInterval(reclaimTimer);
    await sockets.close();
    control.close();
    // Replies still waiting for their commit are written before the database closes.
    await store.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => void reload());

  log.info(
    {
      serverDuid: duidToHex(serverDuid),
      leases: store.size,
      bound: sockets.bound,
      startupMs: Date.now() - startedMs,
    },
    'serving',
  );
}

async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, ['config', 'state-dir', 'check-config'], ['help', 'version']);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.flags.has('help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const check = args.flags.get('check-config');
  if (typeof check === 'string') return checkConfig(check);
  const configFile = args.flags.get('config');
  const stateDir = args.flags.get('state-dir');
  if (typeof configFile !== 'string' || typeof stateDir !== 'string') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  try {
    await run(configFile, stateDir);
    return -1; // keep running
  } catch (e) {
    process.stderr.write(`twin6d: ${e instanceof ConfigError ? e.message : e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code);
});

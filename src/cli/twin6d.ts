#!/usr/bin/env node
// twin6d — the DHCPv6 server daemon. Parses the command line, starts the
// daemon with the real clock, starts the features its config asks for, and
// ties signals to reload and shutdown.

import { performance } from 'node:perf_hooks';
import { loadConfigFile } from '../config/index.js';
import { Daemon } from '../daemon/daemon.js';
import { systemClockStepper, TimeSync } from '../daemon/time-sync.js';
import { FailoverEndpoint } from '../failover/endpoint.js';
import { recoverTrialAtStart, startManagement } from '../mgmt/index.js';
import { parseArgs } from './args.js';
import { startFirmware } from '../firmware/index.js';
import { startCpe } from './cpe.js';

// Milliseconds since the process began when this module's body runs: node's own
// start plus loading every module twin6d imports. On a slow board that is most
// of the time to first Reply, so the serving line reports it apart.
const MODULES_LOADED_MS = performance.now();

const USAGE = `usage: twin6d --config FILE --state-dir DIR [--clock-floor-files FILE[,FILE...]] [--set-clock] [--slots FILE]
       twin6d --check-config FILE`;

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

interface RunOptions {
  readonly floorFiles: readonly string[];
  readonly setClock: boolean;
  /** The image's boot slots (/etc/twin6-slots.json): firmware upgrades are on. */
  readonly slotsFile?: string;
}

async function run(configFile: string, stateDir: string, { floorFiles, setClock, slotsFile }: RunOptions): Promise<void> {
  const runFromMs = performance.now();
  // A pushed config still on trial when the process ended was never confirmed: the previous file goes back first.
  const recovered = await recoverTrialAtStart(configFile, stateDir);
  const daemon = await Daemon.start(configFile, stateDir, { floorFiles });
  // The time first: a clock behind its floor is what NTP (or the partner) puts right.
  new TimeSync(daemon, setClock ? { step: systemClockStepper } : {}).start();
  // Management first: it reports a clock behind its floor while twin6d waits for it.
  const management = startManagement(daemon, recovered); // management commands; the MQTT uplink when config.mqtt is set
  // Before the wait for the clock: a trial boot's deadline runs from power-on, whatever the clock says.
  // A device whose slots cannot be read still serves: only its upgrades are off (a trial's
  // last resort is then the trial guard, which needs nothing from twin6d).
  if (slotsFile) {
    await startFirmware(daemon, slotsFile, {
      uplinkConnected: () => (daemon.config.mqtt ? (management.uplink?.stats().connected ?? false) : undefined),
    }).catch((e: unknown) =>
      daemon.log.error(
        { code: 'FIRMWARE_UNAVAILABLE', slots: slotsFile, err: e },
        'firmware: the boot slots cannot be used: upgrades are off',
      ),
    );
  }
  // docs/image.md §12: failover stamps its state and every message with the time, and the
  // partner refuses a clock 5 s off; nothing of it starts on a clock known to be wrong.
  const waitFromMs = performance.now();
  await daemon.clockTrustworthy();
  const clockWaitMs = Math.round(performance.now() - waitFromMs);
  // Until its endpoint has decided, a failover server answers nobody.
  const failover = daemon.config.failover ? await FailoverEndpoint.start(daemon, daemon.config.failover) : undefined;
  // Router advertisements and PD routes when configured; in a pair they follow the serving partner.
  const servingAtStart = failover ? failover.serving : true;
  const cpe = await startCpe(daemon, { serving: servingAtStart });
  failover?.on('serving', (serving) => cpe.setServing(serving));
  const decided = failover?.serving;
  if (decided !== undefined && decided !== servingAtStart) cpe.setServing(decided); // decided while starting
  daemon.markStarted(); // every command is registered: the control socket stops waiting for them
  const { log } = daemon;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ code: 'DAEMON_STOPPING', signal }, 'stopping');
    await daemon.stop();
    log.info({ code: 'DAEMON_STOPPED' }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => void daemon.reload());
  log.info(
    {
      code: 'DAEMON_STARTED',
      serverDuid: Buffer.from(daemon.serverDuid).toString('hex'),
      leases: daemon.store.size,
      bound: daemon.bound,
      // Monotonic, without the wait for the clock: the wall clock may have been set meanwhile.
      startupMs: Math.round(performance.now() - runFromMs - clockWaitMs),
      modulesLoadedMs: Math.round(MODULES_LOADED_MS),
      processMs: Math.round(performance.now()),
      clockWaitMs,
    },
    'serving',
  );
}

async function main(argv: readonly string[]): Promise<number | undefined> {
  let args;
  try {
    args = parseArgs(argv, ['config', 'state-dir', 'check-config', 'clock-floor-files', 'slots'], ['help', 'set-clock']);
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
  const floorFiles = args.flags.get('clock-floor-files');
  try {
    const slotsFile = args.flags.get('slots');
    await run(configFile, stateDir, {
      floorFiles: typeof floorFiles === 'string' ? floorFiles.split(',') : [],
      setClock: args.flags.has('set-clock'),
      ...(typeof slotsFile === 'string' ? { slotsFile } : {}),
    });
    return undefined; // serving until a signal
  } catch (e) {
    process.stderr.write(`twin6d: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exit(code);
});

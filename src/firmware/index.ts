// Firmware for twin6d: the upgrade service where the image has boot slots
// (twin6d --slots /etc/twin6-slots.json), its two commands in the daemon's
// table (so twin6ctl on the box and the fleet over MQTT run the same), and
// the health a trial must show before it commits.

import type { ManagementHost } from '../daemon/host.js';
import { CommandError } from '../mgmt/commands.js';
import { failoverStatus } from '../mgmt/handlers.js';
import { loadSlotLayout } from './layout.js';
import { FirmwareService, UpgradeRefused, type Health } from './service.js';

export { FirmwareService, type FirmwareStatus } from './service.js';

export interface FirmwareHostExtras {
  /** Whether the MQTT uplink is connected now; undefined when none is configured. */
  readonly uplinkConnected: () => boolean | undefined;
}

/**
 * Healthy: serving (a DHCP socket bound, the clock trusted); in a pair, the
 * failover state NORMAL; with an uplink, connected. What a trial must show,
 * and what the fleet would call "working".
 */
export async function applianceHealth(d: ManagementHost, extras: FirmwareHostExtras): Promise<Health> {
  const missing: string[] = [];
  if (d.bound.length === 0) missing.push('a bound DHCP socket');
  if (!d.clockStatus().trusted) missing.push('a trusted clock');
  if (d.config.failover) {
    const f = await failoverStatus(d);
    if (f.state !== 'NORMAL') missing.push(`failover NORMAL (now ${f.state})`);
  }
  if (extras.uplinkConnected() === false) missing.push('the MQTT uplink');
  return { healthy: missing.length === 0, waitingFor: missing.join(', ') };
}

export async function startFirmware(d: ManagementHost, slotsFile: string, extras: FirmwareHostExtras): Promise<FirmwareService> {
  const layout = await loadSlotLayout(slotsFile);
  const service = new FirmwareService({
    layout,
    stateDir: d.stateDir,
    log: d.log,
    policy: () => {
      const f = d.config.firmware;
      return {
        trialSec: f.trialSec,
        healthySec: f.healthySec,
        maxBytes: f.maxMiB * 2 ** 20,
        reserveBytes: f.reserveMiB * 2 ** 20,
        downloadMs: f.downloadSec * 1000,
        ...(f.caFile ? { caFile: f.caFile } : {}),
      };
    },
    health: () => applianceHealth(d, extras),
  });
  await service.start();
  d.registerCommand('firmware.status', () => service.status());
  d.registerCommand('firmware.upgrade', async (args) => {
    try {
      return await service.upgrade({
        url: String(args['url']),
        sha256: String(args['sha256']),
        size: Number(args['size']),
        version: String(args['version']),
        ...(args['stage'] === true ? { stage: true } : {}),
      });
    } catch (e) {
      if (e instanceof UpgradeRefused) throw new CommandError(e.code, e.message);
      throw e;
    }
  });
  d.registerCommand('firmware.cancel', async () => {
    try {
      return await service.cancel();
    } catch (e) {
      if (e instanceof UpgradeRefused) throw new CommandError(e.code, e.message);
      throw e;
    }
  });
  d.onStop(async () => service.stop());
  return service;
}

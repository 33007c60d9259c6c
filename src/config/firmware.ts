// The `firmware` section: how this device takes a firmware upgrade into its
// inactive boot slot (src/firmware/service.ts, docs/config.md#firmware,
// docs/fleet.md §8). Where the slots are is the image's fact
// (/etc/twin6-slots.json), not this file's; this section is policy only.

import { integer, object, optional, textOf, type Issues } from './schema.js';
import { parsePemPath } from './mqtt.js';
import type { FirmwareConfig } from './types.js';

export const FIRMWARE_LIMITS = {
  trialSec: [30, 3600],
  healthySec: [5, 600],
  maxMiB: [16, 4096],
  reserveMiB: [4, 1024],
  downloadSec: [60, 86_400],
} as const;

export const firmwareShape = object({
  trialSec: optional(integer(...FIRMWARE_LIMITS.trialSec)),
  healthySec: optional(integer(...FIRMWARE_LIMITS.healthySec)),
  maxMiB: optional(integer(...FIRMWARE_LIMITS.maxMiB)),
  reserveMiB: optional(integer(...FIRMWARE_LIMITS.reserveMiB)),
  downloadSec: optional(integer(...FIRMWARE_LIMITS.downloadSec)),
  caFile: optional(textOf('a PEM file path', parsePemPath)),
});

type FirmwareInput = NonNullable<ReturnType<typeof firmwareShape>>;

export const FIRMWARE_CONFIG_DEFAULTS: FirmwareConfig = { trialSec: 300, healthySec: 30, maxMiB: 256, reserveMiB: 16, downloadSec: 3600 };

/** Always present (defaults when the file has no section): every device with slots can be upgraded. */
export function resolveFirmware(input: FirmwareInput | undefined, path: string, issues: Issues): { firmware: FirmwareConfig } {
  const f = { ...FIRMWARE_CONFIG_DEFAULTS, ...(input ?? {}) } as FirmwareConfig;
  if (f.healthySec >= f.trialSec) {
    issues.report(
      `${path}.healthySec`,
      `must be shorter than trialSec (${f.trialSec}): a trial must be able to commit before its deadline`,
    );
  }
  return { firmware: f };
}

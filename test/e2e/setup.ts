// Shared by the appliance tests: whether QEMU appliances can run here, and
// the image (built by scripts/build-image, which returns at once when its
// inputs did not change). Without root or QEMU the tests skip and print why;
// with T6_LAB_REQUIRED=1 (CI) that is a failure instead.

import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { applianceUnavailableReason, loadImage, type ApplianceImage } from '../../src/testing/lab/appliance.js';
import { labRequired, missingBinaries, skipUnlessRequired } from '../../src/testing/lab/prereq.js';

export const REQUIRED = labRequired();

/** `binaries`: what this test needs beyond QEMU and the image tools (clients, openssl, …). */
export async function applianceSkipReason(file: string, binaries: readonly string[] = []): Promise<string | undefined> {
  const missing = await missingBinaries(binaries);
  const reason = (await applianceUnavailableReason()) ?? (missing.length > 0 ? `missing binaries: ${missing.join(', ')} (scripts/setup-debian installs them)` : undefined);
  skipUnlessRequired(reason, REQUIRED, 'appliance VMs');
  if (reason) console.warn(`[${file}] skipping: ${reason}`);
  return reason;
}

/** Builds (or finds up to date) the image; `tag` makes a distinct image in its own directory. */
export function buildImage(tag?: string): ApplianceImage {
  const out = resolve('.build', tag ? `qemu-x86_64-${tag}` : 'qemu-x86_64');
  execFileSync('bash', ['scripts/build-image', '--out', out, ...(tag ? ['--tag', tag] : [])], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 10 * 60_000,
  });
  return loadImage('qemu-x86_64', out);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

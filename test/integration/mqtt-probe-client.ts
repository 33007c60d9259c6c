// The test side of mqtt-probe.mjs, shared by the MQTT suites: a watcher that
// records every message on a filter, and a one-shot publish, each as a given
// client certificate (an identity the broker's ACL knows), run in the lab's
// server namespace where the broker is.

import { resolve } from 'node:path';
import { LAB_OPERATOR, type FleetLab, type LabProcess } from '../../src/testing/lab/index.js';

const PROBE = resolve('test/integration/mqtt-probe.mjs');

export interface Seen {
  t: number;
  topic?: string;
  retain?: boolean;
  payload?: string;
  connected?: boolean;
}

export function probeArgs(fl: FleetLab, cn: string): string[] {
  const id = fl.pki.identity(cn);
  return ['--broker', `mqtts://[::1]:${fl.port}`, '--ca', fl.pki.ca, '--cert', id.cert, '--key', id.key];
}

export function watch(fl: FleetLab, filter: string, cn = LAB_OPERATOR): { proc: LabProcess; seen: () => Seen[] } {
  const proc = fl.broker.ns.spawn(`watch-${Math.random().toString(16).slice(2, 8)}`, [
    process.execPath,
    PROBE,
    'watch',
    ...probeArgs(fl, cn),
    '--filter',
    filter,
  ]);
  return {
    proc,
    seen: () =>
      proc
        .log()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Seen),
  };
}

export async function publishAs(
  fl: FleetLab,
  cn: string,
  topic: string,
  payload: string,
  retain = false,
): Promise<{ ok: boolean; reasonCode?: number; error?: string }> {
  const r = await fl.broker.ns.exec([
    process.execPath,
    PROBE,
    'publish',
    ...probeArgs(fl, cn),
    '--topic',
    topic,
    '--payload',
    payload,
    ...(retain ? ['--retain'] : []),
  ]);
  return JSON.parse(r.stdout.trim()) as { ok: boolean; reasonCode?: number; error?: string };
}

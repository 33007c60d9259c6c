// twin6ctl fleet upgrade and upgrade-pair (docs/fleet.md §8.3): firmware
// upgrades as an operator runs them, on top of the signed firmware.upgrade
// command and the state documents the devices retain. One device: send,
// follow its progress, wait for the outcome its next image reports. A
// failover pair, one partner at a time, the secondary first: stage the
// bundle on it (download and checks), hand its clients to the other
// (failover.maintenance), write and reboot, wait until the pair is NORMAL
// again on the new version, then the primary. A partner that does not commit
// stops the rollout: the other is never touched, and the pair is left on
// the old version in NORMAL.

import { createHash, type KeyObject } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { bundleHeaderLength, decodeBundleHeader } from '../firmware/bundle.js';
import type { FirmwareStatus, LastUpgrade, ResponseDoc, StateDoc, UpgradeRequest } from '../mgmt/documents.js';
import type { FleetClient } from '../mgmt/requester.js';
import { argsHash, newNonce, signCommand } from '../mgmt/signature.js';
import { deviceTopics } from '../mgmt/topics.js';

/** Signatures made here are valid this long: enough for a slow link, short enough to be useless later. */
export const SIGNATURE_TTL_SEC = 60;

export interface Signer {
  readonly key: KeyObject;
  readonly actor: string;
}

/** A request body signed for one device, one command and these exact args. */
export function signedBody(device: string, cmd: string, args: Record<string, unknown>, signer: Signer) {
  const iat = Math.floor(Date.now() / 1000);
  const auth = signCommand(signer.key, {
    sub: device,
    cmd,
    argsHash: argsHash(args),
    iat,
    exp: iat + SIGNATURE_TTL_SEC,
    nonce: newNonce(),
    actor: signer.actor,
  });
  return { v: 1 as const, args, auth };
}

/** The firmware.upgrade arguments for a bundle file on the operator's side, served at `url`. */
export async function bundleRequest(file: string, url: string): Promise<UpgradeRequest> {
  const fh = await open(file, 'r');
  try {
    const prefix = Buffer.alloc(16);
    await fh.read(prefix, 0, 16, 0);
    const len = bundleHeaderLength(prefix);
    if (typeof len !== 'number') throw new Error(`${file}: not a twin6 bundle: ${len.problem}`);
    const head = Buffer.alloc(len);
    await fh.read(head, 0, len, 0);
    const h = decodeBundleHeader(head);
    if ('problem' in h) throw new Error(`${file}: not a twin6 bundle: ${h.problem}`);
    const hash = createHash('sha256');
    for await (const chunk of fh.createReadStream({ start: 0, autoClose: false })) hash.update(chunk as Buffer);
    return { url, sha256: hash.digest('hex'), size: (await stat(file)).size, version: h.manifest.version };
  } finally {
    await fh.close();
  }
}

export class RolloutError extends Error {}

/** Each device's latest state document as the broker delivers them. */
export class StateWatch {
  private readonly latest = new Map<string, StateDoc | { online: false }>();
  private waiters = new Set<() => void>();
  private stop: (() => Promise<void>) | undefined;

  private constructor(private readonly fleet: FleetClient) {}

  static async start(fleet: FleetClient, devices: readonly string[]): Promise<StateWatch> {
    const w = new StateWatch(fleet);
    const stops = await Promise.all(
      devices.map((d) =>
        fleet.watch(deviceTopics(fleet.opts.prefix, d).state, (_t, payload) => {
          try {
            w.latest.set(d, JSON.parse(payload.toString('utf8')) as StateDoc);
          } catch {
            return;
          }
          for (const f of w.waiters) f();
        }),
      ),
    );
    w.stop = async () => void (await Promise.all(stops.map((s) => s())));
    return w;
  }

  state(device: string): StateDoc | undefined {
    const s = this.latest.get(device);
    return s && s.online ? (s as StateDoc) : undefined;
  }

  /** Resolves with pred's answer once it has one, from the documents as they arrive. */
  until<T>(pred: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = pred();
        if (v === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new RolloutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    this.waiters.clear();
    await this.stop?.();
  }
}

export interface UpgradeOptions {
  readonly signer: Signer;
  /** For the whole upgrade of one device: download, write, reboot, trial. */
  readonly timeoutMs: number;
  /** Progress for people, one line each. */
  readonly say: (line: string) => void;
}

async function request(fleet: FleetClient, device: string, cmd: string, body: ReturnType<typeof signedBody>): Promise<ResponseDoc> {
  return fleet.request(device, cmd, body, { timeoutMs: 30_000 });
}

function refused(device: string, cmd: string, r: ResponseDoc): RolloutError {
  return new RolloutError(`${device}: ${cmd}: ${r.ok ? r.code : `${r.code}: ${r.error}`}`);
}

/** Sends firmware.upgrade and follows it to its outcome, as the device (old image or new) reports it. */
export async function upgradeDevice(
  fleet: FleetClient,
  watch: StateWatch,
  device: string,
  req: UpgradeRequest,
  opts: UpgradeOptions,
): Promise<{ last: LastUpgrade; firmware: FirmwareStatus; ms: number }> {
  const t0 = Date.now();
  const r = await request(fleet, device, 'firmware.upgrade', signedBody(device, 'firmware.upgrade', { ...req }, opts.signer));
  if (!r.ok) throw refused(device, 'firmware.upgrade', r);
  const requestId = (r.data as { requestId: string }).requestId;
  opts.say(`${device}: upgrade to ${req.version} accepted (${requestId})`);
  let shown = '';
  const last = await watch.until(
    () => {
      const f = watch.state(device)?.firmware;
      const u = f?.upgrade;
      if (u && u.requestId === requestId && shown !== 'trial') {
        const step = `${u.phase} ${u.total > 0 ? Math.floor((10 * u.bytes) / u.total) * 10 : 0}%`;
        if (step !== shown)
          opts.say(
            `${device}: ${u.phase}${u.phase === 'download' ? ` ${Math.round(u.bytes / 2 ** 20)}/${Math.round(u.total / 2 ** 20)} MiB` : ''}`,
          );
        shown = step;
      }
      if (f?.trial && shown !== 'trial') {
        opts.say(`${device}: running ${f.version} on trial (waiting for ${f.trial.waitingFor || 'nothing'})`);
        shown = 'trial';
      }
      return f?.last?.requestId === requestId ? f.last : undefined;
    },
    opts.timeoutMs,
    `${device} to report the outcome of upgrade ${requestId}`,
  );
  const firmware = watch.state(device)!.firmware!;
  opts.say(`${device}: ${last.outcome}${last.reason ? ` (${last.reason})` : ''}; running ${firmware.version} from slot ${firmware.slot}`);
  return { last, firmware, ms: Date.now() - t0 };
}

/** Both partners online, in NORMAL, in the roles named. */
function pairNormal(watch: StateWatch, primary: string, secondary: string): true | undefined {
  const p = watch.state(primary);
  const s = watch.state(secondary);
  return p?.failover.state === 'NORMAL' && s?.failover.state === 'NORMAL' && p.role === 'primary' && s.role === 'secondary'
    ? true
    : undefined;
}

/** failover.maintenance, both steps: the preview's token, then the act. */
async function maintenance(fleet: FleetClient, device: string, action: 'start' | 'cancel', signer: Signer): Promise<void> {
  const first = await request(fleet, device, 'failover.maintenance', signedBody(device, 'failover.maintenance', { action }, signer));
  if (!first.ok || first.code !== 'CONFIRM_REQUIRED') throw refused(device, `failover.maintenance ${action}`, first);
  const token = (first.data as { confirmToken: string }).confirmToken;
  const args = { action, confirmToken: token };
  const second = await request(fleet, device, 'failover.maintenance', signedBody(device, 'failover.maintenance', args, signer));
  if (!second.ok) throw refused(device, `failover.maintenance ${action}`, second);
}

export interface PairStep {
  readonly device: string;
  readonly outcome: LastUpgrade['outcome'] | 'skipped';
  readonly version: string;
  readonly ms: number;
}

/**
 * The rolling upgrade of a pair: the secondary, then the primary. Throws
 * RolloutError when a step fails, after leaving the pair in NORMAL where it can.
 */
export async function upgradePair(
  fleet: FleetClient,
  primary: string,
  secondary: string,
  req: UpgradeRequest,
  opts: UpgradeOptions & { readonly normalTimeoutMs: number },
): Promise<PairStep[]> {
  const watch = await StateWatch.start(fleet, [primary, secondary]);
  const steps: PairStep[] = [];
  try {
    await watch.until(() => pairNormal(watch, primary, secondary), 10_000, `${primary} and ${secondary} online and in NORMAL`);
    for (const [d, role] of [
      [primary, 'primary'],
      [secondary, 'secondary'],
    ] as const) {
      const s = watch.state(d)!;
      if (s.role !== role) throw new RolloutError(`${d} is the ${s.role}, not the ${role}`);
      if (!s.firmware) throw new RolloutError(`${d} has no boot slots: it cannot be upgraded in place`);
      if (s.firmware.state !== 'committed')
        throw new RolloutError(`${d} runs slot ${s.firmware.slot} ${s.firmware.state}: wait for it to settle`);
    }
    for (const d of [secondary, primary]) {
      const t0 = Date.now();
      if (watch.state(d)!.firmware!.version === req.version) {
        opts.say(`${d}: already runs ${req.version}`);
        steps.push({ device: d, outcome: 'skipped', version: req.version, ms: 0 });
        continue;
      }
      const other = d === primary ? secondary : primary;
      // Awaited where it is thrown (`throw await stopped(…)`): returned unawaited
      // from inside the try, the finally below would close the watch under it.
      const stopped = async (outcome: PairStep['outcome'], why: string): Promise<RolloutError> => {
        steps.push({ device: d, outcome, version: watch.state(d)?.firmware?.version ?? '?', ms: Date.now() - t0 });
        const normal = await watch
          .until(() => pairNormal(watch, primary, secondary), opts.normalTimeoutMs, 'the pair back in NORMAL')
          .then(
            () => true,
            () => false,
          );
        opts.say(
          `${primary} and ${secondary}: ${normal ? 'NORMAL' : `not back in NORMAL after ${Math.round(opts.normalTimeoutMs / 1000)} s`}`,
        );
        return new RolloutError(`${d}: ${why}: rollout stopped; ${other} was not touched`);
      };
      // The download and its checks first, while the pair serves as usual: the
      // partner then serves alone only for the write and the reboot, not for
      // minutes of download (long enough, with failover.autoPartnerDownSec, to
      // reach PARTNER-DOWN, from which the rebooted partner would wait out MCLT).
      opts.say(`${d}: staging ${req.version}`);
      const staged = await upgradeDevice(fleet, watch, d, { ...req, stage: true }, opts);
      if (staged.last.outcome !== 'staged')
        throw await stopped(staged.last.outcome, `${staged.last.outcome}${staged.last.reason ? ` (${staged.last.reason})` : ''}`);
      opts.say(`${d}: handing its clients to ${other} (failover.maintenance start)`);
      let rebooted = false;
      let result;
      try {
        await maintenance(fleet, d, 'start', opts.signer);
        await watch.until(
          () => (['COMMUNICATIONS-INTERRUPTED', 'PARTNER-DOWN'].includes(watch.state(other)?.failover.state ?? '') ? true : undefined),
          60_000,
          `${other} to serve alone (COMMUNICATIONS-INTERRUPTED)`,
        );
        result = await upgradeDevice(fleet, watch, d, req, {
          ...opts,
          say: (line) => {
            if (line.includes('on trial')) rebooted = true;
            opts.say(line);
          },
        });
      } catch (e) {
        // Anything before the reboot: the device is still in maintenance; give it its clients back.
        if (!rebooted) await maintenance(fleet, d, 'cancel', opts.signer).catch(() => undefined);
        throw e;
      }
      if (result.last.outcome !== 'committed') {
        // Before the reboot (refused, failed): still in maintenance. After it (rolled back): back through STARTUP.
        if (result.last.outcome === 'refused' || result.last.outcome === 'failed')
          await maintenance(fleet, d, 'cancel', opts.signer).catch(() => undefined);
        throw await stopped(result.last.outcome, `${result.last.outcome}${result.last.reason ? ` (${result.last.reason})` : ''}`);
      }
      steps.push({ device: d, outcome: result.last.outcome, version: result.firmware.version, ms: Date.now() - t0 });
      await watch.until(() => pairNormal(watch, primary, secondary), opts.normalTimeoutMs, 'the pair back in NORMAL');
      opts.say(`${primary} and ${secondary}: NORMAL`);
    }
    return steps;
  } finally {
    await watch.close();
  }
}

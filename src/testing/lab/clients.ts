// Real DHCPv6 clients (ISC dhclient, dhcpcd) inside a client namespace.
//
// Neither client may touch the host: each gets its own script in place of
// dhclient-script / dhcpcd-run-hooks (the script only records its environment
// into the lab directory), its own config, lease, pid and DUID files. dhcpcd
// has its run and db directories compiled in (/run/dhcpcd, /var/lib/dhcpcd),
// so it runs in a private mount namespace with lab directories bind-mounted
// over those paths.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Namespace } from './netns.js';
import { LabProcess, poll, run, tail } from './proc.js';

export type ClientKind = 'dhclient' | 'dhcpcd';

export interface ClientSpec {
  readonly kind: ClientKind;
  /** Unique within a lab; names the client's directory and log. Default: kind, or kind-N when repeated. */
  readonly name?: string;
  /** Request an IA_NA (default true). */
  readonly address?: boolean;
  /** Request an IA_PD with this length as hint (default 56); false for none. */
  readonly prefixLength?: number | false;
  /** Extra command-line arguments, appended before the interface name. */
  readonly extraArgs?: readonly string[];
  /**
   * dhcpcd only. 'forced' (default): DHCPv6 straight from the configured IAs,
   * no router solicitation. 'stock': dhcpcd's own IPv6 behaviour — solicit a
   * router, SLAAC, and DHCPv6 only as the RA's M and O flags say (no IAs configured).
   */
  readonly dhcpcdMode?: 'forced' | 'stock';
  /** dhcpcd only, forced mode: solicit routers too (a requesting router wants the default route). */
  readonly routerSolicitation?: boolean;
  /** dhcpcd only: number this interface from the delegated prefix (ia_pd … <if>/0/64). */
  readonly delegateTo?: string;
}

export interface IaAddress {
  readonly address: string;
  readonly prefixLength: number;
  readonly preferredLifetime: number;
  readonly validLifetime: number;
  readonly iaid?: string;
}

export interface IaPrefix {
  readonly prefix: string;
  readonly length: number;
  readonly preferredLifetime: number;
  readonly validLifetime: number;
  readonly iaid?: string;
}

export interface Binding {
  readonly addresses: readonly IaAddress[];
  readonly prefixes: readonly IaPrefix[];
}

export type ClientEventKind = 'bound' | 'renew' | 'rebind' | 'release' | 'expire' | 'stop' | 'other';

export interface ClientEvent {
  /** Wall-clock ms when the script ran. */
  readonly at: number;
  /** The client's own reason string (BOUND6, RENEW6, RELEASE6, ...). */
  readonly reason: string;
  readonly kind: ClientEventKind;
  /** What the event brings (new_*) and what it replaces or gives up (old_*). */
  readonly new: Binding;
  readonly old: Binding;
  readonly env: Readonly<Record<string, string>>;
}

export interface RenewalResult {
  readonly events: readonly ClientEvent[];
  readonly binding: Binding;
}

const REASONS: Record<string, ClientEventKind> = {
  BOUND6: 'bound',
  REBOOT6: 'bound',
  RENEW6: 'renew',
  REBIND6: 'rebind',
  RELEASE6: 'release',
  EXPIRE6: 'expire',
  STOP6: 'stop',
  STOPPED: 'stop',
};

const SCRIPT_PATH = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Replaces the clients' system hooks. It never configures anything: dhcpcd
 * adds addresses itself, dhclient expects the script to (which the lab does
 * not need). Each event lands in its own file, written then renamed, so a
 * reader never sees half an event.
 */
function recorderScript(eventsDir: string): string {
  return [
    '#!/bin/sh',
    '# twin6 lab: record the lease environment; touch nothing on the system.',
    SCRIPT_PATH,
    `d='${eventsDir.replace(/'/g, `'\\''`)}'`,
    'n=$(date +%s%N)',
    'env -0 > "$d/.tmp.$n.$$" && mv "$d/.tmp.$n.$$" "$d/$n.$$.env"',
    'exit 0',
    '',
  ].join('\n');
}

function num(v: string | undefined): number {
  return v === undefined || v === '' ? NaN : Number(v);
}

function splitPrefix(p: string): { prefix: string; length: number } {
  const [prefix = '', len] = p.split('/');
  return { prefix, length: num(len) };
}

/** dhclient calls its script once per address or prefix, with new_/old_ single values. */
function dhclientBinding(env: Record<string, string>, side: 'new' | 'old'): Binding {
  const addresses: IaAddress[] = [];
  const prefixes: IaPrefix[] = [];
  const a = env[`${side}_ip6_address`];
  const p = env[`${side}_ip6_prefix`];
  const common = {
    preferredLifetime: num(env[`${side}_preferred_life`]),
    validLifetime: num(env[`${side}_max_life`]),
    ...(env[`${side}_iaid`] !== undefined ? { iaid: env[`${side}_iaid`] } : {}),
  };
  if (a) addresses.push({ address: a, prefixLength: num(env[`${side}_ip6_prefixlen`]), ...common });
  if (p) prefixes.push({ ...splitPrefix(p), ...common });
  return { addresses, prefixes };
}

/** dhcpcd hands over every IA at once: <side>_dhcp6_ia_na<N>_ia_addr<M>[_pltime|_vltime], ..._ia_pd<N>_prefix<M>[_length|...]. */
function dhcpcdBinding(env: Record<string, string>, side: 'new' | 'old'): Binding {
  const addresses: IaAddress[] = [];
  const prefixes: IaPrefix[] = [];
  const na = new RegExp(`^${side}_dhcp6_ia_na(\\d+)_ia_addr(\\d+)$`);
  const pd = new RegExp(`^${side}_dhcp6_ia_pd(\\d+)_prefix(\\d+)$`);
  for (const [k, v] of Object.entries(env)) {
    const m = na.exec(k);
    if (m) {
      const iaid = env[`${side}_dhcp6_ia_na${m[1]}_iaid`];
      addresses.push({
        address: v,
        prefixLength: 128,
        preferredLifetime: num(env[`${k}_pltime`]),
        validLifetime: num(env[`${k}_vltime`]),
        ...(iaid !== undefined ? { iaid } : {}),
      });
    }
    const n = pd.exec(k);
    if (n) {
      const iaid = env[`${side}_dhcp6_ia_pd${n[1]}_iaid`];
      prefixes.push({
        prefix: v,
        length: num(env[`${k}_length`]),
        preferredLifetime: num(env[`${k}_pltime`]),
        validLifetime: num(env[`${k}_vltime`]),
        ...(iaid !== undefined ? { iaid } : {}),
      });
    }
  }
  return { addresses, prefixes };
}

/** A DUID from a client's script environment as bare hex: dhcpcd prints it so, dhclient with colons and without leading zeros (0:1:0:1:…). */
export function duidHex(s: string | undefined): string {
  const t = (s ?? '').toLowerCase();
  return t.includes(':')
    ? t
        .split(':')
        .map((b) => b.padStart(2, '0'))
        .join('')
    : t;
}

export function parseEventFile(kind: ClientKind, file: string, content: string): ClientEvent {
  const env: Record<string, string> = {};
  for (const entry of content.split('\0')) {
    const i = entry.indexOf('=');
    if (i > 0) env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  const stamp = /^(\d+)\./.exec(file)?.[1] ?? '0';
  const reason = env['reason'] ?? '';
  const side = kind === 'dhclient' ? dhclientBinding : dhcpcdBinding;
  return {
    at: Number(BigInt(stamp) / 1_000_000n),
    reason,
    kind: REASONS[reason] ?? 'other',
    new: side(env, 'new'),
    old: side(env, 'old'),
    env,
  };
}

const sameAddress = (a: IaAddress, b: IaAddress): boolean => a.address === b.address;
const samePrefix = (a: IaPrefix, b: IaPrefix): boolean => a.prefix === b.prefix && a.length === b.length;

/**
 * Folds events into what the client holds now. Works for both clients:
 * dhclient reports one element per event, dhcpcd all of them, and in both the
 * old_ side names what the new_ side replaces.
 */
export function foldBinding(events: readonly ClientEvent[]): Binding {
  let addresses: IaAddress[] = [];
  let prefixes: IaPrefix[] = [];
  for (const e of events) {
    if (e.kind === 'bound' || e.kind === 'renew' || e.kind === 'rebind') {
      addresses = addresses.filter(
        (a) => !e.old.addresses.some((o) => sameAddress(a, o)) || e.new.addresses.some((n) => sameAddress(a, n)),
      );
      prefixes = prefixes.filter((p) => !e.old.prefixes.some((o) => samePrefix(p, o)) || e.new.prefixes.some((n) => samePrefix(p, n)));
      for (const n of e.new.addresses) addresses = [...addresses.filter((a) => !sameAddress(a, n)), n];
      for (const n of e.new.prefixes) prefixes = [...prefixes.filter((p) => !samePrefix(p, n)), n];
    } else if (e.kind === 'release' || e.kind === 'expire' || e.kind === 'stop') {
      const gone = e.old.addresses.length + e.old.prefixes.length > 0 ? e.old : e.new;
      addresses = addresses.filter((a) => !gone.addresses.some((o) => sameAddress(a, o)));
      prefixes = prefixes.filter((p) => !gone.prefixes.some((o) => samePrefix(p, o)));
      if (e.reason === 'STOPPED') {
        // dhcpcd's last word: the interface is deconfigured, whatever it held.
        addresses = [];
        prefixes = [];
      }
    }
  }
  return { addresses, prefixes };
}

export interface WaitOptions {
  readonly timeoutMs?: number;
}

export abstract class Dhcp6Client {
  abstract readonly kind: ClientKind;
  protected proc: LabProcess | undefined;
  readonly eventsDir: string;

  constructor(
    readonly name: string,
    readonly spec: ClientSpec,
    readonly ns: Namespace,
    readonly ifname: string,
    readonly dir: string,
  ) {
    this.eventsDir = join(dir, 'events');
    mkdirSync(this.eventsDir, { recursive: true });
  }

  get wantsAddress(): boolean {
    return this.spec.address ?? true;
  }

  get prefixHint(): number | undefined {
    const p = this.spec.prefixLength ?? 56;
    return p === false ? undefined : p;
  }

  get process(): LabProcess {
    if (!this.proc) throw new Error(`${this.name} not started`);
    return this.proc;
  }

  get logFile(): string {
    return join(this.dir, `${this.kind}.log`);
  }

  abstract start(): Promise<void>;

  /** Has the client send its Release the way an operator would (dhclient -r, dhcpcd -k). */
  protected abstract releaseCommand(): Promise<void>;

  events(): ClientEvent[] {
    if (!existsSync(this.eventsDir)) return [];
    return readdirSync(this.eventsDir)
      .filter((f) => f.endsWith('.env'))
      .sort()
      .map((f) => parseEventFile(this.kind, f, readFileSync(join(this.eventsDir, f), 'utf8')));
  }

  binding(): Binding {
    return foldBinding(this.events());
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  diagnostics(): string {
    const ev = this.events()
      .map((e) => `  ${new Date(e.at).toISOString()} ${e.reason} new=${JSON.stringify(e.new)} old=${JSON.stringify(e.old)}`)
      .join('\n');
    return `--- ${this.name} (${this.kind}) events:\n${ev}\n--- ${this.name} log (tail):\n${tail(this.log())}`;
  }

  private deadReason(): string | undefined {
    const s = this.proc?.exitStatus;
    return s ? `${this.name} exited (${s.code ?? s.signal})` : undefined;
  }

  /** Waits until the client holds what it asked for: an address and/or a delegated prefix. */
  async waitForBinding(opts: WaitOptions = {}): Promise<Binding> {
    return poll(
      () => {
        const b = this.binding();
        const ok = (!this.wantsAddress || b.addresses.length > 0) && (this.prefixHint === undefined || b.prefixes.length > 0);
        return ok ? b : undefined;
      },
      {
        timeoutMs: opts.timeoutMs ?? 30_000,
        intervalMs: 200,
        what: `${this.name} to bind`,
        detail: () => this.diagnostics(),
        abortIf: () => this.deadReason(),
      },
    );
  }

  /**
   * Waits until every address and prefix in `held` has been extended by a
   * Renew (or Rebind) reply after `since` (ms), i.e. the client kept them.
   */
  async waitForRenewal(held: Binding, since: number, opts: WaitOptions = {}): Promise<RenewalResult> {
    return poll(
      () => {
        const evs = this.events().filter((e) => e.at > since && (e.kind === 'renew' || e.kind === 'rebind'));
        const aOk = held.addresses.every((h) => evs.some((e) => e.new.addresses.some((n) => sameAddress(n, h))));
        const pOk = held.prefixes.every((h) => evs.some((e) => e.new.prefixes.some((n) => samePrefix(n, h))));
        return aOk && pOk && evs.length > 0 ? { events: evs, binding: this.binding() } : undefined;
      },
      {
        timeoutMs: opts.timeoutMs ?? 45_000,
        intervalMs: 250,
        what: `${this.name} to renew`,
        detail: () => this.diagnostics(),
        abortIf: () => this.deadReason(),
      },
    );
  }

  /** Releases everything held, waits for the client to exit, returns the release events. */
  async release(opts: WaitOptions = {}): Promise<ClientEvent[]> {
    const since = Date.now() - 1;
    const held = this.binding();
    await this.releaseCommand();
    const timeoutMs = opts.timeoutMs ?? 15_000;
    await poll(() => (this.proc?.running ? undefined : true), {
      timeoutMs,
      what: `${this.name} to exit after release`,
      detail: () => this.diagnostics(),
    });
    return poll(
      () => {
        const evs = this.events().filter((e) => e.at >= since && e.kind === 'release');
        const coversHeld = (x: Binding): boolean =>
          held.addresses.every((h) => x.addresses.some((a) => sameAddress(a, h))) &&
          held.prefixes.every((h) => x.prefixes.some((p) => samePrefix(p, h)));
        const released: Binding = {
          addresses: evs.flatMap((e) => [...e.old.addresses, ...e.new.addresses]),
          prefixes: evs.flatMap((e) => [...e.old.prefixes, ...e.new.prefixes]),
        };
        return evs.length > 0 && coversHeld(released) ? evs : undefined;
      },
      { timeoutMs, what: `${this.name} release events`, detail: () => this.diagnostics() },
    );
  }

  /** Ends the client without a Release (SIGTERM, then SIGKILL). Idempotent. */
  async stop(): Promise<void> {
    if (this.proc?.running) await this.proc.stop('SIGTERM', 5_000);
  }
}

/**
 * ISC dhclient 4.4. `-P` alone asks for a prefix only: it switches the
 * address request off, and `-N` turns it back on. -d keeps it in the
 * foreground so the pid we hold is the client's own.
 */
export class DhclientClient extends Dhcp6Client {
  readonly kind = 'dhclient' as const;

  private get files(): { script: string; conf: string; leases: string; pid: string } {
    return {
      script: join(this.dir, 'dhclient-record.sh'),
      conf: join(this.dir, 'dhclient.conf'),
      leases: join(this.dir, 'dhclient6.leases'),
      pid: join(this.dir, 'dhclient.pid'),
    };
  }

  /** Flags shared by the start and release invocations (the release reads the same lease file). */
  private commonArgs(): string[] {
    const f = this.files;
    const ia: string[] = [];
    if (this.wantsAddress) ia.push('-N');
    const hint = this.prefixHint;
    if (hint !== undefined) ia.push('-P', '--prefix-len-hint', String(hint));
    return ['-6', ...ia, '-v', '-sf', f.script, '-cf', f.conf, '-lf', f.leases, '-pf', f.pid];
  }

  commandLine(): string[] {
    return ['dhclient', ...this.commonArgs(), '-d', ...(this.spec.extraArgs ?? []), this.ifname];
  }

  async start(): Promise<void> {
    const f = this.files;
    writeFileSync(f.script, recorderScript(this.eventsDir), { mode: 0o755 });
    // An empty private config: without -cf dhclient reads /etc/dhcp/dhclient.conf.
    writeFileSync(f.conf, '# twin6 lab: defaults only\n');
    this.proc = this.ns.spawn(this.name, this.commandLine(), { logFile: this.logFile });
  }

  protected async releaseCommand(): Promise<void> {
    // `dhclient -r` reads the pid file, SIGTERMs the running client (ours),
    // then sends the Release itself from the lease file and exits.
    const r = await this.ns.exec(['dhclient', '-r', ...this.commonArgs(), this.ifname], { timeoutMs: 30_000, check: false });
    writeFileSync(join(this.dir, 'dhclient-release.log'), r.stdout + r.stderr);
    if (r.code !== 0) throw new Error(`dhclient -r failed (${r.code}):\n${r.stderr}`);
  }
}

/**
 * dhcpcd 9/10, DHCPv6 only. By default router solicitation is off, so
 * dhcpcd starts DHCPv6 straight from the configured IAs whatever the link's
 * routers say; ClientSpec.dhcpcdMode 'stock' leaves it to the RA instead.
 */
export class DhcpcdClient extends Dhcp6Client {
  readonly kind = 'dhcpcd' as const;

  private get files(): { script: string; conf: string; run: string; db: string } {
    return {
      script: join(this.dir, 'dhcpcd-record.sh'),
      conf: join(this.dir, 'dhcpcd.conf'),
      run: join(this.dir, 'run'),
      db: join(this.dir, 'db'),
    };
  }

  config(): string {
    const stock = this.spec.dhcpcdMode === 'stock';
    const lines = [
      '# twin6 lab: private dhcpcd config',
      'ipv6only',
      'noipv4',
      ...(stock || this.spec.routerSolicitation ? [] : ['noipv6rs']),
      // The script replaces dhcpcd-run-hooks entirely; nohook is a second lock.
      'nohook resolv.conf, hostname, ntp.conf, timesyncd.conf, chrony.conf',
      `script ${this.files.script}`,
      // No udev in a namespace; don't wait for it.
      'nodev',
      // 0 = wait for a server forever instead of exiting after 30 s.
      'timeout 0',
      // DUID-LL from the veth MAC: unique per client namespace. A DUID-UUID
      // (dhcpcd's default when the host has a UUID) would be the same in all.
      'duid ll',
      'option dhcp6_name_servers, dhcp6_domain_search',
      `interface ${this.ifname}`,
    ];
    // Stock mode: no IAs; dhcpcd asks for an address itself when the RA says M.
    if (stock) return lines.join('\n') + '\n';
    if (this.wantsAddress) lines.push('  ia_na 1');
    const hint = this.prefixHint;
    // No downstream interface named: dhcpcd would assign to "every other
    // interface", and the namespace has none but lo, so it only installs a
    // reject route. ("-" as interface makes it log "cannot delegate to -".)
    const down = this.spec.delegateTo;
    if (hint !== undefined) lines.push(`  ia_pd 2/::/${hint}${down ? ` ${down}/0/64` : ''}`);
    return lines.join('\n') + '\n';
  }

  /**
   * Wraps a dhcpcd invocation so that its compiled-in /run and
   * /var/lib/dhcpcd are the lab's (pid file, control socket, lease, DUID).
   * `mount -n` keeps even util-linux's /run/mount/utab off the host.
   */
  private wrap(args: readonly string[]): string[] {
    const f = this.files;
    return [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -n --bind "$1" /run && mount -n --bind "$2" /var/lib/dhcpcd && shift 2 && exec "$@"',
      'dhcpcd-ns',
      f.run,
      f.db,
      'dhcpcd',
      '-f',
      f.conf,
      ...args,
    ];
  }

  commandLine(): string[] {
    // -B: stay in the foreground (our pid is the manager's); -d: debug log to
    // stderr; -6 restricts to DHCPv6, and later -k must repeat it; -C and -c
    // repeat the config's hook lock on the command line.
    return this.wrap(['-B', '-d', '-6', '-C', 'resolv.conf', '-c', this.files.script, ...(this.spec.extraArgs ?? []), this.ifname]);
  }

  async start(): Promise<void> {
    if (!existsSync('/var/lib/dhcpcd')) throw new Error('/var/lib/dhcpcd is missing (is dhcpcd-base installed?)');
    // The lab directory must stay visible once /run is covered by the bind mount.
    if (this.dir.startsWith('/run/')) throw new Error(`dhcpcd lab directory ${this.dir} must not be under /run (set TMPDIR elsewhere)`);
    const f = this.files;
    mkdirSync(f.run, { recursive: true });
    mkdirSync(f.db, { recursive: true });
    writeFileSync(f.script, recorderScript(this.eventsDir), { mode: 0o755 });
    writeFileSync(f.conf, this.config());
    this.proc = this.ns.spawn(this.name, this.commandLine(), { logFile: this.logFile });
  }

  protected async releaseCommand(): Promise<void> {
    // Same restriction flags as the daemon (-6 + interface) so dhcpcd finds
    // its pid file; it signals the daemon (SIGALRM), which sends the Release.
    const r = await this.ns.exec(this.wrap(['-6', '-k', this.ifname]), { timeoutMs: 30_000, check: false });
    writeFileSync(join(this.dir, 'dhcpcd-release.log'), r.stdout + r.stderr);
    if (r.code !== 0) throw new Error(`dhcpcd -k failed (${r.code}):\n${r.stderr}`);
  }
}

export function createClient(spec: ClientSpec, name: string, ns: Namespace, ifname: string, dir: string): Dhcp6Client {
  mkdirSync(dir, { recursive: true });
  switch (spec.kind) {
    case 'dhclient':
      return new DhclientClient(name, spec, ns, ifname, dir);
    case 'dhcpcd':
      return new DhcpcdClient(name, spec, ns, ifname, dir);
  }
}

/** Binaries a client kind needs; for skip messages. */
export const CLIENT_BINARIES: Record<ClientKind, readonly string[]> = {
  dhclient: ['dhclient'],
  dhcpcd: ['dhcpcd', 'unshare', 'mount'],
};

export async function which(bin: string): Promise<string | undefined> {
  // PATH lookup like the shell's; root's PATH has the sbin directories.
  const r = await run(['sh', '-c', 'command -v "$1"', 'sh', bin], { check: false });
  const p = r.stdout.trim();
  return r.code === 0 && p ? p : undefined;
}

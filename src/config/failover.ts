// The `failover` section: one RFC 8156 relationship with one partner. Both
// appliances carry the same subnets and pools (RFC 8156 §4.1: "identical
// configuration"); this section is what differs between them.

import { readFileSync } from 'node:fs';
import { addressFromBigInt } from '../wire/address.js';
import { boolean, integer, keyPath, object, oneOf, optional, ratio, required, textOf, type Issues, type Reader } from './schema.js';
import { address } from './values.js';
import type { FailoverConfig, FailoverTls } from './types.js';

/**
 * twin6 holds no Private Enterprise Number of its own, and the PEN registry
 * has no range for private use. 0 is the registry's one "Reserved" entry: it
 * is never assigned, so no vendor's option can carry it, and a partner that
 * is not twin6 ignores it as any unknown vendor's. An operator whose
 * organisation holds a PEN sets that instead (docs/config.md).
 */
export const DEFAULT_VENDOR_ENTERPRISE_NUMBER = 0;

/** RFC 5612's number for documentation: "not intended to be implemented", so never sent. */
const DOCUMENTATION_ENTERPRISE_NUMBER = 32473;

export const FAILOVER_DEFAULTS = {
  port: 647,
  mcltSec: 3600,
  keepaliveSec: 60,
  maxUnackedBndupd: 100,
  startupSec: 5,
  secondaryPdShare: 0.1,
  relationshipName: 'twin6',
  vendorEnterpriseNumber: DEFAULT_VENDOR_ENTERPRISE_NUMBER,
} as const;

const text = (what: string, max: number): Reader<string> =>
  textOf(what, (t) => (t.length > 0 && t.length <= max ? t : { problem: `must be 1..${max} characters` }));

/** A PEM file path; read at load time so a missing or unreadable file is a config error, not a crash later. */
const pemFile: Reader<string> = textOf('a PEM file path', (path) => {
  try {
    const pem = readFileSync(path, 'utf8');
    return pem.includes('-----BEGIN ') ? pem : { problem: `${path} holds no PEM block` };
  } catch (e) {
    return { problem: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
});

const enterpriseNumber: Reader<number> = (value, path, issues) => {
  const n = integer(0, 0xffff_ffff)(value, path, issues);
  if (n !== DOCUMENTATION_ENTERPRISE_NUMBER) return n;
  issues.report(
    path,
    `${n} is RFC 5612's number for documentation, which no implementation is to send: use your organisation's Private Enterprise Number, or leave the key out`,
  );
  return undefined;
};

export const failoverShape = object({
  role: required(oneOf(['primary', 'secondary'] as const)),
  relationshipName: optional(text('a relationship name', 64)),
  localAddress: required(address),
  peerAddress: required(address),
  port: optional(integer(1, 65_535)),
  // §4.4: MCLT is the lead a client may have over the partner; 30 s is the least lease failover manages.
  mcltSec: optional(integer(30, 86_400)),
  keepaliveSec: optional(integer(3, 3600)),
  maxUnackedBndupd: optional(integer(1, 10_000)),
  autoPartnerDownSec: optional(integer(10, 7 * 86_400)),
  startupSec: optional(integer(1, 300)),
  secondaryPdShare: optional(ratio(false)),
  vendorEnterpriseNumber: optional(enterpriseNumber),
  keepLongerLease: optional(boolean),
  insecure: optional(boolean),
  tls: optional(
    object({
      caFile: required(pemFile),
      certFile: required(pemFile),
      keyFile: required(pemFile),
      peerName: optional(text('a certificate name', 255)),
      anyPeerFromCa: optional(boolean),
    }),
  ),
});

type FailoverInput = NonNullable<ReturnType<typeof failoverShape>>;

export function resolveFailover(input: FailoverInput | undefined, path: string, issues: Issues): FailoverConfig | undefined {
  if (input === undefined) return undefined;
  if (input.tls === undefined && input.insecure !== true) {
    issues.report(
      keyPath(path, 'tls'),
      'required: the partner link is TLS with certificates unless "insecure": true says otherwise (RFC 7653 §9.1)',
    );
  }
  if (input.tls !== undefined && input.insecure === true) {
    issues.report(keyPath(path, 'insecure'), 'contradicts tls: choose one');
  }
  const peerName = input.tls?.peerName;
  const anyPeer = input.tls?.anyPeerFromCa === true;
  if (input.tls !== undefined && peerName === undefined && !anyPeer) {
    issues.report(
      keyPath(keyPath(path, 'tls'), 'peerName'),
      'required: the name (SAN DNS name or CN) on the partner\'s certificate; without it any certificate from caFile would pass, device and broker ones included. "anyPeerFromCa": true accepts that explicitly',
    );
  }
  if (peerName !== undefined && anyPeer) issues.report(keyPath(keyPath(path, 'tls'), 'anyPeerFromCa'), 'contradicts peerName: choose one');
  if (input.localAddress !== undefined && input.localAddress === input.peerAddress) {
    issues.report(keyPath(path, 'peerAddress'), 'must differ from localAddress');
  }
  // A missing required key is already reported; there is nothing to resolve then.
  if (input.role === undefined || input.localAddress === undefined || input.peerAddress === undefined) return undefined;
  if (input.tls !== undefined && (input.tls.caFile === undefined || input.tls.certFile === undefined || input.tls.keyFile === undefined))
    return undefined;
  if (input.tls !== undefined && peerName === undefined && !anyPeer) return undefined;
  const tls: FailoverTls | undefined = input.tls && {
    ca: input.tls.caFile!,
    cert: input.tls.certFile!,
    key: input.tls.keyFile!,
    ...(peerName === undefined ? { anyPeerFromCa: true as const } : { peerName }),
  };
  return {
    role: input.role,
    relationshipName: input.relationshipName ?? FAILOVER_DEFAULTS.relationshipName,
    localAddress: addressFromBigInt(input.localAddress),
    peerAddress: addressFromBigInt(input.peerAddress),
    port: input.port ?? FAILOVER_DEFAULTS.port,
    mcltSec: input.mcltSec ?? FAILOVER_DEFAULTS.mcltSec,
    keepaliveSec: input.keepaliveSec ?? FAILOVER_DEFAULTS.keepaliveSec,
    maxUnackedBndupd: input.maxUnackedBndupd ?? FAILOVER_DEFAULTS.maxUnackedBndupd,
    startupSec: input.startupSec ?? FAILOVER_DEFAULTS.startupSec,
    secondaryPdShare: input.secondaryPdShare ?? FAILOVER_DEFAULTS.secondaryPdShare,
    vendorEnterpriseNumber: input.vendorEnterpriseNumber ?? FAILOVER_DEFAULTS.vendorEnterpriseNumber,
    ...(input.autoPartnerDownSec === undefined ? {} : { autoPartnerDownSec: input.autoPartnerDownSec }),
    ...(input.keepLongerLease === true ? { keepLongerLease: true } : {}),
    ...(tls ? { tls } : {}),
  };
}

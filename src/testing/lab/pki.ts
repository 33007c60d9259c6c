// Throwaway certificate authorities for the lab, made with the openssl CLI
// (node:crypto signs no X.509): the fleet broker's PKI (mqtt.ts) and the
// failover partner link's (the appliance pair). ECDSA P-256 throughout: the
// handshake an OpenWrt-class CPU can afford (docs/fleet.md §6).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.js';

export interface Identity {
  readonly cert: string;
  readonly key: string;
}

const openssl = (args: readonly string[]) => run(['openssl', ...args], { timeoutMs: 30_000 });

/** A self-signed CA in `dir` as `<file>.crt` and `<file>.key`. */
export async function makeCa(dir: string, cn: string, file = 'ca'): Promise<Identity> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: join(dir, `${file}.crt`), key: join(dir, `${file}.key`) };
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return ca;
}

/** A certificate for `cn` signed by `ca`, with the given extensions (openssl extfile lines). */
export async function issueCert(dir: string, ca: Identity, cn: string, ext: string): Promise<Identity> {
  const key = join(dir, `${cn}.key`);
  const csr = join(dir, `${cn}.csr`);
  const cert = join(dir, `${cn}.crt`);
  const extFile = join(dir, `${cn}.ext`);
  writeFileSync(extFile, ext);
  await openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${cn}`,
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    '-extfile',
    extFile,
  ]);
  return { cert, key };
}

export interface PartnerPki {
  readonly ca: string;
  /** Per partner name (the certificate's SAN DNS name and CN, failover.tls.peerName on the other side). */
  identity(name: string): Identity;
}

/**
 * The partner link's PKI (RFC 8156 §10): one CA, and one certificate per
 * partner valid both ways, since the primary dials as a TLS client and the
 * secondary accepts as a server, and each checks the other.
 */
export async function makePartnerPki(dir: string, names: readonly string[]): Promise<PartnerPki> {
  const ca = await makeCa(dir, 'twin6 lab pair CA', 'pair-ca');
  const ids = new Map<string, Identity>();
  for (const n of names) {
    ids.set(
      n,
      await issueCert(
        dir,
        ca,
        n,
        `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:${n}\n`,
      ),
    );
  }
  return {
    ca: ca.cert,
    identity(name) {
      const id = ids.get(name);
      if (!id) throw new Error(`no partner certificate for ${name} (have ${[...ids.keys()].join(', ')})`);
      return id;
    },
  };
}

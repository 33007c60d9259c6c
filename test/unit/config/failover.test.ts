import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { base, expectOnlyProblem, problemsOf } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 't6-fo-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pem = (name: string) => {
  const p = join(dir, name);
  writeFileSync(p, `-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n`);
  return p;
};

/** A config with a failover section; a key patched to undefined is left out. */
const failover = (patch: Record<string, unknown>) => {
  const section: Record<string, unknown> = {
    role: 'primary',
    localAddress: 'fd00:ffff::1',
    peerAddress: 'FD00:FFFF::0002',
    insecure: true,
    ...patch,
  };
  for (const k of Object.keys(section)) if (section[k] === undefined) delete section[k];
  return { ...base(), failover: section };
};

describe('failover section', () => {
  it('resolves with the RFC 8156 defaults and canonical addresses', () => {
    const c = parseConfig(failover({}));
    expect(c.failover).toEqual({
      role: 'primary',
      relationshipName: 'twin6',
      localAddress: 'fd00:ffff::1',
      peerAddress: 'fd00:ffff::2',
      port: 647,
      mcltSec: 3600,
      keepaliveSec: 60,
      maxUnackedBndupd: 100,
      startupSec: 5,
      secondaryPdShare: 0.1,
      vendorEnterpriseNumber: 0,
    });
    expect(parseConfig(base()).failover).toBeUndefined();
  });

  it('judges binding updates by RFC 8156 Figure 4 unless keepLongerLease turns on the stricter rules', () => {
    expect(parseConfig(failover({})).failover?.keepLongerLease).toBeUndefined();
    expect(parseConfig(failover({ keepLongerLease: false })).failover?.keepLongerLease).toBeUndefined();
    expect(parseConfig(failover({ keepLongerLease: true })).failover?.keepLongerLease).toBe(true);
    expectOnlyProblem(failover({ keepLongerLease: 'yes' }), 'failover.keepLongerLease', /./);
  });

  it('reads the TLS files at load time', () => {
    const c = parseConfig(
      failover({ insecure: undefined, tls: { caFile: pem('ca.pem'), certFile: pem('a.pem'), keyFile: pem('a.key'), peerName: 'twin6-b' } }),
    );
    expect(c.failover?.tls?.ca).toContain('BEGIN CERTIFICATE');
    expect(c.failover?.tls?.peerName).toBe('twin6-b');
  });

  it('requires TLS unless insecure is said explicitly (RFC 7653 §9.1)', () => {
    expectOnlyProblem(failover({ insecure: undefined }), 'failover.tls', /required/);
    expectOnlyProblem(failover({ insecure: false }), 'failover.tls', /required/);
  });

  it("requires the partner's certificate name unless anyPeerFromCa opts out, and not both", () => {
    const files = () => ({ caFile: pem('ca.pem'), certFile: pem('a.pem'), keyFile: pem('a.key') });
    // A CA that also issues device or broker certificates would otherwise let any of them pose as the partner.
    expectOnlyProblem(failover({ insecure: undefined, tls: files() }), 'failover.tls.peerName', /required.*anyPeerFromCa/);
    expectOnlyProblem(failover({ insecure: undefined, tls: { ...files(), anyPeerFromCa: false } }), 'failover.tls.peerName', /required/);
    const any = parseConfig(failover({ insecure: undefined, tls: { ...files(), anyPeerFromCa: true } }));
    expect(any.failover?.tls).toMatchObject({ anyPeerFromCa: true });
    expect(any.failover?.tls).not.toHaveProperty('peerName');
    expectOnlyProblem(
      failover({ insecure: undefined, tls: { ...files(), peerName: 'twin6-b', anyPeerFromCa: true } }),
      'failover.tls.anyPeerFromCa',
      /contradicts peerName/,
    );
  });

  it("takes the operator's enterprise number for twin6's vendor option: IANA's reserved 0 by default, never RFC 5612's documentation number", () => {
    expect(parseConfig(failover({})).failover?.vendorEnterpriseNumber).toBe(0);
    expect(parseConfig(failover({ vendorEnterpriseNumber: 4_294_967_295 })).failover?.vendorEnterpriseNumber).toBe(4_294_967_295);
    expectOnlyProblem(failover({ vendorEnterpriseNumber: 32473 }), 'failover.vendorEnterpriseNumber', /RFC 5612.*documentation/);
    expectOnlyProblem(failover({ vendorEnterpriseNumber: 4_294_967_296 }), 'failover.vendorEnterpriseNumber', /between 0 and 4294967295/);
    expectOnlyProblem(failover({ vendorEnterpriseNumber: '32473' }), 'failover.vendorEnterpriseNumber', /expected an integer/);
  });

  it('names a missing or unreadable certificate file', () => {
    const problems = problemsOf(
      failover({
        insecure: undefined,
        tls: { caFile: join(dir, 'nope.pem'), certFile: pem('b.pem'), keyFile: pem('b.key'), peerName: 'twin6-a' },
      }),
    );
    expect(problems).toEqual([{ path: 'failover.tls.caFile', problem: expect.stringMatching(/cannot read .*nope\.pem: ENOENT/) }]);
  });

  it.each([
    [{ role: 'tertiary' }, 'failover.role'],
    [{ mcltSec: 10 }, 'failover.mcltSec'],
    [{ peerAddress: 'fd00:ffff::1' }, 'failover.peerAddress'],
    [{ localAddress: 'not-an-address' }, 'failover.localAddress'],
    [{ secondaryPdShare: 1.5 }, 'failover.secondaryPdShare'],
    [{ keepalive: 5 }, 'failover.keepalive'],
  ])('refuses %j at %s', (patch, path) => {
    expect(problemsOf(failover(patch)).map((p) => p.path)).toEqual([path]);
  });
});

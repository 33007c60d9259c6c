// RFC 5007 Leasequery against a real twin6d in network namespaces: dhcpcd
// takes an address and a delegated prefix first, then an independent
// requestor (leasequery-requestor.py, Python stdlib, written from the RFC
// text) asks about it by address, by an address inside the delegated prefix
// and by client id, from an allowed address and from one that is not.
// Needs root, dhcpcd and python3; without them it skips and says why (CI sets
// T6_LAB_REQUIRED=1, which turns the skip into a failure).

import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labUnavailableReason, python3, startLab, twin6LabConfig, twin6Server, type Lab } from '../../src/testing/lab/index.js';
import { labRequired, skipUnlessRequired } from '../../src/testing/lab/prereq.js';
import { callControl, CONTROL_SOCKET_NAME } from '../../src/daemon/control.js';

const py = python3();
const reason =
  (await labUnavailableReason({ server: twin6Server(), clients: ['dhcpcd'] })) ?? (py ? undefined : 'python3 is not installed');
skipUnlessRequired(reason, labRequired(), 'the leasequery lab');
if (reason) console.warn(`[leasequery.test] skipping: ${reason}`);

const REQUESTOR = resolve('test/integration/leasequery-requestor.py');
/** The one requestor the server allows, and one it does not; both on the client's link (lab: 2001:db8:1::/64). */
const ALLOWED = '2001:db8:1::77';
const STRANGER = '2001:db8:1::88';

interface LqReply {
  readonly serverId: string;
  readonly clientId: string;
  readonly status: { readonly code: number; readonly message: string } | null;
  readonly clientData: {
    readonly clientId: string;
    readonly iaaddr: readonly { address: string; preferred: number; valid: number }[];
    readonly iaprefix: readonly { prefix: string; length: number; preferred: number; valid: number }[];
    readonly cltTime: number | null;
    readonly relayData: unknown;
  } | null;
  readonly clientLinks: readonly string[] | null;
}

/** The twin6 lab config, with the one allowed requestor. */
const config = (ctx: Parameters<typeof twin6LabConfig>[0]): string =>
  JSON.stringify({ ...(JSON.parse(twin6LabConfig(ctx)) as object), leasequery: { requestors: [`${ALLOWED}`] } }, null, 2) + '\n';

async function ask(lab: Lab, from: string, ...query: string[]): Promise<LqReply> {
  const ns = lab.lan.clients[0]!;
  const r = await ns.exec([py!, REQUESTOR, '--server', lab.topology.serverAddress, '--source', from, ...query], {
    check: false,
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`requestor exited ${r.code}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as LqReply;
}

/** The daemon's counters, from its control socket (what `twin6ctl status` prints). */
async function counters(lab: Lab): Promise<Record<string, number>> {
  const answer = await callControl(join(lab.server!.ctx.dir, 'state', CONTROL_SOCKET_NAME), { cmd: 'status' });
  if (!answer.ok) throw new Error(`twin6d status: ${answer.error}`);
  return (answer.result as { counters: Record<string, number> }).counters;
}

describe.skipIf(reason !== undefined)('Leasequery (RFC 5007) with a real client and an independent requestor', () => {
  it('answers by address, by delegated prefix and by client id, and refuses a requestor not listed', async () => {
    const lab = await startLab({ server: twin6Server({ config }), clients: [{ kind: 'dhcpcd' }] });
    try {
      const bound = await lab.client('dhcpcd').waitForBinding({ timeoutMs: 30_000 });
      expect(bound.addresses).toHaveLength(1);
      expect(bound.prefixes).toHaveLength(1);
      const address = bound.addresses[0]!.address;
      const delegated = bound.prefixes[0]!;
      // The requestors' own addresses, beside dhcpcd's on the client's link.
      const ns = lab.lan.clients[0]!;
      for (const a of [ALLOWED, STRANGER]) await ns.ip(['addr', 'add', `${a}/64`, 'dev', lab.topology.clientIf, 'nodad']);

      // By address (§4.1.2.1 QUERY_BY_ADDRESS): the client's DUID, its address and prefix, CLT_TIME.
      const byAddress = await ask(lab, ALLOWED, 'address', address);
      expect(byAddress.status).toBeNull();
      expect(byAddress.clientLinks).toBeNull();
      const data = byAddress.clientData!;
      const serverLease = (await lab.server!.leases()).find((l) => l.type === 'na' && l.address === address)!;
      expect(data.clientId).toBe(serverLease.duid.replace(/:/g, ''));
      expect(data.iaaddr.map((a) => a.address)).toEqual([address]);
      expect(data.iaprefix.map((p) => `${p.prefix}/${p.length}`)).toEqual([`${delegated.prefix}/${delegated.length}`]);
      const lt = lab.topology.lifetimes;
      for (const l of [...data.iaaddr, ...data.iaprefix]) {
        expect(l.valid).toBeGreaterThan(0);
        expect(l.valid).toBeLessThanOrEqual(lt.validSec);
        expect(l.preferred).toBeLessThanOrEqual(Math.min(l.valid, lt.preferredSec));
      }
      expect(data.cltTime).not.toBeNull();
      expect(data.cltTime!).toBeLessThanOrEqual(lt.validSec);
      expect(data.relayData).toBeNull(); // not kept, so never sent (§4.1.2.4)

      // By an address inside the delegated prefix: the same client.
      const inside = delegated.prefix.replace(/::$/, '::42');
      expect((await ask(lab, ALLOWED, 'address', inside)).clientData?.clientId).toBe(data.clientId);

      // By client id (§4.1.2.1 QUERY_BY_CLIENTID), link 0::0: one link, so its data; and with the link named.
      const byClient = await ask(lab, ALLOWED, 'clientid', data.clientId);
      expect(byClient.clientData?.iaaddr.map((a) => a.address)).toEqual([address]);
      const onLink = await ask(lab, ALLOWED, '--link-address', '2001:db8:1::', 'clientid', data.clientId);
      expect(onLink.clientData?.iaprefix).toHaveLength(1);

      // Nothing known: an empty reply (§4.3.3 variant 3); a link not served: NotConfigured (9).
      const unknown = await ask(lab, ALLOWED, 'clientid', '000300010200000000ff');
      expect([unknown.status, unknown.clientData, unknown.clientLinks]).toEqual([null, null, null]);
      expect((await ask(lab, ALLOWED, '--link-address', '2001:db8:77::', 'clientid', data.clientId)).status?.code).toBe(9);

      // Query-types: Bulk Leasequery's over UDP are NotAllowed (RFC 5460 §4), others UnknownQueryType (7).
      expect((await ask(lab, ALLOWED, 'raw', '4')).status?.code).toBe(10);
      expect((await ask(lab, ALLOWED, 'raw', '9')).status?.code).toBe(7);

      // A requestor not listed: NotAllowed (10), and nothing about the client.
      const refused = await ask(lab, STRANGER, 'address', address);
      expect(refused.status?.code).toBe(10);
      expect(refused.clientData).toBeNull();

      expect(await counters(lab)).toMatchObject({
        'rx.LEASEQUERY': 9,
        'leasequery.answered': 4,
        'leasequery.empty': 1,
        'leasequery.refused.not-configured': 1,
        'leasequery.refused.bulk-over-udp': 1,
        'leasequery.refused.unknown-query-type': 1,
        'leasequery.refused.not-allowed': 1,
        'tx.LEASEQUERY_REPLY': 9,
      });
    } catch (e) {
      if (e instanceof Error) e.message += `\n${lab.diagnostics()}`;
      throw e;
    } finally {
      await lab.stop();
    }
  }, 120_000);
});

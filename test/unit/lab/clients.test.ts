// Client script environments, as recorded in the namespace lab: the power-cut
// tests tell which partner answered from the server id a client reports.

import { describe, expect, it } from 'vitest';
import { duidHex } from '../../../src/testing/lab/clients.js';

describe('duidHex', () => {
  it("reads both clients' spelling of the same server DUID (one REBIND6 each, same twin6 secondary)", () => {
    const dhcpcd = '0001000132a900a2427bd909ad9f';
    const dhclient = '0:1:0:1:32:a9:0:a2:42:7b:d9:9:ad:9f';
    expect(duidHex(dhcpcd)).toBe(dhcpcd);
    expect(duidHex(dhclient)).toBe(dhcpcd);
    expect(duidHex('0:2:0:0:9:BF:74:77')).toBe('0002000009bf7477');
  });

  it('gives no DUID for a missing one, which then matches no server', () => {
    expect(duidHex(undefined)).toBe('');
  });
});

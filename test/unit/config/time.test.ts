// The `time` section (docs/config.md#time): defaults, the forms a server may
// take, and every refusal by key path.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { base, expectOnlyProblem, problemsOf } from './helpers.js';

const withTime = (time: unknown, extra: Record<string, unknown> = {}) => ({ ...base(), ...extra, time });
const failover = { role: 'primary', localAddress: 'fd00:6::1', peerAddress: 'fd00:6::2', insecure: true };

describe('time', () => {
  it('is absent unless the file has it, and defaults to no servers and no partner service', () => {
    expect('time' in parseConfig(base())).toBe(false);
    expect(parseConfig(withTime({})).time).toStrictEqual({ ntpServers: [], servePartner: false });
  });

  it('takes IPv6 addresses (in RFC 5952 form), IPv4 addresses and host names', () => {
    const c = parseConfig(withTime({ ntpServers: ['2001:DB8:1:0::123', '192.0.2.123', 'NTP.Example.net.'] }));
    expect(c.time?.ntpServers).toEqual(['2001:db8:1::123', '192.0.2.123', 'ntp.example.net']);
  });

  it('serves the partner only in a failover pair', () => {
    expect(parseConfig(withTime({ servePartner: true }, { failover })).time?.servePartner).toBe(true);
    expectOnlyProblem(withTime({ servePartner: true }), 'time.servePartner', /needs a failover section/);
  });

  it('refuses what is not a server, with the key path and the reason', () => {
    expectOnlyProblem(withTime({ ntpServers: ['2001:db8::1%eth0'] }), 'time.ntpServers[0]', /zone index/);
    expectOnlyProblem(withTime({ ntpServers: ['[2001:db8::1]:123'] }), 'time.ntpServers[0]', /give no port/);
    expectOnlyProblem(withTime({ ntpServers: ['192.0.2.300'] }), 'time.ntpServers[0]', /not an IPv4 address/);
    expectOnlyProblem(withTime({ ntpServers: ['1.2.3'] }), 'time.ntpServers[0]', /an address or a host name/);
    expectOnlyProblem(withTime({ ntpServers: ['-bad-.example'] }), 'time.ntpServers[0]', /label/);
    expectOnlyProblem(withTime({ ntpServers: ['ff02::101'] }), 'time.ntpServers[0]', /multicast/);
    expectOnlyProblem(withTime({ ntpServers: [123] }), 'time.ntpServers[0]', /expected an NTP server as a string/);
    expectOnlyProblem(withTime({ ntpServers: ['2001:db8::1', '2001:DB8::1'] }), 'time.ntpServers[1]', /duplicate of time.ntpServers\[0\]/);
    const nine = Array.from({ length: 9 }, (_, i) => `2001:db8::${i + 1}`);
    expectOnlyProblem(withTime({ ntpServers: nine }), 'time.ntpServers', /at most 8/);
    expectOnlyProblem(withTime({ servePartner: 'yes' }, { failover }), 'time.servePartner', /expected true or false/);
    expect(problemsOf(withTime({ ntpserver: [] })).map((p) => [p.path, p.problem])).toEqual([
      ['time.ntpserver', 'spurious key (did you mean "ntpServers"?)'],
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  checkResponseTopic,
  commandOfTopic,
  deviceOfTopic,
  deviceTopics,
  fleetStateFilter,
  topicMatches,
} from '../../../src/mgmt/topics.js';
import { topicPrefixProblem } from '../../../src/config/topic-rules.js';

const t = deviceTopics('fleet/v1', 'dev-a');

describe('topic layout', () => {
  it('builds every topic of a device under <prefix>/<deviceId>', () => {
    expect(t.state).toBe('fleet/v1/dev-a/state');
    expect(t.meta).toBe('fleet/v1/dev-a/meta');
    expect(t.tele('dhcp')).toBe('fleet/v1/dev-a/tele/dhcp');
    expect(t.evt('cmd-audit')).toBe('fleet/v1/dev-a/evt/cmd-audit');
    expect(t.cmd('leases.count')).toBe('fleet/v1/dev-a/cmd/leases.count');
    expect(t.cmdFilter).toBe('fleet/v1/dev-a/cmd/+');
    expect(t.rspRoot).toBe('fleet/v1/dev-a/rsp');
    expect(fleetStateFilter('fleet/v1')).toBe('fleet/v1/+/state');
  });

  it('reads the command name from a request topic, only for this device', () => {
    expect(commandOfTopic(t, 'fleet/v1/dev-a/cmd/failover.partner-down')).toBe('failover.partner-down');
    expect(commandOfTopic(t, 'fleet/v1/dev-b/cmd/status')).toBeUndefined();
    expect(commandOfTopic(t, 'fleet/v1/dev-a/cmd/Status')).toBeUndefined();
    expect(commandOfTopic(t, 'fleet/v1/dev-a/state')).toBeUndefined();
  });

  it('tells which device a fleet topic belongs to', () => {
    expect(deviceOfTopic('fleet/v1', 'fleet/v1/dev-b/state')).toBe('dev-b');
    expect(deviceOfTopic('fleet/v1', 'other/dev-b/state')).toBeUndefined();
  });

  it('checks topic prefixes for config', () => {
    expect(topicPrefixProblem('fleet/v1')).toBeUndefined();
    expect(topicPrefixProblem('acme.example/fleet_v1')).toBeUndefined();
    for (const bad of ['', 'fleet/#', 'fleet/+', '$SYS', '/fleet', 'a//b', 'a/b/c/d/e/f/g/h/i'])
      expect(topicPrefixProblem(bad), bad).toBeDefined();
  });
});

describe('response topic confinement', () => {
  it('accepts a requester level, and a few more, inside rsp/', () => {
    expect(checkResponseTopic(t, 'fleet/v1/dev-a/rsp/ctl-1234')).toEqual({ ok: true });
    expect(checkResponseTopic(t, 'fleet/v1/dev-a/rsp/backend-2/job.17')).toEqual({ ok: true });
  });

  it('refuses what the device may write but must not be made to: its own state, events, telemetry', () => {
    for (const own of [t.state, t.meta, t.evt('cmd-audit'), t.tele('dhcp'), t.rspRoot, `${t.rspRoot}/`]) {
      const r = checkResponseTopic(t, own);
      expect(r.ok, own).toBe(false);
    }
    expect(checkResponseTopic(t, t.state)).toEqual({
      ok: false,
      reason: `Response Topic "fleet/v1/dev-a/state" is outside this device's response subtree fleet/v1/dev-a/rsp/#`,
    });
  });

  it('refuses another device, wildcards, empty levels, deep or long topics and a missing one', () => {
    expect(checkResponseTopic(t, 'fleet/v1/dev-b/rsp/ctl').ok).toBe(false);
    expect(checkResponseTopic(t, 'fleet/v1/dev-a/rsp/+').ok).toBe(false);
    expect(checkResponseTopic(t, 'fleet/v1/dev-a/rsp/#').ok).toBe(false);
    expect(checkResponseTopic(t, 'fleet/v1/dev-a/rsp/a//b').ok).toBe(false);
    expect(checkResponseTopic(t, 'fleet/v1/dev-a/rsp/a/b/c/d/e').ok).toBe(false);
    expect(checkResponseTopic(t, `fleet/v1/dev-a/rsp/${'x'.repeat(300)}`)).toEqual({
      ok: false,
      reason: 'Response Topic is longer than 256 bytes',
    });
    expect(checkResponseTopic(t, undefined)).toEqual({
      ok: false,
      reason: 'request has no Response Topic (MQTT 5 request/response is required)',
    });
  });
});

describe('topicMatches (MQTT 5 §4.7)', () => {
  it('matches levels exactly, + for one level, # for the rest', () => {
    expect(topicMatches('fleet/v1/lab-a/config/reported', 'fleet/v1/lab-a/config/reported')).toBe(true);
    expect(topicMatches('fleet/v1/lab-b/config/reported', 'fleet/v1/lab-a/config/reported')).toBe(false);
    expect(topicMatches('fleet/v1/+/config/reported', 'fleet/v1/lab-a/config/reported')).toBe(true);
    expect(topicMatches('fleet/v1/+/config/reported', 'fleet/v1/lab-a/config/desired')).toBe(false);
    expect(topicMatches('fleet/v1/+', 'fleet/v1/lab-a/state')).toBe(false);
    expect(topicMatches('fleet/v1/#', 'fleet/v1/lab-a/state')).toBe(true);
    expect(topicMatches('fleet/v1/#', 'fleet/v1')).toBe(true);
    expect(topicMatches('fleet/v1/lab-a', 'fleet/v1/lab-a/state')).toBe(false);
    expect(topicMatches('fleet/v1/lab-a/state', 'fleet/v1/lab-a')).toBe(false);
  });
});

// The persisted endpoint record (RFC 8156 §8.2): JSON bytes for the lease
// store's metadata, decoded without throwing.

import { describe, expect, it } from 'vitest';
import {
  ENDPOINT_RECORD_BYTES_MAX,
  decodeEndpointRecord,
  encodeEndpointRecord,
  storedPart,
  type StoredEndpoint,
} from '../../../src/failover/state-record.js';
import { startup, step } from '../../../src/failover/state-machine.js';
import { ENDPOINT_STATES } from '../../../src/failover/states.js';
import { T, ctxOf, inState, partnerState } from './fixtures.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('endpoint record encode/decode', () => {
  for (const s of ENDPOINT_STATES) {
    it(`round-trips a record in ${s}`, () => {
      const r = inState(s, 'primary', { partnerState: 'NORMAL', partnerStateStartSec: T - 3, partnerReportedDownSinceSec: null });
      const decoded = decodeEndpointRecord(encodeEndpointRecord(r));
      expect(decoded).toEqual({ ok: true, value: storedPart(r) });
    });
  }

  it('holds every §8.2 item and nothing of the session', () => {
    const r = step(startup(undefined, ctxOf('secondary')).record, partnerState('PARTNER-DOWN'), ctxOf('secondary', T + 5)).record;
    const json = JSON.parse(new TextDecoder().decode(encodeEndpointRecord(r))) as Record<string, unknown>;
    expect(json).not.toHaveProperty('session');
    expect(json).toMatchObject({
      state: 'RECOVER',
      previousState: 'STARTUP',
      stateStartSec: T + 5,
      partnerState: 'PARTNER-DOWN',
      partnerStateStartSec: T - 10,
      lastPartnerMessageSec: T + 5,
      partnerReportedDownSinceSec: T - 10,
      communicated: true,
      lastOperatingSec: null,
      fullResyncPending: true,
    });
  });

  it("reads a partner state stored as SHUTDOWN (the draft's name for code 7) as RECOVER-WAIT (§5.5.16)", () => {
    const json = JSON.parse(new TextDecoder().decode(encodeEndpointRecord(inState('RECOVER-DONE', 'primary')))) as Record<string, unknown>;
    const decoded = decodeEndpointRecord(bytes(JSON.stringify({ ...json, partnerState: 'SHUTDOWN' })));
    expect(decoded.ok && decoded.value.partnerState).toBe('RECOVER-WAIT');
  });

  it('encodes equal records to equal bytes, whatever the key order in memory', () => {
    const r = inState('NORMAL', 'primary');
    const shuffled = Object.fromEntries(Object.entries(storedPart(r)).reverse()) as unknown as StoredEndpoint;
    expect(encodeEndpointRecord(shuffled)).toEqual(encodeEndpointRecord(r));
  });

  it('stays far below the store metadata limit', () => {
    expect(encodeEndpointRecord(inState('PARTNER-DOWN', 'secondary')).length).toBeLessThan(ENDPOINT_RECORD_BYTES_MAX / 2);
  });

  it('reports, never throws, on damaged bytes', () => {
    const good = JSON.parse(new TextDecoder().decode(encodeEndpointRecord(inState('NORMAL', 'primary')))) as Record<string, unknown>;
    const cases: [Uint8Array, string][] = [
      [bytes('{"version":1'), 'not-json'],
      [new Uint8Array([0xff, 0xfe]), 'not-json'],
      [bytes('[1]'), 'not-json'],
      [bytes(JSON.stringify({ ...good, version: 2 })), 'version'],
      [bytes(JSON.stringify({ ...good, state: 'NORMAL-ISH' })), 'field'],
      [bytes(JSON.stringify({ ...good, stateStartSec: -1 })), 'field'],
      [bytes(JSON.stringify({ ...good, lastOperatingSec: 'yesterday' })), 'field'],
      [bytes(JSON.stringify({ ...good, partnerFlags: { startup: true } })), 'field'],
      [bytes(JSON.stringify({ ...good, role: undefined })), 'field'],
      [new Uint8Array(ENDPOINT_RECORD_BYTES_MAX + 1), 'too-long'],
    ];
    for (const [input, reason] of cases) {
      const out = decodeEndpointRecord(input);
      expect(out.ok).toBe(false);
      if (!out.ok) expect(out.reason).toBe(reason);
    }
  });

  it('drops unknown fields on decode', () => {
    const good = JSON.parse(new TextDecoder().decode(encodeEndpointRecord(inState('NORMAL', 'primary')))) as Record<string, unknown>;
    const out = decodeEndpointRecord(bytes(JSON.stringify({ ...good, extra: 1 })));
    expect(out.ok && out.value).not.toHaveProperty('extra');
  });
});

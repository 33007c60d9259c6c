// What each endpoint state lets a server do for clients: the table in
// docs/protocol.md §1.13, transcribed by hand (RFC 8156 §8.3.1–§8.12.1).

import { describe, expect, it } from 'vitest';
import {
  leadsLink,
  mayAnswer,
  partnerPoolUsableFromSec,
  responsiveness,
  serviceLevel,
  type Service,
} from '../../../src/failover/responsiveness.js';
import { MsgType } from '../../../src/wire/constants.js';
import type { EndpointStateName, Role } from '../../../src/failover/states.js';
import { T, inState } from './fixtures.js';

type Row = [EndpointStateName, Role, Service['answers'], Service['allocate'], Service['lifetimeCap'], string];
const TABLE: Row[] = [
  ['STARTUP', 'primary', 'unresponsive', 'none', undefined, '§8.3.1'],
  ['STARTUP', 'secondary', 'unresponsive', 'none', undefined, '§8.3.1'],
  ['NORMAL', 'primary', 'responsive', 'own-pool', 'acked', '§8.8.1'],
  ['NORMAL', 'secondary', 'renew-responsive', 'none', 'acked', '§8.8.1'],
  ['COMMUNICATIONS-INTERRUPTED', 'primary', 'responsive', 'own-pool', 'acked', '§8.9.1'],
  ['COMMUNICATIONS-INTERRUPTED', 'secondary', 'responsive', 'own-pool', 'acked', '§8.9.1'],
  ['PARTNER-DOWN', 'primary', 'responsive', 'own-pool-then-partner-prefixes', 'uncapped', '§8.4.1'],
  ['PARTNER-DOWN', 'secondary', 'responsive', 'own-pool-then-partner-prefixes', 'uncapped', '§8.4.1'],
  ['POTENTIAL-CONFLICT', 'primary', 'unresponsive', 'none', undefined, '§8.10.1'],
  ['POTENTIAL-CONFLICT', 'secondary', 'unresponsive', 'none', undefined, '§8.10.1'],
  ['RECOVER', 'primary', 'unresponsive', 'none', undefined, '§8.5.1'],
  ['RECOVER-WAIT', 'secondary', 'unresponsive', 'none', undefined, '§8.6.1'],
  ['RECOVER-DONE', 'primary', 'renew-responsive', 'none', 'acked', '§8.7.1'],
  ['RECOVER-DONE', 'secondary', 'renew-responsive', 'none', 'acked', '§8.7.1'],
  ['RESOLUTION-INTERRUPTED', 'primary', 'responsive', 'own-pool', 'acked', '§8.11.1'],
  ['RESOLUTION-INTERRUPTED', 'secondary', 'responsive', 'own-pool', 'acked', '§8.11.1'],
  ['CONFLICT-DONE', 'primary', 'responsive', 'own-pool', 'acked', '§8.12.1'],
];

describe('service per state (docs/protocol.md §1.13)', () => {
  for (const [state, role, answers, allocate, cap, section] of TABLE) {
    it(`${state}, ${role}: ${answers}, allocates ${allocate}, cap ${cap ?? '-'} (${section})`, () => {
      expect(responsiveness(state, role)).toMatchObject({ answers, allocate, lifetimeCap: cap, section });
    });
  }

  it('RECOVER-DONE answers only a Renew addressed to it (§8.7.1)', () => {
    const s = responsiveness('RECOVER-DONE', 'secondary');
    expect(s.renewOnlyKnownLeases).toBe(true);
    expect(mayAnswer(s, MsgType.RENEW, true)).toBe(true);
    for (const m of [MsgType.REQUEST, MsgType.RELEASE, MsgType.DECLINE, MsgType.SOLICIT, MsgType.REBIND]) {
      expect(mayAnswer(s, m, true), String(m)).toBe(false);
    }
    expect(mayAnswer(s, MsgType.RENEW, false)).toBe(false);
  });

  it('renew-responsive answers what carries our Server Identifier, never Solicit/Rebind/Confirm (§3)', () => {
    const s = responsiveness('NORMAL', 'secondary');
    for (const m of [MsgType.REQUEST, MsgType.RENEW, MsgType.RELEASE, MsgType.DECLINE]) expect(mayAnswer(s, m, true)).toBe(true);
    for (const m of [MsgType.SOLICIT, MsgType.REBIND, MsgType.CONFIRM]) expect(mayAnswer(s, m, true)).toBe(false);
    expect(mayAnswer(s, MsgType.RENEW, false)).toBe(false);
  });

  it('responsive answers all; unresponsive none', () => {
    expect(mayAnswer(responsiveness('PARTNER-DOWN', 'secondary'), MsgType.SOLICIT, false)).toBe(true);
    expect(mayAnswer(responsiveness('POTENTIAL-CONFLICT', 'primary'), MsgType.RENEW, true)).toBe(false);
  });

  it('CONFLICT-DONE is a primary-only state: a secondary in it serves nobody', () => {
    expect(responsiveness('CONFLICT-DONE', 'secondary').answers).toBe('unresponsive');
  });

  it('the partner pool opens MCLT after PARTNER-DOWN entry (§8.4.1)', () => {
    expect(partnerPoolUsableFromSec(inState('PARTNER-DOWN', 'primary', { partnerDownSinceSec: T }), 3600)).toBe(T + 3600);
    expect(partnerPoolUsableFromSec(inState('NORMAL', 'primary'), 3600)).toBeUndefined();
  });

  it('maps onto the lead’s ServiceLevel shape', () => {
    expect(serviceLevel('COMMUNICATIONS-INTERRUPTED', 'primary')).toEqual({ answer: 'all', allocate: 'own', mcltCap: true });
    expect(serviceLevel('PARTNER-DOWN', 'secondary')).toEqual({ answer: 'all', allocate: 'partner-too', mcltCap: false });
    expect(serviceLevel('NORMAL', 'secondary')).toEqual({ answer: 'own-server-id', allocate: 'none', mcltCap: true });
    expect(serviceLevel('RECOVER', 'primary').answer).toBe('none');
  });
});

describe('which partner leads the link: routes and default router (issue #8)', () => {
  it('the primary in NORMAL and CONFLICT-DONE; both when either may be alone; unchanged while passing through', () => {
    expect([leadsLink('NORMAL', 'primary'), leadsLink('NORMAL', 'secondary')]).toEqual([true, false]);
    expect([leadsLink('CONFLICT-DONE', 'primary'), leadsLink('CONFLICT-DONE', 'secondary')]).toEqual([true, false]);
    for (const s of ['COMMUNICATIONS-INTERRUPTED', 'PARTNER-DOWN', 'RESOLUTION-INTERRUPTED'] as const) {
      expect([leadsLink(s, 'primary'), leadsLink(s, 'secondary')]).toEqual([true, true]);
    }
    for (const s of ['STARTUP', 'RECOVER', 'RECOVER-WAIT', 'RECOVER-DONE', 'POTENTIAL-CONFLICT'] as const) {
      expect([leadsLink(s, 'primary'), leadsLink(s, 'secondary')]).toEqual([undefined, undefined]);
    }
  });
});

// The failover section both the pair lab and the bench's pair mode give twin6
// (src/testing/lab/pair-topology.ts): the two ends of the partner link, no TLS
// unless asked for.

import { describe, expect, it } from 'vitest';
import { PAIR_LINK, pairFailoverSection, partnerOf } from '../../../src/testing/lab/pair-topology.js';

describe('pairFailoverSection', () => {
  it('puts each side on its end of the partner link, facing the other', () => {
    expect(pairFailoverSection('primary')).toEqual({
      role: 'primary',
      localAddress: PAIR_LINK.primary,
      peerAddress: PAIR_LINK.secondary,
      insecure: true,
    });
    expect(pairFailoverSection('secondary', { mcltSec: 3600 })).toEqual({
      role: 'secondary',
      localAddress: PAIR_LINK.secondary,
      peerAddress: PAIR_LINK.primary,
      insecure: true,
      mcltSec: 3600,
    });
    expect(partnerOf('primary')).toBe('secondary');
    expect(partnerOf('secondary')).toBe('primary');
  });

  it('drops insecure when the caller brings tls', () => {
    const tls = { caFile: 'ca.pem', certFile: 'a.pem', keyFile: 'a.key' };
    const s = pairFailoverSection('primary', { tls });
    expect(s).not.toHaveProperty('insecure');
    expect(s['tls']).toEqual(tls);
  });
});

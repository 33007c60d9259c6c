// Time-driven lease changes, run by the shell on a timer with the same commit
// path as client messages: active leases past their valid lifetime become
// expired (kept for affinity); expired, released and declined leases whose hold
// is over are deleted and their resource returns to the pool.

import type { BindingView, LeaseChange } from './lease.js';
import type { FailoverPolicy } from './policy.js';

/**
 * A lease the policy will not let us forget yet is looked at again this much
 * later: its hold is extended rather than left at the head of the expiry
 * queue, where it would keep every lease behind it from being reclaimed.
 */
export const FORGET_RETRY_SEC = 60;

export function reclaimDue(view: BindingView, nowSec: number, affinitySec: number, limit: number, policy?: FailoverPolicy): LeaseChange[] {
  return view.dueBefore(nowSec, limit).map((lease): LeaseChange => {
    if (lease.state === 'active') return { op: 'put', lease: { ...lease, state: 'expired', expiresAtSec: nowSec + affinitySec } };
    if (policy?.mayForget?.(lease) === false) return { op: 'put', lease: { ...lease, expiresAtSec: nowSec + FORGET_RETRY_SEC } };
    return { op: 'delete', resource: lease.resource };
  });
}

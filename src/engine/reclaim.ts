// Time-driven lease changes, run by the shell on a timer with the same commit
// path as client messages: active leases past their valid lifetime become
// expired (kept for affinity); expired, released and declined leases whose hold
// is over are deleted and their resource returns to the pool.

import type { BindingView, LeaseChange } from './lease.js';

export function reclaimDue(view: BindingView, nowSec: number, affinitySec: number, limit: number): LeaseChange[] {
  return view.dueBefore(nowSec, limit).map((lease): LeaseChange =>
    lease.state === 'active'
      ? { op: 'put', lease: { ...lease, state: 'expired', expiresAtSec: nowSec + affinitySec } }
      : { op: 'delete', resource: lease.resource },
  );
}

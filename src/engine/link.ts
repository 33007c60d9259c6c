// RFC 8415 §13.1: which link (subnet) a client is on. Direct clients are on the
// link of the arrival interface; relayed clients on the link named by the
// innermost relay's link-address, skipping zero and link-local values that
// lightweight relays put there (RFC 6221).

import type { RelayMessage } from '../wire/types.js';
import { addressToBigInt, prefixContains } from '../wire/address.js';
import type { ServingPlan, SubnetPlan } from './plan.js';

const isUnspecifiedOrLinkLocal = (a: string): boolean => a === '::' || /^fe[89ab]/i.test(a);

export function selectSubnet(plan: ServingPlan, iface: string, relays: readonly RelayMessage[]): SubnetPlan | undefined {
  if (relays.length === 0) return plan.subnets.find((s) => s.subnet.interface === iface);
  for (let i = relays.length - 1; i >= 0; i--) {
    const link = relays[i]!.linkAddress;
    if (isUnspecifiedOrLinkLocal(link)) continue;
    const a = addressToBigInt(link);
    return plan.subnets.find((s) => prefixContains(s.subnet.prefix, s.subnet.prefixLength, a));
  }
  return undefined;
}

// Options the server adds because the client asked for them in its ORO
// (RFC 8415 §21.7: top-level options go out only if requested).

import { MsgType, OptionCode } from '../wire/constants.js';
import type { Option, OroOption } from '../wire/types.js';
import type { ServedOptions } from '../config/types.js';

export function requestedOptions(msgType: number, oro: OroOption | undefined, served: ServedOptions): Option[] {
  if (!oro) return [];
  const asked = new Set(oro.codes);
  const out: Option[] = [];
  if (asked.has(OptionCode.DNS_SERVERS) && served.dnsServers.length > 0) {
    out.push({ kind: 'DNS_SERVERS', servers: served.dnsServers });
  }
  if (asked.has(OptionCode.DOMAIN_LIST) && served.domainSearch.length > 0) {
    out.push({ kind: 'DOMAIN_LIST', domains: served.domainSearch });
  }
  // §21.24: SOL_MAX_RT only in answers to Solicit-driven exchanges.
  if (msgType === MsgType.SOLICIT && asked.has(OptionCode.SOL_MAX_RT) && served.solMaxRtSec !== undefined) {
    out.push({ kind: 'SOL_MAX_RT', seconds: served.solMaxRtSec });
  }
  if (msgType === MsgType.INFORMATION_REQUEST) {
    // §21.23: Information Refresh Time only in a Reply to Information-request.
    if (asked.has(OptionCode.INFORMATION_REFRESH_TIME) && served.informationRefreshSec !== undefined) {
      out.push({ kind: 'INFORMATION_REFRESH_TIME', seconds: served.informationRefreshSec });
    }
    if (asked.has(OptionCode.INF_MAX_RT) && served.infMaxRtSec !== undefined) {
      out.push({ kind: 'INF_MAX_RT', seconds: served.infMaxRtSec });
    }
  }
  return out;
}

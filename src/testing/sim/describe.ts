// Short texts for trace lines: one partner message, one client message.

import { FoMsgType, foMsgTypeName, serverStateRfcName, type BindingReply, type BindingUpdate } from '../../wire/failover/index.js';
import type { FailoverPdu } from '../../failover/link.js';
import { msgTypeName } from '../../wire/constants.js';
import type { ClientServerMessage, Option } from '../../wire/types.js';

const STATUS_NAMES = ['', 'ACTIVE', 'EXPIRED', 'RELEASED', 'PENDING-FREE', 'FREE', 'FREE-BACKUP', 'ABANDONED', 'RESET'];

/** The last 4 hex digits of a DUID: enough to tell the simulated clients apart. */
export const duidTag = (duid: Uint8Array | string): string => {
  const hex = typeof duid === 'string' ? duid : Buffer.from(duid).toString('hex');
  return `#${hex.slice(-4)}`;
};

function updateText(u: BindingUpdate): string {
  if (u.form !== 'client') return `prefix ${u.prefix}/${u.prefixLength}`;
  return u.ias
    .flatMap((ia) =>
      ia.leases.map((l) => {
        const r = 'address' in l ? l.address : `${l.prefix}/${l.prefixLength}`;
        return `${r} ${duidTag(u.clientDuid)}/${ia.iaid} ${STATUS_NAMES[l.status] ?? l.status} exp=${l.stateExpirationTimeSec ?? '-'} clt=${l.clientLastTransactionTimeSec ?? '-'}`;
      }),
    )
    .join(', ');
}

function replyText(r: BindingReply): string {
  if (r.form === 'bare') return `status ${r.status.code}`;
  if (r.form === 'prefix') return r.status ? `status ${r.status.code}` : 'ok';
  const codes = r.ias.flatMap((ia) => [ia.status?.code, ...ia.leases.map((l) => l.status?.code)]).filter((c) => c !== undefined && c !== 0);
  return codes.length > 0 ? `refused ${codes.join(',')}` : 'ok';
}

export function pduText(pdu: FailoverPdu): string {
  const head = `${foMsgTypeName(pdu.type)} x${pdu.transactionId}`;
  switch (pdu.type) {
    case FoMsgType.BNDUPD:
      return `${head} ${updateText(pdu.content)}`;
    case FoMsgType.BNDREPLY:
      return `${head} ${replyText(pdu.content)}`;
    case FoMsgType.STATE: {
      const f = pdu.content.serverFlags;
      const flags = [f.startup ? 'startup' : '', f.communicated ? 'comm' : '', f.ackStartup ? 'ack' : ''].filter(Boolean).join('+');
      return `${head} ${serverStateRfcName(pdu.content.serverState) ?? pdu.content.serverState} ${flags} since=${pdu.content.startTimeOfStateSec}`;
    }
    case FoMsgType.DISCONNECT:
      return `${head} ${pdu.content.status?.message ?? ''}`;
    default:
      return head;
  }
}

function leasesText(options: readonly Option[]): string {
  const out: string[] = [];
  for (const o of options) {
    if (o.kind !== 'IA_NA' && o.kind !== 'IA_PD') continue;
    for (const i of o.options) {
      if (i.kind === 'IAADDR') out.push(`${i.address}(${i.validSec})`);
      if (i.kind === 'IAPREFIX') out.push(`${i.prefix}/${i.prefixLength}(${i.validSec})`);
      if (i.kind === 'STATUS_CODE' && i.status !== 0) out.push(`${o.kind}:status${i.status}`);
    }
  }
  return out.join(' ');
}

export function dhcpText(m: ClientServerMessage): string {
  return `${msgTypeName(m.type)} x${m.transactionId} ${leasesText(m.options)}`.trimEnd();
}

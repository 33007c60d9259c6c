// RFC 8415 §11: the server's DUID must never change — clients renew at the
// server whose DUID they saw, and each failover partner has its own. It is
// made once (DUID-LLT from a MAC of a served interface, else DUID-UUID) and
// kept in the lease store's metadata, unless the config fixes it.

import os from 'node:os';
import { randomUUID } from 'node:crypto';

const EPOCH_2000_UNIX_SEC = 946_684_800;

export function makeServerDuid(interfaces: readonly string[], nowSec: number): Uint8Array {
  const system = os.networkInterfaces();
  for (const iface of interfaces) {
    const mac = system[iface]?.find((a) => a.mac && a.mac !== '00:00:00:00:00:00')?.mac;
    if (!mac) continue;
    const duid = Buffer.alloc(8 + 6);
    duid.writeUInt16BE(1, 0); // DUID-LLT
    duid.writeUInt16BE(1, 2); // hardware type: Ethernet
    duid.writeUInt32BE((nowSec - EPOCH_2000_UNIX_SEC) >>> 0, 4);
    Buffer.from(mac.split(':').map((h) => parseInt(h, 16))).copy(duid, 8);
    return duid;
  }
  const duid = Buffer.alloc(2 + 16);
  duid.writeUInt16BE(4, 0); // DUID-UUID (RFC 6355)
  Buffer.from(randomUUID().replaceAll('-', ''), 'hex').copy(duid, 2);
  return duid;
}

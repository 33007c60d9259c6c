#!/usr/bin/env node
// Boots one or two twin6 appliances (QEMU, from .build/<board>) in a lab
// namespace with a client namespace on their LAN, runs a real DHCPv6 client
// there, prints what it got and what the appliances use, then holds until
// Ctrl-C (or --hold SEC) and removes everything. Use scripts/run-qemu, which
// builds the image first.
//
//   --board ID           qemu-x86_64 (default), qemu-aarch64, or qemu-aarch64-uboot
//                        (U-Boot boots the SD card layout, sdcard.img) (board/ID.json)
//   --vms 1|2            one standalone appliance, or a primary + secondary
//                        failover pair on a partner link (each VM's flash is
//                        provisioned with examples/<role>.json and its TLS
//                        identity from a lab CA; see src/testing/lab/appliance-lab.ts)
//   --client dhcpcd|dhclient|none
//   --flash ext4|ubifs   overrides the board's flash filesystem
//   --boot disk|kernel   disk (default): UEFI firmware boots a copy of
//                        disk.img; kernel: QEMU's -kernel/-initrd with the
//                        squashfs and a flash file as two disks
//   --hold SEC  --keep   (keep the lab directory: consoles, flash files)
// x86 KVM only with T6_QEMU_KVM=1 (TCG otherwise: KVM hangs on this project's
// machines); an arm64 guest on an x86 host is always TCG.

import { parseArgs } from 'node:util';
import { ApplianceLab } from '../dist/testing/lab/appliance-lab.js';
import { accelFor, applianceUnavailableReason, loadImage } from '../dist/testing/lab/appliance.js';

const { values } = parseArgs({
  options: {
    board: { type: 'string', default: 'qemu-x86_64' },
    vms: { type: 'string', default: '1' },
    client: { type: 'string', default: 'dhcpcd' },
    flash: { type: 'string' },
    boot: { type: 'string', default: 'disk' },
    hold: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const vms = Number(values.vms);
if (vms !== 1 && vms !== 2) throw new Error('--vms is 1 or 2');
if (!['dhcpcd', 'dhclient', 'none'].includes(values.client)) throw new Error('--client is dhcpcd, dhclient or none');
if (values.flash && !['ext4', 'ubifs'].includes(values.flash)) throw new Error('--flash is ext4 or ubifs');
if (!['disk', 'kernel'].includes(values.boot)) throw new Error('--boot is disk or kernel');

const reason = await applianceUnavailableReason(values.board);
if (reason) {
  console.error(`run-qemu: ${reason}`);
  process.exit(1);
}

const image = loadImage(values.board);
const lab = await ApplianceLab.create({
  image,
  appliances: vms,
  clients: values.client === 'none' ? [] : [{ kind: values.client }],
  ...(values.flash ? { flashFs: values.flash } : {}),
  boot: values.boot,
  keepDir: values.keep,
});
let stopping = false;
const finish = async (code) => {
  if (stopping) return;
  stopping = true;
  await lab.stop();
  console.log(values.keep ? `stopped; files kept in ${lab.dir}` : 'stopped and removed');
  process.exit(code);
};
process.on('SIGINT', () => void finish(0));
process.on('SIGTERM', () => void finish(0));

try {
  console.log(
    `lab ${lab.id} in ${lab.dir} (${image.board.id}, ${accelFor(image.board).toUpperCase()}); namespaces ${lab.wire.name}, ${lab.clientNamespaces.map((n) => n.name).join(', ')}`,
  );
  for (const a of lab.appliances) a.boot();
  for (const a of lab.appliances) {
    const ms = await a.waitServing();
    console.log(
      `appliance ${a.spec.name} (${a.spec.role}, ${a.spec.lan6}, flash ${a.flashFs}, boot ${a.bootMode}): serving ${(ms / 1000).toFixed(1)} s after power-on`,
    );
    const p = a.bootPhases(ms);
    if (p) {
      const s = (x) => (x / 1000).toFixed(1);
      console.log(
        `  boot: before kernel ${s(p.beforeKernelMs)} s, kernel ${s(p.kernelMs)}, init ${s(p.initMs)}, services ${s(p.servicesMs)}, node + modules ${s(p.nodeModulesMs)}, twin6d start ${s(p.daemonStartMs)}`,
      );
    }
    console.log(`  console: ${a.consoleFile()}   shell: nc -U ${a.mgmtPath} (or socat - UNIX-CONNECT:${a.mgmtPath})`);
  }
  if (vms === 2) {
    // The partner link: RFC 8156 failover over TLS; both reach NORMAL before any client starts.
    for (const a of lab.appliances) {
      const ms = (await a.waitFailoverState('NORMAL', { timeoutMs: 180_000 })) - a.poweredOnAtMs;
      const s = await a.failover();
      console.log(
        `appliance ${a.spec.name} (${s.role}): NORMAL ${(ms / 1000).toFixed(1)} s after power-on; partner ${s.partnerState}, ${s.secure ? 'TLS' : 'no TLS'}, MCLT ${s.mcltSec} s`,
      );
    }
  }
  for (const c of lab.clients) {
    await c.start();
    const b = await c.waitForBinding({ timeoutMs: 60_000 });
    console.log(
      `${c.name}: address ${b.addresses.map((x) => x.address).join(', ')}, prefix ${b.prefixes.map((p) => `${p.prefix}/${p.length}`).join(', ')}`,
    );
  }
  for (const a of lab.appliances) {
    const mem = await a.sh("free | awk '/Mem:/ {print $2, $3}'; grep VmRSS /proc/$(pidof node)/status");
    console.log(`appliance ${a.spec.name} memory (KiB: total used / twin6d): ${mem.out.trim().replace(/\n/g, ' / ')}`);
  }
} catch (e) {
  console.error(`${e.message}\n${lab.diagnostics()}`);
  await finish(1);
}
if (values.hold !== undefined) setTimeout(() => void finish(0), Number(values.hold) * 1000);
else console.log('holding; Ctrl-C to stop');

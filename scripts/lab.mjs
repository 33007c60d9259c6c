#!/usr/bin/env node
// Interactive lab: `npm run lab -- [--single] [--server twin6|kea] [--clients dhclient,dhcpcd] [--hold SEC] [--keep] [--mqtt]`
// By default: two twin6 appliances as an RFC 8156 failover pair (primary and
// secondary on one client LAN, partner link p0 between them) reporting to a
// fleet broker on the LAN. --single (or --server kea) runs one server instead.
// Builds the namespaces, starts the server(s) and the clients, prints what each
// client got and what the server recorded, then holds the lab up (Ctrl-C, or
// --hold seconds) so it can be poked at with `ip netns exec t6-<id>-c1 ...`,
// and finally releases and removes everything. Needs root. --mqtt also starts
// a mosquitto (mutual TLS, per-device certificates, ACL) in the server
// namespace, gives twin6d an uplink to it, and prints the retained state the
// broker holds for each appliance.

import { parseArgs } from 'node:util';
import {
  FleetLab,
  keaServer,
  labUnavailableReason,
  startLab,
  startPairLab,
  sweepStaleLabs,
  twin6Leases,
  twin6Server,
} from '../dist/testing/lab/index.js';
import { callControl } from '../dist/daemon/control.js';

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'twin6' },
    clients: { type: 'string', default: 'dhclient,dhcpcd' },
    hold: { type: 'string' },
    keep: { type: 'boolean', default: false },
    sweep: { type: 'boolean', default: false },
    mqtt: { type: 'boolean', default: false },
    single: { type: 'boolean', default: false },
  },
});

if (values.sweep) {
  // Removes namespaces of labs whose process died without cleaning up.
  const removed = sweepStaleLabs();
  console.log(removed.length ? `removed ${removed.join(', ')}` : 'nothing stale');
  process.exit(0);
}

if (values.mqtt && values.server !== 'twin6') {
  console.error('--mqtt needs --server twin6');
  process.exit(2);
}
const fleet = values.mqtt ? new FleetLab() : undefined;
const servers = { kea: () => keaServer(), twin6: () => fleet?.serverSpec() ?? twin6Server() };
const makeServer = servers[values.server];
if (!makeServer) {
  console.error(`unknown --server ${values.server} (kea, twin6)`);
  process.exit(2);
}
const kinds = values.clients
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const k of kinds) {
  if (k !== 'dhclient' && k !== 'dhcpcd') {
    console.error(`unknown client ${k} (dhclient, dhcpcd)`);
    process.exit(2);
  }
}

const reason = await labUnavailableReason({ server: makeServer(), clients: kinds });
if (reason) {
  console.error(`lab cannot run: ${reason}`);
  process.exit(1);
}

/** Clients give their leases back before the lab goes away, as a person shutting down a lab would. */
async function releaseAll(clients) {
  for (const c of clients) {
    if (!c.process.running) continue;
    try {
      await c.release();
      console.log(`${c.name}: released`);
    } catch (e) {
      console.error(`${c.name}: release failed: ${e.message}`);
    }
  }
}

if (!values.single && values.server === 'twin6') await runPair();

/** The two-appliance lab: prints what each client got and what both partners hold and say. */
async function runPair() {
  if (values.keep) process.env['T6_LAB_KEEP'] = '1';
  // The fleet broker comes with the pair: both appliances report to it (twin6ctl fleet list shows them).
  const pair = await startPairLab({ clients: kinds.map((kind) => ({ kind })), logLevel: 'info', mqtt: true });
  let stopping = false;
  const finish = async (code) => {
    if (stopping) return;
    stopping = true;
    await releaseAll(pair.clients);
    await pair.close();
    console.log(values.keep ? `lab stopped; files kept in ${pair.dir}` : 'lab stopped and removed');
    process.exit(code);
  };
  process.once('SIGINT', () => void finish(130));
  process.once('SIGTERM', () => void finish(143));
  try {
    console.log(`pair lab ${pair.id}: ${pair.namespaces.map((n) => n.name).join(' ')} (files in ${pair.dir})`);
    for (const c of pair.clients) {
      const b = await c.waitForBinding();
      const a = b.addresses.map((x) => `${x.address} (valid ${x.validLifetime}s)`).join(', ') || '-';
      const p = b.prefixes.map((x) => `${x.prefix}/${x.length} (valid ${x.validLifetime}s)`).join(', ') || '-';
      console.log(`${c.name} in ${c.ns.name}: address ${a}; prefix ${p}`);
    }
    // Lazy updates: give the secondary a moment to hear of the last Reply.
    await new Promise((r) => setTimeout(r, 1500));
    for (const role of ['primary', 'secondary']) {
      const st = await callControl(`${pair.stateDir(role)}/twin6d.sock`, { cmd: 'failover.status' });
      const s = st.ok ? st.result : {};
      console.log(
        `${role} in ${pair.server[role].name}: ${s.state}, partner ${s.partnerState}, ${s.unackedUpdates} unacknowledged; leases:`,
      );
      for (const l of await twin6Leases(pair.stateDir(role)))
        console.log(`  ${l.type} ${l.address}/${l.prefixLength} ${l.state} duid ${l.duid}`);
    }
    // The retained state is refreshed at most every 2 s; let it catch up with the failover state.
    await new Promise((r) => setTimeout(r, 2500));
    const list = await pair.fleet(['list']);
    console.log(`fleet broker in ${pair.namespaces[0].name} (mqtts, per-device certificates):`);
    console.log((list.stdout + list.stderr).trimEnd());
    console.log(`try: node dist/cli/twin6ctl.js --state-dir ${pair.stateDir('primary')} failover`);
  } catch (e) {
    console.error(e.message);
    console.error(pair.diagnostics());
    await finish(1);
  }
  if (values.hold !== undefined) setTimeout(() => void finish(0), Number(values.hold) * 1000);
  else {
    console.log('holding the lab up; Ctrl-C releases and removes it');
    setInterval(() => undefined, 1 << 30);
  }
  await new Promise(() => undefined); // finish() exits the process
}

const lab = await startLab({ server: makeServer(), clients: kinds.map((kind) => ({ kind })), keepDir: values.keep });
let stopping = false;
const finish = async (code) => {
  if (stopping) return;
  stopping = true;
  await releaseAll(lab.clients);
  await fleet?.stop();
  await lab.stop();
  console.log(values.keep ? `lab stopped; files kept in ${lab.dir}` : 'lab stopped and removed');
  process.exit(code);
};
process.once('SIGINT', () => void finish(130));
process.once('SIGTERM', () => void finish(143));

try {
  console.log(`lab ${lab.id}: ${lab.lan.namespaces.map((n) => n.name).join(' ')} (files in ${lab.dir})`);
  for (const c of lab.clients) {
    const b = await c.waitForBinding();
    const a = b.addresses.map((x) => `${x.address} (valid ${x.validLifetime}s)`).join(', ') || '-';
    const p = b.prefixes.map((x) => `${x.prefix}/${x.length} (valid ${x.validLifetime}s)`).join(', ') || '-';
    console.log(`${c.name} in ${c.ns.name}: address ${a}; prefix ${p}`);
  }
  if (lab.server?.hasLeases) {
    console.log('server leases:');
    for (const l of await lab.server.leases()) console.log(`  ${l.type} ${l.address}/${l.prefixLength} ${l.state} duid ${l.duid}`);
  }
  if (fleet) {
    // The state topic is updated at most every 2 s; let it catch up with the clients' leases.
    await new Promise((r) => setTimeout(r, 2500));
    const conn = fleet.connectionArgs();
    const list = await fleet.fleet([...conn, 'list']);
    const json = await fleet.fleet([...conn, 'list', '--json']);
    console.log(`broker ${fleet.broker.url} in ${lab.lan.server.name}; retained ${fleet.prefix}/+/state:`);
    console.log((list.stdout + list.stderr).trimEnd());
    console.log(json.stdout.trimEnd());
    console.log(
      `try: ip netns exec ${lab.lan.server.name} node dist/cli/twin6ctl.js fleet ${conn.join(' ')} send ${fleet.deviceId} status`,
    );
  }
} catch (e) {
  console.error(e.message);
  await finish(1);
}

if (values.hold !== undefined) {
  setTimeout(() => void finish(0), Number(values.hold) * 1000);
} else {
  console.log('holding the lab up; Ctrl-C releases and removes it');
  setInterval(() => undefined, 1 << 30);
}

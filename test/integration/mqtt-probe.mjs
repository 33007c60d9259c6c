#!/usr/bin/env node
// Test-only MQTT probe for test/integration/mqtt.test.ts, run inside the lab's
// server namespace (where the broker is) with `ip netns exec`:
//   watch   --filter F            one JSON line per message: {t, topic, retain, payload}
//   publish --topic T --payload P [--retain]   one JSON line: {ok, reasonCode?, error?}
// Both take --broker URL --ca --cert --key (a client certificate = an identity).

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    broker: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    filter: { type: 'string' },
    topic: { type: 'string' },
    payload: { type: 'string', default: '' },
    retain: { type: 'boolean', default: false },
  },
});
const url = new URL(values.broker);
const options = {
  protocol: 'mqtts',
  host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
  port: Number(url.port),
  protocolVersion: 5,
  ca: readFileSync(values.ca),
  cert: readFileSync(values.cert),
  key: readFileSync(values.key),
  rejectUnauthorized: true,
  clientId: `probe-${process.pid}`,
};
const line = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (positionals[0] === 'watch') {
  // Reconnects on its own (every 300 ms): a watch may start while the broker is down.
  const client = mqtt.connect({ ...options, reconnectPeriod: 300 });
  client.on('connect', () => {
    line({ t: Date.now(), connected: true });
    client.subscribe(values.filter, { qos: 1 });
  });
  client.on('message', (topic, payload, packet) =>
    line({ t: Date.now(), topic, retain: packet.retain, payload: payload.toString('utf8') }),
  );
  client.on('error', () => undefined);
  process.on('SIGTERM', () => process.exit(0));
} else if (positionals[0] === 'publish') {
  const client = await mqtt.connectAsync({ ...options, reconnectPeriod: 0 });
  try {
    await client.publishAsync(values.topic, values.payload, { qos: 1, retain: values.retain });
    line({ ok: true });
  } catch (e) {
    line({ ok: false, reasonCode: e.code, error: e.message });
  }
  await client.endAsync();
} else {
  process.stderr.write('usage: mqtt-probe.mjs watch|publish ...\n');
  process.exit(2);
}

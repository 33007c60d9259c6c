// The topic layout, in one place for the device and the operator side:
//   <prefix>/<deviceId>/state            retained presence + state (birth and Last Will)
//   <prefix>/<deviceId>/meta             retained: software, command list
//   <prefix>/<deviceId>/tele/<group>     periodic telemetry
//   <prefix>/<deviceId>/evt/<type>       events
//   <prefix>/<deviceId>/cmd/<name>       requests (MQTT 5 Response Topic + Correlation Data)
//   <prefix>/<deviceId>/rsp/<requester>  responses: the only place a device answers to
//   <prefix>/<deviceId>/config/desired   retained, by an operator: a signed config to run (docs/fleet.md §7)
//   <prefix>/<deviceId>/config/reported  retained, by the device: the pushed version in force, last outcome
// The broker's ACL lets a device write its own subtree only; the device
// itself also refuses a Response Topic outside its rsp/ subtree, since its
// own state/evt topics are writable to it and must not be forgeable through it.
// What a device id and a prefix may be is config/topic-rules.ts's: the config
// checks both at load.

import { DEVICE_ID_RE } from '../config/topic-rules.js';

export const DEFAULT_TOPIC_PREFIX = 'fleet/v1';

const COMMAND_NAME_RE = /^[a-z][a-z0-9.-]{0,47}$/;
/** Requester ids and deeper response levels: one topic level of a safe alphabet. */
const LEVEL_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const RESPONSE_TOPIC_BYTES_MAX = 256;

export type TelemetryGroup = 'dhcp' | 'pools' | 'storage' | 'uplink';

export interface DeviceTopics {
  readonly root: string;
  readonly state: string;
  readonly meta: string;
  readonly cmdFilter: string;
  readonly rspRoot: string;
  readonly configDesired: string;
  readonly configReported: string;
  tele(group: TelemetryGroup): string;
  evt(type: string): string;
  cmd(name: string): string;
}

export function deviceTopics(prefix: string, deviceId: string): DeviceTopics {
  const root = `${prefix}/${deviceId}`;
  return {
    root,
    state: `${root}/state`,
    meta: `${root}/meta`,
    cmdFilter: `${root}/cmd/+`,
    rspRoot: `${root}/rsp`,
    configDesired: `${root}/config/desired`,
    configReported: `${root}/config/reported`,
    tele: (group) => `${root}/tele/${group}`,
    evt: (type) => `${root}/evt/${type}`,
    cmd: (name) => `${root}/cmd/${name}`,
  };
}

/** The command a request topic names, or undefined if the topic is not one of this device's. */
export function commandOfTopic(topics: DeviceTopics, topic: string): string | undefined {
  const head = `${topics.root}/cmd/`;
  if (!topic.startsWith(head)) return undefined;
  const name = topic.slice(head.length);
  return COMMAND_NAME_RE.test(name) ? name : undefined;
}

export type TopicCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * A Response Topic the device may publish to: inside `<root>/rsp/`, at least
 * one level below it, each level plain (no wildcard, no empty level).
 */
export function checkResponseTopic(topics: DeviceTopics, responseTopic: string | undefined): TopicCheck {
  if (responseTopic === undefined || responseTopic === '')
    return { ok: false, reason: 'request has no Response Topic (MQTT 5 request/response is required)' };
  if (Buffer.byteLength(responseTopic) > RESPONSE_TOPIC_BYTES_MAX) {
    return { ok: false, reason: `Response Topic is longer than ${RESPONSE_TOPIC_BYTES_MAX} bytes` };
  }
  const head = `${topics.rspRoot}/`;
  if (!responseTopic.startsWith(head)) {
    return { ok: false, reason: `Response Topic ${JSON.stringify(responseTopic)} is outside this device's response subtree ${head}#` };
  }
  const levels = responseTopic.slice(head.length).split('/');
  if (levels.length > 4 || !levels.every((l) => LEVEL_RE.test(l))) {
    return {
      ok: false,
      reason: `Response Topic ${JSON.stringify(responseTopic)} must be ${head}<requester>[/…] with 1 to 4 levels of letters, digits, ".", "-", "_"`,
    };
  }
  return { ok: true };
}

export function requesterIdProblem(id: string): string | undefined {
  return LEVEL_RE.test(id) ? undefined : `a requester id is 1 to 64 letters, digits, ".", "-", "_", got ${JSON.stringify(id)}`;
}

/** Operator side: all devices' state, and which device a topic belongs to. */
export function fleetStateFilter(prefix: string): string {
  return `${prefix}/+/state`;
}

/** Operator side: all devices' reported config. */
export function fleetReportedFilter(prefix: string): string {
  return `${prefix}/+/config/reported`;
}

export function deviceOfTopic(prefix: string, topic: string): string | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const id = topic.slice(prefix.length + 1).split('/')[0] ?? '';
  return DEVICE_ID_RE.test(id) ? id : undefined;
}

/**
 * Whether `topic` matches the subscription `filter` (MQTT 5 §4.7: `+` one level,
 * `#` this level and every one below). One client holds many subscriptions and
 * mqtt.js hands every message to every listener, so a listener filters itself.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

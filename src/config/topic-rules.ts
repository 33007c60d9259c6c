// What a device id and a topic prefix may be: the config checks them at load
// and the uplink builds its topics from them (mgmt/topics.ts), so what loads is
// what the broker's %u ACL patterns can hold. They sit here, not beside the
// topic layout, because config/ may not import mgmt/ (docs/architecture.md §2).

/** Certificate CN = MQTT username = topic level; no wildcard or level separator can sneak into an ACL pattern. */
export const DEVICE_ID_RE = /^[a-z0-9][a-z0-9-]{0,47}$/;
const PREFIX_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,7}$/;

/** For config checks: undefined when fine, else the problem. */
export function topicPrefixProblem(prefix: string): string | undefined {
  return PREFIX_RE.test(prefix)
    ? undefined
    : `expected 1 to 8 topic levels of letters, digits, ".", "-", "_" separated by "/", without wildcards or a leading "$", got ${JSON.stringify(prefix)}`;
}

// Lab traffic generators must only ever run inside a lab namespace: in the
// host's own namespace a multicast to ff02::1:2 would leave this machine on
// its real interface. They call this first and refuse to run otherwise.
// (/proc/1/ns/net cannot be read in every sandbox, so the check asks iproute2
// which named namespace this process is in, and wants one of the lab's.)

import { execFileSync } from 'node:child_process';

export function assertInsideLabNamespace(program: string): void {
  let name: string;
  try {
    name = execFileSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).trim();
  } catch (e) {
    throw new Error(`${program}: cannot tell which network namespace this is (${(e as Error).message}); refusing to send`, { cause: e });
  }
  if (!/^t6-/.test(name)) {
    throw new Error(`${program}: refusing to run outside a lab network namespace (t6-*); this one is "${name || 'the host'}"`);
  }
}

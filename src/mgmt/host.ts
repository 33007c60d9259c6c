// The part of the Daemon the management layer uses: naming it keeps the
// coupling visible and lets handlers be tried against a stand-in.

import type { Daemon } from '../daemon/daemon.js';

export type ManagedDaemon = Pick<
  Daemon,
  'on' | 'off' | 'counters' | 'store' | 'commands' | 'registerCommand' | 'config' | 'configFile' | 'log' | 'reload' | 'onStop' | 'serverDuid' | 'startedMs'
>;

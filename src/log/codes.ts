// The stable codes twin6d's log lines and MQTT events carry, in the manner of
// Kea's message ids: one upper-case name per event, prefixed with the part of
// twin6 it comes from. A line carries its code in the pino object
// (`log.warn({ code: 'MQTT_CONNECT_FAILED', broker, reason }, 'mqtt: connect failed')`),
// an MQTT event in its document; where a log line and an event report the same
// happening they carry the same code. The message text may change, the code
// never does: a renamed event gets a new code and the old one is listed as
// retired in docs/log-codes.md, which says what each code means and what the
// operator should do.
//
// A leaf with no imports of ours, so every layer that logs may name a code;
// the core (wire/, engine/) does not log. Every warn, error and fatal line has
// a code, and every code here is documented and used (test/unit/docs/log-codes.test.ts).

export const LOG_CODES = [
  // daemon/, cli/twin6d
  'DAEMON_STARTED',
  'DAEMON_STOPPING',
  'DAEMON_STOPPED',
  'DAEMON_STATE_DIR_TIGHTENED',
  'DAEMON_SHUTDOWN_HOOK_FAILED',
  'DAEMON_CLOCK_BEHIND',
  'DAEMON_CLOCK_TRUSTED',
  // the time (daemon/time-sync.ts)
  'TIME_CLOCK_STEPPED',
  'TIME_NO_SOURCE',
  'TIME_STEP_FAILED',
  'TIME_STEP_REFUSED',
  'TIME_SERVE_FAILED',
  // configuration
  'CONFIG_RELOADED',
  'CONFIG_RELOAD_REJECTED',
  'CONFIG_PDROUTES_NEEDS_RESTART',
  // config push over MQTT (mgmt/config-pusher.ts)
  'CONFIG_PUSH_APPLIED',
  'CONFIG_PUSH_REJECTED',
  'CONFIG_PUSH_REFUSED',
  'CONFIG_PUSH_ROLLED_BACK',
  'CONFIG_PUSH_WRITE_FAILED',
  'CONFIG_PUSH_FAILED',
  // firmware upgrades into the inactive boot slot (firmware/service.ts)
  'FIRMWARE_BOOTED',
  'FIRMWARE_NO_SLOT',
  'FIRMWARE_DOWNLOAD_STARTED',
  'FIRMWARE_PROGRESS',
  'FIRMWARE_STAGED',
  'FIRMWARE_CANCELLED',
  'FIRMWARE_UNAVAILABLE',
  'FIRMWARE_REBOOTING',
  'FIRMWARE_REBOOT_FAILED',
  'FIRMWARE_UPGRADE_FAILED',
  'FIRMWARE_UPGRADE_OUTCOME',
  'FIRMWARE_COMMITTED',
  'FIRMWARE_TRIAL_FAILED',
  // the lease store
  'STORE_CORRUPT_RECORDS',
  'STORE_WRITE_FAILED',
  'STORE_CHANGE_REJECTED',
  'STORE_DEGRADED',
  'STORE_RECOVERED',
  // the DHCP packet path
  'DHCP_SOCKET_ERROR',
  'DHCP_PACKET_FAILED',
  'DHCP_REPLY_SEND_FAILED',
  'DHCP_POOL_EXHAUSTED',
  // router advertisements (net/ra.ts, cli/cpe.ts)
  'RA_SOCKET_OPEN_FAILED',
  'RA_SOCKET_FAILED',
  'RA_SEARCH_DOMAINS_DROPPED',
  'RA_SEND_FAILED',
  'RA_UPDATE_FAILED',
  // routes for delegated prefixes (net/routes.ts)
  'ROUTE_UPDATE_FAILED',
  'ROUTE_LIST_FAILED',
  'ROUTE_BATCH_FAILED',
  'ROUTE_CHANGE_FAILED',
  // failover: the partner link, replication, prefix hand-off
  'FAILOVER_LISTENER_ERROR',
  'FAILOVER_PARTNER_CONNECTION_REFUSED',
  'FAILOVER_PARTNER_CONNECTED',
  'FAILOVER_PARTNER_DISCONNECTED',
  'FAILOVER_BNDUPD_REJECTED',
  'FAILOVER_BNDUPD_VIA_UNREADABLE',
  'FAILOVER_BINDING_CONFLICT',
  'FAILOVER_PD_MOVE_REFUSED',
  'FAILOVER_PD_PREFIXES_RETURNED',
  // failover: the state machine's alarms (failover/effects.ts ALARM_CODE)
  'FAILOVER_COMMUNICATIONS_INTERRUPTED',
  'FAILOVER_RESOLUTION_INTERRUPTED',
  'FAILOVER_FORCED_PARTNER_DOWN',
  'FAILOVER_PARTNER_STALLED',
  'FAILOVER_ROLE_CHANGED',
  // failover: the endpoint
  'FAILOVER_STATE_RECORD_UNREADABLE',
  'FAILOVER_EFFECT_FAILED',
  'FAILOVER_STATE_CHANGED',
  'FAILOVER_LEADING_LINK',
  'FAILOVER_STANDING_DOWN',
  'FAILOVER_PARTNER_CLOCK_SKEW',
  'FAILOVER_BNDUPD_UNUSABLE',
  'FAILOVER_PARTNER_REJECTED_CONNECT',
  'FAILOVER_LINK_HELD',
  'FAILOVER_LINK_RELEASED',
  'FAILOVER_LAN_DOWN',
  'FAILOVER_CLIENTS_UNANSWERED',
  'FAILOVER_PRIMARY_NOT_SERVING',
  'FAILOVER_MAINTENANCE_STARTED',
  'FAILOVER_MAINTENANCE_ENDED',
  'FAILOVER_MAINTENANCE_CALLED_OFF',
  // the MQTT uplink's connection
  'MQTT_UPLINK_STARTED',
  'MQTT_UPLINK_STOPPED',
  'MQTT_UPLINK_START_FAILED',
  'MQTT_CONNECTED',
  'MQTT_CONNECT_FAILED',
  'MQTT_CONNECTION_LOST',
  'MQTT_SUBSCRIBE_FAILED',
  'MQTT_PUBLISH_FAILED',
  // management: commands, events and the state document
  'MGMT_LOG_LEVEL_CHANGED',
  'MGMT_COMMAND_KEY_INVALID',
  'MGMT_REQUEST_FAILED',
  'MGMT_STATE_DOC_FAILED',
  'MGMT_COMMAND_AUTHORIZED',
  'MGMT_COMMAND_NOT_AUTHORIZED',
  'MGMT_COMMAND_REFUSED',
] as const;

export type LogCode = (typeof LOG_CODES)[number];

// pino 10 merges LogFnFields into the object of every log call: a `code` that
// is not one of the above fails typecheck, in every file, without a wrapper
// around the logger. That a warn/error/fatal line has a code at all is checked
// by the scan in test/unit/docs/log-codes.test.ts (pino's overloads cannot be
// narrowed per level from here).
declare module 'pino' {
  interface LogFnFields {
    /** docs/log-codes.md: stable; the message may change, the code does not. */
    code?: LogCode;
  }
}

// RFC 8156 §5.5.16 (OPTION_F_SERVER_STATE): the failover states in the order
// of their wire codes, 1 to 10. Written out from the RFC rather than read from
// src/failover/states.ts, so a state the product drops or renumbers fails the
// tests instead of vanishing from them.
export const RFC8156_STATES = [
  'STARTUP',
  'NORMAL',
  'COMMUNICATIONS-INTERRUPTED',
  'PARTNER-DOWN',
  'POTENTIAL-CONFLICT',
  'RECOVER',
  'RECOVER-WAIT',
  'RECOVER-DONE',
  'RESOLUTION-INTERRUPTED',
  'CONFLICT-DONE',
] as const;

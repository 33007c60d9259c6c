"""Failover endpoint states (RFC 8156 §8) as pure functions.

The codes are the published OPTION_F_SERVER_STATE values of RFC 8156
§5.5.16.  The functions here only compute the next state; the side effects
(STATE messages, UPDREQ, timers) live in peer.py.
"""

STARTUP = 1
NORMAL = 2
COMMUNICATIONS_INTERRUPTED = 3
PARTNER_DOWN = 4
POTENTIAL_CONFLICT = 5
RECOVER = 6
RECOVER_WAIT = 7
RECOVER_DONE = 8
RESOLUTION_INTERRUPTED = 9
CONFLICT_DONE = 10

STATE_NAMES = {
    STARTUP: "STARTUP",
    NORMAL: "NORMAL",
    COMMUNICATIONS_INTERRUPTED: "COMMUNICATIONS-INTERRUPTED",
    PARTNER_DOWN: "PARTNER-DOWN",
    POTENTIAL_CONFLICT: "POTENTIAL-CONFLICT",
    RECOVER: "RECOVER",
    RECOVER_WAIT: "RECOVER-WAIT",
    RECOVER_DONE: "RECOVER-DONE",
    RESOLUTION_INTERRUPTED: "RESOLUTION-INTERRUPTED",
    CONFLICT_DONE: "CONFLICT-DONE",
}
STATE_CODES = {v: k for k, v in STATE_NAMES.items()}


def name(state):
    if state is None:
        return None
    return STATE_NAMES.get(state, "UNKNOWN(%s)" % state)


def parse(text):
    """State name (any case, '-' or '_') -> code; raises KeyError."""
    key = str(text).strip().upper().replace("_", "-")
    if key in ("COMM-INT", "COMMUNICATIONS-INT"):
        key = "COMMUNICATIONS-INTERRUPTED"
    if key == "RESOLUTION-INT":
        key = "RESOLUTION-INTERRUPTED"
    return STATE_CODES[key]


def comm_failed(state):
    """State after communications stop being "OK".

    NORMAL -> COMMUNICATIONS-INTERRUPTED (§8.8.2);
    POTENTIAL-CONFLICT -> RESOLUTION-INTERRUPTED (§8.10.2).
    Every other state stays where it is: RECOVER (§8.5.2), RECOVER-WAIT
    (§8.6.2), RECOVER-DONE (§8.7.2), CONFLICT-DONE (§8.12.2), PARTNER-DOWN,
    COMMUNICATIONS-INTERRUPTED and RESOLUTION-INTERRUPTED.
    This is also the "communication failed state transition" applied to
    PREVIOUS-STATE in STARTUP Step 2 (§8.3.2).
    """
    if state == NORMAL:
        return COMMUNICATIONS_INTERRUPTED
    if state == POTENTIAL_CONFLICT:
        return RESOLUTION_INTERRUPTED
    return state


def comm_ok(own, partner):
    """Transition taken while communications are "OK" and the partner's
    state is `partner` (known, STARTUP bit clear).  Returns the new state
    (== own when nothing changes).  UPDDONE- and timer-driven transitions
    are handled by the caller (RECOVER -> RECOVER-WAIT, POTENTIAL-CONFLICT
    -> CONFLICT-DONE/NORMAL, RECOVER-WAIT -> RECOVER-DONE).
    """
    if partner is None:
        return own
    if own == PARTNER_DOWN:                                    # §8.4.2
        if partner in (NORMAL, COMMUNICATIONS_INTERRUPTED, PARTNER_DOWN,
                       POTENTIAL_CONFLICT, RESOLUTION_INTERRUPTED,
                       CONFLICT_DONE):
            return POTENTIAL_CONFLICT
        if partner == RECOVER_DONE:
            return NORMAL
        return own                       # partner RECOVER / RECOVER-WAIT
    if own == RECOVER:                                         # §8.5.2
        if partner in (POTENTIAL_CONFLICT, RESOLUTION_INTERRUPTED,
                       CONFLICT_DONE):
            return POTENTIAL_CONFLICT
        return own                       # caller sends UPDREQ/UPDREQALL
    if own == RECOVER_WAIT:                                    # §8.6.2
        return own
    if own == RECOVER_DONE:                                    # §8.7.2
        if partner in (NORMAL, RECOVER_DONE):
            return NORMAL
        if partner in (RECOVER, RECOVER_WAIT):
            return COMMUNICATIONS_INTERRUPTED
        if partner == POTENTIAL_CONFLICT:
            return POTENTIAL_CONFLICT
        return own
    if own == NORMAL:                                          # §8.8.2
        # Expected partner states while we are NORMAL.  CONFLICT-DONE is
        # expected on a secondary that just left POTENTIAL-CONFLICT
        # (Figure 9); RECOVER-DONE is the partner's interlock state.
        if partner in (NORMAL, RECOVER_DONE, CONFLICT_DONE):
            return own
        # "transition into COMMUNICATIONS-INTERRUPTED state and take the
        # appropriate state transition from there"
        return comm_ok(COMMUNICATIONS_INTERRUPTED, partner)
    if own == COMMUNICATIONS_INTERRUPTED:                      # §8.9.2
        if partner in (NORMAL, COMMUNICATIONS_INTERRUPTED, RECOVER_DONE):
            return NORMAL
        if partner in (PARTNER_DOWN, POTENTIAL_CONFLICT, CONFLICT_DONE,
                       RESOLUTION_INTERRUPTED):
            return POTENTIAL_CONFLICT
        return own                       # RECOVER / RECOVER-WAIT
    if own == RESOLUTION_INTERRUPTED:                          # §8.11.2
        return POTENTIAL_CONFLICT
    if own == CONFLICT_DONE:                                   # §8.12.2
        if partner == NORMAL:
            return NORMAL
        return own
    return own                           # POTENTIAL-CONFLICT: UPDDONE-driven


# Operator command "partner is down" (§8.8.2, §8.9.2, §8.11.2).
PARTNER_DOWN_ALLOWED_FROM = (NORMAL, COMMUNICATIONS_INTERRUPTED,
                             RESOLUTION_INTERRUPTED, PARTNER_DOWN)


def responsiveness(state, role):
    """'responsive' | 'renew' | 'unresponsive' (§8.1, §8.3.1 ... §8.12.1)."""
    if state in (PARTNER_DOWN, COMMUNICATIONS_INTERRUPTED,
                 RESOLUTION_INTERRUPTED):
        return "responsive"
    if state == NORMAL:
        return "responsive" if role == "primary" else "renew"
    if state == CONFLICT_DONE:
        return "responsive"
    if state == RECOVER_DONE:
        return "renew"
    return "unresponsive"   # STARTUP, RECOVER, RECOVER-WAIT, POTENTIAL-CONFLICT

"""Binding (lease) database and the BNDUPD acceptance rules of RFC 8156 §7.

A binding is keyed by its resource: an IPv6 address ("2001:db8::1") for
IA_NA/IA_TA leases, or a prefix ("2001:db8:100::/56") for IA_PD leases and
delegable prefixes.  Times are absolute times (RFC 8156 §3: seconds since
2000-01-01 UTC) in this server's clock.
"""

import ipaddress

import wire
from wire import (ACTIVE, EXPIRED, RELEASED, PENDING_FREE, FREE, FREE_BACKUP,
                  ABANDONED, RESET, BINDING_STATUS)

# Fields of a binding and their defaults.
FIELDS = {
    "resource": None,      # address or prefix text (the key)
    "type": "na",          # "na" | "ta" | "pd"
    "status": FREE,        # binding-status (§5.5.1)
    "duid": None,          # client DUID as hex, None when no client
    "iaid": 0,
    "t1": 0, "t2": 0,
    "preferred": 0, "valid": 0,
    "start_time_of_state": 0,        # §7.3
    "state_expiration_time": None,   # §7.3 (None: status without timeout)
    "clt": None,                     # client-last-transaction-time (§7.3)
    "partner_raw_clt": None,         # partner-raw-clt-time (§7.3)
    "partner_lifetime": None,        # partner-lifetime (§7.3)
    "acked_partner_lifetime": None,  # acked-partner-lifetime (§7.3)
    "expiration_time": None,         # expiration-time (§7.3)
    "pending": False,    # "the partner should be updated" flag (§7.5.4)
    "version": 0,        # bumped on every change (to match BNDREPLYs)
    "delegable": False,  # configured delegable prefix (§4.2.2)
    "fqdn": None,        # OPTION_CLIENT_FQDN payload as hex
    "reconfigure": None,  # [time, key-hex] (OPTION_F_RECONFIGURE_DATA)
    "relay": None,        # [peer-address, relay-message-hex]
    "dns_removal": None,  # OPTION_F_DNS_REMOVAL_INFO payload as hex
    "last_reject": None,  # last status-code name the partner rejected with
    "source": None,       # "local" | "partner" | "config"
}


class Binding:
    __slots__ = tuple(FIELDS)

    def __init__(self, **kw):
        for k, v in FIELDS.items():
            setattr(self, k, kw.get(k, v))

    def to_json(self):
        d = {k: getattr(self, k) for k in FIELDS}
        d["status"] = BINDING_STATUS.get(self.status, self.status)
        return d

    @classmethod
    def from_json(cls, d):
        d = dict(d)
        st = d.get("status")
        if isinstance(st, str):
            d["status"] = wire.BINDING_STATUS_CODES[st]
        return cls(**{k: v for k, v in d.items() if k in FIELDS})

    def has_timeout(self):
        """§7.2: a binding-status value is associated with a timeout when an
        OPTION_F_STATE_EXPIRATION_TIME accompanies it; ACTIVE always is."""
        return self.status == ACTIVE or self.state_expiration_time is not None

    def db_time(self):
        """§7.5.4: the time for the lease in the server's binding database is
        the client-last-transaction-time if one appears, or the
        start-time-of-state if one does not."""
        return self.clt if self.clt is not None else self.start_time_of_state


def normalize_resource(text, kind=None):
    """Canonical text for an address or prefix; raises ValueError."""
    text = str(text).strip()
    if "/" in text:
        net = ipaddress.IPv6Network(text, strict=True)
        return str(net), "pd"
    return str(ipaddress.IPv6Address(text)), (kind or "na")


# ---------------------------------------------------------------------------
# §7.5.4 Accept or Reject? (Figure 4)
SKEW = 5  # "+/- 5 seconds ... considered identical" (§7.5.1, §7.5.4)


def _later(a, b, tie_accept):
    """Is time a later than time b?  Times within SKEW seconds are
    "essentially the same"; `tie_accept` decides what such a tie yields."""
    if a is None:
        return False
    if b is None:
        return True
    if tie_accept:
        return a >= b - SKEW
    return a > b + SKEW


def update_time(status, clt_abs, start):
    """§7.5.4: the time for the BNDUPD message."""
    if status in (ACTIVE, EXPIRED, RELEASED):
        return clt_abs if clt_abs is not None else start
    cands = [t for t in (clt_abs, start) if t is not None]
    return max(cands) if cands else None


def decide(db, recv_status, recv_duid, clt_abs, recv_start, now, role,
           tie_accept=True):
    """Figure 4 of RFC 8156 §7.5.4.

    Returns None to accept, or a status code (OutdatedBindingInformation /
    AddressInUse) to reject.
    """
    if db is None or db.source == "config" and db.start_time_of_state == 0:
        # Nothing known about this lease yet: nothing to conflict with.
        return None
    t_upd = update_time(recv_status, clt_abs, recv_start)
    t_db = db.db_time()

    def accept_rule():
        return None if _later(t_upd, t_db, tie_accept) \
            else wire.OUTDATED_BINDING_INFORMATION

    def time1():
        # time(1): current time later than our state-expiration-time
        if db.state_expiration_time is None or now > db.state_expiration_time:
            return None
        return wire.OUTDATED_BINDING_INFORMATION

    def time2_ok():
        # time(2): OPTION_CLT_TIME (if it appears) later than our
        # start-time-of-state
        return clt_abs is not None and clt_abs > db.start_time_of_state

    group = {ACTIVE: "A", EXPIRED: "E", RELEASED: "R", FREE: "F",
             FREE_BACKUP: "F", PENDING_FREE: "F", RESET: "X",
             ABANDONED: "X"}.get(recv_status, "X")
    if db.status == ACTIVE:
        if group == "A":
            # accept(3)
            if db.duid is not None and recv_duid is not None \
                    and db.duid.lower() != recv_duid.lower():
                if time2_ok() or role == "secondary":
                    return None
                return wire.ADDRESS_IN_USE
            return None
        if group in ("E", "F"):
            return time1()
        return accept_rule()          # RELEASED, RESET, ABANDONED
    if db.status == RESET and group == "A":
        return None if time2_ok() else wire.OUTDATED_BINDING_INFORMATION
    return accept_rule()

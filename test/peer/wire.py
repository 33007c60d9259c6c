"""Wire codec for the DHCPv6 failover protocol (RFC 8156).

Written from the RFC texts alone (RFC 8156, RFC 8415, RFC 5007, RFC 5460,
RFC 7653, RFC 4704); standard library only.

Layers:
  * framing   -- RFC 8156 §5.1 -> RFC 5460 §5.1: every message on the TCP
                 connection is preceded by a 2-octet message-size in network
                 byte order (the number of octets of the message that follows).
  * message   -- RFC 8156 §5.2: msg-type (1 octet), transaction-id (3 octets),
                 sent-time (4 octets, seconds since 2000-01-01 UTC mod 2^32),
                 then options.  STARTTLS and REPLY (RFC 7653 §8.2 / §9.1) are
                 plain RFC 8415 §8 messages: msg-type + transaction-id only.
  * options   -- RFC 8415 §21.1 TLV (2-octet code, 2-octet length), with the
                 encapsulating options (IA_NA, IA_TA, IA_PD, IAADDR, IAPREFIX,
                 OPTION_CLIENT_DATA, OPTION_F_DNS_REMOVAL_INFO) decoded
                 recursively.

Every decoding error raises DecodeError (never another exception type), so a
caller can turn malformed input into an error event.
"""

import ipaddress
import struct
import time

from states import STATE_NAMES

# ---------------------------------------------------------------------------
# Time (RFC 8156 §3 "Absolute Time"): seconds since midnight January 1, 2000
# UTC, modulo 2^32.
EPOCH_2000 = 946684800  # Unix time of 2000-01-01T00:00:00Z


def now2000(offset=0.0):
    """Current absolute time (RFC 8156 §3), optionally shifted by `offset`
    seconds (used to simulate clock skew, RFC 8156 §7.1)."""
    return int(time.time() + offset - EPOCH_2000) & 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Message types: RFC 8156 §11 (IANA), plus RFC 7653 §11 (STARTTLS) and
# RFC 8415 §7.3 (REPLY, used as the answer to STARTTLS).
REPLY = 7
STARTTLS = 23
BNDUPD = 24
BNDREPLY = 25
POOLREQ = 26
POOLRESP = 27
UPDREQ = 28
UPDREQALL = 29
UPDDONE = 30
CONNECT = 31
CONNECTREPLY = 32
DISCONNECT = 33
STATE = 34
CONTACT = 35

MSG_NAMES = {
    REPLY: "REPLY", STARTTLS: "STARTTLS",
    BNDUPD: "BNDUPD", BNDREPLY: "BNDREPLY", POOLREQ: "POOLREQ",
    POOLRESP: "POOLRESP", UPDREQ: "UPDREQ", UPDREQALL: "UPDREQALL",
    UPDDONE: "UPDDONE", CONNECT: "CONNECT", CONNECTREPLY: "CONNECTREPLY",
    DISCONNECT: "DISCONNECT", STATE: "STATE", CONTACT: "CONTACT",
}
MSG_CODES = {v: k for k, v in MSG_NAMES.items()}

# Messages without the failover sent-time field (RFC 8415 §8 layout).
NO_SENT_TIME = (REPLY, STARTTLS)

# ---------------------------------------------------------------------------
# Option codes.
# RFC 8415 §21 / §24
OPTION_CLIENTID = 1
OPTION_SERVERID = 2
OPTION_IA_NA = 3
OPTION_IA_TA = 4
OPTION_IAADDR = 5
OPTION_STATUS_CODE = 13
OPTION_IA_PD = 25
OPTION_IAPREFIX = 26
# RFC 4704 §4
OPTION_CLIENT_FQDN = 39
# RFC 5007 §4.1.2 (leasequery)
OPTION_CLIENT_DATA = 45
OPTION_CLT_TIME = 46
OPTION_LQ_RELAY_DATA = 47
# RFC 6607 §3.4 (only recognised, never generated: RFC 8156 §7.4 says
# OPTION_VSS MUST NOT appear when RFC 6607 is not supported)
OPTION_VSS = 68
# RFC 7653 §6.3.1
OPTION_LQ_BASE_TIME = 100
# RFC 8156 §5.5 / §11 (published IANA numbers)
OPTION_F_BINDING_STATUS = 114
OPTION_F_CONNECT_FLAGS = 115
OPTION_F_DNS_REMOVAL_INFO = 116
OPTION_F_DNS_HOST_NAME = 117
OPTION_F_DNS_ZONE_NAME = 118
OPTION_F_DNS_FLAGS = 119
OPTION_F_EXPIRATION_TIME = 120
OPTION_F_MAX_UNACKED_BNDUPD = 121
OPTION_F_MCLT = 122
OPTION_F_PARTNER_LIFETIME = 123
OPTION_F_PARTNER_LIFETIME_SENT = 124
OPTION_F_PARTNER_DOWN_TIME = 125
OPTION_F_PARTNER_RAW_CLT_TIME = 126
OPTION_F_PROTOCOL_VERSION = 127
OPTION_F_KEEPALIVE_TIME = 128
OPTION_F_RECONFIGURE_DATA = 129
OPTION_F_RELATIONSHIP_NAME = 130
OPTION_F_SERVER_FLAGS = 131
OPTION_F_SERVER_STATE = 132
OPTION_F_START_TIME_OF_STATE = 133
OPTION_F_STATE_EXPIRATION_TIME = 134

# code -> (name, kind).  The kind selects the value layout:
#   u8/u16/u32  unsigned integer of that size (exact option-len enforced)
#   u16x2       two 16-bit integers (protocol version, RFC 8156 §5.5.11)
#   bytes       opaque octets                 utf8  UTF-8 text
#   status      RFC 8415 §21.13: status-code(2) + UTF-8 message
#   reconf      RFC 8156 §5.5.13: reconfigure-time(4) + key
#   relay       RFC 5007 §4.1.2.4: peer-address(16) + DHCP-relay-message
#   fqdn        RFC 4704 §4: flags(1) + domain name (kept as octets)
#   ia_na/ia_pd IAID(4) T1(4) T2(4) + options   (RFC 8415 §21.4 / §21.21)
#   ia_ta       IAID(4) + options                (RFC 8415 §21.5)
#   iaaddr      address(16) preferred(4) valid(4) + options (RFC 8415 §21.6)
#   iaprefix    preferred(4) valid(4) plen(1) prefix(16) + options (§21.22)
#   container   options only (OPTION_CLIENT_DATA, OPTION_F_DNS_REMOVAL_INFO)
OPTIONS = {
    OPTION_CLIENTID: ("OPTION_CLIENTID", "bytes"),
    OPTION_SERVERID: ("OPTION_SERVERID", "bytes"),
    OPTION_IA_NA: ("OPTION_IA_NA", "ia_na"),
    OPTION_IA_TA: ("OPTION_IA_TA", "ia_ta"),
    OPTION_IAADDR: ("OPTION_IAADDR", "iaaddr"),
    OPTION_STATUS_CODE: ("OPTION_STATUS_CODE", "status"),
    OPTION_IA_PD: ("OPTION_IA_PD", "ia_pd"),
    OPTION_IAPREFIX: ("OPTION_IAPREFIX", "iaprefix"),
    OPTION_CLIENT_FQDN: ("OPTION_CLIENT_FQDN", "fqdn"),
    OPTION_CLIENT_DATA: ("OPTION_CLIENT_DATA", "container"),
    OPTION_CLT_TIME: ("OPTION_CLT_TIME", "u32"),
    OPTION_LQ_RELAY_DATA: ("OPTION_LQ_RELAY_DATA", "relay"),
    OPTION_VSS: ("OPTION_VSS", "bytes"),
    OPTION_LQ_BASE_TIME: ("OPTION_LQ_BASE_TIME", "u32"),
    OPTION_F_BINDING_STATUS: ("OPTION_F_BINDING_STATUS", "u8"),
    OPTION_F_CONNECT_FLAGS: ("OPTION_F_CONNECT_FLAGS", "u16"),
    OPTION_F_DNS_REMOVAL_INFO: ("OPTION_F_DNS_REMOVAL_INFO", "container"),
    OPTION_F_DNS_HOST_NAME: ("OPTION_F_DNS_HOST_NAME", "bytes"),
    OPTION_F_DNS_ZONE_NAME: ("OPTION_F_DNS_ZONE_NAME", "bytes"),
    OPTION_F_DNS_FLAGS: ("OPTION_F_DNS_FLAGS", "u16"),
    OPTION_F_EXPIRATION_TIME: ("OPTION_F_EXPIRATION_TIME", "u32"),
    OPTION_F_MAX_UNACKED_BNDUPD: ("OPTION_F_MAX_UNACKED_BNDUPD", "u32"),
    OPTION_F_MCLT: ("OPTION_F_MCLT", "u32"),
    OPTION_F_PARTNER_LIFETIME: ("OPTION_F_PARTNER_LIFETIME", "u32"),
    OPTION_F_PARTNER_LIFETIME_SENT: ("OPTION_F_PARTNER_LIFETIME_SENT", "u32"),
    OPTION_F_PARTNER_DOWN_TIME: ("OPTION_F_PARTNER_DOWN_TIME", "u32"),
    OPTION_F_PARTNER_RAW_CLT_TIME: ("OPTION_F_PARTNER_RAW_CLT_TIME", "u32"),
    OPTION_F_PROTOCOL_VERSION: ("OPTION_F_PROTOCOL_VERSION", "u16x2"),
    OPTION_F_KEEPALIVE_TIME: ("OPTION_F_KEEPALIVE_TIME", "u32"),
    OPTION_F_RECONFIGURE_DATA: ("OPTION_F_RECONFIGURE_DATA", "reconf"),
    OPTION_F_RELATIONSHIP_NAME: ("OPTION_F_RELATIONSHIP_NAME", "utf8"),
    OPTION_F_SERVER_FLAGS: ("OPTION_F_SERVER_FLAGS", "u8"),
    OPTION_F_SERVER_STATE: ("OPTION_F_SERVER_STATE", "u8"),
    OPTION_F_START_TIME_OF_STATE: ("OPTION_F_START_TIME_OF_STATE", "u32"),
    OPTION_F_STATE_EXPIRATION_TIME: ("OPTION_F_STATE_EXPIRATION_TIME", "u32"),
}
OPTION_CODES = {name: code for code, (name, _k) in OPTIONS.items()}

# ---------------------------------------------------------------------------
# Status codes: RFC 8415 §21.13, RFC 7653 §11, RFC 8156 §5.6.
STATUS = {
    0: "Success", 1: "UnspecFail", 2: "NoAddrsAvail", 3: "NoBinding",
    4: "NotOnLink", 5: "UseMulticast", 6: "NoPrefixAvail",
    12: "DataMissing", 13: "CatchUpComplete", 14: "NotSupported",
    15: "TLSConnectionRefused",
    16: "AddressInUse", 17: "ConfigurationConflict",
    18: "MissingBindingInformation", 19: "OutdatedBindingInformation",
    20: "ServerShuttingDown", 21: "DNSUpdateNotSupported",
    22: "ExcessiveTimeSkew",
}
STATUS_CODES = {v: k for k, v in STATUS.items()}
SUCCESS = 0
UNSPEC_FAIL = 1
NOT_SUPPORTED = 14
TLS_CONNECTION_REFUSED = 15
ADDRESS_IN_USE = 16
CONFIGURATION_CONFLICT = 17
MISSING_BINDING_INFORMATION = 18
OUTDATED_BINDING_INFORMATION = 19
SERVER_SHUTTING_DOWN = 20
DNS_UPDATE_NOT_SUPPORTED = 21
EXCESSIVE_TIME_SKEW = 22

# ---------------------------------------------------------------------------
# Binding-status values, RFC 8156 §5.5.1.
ACTIVE, EXPIRED, RELEASED, PENDING_FREE, FREE, FREE_BACKUP, ABANDONED, RESET = \
    1, 2, 3, 4, 5, 6, 7, 8
BINDING_STATUS = {
    1: "ACTIVE", 2: "EXPIRED", 3: "RELEASED", 4: "PENDING-FREE", 5: "FREE",
    6: "FREE-BACKUP", 7: "ABANDONED", 8: "RESET",
}
BINDING_STATUS_CODES = {v: k for k, v in BINDING_STATUS.items()}

# OPTION_F_SERVER_FLAGS bits, RFC 8156 §5.5.15 (bit 7 is the least
# significant bit of the octet).
SF_COMMUNICATED = 0x01   # C
SF_STARTUP = 0x02        # S
SF_ACK_STARTUP = 0x04    # A

# OPTION_F_CONNECT_FLAGS bits, RFC 8156 §5.5.2 (bit 15 = LSB).
CF_FIXED_PD_LENGTH = 0x0001

# OPTION_F_DNS_FLAGS bits, RFC 8156 §5.5.3.3.
DNS_F_FWD_UPTODATE = 0x0001
DNS_F_REV_UPTODATE = 0x0002
DNS_F_SYNTHESIZED_NAME = 0x0004
DNS_F_USING_REQUESTED_FQDN = 0x0008

PROTOCOL_VERSION = (1, 0)  # RFC 8156 §5.5.11: major 1, minor 0
MAX_MESSAGE = 0xFFFF        # 2-octet message-size (RFC 5460 §5.1)
MAX_DEPTH = 8               # nesting guard for malicious input


class DecodeError(ValueError):
    """Malformed wire data."""


class _Options:
    """Look-ups in the options an option or a message carries."""

    def find(self, code):
        for o in self.options:
            if o.code == code:
                return o
        return None

    def find_all(self, code):
        return [o for o in self.options if o.code == code]

    def get(self, code, default=None):
        o = self.find(code)
        return default if o is None else o.value


class Option(_Options):
    """One DHCPv6 option.

    `value` layout depends on the option kind (see OPTIONS); `options` holds
    the encapsulated options of container kinds.  Unknown option codes keep
    their payload as bytes in `value`.
    """

    __slots__ = ("code", "value", "options")

    def __init__(self, code, value=None, options=None):
        self.code = code
        self.value = value
        self.options = list(options) if options else []

    # -- helpers -----------------------------------------------------------
    @property
    def name(self):
        return OPTIONS.get(self.code, ("OPTION_%d" % self.code, None))[0]

    def __eq__(self, other):
        return (isinstance(other, Option) and self.code == other.code
                and self.value == other.value and self.options == other.options)

    def __repr__(self):
        return "Option(%s, %r, %r)" % (self.name, self.value, self.options)

    def to_json(self):
        """JSON-friendly representation (used in rx/tx events)."""
        kind = OPTIONS.get(self.code, (None, "unknown"))[1]
        v = self.value
        if kind in ("bytes", "unknown", "fqdn"):
            if kind == "fqdn":
                v = {"flags": v[0], "name": v[1].hex()}
            else:
                v = v.hex()
        elif kind == "status":
            v = {"code": v[0], "name": STATUS.get(v[0], str(v[0])),
                 "message": v[1]}
        elif kind == "reconf":
            v = {"time": v[0], "key": v[1].hex()}
        elif kind == "relay":
            v = {"peer": v[0], "message": v[1].hex()}
        elif kind == "u16x2":
            v = list(v)
        elif self.code == OPTION_F_BINDING_STATUS:
            v = BINDING_STATUS.get(v, v)
        elif self.code == OPTION_F_SERVER_STATE:
            v = STATE_NAMES.get(v, v)
        d = {"option": self.name}
        if v is not None:
            d["value"] = v
        if self.options:
            d["options"] = [o.to_json() for o in self.options]
        return d


# ---------------------------------------------------------------------------
# Option encoding
def _addr16(text):
    try:
        return ipaddress.IPv6Address(text).packed
    except ValueError as e:
        raise ValueError("bad IPv6 address %r: %s" % (text, e))


def encode_option(opt):
    kind = OPTIONS.get(opt.code, (None, "unknown"))[1]
    v = opt.value
    if kind == "u8":
        body = struct.pack("!B", v)
    elif kind == "u16":
        body = struct.pack("!H", v)
    elif kind == "u32":
        body = struct.pack("!I", v & 0xFFFFFFFF)
    elif kind == "u16x2":
        body = struct.pack("!HH", v[0], v[1])
    elif kind in ("bytes", "unknown"):
        body = bytes(v or b"")
    elif kind == "utf8":
        body = v.encode("utf-8")
    elif kind == "status":
        body = struct.pack("!H", v[0]) + (v[1] or "").encode("utf-8")
    elif kind == "reconf":
        body = struct.pack("!I", v[0]) + bytes(v[1])
    elif kind == "relay":
        body = _addr16(v[0]) + bytes(v[1])
    elif kind == "fqdn":
        body = struct.pack("!B", v[0]) + bytes(v[1])
    elif kind in ("ia_na", "ia_pd"):
        body = struct.pack("!III", v["iaid"], v["t1"], v["t2"])
    elif kind == "ia_ta":
        body = struct.pack("!I", v["iaid"])
    elif kind == "iaaddr":
        body = (_addr16(v["address"]) +
                struct.pack("!II", v["preferred"], v["valid"]))
    elif kind == "iaprefix":
        # encoded exactly as given (host bits included), "address/len"
        addr, _, plen = str(v["prefix"]).partition("/")
        plen = int(plen) if plen else 128
        if not 0 <= plen <= 128:
            raise ValueError("bad prefix length %d" % plen)
        body = (struct.pack("!IIB", v["preferred"], v["valid"], plen) +
                _addr16(addr))
    elif kind == "container":
        body = b""
    else:  # pragma: no cover
        raise ValueError("unknown option kind %r" % kind)
    if opt.options:
        if kind not in ("ia_na", "ia_pd", "ia_ta", "iaaddr", "iaprefix",
                        "container"):
            raise ValueError("%s cannot carry options" % opt.name)
        body += encode_options(opt.options)
    if len(body) > 0xFFFF:
        raise ValueError("option %s too long" % opt.name)
    return struct.pack("!HH", opt.code, len(body)) + body


def encode_options(opts):
    return b"".join(encode_option(o) for o in opts)


# ---------------------------------------------------------------------------
# Option decoding
_FIXED = {"u8": 1, "u16": 2, "u32": 4, "u16x2": 4}


def _decode_one(code, data, depth):
    name, kind = OPTIONS.get(code, ("OPTION_%d" % code, "unknown"))
    n = len(data)

    def need(k):
        if n < k:
            raise DecodeError("%s: option-len %d < %d" % (name, n, k))

    if kind in _FIXED:
        if n != _FIXED[kind]:
            raise DecodeError("%s: option-len %d, expected %d"
                              % (name, n, _FIXED[kind]))
        if kind == "u8":
            return Option(code, data[0])
        if kind == "u16":
            return Option(code, struct.unpack("!H", data)[0])
        if kind == "u32":
            return Option(code, struct.unpack("!I", data)[0])
        return Option(code, struct.unpack("!HH", data))
    if kind in ("bytes", "unknown"):
        return Option(code, bytes(data))
    if kind == "utf8":
        try:
            return Option(code, bytes(data).decode("utf-8"))
        except UnicodeDecodeError:
            raise DecodeError("%s: not UTF-8" % name)
    if kind == "status":
        need(2)
        msg = bytes(data[2:]).decode("utf-8", errors="replace")
        return Option(code, (struct.unpack("!H", data[:2])[0], msg))
    if kind == "reconf":
        need(4)
        return Option(code, (struct.unpack("!I", data[:4])[0],
                             bytes(data[4:])))
    if kind == "relay":
        need(16)
        return Option(code, (str(ipaddress.IPv6Address(bytes(data[:16]))),
                             bytes(data[16:])))
    if kind == "fqdn":
        need(1)
        return Option(code, (data[0], bytes(data[1:])))
    if kind in ("ia_na", "ia_pd"):
        need(12)
        iaid, t1, t2 = struct.unpack("!III", data[:12])
        return Option(code, {"iaid": iaid, "t1": t1, "t2": t2},
                      decode_options(data[12:], depth + 1))
    if kind == "ia_ta":
        need(4)
        return Option(code, {"iaid": struct.unpack("!I", data[:4])[0]},
                      decode_options(data[4:], depth + 1))
    if kind == "iaaddr":
        need(24)
        pref, valid = struct.unpack("!II", data[16:24])
        return Option(code, {"address": str(ipaddress.IPv6Address(
            bytes(data[:16]))), "preferred": pref, "valid": valid},
            decode_options(data[24:], depth + 1))
    if kind == "iaprefix":
        need(25)
        pref, valid, plen = struct.unpack("!IIB", data[:9])
        if plen > 128:
            raise DecodeError("%s: prefix-length %d > 128" % (name, plen))
        # Kept exactly as received (host bits are the receiver's concern).
        addr = ipaddress.IPv6Address(bytes(data[9:25]))
        return Option(code, {"preferred": pref, "valid": valid,
                             "prefix": "%s/%d" % (addr, plen)},
                      decode_options(data[25:], depth + 1))
    if kind == "container":
        return Option(code, None, decode_options(data, depth + 1))
    raise DecodeError("unhandled option kind")  # pragma: no cover


def decode_options(data, depth=0):
    """Decode a sequence of options; raises DecodeError when an option-len
    runs past the end of the buffer or a known option has a bad layout."""
    if depth > MAX_DEPTH:
        raise DecodeError("options nested too deeply")
    data = memoryview(bytes(data))
    out = []
    i = 0
    while i < len(data):
        if len(data) - i < 4:
            raise DecodeError("truncated option header (%d octets left)"
                              % (len(data) - i))
        code, olen = struct.unpack("!HH", data[i:i + 4])
        if i + 4 + olen > len(data):
            raise DecodeError("option %d: option-len %d runs past the end"
                              % (code, olen))
        out.append(_decode_one(code, data[i + 4:i + 4 + olen], depth))
        i += 4 + olen
    return out


# ---------------------------------------------------------------------------
# Messages (RFC 8156 §5.2)
class Message(_Options):
    __slots__ = ("type", "xid", "sent_time", "options")

    def __init__(self, type, xid=0, sent_time=0, options=None):
        self.type = type
        self.xid = xid
        self.sent_time = sent_time
        self.options = list(options) if options else []

    @property
    def name(self):
        return MSG_NAMES.get(self.type, "MSG_%d" % self.type)

    def __eq__(self, other):
        return (isinstance(other, Message) and self.type == other.type
                and self.xid == other.xid
                and self.sent_time == other.sent_time
                and self.options == other.options)

    def __repr__(self):
        return "Message(%s, xid=%d, sent=%d, %r)" % (
            self.name, self.xid, self.sent_time, self.options)

    def to_json(self):
        d = {"msg": self.name, "xid": self.xid}
        if self.type not in NO_SENT_TIME:
            d["sent_time"] = self.sent_time
        d["options"] = [o.to_json() for o in self.options]
        return d


def encode_message(msg):
    """Encode a message body (without the TCP framing)."""
    if not 0 <= msg.xid <= 0xFFFFFF:
        raise ValueError("transaction-id out of range")
    head = struct.pack("!I", (msg.type << 24) | msg.xid)
    if msg.type not in NO_SENT_TIME:
        head += struct.pack("!I", msg.sent_time & 0xFFFFFFFF)
    body = head + encode_options(msg.options)
    if len(body) > MAX_MESSAGE:
        raise ValueError("message too long for 2-octet framing")
    return body


def decode_message(data):
    """Decode a message body (without the TCP framing)."""
    data = bytes(data)
    if len(data) < 4:
        raise DecodeError("message shorter than msg-type + transaction-id")
    word = struct.unpack("!I", data[:4])[0]
    mtype, xid = word >> 24, word & 0xFFFFFF
    if mtype in NO_SENT_TIME:
        return Message(mtype, xid, 0, decode_options(data[4:]))
    if len(data) < 8:
        raise DecodeError("failover message shorter than its 8-octet header")
    sent = struct.unpack("!I", data[4:8])[0]
    return Message(mtype, xid, sent, decode_options(data[8:]))


def frame(body):
    """RFC 5460 §5.1 framing: 2-octet message-size then the message."""
    if len(body) > MAX_MESSAGE:
        raise ValueError("message too long for 2-octet framing")
    return struct.pack("!H", len(body)) + body


class FrameReader:
    """Incremental de-framer: feed() bytes, then iterate complete bodies."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data

    def frames(self):
        while len(self.buf) >= 2:
            n = struct.unpack("!H", self.buf[:2])[0]
            if len(self.buf) < 2 + n:
                return
            body = bytes(self.buf[2:2 + n])
            del self.buf[:2 + n]
            yield body


# ---------------------------------------------------------------------------
# Small builders
def opt_u32(code, v):
    return Option(code, int(v) & 0xFFFFFFFF)


def opt_status(code, message=""):
    return Option(OPTION_STATUS_CODE, (code, message))


def status_of(opt_container):
    """Return (code, message) of an OPTION_STATUS_CODE directly inside
    `opt_container` (an Option or Message), or None."""
    o = opt_container.find(OPTION_STATUS_CODE)
    return None if o is None else o.value

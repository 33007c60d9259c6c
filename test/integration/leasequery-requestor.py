#!/usr/bin/env python3
"""A DHCPv6 Leasequery requestor, written from RFC 5007 alone (stdlib only).

Sends one LEASEQUERY (RFC 5007 section 4.3.1) to a server over UDP,
retransmitting as section 4.3.2 says (RFC 8415 section 15 with LQ_TIMEOUT,
LQ_MAX_RT, LQ_MAX_RC of section 4.1.4), checks the LEASEQUERY-REPLY as
section 4.2.2 says a requestor must, and prints its decoded options as one
JSON object on stdout. Shares no code with twin6: it is the independent side
of the integration test (test/integration/leasequery.test.ts).

  leasequery-requestor.py --server 2001:db8:1::1 --source 2001:db8:1::77 address 2001:db8:1::1000
  leasequery-requestor.py --server ... clientid 000300010255...  [--link-address 2001:db8:1::]
  leasequery-requestor.py --server ... raw 9                      (any query-type, no query-options)

Exit status: 0 a valid reply was printed, 2 no reply, 3 only invalid replies.
"""

import argparse
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import time

LEASEQUERY = 14  # section 4.1.1
LEASEQUERY_REPLY = 15
OPTION_CLIENTID = 1  # RFC 8415 section 21.2
OPTION_SERVERID = 2
OPTION_IAADDR = 5
OPTION_STATUS_CODE = 13
OPTION_IAPREFIX = 26
OPTION_LQ_QUERY = 44  # section 4.1.2.1
OPTION_CLIENT_DATA = 45  # section 4.1.2.2
OPTION_CLT_TIME = 46  # section 4.1.2.3
OPTION_LQ_RELAY_DATA = 47  # section 4.1.2.4
OPTION_LQ_CLIENT_LINK = 48  # section 4.1.2.5
QUERY_BY_ADDRESS = 1
QUERY_BY_CLIENTID = 2
SERVER_PORT = 547

# Section 4.1.4.
LQ_TIMEOUT = 1.0
LQ_MAX_RT = 10.0
LQ_MAX_RC = 5


def option(code, body):
    return struct.pack("!HH", code, len(body)) + body


def options(data):
    """Yields (code, body) for each option; raises ValueError on a bad length."""
    at = 0
    while at < len(data):
        if len(data) - at < 4:
            raise ValueError("truncated option header")
        code, length = struct.unpack_from("!HH", data, at)
        at += 4
        if at + length > len(data):
            raise ValueError("option %d runs past its container" % code)
        yield code, data[at : at + length]
        at += length


def addr(b):
    return str(ipaddress.IPv6Address(bytes(b)))


def query_message(xid, duid, query_type, link_address, query_options):
    lq = bytes([query_type]) + ipaddress.IPv6Address(link_address).packed + query_options
    return bytes([LEASEQUERY]) + xid.to_bytes(3, "big") + option(OPTION_CLIENTID, duid) + option(OPTION_LQ_QUERY, lq)


def decode_client_data(body):
    out = {"clientId": None, "iaaddr": [], "iaprefix": [], "cltTime": None, "relayData": None, "other": []}
    for code, b in options(body):
        if code == OPTION_CLIENTID:
            out["clientId"] = b.hex()
        elif code == OPTION_IAADDR:
            if len(b) < 24:
                raise ValueError("short IAADDR")
            pref, valid = struct.unpack_from("!II", b, 16)
            out["iaaddr"].append({"address": addr(b[:16]), "preferred": pref, "valid": valid})
        elif code == OPTION_IAPREFIX:
            if len(b) < 25:
                raise ValueError("short IAPREFIX")
            pref, valid, plen = struct.unpack_from("!IIB", b, 0)
            out["iaprefix"].append({"prefix": addr(b[9:25]), "length": plen, "preferred": pref, "valid": valid})
        elif code == OPTION_CLT_TIME:
            if len(b) != 4:
                raise ValueError("CLT_TIME of %d octets" % len(b))
            out["cltTime"] = struct.unpack("!I", b)[0]
        elif code == OPTION_LQ_RELAY_DATA:
            if len(b) < 16:
                raise ValueError("short LQ_RELAY_DATA")
            out["relayData"] = {"peerAddress": addr(b[:16]), "relayMessage": b[16:].hex()}
        else:
            out["other"].append(code)
    return out


def decode_reply(data, xid, duid):
    """The reply as JSON-able data, or raises ValueError why section 4.2.2 discards it."""
    if len(data) < 4 or data[0] != LEASEQUERY_REPLY:
        raise ValueError("not a LEASEQUERY-REPLY")
    if int.from_bytes(data[1:4], "big") != xid:
        raise ValueError("transaction-id does not match")
    out = {"msgType": data[0], "transactionId": xid, "serverId": None, "clientId": None,
           "status": None, "clientData": None, "clientLinks": None, "other": []}
    for code, b in options(data[4:]):
        if code == OPTION_SERVERID:
            out["serverId"] = b.hex()
        elif code == OPTION_CLIENTID:
            out["clientId"] = b.hex()
        elif code == OPTION_STATUS_CODE:
            if len(b) < 2:
                raise ValueError("short STATUS_CODE")
            out["status"] = {"code": struct.unpack_from("!H", b)[0], "message": b[2:].decode("utf-8", "replace")}
        elif code == OPTION_CLIENT_DATA:
            if out["clientData"] is not None:
                raise ValueError("two CLIENT_DATA")
            out["clientData"] = decode_client_data(b)
        elif code == OPTION_LQ_CLIENT_LINK:
            if len(b) % 16:
                raise ValueError("LQ_CLIENT_LINK not a multiple of 16")
            out["clientLinks"] = [addr(b[i : i + 16]) for i in range(0, len(b), 16)]
        else:
            out["other"].append(code)
    if out["serverId"] is None:
        raise ValueError("no OPTION_SERVERID")
    if out["clientId"] != duid.hex():
        raise ValueError("OPTION_CLIENTID is not ours")
    return out


def exchange(server, source, message, xid, duid):
    """RFC 8415 section 15 retransmission with the section 4.1.4 parameters."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    invalid = []
    rt = LQ_TIMEOUT * (1 + random.uniform(-0.1, 0.1))
    for _attempt in range(1 + LQ_MAX_RC):
        sock.sendto(message, (server, SERVER_PORT))
        deadline = time.monotonic() + rt
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                data, _peer = sock.recvfrom(65535)
            except socket.timeout:
                break
            try:
                return decode_reply(data, xid, duid), invalid
            except ValueError as e:
                invalid.append(str(e))
        rt = min(2 * rt, LQ_MAX_RT) * (1 + random.uniform(-0.1, 0.1))
    return None, invalid


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", required=True, help="server address (unicast, or ff02::1:2%%IF)")
    p.add_argument("--source", default="::", help="address to send from")
    p.add_argument("--duid", default="00030001020000000077", help="the requestor's DUID, hex (section 4.3.1)")
    p.add_argument("--link-address", default="::")
    p.add_argument("kind", choices=["address", "clientid", "raw"])
    p.add_argument("value", help="the address, the client's DUID in hex, or the query-type")
    a = p.parse_args()

    duid = bytes.fromhex(a.duid)
    if a.kind == "address":
        qtype = QUERY_BY_ADDRESS
        qopts = option(OPTION_IAADDR, ipaddress.IPv6Address(a.value).packed + struct.pack("!II", 0, 0))
    elif a.kind == "clientid":
        qtype = QUERY_BY_CLIENTID
        qopts = option(OPTION_CLIENTID, bytes.fromhex(a.value.replace(":", "")))
    else:
        qtype = int(a.value)
        qopts = b""
    xid = int.from_bytes(os.urandom(3), "big")
    reply, invalid = exchange(a.server, a.source, query_message(xid, duid, qtype, a.link_address, qopts), xid, duid)
    if reply is None:
        print(json.dumps({"error": "no valid reply", "invalid": invalid}))
        return 3 if invalid else 2
    print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent RFC 8156 (DHCPv6 failover) partner for tests.

Usage (see README.md for the whole interface):

  python3 test/peer/rfc8156_peer.py --role secondary --listen ::1 --port 0 \
      --mclt 5 --keepalive 4 --delegable 2001:db8:100::/52 \
      --delegated-length 56

Control: one JSON object per line on stdin, e.g. {"cmd":"state"}.
Output:  one JSON object per line on stdout: responses ({"ok":...,
         "cmd":...}) and events ({"event":...}).
"""

import argparse
import asyncio
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peer as peermod  # noqa: E402
import states  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="RFC 8156 DHCPv6 failover test partner")
    p.add_argument("--role", choices=("primary", "secondary"), required=True)
    p.add_argument("--listen", default="::1",
                   help="secondary: address to listen on (default ::1)")
    p.add_argument("--connect", default="::1",
                   help="primary: partner address to connect to")
    p.add_argument("--port", type=int, default=647,
                   help="dhcp-failover port (RFC 8156 §5.1: 647); a "
                        "secondary may use 0 for an ephemeral port, "
                        "reported in the 'listening' event")
    p.add_argument("--local-address", help="primary: source address")
    p.add_argument("--partner-address",
                   help="secondary: accept connections only from here")
    p.add_argument("--mclt", type=int, default=3600,
                   help="MCLT in seconds (§4.4, §5.5.6)")
    p.add_argument("--keepalive", type=int, default=60,
                   help="FO_KEEPALIVE_TIME in seconds (§6.5)")
    p.add_argument("--max-unacked", type=int, default=100,
                   help="OPTION_F_MAX_UNACKED_BNDUPD we announce (§5.5.5)")
    p.add_argument("--relationship", help="OPTION_F_RELATIONSHIP_NAME")
    p.add_argument("--duid", help="this server's DUID (hex; informational)")
    p.add_argument("--addr-pool", action="append", default=[],
                   help="IPv6 prefix of an address pool (independent "
                        "allocation, §4.2.1); repeatable")
    p.add_argument("--delegable", action="append", default=[],
                   help="delegable prefix (proportional allocation, "
                        "§4.2.2); repeatable")
    p.add_argument("--delegated-length", type=int,
                   help="split each --delegable prefix into prefixes of this "
                        "length (sets FIXED_PD_LENGTH, §5.5.2)")
    p.add_argument("--backup-share", type=float, default=0.5,
                   help="primary: share of available delegable prefixes "
                        "given to the secondary on POOLREQ (default 0.5)")
    p.add_argument("--initial-state",
                   help="PREVIOUS-STATE when stable storage is empty "
                        "(default per §8.2: primary PARTNER-DOWN, secondary "
                        "RECOVER)")
    p.add_argument("--state-file", help="stable storage (JSON) path")
    p.add_argument("--startup-time", type=float, default=5.0,
                   help="STARTUP state timer in seconds (§8.3.2 Step 3)")
    p.add_argument("--retry", type=float, default=2.0,
                   help="primary: seconds between connection attempts")
    p.add_argument("--auto-partner-down", type=float, default=0.0,
                   help="seconds in COMMUNICATIONS-INTERRUPTED before "
                        "PARTNER-DOWN (§8.9); 0 = off")
    p.add_argument("--clock-offset", type=float, default=0.0,
                   help="add this many seconds to our clock (skew tests)")
    p.add_argument("--max-skew", type=int, default=5,
                   help="tolerated time skew in seconds (§7.1)")
    p.add_argument("--tie", choices=("accept", "reject"), default="accept",
                   help="BNDUPD vs database times within 5 s (§7.5.4): "
                        "accept (default) or reject the update")
    p.add_argument("--lenient", action="store_true",
                   help="accept BNDUPDs without OPTION_LQ_BASE_TIME and "
                        "CONNECT/CONNECTREPLY without OPTION_F_CONNECT_FLAGS")
    p.add_argument("--reject-dns", action="store_true",
                   help="reject leases with DNS information with "
                        "DNSUpdateNotSupported (§5.6)")
    p.add_argument("--upddone-timeout", type=float, default=60.0)
    p.add_argument("--tls", action="store_true",
                   help="secure mode (RFC 7653 §8.2/§9.1 via RFC 8156 §10)")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    p.add_argument("--tls-server-name")
    p.add_argument("--quiet-contact", action="store_true",
                   help="no rx/tx events for CONTACT messages")
    p.add_argument("--no-quit-on-eof", action="store_true",
                   help="keep running when stdin closes")
    a = p.parse_args(argv)
    if a.tls and not (a.cert and a.key and a.ca):
        p.error("--tls needs --cert, --key and --ca")
    if a.initial_state:
        try:
            states.parse(a.initial_state)
        except KeyError:
            p.error("unknown state %r" % a.initial_state)
    return a


def make_config(a):
    return peermod.Config(
        role=a.role, listen=a.listen, connect=a.connect, port=a.port,
        local_address=a.local_address, partner_address=a.partner_address,
        mclt=a.mclt, keepalive=a.keepalive, max_unacked=a.max_unacked,
        relationship=a.relationship, duid=a.duid,
        addr_pools=a.addr_pool, delegable=a.delegable,
        delegated_length=a.delegated_length, backup_share=a.backup_share,
        initial_state=a.initial_state, state_file=a.state_file,
        startup_time=a.startup_time, retry=a.retry,
        auto_partner_down=a.auto_partner_down,
        clock_offset=a.clock_offset, max_skew=a.max_skew,
        tie_accept=(a.tie == "accept"), lenient=a.lenient,
        reject_dns=a.reject_dns, upddone_timeout=a.upddone_timeout,
        tls=a.tls, cert=a.cert, key=a.key, ca=a.ca,
        tls_server_name=a.tls_server_name, quiet_contact=a.quiet_contact)


def emit(obj):
    try:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass


async def amain(a):
    loop = asyncio.get_running_loop()
    try:
        p = peermod.Peer(make_config(a), emit)
    except ValueError as e:
        emit({"event": "error", "error": str(e), "fatal": True})
        return 2

    def on_line(line):
        line = line.strip()
        if not line:
            return
        try:
            obj = json.loads(line)
        except ValueError as e:
            emit({"ok": False, "error": "bad JSON: %s" % e})
            return
        try:
            res = p.command(obj)
        except Exception as e:  # noqa: BLE001 - never die on a command
            res = {"ok": False, "error": "internal error: %s: %s"
                   % (type(e).__name__, e)}
        if isinstance(obj, dict) and "id" in obj:
            res["id"] = obj["id"]
        emit(res)

    def on_eof():
        if not a.no_quit_on_eof:
            p.command({"cmd": "quit"})

    def reader():
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(on_line, line)
        except (OSError, ValueError):
            pass
        try:
            loop.call_soon_threadsafe(on_eof)
        except RuntimeError:
            pass   # loop already closed

    threading.Thread(target=reader, daemon=True).start()
    return await p.run()


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        code = asyncio.run(amain(a))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code or 0)


if __name__ == "__main__":
    main()

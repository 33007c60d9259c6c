"""Self-test of the RFC 8156 test partner.

    python3 -m unittest discover -s test/peer -v

Codec tests compare against byte strings written out by hand from the
figures of RFC 8156 §5 (and RFC 8415 §21, RFC 5007 §4.1.2, RFC 5460 §5.1,
RFC 7653 §6); integration tests run two peers (primary and secondary)
against each other over the loopback interface only.
"""

import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bindings as bdb  # noqa: E402
import states as st  # noqa: E402
import wire  # noqa: E402
from wire import Message, Option  # noqa: E402

H = bytes.fromhex


def hx(s):
    """bytes from hex with spaces/newlines ignored."""
    return bytes.fromhex("".join(s.split()))


# ===========================================================================
# Codec
class FramingTest(unittest.TestCase):
    def test_contact_header_and_framing(self):
        # RFC 8156 §5.2: msg-type(1) transaction-id(3) sent-time(4);
        # RFC 5460 §5.1: 2-octet message-size before it.
        m = Message(wire.CONTACT, 0x010203, 0x11223344)
        body = wire.encode_message(m)
        self.assertEqual(body, hx("23 010203 11223344"))
        self.assertEqual(wire.frame(body), hx("0008 23 010203 11223344"))
        self.assertEqual(wire.decode_message(body), m)

    def test_all_message_type_codes(self):
        # RFC 8156 §11 message type codes
        expected = {"BNDUPD": 24, "BNDREPLY": 25, "POOLREQ": 26,
                    "POOLRESP": 27, "UPDREQ": 28, "UPDREQALL": 29,
                    "UPDDONE": 30, "CONNECT": 31, "CONNECTREPLY": 32,
                    "DISCONNECT": 33, "STATE": 34, "CONTACT": 35}
        for name, code in expected.items():
            m = Message(wire.MSG_CODES[name], 0xABCDEF, 7)
            body = wire.encode_message(m)
            self.assertEqual(body, bytes([code]) + hx("abcdef 00000007"),
                             name)
            self.assertEqual(wire.decode_message(body).name, name)

    def test_starttls_and_reply_have_no_sent_time(self):
        # RFC 7653 §6.2.2 STARTTLS (23); REPLY (7) per RFC 8415 §8
        self.assertEqual(wire.encode_message(Message(wire.STARTTLS, 5)),
                         hx("17 000005"))
        r = Message(wire.REPLY, 5, options=[wire.opt_status(15, "no")])
        self.assertEqual(wire.encode_message(r),
                         hx("07 000005 000d 0004 000f 6e6f"))
        self.assertEqual(wire.decode_message(hx("07 000005 000d 0004 000f "
                                                "6e6f")), r)

    def test_frame_reader_split_and_joined(self):
        a = wire.frame(hx("23 000001 00000000"))
        b = wire.frame(hx("1c 000002 00000001"))
        fr = wire.FrameReader()
        data = a + b
        got = []
        for i in range(len(data)):        # one octet at a time
            fr.feed(data[i:i + 1])
            got.extend(fr.frames())
        self.assertEqual(got, [a[2:], b[2:]])


class OptionLayoutTest(unittest.TestCase):
    def rt(self, opt, expected_hex):
        enc = wire.encode_option(opt)
        self.assertEqual(enc, hx(expected_hex), opt.name)
        self.assertEqual(wire.decode_options(enc), [opt])

    def test_scalar_failover_options(self):
        # RFC 8156 §5.5.x figures: code(2) len(2) value
        self.rt(Option(114, 1), "0072 0001 01")          # BINDING_STATUS
        self.rt(Option(115, 1), "0073 0002 0001")        # CONNECT_FLAGS
        self.rt(Option(119, 0x000f), "0077 0002 000f")   # DNS_FLAGS
        self.rt(Option(120, 0x01020304), "0078 0004 01020304")
        self.rt(Option(121, 100), "0079 0004 00000064")  # MAX_UNACKED
        self.rt(Option(122, 3600), "007a 0004 00000e10")  # MCLT
        self.rt(Option(123, 0xA0B0C0D0), "007b 0004 a0b0c0d0")
        self.rt(Option(124, 0xA0B0C0D1), "007c 0004 a0b0c0d1")
        self.rt(Option(125, 5), "007d 0004 00000005")    # PARTNER_DOWN_TIME
        self.rt(Option(126, 6), "007e 0004 00000006")    # RAW_CLT_TIME
        self.rt(Option(127, (1, 0)), "007f 0004 0001 0000")  # VERSION
        self.rt(Option(128, 60), "0080 0004 0000003c")   # KEEPALIVE
        self.rt(Option(130, "rel"), "0082 0003 72656c")  # RELATIONSHIP
        self.rt(Option(131, 0x05), "0083 0001 05")       # SERVER_FLAGS A|C
        self.rt(Option(132, 2), "0084 0001 02")          # SERVER_STATE
        self.rt(Option(133, 7), "0085 0004 00000007")    # START_TIME
        self.rt(Option(134, 8), "0086 0004 00000008")    # STATE_EXP

    def test_reconfigure_relay_status_dns(self):
        # §5.5.13: reconfigure-time(4) + key
        self.rt(Option(129, (0x10, H("aabbcc"))), "0081 0007 00000010 aabbcc")
        # RFC 5007 §4.1.2.4: peer-address(16) + relay message
        self.rt(Option(47, ("2001:db8::9", H("0c00"))),
                "002f 0012 20010db8000000000000000000000009 0c00")
        # RFC 8415 §21.13 status: code(2) + message; ServerShuttingDown = 20
        self.rt(wire.opt_status(20, "bye"), "000d 0005 0014 627965")
        # RFC 5007 §4.1.2.3 CLT_TIME (46), RFC 7653 §6.3.1 LQ_BASE_TIME
        self.rt(Option(46, 30), "002e 0004 0000001e")
        self.rt(Option(100, 31), "0064 0004 0000001f")
        # §5.5.3: DNS_REMOVAL_INFO(116) around HOST(117), ZONE(118), FLAGS
        host = b"\x01a\x00"
        zone = b"\x03com\x00"
        self.rt(Option(116, None, [Option(117, host), Option(118, zone),
                                   Option(119, 3)]),
                "0074 0016  0075 0003 016100  0076 0005 03636f6d00 "
                "0077 0002 0003")
        # RFC 4704 §4 CLIENT_FQDN: flags(1) + name
        self.rt(Option(39, (1, host)), "0027 0004 01 016100")

    def test_ia_options(self):
        # RFC 8415 §21.6 IAADDR: address(16) preferred(4) valid(4) options
        iaaddr = Option(5, {"address": "2001:db8::1", "preferred": 300,
                            "valid": 600}, [Option(114, 1)])
        self.rt(iaaddr, "0005 001d 20010db8000000000000000000000001 "
                        "0000012c 00000258 0072 0001 01")
        # RFC 8415 §21.4 IA_NA: IAID T1 T2 options
        self.rt(Option(3, {"iaid": 1, "t1": 2, "t2": 3}, [iaaddr]),
                "0003 002d 00000001 00000002 00000003 "
                "0005 001d 20010db8000000000000000000000001 "
                "0000012c 00000258 0072 0001 01")
        # RFC 8415 §21.5 IA_TA: IAID options
        self.rt(Option(4, {"iaid": 9}), "0004 0004 00000009")
        # RFC 8415 §21.22 IAPREFIX: preferred valid plen prefix(16)
        pfx = Option(26, {"preferred": 1, "valid": 2,
                          "prefix": "2001:db8:100::/56"})
        self.rt(pfx, "001a 0019 00000001 00000002 38 "
                     "20010db8010000000000000000000000")
        # RFC 8415 §21.21 IA_PD
        self.rt(Option(25, {"iaid": 7, "t1": 0, "t2": 0}, [pfx]),
                "0019 0029 00000007 00000000 00000000 "
                "001a 0019 00000001 00000002 38 "
                "20010db8010000000000000000000000")

    def test_full_bndupd(self):
        # §7.4: CLIENT_DATA(45){CLIENTID, LQ_BASE_TIME, IA_NA{IAADDR{...}}}
        leaf = Option(5, {"address": "2001:db8::1", "preferred": 1,
                          "valid": 2}, [
            Option(114, 1), Option(133, 0x100), Option(134, 0x200),
            Option(46, 3), Option(123, 0x300), Option(126, 0x0FF),
            Option(120, 0x250)])
        cd = Option(45, None, [Option(1, H("00030001aabbccddeeff")),
                               Option(100, 0x103),
                               Option(3, {"iaid": 1, "t1": 0, "t2": 0},
                                      [leaf])])
        m = Message(wire.BNDUPD, 0x000010, 0x104, [cd])
        expected = hx("""
            18 000010 00000104
            002d 0077
              0001 000a 00030001aabbccddeeff
              0064 0004 00000103
              0003 005d 00000001 00000000 00000000
                0005 004d 20010db8000000000000000000000001
                          00000001 00000002
                  0072 0001 01
                  0085 0004 00000100
                  0086 0004 00000200
                  002e 0004 00000003
                  007b 0004 00000300
                  007e 0004 000000ff
                  0078 0004 00000250
        """)
        self.assertEqual(wire.encode_message(m), expected)
        self.assertEqual(wire.decode_message(expected), m)

    def test_state_and_connect_messages(self):
        m = Message(wire.STATE, 1, 2, [Option(132, 4), Option(131, 0),
                                       Option(133, 9), Option(125, 9)])
        self.assertEqual(wire.encode_message(m), hx(
            "22 000001 00000002 0084 0001 04 0083 0001 00 "
            "0085 0004 00000009 007d 0004 00000009"))
        c = Message(wire.CONNECT, 2, 3, [
            Option(127, (1, 0)), Option(122, 5), Option(128, 4),
            Option(121, 10), Option(115, 0)])
        self.assertEqual(wire.encode_message(c), hx(
            "1f 000002 00000003 007f 0004 00010000 007a 0004 00000005 "
            "0080 0004 00000004 0079 0004 0000000a 0073 0002 0000"))

    def test_iaprefix_kept_exactly(self):
        # the 16 prefix octets travel as they are, even with host bits set
        self.rt(Option(26, {"preferred": 0, "valid": 0,
                            "prefix": "2001:db8:100::1/56"}),
                "001a 0019 00000000 00000000 38 "
                "20010db8010000000000000000000001")

    def test_unknown_option_kept(self):
        self.rt(Option(9999, H("0102")), "270f 0002 0102")

    def test_decode_errors(self):
        bad = [
            hx("0072 0002 0101"),                    # BINDING_STATUS len 2
            hx("007a 0003 000001"),                  # MCLT len 3
            hx("0072 0005 01"),                      # runs past the end
            hx("00"),                                # truncated header
            hx("0005 0010 " + "00" * 16),            # IAADDR too short
            hx("001a 0019 00000001 00000002 81" + "00" * 16),  # plen 129
            hx("0082 0002 ff fe"),                   # relationship not UTF-8
        ]
        for b in bad:
            with self.assertRaises(wire.DecodeError, msg=b.hex()):
                wire.decode_options(b)
        with self.assertRaises(wire.DecodeError):
            wire.decode_message(hx("23 0000"))
        with self.assertRaises(wire.DecodeError):
            wire.decode_message(hx("23 000001 0000"))
        # nesting bomb
        inner = b""
        for _ in range(20):
            inner = struct.pack("!HH", 45, len(inner)) + inner
        with self.assertRaises(wire.DecodeError):
            wire.decode_options(inner)

    def test_published_codes(self):
        # RFC 8156 §11 (IANA): option codes 114..134, status codes 16..22
        names = ["BINDING_STATUS", "CONNECT_FLAGS", "DNS_REMOVAL_INFO",
                 "DNS_HOST_NAME", "DNS_ZONE_NAME", "DNS_FLAGS",
                 "EXPIRATION_TIME", "MAX_UNACKED_BNDUPD", "MCLT",
                 "PARTNER_LIFETIME", "PARTNER_LIFETIME_SENT",
                 "PARTNER_DOWN_TIME", "PARTNER_RAW_CLT_TIME",
                 "PROTOCOL_VERSION", "KEEPALIVE_TIME", "RECONFIGURE_DATA",
                 "RELATIONSHIP_NAME", "SERVER_FLAGS", "SERVER_STATE",
                 "START_TIME_OF_STATE", "STATE_EXPIRATION_TIME"]
        for i, n in enumerate(names):
            self.assertEqual(wire.OPTION_CODES["OPTION_F_" + n], 114 + i)
        for i, n in enumerate(["AddressInUse", "ConfigurationConflict",
                               "MissingBindingInformation",
                               "OutdatedBindingInformation",
                               "ServerShuttingDown", "DNSUpdateNotSupported",
                               "ExcessiveTimeSkew"]):
            self.assertEqual(wire.STATUS_CODES[n], 16 + i)
        # §5.5.16 server states
        self.assertEqual([st.STATE_CODES[n] for n in (
            "STARTUP", "NORMAL", "COMMUNICATIONS-INTERRUPTED",
            "PARTNER-DOWN", "POTENTIAL-CONFLICT", "RECOVER", "RECOVER-WAIT",
            "RECOVER-DONE", "RESOLUTION-INTERRUPTED", "CONFLICT-DONE")],
            list(range(1, 11)))
        # §5.5.1 binding-status
        self.assertEqual([wire.BINDING_STATUS_CODES[n] for n in (
            "ACTIVE", "EXPIRED", "RELEASED", "PENDING-FREE", "FREE",
            "FREE-BACKUP", "ABANDONED", "RESET")], list(range(1, 9)))

    def test_json_view(self):
        m = Message(wire.STATE, 1, 2, [Option(132, 2), Option(114, 6)])
        j = m.to_json()
        self.assertEqual(j["options"][0]["value"], "NORMAL")
        self.assertEqual(j["options"][1]["value"], "FREE-BACKUP")
        json.dumps(j)


# ===========================================================================
# State machine and acceptance rules (pure functions)
class StateMachineTest(unittest.TestCase):
    def test_comm_ok_transitions(self):
        N, CI, PD, PC = (st.NORMAL, st.COMMUNICATIONS_INTERRUPTED,
                         st.PARTNER_DOWN, st.POTENTIAL_CONFLICT)
        R, RW, RD, RI, CD = (st.RECOVER, st.RECOVER_WAIT, st.RECOVER_DONE,
                             st.RESOLUTION_INTERRUPTED, st.CONFLICT_DONE)
        table = [
            # §8.4.2
            (PD, N, PC), (PD, CI, PC), (PD, PD, PC), (PD, PC, PC),
            (PD, RI, PC), (PD, CD, PC), (PD, R, PD), (PD, RW, PD),
            (PD, RD, N),
            # §8.5.2
            (R, PC, PC), (R, RI, PC), (R, CD, PC), (R, PD, R), (R, N, R),
            # §8.7.2
            (RD, N, N), (RD, RD, N), (RD, R, CI), (RD, RW, CI), (RD, PC, PC),
            # §8.9.2
            (CI, N, N), (CI, CI, N), (CI, RD, N), (CI, R, CI),
            (CI, PD, PC), (CI, PC, PC), (CI, CD, PC), (CI, RI, PC),
            # §8.8.2 (via COMMUNICATIONS-INTERRUPTED)
            (N, N, N), (N, PD, PC), (N, R, CI), (N, CI, N),
            # §8.11.2, §8.12.2
            (RI, N, PC), (CD, N, N), (CD, PC, CD),
        ]
        for own, partner, want in table:
            self.assertEqual(st.comm_ok(own, partner), want,
                             "%s + partner %s" % (st.name(own),
                                                  st.name(partner)))

    def test_comm_failed(self):
        self.assertEqual(st.comm_failed(st.NORMAL),
                         st.COMMUNICATIONS_INTERRUPTED)
        self.assertEqual(st.comm_failed(st.POTENTIAL_CONFLICT),
                         st.RESOLUTION_INTERRUPTED)
        for s in (st.RECOVER, st.RECOVER_WAIT, st.RECOVER_DONE,
                  st.CONFLICT_DONE, st.PARTNER_DOWN):
            self.assertEqual(st.comm_failed(s), s)


class AcceptRulesTest(unittest.TestCase):
    """RFC 8156 §7.5.4, Figure 4."""

    def db(self, status, duid="aa", clt=None, start=1000, sxt=None):
        return bdb.Binding(resource="2001:db8::1", status=status, duid=duid,
                           clt=clt, start_time_of_state=start,
                           state_expiration_time=sxt, source="partner")

    def test_active_vs_active(self):
        d = self.db(wire.ACTIVE)
        # same client: accept
        self.assertIsNone(bdb.decide(d, wire.ACTIVE, "aa", 900, 900, 2000,
                                     "primary"))
        # other client, CLT not later than our start: primary rejects
        self.assertEqual(bdb.decide(d, wire.ACTIVE, "bb", 900, 900, 2000,
                                    "primary"), wire.ADDRESS_IN_USE)
        # ... a secondary accepts
        self.assertIsNone(bdb.decide(d, wire.ACTIVE, "bb", 900, 900, 2000,
                                     "secondary"))
        # ... time(2) holds: accept
        self.assertIsNone(bdb.decide(d, wire.ACTIVE, "bb", 1100, 900, 2000,
                                     "primary"))

    def test_time1(self):
        d = self.db(wire.ACTIVE, sxt=3000)
        self.assertEqual(bdb.decide(d, wire.EXPIRED, "aa", None, 2500, 2000,
                                    "primary"),
                         wire.OUTDATED_BINDING_INFORMATION)
        self.assertIsNone(bdb.decide(d, wire.EXPIRED, "aa", None, 3500, 3500,
                                     "primary"))
        self.assertEqual(bdb.decide(d, wire.FREE, None, None, 2500, 2000,
                                    "primary"),
                         wire.OUTDATED_BINDING_INFORMATION)

    def test_time_compare(self):
        d = self.db(wire.RELEASED, start=1000)
        self.assertIsNone(bdb.decide(d, wire.ACTIVE, "aa", 1100, 1100, 1200,
                                     "primary"))
        self.assertEqual(bdb.decide(d, wire.ACTIVE, "aa", 900, 900, 1200,
                                    "primary"),
                         wire.OUTDATED_BINDING_INFORMATION)
        # within 5 seconds: tie policy
        self.assertIsNone(bdb.decide(d, wire.ACTIVE, "aa", 998, 998, 1200,
                                     "primary", tie_accept=True))
        self.assertEqual(bdb.decide(d, wire.ACTIVE, "aa", 998, 998, 1200,
                                    "primary", tie_accept=False),
                         wire.OUTDATED_BINDING_INFORMATION)

    def test_reset_time2(self):
        d = self.db(wire.RESET, start=1000)
        self.assertIsNone(bdb.decide(d, wire.ACTIVE, "aa", 1001, 900, 1200,
                                     "primary"))
        self.assertEqual(bdb.decide(d, wire.ACTIVE, "aa", None, 1100, 1200,
                                    "primary"),
                         wire.OUTDATED_BINDING_INFORMATION)

    def test_unknown_lease_accepted(self):
        self.assertIsNone(bdb.decide(None, wire.ACTIVE, "aa", 1, 1, 2,
                                     "primary"))


# ===========================================================================
# In-process fuzzing of decode + dispatch: nothing but DecodeError or a
# dropped connection may come out of malformed input.
class FakeConn:
    def __init__(self):
        self.sent = []
        self.closed = False
        self.established = True
        self.state_received = True
        self.remote = "fake"

    def send(self, msg, keep_time=False):
        wire.encode_message(msg)      # what we send must be encodable
        self.sent.append(msg)

    def send_bytes(self, data):
        pass

    def flush(self):
        pass

    def close(self):
        self.closed = True


class FuzzTest(unittest.TestCase):
    def make_peer(self, role):
        import peer as peermod
        events = []
        cfg = peermod.Config(role=role, mclt=2, keepalive=3,
                             addr_pools=["2001:db8::/64"],
                             delegable=["2001:db8:100::/60"],
                             delegated_length=62)
        return peermod.Peer(cfg, events.append), events

    def seeds(self):
        now = wire.now2000()
        leaf = Option(5, {"address": "2001:db8::7", "preferred": 1,
                          "valid": 9}, [
            Option(114, 1), Option(133, now), Option(134, now + 9),
            Option(46, 1), Option(123, now + 12), Option(126, now),
            Option(120, now), Option(39, (0, b"\x01a\x00"))])
        cd = Option(45, None, [
            Option(1, H("000100ab")), Option(100, now),
            Option(129, (now, H("00ff"))), Option(47, ("::1", H("0c"))),
            Option(3, {"iaid": 1, "t1": 2, "t2": 3}, [leaf]),
            Option(25, {"iaid": 1, "t1": 2, "t2": 3}, [Option(26, {
                "preferred": 1, "valid": 2, "prefix": "2001:db8:100::/62"},
                [Option(114, 2), Option(133, now)])])])
        pfx = Option(26, {"preferred": 0, "valid": 0,
                          "prefix": "2001:db8:100:4::/62"},
                     [Option(100, now), Option(114, 6), Option(133, now)])
        return [
            Message(wire.BNDUPD, 1, now, [cd]),
            Message(wire.BNDUPD, 2, now, [pfx]),
            Message(wire.BNDREPLY, 3, now, [cd]),
            Message(wire.STATE, 4, now, [Option(132, 4), Option(131, 1),
                                         Option(133, now), Option(125, now)]),
            Message(wire.UPDREQ, 5, now), Message(wire.UPDREQALL, 6, now),
            Message(wire.UPDDONE, 7, now), Message(wire.POOLREQ, 8, now),
            Message(wire.DISCONNECT, 9, now, [wire.opt_status(20, "x")]),
            Message(wire.CONTACT, 10, now),
        ]

    def test_mutated_messages(self):
        import peer as peermod
        import random
        rnd = random.Random(8156)
        seeds = [wire.encode_message(m) for m in self.seeds()]
        for role in ("primary", "secondary"):
            p, _ = self.make_peer(role)
            p.comm_ok = True
            p.own = st.NORMAL
            for i in range(4000):
                data = bytearray(rnd.choice(seeds))
                for _ in range(rnd.randint(1, 4)):
                    op = rnd.random()
                    pos = rnd.randrange(len(data))
                    if op < 0.6:
                        data[pos] = rnd.randrange(256)
                    elif op < 0.8:
                        del data[pos:pos + rnd.randint(1, 6)]
                    else:
                        data[pos:pos] = bytes(rnd.randrange(256)
                                              for _ in range(rnd.randint(1, 6)))
                    if not data:
                        data = bytearray(b"\x00")
                try:
                    msg = wire.decode_message(bytes(data))
                except wire.DecodeError:
                    continue
                msg.sent_time = p.now()
                conn = FakeConn()
                p.conn = conn
                # make BNDREPLYs match something outstanding now and then
                p.outstanding[msg.xid] = ("2001:db8::7", 0, None, 1)
                try:
                    p._dispatch(conn, msg)
                except peermod.ProtocolError:
                    pass
                p.conn = None


# ===========================================================================
# Integration: real processes over loopback
PEER = os.path.join(HERE, "rfc8156_peer.py")
COMMON = ["--mclt", "2", "--keepalive", "3", "--startup-time", "1",
          "--retry", "0.3", "--delegable", "2001:db8:100::/60",
          "--delegated-length", "62", "--addr-pool", "2001:db8::/64"]


class PeerProc:
    """A spawned peer; collects its JSON output lines in a thread."""

    def __init__(self, args, name):
        self.name = name
        self.p = subprocess.Popen(
            [sys.executable, PEER] + args, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1)
        self.q = queue.Queue()
        self.lines = []
        self.stderr = []
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"event": "bad-output", "line": line}
            self.q.put(obj)

    def _read_err(self):
        for line in self.p.stderr:
            self.stderr.append(line)

    def _pull(self, timeout):
        try:
            obj = self.q.get(timeout=timeout)
        except queue.Empty:
            return None
        self.lines.append(obj)
        return obj

    def wait(self, pred, timeout=15, since=0):
        """Wait for an output line matching pred (searching the history
        from index `since` first)."""
        for obj in self.lines[since:]:
            if pred(obj):
                return obj
        end = time.time() + timeout
        while time.time() < end:
            obj = self._pull(0.1)
            if obj is not None and pred(obj):
                return obj
        raise AssertionError("%s: timeout; last lines:\n%s\nstderr:\n%s" % (
            self.name, "\n".join(json.dumps(x)[:300] for x in [
                y for y in self.lines if y.get("msg") != "CONTACT"][-25:]),
            "".join(self.stderr[-20:])))

    def event(self, name, timeout=15, since=0, **kw):
        return self.wait(lambda o: o.get("event") == name and all(
            o.get(k) == v for k, v in kw.items()), timeout, since)

    def cmd(self, obj, timeout=10):
        obj = dict(obj, id=self.next_id)
        self.next_id += 1
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()
        return self.wait(lambda o: o.get("id") == obj["id"] and "ok" in o,
                         timeout, since=len(self.lines))

    def mark(self):
        # drain what is queued so that `since` indexes are meaningful
        while self._pull(0) is not None:
            pass
        return len(self.lines)

    def stop(self):
        if self.p.poll() is None:
            try:
                self.cmd({"cmd": "quit"}, timeout=3)
            except (AssertionError, OSError, ValueError):
                pass
            try:
                self.p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


class PairTest(unittest.TestCase):
    def setUp(self):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="rfc8156-peer-")

    def tearDown(self):
        for p in self.procs:
            p.stop()
        for p in self.procs:
            err = "".join(p.stderr)
            self.assertNotIn("Traceback", err, "%s stderr:\n%s"
                             % (p.name, err))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spawn(self, args, name):
        p = PeerProc(args, name)
        self.procs.append(p)
        return p

    def secondary(self, port=0, extra=()):
        s = self.spawn(["--role", "secondary", "--listen", "::1",
                        "--port", str(port)] + COMMON + list(extra),
                       "secondary")
        ev = s.event("listening")
        return s, ev["port"]

    def primary(self, port, extra=()):
        return self.spawn(["--role", "primary", "--connect", "::1",
                           "--port", str(port)] + COMMON + list(extra),
                          "primary")

    def normal_pair(self):
        s, port = self.secondary()
        p = self.primary(port)
        p.event("state", own="NORMAL")
        s.event("state", own="NORMAL")
        p.event("partner_state", state="NORMAL")
        s.event("partner_state", state="NORMAL")
        return p, s, port

    @staticmethod
    def until(fn, timeout=10):
        end = time.time() + timeout
        while True:
            v = fn()
            if v or time.time() > end:
                return v
            time.sleep(0.1)

    def binding(self, proc, resource):
        return proc.cmd({"cmd": "binding", "resource": resource})["binding"]

    # -----------------------------------------------------------------
    def test_reach_normal_and_exchange_leases(self):
        p, s, _ = self.normal_pair()
        self.assertEqual(p.cmd({"cmd": "state"})["partner"], "NORMAL")
        self.assertEqual(s.cmd({"cmd": "state"})["own"], "NORMAL")
        # lease granted on the primary (odd address: primary pool, §4.2.1.1)
        r = p.cmd({"cmd": "grant", "duid": "000100010a0b0c0d", "iaid": 1,
                   "type": "na", "resource": "2001:db8::11", "valid": 600,
                   "preferred": 300})
        self.assertTrue(r["ok"], r)
        # §4.4: with nothing acked yet the client lifetime is bound by the
        # MCLT; the scripted grant goes through but says so
        self.assertEqual(len(r["violations"]), 1)
        self.assertIn("MCLT", r["violations"][0])
        r2 = p.cmd({"cmd": "grant", "duid": "000100010a0b0c0e", "iaid": 1,
                    "resource": "2001:db8::13", "valid": 600,
                    "enforce_mclt": True})
        self.assertEqual(r2["violations"], [])
        self.assertEqual(r2["binding"]["valid"], 2)
        s.event("binding", timeout=10)
        b = self.until(lambda: (lambda x: x and x["status"] == "ACTIVE" and x)
                       (self.binding(s, "2001:db8::11")))
        self.assertTrue(b)
        self.assertEqual(b["duid"], "000100010a0b0c0d")
        self.assertEqual(b["valid"], 600)
        self.assertEqual(b["iaid"], 1)
        # the primary got the ack: acked-partner-lifetime recorded (§7.7)
        pb = self.until(lambda: (lambda x: x["acked_partner_lifetime"] and x)
                        (self.binding(p, "2001:db8::11")))
        self.assertFalse(pb["pending"])
        # lease granted on the secondary: a prefix from its FREE-BACKUP pool
        backup = self.until(lambda: [b for b in s.cmd({"cmd": "bindings"})
                                     ["bindings"]
                                     if b["status"] == "FREE-BACKUP"])
        pfx = backup[0]["resource"]
        r = s.cmd({"cmd": "grant", "duid": "00030001020304050607",
                   "iaid": 7, "resource": pfx, "valid": 900})
        self.assertTrue(r["ok"], r)
        b = self.until(lambda: (lambda x: x["status"] == "ACTIVE" and x)
                       (self.binding(p, pfx)))
        self.assertEqual(b["duid"], "00030001020304050607")
        self.assertEqual(b["type"], "pd")
        # release on the primary -> RELEASED on the secondary, FREE locally
        p.cmd({"cmd": "release", "resource": "2001:db8::11"})
        self.until(lambda: self.binding(s, "2001:db8::11")["status"]
                   == "RELEASED")
        self.until(lambda: self.binding(p, "2001:db8::11")["status"]
                   == "FREE")

    def test_updreqall_and_optional_client_data(self):
        p, s, _ = self.normal_pair()
        r = s.cmd({"cmd": "grant", "duid": "0a0b", "iaid": 2,
                   "resource": "2001:db8::40", "valid": 2,
                   "reconfigure_key": "00112233445566778899aabbccddeeff",
                   "relay_peer": "2001:db8:ffff::1", "relay_message": "0c00",
                   "fqdn": "host.example.com"})
        self.assertTrue(r["ok"], r)
        b = self.until(lambda: self.binding(p, "2001:db8::40"))
        self.assertEqual(b["relay"], ["2001:db8:ffff::1", "0c00"])
        self.assertEqual(b["reconfigure"][1],
                         "00112233445566778899aabbccddeeff")
        self.assertTrue(b["fqdn"].startswith("0004686f7374"))
        m = p.mark()
        r = p.cmd({"cmd": "updreqall"})
        self.assertTrue(r["ok"], r)
        done = p.event("upddone", since=m)
        self.assertEqual(done["request"], "UPDREQALL")
        # the secondary answered with at least the lease it granted
        p.wait(lambda o: o.get("event") == "bndupd" and any(
            x.get("resource") == "2001:db8::40" for x in o["results"]),
            since=m)

    def test_poolreq_hands_half_the_prefixes_to_the_secondary(self):
        p, s, _ = self.normal_pair()
        s.event("poolresp")
        p.event("poolreq")

        def count(proc, status):
            return sum(1 for b in proc.cmd({"cmd": "bindings"})["bindings"]
                       if b["status"] == status)
        # /60 split into /62: 4 delegable prefixes, half to the secondary
        self.assertTrue(self.until(lambda: count(s, "FREE-BACKUP") == 2))
        self.assertEqual(count(p, "FREE-BACKUP"), 2)
        self.assertEqual(count(p, "FREE"), 2)
        # the primary refuses (strict) to delegate a prefix it gave away
        backup = [b["resource"] for b in p.cmd({"cmd": "bindings"})
                  ["bindings"] if b["status"] == "FREE-BACKUP"]
        r = p.cmd({"cmd": "grant", "duid": "0001", "resource": backup[0],
                   "valid": 60, "strict": True})
        self.assertFalse(r["ok"])

    def test_partner_down_then_recover_through_recover_wait(self):
        s, port = self.secondary()
        p = self.primary(port)
        p.event("state", own="NORMAL")
        s.event("state", own="NORMAL")
        # the secondary goes away
        s.stop()
        p.event("state", own="COMMUNICATIONS-INTERRUPTED")
        r = p.cmd({"cmd": "goto", "state": "PARTNER-DOWN"})
        self.assertTrue(r["ok"], r)
        p.event("state", own="PARTNER-DOWN")
        # a lease granted while alone (even address would be the partner's
        # pool: use an odd one)
        r = p.cmd({"cmd": "grant", "duid": "0001000155", "iaid": 3,
                   "resource": "2001:db8::21", "valid": 100})
        # no MCLT bound in PARTNER-DOWN (§8.4.1)
        self.assertEqual(r["violations"], [])
        # a fresh secondary without stable storage comes back (§8.3.2)
        s2 = self.spawn(["--role", "secondary", "--listen", "::1",
                         "--port", str(port)] + COMMON, "secondary2")
        s2.event("state", own="RECOVER")
        # it never talked to the partner, the partner did: UPDREQALL
        s2.wait(lambda o: o.get("event") == "tx" and
                o.get("msg") == "UPDREQALL")
        s2.event("state", own="RECOVER-WAIT")
        w = s2.event("recover_wait")
        self.assertGreaterEqual(w["seconds"], 1)   # waits the MCLT
        s2.event("state", own="RECOVER-DONE", timeout=10)
        p.event("state", own="NORMAL", previous="PARTNER-DOWN")
        s2.event("state", own="NORMAL")
        b = self.binding(s2, "2001:db8::21")
        self.assertEqual(b["status"], "ACTIVE")
        self.assertEqual(b["duid"], "0001000155")

    def test_restart_with_stable_storage_goes_recover(self):
        sf = os.path.join(self.tmp, "sec.json")
        s, port = self.secondary(extra=["--state-file", sf])
        p = self.primary(port)
        p.event("state", own="NORMAL")
        s.event("state", own="NORMAL")
        s.stop()
        p.event("state", own="COMMUNICATIONS-INTERRUPTED")
        time.sleep(1.2)   # PARTNER-DOWN start strictly after last op time
        p.cmd({"cmd": "goto", "state": "PARTNER-DOWN"})
        s2 = self.spawn(["--role", "secondary", "--listen", "::1",
                         "--port", str(port), "--state-file", sf] + COMMON,
                        "secondary2")
        st0 = s2.event("started")
        # stored NORMAL -> COMMUNICATIONS-INTERRUPTED (§8.3.2 Step 2)
        self.assertEqual(st0["previous"], "COMMUNICATIONS-INTERRUPTED")
        s2.event("state", own="RECOVER", timeout=15)
        s2.wait(lambda o: o.get("event") == "tx" and o.get("msg") == "UPDREQ")
        s2.event("state", own="NORMAL", timeout=15)
        p.event("state", own="NORMAL", previous="PARTNER-DOWN")

    def test_both_partner_down_resolve_potential_conflict(self):
        p, s, _ = self.normal_pair()
        m_p, m_s = p.mark(), s.mark()
        # simulate a network split: both sides lose the connection
        p.cmd({"cmd": "net", "enabled": False})
        p.event("state", own="COMMUNICATIONS-INTERRUPTED", since=m_p)
        s.event("state", own="COMMUNICATIONS-INTERRUPTED", since=m_s,
                timeout=10)
        p.cmd({"cmd": "goto", "state": "PARTNER-DOWN"})
        s.cmd({"cmd": "goto", "state": "PARTNER-DOWN"})
        # both grant from their own pools while split
        p.cmd({"cmd": "grant", "duid": "01", "resource": "2001:db8::31",
               "valid": 100})
        s.cmd({"cmd": "grant", "duid": "02", "resource": "2001:db8::32",
               "valid": 100})
        p.cmd({"cmd": "net", "enabled": True})
        # §8.10: POTENTIAL-CONFLICT, primary -> CONFLICT-DONE, both NORMAL
        p.event("state", own="POTENTIAL-CONFLICT", since=m_p)
        s.event("state", own="POTENTIAL-CONFLICT", since=m_s)
        p.event("state", own="CONFLICT-DONE", since=m_p)
        s.event("state", own="NORMAL", since=m_s + 1)
        p.event("state", own="NORMAL", previous="CONFLICT-DONE", since=m_p)
        self.assertEqual(self.until(
            lambda: self.binding(p, "2001:db8::32")["duid"]), "02")
        self.assertEqual(self.until(
            lambda: self.binding(s, "2001:db8::31")["duid"]), "01")

    def test_operator_partner_down_while_connected(self):
        # §8.8.2: a NORMAL partner seeing PARTNER-DOWN goes through
        # COMMUNICATIONS-INTERRUPTED to POTENTIAL-CONFLICT; both resolve.
        p, s, _ = self.normal_pair()
        m_p, m_s = p.mark(), s.mark()
        self.assertTrue(s.cmd({"cmd": "goto", "state": "PARTNER-DOWN"})["ok"])
        p.event("state", change="own", own="POTENTIAL-CONFLICT", since=m_p)
        s.event("state", change="own", own="POTENTIAL-CONFLICT", since=m_s)
        p.event("state", change="own", own="CONFLICT-DONE", since=m_p)
        s.event("state", change="own", own="NORMAL", since=m_s)
        p.event("state", change="own", own="NORMAL", since=m_p)
        # refused operator requests
        r = s.cmd({"cmd": "goto", "state": "RECOVER"})
        self.assertFalse(r["ok"])

    def test_keepalive_expiry_and_reconnect(self):
        p, s, _ = self.normal_pair()
        m_p = p.mark()
        s.cmd({"cmd": "mute", "enabled": True})
        p.event("error", since=m_p, timeout=10)  # keepalive timeout
        p.event("state", own="COMMUNICATIONS-INTERRUPTED", since=m_p)
        s.cmd({"cmd": "mute", "enabled": False})
        p.event("state", own="NORMAL", since=m_p, timeout=15)


# ===========================================================================
# Malformed and unusual input, from a hand-driven "primary" socket
class RawClientTest(unittest.TestCase):
    def setUp(self):
        self.peer = PeerProc(["--role", "secondary", "--listen", "::1",
                              "--port", "0"] + COMMON, "secondary")
        self.port = self.peer.event("listening")["port"]
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        self.peer.stop()
        err = "".join(self.peer.stderr)
        self.assertNotIn("Traceback", err, err)

    def connect(self):
        s = socket.create_connection(("::1", self.port), timeout=5)
        self.socks.append(s)
        return s

    @staticmethod
    def send(s, msg):
        s.sendall(wire.frame(wire.encode_message(msg)))

    @staticmethod
    def recv(s):
        head = b""
        while len(head) < 2:
            chunk = s.recv(2 - len(head))
            if not chunk:
                return None
            head += chunk
        n = struct.unpack("!H", head)[0]
        body = b""
        while len(body) < n:
            chunk = s.recv(n - len(body))
            if not chunk:
                return None
            body += chunk
        return wire.decode_message(body)

    def recv_type(self, s, mtype):
        while True:
            m = self.recv(s)
            if m is None or m.type == mtype:
                return m

    def connect_msg(self, sent=None):
        return Message(wire.CONNECT, 1, wire.now2000() if sent is None
                       else sent, [
                           Option(127, (1, 0)), Option(122, 2),
                           Option(128, 3), Option(121, 10), Option(115, 0)])

    def handshake(self):
        s = self.connect()
        self.send(s, self.connect_msg())
        rep = self.recv(s)
        self.assertEqual(rep.type, wire.CONNECTREPLY)
        self.assertIsNone(wire.status_of(rep))
        return s

    def test_starttls_refused_in_insecure_mode(self):
        s = self.connect()
        self.send(s, Message(wire.STARTTLS, 9))
        rep = self.recv(s)
        self.assertEqual(rep.type, wire.REPLY)
        self.assertEqual(rep.xid, 9)
        self.assertEqual(wire.status_of(rep)[0], wire.TLS_CONNECTION_REFUSED)

    def test_connect_with_excessive_skew_rejected(self):
        s = self.connect()
        self.send(s, self.connect_msg(sent=wire.now2000() - 100))
        rep = self.recv(s)
        self.assertEqual(rep.type, wire.CONNECTREPLY)
        self.assertEqual(wire.status_of(rep)[0], wire.EXCESSIVE_TIME_SKEW)

    def test_connect_with_bad_version_rejected(self):
        s = self.connect()
        m = self.connect_msg()
        m.options[0] = Option(127, (2, 0))
        self.send(s, m)
        rep = self.recv(s)
        self.assertEqual(wire.status_of(rep)[0], wire.NOT_SUPPORTED)

    def test_connectreply_contents(self):
        s = self.connect()
        self.send(s, self.connect_msg())
        rep = self.recv(s)
        # §6.1.2: version, MCLT equal to ours, keepalive, max unacked, flags
        self.assertEqual(rep.xid, 1)
        self.assertEqual(rep.get(127), (1, 0))
        self.assertEqual(rep.get(122), 2)
        self.assertIsNotNone(rep.get(128))
        self.assertIsNotNone(rep.get(121))
        self.assertIsNotNone(rep.get(115))
        # then a STATE (§6.1.2) with the STARTUP bit (§8.3.1)
        state = self.recv_type(s, wire.STATE)
        self.assertTrue(state.get(131) & wire.SF_STARTUP)
        self.assertIsNotNone(state.get(133))

    def test_malformed_message_reported_and_connection_closed(self):
        s = self.handshake()
        # a STATE whose SERVER_STATE option claims 5 octets but has 1
        s.sendall(wire.frame(hx("22 000002") + struct.pack(
            "!I", wire.now2000()) + hx("0084 0005 02")))
        self.peer.event("error")
        s.settimeout(5)
        # we get a DISCONNECT and then EOF
        m = self.recv_type(s, wire.DISCONNECT)
        self.assertIsNotNone(m)
        self.assertIsNone(self.recv(s))
        self.assertTrue(self.peer.cmd({"cmd": "ping"})["ok"])

    def test_bndupd_without_binding_information(self):
        s = self.handshake()
        now = wire.now2000()
        # CLIENT_DATA without OPTION_CLIENTID -> MissingBindingInformation
        cd = Option(45, None, [Option(100, now), Option(3, {
            "iaid": 1, "t1": 0, "t2": 0}, [Option(5, {
                "address": "2001:db8::5", "preferred": 1, "valid": 2},
                [Option(114, 1), Option(133, now)])])])
        self.send(s, Message(wire.BNDUPD, 77, now, [cd]))
        rep = self.recv_type(s, wire.BNDREPLY)
        self.assertEqual(rep.xid, 77)
        top = rep.find(wire.OPTION_CLIENT_DATA)
        self.assertEqual(wire.status_of(top)[0],
                         wire.MISSING_BINDING_INFORMATION)
        # IAADDR lacking START_TIME_OF_STATE -> rejected at the leaf
        cd = Option(45, None, [Option(1, H("0001")), Option(100, now),
                               Option(3, {"iaid": 1, "t1": 0, "t2": 0}, [
                                   Option(5, {"address": "2001:db8::5",
                                              "preferred": 1, "valid": 2},
                                          [Option(114, 1)])])])
        self.send(s, Message(wire.BNDUPD, 78, now, [cd]))
        rep = self.recv_type(s, wire.BNDREPLY)
        leaf = rep.find(45).find(3).find(5)
        self.assertEqual(wire.status_of(leaf)[0],
                         wire.MISSING_BINDING_INFORMATION)
        # address outside the configured pools -> ConfigurationConflict
        cd = Option(45, None, [Option(1, H("0001")), Option(100, now),
                               Option(3, {"iaid": 1, "t1": 0, "t2": 0}, [
                                   Option(5, {"address": "2001:db9::5",
                                              "preferred": 1, "valid": 2},
                                          [Option(114, 1),
                                           Option(133, now)])])])
        self.send(s, Message(wire.BNDUPD, 79, now, [cd]))
        rep = self.recv_type(s, wire.BNDREPLY)
        leaf = rep.find(45).find(3).find(5)
        self.assertEqual(wire.status_of(leaf)[0],
                         wire.CONFIGURATION_CONFLICT)
        # neither CLIENT_DATA nor IAPREFIX
        self.send(s, Message(wire.BNDUPD, 80, now, []))
        rep = self.recv_type(s, wire.BNDREPLY)
        self.assertEqual(wire.status_of(rep)[0],
                         wire.MISSING_BINDING_INFORMATION)
        # a good one is accepted and echoes PARTNER_LIFETIME (§7.6)
        cd = Option(45, None, [Option(1, H("0001")), Option(100, now),
                               Option(3, {"iaid": 1, "t1": 0, "t2": 0}, [
                                   Option(5, {"address": "2001:db8::5",
                                              "preferred": 1, "valid": 2},
                                          [Option(114, 1),
                                           Option(133, now),
                                           Option(134, now + 2),
                                           Option(46, 0),
                                           Option(123, now + 3)])])])
        self.send(s, Message(wire.BNDUPD, 81, now, [cd]))
        rep = self.recv_type(s, wire.BNDREPLY)
        leaf = rep.find(45).find(3).find(5)
        self.assertIsNone(wire.status_of(leaf))
        self.assertEqual(leaf.get(124), now + 3)
        self.assertEqual(leaf.get(114), 1)
        self.assertEqual(leaf.get(134), now + 2)

    def test_garbage_framing_never_crashes(self):
        s = self.handshake()
        s.sendall(hx("0003 ffffff"))      # too short for a failover header
        self.peer.event("error")
        self.assertTrue(self.peer.cmd({"cmd": "ping"})["ok"])
        # bad JSON and unknown commands on the control channel
        self.peer.p.stdin.write("not json\n")
        self.peer.p.stdin.flush()
        self.peer.wait(lambda o: o.get("ok") is False and
                       "bad JSON" in o.get("error", ""))
        r = self.peer.cmd({"cmd": "nope"})
        self.assertFalse(r["ok"])
        r = self.peer.cmd({"cmd": "grant", "duid": "zz", "resource": "x"})
        self.assertFalse(r["ok"])


# ===========================================================================
@unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
class TLSTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rfc8156-tls-")
        self.procs = []
        d = self.tmp

        def run(*args):
            subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
        for n in ("a", "b"):
            run("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                "/CN=peer-%s" % n, "-keyout", "%s.key" % n, "-out",
                "%s.csr" % n)
            with open(os.path.join(d, "ext.cnf"), "w") as f:
                f.write("subjectAltName=DNS:peer-%s\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n" % n)
            run("x509", "-req", "-in", "%s.csr" % n, "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                "-out", "%s.pem" % n, "-extfile", "ext.cnf")

    def tearDown(self):
        for p in self.procs:
            p.stop()
        for p in self.procs:
            self.assertNotIn("Traceback", "".join(p.stderr))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tls_args(self, n):
        d = self.tmp
        return ["--tls", "--cert", os.path.join(d, "%s.pem" % n),
                "--key", os.path.join(d, "%s.key" % n),
                "--ca", os.path.join(d, "ca.pem")]

    def test_tls_pair_reaches_normal(self):
        s = PeerProc(["--role", "secondary", "--port", "0"] + COMMON +
                     self.tls_args("b"), "secondary")
        self.procs.append(s)
        port = s.event("listening")["port"]
        p = PeerProc(["--role", "primary", "--port", str(port),
                      "--tls-server-name", "peer-b"] + COMMON +
                     self.tls_args("a"), "primary")
        self.procs.append(p)
        p.event("tls")
        s.event("tls")
        p.event("state", own="NORMAL")
        s.event("state", own="NORMAL")

    def test_insecure_primary_refused_by_secure_secondary(self):
        s = PeerProc(["--role", "secondary", "--port", "0"] + COMMON +
                     self.tls_args("b"), "secondary")
        self.procs.append(s)
        port = s.event("listening")["port"]
        p = PeerProc(["--role", "primary", "--port", str(port)] + COMMON,
                     "primary")
        self.procs.append(p)
        s.event("disconnected")
        self.assertEqual(s.cmd({"cmd": "state"})["comm_ok"], False)


if __name__ == "__main__":
    unittest.main()

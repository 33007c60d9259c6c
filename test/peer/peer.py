"""RFC 8156 failover endpoint: connection management (§6), binding updates
(§7), pool balancing (§4.2.2) and the endpoint state machine (§8).

Single-threaded asyncio.  The control channel (JSON lines on stdin) is fed
in by the caller through Peer.command(); events go out through the `emit`
callable given to the constructor.
"""

import asyncio
import collections
import ipaddress
import json
import os
import random
import ssl
import struct
import time

import bindings as bdb
import states as st
import wire
from bindings import Binding
from wire import Message, Option, opt_u32, opt_status


class Config:
    """Plain attribute bag; see rfc8156_peer.py for the command line."""

    role = "primary"
    listen = "::1"
    connect = "::1"
    port = 647
    local_address = None
    partner_address = None
    mclt = 3600
    keepalive = 60
    max_unacked = 100
    relationship = None
    duid = None
    addr_pools = ()
    delegable = ()
    delegated_length = None
    backup_share = 0.5
    initial_state = None
    state_file = None
    startup_time = 5.0
    retry = 2.0
    auto_partner_down = 0.0
    clock_offset = 0.0
    max_skew = 5
    tie_accept = True
    lenient = False
    reject_dns = False
    upddone_timeout = 60.0
    tls = False
    cert = key = ca = None
    tls_server_name = None
    quiet_contact = False

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class ProtocolError(Exception):
    """A message that violates the protocol badly enough to drop the
    connection."""


# ---------------------------------------------------------------------------
class Connection:
    """One TCP (optionally TLS) connection to the partner."""

    def __init__(self, peer, reader, writer):
        self.peer = peer
        self.reader = reader
        self.writer = writer
        pn = writer.get_extra_info("peername") or ("?", 0)
        self.remote = "[%s]:%s" % (pn[0], pn[1])
        self.remote_ip = pn[0]
        self.established = False   # CONNECT/CONNECTREPLY exchange done
        self.state_received = False  # first STATE received => comm OK
        self.closed = False
        self.last_rx = time.monotonic()
        self.last_tx = time.monotonic()
        self.send_time = max(peer.cfg.keepalive / 4.0, 0.05)
        self.outbuf = []
        self.flush_scheduled = False
        self.tls = False
        self.partner_disconnected = False   # DISCONNECT received

    def send(self, msg, keep_time=False):
        if self.closed or self.peer.muted:
            return
        if msg.type not in wire.NO_SENT_TIME and not keep_time:
            msg.sent_time = self.peer.now()
        try:
            data = wire.frame(wire.encode_message(msg))
        except (ValueError, struct.error) as e:
            self.peer.emit({"event": "error", "error": "encode failed: %s" % e,
                            "msg": msg.name})
            return
        if not (self.peer.cfg.quiet_contact and msg.type == wire.CONTACT):
            self.peer.emit(dict(event="tx", **msg.to_json()))
        self.send_bytes(data)

    def send_bytes(self, data):
        if self.closed:
            return
        self.outbuf.append(data)
        self.last_tx = time.monotonic()
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self):
        """Write queued output.  Stable storage is written first so that no
        BNDREPLY leaves before the binding database is updated (§7.5.2)."""
        self.flush_scheduled = False
        if self.closed or not self.outbuf:
            self.outbuf = []
            return
        self.peer.persist_if_dirty()
        data = b"".join(self.outbuf)
        self.outbuf = []
        try:
            self.writer.write(data)
        except (OSError, RuntimeError) as e:
            self.peer.drop(self, "write failed: %s" % e)

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - transport already gone
            pass


# ---------------------------------------------------------------------------
class Peer:
    def __init__(self, cfg, emit):
        self.cfg = cfg
        self.emit = emit
        self.role = cfg.role
        self.mclt = cfg.mclt
        self.conn = None
        self.server = None
        self.net_enabled = True
        self.muted = False
        self.stopping = False
        self.dirty = False
        self.server_start = self.now()
        self.mono_start = time.monotonic()

        # Failover state (§8.2)
        self.own = st.STARTUP
        self.previous = None          # PREVIOUS-STATE (§8.3.2)
        self.own_start = self.now()
        self.prev_start = self.now()  # start time of PREVIOUS-STATE
        self.partner = None
        self.partner_start = None
        self.partner_flags = 0
        self.partner_startup = False
        self.partner_pd_time = None   # partner's OPTION_F_PARTNER_DOWN_TIME
        self.partner_down_time = None  # when we entered PARTNER-DOWN
        self.comm_ok = False
        self.communicated = False     # persisted: ever had comm OK
        self.communicated_before = False   # value at this connection's start
        self.partner_had_communicated = False  # partner's C bit, 1st STATE
        self.last_op_time = self.now()
        self.time_of_failure = 0      # TIME-OF-FAILURE (§8.3.2 Step 1)
        self.last_op_recorded = 0     # last recorded time of operation
        self.last_received_startup = False  # for the ACK_STARTUP bit

        # Timers (monotonic seconds / absolute times)
        self.startup_deadline = None
        self.recover_wait_deadline = None  # absolute time (§8.6.2)
        self.apd_deadline = None           # auto-partner-down (§8.9)
        self.last_persist = 0.0

        # Partner parameters from CONNECT/CONNECTREPLY (§6.1.2, §6.1.3)
        self.partner_keepalive = None
        self.partner_max_unacked = cfg.max_unacked

        # Binding updates (§7)
        self.bindings = collections.OrderedDict()
        self.to_send = collections.OrderedDict()   # resource -> None
        self.outstanding = {}   # xid -> (resource, version, pl, status)
        self.sync_sessions = []  # answers to UPDREQ/UPDREQALL in progress
        self.our_updreq = None   # (xid, name, monotonic time)
        self.last_bndupd_rx = 0.0
        self.poolreq_after_drain = False
        self.xid = random.randint(1, 0xFFFF)

        self.addr_pools = [ipaddress.IPv6Network(p) for p in cfg.addr_pools]
        self.delegable = []
        for p in cfg.delegable:
            net = ipaddress.IPv6Network(p)
            plen = cfg.delegated_length or net.prefixlen
            if plen < net.prefixlen or plen > 128:
                raise ValueError("delegated length %d does not fit %s"
                                 % (plen, net))
            if plen - net.prefixlen > 16:
                raise ValueError("%s split into /%d is too many prefixes"
                                 % (net, plen))
            self.delegable.append(net)
            for sub in net.subnets(new_prefix=plen):
                key = str(sub)
                self.bindings[key] = Binding(
                    resource=key, type="pd", status=wire.FREE,
                    delegable=True, source="config")
        self.load()

    # -- helpers ----------------------------------------------------------
    def now(self):
        return wire.now2000(self.cfg.clock_offset)

    def next_xid(self):
        while True:
            self.xid = (self.xid + 1) & 0xFFFFFF
            if self.xid == 0:
                continue
            if self.our_updreq and self.our_updreq[0] == self.xid:
                continue   # §5.4: never reuse an outstanding UPDREQ's xid
            if self.xid in self.outstanding:
                continue
            return self.xid

    def emit_state(self):
        self.emit({"event": "state", "own": st.name(self.own),
                   "partner": st.name(self.partner),
                   "previous": st.name(self.previous),
                   "comm_ok": self.comm_ok})

    def error(self, text, **kw):
        d = {"event": "error", "error": text}
        d.update(kw)
        self.emit(d)

    # -- stable storage (§8.2) ---------------------------------------------
    def load(self):
        path = self.cfg.state_file
        data = None
        if path and os.path.exists(path):
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, ValueError) as e:
                self.error("cannot read state file: %s" % e)
        if data:
            prev = data.get("own")
            if prev == st.STARTUP:
                prev = data.get("previous")
            self.previous = prev
            self.prev_start = data.get("own_start") or self.now()
            self.partner = data.get("partner")
            self.partner_start = data.get("partner_start")
            self.communicated = bool(data.get("communicated"))
            self.partner_down_time = data.get("partner_down_time")
            # TIME-OF-FAILURE: a time beyond which the server could not have
            # been operating (last_op_time is written every second).
            self.last_op_recorded = data.get("last_op_time") or 0
            self.time_of_failure = (data.get("last_op_time") or 0) + 1
            for bd in data.get("bindings", []):
                try:
                    b = Binding.from_json(bd)
                    self.bindings[b.resource] = b
                except (KeyError, TypeError, ValueError) as e:
                    self.error("bad binding in state file: %s" % e)
        if self.previous is None:
            # §8.2: no information in stable storage.  (§8.3.2 Step 1 says
            # RECOVER for both; §8.2 is role-specific.  --initial-state
            # overrides.)
            self.previous = (st.parse(self.cfg.initial_state)
                             if self.cfg.initial_state else
                             (st.PARTNER_DOWN if self.role == "primary"
                              else st.RECOVER))
            self.time_of_failure = 0
        elif self.cfg.initial_state:
            self.previous = st.parse(self.cfg.initial_state)
        # §8.3.2 Step 2: a state where communications were "OK" becomes the
        # result of its communications-failed transition.
        self.previous = st.comm_failed(self.previous)

    def persist(self):
        self.dirty = False
        self.last_persist = time.monotonic()
        path = self.cfg.state_file
        if not path:
            return
        data = {
            "own": self.own, "previous": self.previous,
            "own_start": self.own_start, "partner": self.partner,
            "partner_start": self.partner_start,
            "communicated": self.communicated,
            "partner_down_time": self.partner_down_time,
            "last_op_time": self.now(),
            "bindings": [b.to_json() for b in self.bindings.values()
                         if not (b.source == "config"
                                 and b.start_time_of_state == 0)],
        }
        tmp = path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            self.error("cannot write state file: %s" % e)

    def persist_if_dirty(self):
        if self.dirty:
            self.persist()

    # -- lifecycle -----------------------------------------------------------
    async def run(self):
        """Start the endpoint (§8.3.2 Steps 3 and 4) and run until quit."""
        self.startup_deadline = time.monotonic() + self.cfg.startup_time
        self.emit({"event": "started", "role": self.role,
                   "state": "STARTUP", "previous": st.name(self.previous),
                   "mclt": self.mclt, "pid": os.getpid()})
        self.done = asyncio.get_running_loop().create_future()
        tasks = [asyncio.ensure_future(self._ticker())]
        if self.role == "primary":
            tasks.append(asyncio.ensure_future(self._connector()))
        else:
            await self._start_listening()
        try:
            await self.done
        finally:
            for t in tasks:
                t.cancel()
            if self.server:
                self.server.close()
            self.persist()

    def quit(self, code=0):
        if not self.done.done():
            self.done.set_result(code)

    async def _start_listening(self):
        if self.server or not self.net_enabled:
            return
        try:
            self.server = await asyncio.start_server(
                self._accepted, self.cfg.listen, self.cfg.port,
                reuse_address=True)
        except OSError as e:
            self.error("cannot listen on [%s]:%s: %s"
                       % (self.cfg.listen, self.cfg.port, e), fatal=True)
            self.quit(2)
            return
        sock = self.server.sockets[0].getsockname()
        self.emit({"event": "listening", "address": sock[0],
                   "port": sock[1]})

    # -- TLS (RFC 8156 §10 -> RFC 7653 §8.2, §9.1) ---------------------------
    def _tls_context(self, server_side):
        purpose = (ssl.Purpose.CLIENT_AUTH if server_side
                   else ssl.Purpose.SERVER_AUTH)
        ctx = ssl.create_default_context(purpose, cafile=self.cfg.ca)
        ctx.load_cert_chain(self.cfg.cert, self.cfg.key)
        ctx.verify_mode = ssl.CERT_REQUIRED  # mutual authentication
        if not server_side:
            ctx.check_hostname = bool(self.cfg.tls_server_name)
        return ctx

    async def _read_frame(self, conn, timeout):
        head = await asyncio.wait_for(conn.reader.readexactly(2), timeout)
        n = struct.unpack("!H", head)[0]
        body = await asyncio.wait_for(conn.reader.readexactly(n), timeout)
        conn.last_rx = time.monotonic()
        msg = wire.decode_message(body)
        self.emit(dict(event="rx", **msg.to_json()))
        return msg

    # -- primary: connection creation (§6.1) ----------------------------------
    async def _connector(self):
        backoff = 1
        failures = 0
        while True:
            if not self.net_enabled or self.conn is not None:
                await asyncio.sleep(0.1)
                continue
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        self.cfg.connect, self.cfg.port,
                        local_addr=((self.cfg.local_address, 0)
                                    if self.cfg.local_address else None)),
                    timeout=max(self.cfg.retry, 2.0))
            except (OSError, asyncio.TimeoutError) as e:
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    self.emit({"event": "connect_failed",
                               "address": self.cfg.connect,
                               "port": self.cfg.port, "error": str(e),
                               "attempts": failures})
                await asyncio.sleep(self.cfg.retry)
                continue
            failures = 0
            conn = Connection(self, reader, writer)
            self.conn = conn
            self.emit({"event": "connected", "peer": conn.remote})
            rejected = await self._primary_session(conn)
            # §6.1: after a rejection (CONNECTREPLY with a status or a
            # DISCONNECT) reduce the frequency of attempts, but keep trying.
            backoff = min(backoff * 2, 8) if rejected else 1
            await asyncio.sleep(self.cfg.retry * backoff)

    async def _primary_session(self, conn):
        """Returns True when the partner rejected the connection."""
        rejected = False
        try:
            timeout = max(self.cfg.keepalive, 1)
            if self.cfg.tls:
                # RFC 7653 §8.2: STARTTLS first, REPLY without status = OK.
                conn.send(Message(wire.STARTTLS, self.next_xid()))
                msg = await self._read_frame(conn, timeout)
                if msg.type != wire.REPLY or wire.status_of(msg):
                    self.error("partner refused TLS", status=wire.status_of(msg))
                    raise ProtocolError("TLS refused")
                await conn.writer.start_tls(
                    self._tls_context(False),
                    server_hostname=self.cfg.tls_server_name)
                conn.tls = True
                self.emit({"event": "tls", "peer": conn.remote})
            # §6.1.1 Sending a CONNECT message
            conn.send(Message(wire.CONNECT, self.next_xid(),
                              options=self._connect_options(True)))
            while True:
                msg = await self._read_frame(conn, timeout)
                if msg.type == wire.CONTACT:
                    continue
                break
            if msg.type == wire.DISCONNECT:
                rejected = True
                raise ProtocolError("DISCONNECT instead of CONNECTREPLY")
            if msg.type != wire.CONNECTREPLY:
                raise ProtocolError("expected CONNECTREPLY, got %s" % msg.name)
            self._check_skew(conn, msg)
            rejected = not self._on_connectreply(conn, msg)
            if rejected:
                raise ProtocolError("connection rejected")
            await self._established(conn)
            rejected = conn.partner_disconnected
        except ProtocolError as e:
            self.drop(conn, str(e))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError,
                ConnectionError, OSError, ssl.SSLError) as e:
            self.drop(conn, "connection failed: %s" % (e or type(e).__name__))
        except wire.DecodeError as e:
            self.error("malformed message: %s" % e)
            self._disconnect(conn, wire.UNSPEC_FAIL, "malformed message")
            self.drop(conn, "malformed message")
        except asyncio.CancelledError:
            conn.close()
            raise
        except Exception as e:  # noqa: BLE001 - report, never crash
            self.error("internal error: %s: %s" % (type(e).__name__, e))
            self.drop(conn, "internal error")
        return rejected

    def _connect_options(self, connect):
        """Options of CONNECT (§6.1.1) and of an accepting CONNECTREPLY
        (§6.1.2)."""
        opts = [
            Option(wire.OPTION_F_PROTOCOL_VERSION, wire.PROTOCOL_VERSION),
            opt_u32(wire.OPTION_F_MCLT, self.mclt),
            opt_u32(wire.OPTION_F_KEEPALIVE_TIME, self.cfg.keepalive),
            opt_u32(wire.OPTION_F_MAX_UNACKED_BNDUPD, self.cfg.max_unacked),
        ]
        if self.cfg.relationship and connect:
            opts.append(Option(wire.OPTION_F_RELATIONSHIP_NAME,
                               self.cfg.relationship))
        flags = wire.CF_FIXED_PD_LENGTH if self.cfg.delegated_length else 0
        opts.append(Option(wire.OPTION_F_CONNECT_FLAGS, flags))
        return opts

    def _on_connectreply(self, conn, msg):
        """§6.1.3 Receiving a CONNECTREPLY message.  True = accepted."""
        status = wire.status_of(msg)
        if status and status[0] != wire.SUCCESS:
            self.error("CONNECT rejected by partner",
                       status=wire.STATUS.get(status[0], status[0]),
                       message=status[1])
            return False
        missing = [wire.OPTIONS[c][0] for c in (
            wire.OPTION_F_PROTOCOL_VERSION, wire.OPTION_F_MCLT,
            wire.OPTION_F_KEEPALIVE_TIME, wire.OPTION_F_MAX_UNACKED_BNDUPD,
            wire.OPTION_F_CONNECT_FLAGS) if msg.find(c) is None]
        if missing and not (self.cfg.lenient and
                            wire.OPTIONS[wire.OPTION_F_CONNECT_FLAGS][0]
                            in missing and len(missing) == 1):
            self.error("CONNECTREPLY lacks required options", missing=missing)
            self._disconnect(conn, wire.UNSPEC_FAIL,
                             "CONNECTREPLY lacks " + ",".join(missing))
            return False
        ver = msg.get(wire.OPTION_F_PROTOCOL_VERSION)
        if ver[0] != wire.PROTOCOL_VERSION[0]:
            self.error("unsupported protocol version", version=list(ver))
            self._disconnect(conn, wire.NOT_SUPPORTED,
                             "protocol version %d.%d" % tuple(ver))
            return False
        mclt = msg.get(wire.OPTION_F_MCLT)
        if mclt != self.mclt:
            self.error("MCLT mismatch", ours=self.mclt, partner=mclt)
            self._disconnect(conn, wire.UNSPEC_FAIL,
                             "MCLT %d differs from configured %d"
                             % (mclt, self.mclt))
            return False
        self._take_partner_params(conn, msg)
        return True

    def _take_partner_params(self, conn, msg):
        ka = msg.get(wire.OPTION_F_KEEPALIVE_TIME)
        self.partner_keepalive = ka
        if ka:
            # §6.6: FO_SEND_TIME = partner's keepalive-time divided by
            # FO_CONTACT_PER_KEEPALIVE_TIME (4)
            conn.send_time = max(ka / 4.0, 0.05)
        mu = msg.get(wire.OPTION_F_MAX_UNACKED_BNDUPD)
        self.partner_max_unacked = max(1, mu) if mu is not None else 1

    # -- secondary: accepting connections (§6.1, §6.1.2) ---------------------
    async def _accepted(self, reader, writer):
        conn = Connection(self, reader, writer)
        if not self.net_enabled:
            conn.close()
            return
        if (self.cfg.partner_address and ipaddress.ip_address(
                conn.remote_ip.split("%")[0]) != ipaddress.ip_address(
                self.cfg.partner_address)):
            # §6.1: no relationship with the connecting server -> drop.
            self.emit({"event": "refused", "peer": conn.remote,
                       "reason": "not the configured partner"})
            conn.close()
            return
        self.emit({"event": "accepted", "peer": conn.remote})
        try:
            timeout = max(self.cfg.keepalive, 1)
            while True:
                msg = await self._read_frame(conn, timeout)
                if msg.type == wire.STARTTLS:
                    if self.cfg.tls and not conn.tls:
                        conn.send(Message(wire.REPLY, msg.xid))
                        conn.flush()
                        await writer.start_tls(self._tls_context(True))
                        conn.tls = True
                        self.emit({"event": "tls", "peer": conn.remote})
                    else:
                        # RFC 7653 §9.1: insecure mode answers STARTTLS with
                        # REPLY + TLSConnectionRefused.
                        conn.send(Message(wire.REPLY, msg.xid, options=[
                            opt_status(wire.TLS_CONNECTION_REFUSED,
                                       "TLS not enabled")]))
                    continue
                break
            if self.cfg.tls and not conn.tls:
                raise ProtocolError("TLS required but partner did not "
                                    "send STARTTLS")
            if msg.type != wire.CONNECT:
                raise ProtocolError("expected CONNECT, got %s" % msg.name)
            if not self._on_connect(conn, msg):
                conn.flush()
                await asyncio.sleep(0.2)
                raise ProtocolError("CONNECT rejected")
            # A new connection from the primary replaces an old one.
            old = self.conn
            if old is not None and old is not conn:
                self.drop(old, "replaced by a new connection")
            self.conn = conn
            await self._established(conn, replied=True)
        except ProtocolError as e:
            self.drop(conn, str(e))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError,
                ConnectionError, OSError, ssl.SSLError) as e:
            self.drop(conn, "connection failed: %s" % (e or type(e).__name__))
        except wire.DecodeError as e:
            self.error("malformed message: %s" % e)
            self._disconnect(conn, wire.UNSPEC_FAIL, "malformed message")
            self.drop(conn, "malformed message")
        except asyncio.CancelledError:
            # shutting down: the handler task is cancelled by asyncio.run
            conn.close()
        except Exception as e:  # noqa: BLE001 - report, never crash
            self.error("internal error: %s: %s" % (type(e).__name__, e))
            self.drop(conn, "internal error")

    def _on_connect(self, conn, msg):
        """§6.1.2 Receiving a CONNECT message.  True = accepted."""
        def reject(code, text):
            self.error("rejecting CONNECT: %s" % text,
                       status=wire.STATUS.get(code, code))
            conn.send(Message(wire.CONNECTREPLY, msg.xid,
                              options=[opt_status(code, text)]))
            return False

        skew = (msg.sent_time - self.now() + 2 ** 31) % 2 ** 32 - 2 ** 31
        if abs(skew) > self.cfg.max_skew:
            return reject(wire.EXCESSIVE_TIME_SKEW, "time skew %d s" % skew)
        ver = msg.get(wire.OPTION_F_PROTOCOL_VERSION)
        if ver is None or ver[0] != wire.PROTOCOL_VERSION[0]:
            return reject(wire.NOT_SUPPORTED, "protocol version %s not "
                          "supported" % (list(ver) if ver else "missing"))
        required = [wire.OPTION_F_MCLT, wire.OPTION_F_KEEPALIVE_TIME,
                    wire.OPTION_F_MAX_UNACKED_BNDUPD]
        if not self.cfg.lenient:
            required.append(wire.OPTION_F_CONNECT_FLAGS)
        missing = [wire.OPTIONS[c][0] for c in required
                   if msg.find(c) is None]
        if missing:
            return reject(wire.UNSPEC_FAIL, "CONNECT lacks " +
                          ",".join(missing))
        name = msg.get(wire.OPTION_F_RELATIONSHIP_NAME)
        if (name is not None and self.cfg.relationship is not None
                and name != self.cfg.relationship):
            return reject(wire.UNSPEC_FAIL, "unknown relationship %r" % name)
        # Use the primary's MCLT until a later CONNECT changes it (§6.1.2).
        if msg.get(wire.OPTION_F_MCLT) != self.mclt:
            self.emit({"event": "mclt", "old": self.mclt,
                       "new": msg.get(wire.OPTION_F_MCLT)})
        self.mclt = msg.get(wire.OPTION_F_MCLT)
        self._take_partner_params(conn, msg)
        conn.send(Message(wire.CONNECTREPLY, msg.xid,
                          options=self._connect_options(False)))
        return True

    # -- established connection ---------------------------------------------
    async def _established(self, conn, replied=False):
        """CONNECT/CONNECTREPLY done: send STATE (§6.1.2 / §6.1.3) and
        process messages until the connection ends."""
        conn.established = True
        self.emit({"event": "established", "peer": conn.remote,
                   "tls": conn.tls})
        self.send_state()
        fr = wire.FrameReader()
        while not conn.closed:
            data = await conn.reader.read(65536)
            if not data:
                self.drop(conn, "connection closed by partner")
                return
            conn.last_rx = time.monotonic()
            fr.feed(data)
            for body in fr.frames():
                if conn.closed:
                    return
                try:
                    msg = wire.decode_message(body)
                except wire.DecodeError as e:
                    self.error("malformed message: %s" % e,
                               hex=body[:64].hex())
                    self._disconnect(conn, wire.UNSPEC_FAIL,
                                     "malformed message: %s" % e)
                    self.drop(conn, "malformed message")
                    return
                if not (self.cfg.quiet_contact and msg.type == wire.CONTACT):
                    self.emit(dict(event="rx", **msg.to_json()))
                try:
                    self._dispatch(conn, msg)
                except ProtocolError as e:
                    self.drop(conn, str(e))
                    return
                except Exception as e:  # noqa: BLE001
                    # Defensive: a message we could not process is reported,
                    # and the connection is dropped rather than crash.
                    self.error("cannot process %s: %s: %s"
                               % (msg.name, type(e).__name__, e))
                    self._disconnect(conn, wire.UNSPEC_FAIL,
                                     "cannot process %s" % msg.name)
                    self.drop(conn, "unprocessable message")
                    return

    def _disconnect(self, conn, code, text):
        """§5.3.10: DISCONNECT with a status code and a descriptive
        message."""
        if conn and not conn.closed:
            conn.send(Message(wire.DISCONNECT, self.next_xid(),
                              options=[opt_status(code, text)]))
            conn.flush()

    def drop(self, conn, reason):
        """Close a connection; when it was the partner connection,
        communications are no longer "OK" (§6.6, §8)."""
        if conn is None:
            return
        was_closed = conn.closed
        conn.flush()
        conn.close()
        if not was_closed:
            self.emit({"event": "disconnected", "peer": conn.remote,
                       "reason": reason})
        if self.conn is conn:
            self.conn = None
            self._comm_lost()

    def _comm_lost(self):
        self.outstanding.clear()
        self.to_send.clear()
        self.sync_sessions = []
        self.our_updreq = None
        self.poolreq_after_drain = False
        if not self.comm_ok:
            return
        self.comm_ok = False
        self.emit({"event": "comm", "ok": False})
        if self.own != st.STARTUP:
            new = st.comm_failed(self.own)
            if new != self.own:
                if new == st.COMMUNICATIONS_INTERRUPTED:
                    self.emit({"event": "alarm", "alarm":
                               "entering COMMUNICATIONS-INTERRUPTED"})
                self.set_state(new)

    def _check_skew(self, conn, msg):
        """§7.1 / §7.5.1: drop the connection when the sent-time is more
        than 5 seconds away from our clock."""
        if msg.type in wire.NO_SENT_TIME:
            return
        skew = (msg.sent_time - self.now() + 2 ** 31) % 2 ** 32 - 2 ** 31
        if abs(skew) > self.cfg.max_skew:
            self.error("excessive time skew", skew=skew, msg=msg.name)
            self._disconnect(conn, wire.EXCESSIVE_TIME_SKEW,
                             "time skew %d s" % skew)
            raise ProtocolError("excessive time skew")

    def _dispatch(self, conn, msg):
        self._check_skew(conn, msg)
        t = msg.type
        if t == wire.STATE:
            self._on_state(conn, msg)
        elif t == wire.CONTACT:
            pass     # §5.3.12: only resets the keepalive timer
        elif t == wire.BNDUPD:
            self._on_bndupd(conn, msg)
        elif t == wire.BNDREPLY:
            self._on_bndreply(conn, msg)
        elif t == wire.POOLREQ:
            self._on_poolreq(conn, msg)
        elif t == wire.POOLRESP:
            self.emit({"event": "poolresp", "xid": msg.xid})
        elif t in (wire.UPDREQ, wire.UPDREQALL):
            self._on_updreq(conn, msg)
        elif t == wire.UPDDONE:
            self._on_upddone(conn, msg)
        elif t == wire.DISCONNECT:
            s = wire.status_of(msg)
            conn.partner_disconnected = True
            self.emit({"event": "partner_disconnect",
                       "status": wire.STATUS.get(s[0], s[0]) if s else None,
                       "message": s[1] if s else None})
            raise ProtocolError("DISCONNECT received")
        elif t == wire.STARTTLS:
            conn.send(Message(wire.REPLY, msg.xid, options=[
                opt_status(wire.TLS_CONNECTION_REFUSED,
                           "STARTTLS only as first message")]))
        else:
            self.error("unexpected %s on established connection" % msg.name)

    # -- STATE (§6.3, §6.4) -------------------------------------------------
    def server_flags(self):
        f = 0
        if self.own == st.STARTUP:
            f |= wire.SF_STARTUP
        if self.last_received_startup:
            f |= wire.SF_ACK_STARTUP
        if self.communicated:
            f |= wire.SF_COMMUNICATED
        return f

    def send_state(self):
        conn = self.conn
        if conn is None or not conn.established:
            return
        if self.own == st.STARTUP:
            # §8.3.1: STARTUP is never sent; the previously recorded state
            # is sent with the STARTUP flag.
            state, start = self.previous, self.prev_start
        else:
            state, start = self.own, self.own_start
        opts = [Option(wire.OPTION_F_SERVER_STATE, state),
                Option(wire.OPTION_F_SERVER_FLAGS, self.server_flags()),
                opt_u32(wire.OPTION_F_START_TIME_OF_STATE, start)]
        if state == st.PARTNER_DOWN:
            opts.append(opt_u32(wire.OPTION_F_PARTNER_DOWN_TIME,
                                self.partner_down_time or start))
        conn.send(Message(wire.STATE, self.next_xid(), options=opts))

    def _on_state(self, conn, msg):
        state = msg.get(wire.OPTION_F_SERVER_STATE)
        flags = msg.get(wire.OPTION_F_SERVER_FLAGS)
        start = msg.get(wire.OPTION_F_START_TIME_OF_STATE)
        missing = [n for n, v in (("OPTION_F_SERVER_STATE", state),
                                  ("OPTION_F_SERVER_FLAGS", flags),
                                  ("OPTION_F_START_TIME_OF_STATE", start))
                   if v is None]
        if missing:
            self.error("STATE lacks required options", missing=missing)
            if state is None:
                return
        if state not in st.STATE_NAMES or state == st.STARTUP:
            self.error("STATE with invalid server-state %s" % state)
            return
        flags = flags or 0
        if flags & 0xF8:
            self.error("STATE server-flags MBZ bits set", flags=flags)
        self.partner_flags = flags
        self.partner_startup = bool(flags & wire.SF_STARTUP)
        self.last_received_startup = self.partner_startup
        old_partner = self.partner
        self.partner = state
        self.partner_start = start
        if state == st.PARTNER_DOWN:
            self.partner_pd_time = msg.get(wire.OPTION_F_PARTNER_DOWN_TIME)
        else:
            self.partner_pd_time = None   # §6.4
        self.dirty = True
        first = not conn.state_received
        if first:
            # §6.1: upon receipt of the STATE message, communications "OK".
            conn.state_received = True
            self.communicated_before = self.communicated
            self.partner_had_communicated = bool(flags & wire.SF_COMMUNICATED)
            self.comm_ok = True
            self.communicated = True
            self.emit({"event": "comm", "ok": True})
        self.emit({"event": "partner_state", "state": st.name(state),
                   "startup": self.partner_startup,
                   "flags": flags, "start_time": start,
                   "previous": st.name(old_partner)})
        if state != old_partner:
            self.emit({"event": "state", "change": "partner",
                       "own": st.name(self.own), "partner": st.name(state),
                       "partner_previous": st.name(old_partner),
                       "partner_startup": self.partner_startup,
                       "comm_ok": self.comm_ok})
        if first and self.own != st.STARTUP:
            # our C bit changed (and the partner may want to see it)
            self.send_state()
        self.evaluate()

    # -- state machine driver (§8) -------------------------------------------
    def evaluate(self):
        for _ in range(12):
            cur = self.own
            if cur == st.STARTUP:
                if not self.comm_ok:
                    break
                new = self._startup_exit()
            elif (self.comm_ok and self.partner is not None
                  and not self.partner_startup):
                # §8.4.2 (and by extension every state): no transitions on
                # a STATE that has the STARTUP bit set.
                new = st.comm_ok(cur, self.partner)
            else:
                new = cur
            if new == cur:
                break
            self.set_state(new)
        self.state_actions()

    def _startup_exit(self):
        """§8.3.2 Step 5."""
        cur = self.previous
        if self.partner == st.PARTNER_DOWN and self.partner_start is not None:
            if self.partner_start > self.last_op_recorded:
                cur = st.RECOVER
            else:
                cur = st.POTENTIAL_CONFLICT
        return cur

    def set_state(self, new, reason=None):
        old = self.own
        if new == old:
            return
        if old == st.STARTUP:
            self.startup_deadline = None
        self.previous = old
        self.prev_start = self.own_start
        self.own = new
        self.own_start = self.now()
        ev = {"event": "state", "change": "own", "own": st.name(new),
              "partner": st.name(self.partner), "previous": st.name(old),
              "comm_ok": self.comm_ok}
        if reason:
            ev["reason"] = reason
        self.emit(ev)
        # entry actions
        self.apd_deadline = None
        self.recover_wait_deadline = None
        if new == st.PARTNER_DOWN:
            self.partner_down_time = self.own_start
        elif new == st.COMMUNICATIONS_INTERRUPTED:
            if self.cfg.auto_partner_down > 0:
                self.apd_deadline = (time.monotonic() +
                                     self.cfg.auto_partner_down)
        elif new == st.RECOVER_WAIT:
            # §8.6.2: TIME-OF-FAILURE (or server start) plus the MCLT; no
            # wait at all if the server has never run failover before.
            if not self.communicated_before and \
                    not self.partner_had_communicated:
                self.recover_wait_deadline = self.now()
            else:
                base = self.time_of_failure or self.server_start
                self.recover_wait_deadline = base + self.mclt
            self.emit({"event": "recover_wait",
                       "until": self.recover_wait_deadline,
                       "seconds": max(0, self.recover_wait_deadline
                                      - self.now())})
        elif new == st.RESOLUTION_INTERRUPTED:
            self.emit({"event": "alarm",
                       "alarm": "entering RESOLUTION-INTERRUPTED"})
        elif new == st.NORMAL:
            # §8.8: send all unacknowledged updates, then (secondary) POOLREQ
            for b in self.bindings.values():
                if b.pending:
                    self.to_send[b.resource] = None
            if self.role == "secondary":
                self.poolreq_after_drain = True
        self.persist()
        # §8.1: communicate the new state when communications are OK.
        if self.comm_ok:
            self.send_state()

    def state_actions(self):
        """Actions that depend on being in a state with communications OK."""
        conn = self.conn
        if not (self.comm_ok and conn and conn.established):
            return
        if self.own == st.RECOVER and self.partner is not None \
                and not self.partner_startup and self.our_updreq is None:
            # §8.5.2: UPDREQALL if we have no record of ever having talked
            # to the partner although it has one of us; UPDREQ otherwise.
            kind = (wire.UPDREQALL if (not self.communicated_before and
                                       self.partner_had_communicated)
                    else wire.UPDREQ)
            self.send_updreq(kind)
        elif self.own == st.POTENTIAL_CONFLICT and self.our_updreq is None \
                and not self.partner_startup:
            # §8.10: the primary sends UPDREQ on entry; the secondary waits
            # for the primary to reach CONFLICT-DONE first.
            if self.role == "primary" or self.partner == st.CONFLICT_DONE:
                self.send_updreq(wire.UPDREQ)
        self.pump()

    def send_updreq(self, kind):
        xid = self.next_xid()
        self.our_updreq = (xid, wire.MSG_NAMES[kind], time.monotonic())
        self.conn.send(Message(kind, xid))

    def _on_upddone(self, conn, msg):
        if not self.our_updreq or self.our_updreq[0] != msg.xid:
            self.error("UPDDONE for unknown transaction-id %d" % msg.xid)
            return
        self.emit({"event": "upddone", "xid": msg.xid,
                   "request": self.our_updreq[1]})
        self.our_updreq = None
        if self.own == st.RECOVER:
            self.set_state(st.RECOVER_WAIT)            # §8.5.2
            self._check_recover_wait()
        elif self.own == st.POTENTIAL_CONFLICT:
            # §8.10.2: primary -> CONFLICT-DONE, secondary -> NORMAL
            self.set_state(st.CONFLICT_DONE if self.role == "primary"
                           else st.NORMAL)
        self.evaluate()

    def _check_recover_wait(self):
        if self.own == st.RECOVER_WAIT and self.recover_wait_deadline \
                is not None and self.now() >= self.recover_wait_deadline:
            self.set_state(st.RECOVER_DONE)             # §8.6.2
            self.evaluate()

    # -- timers (§6.6, §8.3.2, §8.6.2, §8.9) ---------------------------------
    async def _ticker(self):
        while True:
            await asyncio.sleep(0.1)
            try:
                self._tick()
            except Exception as e:  # noqa: BLE001 - keep the peer alive
                self.error("internal error in timer: %s: %s"
                           % (type(e).__name__, e))

    def _tick(self):
        mono = time.monotonic()
        conn = self.conn
        if conn is not None and not conn.closed:
            # FO_KEEPALIVE_TIMER (§6.6)
            if mono - conn.last_rx > self.cfg.keepalive:
                self.error("no message from partner within keepalive time",
                           keepalive=self.cfg.keepalive)
                self.drop(conn, "keepalive timeout")
            # FO_SEND_TIMER (§6.6)
            elif conn.established and mono - conn.last_tx >= conn.send_time:
                conn.send(Message(wire.CONTACT, self.next_xid()))
            # §8.5.2: no UPDDONE and no BNDUPDs for too long -> drop.
            elif self.our_updreq and mono - max(
                    self.our_updreq[2], self.last_bndupd_rx) > \
                    self.cfg.upddone_timeout:
                self.error("no UPDDONE from partner")
                self.drop(conn, "UPDDONE timeout")
        if self.own == st.STARTUP and self.startup_deadline is not None \
                and mono >= self.startup_deadline:
            # §8.3.2 Step 6
            self.set_state(self.previous, reason="startup timer expired")
        self._check_recover_wait()
        if self.own == st.COMMUNICATIONS_INTERRUPTED and self.apd_deadline \
                and mono >= self.apd_deadline:
            self.set_state(st.PARTNER_DOWN, reason="auto-partner-down")
        if mono - self.last_persist > 1.0:
            self.persist()   # refreshes last_op_time

    # -- binding updates: sending (§7.4) -------------------------------------
    def auto_send_ok(self):
        """Lazy updates (§4.3) flow in NORMAL (§8.8.1); a primary in
        CONFLICT-DONE is as responsive as in NORMAL (§8.12.1)."""
        return self.comm_ok and self.own in (st.NORMAL, st.CONFLICT_DONE)

    def mark_changed(self, b, send=True):
        b.version += 1
        b.pending = True
        self.dirty = True
        if send and self.auto_send_ok():
            self.to_send[b.resource] = None
            self.pump()

    def sendable(self, b):
        return b.duid is not None or b.type == "pd"

    def pump(self):
        """Send queued BNDUPDs, within the partner's
        OPTION_F_MAX_UNACKED_BNDUPD (§6.1.2, §6.1.3)."""
        conn = self.conn
        if not (conn and conn.established and self.comm_ok):
            return
        in_flight = {v[0] for v in self.outstanding.values()}
        deferred = []
        while self.to_send and len(self.outstanding) < \
                self.partner_max_unacked:
            key, _ = self.to_send.popitem(last=False)
            b = self.bindings.get(key)
            if b is None or not self.sendable(b):
                self._session_done_key(key)
                continue
            if key in in_flight:
                deferred.append(key)   # resent after its BNDREPLY
                continue
            xid = self.next_xid()
            msg, pl = self.build_bndupd(b, xid)
            self.outstanding[xid] = (key, b.version, pl, b.status)
            in_flight.add(key)
            conn.send(msg)
        for key in deferred:
            self.to_send[key] = None
        self._check_sessions()
        if (self.poolreq_after_drain and self.own == st.NORMAL
                and not self.to_send and not self.outstanding):
            # §8.8: after the unacked updates, a secondary asks for
            # delegable prefixes.
            self.poolreq_after_drain = False
            conn.send(Message(wire.POOLREQ, self.next_xid()))

    def build_bndupd(self, b, xid):
        """BNDUPD contents per §7.4.  Returns (message, partner-lifetime
        sent)."""
        now = self.now()
        timeout = b.has_timeout()
        inner = [Option(wire.OPTION_F_BINDING_STATUS, b.status),
                 opt_u32(wire.OPTION_F_START_TIME_OF_STATE,
                         b.start_time_of_state)]
        pl = None
        if timeout:
            sxt = b.state_expiration_time
            if sxt is None:
                sxt = b.start_time_of_state + b.valid
            inner.append(opt_u32(wire.OPTION_F_STATE_EXPIRATION_TIME, sxt))
        if b.duid is not None and b.clt is not None:
            # OPTION_CLT_TIME is relative to OPTION_LQ_BASE_TIME (RFC 7653
            # §6.3.1, RFC 5007 §4.1.2.3)
            inner.append(opt_u32(wire.OPTION_CLT_TIME, max(0, now - b.clt)))
        if timeout:
            pl = b.partner_lifetime
            if pl is None:
                pl = b.state_expiration_time or (b.start_time_of_state +
                                                 b.valid)
            inner.append(opt_u32(wire.OPTION_F_PARTNER_LIFETIME, pl))
        if b.duid is not None and b.partner_raw_clt is not None:
            inner.append(opt_u32(wire.OPTION_F_PARTNER_RAW_CLT_TIME,
                                 b.partner_raw_clt))
        if timeout and b.expiration_time is not None:
            inner.append(opt_u32(wire.OPTION_F_EXPIRATION_TIME,
                                 b.expiration_time))
        if b.duid is not None and b.fqdn:
            raw = bytes.fromhex(b.fqdn)
            inner.append(Option(wire.OPTION_CLIENT_FQDN, (raw[0], raw[1:])))
        if b.duid is None:
            # §7.4 (2): a single prefix lease outside OPTION_CLIENT_DATA
            opts = [opt_u32(wire.OPTION_LQ_BASE_TIME, now)] + inner
            top = Option(wire.OPTION_IAPREFIX, {
                "preferred": b.preferred, "valid": b.valid,
                "prefix": b.resource}, opts)
            return Message(wire.BNDUPD, xid, options=[top]), pl
        if b.type == "pd":
            leaf = Option(wire.OPTION_IAPREFIX, {
                "preferred": b.preferred, "valid": b.valid,
                "prefix": b.resource}, inner)
            ia = Option(wire.OPTION_IA_PD, {"iaid": b.iaid, "t1": b.t1,
                                            "t2": b.t2}, [leaf])
        else:
            leaf = Option(wire.OPTION_IAADDR, {
                "address": b.resource, "preferred": b.preferred,
                "valid": b.valid}, inner)
            if b.type == "ta":
                ia = Option(wire.OPTION_IA_TA, {"iaid": b.iaid}, [leaf])
            else:
                ia = Option(wire.OPTION_IA_NA, {"iaid": b.iaid, "t1": b.t1,
                                                "t2": b.t2}, [leaf])
        cd = [Option(wire.OPTION_CLIENTID, bytes.fromhex(b.duid)),
              opt_u32(wire.OPTION_LQ_BASE_TIME, now)]
        if b.reconfigure:
            cd.append(Option(wire.OPTION_F_RECONFIGURE_DATA,
                             (b.reconfigure[0],
                              bytes.fromhex(b.reconfigure[1]))))
        if b.relay:
            cd.append(Option(wire.OPTION_LQ_RELAY_DATA,
                             (b.relay[0], bytes.fromhex(b.relay[1]))))
        cd.append(ia)
        return Message(wire.BNDUPD, xid,
                       options=[Option(wire.OPTION_CLIENT_DATA, None, cd)]), pl

    # -- binding updates: receiving (§7.5, §7.6) -----------------------------
    def _on_bndupd(self, conn, msg):
        self.last_bndupd_rx = time.monotonic()
        cds = msg.find_all(wire.OPTION_CLIENT_DATA)
        pfx = msg.find_all(wire.OPTION_IAPREFIX)
        results = []
        if len(cds) + len(pfx) != 1:
            # §7.5.3: MUST contain a single OPTION_CLIENT_DATA or a single
            # OPTION_IAPREFIX.
            text = ("BNDUPD must carry exactly one OPTION_CLIENT_DATA or "
                    "OPTION_IAPREFIX (got %d and %d)" % (len(cds), len(pfx)))
            self.error(text, xid=msg.xid)
            if cds:
                top = Option(wire.OPTION_CLIENT_DATA, None, [
                    opt_status(wire.MISSING_BINDING_INFORMATION, text)] + [
                    o for o in cds[0].options if o.code == wire.OPTION_CLIENTID])
                reply = [top]
            elif pfx:
                reply = [Option(wire.OPTION_IAPREFIX, pfx[0].value, [
                    opt_status(wire.MISSING_BINDING_INFORMATION, text)])]
            else:
                reply = [opt_status(wire.MISSING_BINDING_INFORMATION, text)]
            conn.send(Message(wire.BNDREPLY, msg.xid, options=reply))
            return
        if cds:
            top = self._bndupd_client_data(cds[0], msg, results)
        else:
            top = self._bndupd_prefix(pfx[0], msg, results)
        self.emit({"event": "bndupd", "xid": msg.xid, "results": results})
        # §7.5.2: database (stable storage) before BNDREPLY: the flush of
        # conn's output writes the state file first.
        conn.send(Message(wire.BNDREPLY, msg.xid, options=[top]))
        self.pump()

    def _bndupd_client_data(self, cd, msg, results):
        duid_raw = cd.get(wire.OPTION_CLIENTID)
        head = [o for o in cd.options if o.code in (wire.OPTION_CLIENTID,
                                                    wire.OPTION_VSS)]

        def reject_all(code, text):
            results.append({"accepted": False,
                            "status": wire.STATUS[code], "message": text})
            return Option(wire.OPTION_CLIENT_DATA, None,
                          head + [opt_status(code, text)])

        if duid_raw is None:
            return reject_all(wire.MISSING_BINDING_INFORMATION,
                              "no OPTION_CLIENTID")
        if cd.find(wire.OPTION_VSS) is not None:
            # §7.5.4: the VPN is not in our configuration (no RFC 6607).
            return reject_all(wire.CONFIGURATION_CONFLICT, "VPN not configured")
        base = cd.get(wire.OPTION_LQ_BASE_TIME)
        if base is None:
            if not self.cfg.lenient:
                return reject_all(wire.MISSING_BINDING_INFORMATION,
                                  "no OPTION_LQ_BASE_TIME (§7.4)")
            base = msg.sent_time
        ias = [o for o in cd.options if o.code in (
            wire.OPTION_IA_NA, wire.OPTION_IA_TA, wire.OPTION_IA_PD)]
        if not ias:
            return reject_all(wire.MISSING_BINDING_INFORMATION,
                              "no OPTION_IA_NA/IA_TA/IA_PD")
        client = {
            "duid": duid_raw.hex(),
            "reconfigure": None, "relay": None,
        }
        rc = cd.get(wire.OPTION_F_RECONFIGURE_DATA)
        if rc is not None:
            client["reconfigure"] = [rc[0], rc[1].hex()]
        rl = cd.get(wire.OPTION_LQ_RELAY_DATA)
        if rl is not None:
            client["relay"] = [rl[0], rl[1].hex()]
        out_ias = []
        for ia in ias:
            kind = {wire.OPTION_IA_NA: "na", wire.OPTION_IA_TA: "ta",
                    wire.OPTION_IA_PD: "pd"}[ia.code]
            leaf_code = (wire.OPTION_IAPREFIX if kind == "pd"
                         else wire.OPTION_IAADDR)
            leaves = ia.find_all(leaf_code)
            rep_leaves = []
            if not leaves:
                rep_leaves.append(opt_status(
                    wire.MISSING_BINDING_INFORMATION,
                    "no %s in %s" % (wire.OPTIONS[leaf_code][0], ia.name)))
                results.append({"accepted": False, "status":
                                "MissingBindingInformation",
                                "message": "IA without leases"})
            for leaf in leaves:
                rep_leaves.append(self._process_leaf(
                    kind, leaf, ia.value, client, base, results))
            out_ias.append(Option(ia.code, ia.value, rep_leaves))
        return Option(wire.OPTION_CLIENT_DATA, None, head + out_ias)

    def _bndupd_prefix(self, pfx, msg, results):
        base = pfx.get(wire.OPTION_LQ_BASE_TIME)
        if pfx.find(wire.OPTION_VSS) is not None:
            results.append({"accepted": False, "resource":
                            pfx.value["prefix"],
                            "status": "ConfigurationConflict"})
            return Option(wire.OPTION_IAPREFIX, pfx.value, [
                o for o in pfx.options if o.code == wire.OPTION_VSS] + [
                opt_status(wire.CONFIGURATION_CONFLICT, "VPN not configured")])
        if base is None:
            if not self.cfg.lenient:
                results.append({"accepted": False,
                                "resource": pfx.value["prefix"],
                                "status": "MissingBindingInformation"})
                return Option(wire.OPTION_IAPREFIX, pfx.value, [
                    opt_status(wire.MISSING_BINDING_INFORMATION,
                               "no OPTION_LQ_BASE_TIME (§7.4)")])
            base = msg.sent_time
        return self._process_leaf("pd", pfx, None, None, base, results)

    def in_config(self, kind, resource):
        """§7.5.4: is the lease associated with this failover endpoint?
        Without configured pools every resource is."""
        if kind == "pd":
            if not self.delegable:
                return True
            net = ipaddress.IPv6Network(resource)
            return any(net.subnet_of(d) for d in self.delegable)
        if not self.addr_pools:
            return True
        a = ipaddress.IPv6Address(resource)
        return any(a in p for p in self.addr_pools)

    def _process_leaf(self, kind, leaf, ia_value, client, base, results):
        """One IAADDR/IAPREFIX of a BNDUPD: §7.5.4 decision, §7.5.5 storage,
        and the reply option of §7.6."""
        v = leaf.value
        resource = v["prefix"] if kind == "pd" else v["address"]
        status = leaf.get(wire.OPTION_F_BINDING_STATUS)
        start = leaf.get(wire.OPTION_F_START_TIME_OF_STATE)
        sxt = leaf.get(wire.OPTION_F_STATE_EXPIRATION_TIME)
        pl = leaf.get(wire.OPTION_F_PARTNER_LIFETIME)
        clt_rel = leaf.get(wire.OPTION_CLT_TIME)
        clt_abs = None if clt_rel is None else (base - clt_rel) & 0xFFFFFFFF
        code, text = None, ""
        b = self.bindings.get(resource)
        if kind == "pd" and not _is_network(resource):
            code, text = (wire.CONFIGURATION_CONFLICT,
                          "%s has bits set beyond its prefix length"
                          % resource)
        elif status is None or start is None:
            code, text = (wire.MISSING_BINDING_INFORMATION,
                          "OPTION_F_BINDING_STATUS and "
                          "OPTION_F_START_TIME_OF_STATE MUST appear")
        elif status not in wire.BINDING_STATUS:
            code, text = (wire.MISSING_BINDING_INFORMATION,
                          "unknown binding-status %d" % status)
        elif status == wire.ACTIVE and client is None:
            code, text = (wire.MISSING_BINDING_INFORMATION,
                          "ACTIVE lease without client identification")
        elif not self.in_config(kind, resource):
            code, text = (wire.CONFIGURATION_CONFLICT,
                          "%s is not configured here" % resource)
        elif b is not None and (b.type == "pd") != (kind == "pd"):
            code, text = (wire.CONFIGURATION_CONFLICT,
                          "%s is a different lease type here" % resource)
        elif self.cfg.reject_dns and (
                leaf.find(wire.OPTION_CLIENT_FQDN) is not None or
                leaf.find(wire.OPTION_F_DNS_REMOVAL_INFO) is not None):
            code, text = (wire.DNS_UPDATE_NOT_SUPPORTED,
                          "DNS update not supported")
        else:
            code = bdb.decide(b, status, client and client["duid"], clt_abs,
                              start, self.now(), self.role,
                              self.cfg.tie_accept)
            if code is not None:
                text = "rejected per RFC 8156 §7.5.4"
        res = {"resource": resource, "type": kind,
               "status": wire.BINDING_STATUS.get(status, status),
               "accepted": code is None}
        if code is None:
            self._store(kind, resource, leaf, ia_value, client, status, start,
                        sxt, pl, clt_abs)
        else:
            res["code"] = wire.STATUS.get(code, code)
            if code == wire.OUTDATED_BINDING_INFORMATION and b is not None:
                # §7.5.4: flag the lease for an update to the partner; send
                # at once only if the flag was not already set.
                was = b.pending
                b.pending = True
                self.dirty = True
                if not was and self.auto_send_ok():
                    self.to_send[resource] = None
        results.append(res)
        # §7.6 reply contents
        rep = []
        if code is not None:
            rep.append(opt_status(code, text))
        if status is not None:
            rep.append(Option(wire.OPTION_F_BINDING_STATUS, status))
        if sxt is not None:
            rep.append(opt_u32(wire.OPTION_F_STATE_EXPIRATION_TIME, sxt))
        if pl is not None:
            rep.append(opt_u32(wire.OPTION_F_PARTNER_LIFETIME_SENT, pl))
        return Option(leaf.code, v, rep)

    def _store(self, kind, resource, leaf, ia_value, client, status, start,
               sxt, pl, clt_abs):
        """§7.5.5 Accepting updates (and Figure 5)."""
        b = self.bindings.get(resource)
        if b is None:
            b = Binding(resource=resource, type=kind)
            self.bindings[resource] = b
        v = leaf.value
        b.type = kind
        b.status = status
        b.source = "partner"
        b.preferred, b.valid = v["preferred"], v["valid"]
        if ia_value is not None:
            b.iaid = ia_value["iaid"]
            b.t1 = ia_value.get("t1", 0)
            b.t2 = ia_value.get("t2", 0)
        if client is not None:
            b.duid = client["duid"]
            b.reconfigure = client["reconfigure"]
            b.relay = client["relay"]
        elif status in (wire.FREE, wire.FREE_BACKUP):
            b.duid = b.duid  # keep the last client as a hint (§7.2)
        b.start_time_of_state = start                       # Figure 5
        b.state_expiration_time = sxt                       # §7.5.5 c
        if pl is not None:
            b.expiration_time = pl                          # §7.5.5 b
        if clt_abs is not None:
            b.partner_raw_clt = clt_abs                     # §7.5.5 d
        prc = leaf.get(wire.OPTION_F_PARTNER_RAW_CLT_TIME)
        if prc is not None and (b.clt is None or prc > b.clt):
            b.clt = prc                                     # §7.5.5 e
        et = leaf.get(wire.OPTION_F_EXPIRATION_TIME)
        if et is not None and (b.partner_lifetime is None or
                               et > b.partner_lifetime):
            b.partner_lifetime = et                         # §7.5.5 f
        fq = leaf.get(wire.OPTION_CLIENT_FQDN)
        if fq is not None:
            b.fqdn = (bytes([fq[0]]) + fq[1]).hex()
        dri = leaf.find(wire.OPTION_F_DNS_REMOVAL_INFO)
        if dri is not None:
            b.dns_removal = wire.encode_options(dri.options).hex()
        b.pending = False
        b.last_reject = None
        b.version += 1
        self.to_send.pop(resource, None)
        self.dirty = True
        self.emit({"event": "binding", "source": "partner",
                   "binding": b.to_json()})

    # -- BNDREPLY (§7.7) -----------------------------------------------------
    def _on_bndreply(self, conn, msg):
        ent = self.outstanding.pop(msg.xid, None)
        if ent is None:
            self.error("BNDREPLY for unknown transaction-id %d" % msg.xid)
            return
        key, version, pl_sent, status_sent = ent
        b = self.bindings.get(key)
        rejected = None
        st_msg = wire.status_of(msg)
        if st_msg and st_msg[0] != wire.SUCCESS:
            rejected = st_msg
        leaf = None
        cds = msg.find_all(wire.OPTION_CLIENT_DATA)
        pfx = msg.find_all(wire.OPTION_IAPREFIX)
        if rejected is None and cds:
            cd = cds[0]
            s = wire.status_of(cd)
            if s and s[0] != wire.SUCCESS:
                rejected = s
            for ia in cd.options:
                if ia.code not in (wire.OPTION_IA_NA, wire.OPTION_IA_TA,
                                   wire.OPTION_IA_PD):
                    continue
                for lf in ia.options:
                    if lf.code == wire.OPTION_IAADDR and \
                            lf.value["address"] == key or \
                            lf.code == wire.OPTION_IAPREFIX and \
                            lf.value["prefix"] == key:
                        leaf = lf
                        s = wire.status_of(ia)
                        if rejected is None and s and s[0] != wire.SUCCESS:
                            rejected = s
        elif rejected is None and pfx:
            if pfx[0].value["prefix"] == key:
                leaf = pfx[0]
        if rejected is None and leaf is not None:
            s = wire.status_of(leaf)
            if s and s[0] != wire.SUCCESS:
                rejected = s
        if rejected is None and leaf is None:
            self.error("BNDREPLY does not mention %s" % key, xid=msg.xid)
            rejected = (wire.MISSING_BINDING_INFORMATION, "lease missing")
        ev = {"event": "bndreply", "xid": msg.xid, "resource": key,
              "accepted": rejected is None}
        if b is not None:
            if rejected is None:
                # §7.7: acked-partner-lifetime from PARTNER_LIFETIME_SENT
                pls = leaf.get(wire.OPTION_F_PARTNER_LIFETIME_SENT)
                if pls is not None:
                    b.acked_partner_lifetime = pls
                elif pl_sent is not None:
                    b.acked_partner_lifetime = pl_sent
                b.last_reject = None
                if b.version == version:
                    b.pending = False
                    if b.status in (wire.EXPIRED, wire.RELEASED, wire.RESET):
                        # Figure 2 (4): acked -> PENDING-FREE -> FREE
                        # (Figure 3; a prefix returns to the primary,
                        # §4.2.2)
                        b.status = wire.FREE
                        b.start_time_of_state = self.now()
                        b.state_expiration_time = None
                        self.emit({"event": "binding", "source": "local",
                                   "binding": b.to_json()})
            else:
                ev["code"] = wire.STATUS.get(rejected[0], rejected[0])
                ev["message"] = rejected[1]
                b.last_reject = ev["code"]
                if b.version == version:
                    b.pending = False   # §7.7: only remember the rejection
            self.dirty = True
            if b.pending and self.auto_send_ok():
                self.to_send[key] = None
        self.emit(ev)
        self._session_done_key(key)
        self.pump()

    # -- UPDREQ / UPDREQALL (§5.3.5, §5.3.6) ---------------------------------
    def _on_updreq(self, conn, msg):
        everything = msg.type == wire.UPDREQALL
        keys = []
        for b in self.bindings.values():
            if not self.sendable(b):
                continue
            if everything:
                if b.source == "config" and b.start_time_of_state == 0:
                    continue    # untouched configuration: no information
                keys.append(b.resource)
            elif b.pending:
                keys.append(b.resource)
        self.emit({"event": "updreq", "msg": msg.name, "xid": msg.xid,
                   "count": len(keys)})
        self.sync_sessions.append({"xid": msg.xid, "msg": msg.name,
                                   "keys": set(keys)})
        for k in keys:
            self.to_send[k] = None
        self.pump()
        self._check_sessions()

    def _session_done_key(self, key):
        b = self.bindings.get(key)
        if b is not None and b.pending and key in self.to_send:
            return
        in_flight = any(v[0] == key for v in self.outstanding.values())
        if in_flight:
            return
        for s in self.sync_sessions:
            s["keys"].discard(key)

    def _check_sessions(self):
        conn = self.conn
        if not conn:
            return
        left = []
        for s in self.sync_sessions:
            if s["keys"]:
                left.append(s)
                continue
            # UPDDONE carries the transaction-id of the request (§5.4).
            conn.send(Message(wire.UPDDONE, s["xid"]))
        self.sync_sessions = left

    # -- POOLREQ / POOLRESP (§4.2.2) -----------------------------------------
    def _on_poolreq(self, conn, msg):
        if self.role != "primary":
            self.error("POOLREQ received by a secondary server")
            return
        # POOLRESP only acknowledges the task (§5.3.4); Figure 8 shows it
        # before the BNDUPDs.
        conn.send(Message(wire.POOLRESP, msg.xid))
        moved = self.rebalance()
        self.emit({"event": "poolreq", "xid": msg.xid, "moved": moved})

    @staticmethod
    def pool_owner(b):
        """Which server may allocate this delegable prefix (§4.2.2):
        FREE -> primary, FREE-BACKUP -> secondary; an EXPIRED, RELEASED or
        RESET prefix whose update has been acknowledged is available again
        and "will be initially owned by the primary" (§4.2.2, §4.2.2.1).
        None when the prefix is not available."""
        if b.status == wire.FREE_BACKUP:
            return "secondary"
        if b.status in (wire.FREE, wire.PENDING_FREE):
            return "primary"
        if b.status in (wire.EXPIRED, wire.RELEASED, wire.RESET) \
                and not b.pending:
            return "primary"
        return None

    def rebalance(self):
        """Give the secondary its share of the available delegable prefixes
        as FREE-BACKUP prefix leases (§4.2.2)."""
        avail = [b for b in self.bindings.values()
                 if b.delegable and self.pool_owner(b)]
        backup = sum(1 for b in avail if b.status == wire.FREE_BACKUP)
        target = int(len(avail) * self.cfg.backup_share)
        moved = []
        for b in avail:
            if backup >= target:
                break
            if self.pool_owner(b) != "primary":
                continue
            if b.resource in {v[0] for v in self.outstanding.values()}:
                continue
            b.duid = None   # sent as a lone OPTION_IAPREFIX (§7.4)
            b.status = wire.FREE_BACKUP
            b.start_time_of_state = self.now()
            b.state_expiration_time = None
            b.source = "local"
            backup += 1
            moved.append(b.resource)
            b.version += 1
            b.pending = True
            self.to_send[b.resource] = None
        self.dirty = True
        self.pump()
        return moved

    # -- control channel -----------------------------------------------------
    def command(self, obj):
        """Execute one control command; returns the response dict."""
        if not isinstance(obj, dict) or "cmd" not in obj:
            return {"ok": False, "error": "expected an object with \"cmd\""}
        name = str(obj["cmd"])
        fn = getattr(self, "cmd_" + name.replace("-", "_"), None)
        if fn is None:
            return {"ok": False, "error": "unknown command %r" % name}
        try:
            res = fn(obj) or {}
        except (KeyError, ValueError, TypeError) as e:
            return {"ok": False, "cmd": name,
                    "error": "%s: %s" % (type(e).__name__, e)}
        res.setdefault("ok", True)
        res["cmd"] = name
        return res

    def cmd_ping(self, o):
        return {}

    def cmd_state(self, o):
        c = self.conn
        return {
            "role": self.role, "own": st.name(self.own),
            "partner": st.name(self.partner),
            "previous": st.name(self.previous), "comm_ok": self.comm_ok,
            "connected": bool(c and c.established),
            "partner_startup": self.partner_startup,
            "partner_flags": self.partner_flags,
            "own_start": self.own_start, "partner_start": self.partner_start,
            "partner_down_time": self.partner_down_time,
            "partner_partner_down_time": self.partner_pd_time,
            "mclt": self.mclt,
            "responsiveness": st.responsiveness(self.own, self.role),
            "pending": sum(1 for b in self.bindings.values() if b.pending),
            "outstanding": len(self.outstanding),
            "now": self.now(),
        }

    def cmd_bindings(self, o):
        out = [b.to_json() for b in self.bindings.values()]
        if o.get("changed_only"):
            out = [b for b in out if not (b["source"] == "config" and
                                          b["start_time_of_state"] == 0)]
        return {"bindings": out}

    def cmd_binding(self, o):
        key, _ = bdb.normalize_resource(o["resource"])
        b = self.bindings.get(key)
        return {"binding": b.to_json() if b else None}

    def _lease_violations(self, b, kind, key, duid, renewal):
        """Checks of a scripted grant against the RFC (returned as a list of
        strings; the grant still happens unless "strict" is set)."""
        v = []
        resp = st.responsiveness(self.own, self.role)
        if resp == "unresponsive":
            v.append("%s is unresponsive (§8)" % st.name(self.own))
        elif resp == "renew" and not renewal:
            v.append("%s is only renew responsive (§8)" % st.name(self.own))
        if b is not None and b.status == wire.ACTIVE and b.duid and \
                b.duid.lower() != duid.lower():
            v.append("%s is leased to another client" % key)
        if kind == "pd":
            if self.delegable and not self.in_config("pd", key):
                v.append("%s is not in a configured delegable prefix" % key)
            elif self.delegable and not renewal and b is not None and \
                    b.status != wire.ACTIVE:
                owner = self.pool_owner(b)
                if owner is None:
                    v.append("%s is %s, not available" % (
                        key, wire.BINDING_STATUS[b.status]))
                elif owner != self.role:
                    if self.own != st.PARTNER_DOWN:
                        v.append("%s is in the partner's pool (§4.2.2)" % key)
                    elif self.now() < (self.partner_down_time or 0) + \
                            self.mclt:
                        v.append("partner's pool usable only MCLT after "
                                 "entering PARTNER-DOWN (§8.4.1)")
        else:
            if self.addr_pools and not self.in_config(kind, key):
                v.append("%s is not in a configured address pool" % key)
            low = int(ipaddress.IPv6Address(key)) & 1
            if not renewal and low != (1 if self.role == "primary" else 0):
                v.append("%s belongs to the partner's address pool "
                         "(§4.2.1.1)" % key)
        return v

    def cmd_grant(self, o):
        key, kind = bdb.normalize_resource(o["resource"], o.get("type"))
        kind = o.get("type", kind)
        if kind not in ("na", "ta", "pd") or (kind == "pd") != ("/" in key):
            raise ValueError("type %r does not match resource %s"
                             % (kind, key))
        duid = str(o["duid"]).replace(":", "").lower()
        bytes.fromhex(duid)
        valid = int(o.get("valid", 3600))
        preferred = int(o.get("preferred", valid * 5 // 8))
        now = self.now()
        b = self.bindings.get(key)
        renewal = (b is not None and b.status == wire.ACTIVE and
                   b.duid is not None and b.duid.lower() == duid)
        violations = self._lease_violations(b, kind, key, duid, renewal)
        if self.own != st.PARTNER_DOWN:
            # §4.4: lifetime <= MCLT beyond max(acked partner lifetime, now)
            acked = (b.acked_partner_lifetime if b else None) or 0
            limit = max(acked, now) + self.mclt - now
            if valid > limit:
                if o.get("enforce_mclt"):
                    valid = limit
                    preferred = min(preferred, valid)
                else:
                    violations.append("valid lifetime %d exceeds the MCLT "
                                      "bound %d (§4.4)" % (valid, limit))
        if violations and o.get("strict"):
            return {"ok": False, "error": "; ".join(violations),
                    "violations": violations}
        if b is None:
            b = Binding(resource=key, type=kind)
            self.bindings[key] = b
        if b.status != wire.ACTIVE or not renewal:
            b.start_time_of_state = now
        b.type = kind
        b.status = wire.ACTIVE
        b.duid = duid
        b.iaid = int(o.get("iaid", 0))
        b.preferred, b.valid = preferred, valid
        b.t1 = int(o.get("t1", preferred // 2))
        b.t2 = int(o.get("t2", preferred * 4 // 5))
        b.clt = now
        b.state_expiration_time = now + valid
        # §4.4.1: partner lifetime = T1 fraction of the actual lifetime
        # added to the desired lifetime.
        b.partner_lifetime = now + int(o.get("partner_lifetime",
                                             valid + valid // 2))
        b.source = "local"
        if "reconfigure_key" in o:
            # OPTION_F_RECONFIGURE_DATA (§5.5.13)
            b.reconfigure = [int(o.get("reconfigure_time", now)),
                             bytes.fromhex(o["reconfigure_key"]).hex()]
        if "relay_peer" in o:
            # OPTION_LQ_RELAY_DATA (RFC 5007 §4.1.2.4)
            b.relay = [str(ipaddress.IPv6Address(o["relay_peer"])),
                       bytes.fromhex(o.get("relay_message", "")).hex()]
        if "fqdn" in o:
            b.fqdn = (bytes([int(o.get("fqdn_flags", 0))]) +
                      encode_dns_name(o["fqdn"])).hex()
        self.mark_changed(b)
        self.emit({"event": "binding", "source": "local",
                   "binding": b.to_json()})
        return {"binding": b.to_json(), "violations": violations}

    def _set_status(self, o, status, client_contact):
        key, _ = bdb.normalize_resource(o["resource"])
        b = self.bindings.get(key)
        if b is None:
            raise KeyError("no binding for %s" % key)
        now = self.now()
        b.status = status
        b.start_time_of_state = now
        b.state_expiration_time = (now + int(o["expires_in"])
                                   if "expires_in" in o else None)
        if client_contact:
            b.clt = now
        b.source = "local"
        self.mark_changed(b)
        self.emit({"event": "binding", "source": "local",
                   "binding": b.to_json()})
        return {"binding": b.to_json()}

    def cmd_release(self, o):
        return self._set_status(o, wire.RELEASED, True)      # Figure 2 (3)

    def cmd_expire(self, o):
        return self._set_status(o, wire.EXPIRED, False)      # Figure 2 (8)

    def cmd_decline(self, o):
        return self._set_status(o, wire.ABANDONED, True)     # Figure 2 (9)

    def cmd_update(self, o):
        status = o["status"]
        if isinstance(status, str):
            status = wire.BINDING_STATUS_CODES[status.upper()]
        return self._set_status(o, status, bool(o.get("client_contact")))

    def cmd_goto(self, o):
        new = st.parse(o["state"])
        if new == st.PARTNER_DOWN and self.own not in \
                st.PARTNER_DOWN_ALLOWED_FROM and not o.get("force"):
            return {"ok": False, "error": "operator PARTNER-DOWN is defined "
                    "from NORMAL, COMMUNICATIONS-INTERRUPTED and "
                    "RESOLUTION-INTERRUPTED (use force)"}
        if new != st.PARTNER_DOWN and not o.get("force"):
            return {"ok": False, "error": "only PARTNER-DOWN is an operator "
                    "state (use force for others)"}
        self.set_state(new, reason="operator")
        self.evaluate()
        return {"own": st.name(self.own)}

    def cmd_updreq(self, o):
        if not (self.conn and self.conn.established):
            return {"ok": False, "error": "not connected"}
        self.send_updreq(wire.UPDREQ)
        return {"xid": self.our_updreq[0]}

    def cmd_updreqall(self, o):
        if not (self.conn and self.conn.established):
            return {"ok": False, "error": "not connected"}
        self.send_updreq(wire.UPDREQALL)
        return {"xid": self.our_updreq[0]}

    def cmd_poolreq(self, o):
        if not (self.conn and self.conn.established):
            return {"ok": False, "error": "not connected"}
        xid = self.next_xid()
        self.conn.send(Message(wire.POOLREQ, xid))
        return {"xid": xid}

    def cmd_rebalance(self, o):
        return {"moved": self.rebalance()}

    def cmd_disconnect(self, o):
        conn = self.conn
        if conn is None:
            return {"ok": False, "error": "not connected"}
        code = o.get("status", wire.SERVER_SHUTTING_DOWN)
        if isinstance(code, str):
            code = wire.STATUS_CODES[code]
        self._disconnect(conn, code, o.get("message", "operator disconnect"))
        self.drop(conn, "operator disconnect")
        return {}

    def cmd_net(self, o):
        """Simulate a network outage: {"enabled": false} drops the
        connection without DISCONNECT and stops connecting/listening."""
        self.net_enabled = bool(o.get("enabled", True))
        if not self.net_enabled:
            if self.conn:
                self.drop(self.conn, "network disabled")
            if self.server:
                self.server.close()
                self.server = None
        elif self.role == "secondary":
            asyncio.ensure_future(self._start_listening())
        return {"enabled": self.net_enabled}

    def cmd_mute(self, o):
        """Stop (or resume) sending anything, keeping the TCP connection:
        the partner's keepalive timer (§6.6) should expire."""
        self.muted = bool(o.get("enabled", True))
        return {"muted": self.muted}

    def cmd_send(self, o):
        """Send an arbitrary message: {"msg": "CONTACT", "xid": 5,
        "options_hex": "..."} (options already encoded)."""
        conn = self.conn
        if conn is None:
            return {"ok": False, "error": "not connected"}
        mt = o["msg"]
        mt = wire.MSG_CODES[mt.upper()] if isinstance(mt, str) else int(mt)
        xid = int(o.get("xid", self.next_xid()))
        try:
            opts = wire.decode_options(bytes.fromhex(o.get("options_hex",
                                                           "")))
        except wire.DecodeError as e:
            raise ValueError("options_hex: %s" % e)
        if "sent_time" in o:
            conn.send(Message(mt, xid, int(o["sent_time"]), opts),
                      keep_time=True)
        else:
            conn.send(Message(mt, xid, options=opts))
        return {"xid": xid}

    def cmd_send_raw(self, o):
        """Write raw octets; "framed": false (default) prepends the 2-octet
        message-size."""
        conn = self.conn
        if conn is None:
            return {"ok": False, "error": "not connected"}
        data = bytes.fromhex(o["hex"])
        if not o.get("framed"):
            data = wire.frame(data)
        self.emit({"event": "tx_raw", "hex": data.hex()})
        conn.send_bytes(data)
        return {"octets": len(data)}

    def cmd_quit(self, o):
        if self.conn:
            self._disconnect(self.conn, wire.SERVER_SHUTTING_DOWN,
                             "test peer shutting down")
            self.drop(self.conn, "quit")
        self.persist()
        asyncio.get_running_loop().call_later(0.05, self.quit, 0)
        return {}


def _is_network(text):
    try:
        ipaddress.IPv6Network(text, strict=True)
        return True
    except ValueError:
        return False


def encode_dns_name(name):
    """RFC 1035 §3.1 wire format (uncompressed)."""
    out = b""
    for label in str(name).rstrip(".").split("."):
        if not label:
            continue
        raw = label.encode("ascii")
        if len(raw) > 63:
            raise ValueError("DNS label too long")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"

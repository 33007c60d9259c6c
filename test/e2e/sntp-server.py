#!/usr/bin/env python3
"""A minimal SNTP server for the appliance lab (RFC 4330 §5, RFC 5905 §7.3),
written from the RFC's packet layout, not from twin6's code: it answers every
client-mode request with the lab host's clock at stratum 2. It reads the
host's clock and never sets it. Runs in a lab namespace only.

usage: sntp-server.py ADDRESS [PORT]
"""
import socket
import struct
import sys
import time

NTP_UNIX_OFFSET = 2208988800  # 1900-01-01 to 1970-01-01


def ntp_timestamp(t):
    sec = int(t) + NTP_UNIX_OFFSET
    frac = int((t - int(t)) * (1 << 32)) & 0xFFFFFFFF
    return struct.pack("!II", sec & 0xFFFFFFFF, frac)


def main():
    address = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 123
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((address, port))
    print(f"sntp-server: serving on [{address}]:{port}", flush=True)
    while True:
        data, peer = s.recvfrom(1024)
        received = time.time()
        if len(data) < 48:
            continue
        li_vn_mode = data[0]
        version = (li_vn_mode >> 3) & 7
        mode = li_vn_mode & 7
        if mode != 3:
            continue
        # LI 0, the client's version, mode 4 (server); stratum 2; poll as asked; precision 2^-20.
        header = struct.pack("!BBbb", (0 << 6) | (version << 3) | 4, 2, data[2], -20)
        root = struct.pack("!II", 0, 0)  # root delay, root dispersion
        ref_id = b"LAB\0"
        reply = header + root + ref_id + ntp_timestamp(received) + data[40:48] + ntp_timestamp(received) + ntp_timestamp(time.time())
        s.sendto(reply, peer)
        print(f"sntp-server: answered {peer[0]}", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Recording upstream for the rfc5452 scenario of run.sh: a UDP DNS server on 127.0.0.1 that
answers every query (A: 192.0.2.1, TTL 60; anything else: NOERROR without records) and appends
"<source port> <query ID>" of each query to a log; and the summary of such a log (distinct
source ports and IDs, with what uniform random choice would give: RFC 5452 §§ 4.5, 9.2).

  recorder.py serve --port P --log FILE [--max-secs S]
  recorder.py summary --log FILE [--limit N] [--port-range "LO HI"]
"""

import argparse
import math
import signal
import socket
import struct
import sys
import time

ANSWER_IP = bytes([192, 0, 2, 1])  # TEST-NET-1 (RFC 5737)
ANSWER_TTL = 60
MAX_MESSAGE = 4096
POLL_SECS = 0.5


def question_end(msg):
    """Offset just past the first question (RFC 1035 §4.1.2), or None when malformed."""
    i = 12
    while i < len(msg):
        n = msg[i]
        if n == 0:
            return i + 5 if i + 5 <= len(msg) else None
        if n & 0xC0:
            return None  # no compression in a question we answer
        i += 1 + n
    return None


def reply(msg):
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    end = question_end(msg) if qd == 1 else None
    if end is None:  # FORMERR, header only
        return struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x7900) | 1, 0, 0, 0, 0)
    qtype = struct.unpack("!H", msg[end - 4:end - 2])[0]
    ans = b""
    if qtype == 1:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, ANSWER_TTL, 4) + ANSWER_IP
    # QR, RD copied, RA; one question, answer count
    hdr = struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x7900) | 0x0080, 1, 1 if ans else 0, 0, 0)
    return hdr + msg[12:end] + ans


def serve(a):
    # SIGTERM (run.sh's stop) ends the loop normally, so the log is flushed and closed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", a.port))
    s.settimeout(POLL_SECS)
    deadline = time.monotonic() + a.max_secs
    with open(a.log, "a", encoding="ascii", buffering=1) as log:
        while time.monotonic() < deadline:
            try:
                msg, peer = s.recvfrom(MAX_MESSAGE)
            except socket.timeout:
                continue
            r = reply(msg)
            if len(msg) >= 2:
                log.write(f"{peer[1]} {struct.unpack('!H', msg[:2])[0]}\n")
            if r is not None:
                s.sendto(r, peer)


def expected_distinct(draws, size):
    """Expected number of distinct values in `draws` uniform draws from `size` values."""
    return size * (1 - math.exp(-draws / size)) if size > 0 else 0


def summary(a):
    ports, ids = [], []
    with open(a.log, encoding="ascii") as f:
        for line in f:
            p = line.split()
            if len(p) == 2:
                ports.append(int(p[0]))
                ids.append(int(p[1]))
    if a.limit:
        ports, ids = ports[: a.limit], ids[: a.limit]
    n = len(ports)
    if n == 0:
        sys.exit("recorder.py: no queries in " + a.log)
    lo, hi = (int(x) for x in a.port_range.split())
    same_port_in_a_row = sum(1 for i in range(1, n) if ports[i] == ports[i - 1])
    out = {
        "upstream_queries": n,
        "distinct_src_ports": len(set(ports)),
        "distinct_ids": len(set(ids)),
        "expected_distinct_ports_uniform_ephemeral": round(expected_distinct(n, hi - lo + 1)),
        "expected_distinct_ids_uniform": round(expected_distinct(n, 65536)),
        "port_min": min(ports),
        "port_max": max(ports),
        "same_port_as_previous": same_port_in_a_row,
        "same_id_as_previous": sum(1 for i in range(1, n) if ids[i] == ids[i - 1]),
    }
    for k, v in out.items():
        print(k, v)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--max-secs", type=float, default=300)
    m = sub.add_parser("summary")
    m.add_argument("--log", required=True)
    m.add_argument("--limit", type=int, default=0)
    m.add_argument("--port-range", default="32768 60999", help="the kernel's ephemeral range, LO HI")
    a = p.parse_args()
    serve(a) if a.cmd == "serve" else summary(a)


if __name__ == "__main__":
    main()

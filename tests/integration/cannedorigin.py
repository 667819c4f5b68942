# SPDX-License-Identifier: MIT
"""A plain-HTTP/1.1 origin on loopback that answers every request with the same response
head, given as raw bytes: for answers the recording origin (httporigin.py) never sends, such
as a Content-Type holding a TAB or bytes that are not ASCII.

Requests are read up to the end of their head (bodies are not expected: GET only); each is
answered with `status_line`, the raw `fields` (CRLF-terminated lines), a Content-Length and
`body`, and the connection is kept alive until the peer closes it. `count` is the number of
requests answered."""

import socket
import threading


class CannedOrigin:
    def __init__(self, fields, body=b"canned\n", host="127.0.0.1",
                 status_line=b"HTTP/1.1 200 OK"):
        self.response = (status_line + b"\r\n" + b"".join(f + b"\r\n" for f in fields)
                         + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(64)
        self.host = host
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._socks = []
        self.count = 0
        self._thread = threading.Thread(target=self._accept_loop, name="canned-origin",
                                        daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        sock.settimeout(120)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                _, buf = buf.split(b"\r\n\r\n", 1)
                sock.sendall(self.response)
                with self._lock:
                    self.count += 1
        except OSError:
            pass
        finally:
            sock.close()

    def close(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=10)

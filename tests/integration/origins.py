# SPDX-License-Identifier: MIT
"""The real servers behind the proxy, all on 127.0.0.1 with kernel-chosen ports.

- HTTPS: a TLS server with the test CA's certificate. `GET /bulk/N` answers N random bytes with
  their SHA-256 in the `X-Body-SHA256` header; any other GET answers one line naming the SNI
  name, the Host header and the path, so a test sees which name the client reached. HEAD
  answers the same head without the body.
- echo: plain TCP; echoes every byte until the client half-closes, then sends
  `echo_trailer(n)` and closes. A proxy that loses the half-close never gets the trailer.
- sink: reads until EOF, then answers "<byte count> <sha256 hex>\\n" and closes.
- source: reads one line "<n>\\n", sends n random bytes followed by the 32-byte SHA-256 of
  those bytes, and closes.
- early-eof: the origin half-closes first: sends EARLY_EOF_GREETING and shuts down its sending
  side, then reads until the client's EOF and records "<count> <sha256 hex>" under the
  client's first line in `early_eof_received`.

They run on an asyncio loop in one background thread of the test process. Every accepted
connection's local address is recorded in `accepted` (a list of (origin, local ip)).

`python3 origins.py echo --host H [--port P] --conn-log FILE` runs only the echo origin, as a
process (inside a test network namespace), prints `origins: echo on H:PORT`, and appends the
local address of every connection it accepts to FILE.
"""

import argparse
import asyncio
import hashlib
import os
import signal
import ssl
import sys
import threading

CHUNK = 1 << 20


def echo_trailer(nbytes):
    """What the echo origin sends after the client's EOF, having echoed `nbytes`."""
    return f"\nECHO-EOF after {nbytes} bytes\n".encode()


EARLY_EOF_GREETING = b"early-eof origin: no more bytes from me\n"


def https_greeting(sni, host, path):
    """The body the HTTPS origin answers to `GET path`."""
    return f"sluice-test-origin sni={sni} host={host} path={path}\n"


class Origins:
    """All origins (only echo when `pki` is None), listening on `host`."""

    def __init__(self, pki, host="127.0.0.1", echo_port=0, conn_log=None):
        self.host = host
        self._pki = pki
        self._echo_port_wanted = echo_port
        self._conn_log = conn_log
        self.accepted = []
        self.early_eof_received = {}
        self.https_port = self.sink_port = self.source_port = self.early_eof_port = None
        self._loop = asyncio.new_event_loop()
        self._servers = []
        self._ready = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="origins", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("test origins did not start")
        if self._error:
            raise self._error

    @property
    def ports(self):
        return [p for p in (self.https_port, self.echo_port, self.sink_port, self.source_port,
                            self.early_eof_port) if p]

    def _tls_context(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self._pki.cert, self._pki.key)

        def remember_sni(sslobj, server_name, _ctx):
            sslobj.sluice_sni = server_name

        ctx.sni_callback = remember_sni
        return ctx

    def _run(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except Exception as exc:  # reported to the constructor
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _listen(self, name, handler, port=0, **kw):
        async def accepted(reader, writer):
            local = writer.get_extra_info("sockname")[0]
            self.accepted.append((name, local))
            if self._conn_log:
                with open(self._conn_log, "a") as log:
                    log.write(f"{name} {local}\n")
            await handler(reader, writer)

        server = await asyncio.start_server(accepted, self.host, port, backlog=1024, **kw)
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def _start(self):
        self.echo_port = await self._listen("echo", self._echo, self._echo_port_wanted)
        if self._pki is None:
            return
        self.https_port = await self._listen("https", self._https, ssl=self._tls_context(),
                                             ssl_handshake_timeout=30)
        self.sink_port = await self._listen("sink", self._sink)
        self.source_port = await self._listen("source", self._source)
        self.early_eof_port = await self._listen("early-eof", self._early_eof)

    async def _https(self, reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            sslobj = writer.get_extra_info("ssl_object")
            sni = getattr(sslobj, "sluice_sni", None) or "-"
            extra = b""
            if method not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", b"GET or HEAD only\n"
            elif path.startswith("/bulk/"):
                body = b"".join(os.urandom(min(CHUNK, n)) for n in
                                range(int(path[6:]), 0, -CHUNK))
                status = "200 OK"
                extra = f"X-Body-SHA256: {hashlib.sha256(body).hexdigest()}\r\n".encode()
            else:
                status = "200 OK"
                body = https_greeting(sni, headers.get("host", "-"), path).encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n".encode()
                         + extra + b"\r\n" + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ValueError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _echo(self, reader, writer):
        total = 0
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                total += len(data)
                writer.write(data)
                await writer.drain()
            writer.write(echo_trailer(total))
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _sink(self, reader, writer):
        digest = hashlib.sha256()
        total = 0
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                total += len(data)
                digest.update(data)
            writer.write(f"{total} {digest.hexdigest()}\n".encode())
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _source(self, reader, writer):
        try:
            remaining = int((await reader.readline()).strip())
            digest = hashlib.sha256()
            while remaining > 0:
                data = os.urandom(min(CHUNK, remaining))
                remaining -= len(data)
                digest.update(data)
                writer.write(data)
                await writer.drain()
            writer.write(digest.digest())
            await writer.drain()
        except (OSError, ValueError):
            pass
        finally:
            writer.close()

    async def _early_eof(self, reader, writer):
        try:
            writer.write(EARLY_EOF_GREETING)
            await writer.drain()
            writer.write_eof()
            key = (await reader.readline()).strip().decode("ascii", "replace")
            digest = hashlib.sha256()
            total = 0
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                total += len(data)
                digest.update(data)
            self.early_eof_received[key] = f"{total} {digest.hexdigest()}"
        except OSError:
            pass
        finally:
            writer.close()

    def close(self):
        async def shutdown():
            for server in self._servers:
                server.close()
            for server in self._servers:
                await server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def main(argv=None):
    parser = argparse.ArgumentParser(description="run the echo origin as a process")
    parser.add_argument("kind", choices=["echo"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--conn-log", required=True)
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    servers = Origins(None, host=args.host, echo_port=args.port, conn_log=args.conn_log)
    print(f"origins: echo on {args.host}:{servers.echo_port}", flush=True)
    while not done.wait(0.2):
        pass
    servers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

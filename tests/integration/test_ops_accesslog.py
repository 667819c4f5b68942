# SPDX-License-Identifier: MIT
"""The access log under hostile input and a hostile destination (issue #10, section 4).

Every transaction gets its record, whatever its fields hold: a field too long once escaped is
cut at its limit (the URL at 1024 bytes, every other field at 256) and ends with the marker
`...[truncated]`; bytes that could add a field or a line are escaped (%XX in Squid's format,
JSON escapes in the JSON format), so an origin's `Content-Type: text/html<TAB>FAKE` stays one
field. Writing never stalls the proxy: a FIFO nobody reads fills up while requests go on
being answered, and the lines arrive once a reader comes (or their loss is reported with a
count); a log on a full device is reported once, with errno, and the proxy keeps serving."""

import fcntl
import json
import os
import re
import select
import signal
import termios
import time

import pytest

from cannedorigin import CannedOrigin
from proxyclient import connect, echo_through
from rawhttp import Client, auth_field, http_line_re, request

CUT = "...[truncated]"
URL_MAX = 1024
FIELD_MAX = 256
LINE_MAX = 4096  # PIPE_BUF: one line is one atomic write to a pipe
# What sluice prints when log lines were lost: once writing works again, or at exit.
LOST_RE = re.compile(r"^sluice: access log: (?:writing again, )?(\d+) lines? (?:was|were) lost$")
WRITE_ERROR_RE = re.compile(r"^sluice: access log: write: (.+)$")


def lost_lines(proxy):
    """How many access-log lines sluice said it lost (0 when it said nothing)."""
    return sum(int(m.group(1)) for m in map(LOST_RE.match, proxy.stderr().splitlines()) if m)


def one_get(proxy, url, credentials):
    with Client(proxy.port) as client:
        client.send(request("GET", url, auth=auth_field(credentials.user, credentials.password)))
        return client.response()


@pytest.fixture
def canned_origin(isolated_network):
    """Factory for CannedOrigin servers (see cannedorigin.py), closed at teardown."""
    made = []

    def factory(fields, **kw):
        origin = CannedOrigin(fields, **kw)
        made.append(origin)
        return origin

    yield factory
    for origin in made:
        origin.close()


# -- (a) no record is dropped for length ---------------------------------------------------------

def test_a_url_of_990_quotes_is_logged_as_json_cut_with_the_marker(make_proxy, http_origin,
                                                                   credentials):
    # Each '"' is two bytes once escaped for JSON: the URL alone would be ~2 KB.
    proxy = make_proxy(extra=["access_log_format json", f"http_ports {http_origin.port}"])
    base = f"http://api.anthropic.com:{http_origin.port}/"

    response = one_get(proxy, base + '"' * 990, credentials)

    (match,) = proxy.wait_log(r"^\{")
    line = match.string
    entry = json.loads(line)
    assert entry["status"] == response.status
    assert entry["method"] == "GET"
    url = entry["url"]
    assert url.startswith(base) and url.endswith(CUT), url
    assert set(url[len(base):-len(CUT)]) == {'"'}, url
    # Cut at the documented limit, counted in escaped bytes (marker included) ...
    escaped = json.dumps(url, ensure_ascii=True)[1:-1]
    assert URL_MAX - 2 < len(escaped) <= URL_MAX, len(escaped)
    # ... and the record is one line that fits one atomic write.
    assert len(line.encode()) + 1 <= LINE_MAX


def test_a_url_of_990_quotes_is_logged_whole_in_squid_format(make_proxy, http_origin,
                                                            credentials):
    # Squid's format leaves '"' as it is: the same URL (about 1020 bytes) fits the 1024-byte
    # limit of the URL field and is not cut.
    proxy = make_proxy(extra=[f"http_ports {http_origin.port}"])
    url = f"http://api.anthropic.com:{http_origin.port}/" + '"' * 990

    response = one_get(proxy, url, credentials)

    (match,) = proxy.wait_log(r"\S")
    fields = match.string.split()
    assert len(url) <= 1024 and fields[6] == url, fields[6]
    assert fields[3].endswith(f"/{response.status:03d}")
    assert len(fields) == (10 if response.status == 200 else 11), fields


# -- (b) origin-supplied text cannot add a field or a line ---------------------------------------

# (raw Content-Type value, the Squid field, the JSON value)
HOSTILE_TYPES = [
    (b"text/html\tFAKE", "text/html%09FAKE", "text/html\tFAKE"),
    (b"text/html\tHIER_DIRECT/10.0.0.1\tx", "text/html%09HIER_DIRECT/10.0.0.1%09x",
     "text/html\tHIER_DIRECT/10.0.0.1\tx"),
    (b"text/100%", "text/100%25", "text/100%"),
    (b'text/"x"\\', 'text/"x"\\', 'text/"x"\\'),
    (b"text/h\xc3\xa9ml", "text/h%C3%A9ml", "text/h\u00e9ml"),
    (b"text/\xff\xfe", "text/%FF%FE", "text/\ufffd\ufffd"),
    # sluice keeps 100 bytes of the type; escaped, that is over the 256-byte limit.
    (b"t" + b"\xff" * 99, "t" + "%FF" * 80 + CUT, "t" + "\ufffd" * 40 + CUT),
]


@pytest.mark.parametrize("raw, squid, value", HOSTILE_TYPES,
                         ids=["tab", "tab-fields", "percent", "quotes", "utf8", "not-utf8",
                              "long"])
@pytest.mark.parametrize("log_format", ["squid", "json"])
def test_an_origins_content_type_stays_one_escaped_field(make_proxy, canned_origin, credentials,
                                                        log_format, raw, squid, value):
    origin = canned_origin([b"Content-Type: " + raw])
    proxy = make_proxy(extra=[f"access_log_format {log_format}", f"http_ports {origin.port}"])
    url = f"http://api.anthropic.com:{origin.port}/page"

    response = one_get(proxy, url, credentials)

    assert response.status == 200
    # The client got the type as the origin sent it: sluice had it to log.
    assert response.headers["content-type"].encode("latin-1") == raw
    (match,) = proxy.wait_log(r"\S")
    line = match.string
    assert line.isascii() and line.isprintable(), repr(line)
    if log_format == "squid":
        fields = line.split()  # any whitespace: a TAB would make one more field
        assert len(fields) == 10, fields
        assert fields[9] == squid
        assert len(squid) <= FIELD_MAX
        assert http_line_re(200, "GET", url, mime=squid).match(line), line
    else:
        entry = json.loads(line)
        assert entry["mime"] == value
        assert len(json.dumps(value, ensure_ascii=True)) - 2 <= FIELD_MAX
        assert (entry["url"], entry["status"]) == (url, 200)


# -- (c) a destination that does not read does not stall the proxy -------------------------------

def read_lines(fd, count, timeout):
    """Read from the non-blocking `fd` until `count` lines came, EOF, or `timeout` seconds;
    returns the complete lines."""
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\n") < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    return data.decode("ascii").splitlines(keepends=True)


def test_a_fifo_nobody_reads_does_not_stall_the_proxy(make_proxy, http_origin, origins,
                                                     credentials, tmp_path):
    fifo = str(tmp_path / "access.fifo")
    os.mkfifo(fifo)
    # Open and never read, for now: sluice's open succeeds, its writes soon block.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)
        # The log is named in `extra`, so that the fixture never opens the FIFO itself.
        proxy = make_proxy(access_log=None, extra=[
            f"access_log {fifo}", "access_log_format json", f"http_ports {http_origin.port}"])
        base = f"http://api.anthropic.com:{http_origin.port}"
        auth = auth_field(credentials.user, credentials.password)
        pad = "p" * 600  # lines of ~0.8 KB: the pipe holds a handful

        # 200 requests and 20 tunnels, all answered while the FIFO is not read.
        with Client(proxy.port, timeout=30) as client:
            for i in range(200):
                client.send(request("GET", f"{base}/{i}/{pad}", auth=auth))
                assert client.response().status == 200, i
        target = f"api.anthropic.com:{origins.echo_port}"
        for i in range(20):
            reply = connect(proxy.port, target, credentials.user, credentials.password,
                            timeout=30)
            assert reply.status == 200, i
            assert echo_through(reply.sock, b"tunnel %d" % i, timeout=30).startswith(b"tunnel")
            reply.close()
        waiting = bytearray(4)
        fcntl.ioctl(reader, termios.FIONREAD, waiting)
        assert int.from_bytes(waiting, "little") > 0, "sluice wrote nothing into the FIFO"
        assert proxy.running

        # A reader comes: every line arrives whole, or its loss is reported with a count.
        lines = read_lines(reader, 220, timeout=60)
        entries = [json.loads(line) for line in lines if line.endswith("\n")]
        assert len(entries) == len(lines), "a partial line"
        if len(entries) < 220:
            proxy.wait_stderr(LOST_RE, timeout=20)
        assert len(entries) + lost_lines(proxy) == 220, proxy.stderr()
        gets = {e["url"] for e in entries if e["method"] == "GET"}
        assert gets <= {f"{base}/{i}/{pad}" for i in range(200)}
        assert len(gets) == sum(1 for e in entries if e["method"] == "GET")
    finally:
        os.close(reader)


def test_shutdown_with_a_fifo_nobody_reads_ends_and_reports_the_lines_it_lost(
        make_proxy, http_origin, credentials, tmp_path):
    fifo = str(tmp_path / "access.fifo")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)
        proxy = make_proxy(access_log=None, extra=[f"access_log {fifo}",
                                                   f"http_ports {http_origin.port}"])
        base = f"http://api.anthropic.com:{http_origin.port}"
        auth = auth_field(credentials.user, credentials.password)
        with Client(proxy.port, timeout=30) as client:
            for i in range(50):
                client.send(request("GET", f"{base}/{i}/{'p' * 600}", auth=auth))
                assert client.response().status == 200, i

        # sluice waits a bounded time for its log, gives up, says how much it lost, exits 0.
        proxy.send_signal(signal.SIGTERM)
        assert proxy.wait_exit(30) == 0, proxy.stderr()
        proxy.wait_stderr(r"^sluice: access log: gave up waiting for the log after \d+ ms$",
                          timeout=1)
        # What got through is whole; with what was reported lost, that is every request.
        lines = read_lines(reader, 50, timeout=10)
        assert all(line.endswith("\n") for line in lines), lines
        assert all(" GET " + base in line for line in lines), lines
        assert len(lines) + lost_lines(proxy) == 50, proxy.stderr()
        assert lost_lines(proxy) > 0, proxy.stderr()
    finally:
        os.close(reader)


# -- (d) a write error is reported once, and the proxy keeps serving -----------------------------

def test_a_log_on_a_full_device_is_reported_once_and_the_proxy_keeps_serving(make_proxy,
                                                                             origins,
                                                                             credentials):
    # Named in `extra`: the fixture reads its access_log, and /dev/full reads as endless zeros.
    proxy = make_proxy(access_log=None, extra=["access_log /dev/full"])
    target = f"api.anthropic.com:{origins.echo_port}"
    agent = (credentials.user, credentials.password)

    def tunnel(i):
        reply = connect(proxy.port, target, *agent, timeout=30)
        assert reply.status == 200, i
        assert echo_through(reply.sock, b"payload %d" % i, timeout=30).startswith(b"payload")
        reply.close()

    for i in range(10):
        tunnel(i)
    (error,) = proxy.wait_stderr(WRITE_ERROR_RE)
    assert error.group(1) == os.strerror(28), error.string  # ENOSPC

    # Still serving, and the error is not repeated for every line.
    for i in range(10, 20):
        tunnel(i)
    assert connect(proxy.port, "www.google.com:443", *agent, timeout=30).status == 403
    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait_exit(30) == 0, proxy.stderr()
    errors = [line for line in proxy.stderr().splitlines() if WRITE_ERROR_RE.match(line)]
    assert len(errors) == 1, proxy.stderr()
    # Every one of the 21 lines is accounted for when sluice exits.
    assert lost_lines(proxy) == 21, proxy.stderr()

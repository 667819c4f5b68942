# SPDX-License-Identifier: MIT
"""Live reload of `sluice serve`: on SIGHUP and on its own when the configuration file, the
users file, an allow_file or a hosts_file changes on disk (rewritten in place or replaced by
rename). New connections and new requests follow the new configuration at once; open tunnels
carry on under the one they started with, even when their user, their destination's pattern
or the listener that accepted them is gone. An invalid file changes nothing: sluice names the
file and line on stderr and keeps enforcing the old policy."""

import asyncio
import os
import random
import secrets
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import assert_refusal
from opsutil import (KEPT_RE, connection_refused, edit_config, free_port,
                     htpasswd_line, reload_lines, reload_summary, replace_file, serving,
                     wait_reload, write_in_place)
from origins import echo_trailer
from pki import ORIGIN_NAMES
from proxyclient import connect, connect_head, echo_through
from rawhttp import Client, auth_field, request


def echo_ok(proxy_port, target, user, password, payload=b"through the new policy"):
    """CONNECT and one echo exchange; returns the reply (asserting a working tunnel)."""
    reply = connect(proxy_port, target, user, password)
    assert reply.status == 200, (
        f"CONNECT {target} as {user} on port {proxy_port}: {reply.status} "
        f"{reply.error_code} {reply.body[:200]!r}")
    assert echo_through(reply.sock, payload) == payload + echo_trailer(len(payload))
    reply.close()
    return reply


def distinct_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


# -- reload under load -------------------------------------------------------------------------

TUNNELS = 1000
RELOADS = 50
GROUPS = ("stays", "user removed", "pattern removed", "listener removed")
REVOKED = ("user removed", "pattern removed")  # what the first reload takes away


class Tunnel:
    """One open tunnel to the echo origin that exchanges a random-sized chunk at every tick
    and checks the echo at once; `done` is the last tick it completed."""

    def __init__(self, index, reader, writer):
        self.index = index
        self.group = GROUPS[index % len(GROUPS)]
        self.reader = reader
        self.writer = writer
        self.rng = random.Random(index)
        self.nbytes = 0
        self.done = 0
        self.error = None
        self.trailer_ok = None

    def describe(self):
        return f"tunnel {self.index} ({self.group}): {self.error}"


class Ticker:
    """Ticks the tunnels: every tick every tunnel makes one more round trip."""

    def __init__(self):
        self.tick = 0
        self.stopping = False
        self._next = asyncio.get_running_loop().create_future()

    def advance(self, stop=False):
        self.tick += 1
        self.stopping = stop
        fired, self._next = self._next, asyncio.get_running_loop().create_future()
        fired.set_result(self.tick)
        return self.tick

    async def wait(self, seen):
        while self.tick <= seen:
            await self._next
        return self.tick


async def stream(tunnel, ticker):
    try:
        while True:
            tick = await ticker.wait(tunnel.done)
            if ticker.stopping:
                break
            chunk = tunnel.rng.randbytes(tunnel.rng.randint(1, 4096))
            tunnel.writer.write(chunk)
            await tunnel.writer.drain()
            echoed = await asyncio.wait_for(tunnel.reader.readexactly(len(chunk)), 60)
            if echoed != chunk:
                tunnel.error = f"echo differs at tick {tick} (after {tunnel.nbytes} bytes)"
                return
            tunnel.nbytes += len(chunk)
            tunnel.done = tick
        tunnel.writer.write_eof()
        rest = await asyncio.wait_for(tunnel.reader.read(), 60)
        tunnel.trailer_ok = rest == echo_trailer(tunnel.nbytes)
        if not tunnel.trailer_ok:
            tunnel.error = f"after {tunnel.nbytes} bytes the origin's end was {rest[:100]!r}"
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
        tunnel.error = f"{type(exc).__name__}: {exc} (after {tunnel.nbytes} bytes)"
    finally:
        tunnel.writer.close()


async def all_revoked(tunnels, timeout=60):
    """Wait until the proxy has closed every one of `tunnels` (the stream sees its end)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        open_ = [t for t in tunnels if not t.error]
        if not open_:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(open_)} tunnel(s) the reload revoked stayed open: "
                                 + ", ".join(t.describe() for t in open_[:5]))
        await asyncio.sleep(0.02)


async def all_ticked(tunnels, tick, when, timeout=60):
    """Wait until every tunnel completed `tick`; fail at once when one broke."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        broken = [t for t in tunnels if t.error]
        if broken:
            shown = "\n".join(t.describe() for t in broken[:10])
            raise AssertionError(f"{len(broken)} tunnel(s) broke {when}:\n{shown}")
        behind = [t for t in tunnels if t.done < tick]
        if not behind:
            return
        if asyncio.get_running_loop().time() > deadline:
            groups = {g: sum(1 for t in behind if t.group == g) for g in GROUPS}
            raise AssertionError(f"{len(behind)} tunnel(s) stopped streaming {when} "
                                 f"(by group: {groups})")
        await asyncio.sleep(0.02)


@pytest.mark.slow
def test_reload_under_load_revokes_exactly_what_it_removes_and_new_requests_follow_it(
        make_proxy, origins, tmp_path, users_file, credentials):
    # 1000 tunnels stream through the echo origin while 50 reloads each swap in a new
    # allow_file pattern, a new user (and remove the previous ones) and remove or re-add a
    # second listener. A quarter of the tunnels belong to a user the first reload removes and
    # a quarter go to a name whose pattern it removes: those are revoked by that reload, and
    # no other. A quarter came in on the listener it closes: they keep streaming, with the
    # last quarter. After every reload, new requests get the new policy.
    echo = origins.echo_port
    port_a, port_b = distinct_ports(2)
    listen_a, listen_b = f"127.0.0.1:{port_a}", f"127.0.0.1:{port_b}"
    names = ["gone.reload.test"] + [f"r{i}.reload.test" for i in range(RELOADS)]
    files = tmp_path / "reload-files"
    files.mkdir()

    with open(users_file) as f:
        agent_line = f.read().strip()
    leaver = ("leaver", secrets.token_urlsafe(12))
    rotating = [(f"u{i}", secrets.token_urlsafe(12)) for i in range(RELOADS)]
    with ThreadPoolExecutor(8) as pool:
        lines = list(pool.map(lambda up: htpasswd_line(*up), [leaver, *rotating]))
    leaver_line, user_lines = lines[0], lines[1:]

    users0 = files / "users-initial"
    users0.write_text(f"{agent_line}\n{leaver_line}\n")
    patterns0 = files / "patterns-initial"
    patterns0.write_text("# removed by the first reload\ngone.reload.test\n")
    proxy = make_proxy(listen=(listen_a, listen_b), users=str(users0),
                       allow=("api.anthropic.com",), extra=[f"allow_file {patterns0}"],
                       hosts={name: "127.0.0.1" for name in (*ORIGIN_NAMES, *names)})
    proxy.secrets += [leaver[1], *(pw for _, pw in rotating)]
    agent = (credentials.user, credentials.password)

    def route(index):
        group = GROUPS[index % len(GROUPS)]
        user = leaver if group == "user removed" else agent
        host = "gone.reload.test" if group == "pattern removed" else "api.anthropic.com"
        port = port_b if group == "listener removed" else port_a
        return port, connect_head(f"{host}:{echo}", *user)

    def apply_reload(i):
        users = files / f"users-{i}"
        users.write_text(f"{agent_line}\n{user_lines[i]}\n")
        patterns = files / f"patterns-{i}"
        patterns.write_text(f"r{i}.reload.test\n")
        # One rename of the configuration brings in all three changes at once.
        edit_config(proxy.config_path, {
            "listen": [listen_a, listen_b] if i % 2 else [listen_a],
            "users": [str(users)],
            "allow_file": [str(patterns)],
        })
        return wait_reload(proxy, before=i)

    def check_policy(i):
        """New requests after reload i: its pattern and user work, the previous ones do not,
        listener B accepts exactly when the configuration has it."""
        user, password = rotating[i]
        echo_ok(port_a, f"r{i}.reload.test:{echo}", user, password, f"reload {i}".encode())
        old_name = "gone.reload.test" if i == 0 else f"r{i - 1}.reload.test"
        assert_refusal(connect(port_a, f"{old_name}:{echo}", *agent), 403, "domain-denied",
                       host=old_name)
        old_user = leaver if i == 0 else rotating[i - 1]
        assert_refusal(connect(port_a, f"api.anthropic.com:{echo}", *old_user), 407,
                       "auth-failed")
        if i % 2:
            echo_ok(port_b, f"api.anthropic.com:{echo}", *agent)
        else:
            assert connection_refused(port_b), f"listener {listen_b} still accepts after " \
                                               f"reload {i} removed it"

    async def open_tunnel(index, gate):
        port, head = route(index)
        async with gate:  # limits set-up in flight, not open tunnels
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        assert answer.startswith(b"HTTP/1.1 200"), (index, answer[:200])
        return Tunnel(index, reader, writer)

    async def run():
        gate = asyncio.Semaphore(100)
        tunnels = await asyncio.gather(*(open_tunnel(i, gate) for i in range(TUNNELS)))
        ticker = Ticker()
        streams = [asyncio.create_task(stream(t, ticker)) for t in tunnels]
        await all_ticked(tunnels, ticker.advance(), "before the first reload")
        for i in range(RELOADS):
            during = ticker.advance()  # traffic in flight while the reload happens
            summary = await asyncio.to_thread(apply_reload, i)
            assert summary == reload_summary(
                patterns=(1, 1), users=(1, 1), hashes=(1, 1),
                listeners=(1, 0) if i % 2 else (0, 1)), f"reload {i}: {summary}"
            after = ticker.advance()
            await asyncio.to_thread(check_policy, i)
            if i == 0:
                await all_revoked([t for t in tunnels if t.group in REVOKED])
            await all_ticked([t for t in tunnels if t.group not in REVOKED],
                             max(during, after), f"around reload {i}")
        ticker.advance(stop=True)
        await asyncio.wait_for(asyncio.gather(*streams), 120)
        return tunnels

    tunnels = asyncio.run(asyncio.wait_for(run(), 600))

    kept = [t for t in tunnels if t.group not in REVOKED]
    broken = [t for t in kept if t.error or not t.trailer_ok]
    assert not broken, f"{len(broken)} tunnel(s) dropped or corrupted:\n" + "\n".join(
        t.describe() for t in broken[:10])
    assert all(t.done == RELOADS * 2 + 1 for t in kept)
    assert len(reload_lines(proxy)) == RELOADS
    # The revoked tunnels are on record as such, under their user's name.
    proxy.wait_log(rf" TCP_TUNNEL_ABORTED/200 \d+ CONNECT api\.anthropic\.com:{echo} leaver "
                   r"HIER_DIRECT/127\.0\.0\.1 - revoked$", count=TUNNELS // len(GROUPS),
                   timeout=60)
    proxy.wait_log(rf" TCP_TUNNEL_ABORTED/200 \d+ CONNECT gone\.reload\.test:{echo} agent "
                   r"HIER_DIRECT/127\.0\.0\.1 - revoked$", count=TUNNELS // len(GROUPS),
                   timeout=60)
    proxy.wait_stderr(rf"^sluice: no longer listening on 127\.0\.0\.1:{port_b}$",
                      count=RELOADS // 2)
    proxy.wait_stderr(rf"^sluice: listening on 127\.0\.0\.1:{port_b}$", count=1 + RELOADS // 2)


# -- invalid files ------------------------------------------------------------------------------

def line_number(path, text):
    with open(path) as f:
        return [line.rstrip("\n") for line in f].index(text) + 1


def break_config(proxy, files):
    """An unknown directive in the configuration, next to a new `allow`; applied by SIGHUP
    (the file watch may see the write as well; any reload of it fails the same way)."""
    edit_config(proxy.config_path, {None: ["allow api.replicate.com", "allow_everything yes"]},
                writer=write_in_place)
    proxy.send_signal(signal.SIGHUP)
    return "SIGHUP", proxy.config_path, line_number(proxy.config_path, "allow_everything yes")


def break_allow_file(proxy, files):
    """A whole-TLD wildcard in an allow_file, next to a new pattern; replaced by rename."""
    replace_file(files["allow_file"], "generativelanguage.googleapis.com\napi.replicate.com\n"
                                      "*.com\n")
    return "files changed", files["allow_file"], 3


def break_users_file(proxy, files):
    """A plaintext password line in the users file, next to a new user; rewritten in place."""
    plain = secrets.token_urlsafe(12)
    proxy.secrets.append(plain)
    write_in_place(files["users"], f"{files['agent_line']}\n{files['newbie_line']}\n"
                                   f"plain:{plain}\n")
    return "files changed", files["users"], 3


def fix_config(proxy, files):
    edit_config(proxy.config_path, {"allow_everything": []})


def fix_allow_file(proxy, files):
    replace_file(files["allow_file"], "generativelanguage.googleapis.com\napi.replicate.com\n")


def fix_users_file(proxy, files):
    replace_file(files["users"], f"{files['agent_line']}\n{files['newbie_line']}\n")


@pytest.mark.parametrize("breaker, fixer", [
    (break_config, fix_config),
    (break_allow_file, fix_allow_file),
    (break_users_file, fix_users_file),
], ids=["config-by-SIGHUP", "allow_file-renamed", "users-in-place"])
def test_invalid_file_on_reload_keeps_the_old_policy_and_names_file_and_line(
        make_proxy, origins, tmp_path, users_file, credentials, breaker, fixer):
    echo = origins.echo_port
    files = {"allow_file": str(tmp_path / "allowed.txt"), "users": str(tmp_path / "users")}
    with open(users_file) as f:
        files["agent_line"] = f.read().strip()
    newbie_password = secrets.token_urlsafe(12)
    files["newbie_line"] = htpasswd_line("newbie", newbie_password)
    with open(files["users"], "w") as f:
        f.write(files["agent_line"] + "\n")
    with open(files["allow_file"], "w") as f:
        f.write("generativelanguage.googleapis.com\n")
    proxy = make_proxy(users=files["users"], allow=("api.anthropic.com",),
                       extra=[f"allow_file {files['allow_file']}"])
    proxy.secrets.append(newbie_password)
    agent = (credentials.user, credentials.password)
    serving(proxy)

    why, path, line = breaker(proxy, files)

    (failure,) = proxy.wait_stderr(
        rf"^sluice: reload \({why}\) failed: (?P<msg>.*)$")[:1]
    assert failure["msg"].startswith(f"{path}:{line}: "), failure.group(0)
    assert len(failure["msg"]) > len(f"{path}:{line}: "), "no message after FILE:LINE"
    proxy.wait_stderr(KEPT_RE)
    assert reload_lines(proxy) == []
    # The old policy, all of it, and nothing of the broken edit.
    echo_ok(proxy.port, f"api.anthropic.com:{echo}", *agent)
    echo_ok(proxy.port, f"generativelanguage.googleapis.com:{echo}", *agent)
    assert_refusal(connect(proxy.port, f"api.replicate.com:{echo}", *agent), 403,
                   "domain-denied", host="api.replicate.com")
    assert_refusal(connect(proxy.port, f"api.anthropic.com:{echo}", "newbie",
                           newbie_password), 407, "auth-failed")
    assert proxy.running

    # Once the file is valid again the proxy takes it (it did not stop watching).
    fixer(proxy, files)
    wait_reload(proxy, before=0)
    if breaker is break_users_file:
        echo_ok(proxy.port, f"api.anthropic.com:{echo}", "newbie", newbie_password)
    else:
        echo_ok(proxy.port, f"api.replicate.com:{echo}", *agent)


# -- what triggers a reload -----------------------------------------------------------------

@pytest.mark.parametrize("what, writer", [
    ("config", write_in_place), ("config", replace_file),
    ("allow_file", write_in_place), ("allow_file", replace_file),
    ("users", write_in_place), ("users", replace_file),
    ("hosts_file", replace_file),
], ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_a_changed_file_is_reloaded_without_a_signal(make_proxy, origins, dns, tmp_path,
                                                     users_file, credentials, what, writer):
    echo = origins.echo_port
    allow_file = tmp_path / "allowed.txt"
    allow_file.write_text("api.anthropic.com\n")
    users = tmp_path / "users"
    agent_line = open(users_file).read().strip()
    users.write_text(agent_line + "\n")
    late_hosts = tmp_path / "late-hosts"
    late_hosts.write_text("# nothing yet\n")
    proxy = make_proxy(users=str(users), allow=("late.reload.test",),
                       extra=[f"allow_file {allow_file}", f"hosts_file {late_hosts}"])
    agent = (credentials.user, credentials.password)
    newbie_password = secrets.token_urlsafe(12)
    proxy.secrets.append(newbie_password)
    late = f"late.reload.test:{echo}"

    # Before: each change's effect is absent.
    if what in ("config", "allow_file"):
        assert_refusal(connect(proxy.port, f"api.replicate.com:{echo}", *agent), 403,
                       "domain-denied")
    elif what == "users":
        assert_refusal(connect(proxy.port, f"api.anthropic.com:{echo}", "newbie",
                               newbie_password), 407, "auth-failed")
    else:
        assert connect(proxy.port, late, *agent).status == 502  # the fake DNS knows nothing

    if what == "config":
        edit_config(proxy.config_path, {"allow": ["late.reload.test api.replicate.com"]},
                    writer=writer)
        expected = reload_summary(patterns=(1, 0))
    elif what == "allow_file":
        writer(str(allow_file), "api.anthropic.com\n# added\napi.replicate.com\n")
        expected = reload_summary(patterns=(1, 0))
    elif what == "users":
        writer(str(users), f"{agent_line}\n{htpasswd_line('newbie', newbie_password)}\n")
        expected = reload_summary(users=(1, 0), hashes=(1, 0))
    else:
        writer(str(late_hosts), "127.0.0.1\tlate.reload.test\n")
        expected = reload_summary()

    assert wait_reload(proxy, before=0) == expected
    if what in ("config", "allow_file"):
        echo_ok(proxy.port, f"api.replicate.com:{echo}", *agent)
    elif what == "users":
        echo_ok(proxy.port, f"api.anthropic.com:{echo}", "newbie", newbie_password)
    else:
        echo_ok(proxy.port, late, *agent)
    echo_ok(proxy.port, f"api.anthropic.com:{echo}", *agent)


def test_sighup_reloads_a_change_the_file_watch_cannot_see(make_proxy, origins, tmp_path,
                                                           credentials):
    # The configuration is a symlink (as a Kubernetes ConfigMap mount is); the change is
    # made to the target in another directory, which sluice does not watch: SIGHUP alone
    # must apply it.
    echo = origins.echo_port
    proxy = make_proxy(start=False)
    real_dir = tmp_path / "elsewhere"
    real_dir.mkdir()
    real = real_dir / "sluice.conf"
    os.replace(proxy.config_path, real)
    os.symlink(real, proxy.config_path)
    proxy.start()
    agent = (credentials.user, credentials.password)
    assert_refusal(connect(proxy.port, f"www.google.com:{echo}", *agent), 403,
                   "domain-denied")

    edit_config(str(real), {None: ["allow www.google.com"]})
    proxy.send_signal(signal.SIGHUP)

    assert wait_reload(proxy, before=0) == reload_summary(patterns=(1, 0))
    echo_ok(proxy.port, f"www.google.com:{echo}", *agent)


def test_listen_lines_added_and_removed_by_reload_keep_existing_connections(
        make_proxy, origins, credentials):
    echo = origins.echo_port
    port_a, port_b, port_c = distinct_ports(3)
    proxy = make_proxy(listen=(f"127.0.0.1:{port_a}", f"127.0.0.1:{port_b}"))
    agent = (credentials.user, credentials.password)
    on_b = connect(port_b, f"api.anthropic.com:{echo}", *agent)
    assert on_b.status == 200
    assert connection_refused(port_c)

    edit_config(proxy.config_path, {"listen": [f"127.0.0.1:{port_a}", f"127.0.0.1:{port_c}"]})

    assert wait_reload(proxy, before=0) == reload_summary(listeners=(1, 1))
    proxy.wait_stderr(rf"^sluice: listening on 127\.0\.0\.1:{port_c}$")
    proxy.wait_stderr(rf"^sluice: no longer listening on 127\.0\.0\.1:{port_b}$")
    assert connection_refused(port_b)
    echo_ok(port_c, f"api.anthropic.com:{echo}", *agent)
    echo_ok(port_a, f"api.anthropic.com:{echo}", *agent)
    # The tunnel accepted on the removed listener still works to the end.
    payload = os.urandom(100_000)
    assert echo_through(on_b.sock, payload) == payload + echo_trailer(len(payload))
    on_b.close()


def test_a_keep_alive_connection_gets_the_new_policy_for_its_next_request(
        make_proxy, http_origin, credentials):
    proxy = make_proxy(allow=("api.anthropic.com", "api.replicate.com"),
                       extra=[f"http_ports {http_origin.port}"])
    auth = auth_field(credentials.user, credentials.password)
    url = f"http://api.replicate.com:{http_origin.port}"

    with Client(proxy.port) as client:
        client.send(request("GET", f"{url}/before", auth=auth))
        assert client.response().status == 200

        edit_config(proxy.config_path, {"allow": ["api.anthropic.com"]})
        assert wait_reload(proxy, before=0) == reload_summary(patterns=(0, 1))

        client.send(request("GET", f"{url}/after", auth=auth))
        assert_refusal(client.response(), 403, "domain-denied", host="api.replicate.com")

    assert [r.target for r in http_origin.requests] == ["/before"]


# ---- what else a reload changed is said too ----

def test_the_reload_summary_names_every_other_setting_it_changed(make_proxy, origins):
    proxy = make_proxy(extra=("header_timeout 10s",))

    edit_config(proxy.config_path, {"connect_ports": ["443 8443"],
                                    "allow_cidr": ["127.0.0.0/8 10.9.0.0/16"],
                                    "header_timeout": ["5s"], "http_ports": []})
    proxy.send_signal(signal.SIGHUP)
    wait_reload(proxy, before=0)

    also = [line for line in proxy.stderr().splitlines() if "reload: also changed" in line]
    assert also == ["sluice: reload: also changed connect_ports, allow_cidr, "
                    "header_timeout 10s -> 5s"], proxy.stderr()


def test_the_reload_summary_names_the_listener_side_settings_too(make_proxy, tmp_path,
                                                                  users_file):
    """Who may send PROXY headers, who may open the admin pages, how long a SIGTERM keeps
    accepting, which tunnels are checked for a server name: each changes what the proxy
    does, so each is named."""
    admins = tmp_path / "admins"
    shutil.copy(users_file, admins)
    proxy = make_proxy(listen=("127.0.0.1:0 proxy_protocol",),
                       extra=("admin_listen 127.0.0.1:0", f"admin_users {admins}",
                              "proxy_protocol_from 10.0.0.0/8"))

    # The admin users file alone: the same path, another password.
    admins.write_text("ops:$2y$05$abcdefghijklmnopqrstuu5s2v8VYxjzqWJ5hG0Xk4rO3f1nUjQeW\n")
    edit_config(proxy.config_path, {"proxy_protocol_from": ["10.0.0.0/8 192.168.0.0/16"],
                                    "shutdown_delay": ["3s"], "sni_ports": ["443 8443"],
                                    "allow_ech": ["yes"]})
    proxy.send_signal(signal.SIGHUP)
    wait_reload(proxy, before=0)

    also = [line for line in proxy.stderr().splitlines() if "reload: also changed" in line]
    assert also == ["sluice: reload: also changed shutdown_delay 0s -> 3s, "
                    "proxy_protocol_from, admin_users, sni_ports, allow_ech"], proxy.stderr()


def test_an_unchanged_reload_says_nothing_more(make_proxy):
    proxy = make_proxy()

    proxy.send_signal(signal.SIGHUP)
    wait_reload(proxy, before=0)

    assert "also changed" not in proxy.stderr()


def test_removing_dns_server_goes_back_to_the_systems_resolvers(make_proxy, origins, dns,
                                                                credentials):
    # The fake DNS knows the name; after the reload it must no longer be asked.
    name = "moved.reload.test"
    dns.set(name, ["127.0.0.1"])
    proxy = make_proxy(allow=(name,), hosts=None)
    agent = (credentials.user, credentials.password)
    echo_ok(proxy.port, f"{name}:{origins.echo_port}", *agent)
    asked = len(dns.queries())

    edit_config(proxy.config_path, {"dns_server": []})
    proxy.send_signal(signal.SIGHUP)
    wait_reload(proxy, before=0)
    reply = connect(proxy.port, f"{name}:{origins.echo_port}", *agent)

    assert "dns_server (now the system's resolvers)" in proxy.stderr()
    assert_refusal(reply, 502, "dns-failed", host=name)
    assert len(dns.queries()) == asked, "the removed dns_server was still asked"

# SPDX-License-Identifier: MIT
"""Fixtures for the sluice integration tests: the real binary, a test CA and TLS origins on
loopback, a fake DNS server, an htpasswd users file, and a factory for configured proxies.

Network rules the fixtures enforce: the session runs in a private network namespace with only
loopback (see netns.isolate_session); the proxy always gets `dns_server` pointing at the fake
DNS server and a hosts_file mapping the production names to 127.0.0.1; tests that name a
non-loopback address run everything inside a `netns` namespace of their own.

Root or not. The suite runs as root (make test, CI) and as an ordinary user (make test runs
the tests that need no root a second time as the user `sluice-test`; a developer may run
pytest as themselves). As an ordinary user the session's namespace comes from an unprivileged
user namespace that maps the user to itself, so sluice and every client run unprivileged, as
in a deployment under systemd's User=. Tests that need root skip with the reason (named
network namespaces, dropping from root with `user`, running a command as `nobody`, sockets
that need CAP_NET_RAW); everything else runs.

When the session cannot get its namespace (root: a failure of every test that uses the
network; an ordinary user on a kernel without unprivileged user namespaces: the run stops
before the first test and says why). Skipping those tests quietly would leave a green run
that tested almost nothing. SLUICE_TEST_NO_ISOLATION=skip lets an ordinary user run what
needs no network anyway; the skipped network tests are then counted in a summary line.

SLUICE_BIN overrides the binary (default build/sluice under the repository root).
"""

import base64
import os
import resource
import secrets
import shutil
import subprocess
from collections import namedtuple

import pytest

from fakedns import FakeDns
from httporigin import HttpOrigin
from netns import Netns, isolate_session
from origins import Origins
from pki import ORIGIN_NAMES, make_pki
from sluiceproc import SEED_DOMAINS, Proxy, write_config, write_hosts

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
NODE_DIR = os.path.join(REPO, "tests", "node")

Credentials = namedtuple("Credentials", "user password")

_isolation = {"ok": False, "reason": "not attempted", "original_netns_fd": None}


def pytest_configure(config):
    # 1000 concurrent tunnels need about 2000 descriptors in this process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    ok, info = isolate_session()
    _isolation["ok"] = ok
    if ok:
        _isolation["original_netns_fd"] = info
        _isolation["reason"] = ""
    else:
        _isolation["reason"] = info


NO_ISOLATION_ENV = "SLUICE_TEST_NO_ISOLATION"


def _needs_network(item):
    return "isolated_network" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    if _isolation["ok"] or os.geteuid() == 0:
        return  # as root, the isolated_network fixture fails each such test
    network = [item for item in items if _needs_network(item)]
    if not network:
        return
    if os.environ.get(NO_ISOLATION_ENV) != "skip":
        pytest.exit(f"{len(network)} of the {len(items)} selected tests use the network, and "
                    "this session has no private network namespace: "
                    f"{_isolation['reason']}.\nRun as root, allow unprivileged user "
                    f"namespaces, or set {NO_ISOLATION_ENV}=skip to run only the tests "
                    "that need no network.", returncode=pytest.ExitCode.USAGE_ERROR)
    _isolation["skipped"] = len(network)


def pytest_terminal_summary(terminalreporter):
    skipped = _isolation.get("skipped")
    if skipped:
        terminalreporter.write_sep(
            "!", f"{skipped} network tests SKIPPED ({NO_ISOLATION_ENV}=skip): no private "
            f"network namespace: {_isolation['reason']}", red=True, bold=True)


@pytest.fixture(scope="session")
def isolated_network():
    """Tests that use the network need the session's private namespace; without it a client
    that ignored its proxy could reach the outside. As root a failure; as an ordinary user the
    run stopped at collection unless SLUICE_TEST_NO_ISOLATION=skip asked for a skip."""
    if not _isolation["ok"]:
        message = f"no private network namespace for the session: {_isolation['reason']}"
        if os.geteuid() == 0:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def sluice_bin():
    path = os.environ.get("SLUICE_BIN") or "build/sluice"
    if not os.path.isabs(path):
        path = os.path.join(REPO, path)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing or not executable: build it with `make`")
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Test CA (pki.ca_cert) and a server certificate for all ORIGIN_NAMES."""
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def origins(pki, isolated_network):
    servers = Origins(pki)
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def credentials():
    return Credentials("agent", secrets.token_urlsafe(18))


@pytest.fixture(scope="session")
def users_file(tmp_path_factory, credentials):
    """An htpasswd file made by Apache's htpasswd with bcrypt; the password goes through
    stdin, never a command line."""
    path = str(tmp_path_factory.mktemp("users") / "users.htpasswd")
    subprocess.run(["htpasswd", "-B", "-i", "-c", path, credentials.user],
                   input=credentials.password, text=True, check=True, capture_output=True,
                   timeout=60)
    with open(path) as f:
        assert f.read().startswith(f"{credentials.user}:$2y$")
    return path


@pytest.fixture
def dns(isolated_network):
    """The fake DNS server: knows no name until a test calls dns.set(name, [addresses])."""
    server = FakeDns()
    yield server
    server.close()


_DEFAULT = object()


@pytest.fixture
def make_proxy(sluice_bin, tmp_path, origins, dns, users_file, credentials):
    """Factory for started proxies. Defaults: listen 127.0.0.1:0, the users file, the seed's
    three allowed domains, connect_ports 443 plus every origin port, allow_cidr 127.0.0.0/8,
    a hosts_file mapping ORIGIN_NAMES to 127.0.0.1, dns_server = the fake DNS, access_log in
    the test's tmp dir. Pass None to leave a directive out; `extra` adds raw lines; `netns`
    runs the proxy inside that namespace; `relative_paths` names the files relative to the
    config file's directory. Every proxy is stopped at teardown, and the test
    fails if one crashed, exited non-zero, reported a sanitizer error, or leaked a secret."""
    started = []

    def factory(*, users=_DEFAULT, allow=SEED_DOMAINS, connect_ports=_DEFAULT,
                allow_cidr=("127.0.0.0/8",), hosts=_DEFAULT, dns_server=_DEFAULT,
                access_log=_DEFAULT, listen=("127.0.0.1:0",), extra=(), netns=None,
                relative_paths=False, start=True):
        workdir = tmp_path / f"proxy{len(started)}"
        workdir.mkdir()
        if users is _DEFAULT:
            users = users_file
        if relative_paths and users:
            users = shutil.copy(users, workdir / "users.htpasswd")
        if connect_ports is _DEFAULT:
            connect_ports = (443, *origins.ports)
        if hosts is _DEFAULT:
            hosts = {name: "127.0.0.1" for name in ORIGIN_NAMES}
        hosts_file = write_hosts(str(workdir / "hosts"), hosts) if hosts is not None else None
        if dns_server is _DEFAULT:
            dns_server = dns.address
        if access_log is _DEFAULT:
            access_log = str(workdir / "access.log")
        named = {"users": users, "hosts_file": hosts_file, "access_log": access_log}
        if relative_paths:
            # Name the files relative to the config file's directory (the proxy runs in "/").
            for key, path in named.items():
                if path and path not in ("stdout", "off"):
                    named[key] = os.path.relpath(path, workdir)
        config = write_config(str(workdir / "sluice.conf"), listen=listen, allow=allow,
                              connect_ports=connect_ports, allow_cidr=allow_cidr,
                              dns_server=dns_server, extra=extra, **named)
        token = base64.b64encode(f"{credentials.user}:{credentials.password}".encode()).decode()
        proxy = Proxy(sluice_bin, str(workdir), config, access_log=access_log,
                      user=credentials.user, password=credentials.password,
                      secrets=[credentials.password, token],
                      prefix=netns.cmd() if netns else (), nlisten=len(listen))
        started.append(proxy)
        if start:
            proxy.start()
        return proxy

    yield factory

    problems = []
    for index, proxy in enumerate(started):
        for problem in proxy.stop():
            tail = "\n".join(proxy.stderr().splitlines()[-40:])
            problems.append(f"proxy{index} ({proxy.config_path}): {problem}\n"
                            f"--- its stderr (last lines) ---\n{tail}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def proxy_pki(tmp_path_factory):
    """A CA of the proxy's own and a certificate for its name, localhost (for `tls`
    listeners; clients verify the proxy against proxy_pki.ca_cert)."""
    return make_pki(str(tmp_path_factory.mktemp("proxy-pki")), names=("localhost",))


@pytest.fixture
def tls_proxy(make_proxy, proxy_pki):
    """A proxy with the default configuration on a `tls` listener (see make_proxy)."""
    return make_proxy(listen=("127.0.0.1:0 tls",),
                      extra=[f"tls_cert {proxy_pki.cert}", f"tls_key {proxy_pki.key}"])


@pytest.fixture
def proxy(make_proxy):
    """A proxy with the default configuration (see make_proxy)."""
    return make_proxy()


@pytest.fixture
def netns(isolated_network):
    """A fresh network namespace `sluice-t-<random>` with only lo up, deleted afterwards.
    Root only: `ip netns add` mounts under /run/netns and `ip` configures the namespace, and
    an ordinary user's `ip` has no capability for either."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a named network namespace (ip netns add)")
    ns = Netns()
    yield ns
    ns.delete()


@pytest.fixture(scope="session")
def node_fetch():
    """The command that runs tests/node/fetch.mjs; installs undici with `npm ci` (from the
    committed lock file) if tests/node/node_modules is missing. npm runs in the machine's
    original network namespace, since the session's own has only loopback."""
    if not os.path.exists(os.path.join(NODE_DIR, "node_modules", "undici", "package.json")):
        # Offline, fail in seconds rather than after npm's minutes of retries.
        npm = ["npm", "ci", "--no-audit", "--no-fund", "--fetch-retries=0",
               "--fetch-timeout=15000"]
        fd = _isolation["original_netns_fd"]
        if fd is None and _isolation["ok"]:
            pytest.fail("the Node client tests need undici in tests/node/node_modules; an "
                        "ordinary user's session namespace has no way back to the network "
                        f"for `npm ci`: run `npm ci` in {NODE_DIR} first (make test's root "
                        "pass does)", pytrace=False)
        kw = {}
        if fd is not None:
            npm = ["nsenter", f"--net=/proc/self/fd/{fd}", *npm]
            kw["pass_fds"] = (fd,)
        try:
            done = subprocess.run(npm, cwd=NODE_DIR, capture_output=True, text=True,
                                  timeout=60, **kw)
        except subprocess.TimeoutExpired:
            done = None
        if done is None or done.returncode != 0:
            pytest.fail("the Node client tests need undici, which `npm ci` in "
                        f"{NODE_DIR} fetches from the npm registry (registry.npmjs.org), "
                        "and that failed; run it once where the registry is reachable, or "
                        "copy tests/node/node_modules from such a machine.\n"
                        + (f"{done.stdout}\n{done.stderr}" if done else "npm ci timed out"))
    return ["node", os.path.join(NODE_DIR, "fetch.mjs")]


@pytest.fixture
def http_origin(isolated_network):
    """A fresh recording plain-HTTP/1.1 origin on 127.0.0.1 (see httporigin.py) for one test,
    so that "the origin saw nothing" means nothing from this test."""
    server = HttpOrigin()
    yield server
    server.close()


@pytest.fixture
def http_proxy(make_proxy, http_origin):
    """A proxy with the default configuration plus `http_ports <the http_origin's port>`."""
    return make_proxy(extra=[f"http_ports {http_origin.port}"])


@pytest.fixture
def sandbox(sluice_bin, origins, pki, dns):
    """`sluice run` with the tests' policy (see sluicerun.py): the seed's three domains
    allowed, www.google.com not, the TLS origins' names mapped to 127.0.0.1 by a hosts file,
    and every file readable by `nobody`. The test fails at teardown if a run printed a
    sanitizer report or a secret registered in `sandbox.secrets`."""
    from sluicerun import Sandbox

    box = Sandbox(sluice_bin, origins, pki.ca_cert, dns.address)
    yield box
    problems = box.problems()
    box.close()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)

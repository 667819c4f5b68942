# SPDX-License-Identifier: MIT
"""The OCI image (`make image`): what it holds, and that its entrypoint, run the way a
container runtime runs it (container.py: user, mount and PID namespaces, a read-only chroot,
the image's user), proxies a real CONNECT to a TLS origin, answers /healthz, logs to stdout,
and stops on SIGTERM as PID 1. Everything the process is told comes from the image's
configuration JSON, as a runtime would read it, never from this file."""

import base64
import http.client
import os
import re
import secrets
import signal
import stat
import subprocess
import time

import pytest

from container import UID_BASE
from helpers import curl
from imagerun import Container
from origins import https_greeting
from proxyclient import connect

MAX_IMAGE_BYTES = 30 * 1024 * 1024
LISTEN_RE = r"^sluice: listening on ([0-9.]+):(\d+)$"
ADMIN_RE = r"^sluice: admin listener on ([0-9.]+):(\d+) "
TARGET = "api.anthropic.com"
SHELLS = ("sh", "bash", "dash", "ash", "busybox", "zsh")
PACKAGE_TOOLS = ("apt", "apt-get", "dpkg", "apk", "rpm", "yum", "dnf", "microdnf")


def htpasswd(path, user, password, owner_uid):
    """An htpasswd file made by Apache's htpasswd with bcrypt (password through stdin),
    readable by the image's user and nobody else, as a Secret mounted with fsGroup would be."""
    subprocess.run(["htpasswd", "-B", "-i", "-c", path, user], input=password, text=True,
                   check=True, capture_output=True, timeout=60)
    os.chown(path, owner_uid, owner_uid)
    os.chmod(path, 0o440)


def admin_get(port, path, auth=None, timeout=10.0):
    """(status, body) of GET `path` on the admin listener at 127.0.0.1:port, no proxy."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {}
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        conn.request("GET", path, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.read().decode("utf-8", "replace")
    finally:
        conn.close()


def wait_for_listener(box, pattern, what):
    m = box.stderr.wait_for(pattern)
    if m is None:
        box.kill()
        pytest.fail(f"the image's sluice printed no '{what}' line within 30 s; exit "
                    f"{box.proc.returncode}\n--- stderr ---\n{box.stderr.text}", pytrace=False)
    return int(m.group(2))


def host_uid(box):
    return int(box.status()["Uid"].split()[0])


def test_image_holds_only_sluice_and_what_it_needs(image_archive, image, rootfs, needs_root):
    path, listing = rootfs
    size = os.path.getsize(image_archive)
    print(f"\n{image_archive}: {size} bytes ({size / 1048576:.1f} MiB), "
          f"{len(image.layers)} layer(s), {image.ref_name}")
    print("\n".join(f"  /{p}" for p in listing))
    assert size < MAX_IMAGE_BYTES, f"the image is {size} bytes, more than {MAX_IMAGE_BYTES}"

    # FROM scratch: one layer, nothing a base image would bring.
    assert len(image.layers) == 1, image.layers
    assert image.config["os"] == "linux"
    assert not os.path.lexists(os.path.join(path, "bin", "sh")), "the image has /bin/sh"
    names = {os.path.basename(p) for p in listing}
    assert not names & set(SHELLS), f"a shell in the image: {sorted(names & set(SHELLS))}"
    assert not names & set(PACKAGE_TOOLS), f"a package manager: {names & set(PACKAGE_TOOLS)}"

    # Every file is one of the few it should be: the binary, a shared object, the CA
    # bundle, passwd and group, the container configuration. Root owns them, nobody may
    # write them but root, and nothing is set-uid.
    allowed = re.compile(r"^(usr/local/bin/sluice|lib(64)?/.+\.so(\.\d+)*|"
                         r"etc/ssl/certs/ca-certificates\.crt|etc/passwd|etc/group|"
                         r"etc/sluice/(sluice\.conf|allow\.txt))$")
    files = []
    for rel in listing:
        st = os.lstat(os.path.join(path, rel))
        assert (st.st_uid, st.st_gid) == (0, 0), f"/{rel} is owned by {st.st_uid}:{st.st_gid}"
        assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWGRP | stat.S_IWOTH), (
            f"/{rel} has mode {stat.filemode(st.st_mode)}")
        if not stat.S_ISDIR(st.st_mode):
            assert stat.S_ISREG(st.st_mode), f"/{rel} is not a regular file"
            assert allowed.match(rel), f"/{rel} should not be in the image"
            files.append(rel)
    for needed in ("usr/local/bin/sluice", "etc/ssl/certs/ca-certificates.crt",
                   "etc/sluice/sluice.conf", "etc/passwd", "etc/group"):
        assert needed in files, f"/{needed} is missing from the image"
    assert any(f.startswith("lib64/ld-linux") or "/ld-linux" in f for f in files), (
        "no dynamic loader in the image")

    # The configuration a runtime reads.
    runtime = image.runtime
    assert runtime["Entrypoint"][0] == "/usr/local/bin/sluice", runtime
    assert runtime["Entrypoint"][1:2] == ["serve"], runtime
    user = runtime.get("User", "")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"User {user!r}: not a numeric non-root uid"
    passwd = {line.split(":")[0]: line.split(":")
              for line in open(os.path.join(path, "etc", "passwd")).read().splitlines()}
    assert passwd["sluice"][2] == uid, passwd
    assert "nobody" in passwd
    assert all(entry[6] == "/nonexistent" for entry in passwd.values()), passwd
    assert "3128/tcp" in runtime.get("ExposedPorts", {}), runtime
    labels = runtime.get("Labels", {})
    version = subprocess.run([os.path.join(path, "usr", "local", "bin", "sluice"), "version"],
                             capture_output=True, text=True, check=True, timeout=10).stdout
    assert labels.get("org.opencontainers.image.title") == "sluice", labels
    assert labels.get("org.opencontainers.image.description"), labels
    assert version.strip() == f"sluice {labels.get('org.opencontainers.image.version')}", (
        version, labels)
    assert image.ref_name == f"sluice:{labels['org.opencontainers.image.version']}"


def test_entrypoint_serves_a_connect_as_the_image_user(image, rootfs, scratch, pki, origins,
                                                      needs_root):
    """The image's entrypoint, with a configuration mounted over /etc/sluice: a real CONNECT
    with curl to a TLS origin, logged on stdout; /healthz; the uid; SIGTERM as PID 1."""
    path, _ = rootfs
    conf = os.path.join(scratch, "etc-sluice")
    os.mkdir(conf, 0o755)
    password = secrets.token_urlsafe(18)
    runtime_uid = int(image.runtime["User"].split(":")[0])
    htpasswd(os.path.join(conf, "users.htpasswd"), "agent", password, UID_BASE + runtime_uid)
    with open(os.path.join(conf, "hosts"), "w") as f:
        f.write(f"127.0.0.1 {TARGET}\n")
    with open(os.path.join(conf, "sluice.conf"), "w") as f:
        f.write("listen 127.0.0.1:0\n"
                "admin_listen 127.0.0.1:0\n"
                "users users.htpasswd\n"
                f"allow {TARGET}\n"
                f"connect_ports {origins.https_port}\n"
                "allow_cidr 127.0.0.0/8\n"
                "hosts_file hosts\n"
                "dns_server 127.0.0.1:9\n"
                "access_log stdout\n"
                "workers 1\n")
    box = Container(image, path, scratch, volumes=[(conf, "/etc/sluice")])
    try:
        port = wait_for_listener(box, LISTEN_RE, "listening on")
        admin = wait_for_listener(box, ADMIN_RE, "admin listener on")

        # PID 1 of its namespace, as the image's user, unprivileged inside and outside.
        status = box.status()
        assert status["NSpid"].split()[-1] == "1", status["NSpid"]
        assert status["Uid"].split() == [str(UID_BASE + runtime_uid)] * 4, status["Uid"]
        assert host_uid(box) - UID_BASE == runtime_uid != 0
        assert int(status["CapEff"], 16) == 0, f"capabilities left: {status['CapEff']}"
        assert os.readlink(f"/proc/{box.pid}/exe").endswith("/usr/local/bin/sluice")

        assert admin_get(admin, "/healthz") == (200, "ok\n")

        done = curl(f"http://agent:{password}@127.0.0.1:{port}",
                    f"https://{TARGET}:{origins.https_port}/from-the-image", pki.ca_cert)
        assert done.returncode == 0, done.stderr
        assert done.stdout == https_greeting(TARGET, f"{TARGET}:{origins.https_port}",
                                             "/from-the-image")

        line = box.stdout.wait_for(rf"TCP_TUNNEL/200 .* CONNECT {re.escape(TARGET)}:"
                                   rf"{origins.https_port} agent ", timeout=15)
        assert line, f"no access log line for the CONNECT on stdout:\n{box.stdout.text}"

        code = box.stop()
        assert code == 0, f"exit {code}\n--- stderr ---\n{box.stderr.text}"
        assert "SIGTERM" in box.stderr.text, box.stderr.text
    finally:
        box.kill()
    for text in (box.stdout.text, box.stderr.text):
        assert password not in text


def test_default_configuration(image, rootfs, scratch, needs_root, isolated_network):
    """The image's own /etc/sluice/sluice.conf with only the secrets it asks for mounted:
    it serves on 0.0.0.0:3128 (here: the session's private namespace, loopback only) with
    the proxy users, refuses every destination until an allowlist is mounted, keeps
    /metrics for the admin users and /healthz open, and says 503 once SIGTERM arrived."""
    path, _ = rootfs
    secrets_dir = os.path.join(scratch, "secrets")
    os.mkdir(secrets_dir, 0o755)
    runtime_uid = int(image.runtime["User"].split(":")[0])
    password, admin_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)

    # Without the secrets it refuses to start, and says which file is missing.
    box = Container(image, path, scratch, volumes=[(secrets_dir, "/etc/sluice/secrets")])
    try:
        assert box.wait(30) == 1, box.stderr.text
    finally:
        box.kill()
    assert "/etc/sluice/secrets/users.htpasswd" in box.stderr.text, box.stderr.text

    htpasswd(os.path.join(secrets_dir, "users.htpasswd"), "agent", password,
             UID_BASE + runtime_uid)
    htpasswd(os.path.join(secrets_dir, "admin.htpasswd"), "prometheus", admin_password,
             UID_BASE + runtime_uid)
    box = Container(image, path, scratch, volumes=[(secrets_dir, "/etc/sluice/secrets")])
    try:
        proxy_port = wait_for_listener(box, LISTEN_RE, "listening on")
        assert proxy_port == 3128
        admin_port = wait_for_listener(box, ADMIN_RE, "admin listener on")
        assert admin_port == 9128
        exposed = image.runtime.get("ExposedPorts", {})
        assert {f"{proxy_port}/tcp", f"{admin_port}/tcp"} <= set(exposed), exposed

        assert admin_get(admin_port, "/healthz") == (200, "ok\n")
        assert admin_get(admin_port, "/metrics")[0] == 401
        status, body = admin_get(admin_port, "/metrics", auth=("prometheus", admin_password))
        assert status == 200 and "sluice_build_info" in body, (status, body[:300])

        reply = connect(proxy_port, f"{TARGET}:443")
        assert reply.status == 407, (reply.status, reply.body)
        reply = connect(proxy_port, f"{TARGET}:443", "agent", password)
        reply.close()
        assert (reply.status, reply.error_code) == (403, "domain-denied"), (
            reply.status, reply.body)
        assert box.stdout.wait_for(rf"TCP_DENIED/403 .* CONNECT {re.escape(TARGET)}:443 "
                                   r"agent .*domain-denied", timeout=15), box.stdout.text

        # SIGTERM: /healthz says 503 while it still accepts (shutdown_delay), then it stops.
        box.signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        while admin_get(admin_port, "/healthz")[0] != 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert admin_get(admin_port, "/healthz")[0] == 503, box.stderr.text
        assert box.wait(60) == 0, box.stderr.text
    finally:
        box.kill()
    for text in (box.stdout.text, box.stderr.text):
        assert password not in text and admin_password not in text

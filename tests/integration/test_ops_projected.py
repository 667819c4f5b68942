# SPDX-License-Identifier: MIT
"""Reload when the files are a Kubernetes ConfigMap or Secret projection. The kubelet does not
write the files: it writes a new timestamped directory, points a `..data_tmp` symlink at it,
renames that over `..data`, and removes the old directory; the names sluice reads
(`sluice.conf`, `users.htpasswd`, `allow.txt`) are symlinks through `..data` and never change
themselves. That exact sequence, for the configuration, the users file and the allowlist,
must reload sluice on its own."""

import os
import shutil
import subprocess

import pytest

from opsutil import reload_lines, wait_reload
from proxyclient import connect
from sluiceproc import Proxy, write_hosts

SUBDOMAIN = 0


class Projection:
    """A directory laid out as the kubelet lays out a projected volume."""

    def __init__(self, path, files):
        self.path = path
        self.gen = 0
        os.makedirs(path)
        self._write(files)
        for name in files:
            os.symlink(os.path.join("..data", name), os.path.join(path, name))

    def _write(self, files):
        self.gen += 1
        stamp = f"..2026_12_01_07_00_{self.gen:02d}.{1000 + self.gen}"
        os.makedirs(os.path.join(self.path, stamp))
        for name, text in files.items():
            with open(os.path.join(self.path, stamp, name), "w") as f:
                f.write(text)
        return stamp

    def update(self, files):
        old = os.readlink(os.path.join(self.path, "..data")) if self.gen else None
        stamp = self._write(files)
        tmp = os.path.join(self.path, "..data_tmp")
        os.symlink(stamp, tmp)
        os.rename(tmp, os.path.join(self.path, "..data"))
        if old:
            shutil.rmtree(os.path.join(self.path, old))

    def first(self, files):
        os.symlink(f"..2026_12_01_07_00_{self.gen:02d}.{1000 + self.gen}",
                   os.path.join(self.path, "..data"))


def htpasswd(user, password):
    done = subprocess.run(["htpasswd", "-niB", user], input=password, text=True,
                          capture_output=True, check=True, timeout=60)
    return done.stdout.strip() + "\n"


@pytest.fixture
def projected(tmp_path, sluice_bin, dns, origins):
    """sluice serving a config from a ConfigMap projection (config and allowlist) and a
    Secret projection (users)."""
    hosts = write_hosts(str(tmp_path / "hosts"), {"api.anthropic.com": "127.0.0.1",
                                                  "www.google.com": "127.0.0.1"})
    log = str(tmp_path / "access.log")
    conf = ("listen 127.0.0.1:0\nusers ../secret/users.htpasswd\nallow_file allow.txt\n"
            f"connect_ports {origins.echo_port}\nallow_cidr 127.0.0.0/8\n"
            f"hosts_file {hosts}\ndns_server {dns.address}\naccess_log {log}\n")
    cm = Projection(str(tmp_path / "config"), {"sluice.conf": conf,
                                               "allow.txt": "api.anthropic.com\n"})
    cm.first(None)
    sec = Projection(str(tmp_path / "secret"), {"users.htpasswd": htpasswd("agent", "one")})
    sec.first(None)
    proxy = Proxy(sluice_bin, str(tmp_path), str(tmp_path / "config" / "sluice.conf"),
                  access_log=log, user="agent", password="one", secrets=["one", "two"])
    proxy.start()
    yield proxy, cm, sec, conf
    problems = proxy.stop()
    assert not problems, problems


def test_configmap_and_secret_updates_reload(projected, origins):
    proxy, cm, sec, conf = projected
    echo = origins.echo_port
    assert connect(proxy.port, f"www.google.com:{echo}", "agent", "one").status == 403

    # The allowlist key of the ConfigMap changes.
    cm.update({"sluice.conf": conf, "allow.txt": "api.anthropic.com\nwww.google.com\n"})
    wait_reload(proxy, 0)
    reply = connect(proxy.port, f"www.google.com:{echo}", "agent", "one")
    assert reply.status == 200
    reply.close()

    # The Secret: the password is rotated.
    sec.update({"users.htpasswd": htpasswd("agent", "two")})
    wait_reload(proxy, 1)
    assert connect(proxy.port, f"api.anthropic.com:{echo}", "agent", "one").status == 407
    reply = connect(proxy.port, f"api.anthropic.com:{echo}", "agent", "two")
    assert reply.status == 200
    reply.close()

    # The configuration itself: a directive changes.
    cm.update({"sluice.conf": conf + "connect_timeout 3s\n",
               "allow.txt": "api.anthropic.com\nwww.google.com\n"})
    wait_reload(proxy, 2)
    assert len(reload_lines(proxy)) == 3

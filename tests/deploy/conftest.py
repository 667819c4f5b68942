# SPDX-License-Identifier: MIT
"""Fixtures for the deployment tests: the OCI image `make image` built, unpacked without a
container tool, and run as a runtime would run it (container.py); a test CA and TLS origins on
loopback, borrowed from the integration tests.

Network rules, as in tests/integration: the session moves into a private network namespace
with only loopback (netns.isolate_session), so nothing a test starts can reach the outside,
and the image's own configuration may listen on 0.0.0.0 without being reachable from anywhere
else.

SLUICE_IMAGE names the archive (default build/sluice-image.tar under the repository root).
"""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import ociimage  # noqa: E402
from netns import isolate_session  # noqa: E402
from origins import Origins  # noqa: E402
from pki import make_pki  # noqa: E402

_isolation = {"ok": False, "reason": "not attempted"}


def pytest_configure(config):
    ok, info = isolate_session()
    _isolation["ok"] = ok
    _isolation["reason"] = "" if ok else info


@pytest.fixture(scope="session")
def isolated_network():
    """Tests that use the network need the session's private namespace: a failure as root
    (make test), a skip otherwise."""
    if not _isolation["ok"]:
        message = f"no private network namespace for the session: {_isolation['reason']}"
        if os.geteuid() == 0:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def needs_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: container.py maps a range of uids into a user namespace "
                    "(what a rootless runtime does with newuidmap and /etc/subuid)")


@pytest.fixture(scope="session")
def image_archive():
    path = os.environ.get("SLUICE_IMAGE") or os.path.join(REPO, "build", "sluice-image.tar")
    if not os.path.isfile(path):
        pytest.fail(f"{path} is missing: build it with `make image` (make test-deploy does)",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def image(image_archive):
    """The image's index, manifest and configuration, every blob checked against its
    digest."""
    return ociimage.read(image_archive)


@pytest.fixture
def scratch():
    """A directory every user may enter (pytest's own base is 0700, and the image's user,
    uid 1000065532 on this machine, must reach the files mounted into its container);
    removed afterwards."""
    path = tempfile.mkdtemp(prefix="sluice-deploy-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def rootfs(image_archive, image, scratch):
    """The image's layers unpacked, in order, into a fresh directory: (path, listing)."""
    path = os.path.join(scratch, "rootfs")
    listing = ociimage.unpack(image_archive, image, path)
    return path, listing


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Test CA (pki.ca_cert) and a server certificate for the production names."""
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def origins(pki, isolated_network):
    servers = Origins(pki)
    yield servers
    servers.close()

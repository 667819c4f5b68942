# SPDX-License-Identifier: MIT
"""A throw-away certificate authority and one server certificate, made with the openssl CLI.

Nothing here is committed: every test session makes a new CA, so the TLS origins on loopback can
present real certificates for the production names (api.anthropic.com, ...) and clients verify
them against this CA only.
"""

import ipaddress
import os
import subprocess
from dataclasses import dataclass

ORIGIN_NAMES = (
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "www.google.com",
    "api.replicate.com",
)


@dataclass
class Pki:
    ca_cert: str
    cert: str
    key: str
    names: tuple


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _san(name):
    """A subjectAltName entry: IP:... for an address literal (127.0.0.1), DNS:... otherwise."""
    try:
        return f"IP:{ipaddress.ip_address(name)}"
    except ValueError:
        return f"DNS:{name}"


def make_pki(directory, names=ORIGIN_NAMES):
    """Create ca.pem and a leaf (server.pem, server.key) valid for `names` (host names or
    address literals) in `directory`."""
    os.makedirs(directory, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "7",
             "-subj", "/CN=sluice integration test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash",
             cwd=directory)
    _openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", f"/CN={names[0]}", cwd=directory)
    with open(os.path.join(directory, "server.ext"), "w") as ext:
        ext.write("basicConstraints=critical,CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\n"
                  "extendedKeyUsage=serverAuth\n"
                  "subjectKeyIdentifier=hash\n"
                  "authorityKeyIdentifier=keyid\n"
                  "subjectAltName=" + ",".join(map(_san, names)) + "\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "7", "-sha256", "-extfile", "server.ext",
             "-out", "server.pem", cwd=directory)
    return Pki(ca_cert=os.path.join(directory, "ca.pem"),
               cert=os.path.join(directory, "server.pem"),
               key=os.path.join(directory, "server.key"),
               names=tuple(names))

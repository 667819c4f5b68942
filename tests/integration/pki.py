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


class ClientPki:
    """A CA for client certificates (mutual TLS), run with `openssl ca` so certificates can
    be issued with any validity and revoked into a CRL. `issue` writes NAME.pem and NAME.key;
    `crl` writes the current CRL."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "index.txt"), "w"):
            pass
        with open(os.path.join(directory, "crlnumber"), "w") as f:
            f.write("01\n")
        with open(os.path.join(directory, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = d\n[d]\n"
                    f"dir = {directory}\ndatabase = $dir/index.txt\n"
                    "new_certs_dir = $dir\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\n"
                    "default_md = sha256\ndefault_days = 7\ndefault_crl_days = 7\n"
                    "policy = any\nunique_subject = no\ncopy_extensions = none\n"
                    "[any]\ncommonName = optional\norganizationName = optional\n")
        with open(os.path.join(directory, "serial"), "w") as f:
            f.write("1000\n")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "7",
                 "-subj", "/CN=sluice test client CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-addext", "subjectKeyIdentifier=hash", cwd=directory)
        self.ca_cert = os.path.join(directory, "ca.pem")

    def issue(self, name, subject, *, san=None, usage="clientAuth", start=None, end=None):
        """A certificate for `subject` ("/CN=alice"), with the subjectAltName `san` and the
        extended key usage `usage`; `start`/`end` (YYYYMMDDHHMMSSZ) set its validity.
        Returns (cert path, key path)."""
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
                 "-utf8", cwd=self.dir)
        with open(os.path.join(self.dir, f"{name}.ext"), "w") as ext:
            ext.write("basicConstraints=critical,CA:FALSE\n"
                      "keyUsage=critical,digitalSignature\n"
                      f"extendedKeyUsage={usage}\n"
                      "authorityKeyIdentifier=keyid\n"
                      + (f"subjectAltName={san}\n" if san else ""))
        dates = []
        if start:
            dates += ["-startdate", start]
        if end:
            dates += ["-enddate", end]
        _openssl("ca", "-batch", "-notext", "-config", "ca.cnf", "-keyfile", "ca.key",
                 "-cert", "ca.pem", "-in", f"{name}.csr", "-out", f"{name}.pem",
                 "-extfile", f"{name}.ext", *dates, cwd=self.dir)
        return os.path.join(self.dir, f"{name}.pem"), os.path.join(self.dir, f"{name}.key")

    def revoke(self, name):
        _openssl("ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem",
                 "-revoke", f"{name}.pem", cwd=self.dir)

    def crl(self, path):
        """Write the current CRL (every certificate revoked so far) to `path`."""
        _openssl("ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem",
                 "-gencrl", "-out", str(path), cwd=self.dir)
        return str(path)

# SPDX-License-Identifier: MIT
"""`sluice check -c FILE --explain USER HOST:PORT [--http]`: what the proxy would decide, by
which policy and which rule (or which address class after resolving), without starting a
proxy. The real binary on real configuration files; names resolve through a hosts file or the
test's own DNS server on loopback, never anything else."""

import pytest

from sluiceproc import run_cli


@pytest.fixture
def conf(tmp_path, users_file, credentials, dns):
    dns.set("dns.explain.test", ["10.20.30.40"])
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 api.anthropic.com\n93.184.216.34 generativelanguage.googleapis.com\n"
                     "169.254.169.254 metadata.example.test\n")
    path = tmp_path / "sluice.conf"
    path.write_text(f"users {users_file}\n"
                    f"hosts_file {hosts}\n"
                    f"dns_server {dns.address}\n"
                    "allow .googleapis.com api.anthropic.com metadata.example.test\n"
                    "deny storage.googleapis.com\n"
                    f"policy ci\nmembers {credentials.user}\nallow dns.explain.test\n"
                    "allow_cidr 10.0.0.0/8\nmode report\n")
    return path


def explain(sluice_bin, conf, *args):
    done = run_cli(sluice_bin, "check", "-c", str(conf), "--explain", *args)
    return done.returncode, done.stdout, done.stderr


def test_without_credentials_the_proxy_asks_first(sluice_bin, conf):
    code, out, _ = explain(sluice_bin, conf, "-", "storage.googleapis.com:443")
    assert code == 3
    assert out == ("identity  nobody (no credentials)\n"
                   "denied    auth-required: the proxy asks who is asking first\n")


def test_an_unknown_user_is_refused_before_any_rule(sluice_bin, conf):
    code, out, _ = explain(sluice_bin, conf, "mallory", "api.anthropic.com:443")
    assert code == 3
    assert out == ("identity  mallory: in no users file\n"
                   "denied    auth-failed: nobody can authenticate as mallory\n")


def test_a_member_is_judged_by_its_policy_and_dns_is_asked(sluice_bin, conf, credentials,
                                                          users_file):
    code, out, err = explain(sluice_bin, conf, credentials.user, "dns.explain.test:443")

    assert code == 0, (out, err)
    assert out == (f"identity  {credentials.user}, a user of {users_file}\n"
                   f"policy    ci (line 6), report mode\n"
                   "target    dns.explain.test:443 (CONNECT)\n"
                   "rule      allow dns.explain.test\n"
                   "addresses from DNS (" + f"{dns_address(conf)}" + "): 10.20.30.40 (kept)\n"
                   "allowed\n")


def dns_address(conf):
    for line in conf.read_text().splitlines():
        if line.startswith("dns_server "):
            return line.split()[1]
    raise AssertionError("no dns_server")


def test_report_mode_says_what_would_be_refused(sluice_bin, conf, credentials):
    code, out, _ = explain(sluice_bin, conf, credentials.user, "api.anthropic.com:8443")

    assert code == 3, out
    assert "report    would be domain-denied (no allow pattern matches api.anthropic.com); " \
           "report mode lets it through\n" in out, out
    # The address class is enforced in report mode too: loopback is refused.
    assert out.endswith("addresses from the hosts file: 127.0.0.1 (refused: loopback)\n"
                        "denied    address-denied: no address it may be dialled at\n"), out


def test_without_blocks_the_top_level_decides_each_step(sluice_bin, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("93.184.216.34 generativelanguage.googleapis.com\n"
                     "169.254.169.254 metadata.example.test\n")
    path = tmp_path / "open.conf"
    path.write_text(f"hosts_file {hosts}\nallow .googleapis.com metadata.example.test\n"
                    "deny storage.googleapis.com\n")
    cases = [
        (["storage.googleapis.com:443"], 3, "denied    domain-denied: deny "
                                            "storage.googleapis.com\n"),
        (["generativelanguage.googleapis.com:80"], 3,
         "denied    port-denied: port 80 is not in connect_ports\n"),
        (["generativelanguage.googleapis.com:80", "--http"], 0, "allowed\n"),
        (["metadata.example.test:443"], 3, "denied    address-denied: no address it may be "
                                           "dialled at\n"),
        (["203.0.113.9:443"], 3, "denied    address-denied: 203.0.113.9 is an IP address "
                                 "outside allow_cidr\n"),
    ]
    for args, want_code, last in cases:
        code, out, err = explain(sluice_bin, path, "-", *args)
        assert code == want_code, (args, out, err)
        assert out.endswith(last), (args, out)
    _, out, _ = explain(sluice_bin, path, "-", "metadata.example.test:443")
    assert "169.254.169.254 (refused: link-local/metadata)" in out, out


def test_bad_input_is_a_usage_error(sluice_bin, conf):
    code, out, _ = explain(sluice_bin, conf, "-", "no-port")
    assert code == 2 and "needs a port" in out, out
    done = run_cli(sluice_bin, "check", "-c", str(conf), "--explain", "onlyuser")
    assert done.returncode == 2 and "--explain needs USER and HOST:PORT" in done.stderr


def test_a_name_that_does_not_resolve_is_what_the_proxy_says_dns_failed(sluice_bin, tmp_path,
                                                                         dns):
    path = tmp_path / "dns.conf"
    path.write_text(f"hosts_file none\ndns_server {dns.address}\nallow nowhere.explain.test\n")

    code, out, _ = explain(sluice_bin, path, "-", "nowhere.explain.test:443")

    assert code == 3
    assert out.endswith("failed    dns-failed: the proxy would answer 502\n"), out

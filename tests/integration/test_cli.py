# SPDX-License-Identifier: MIT
"""The command line: `sluice check` validates a configuration completely and reports every
error as FILE:LINE: message; usage errors exit 2; an open proxy on a public address is refused
unless the configuration says so."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from helpers import unprivileged
from pki import make_pki
from sluiceproc import LISTEN_RE, run_cli


def write(path, *lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def htpasswd_line(flag, user, password):
    done = subprocess.run(["htpasswd", flag, "-i", "-n", user], input=password, text=True,
                          capture_output=True, check=True, timeout=60)
    return done.stdout.strip()


def error_lines(done):
    return [line for line in done.stderr.splitlines() if line.strip()]


def assert_reports(done, location, *words):
    """`sluice check` failed with exit 1 and one of its stderr lines starts with
    `location` ("FILE:LINE:") and contains every word in `words` (case-insensitive)."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "configuration OK" not in done.stdout
    matching = [line for line in error_lines(done) if line.startswith(location)]
    assert matching, f"no error at {location}; stderr:\n{done.stderr}"
    for word in words:
        assert any(word.lower() in line.lower() for line in matching), (
            f"no error at {location} mentions {word!r}; stderr:\n{done.stderr}")


@pytest.fixture
def conf_dir(tmp_path, users_file):
    """A directory with users.htpasswd (copied from the session's users file)."""
    shutil.copy(users_file, tmp_path / "users.htpasswd")
    return tmp_path


def test_version(sluice_bin):
    done = run_cli(sluice_bin, "version")

    assert done.returncode == 0, done.stderr
    assert re.search(r"\d+\.\d+", done.stdout), done.stdout


def test_help_names_the_commands(sluice_bin):
    done = run_cli(sluice_bin, "--help")

    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    for word in ("serve", "check", "-c"):
        assert word in text, text


def test_serve_help(sluice_bin):
    done = run_cli(sluice_bin, "serve", "--help")

    assert done.returncode == 0, done.stderr
    assert "-c" in done.stdout + done.stderr


@pytest.mark.parametrize("args", [
    [],                                   # no command
    ["frobnicate"],                       # unknown command
    ["serve"],                            # serve without -c
    ["serve", "-c"],                      # -c without a file
    ["check", "-c", "a.conf", "--bogus"],  # unknown option
], ids=["no-command", "unknown-command", "serve-without-c",
        "c-without-file", "unknown-option"])
def test_usage_errors_exit_2(sluice_bin, args):
    done = run_cli(sluice_bin, *args, timeout=20)

    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.strip(), "a usage error says what is wrong on stderr"


@pytest.mark.parametrize("args,message", [
    (["check", "-c"], "option -c needs a value, the configuration file"),
    (["serve", "--config"], "option -c needs a value, the configuration file"),
    (["url", "--env-file"], "option needs a value: --env-file"),
    (["run", "--allow"], "option needs a value: --allow"),
    (["check", "--bogus"], "unknown option --bogus"),
    (["run", "--bogus", "--", "true"], "unknown option: --bogus"),
])
def test_a_missing_value_is_told_apart_from_an_unknown_option(sluice_bin, args, message):
    done = run_cli(sluice_bin, *args, timeout=20)

    assert done.returncode == 2, (done.returncode, done.stderr)
    assert message in done.stderr.splitlines()[0], done.stderr


def test_a_refused_privileged_port_names_the_capability(sluice_bin, tmp_path):
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        if int(f.read()) <= 80:
            pytest.skip("this machine lets any user bind port 80")
    base = tempfile.mkdtemp(prefix="sluice-port-")
    try:
        os.chmod(base, 0o755)
        conf = os.path.join(base, "sluice.conf")
        with open(conf, "w") as f:
            f.write("listen 127.0.0.1:80\nallow api.anthropic.com\naccess_log off\n")
        os.chmod(conf, 0o644)
        # --inh-caps: no capability may come through (an ordinary user has none to pass).
        argv = ["setpriv", "--inh-caps=-all", sluice_bin, "serve", "-c", conf]
        done = subprocess.run(unprivileged(*argv),
                              capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    assert done.returncode == 1, done.stderr
    assert "listen 127.0.0.1:80: bind: Permission denied" in done.stderr
    assert "CAP_NET_BIND_SERVICE" in done.stderr


@pytest.mark.parametrize("command", ["check", "serve"])
def test_an_ordinary_user_is_told_only_root_can_switch_users(sluice_bin, command):
    """`user root` in a configuration an ordinary user starts: `check` says it cannot work
    (instead of summarising "drop to user root"), and `serve` says why it stops."""
    base = tempfile.mkdtemp(prefix="sluice-user-")
    try:
        os.chmod(base, 0o755)
        conf = os.path.join(base, "sluice.conf")
        with open(conf, "w") as f:
            f.write("listen 127.0.0.1:0\nallow api.anthropic.com\naccess_log off\n"
                    "user root\n")
        os.chmod(conf, 0o644)
        done = subprocess.run(unprivileged(sluice_bin, command, "-c", conf),
                              capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    assert done.returncode == 1, (done.returncode, done.stderr)
    if command == "check":
        assert f"{conf}:4: user root: only root can switch to another user" in done.stderr
    else:
        assert "only root can switch users" in done.stderr, done.stderr


def test_check_accepts_a_good_config_and_summarises_it(sluice_bin, conf_dir):
    write(conf_dir / "hosts", "127.0.0.1 api.anthropic.com")
    conf = write(conf_dir / "sluice.conf",
                 "# the seed's policy",
                 "listen 127.0.0.1:3128",
                 "users users.htpasswd",
                 "allow api.anthropic.com generativelanguage.googleapis.com api.replicate.com",
                 "connect_ports 443 8443",
                 "allow_cidr 127.0.0.0/8",
                 "hosts_file hosts",
                 "dns_server 127.0.0.1:5353",
                 "access_log off",
                 "connect_timeout 10s",
                 "dns_timeout 5s",
                 "idle_timeout 15m",
                 "header_timeout 10s",
                 "max_connections 100")

    done = run_cli(sluice_bin, "check", "-c", conf, cwd="/")

    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stdout
    for item in ("127.0.0.1:3128", "generativelanguage.googleapis.com", "8443", "127.0.0.0/8"):
        assert item in done.stdout, f"summary does not mention {item}:\n{done.stdout}"


def test_check_reports_every_error_with_file_and_line(sluice_bin, conf_dir, credentials):
    users = write(conf_dir / "mixed.htpasswd",
                  htpasswd_line("-B", "agent", credentials.password),
                  "intruder:plaintext-password")
    conf = write(conf_dir / "sluice.conf",
                 "# three mistakes below",                      # 1
                 "listen 127.0.0.1:3128",                       # 2
                 "users mixed.htpasswd",                        # 3
                 "allow api.anthropic.com *.com",               # 4: TLD wildcard
                 "frobnicate yes",                              # 5: unknown directive
                 "connect_ports 443")                           # 6

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert_reports(done, f"{conf}:4:", "*.com")
    assert_reports(done, f"{conf}:5:", "frobnicate")
    htpasswd_errors = [line for line in error_lines(done)
                       if line.startswith(f"{users}:2:") or line.startswith(f"{conf}:3:")]
    assert htpasswd_errors, f"plaintext password line not reported:\n{done.stderr}"
    assert any("htpasswd -B" in line for line in htpasswd_errors), done.stderr
    assert "plaintext-password" not in done.stderr + done.stdout


@pytest.mark.parametrize("pattern", [
    "*",
    "*.com",
    ".com",
    "https://api.anthropic.com",
    "api.anthropic.com/v1",
    "api.anthropic.com:443",
    "bücher.example",
    "api.anthropic.com,api.replicate.com",
])
def test_check_rejects_a_bad_allow_pattern(sluice_bin, conf_dir, pattern):
    conf = write(conf_dir / "sluice.conf", "listen 127.0.0.1:3128", f"allow {pattern}",
                 "users users.htpasswd")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert_reports(done, f"{conf}:2:")


def test_check_rejects_a_bad_pattern_in_an_allow_file(sluice_bin, conf_dir):
    patterns = write(conf_dir / "domains.txt", "api.anthropic.com", "*.com")
    conf = write(conf_dir / "sluice.conf", "listen 127.0.0.1:3128", "users users.htpasswd",
                 "allow_file domains.txt")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert done.returncode == 1
    assert any(line.startswith(f"{patterns}:2:") for line in error_lines(done)), done.stderr


@pytest.mark.parametrize("flag,kind", [
    ("-p", "plaintext"),
    ("-m", "$apr1$"),
    ("-s", "{SHA}"),
    ("-d", "DES crypt"),
])
def test_check_rejects_weak_htpasswd_hashes_and_suggests_bcrypt(sluice_bin, conf_dir, flag,
                                                                kind):
    users = write(conf_dir / "weak.htpasswd",
                  htpasswd_line("-B", "good", "good-password"),
                  htpasswd_line(flag, "weak", "weak-password"))
    conf = write(conf_dir / "sluice.conf", "listen 127.0.0.1:3128", "users weak.htpasswd",
                 "allow api.anthropic.com")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert done.returncode == 1, f"{kind} accepted: {done.stdout}"
    located = [line for line in error_lines(done)
               if line.startswith(f"{users}:2:") or line.startswith(f"{conf}:2:")]
    assert located, f"{kind} line not reported with its location:\n{done.stderr}"
    assert any("htpasswd -B" in line for line in located), done.stderr


@pytest.mark.parametrize("line,word", [
    ("connect_timeout soon", "connect_timeout"),
    ("idle_timeout -5s", "idle_timeout"),
    ("allow_cidr 10.0.0.0/33", "10.0.0.0/33"),
    ("allow_cidr not-a-cidr", "not-a-cidr"),
    ("connect_ports 0", "0"),
    ("connect_ports 70000", "70000"),
    ("listen 127.0.0.1", "127.0.0.1"),
    ("max_connections many", "many"),
    ("hosts_file does-not-exist.hosts", "does-not-exist.hosts"),
    ("allow_unauthenticated perhaps", "perhaps"),
])
def test_check_reports_a_bad_directive_value_with_its_line(sluice_bin, conf_dir, line, word):
    conf = write(conf_dir / "sluice.conf", "# one bad line", "listen 127.0.0.1:3128",
                 "users users.htpasswd", "allow api.anthropic.com", line)

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert_reports(done, f"{conf}:5:", word)


def test_check_reports_a_missing_users_file(sluice_bin, conf_dir):
    conf = write(conf_dir / "sluice.conf", "listen 127.0.0.1:3128", "users nowhere.htpasswd",
                 "allow api.anthropic.com")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert done.returncode == 1
    assert "nowhere.htpasswd" in done.stderr, done.stderr


def test_check_of_a_missing_config_file_fails(sluice_bin, tmp_path):
    done = run_cli(sluice_bin, "check", "-c", str(tmp_path / "absent.conf"))

    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "absent.conf" in done.stderr


@pytest.mark.parametrize("listen", ["0.0.0.0:3128", "[::]:3128"])
def test_public_listener_without_users_is_refused_unless_explicitly_allowed(sluice_bin,
                                                                             conf_dir, listen):
    base = [f"listen {listen}", "allow api.anthropic.com"]

    open_proxy = run_cli(sluice_bin, "check", "-c", write(conf_dir / "open.conf", *base))
    assert open_proxy.returncode == 1, open_proxy.stdout
    assert "allow_unauthenticated" in open_proxy.stderr, open_proxy.stderr

    explicit = run_cli(sluice_bin, "check", "-c",
                       write(conf_dir / "explicit.conf", *base, "allow_unauthenticated yes"))
    assert explicit.returncode == 0, explicit.stderr

    with_users = run_cli(sluice_bin, "check", "-c",
                         write(conf_dir / "users.conf", *base, "users users.htpasswd",
                               "plaintext_auth yes"))
    assert with_users.returncode == 0, with_users.stderr


@pytest.mark.parametrize("listen", ["0.0.0.0:3128", "[::]:3128", "10.1.2.3:3128"])
def test_passwords_over_plain_text_off_loopback_are_refused_unless_explicitly_allowed(
        sluice_bin, conf_dir, proxy_pki_files, listen):
    # Issue 13: every request would carry Proxy-Authorization across the network in clear.
    base = [f"listen {listen}", "allow api.anthropic.com", "users users.htpasswd"]

    plain = run_cli(sluice_bin, "check", "-c", write(conf_dir / "plain.conf", *base))
    assert plain.returncode == 1, plain.stdout
    assert (f"listen {listen}: with 'users', every password would cross the network in "
            "clear text; add 'tls' to this listen line") in plain.stderr, plain.stderr
    assert "'plaintext_auth yes'" in plain.stderr

    explicit = run_cli(sluice_bin, "check", "-c",
                       write(conf_dir / "private.conf", *base, "plaintext_auth yes"))
    assert explicit.returncode == 0, explicit.stderr

    cert, key = proxy_pki_files
    tls = run_cli(sluice_bin, "check", "-c",
                  write(conf_dir / "tls.conf", f"listen {listen} tls", *base[1:],
                        f"tls_cert {cert}", f"tls_key {key}"))
    assert tls.returncode == 0, tls.stderr


@pytest.fixture(scope="module")
def proxy_pki_files(tmp_path_factory):
    pki = make_pki(str(tmp_path_factory.mktemp("cli-pki")), names=("localhost",))
    return pki.cert, pki.key


def test_loopback_listener_without_users_is_fine(sluice_bin, conf_dir):
    conf = write(conf_dir / "local.conf", "listen 127.0.0.1:3128", "listen [::1]:3128",
                 "allow api.anthropic.com")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert done.returncode == 0, done.stderr


def test_serve_refuses_to_start_an_open_proxy_on_a_public_address(sluice_bin, conf_dir,
                                                                   isolated_network):
    # Runs in the session's private network namespace: even a wrongly started proxy would
    # only be reachable over its loopback.
    conf = write(conf_dir / "open.conf", "listen 0.0.0.0:0", "allow api.anthropic.com",
                 f"access_log {conf_dir / 'access.log'}", "dns_server 127.0.0.1:9")
    proc = subprocess.Popen([sluice_bin, "serve", "-c", conf], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"sluice served an open proxy on 0.0.0.0:\n{err}")

    assert proc.returncode == 1, (proc.returncode, err)
    assert not any(LISTEN_RE.match(line) for line in err.splitlines()), err
    assert "allow_unauthenticated" in err


def test_serve_with_an_invalid_config_exits_1_with_the_errors(sluice_bin, conf_dir):
    conf = write(conf_dir / "bad.conf", "listen 127.0.0.1:0", "allow *.com")

    done = run_cli(sluice_bin, "serve", "-c", conf, timeout=20)

    assert done.returncode == 1, (done.returncode, done.stderr)
    assert f"{conf}:2:" in done.stderr


# ---- what only the running system can tell (sluice check catches what serve would fail on) ----

@pytest.mark.parametrize("lines,at,words", [
    (["user sluice-test-no-such-user"], 4, ["user", "sluice-test-no-such-user"]),
    (["group sluice-test-no-such-group"], 4, ["group", "sluice-test-no-such-group"]),
    (["access_log /nonexistent/sluice-test/access.log"], 4, ["/nonexistent/sluice-test",
                                                            "does not exist"]),
    (["listen 127.0.0.1:3128"], 4, ["given twice", "line 1"]),
    (["hosts_file empty.hosts", "hosts_file none"], 4, ["hosts_file none"]),
], ids=["no-such-user", "no-such-group", "log-directory-missing", "listen-twice",
        "hosts-file-and-none"])
def test_check_catches_what_serve_would_fail_on(sluice_bin, conf_dir, lines, at, words):
    (conf_dir / "empty.hosts").write_text("")
    conf = write(conf_dir / "sluice.conf", "listen 127.0.0.1:3128", "users users.htpasswd",
                 "allow api.anthropic.com", *lines)

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert_reports(done, f"{conf}:{at}:", *words)


def test_check_fails_on_an_access_log_it_cannot_write(sluice_bin, users_file):
    # As an ordinary user (root may write anywhere): a directory of mode 0555, so that
    # neither nobody (when the tests run as root) nor its owner (when they do not) may write.
    base = tempfile.mkdtemp(prefix="sluice-check-")
    try:
        users = shutil.copy(users_file, os.path.join(base, "users.htpasswd"))
        os.chmod(users, 0o644)
        conf = os.path.join(base, "sluice.conf")
        with open(conf, "w") as f:
            f.write(f"users {users}\nallow api.anthropic.com\n"
                    f"access_log {os.path.join(base, 'access.log')}\n")
        os.chmod(conf, 0o644)
        os.chmod(base, 0o555)

        done = subprocess.run(unprivileged(sluice_bin, "check", "-c", conf),
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    finally:
        os.chmod(base, 0o700)
        shutil.rmtree(base, ignore_errors=True)

    assert_reports(done, f"{conf}:3:", "cannot be written", "permission denied")


@pytest.mark.parametrize("mode,warned", [(0o644, True), (0o640, False)])
def test_check_warns_about_a_users_file_every_user_can_read(sluice_bin, conf_dir, mode, warned):
    (conf_dir / "users.htpasswd").chmod(mode)
    conf = write(conf_dir / "sluice.conf", "users users.htpasswd", "allow api.anthropic.com")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert done.returncode == 0, done.stderr
    assert ("readable by every user" in done.stderr) == warned, done.stderr
    if warned:
        assert done.stderr.startswith(f"{conf}:1: warning:"), done.stderr


def test_check_warns_that_an_empty_allowlist_refuses_everything(sluice_bin, conf_dir):
    (conf_dir / "users.htpasswd").chmod(0o640)
    conf = write(conf_dir / "sluice.conf", "users users.htpasswd")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert done.returncode == 0, done.stderr
    assert f"{conf}: warning: nothing is allowed" in done.stderr, done.stderr


def test_the_open_proxy_refusal_names_the_listen_line(sluice_bin, conf_dir):
    conf = write(conf_dir / "open.conf", "allow api.anthropic.com", "listen 0.0.0.0:3128")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert_reports(done, f"{conf}:2:", "open proxy")


def test_an_empty_users_file_names_the_users_line(sluice_bin, conf_dir):
    (conf_dir / "empty.htpasswd").write_text("# nobody yet\n")
    conf = write(conf_dir / "sluice.conf", "allow api.anthropic.com", "users empty.htpasswd")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert_reports(done, f"{conf}:2:", "no user")


# ---- make install ----

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def make_install(destdir, sluice_bin):
    return subprocess.run(["make", "-C", REPO, "--no-print-directory", "install",
                           f"DESTDIR={destdir}", f"BUILD={os.path.dirname(sluice_bin)}"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_make_install_sets_up_etc_sluice_the_unit_expects(sluice_bin, tmp_path):
    dest = tmp_path / "root"
    done = make_install(dest, sluice_bin)
    assert done.returncode == 0, done.stderr
    etc = dest / "etc" / "sluice"
    assert (dest / "etc" / "logrotate.d" / "sluice").is_file()
    assert (dest / "usr/local/lib/systemd/system/sluice.service").is_file()
    assert "htpasswd -B -c /etc/sluice/users.htpasswd" in done.stdout  # the next step, said
    conf = str(etc / "sluice.conf")

    before = run_cli(sluice_bin, "check", "-c", conf)
    subprocess.run(["htpasswd", "-B", "-c", "-i", str(etc / "users.htpasswd"), "agent"],
                   input="a-password", text=True, capture_output=True, check=True, timeout=60)
    (etc / "users.htpasswd").chmod(0o640)
    after = run_cli(sluice_bin, "check", "-c", conf)

    assert_reports(before, f"{conf}:", "users.htpasswd", "no such file")
    assert after.returncode == 0, after.stderr
    assert "hosts_file" in after.stdout and "allow_file" not in after.stderr


def test_make_install_never_overwrites_the_operators_configuration(sluice_bin, tmp_path):
    dest = tmp_path / "root"
    assert make_install(dest, sluice_bin).returncode == 0
    conf = dest / "etc" / "sluice" / "sluice.conf"
    conf.write_text("# the operator's own\nallow example.org\n")

    again = make_install(dest, sluice_bin)

    assert again.returncode == 0, again.stderr
    assert conf.read_text() == "# the operator's own\nallow example.org\n"
    assert "kept /etc/sluice/sluice.conf" in again.stdout


# ---- messages never act on the terminal or repeat what looks like a secret (red team, round 4) --

def test_control_bytes_quoted_from_a_file_are_escaped(sluice_bin, conf_dir):
    (conf_dir / "team.txt").write_bytes(b"ok.example.com\n"
                                        b"evil.example.com\x1b[1A\x1b[2K\r\x1b]52;c;aGk=\x07\n")
    conf = write(conf_dir / "sluice.conf", "users users.htpasswd", "allow_file team.txt",
                 "bogus\x1b[31mdirective x")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "\r" not in done.stderr and "\x07" not in done.stderr
    assert "\\x1b[31m" in done.stderr, done.stderr  # said, but inert
    assert f"{conf_dir / 'team.txt'}:2:" in done.stderr, done.stderr


ENV_LINE = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI-secret-value\n"
SHADOW_LINE = "root:$6$salt$SECRETSHADOWHASHVALUE:19000:0:99999:7:::\n"
TOKEN_LINE = "ghp_secret-value-TOKEN2\n"  # a single word is a valid allow pattern: hosts only
# "NAME value" (red team, round 12): no '=' or '$', but a blank no domain has.
NAMED_LINE = "PASSWORD secret-value-NAMED3\n"


@pytest.mark.parametrize("directive,content", [
    ("allow_file", ENV_LINE), ("allow_file", SHADOW_LINE), ("hosts_file", ENV_LINE),
    ("hosts_file", SHADOW_LINE), ("hosts_file", TOKEN_LINE), ("allow_file", NAMED_LINE),
    ("deny_file", NAMED_LINE),
], ids=["allow-env-file", "allow-shadow-line", "hosts-env-file", "hosts-shadow-line",
        "hosts-bare-token", "allow-named-secret", "deny-named-secret"])
def test_a_wrong_file_named_as_a_list_does_not_have_its_secrets_printed(sluice_bin, conf_dir,
                                                                        directive, content):
    (conf_dir / "secrets").write_text(content)
    conf = write(conf_dir / "sluice.conf", "users users.htpasswd", "allow api.anthropic.com",
                 f"{directive} secrets")

    done = run_cli(sluice_bin, "check", "-c", conf)

    assert_reports(done, f"{conf_dir / 'secrets'}:1:", "right file")
    assert "secret-value" not in done.stderr and "SECRETSHADOW" not in done.stderr
    assert "TOKEN2" not in done.stderr


def test_arguments_and_paths_quoted_on_stderr_are_inert(sluice_bin, tmp_path):
    evil = str(tmp_path / "a\x1b]52;c;aGk=\x07.conf")

    check = run_cli(sluice_bin, "check", "-c", evil)
    usage = run_cli(sluice_bin, "frobnicate\x1b[2J")
    run = run_cli(sluice_bin, "run", "--bogus\x1b[2J", "--", "true")

    for done in (check, usage, run):
        assert done.returncode in (1, 2), done
        assert "\x1b" not in done.stderr and "\x07" not in done.stderr, repr(done.stderr)
    assert "\\x1b]52" in check.stderr, check.stderr

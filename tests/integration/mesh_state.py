# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the lab's cluster and VMs look like after onboard and offboard, for the tests that
run the playbooks (directly, or through ansible-runner the way AWX does)."""
from __future__ import annotations

import re
import time

from kubernetes import client

NS, GROUP, SA = "lab-vms", "lab-app", "lab-app"
LEASE = "meshops-istio-vm"      # the run lock of a workload namespace (mesh_lock)


def lease(api_client, namespace: str):
    """The run lock's Lease in ``namespace``, or None."""
    try:
        return client.CoordinationV1Api(api_client).read_namespaced_lease(LEASE, namespace)
    except client.rest.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def recap(output: str) -> dict:
    """The PLAY RECAP's counts per host; fails when the output has none (the run never got that
    far), so that a check over its hosts cannot pass on an empty dict."""
    counts = {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
              for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", output, re.M)}
    assert counts, "no PLAY RECAP in the output:\n" + output[-3000:]
    return counts


def entries(api_client, namespace: str = NS):
    try:
        return client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "networking.istio.io", "v1", namespace, "workloadentries")["items"]
    except client.rest.ApiException as exc:
        if exc.status == 404:
            return []
        raise


def istio_object(api_client, plural: str, namespace: str, name: str):
    """The Istio object (networking.istio.io/v1 ``plural``) or None when it is not there."""
    try:
        return client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            "networking.istio.io", "v1", namespace, plural, name)
    except client.rest.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def group(api_client, namespace: str = NS, name: str = GROUP):
    return istio_object(api_client, "workloadgroups", namespace, name)


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


def reset_lab_inventory(lab, api_client) -> None:
    """Bring the lab to where inventories/lab starts, whatever ran before (make demo, another test
    file): the workload's namespace gone, VMs 1 and 2 fresh, no bundles or record on the controller."""
    from conftest import LAB_STATE, delete_namespace, forget_bootstrap, fresh_vms
    delete_namespace(api_client, NS)
    forget_bootstrap(*lab.vms, "mesh_vms.managed.json", root=LAB_STATE)
    fresh_vms(*range(1, len(lab.vms) + 1))


def assert_onboarded(lab, api_client, namespace: str = NS, name: str = GROUP, account: str = SA, vms=(1, 2)):
    """Both sides of the lab inventory's workload (or of workload ``name`` in ``namespace``, with
    ServiceAccount ``account``, on lab VMs ``vms``) are in place: WorkloadGroup, auto-registered
    entries, and on each VM the service, the files with their owners and modes, the hosts block,
    and a workload certificate for the workload's SPIFFE ID."""
    wg = group(api_client, namespace, name)
    assert wg["spec"]["template"]["serviceAccount"] == account
    assert wg["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "meshops.istio_vm"
    names = sorted(e["metadata"]["name"] for e in entries(api_client, namespace))
    assert names == sorted(f"{name}-{lab.cfg.vm_ip(n)}-meshlab-net" for n in vms)
    for n in vms:
        assert lab.ssh(n, "systemctl", "is-active", "istio").stdout.strip() == "active"
        assert lab.ssh(n, "systemctl", "is-enabled", "istio").stdout.strip() == "enabled"
        assert lab.ssh(n, "curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}",
                       "http://localhost:15021/healthz/ready").stdout == "200"
        stats = lab.ssh(n, "stat", "-L", "-c", "%n %U %a", "/var/lib/istio/envoy/cluster.env",
                        "/etc/istio/config/mesh", "/var/run/secrets/tokens/istio-token").stdout.split("\n")
        assert stats[:3] == ["/var/lib/istio/envoy/cluster.env root 640",
                             "/etc/istio/config/mesh root 640",
                             "/var/run/secrets/tokens/istio-token istio-proxy 600"]
        # the sidecar's user cannot change what root sources or runs
        for path in ("/var/lib/istio/envoy/cluster.env", "/var/lib/istio/envoy/sidecar.env",
                     "/etc/istio/config/mesh", "/etc/systemd/system/istio.service.d/10-meshops-token.conf"):
            assert lab.ssh(n, "runuser", "-u", "istio-proxy", "--", "sh", "-c", f": >> {path}",
                           check=False).returncode != 0, f"istio-proxy can write {path}"
        for directory in ("/var/lib/istio", "/var/lib/istio/envoy", "/etc/istio/config",
                          "/etc/systemd/system/istio.service.d"):
            assert lab.ssh(n, "runuser", "-u", "istio-proxy", "--", "touch", f"{directory}/.probe",
                           check=False).returncode != 0, f"istio-proxy can create files in {directory}"
        hosts_file = lab.ssh(n, "cat", "/etc/hosts").stdout
        assert hosts_file.count("10.213.0.1 istiod.istio-system.svc") == 1
        san = lab.ssh(n, "python3", "-c", "import ssl; print(ssl._ssl._test_decode_cert("
                      "'/etc/certs/cert-chain.pem')['subjectAltName'])").stdout
        assert f"spiffe://cluster.local/ns/{namespace}/sa/{account}" in san


def interception(lab, n, family: str = "ip") -> list[str]:
    """The VM's ISTIO_* chains and the rules that use them, with either iptables backend, each as
    "table: line" (a chain defined, or a rule appended); IPv4, or IPv6 with family "ip6"."""
    dump = lab.ssh(n, "sh", "-c", f"{family}tables-legacy-save 2>/dev/null; "
                   f"{family}tables-nft-save 2>/dev/null").stdout
    out, table = [], ""
    for line in dump.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif "ISTIO_" in line and line.startswith((":", "-A")):
            out.append(f"{table}: {line.split()[0] if line.startswith(':') else line}")
    return out


# The comment of the inert rule vm_sidecar adds to turn connection tracking on before the first start.
CONNTRACK_MARK = "meshops.istio_vm-conntrack-on"


def assert_offboarded(lab, api_client, namespace: str = NS, name: str = GROUP, vms=(1, 2)):
    """Nothing of the workload is left in the cluster or on any VM."""
    assert group(api_client, namespace, name) is None
    wait("WorkloadEntries gone", lambda: entries(api_client, namespace) == [], timeout=60)
    for n in vms:
        assert lab.ssh(n, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0
        assert lab.ssh(n, "systemctl", "is-active", "istio", check=False).stdout.strip() != "active"
        assert "istiod" not in lab.ssh(n, "cat", "/etc/hosts").stdout
        assert CONNTRACK_MARK not in lab.ssh(n, "iptables-legacy-save").stdout, "the conntrack rule was left"
        assert not interception(lab, n), "interception was left"
        for path in ("/var/lib/istio/envoy/cluster.env", "/etc/istio/config/mesh", "/var/lib/istio/tokens",
                     "/etc/systemd/system/istio.service.d", "/var/run/secrets/tokens", "/var/run/secrets"):
            assert lab.ssh(n, "test", "-e", path, check=False).returncode != 0, path

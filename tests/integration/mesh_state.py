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
    # the sidecar's user cannot change what root sources or runs, nor create files where root reads them
    root_files = ("/var/lib/istio/envoy/cluster.env", "/var/lib/istio/envoy/sidecar.env",
                  "/etc/istio/config/mesh", "/etc/systemd/system/istio.service.d/10-meshops-token.conf")
    root_dirs = ("/var/lib/istio", "/var/lib/istio/envoy", "/etc/istio/config", "/etc/systemd/system/istio.service.d")
    for n in vms:
        active, enabled, ready, stats, *probes, hosts_file, san = lab.ssh_all(
            n, ["systemctl", "is-active", "istio"], ["systemctl", "is-enabled", "istio"],
            ["curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}", "http://localhost:15021/healthz/ready"],
            ["stat", "-L", "-c", "%n %U %a", "/var/lib/istio/envoy/cluster.env", "/etc/istio/config/mesh",
             "/var/run/secrets/tokens/istio-token"],
            *(["runuser", "-u", "istio-proxy", "--", "sh", "-c", f": >> {path}"] for path in root_files),
            *(["runuser", "-u", "istio-proxy", "--", "touch", f"{directory}/.probe"] for directory in root_dirs),
            ["cat", "/etc/hosts"],
            ["python3", "-c", "import ssl; print(ssl._ssl._test_decode_cert('/etc/certs/cert-chain.pem')['subjectAltName'])"])
        assert (active.returncode, active.stdout.strip()) == (0, "active"), f"VM {n}: {active.stdout}"
        assert (enabled.returncode, enabled.stdout.strip()) == (0, "enabled"), f"VM {n}: {enabled.stdout}"
        assert (ready.returncode, ready.stdout) == (0, "200"), f"VM {n}: readiness {ready.stdout}"
        assert stats.returncode == 0 and stats.stdout.split("\n")[:3] == [
            "/var/lib/istio/envoy/cluster.env root 640",
            "/etc/istio/config/mesh root 640",
            "/var/run/secrets/tokens/istio-token istio-proxy 600"], f"VM {n}: {stats.stdout}"
        for what, probe in zip(root_files + root_dirs, probes, strict=True):
            assert probe.returncode != 0, f"VM {n}: istio-proxy can write {what}" if what in root_files \
                else f"VM {n}: istio-proxy can create files in {what}"
        assert hosts_file.returncode == 0 and hosts_file.stdout.count("10.213.0.1 istiod.istio-system.svc") == 1
        assert san.returncode == 0 and f"spiffe://cluster.local/ns/{namespace}/sa/{account}" in san.stdout, san.stdout


# Both iptables backends' rules of one family (ip or ip6), for interception_rules.
_SAVE_RULES = "{family}tables-legacy-save 2>/dev/null; {family}tables-nft-save 2>/dev/null"


def interception(lab, n, family: str = "ip") -> list[str]:
    """The VM's ISTIO_* chains and the rules that use them, with either iptables backend, each as
    "table: line" (a chain defined, or a rule appended); IPv4, or IPv6 with family "ip6"."""
    return interception_rules(lab.ssh(n, "sh", "-c", _SAVE_RULES.format(family=family)).stdout)


def interception_rules(dump: str) -> list[str]:
    """The ISTIO_* lines of iptables-save output (interception)."""
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
    gone = ("/var/lib/istio/envoy/cluster.env", "/etc/istio/config/mesh", "/var/lib/istio/tokens",
            "/etc/systemd/system/istio.service.d", "/var/run/secrets/tokens", "/var/run/secrets")
    for n in vms:
        package, active, hosts_file, legacy, rules, *paths = lab.ssh_all(
            n, ["dpkg", "-s", "istio-sidecar"], ["systemctl", "is-active", "istio"], ["cat", "/etc/hosts"],
            ["iptables-legacy-save"], ["sh", "-c", _SAVE_RULES.format(family="ip")],
            *(["test", "-e", path] for path in gone))
        assert package.returncode != 0, f"VM {n}: istio-sidecar is installed"
        assert active.stdout.strip() != "active", f"VM {n}: the sidecar runs"
        assert hosts_file.returncode == 0 and "istiod" not in hosts_file.stdout, hosts_file.stdout
        assert legacy.returncode == 0, f"VM {n}: iptables-legacy-save failed"
        assert CONNTRACK_MARK not in legacy.stdout, "the conntrack rule was left"
        assert rules.returncode == 0, f"VM {n}: the rules could not be read"
        assert not interception_rules(rules.stdout), "interception was left"
        for path, probe in zip(gone, paths, strict=True):
            assert probe.returncode != 0, path

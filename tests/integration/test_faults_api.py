# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Faults of the API server, without mocks: 429 and 503 answers in front of the real
kube-apiserver (a proxy), and the API gone (a TLS proxy that goes down after a chosen request,
the real API server keeps running) while vm_bootstrap writes the bundles and while prune deletes
entries. Each run fails clearly or succeeds; a re-run converges."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from ansible_run import cluster_side_inventory, run_module, run_playbook
from conftest import delete_namespace
from faults import CutProxy, FaultProxy
from mesh_state import istio_object


def entry(api_client, namespace, name):
    return istio_object(api_client, "workloadentries", namespace, name)


def test_503_then_the_api_server_the_module_retries_and_succeeds(lab, api_client, namespace):
    with FaultProxy(lab.cfg, fail_first=2, status=503) as proxy:
        started = time.monotonic()
        r = run_module(lab.kubeconfig, "workload_entry", {"name": "retried", "namespace": namespace,
                                                          "address": "10.213.0.90", "host": proxy.url})
        took = time.monotonic() - started
    print(f"2 x 503 then success: {took:.1f} s, requests {proxy.requests}")
    assert not r["failed"], r.get("msg")
    assert r["changed"]
    assert proxy.injected == 2 and proxy.requests[2][0] == proxy.requests[0][0]   # the same call again
    assert {status for _m, _p, status in proxy.forwarded} <= {200, 201, 404}   # 404: the entry's first read
    assert [m for m, _p, status in proxy.forwarded if status in (200, 201)][-1] == "PATCH"   # the apply
    assert entry(api_client, namespace, "retried")["spec"]["address"] == "10.213.0.90"


def test_429_honours_retry_after_and_gives_up_at_the_bound(lab, api_client, namespace):
    with FaultProxy(lab.cfg, fail_first=100, status=429, retry_after="1") as proxy:
        started = time.monotonic()
        r = run_module(lab.kubeconfig, "workload_entry", {"name": "refused", "namespace": namespace,
                                                          "address": "10.213.0.91", "host": proxy.url})
        took = time.monotonic() - started
    print(f"429 on every request: gave up after {took:.1f} s, {len(proxy.requests)} requests")
    assert r["failed"]
    assert len(proxy.requests) == 5 and proxy.forwarded == [], "the bound is 5 attempts"
    assert r["msg"].startswith("Failed to ")
    assert f"WorkloadEntry {namespace}/refused" in r["msg"]
    assert "(gave up after 5 attempts in 4." in r["msg"], r["msg"]          # 4 x Retry-After: 1
    assert r["msg"].endswith("; last: 429 Too Many Requests)"), r["msg"]
    assert entry(api_client, namespace, "refused") is None


# -- the API goes away in the middle of a run ----------------------------------------------------

HOSTS = ["fvm1", "fvm2", "fvm3", "fvm4"]
BUNDLE_FILES = {"cluster.env", "mesh.yaml", "istio-token", "root-cert.pem", "hosts"}
PLAY = [{"name": "Cluster side only (the VMs do not exist)", "hosts": "fault_vms", "gather_facts": False,
         "roles": [{"role": "meshops.istio_vm.mesh_workload"}]}]


@pytest.fixture(scope="module")
def cluster_side(lab, api_client, tmp_path_factory):
    """A workload of four static VMs that exist only in the inventory: mesh_workload runs on the
    controller, so the cluster side needs no VM. Its own namespace, bundles and record."""
    root = tmp_path_factory.mktemp("apidown")
    namespace = f"t-apidown-{int(time.time()) % 100000}"
    (root / "play.yml").write_text(yaml.safe_dump(PLAY))

    def inventory(hosts, name="hosts.yml", kubeconfig=lab.kubeconfig):
        return cluster_side_inventory(
            lab, root / name, "fault_vms", {h: {"ansible_host": f"10.213.0.{200 + i}"} for i, h in enumerate(HOSTS)
                                            if h in hosts},
            namespace, "apidown", root / "bundles", kubeconfig=kubeconfig)

    yield {"root": root, "namespace": namespace, "inventory": inventory, "play": root / "play.yml"}
    delete_namespace(api_client, namespace)


def bundles(root: Path) -> dict:
    return {h: {f.name: f.read_bytes() for f in (root / "bundles" / h).iterdir()}
            for h in HOSTS if (root / "bundles" / h).is_dir()}


def token_request(method: str, path: str) -> bool:
    """A TokenRequest: POST .../serviceaccounts/<sa>/token."""
    return method == "POST" and "/serviceaccounts/" in path and path.split("?")[0].endswith("/token")


def entry_delete(method: str, path: str) -> bool:
    return method == "DELETE" and "/workloadentries/" in path


def test_apiserver_down_while_writing_bundles_leaves_each_bundle_whole(lab, api_client, cluster_side):
    root, inv = cluster_side["root"], cluster_side["inventory"](HOSTS)
    run_playbook(inv, lab.kubeconfig, str(cluster_side["play"]))
    before = bundles(root)
    assert sorted(before) == HOSTS and all(set(b) >= BUNDLE_FILES for b in before.values())

    # One VM at a time (-f 1), each with a new token; the API goes away once fvm1's token is
    # answered, its last request: fvm1's bundle is written, then no VM's request gets through.
    with CutProxy(lab.cfg, lab.kubeconfig, cut_after=token_request) as proxy:
        res = run_playbook(cluster_side["inventory"](HOSTS, "via-proxy.yml", proxy.kubeconfig), proxy.kubeconfig,
                           str(cluster_side["play"]), "-f", "1", "-e", "mesh_workload_rotate_token=true", check=False)
    after = bundles(root)
    output = res.stdout + res.stderr
    print(f"the API went away after {proxy.cut}, request {len(proxy.requests)} of the run")
    assert proxy.cut is not None and token_request(*proxy.cut[:2]) and proxy.cut[2] == 201, proxy.requests
    assert res.returncode != 0
    assert f"cannot reach the Kubernetes API at {proxy.url}" in output, output[-4000:]
    assert "gave up after" in output
    failed = [h for h in HOSTS if f"fatal: [{h}" in output]
    assert "fvm1" not in failed and len(failed) >= 2, output[-4000:]
    for host in HOSTS:
        # a failed VM keeps its old bundle byte for byte; a written one is whole, with a new token
        if host in failed:
            assert after[host] == before[host], f"{host}: a failed run changed the bundle"
        else:
            assert set(after[host]) == set(before[host]) and after[host]["istio-token"] != before[host]["istio-token"]
    assert not [f for b in after.values() for f in b if f.startswith(".tmp-")], "temporary files left behind"

    res = run_playbook(inv, lab.kubeconfig, str(cluster_side["play"]))
    assert "failed=0" in res.stdout
    again = bundles(root)
    assert all(set(b) >= BUNDLE_FILES and b["istio-token"].count(b".") == 2 for b in again.values())


def test_apiserver_down_during_prune_then_a_rerun_completes_it(lab, api_client, cluster_side):
    root, ns = cluster_side["root"], cluster_side["namespace"]
    run_playbook(cluster_side["inventory"](HOSTS), lab.kubeconfig, str(cluster_side["play"]))
    assert all(entry(api_client, ns, h) for h in HOSTS)

    # fvm2..fvm4 leave the inventory; prune deletes their entries one by one, and the API goes
    # away once the first delete is answered.
    with CutProxy(lab.cfg, lab.kubeconfig, cut_after=entry_delete) as proxy:
        res = run_playbook(cluster_side["inventory"](["fvm1"], "left-via-proxy.yml", proxy.kubeconfig),
                           proxy.kubeconfig, str(cluster_side["play"]), "-e", "mesh_workload_prune=true", check=False)
    output = res.stdout + res.stderr
    print(f"the API went away after {proxy.cut}, request {len(proxy.requests)} of the run")
    assert proxy.cut is not None and entry_delete(*proxy.cut[:2]) and proxy.cut[2] == 200, proxy.requests
    assert res.returncode != 0
    assert f"cannot reach the Kubernetes API at {proxy.url}" in output, output[-4000:]
    left = [h for h in HOSTS[1:] if entry(api_client, ns, h)]
    assert len(left) == len(HOSTS) - 2, f"the API went away after the first delete, yet {left} are left"
    record = yaml.safe_load((root / "bundles" / "managed.json").read_text())
    assert sorted(r["host"] for r in record) == HOSTS, "the record forgot VMs whose prune did not finish"
    assert all((root / "bundles" / h).is_dir() for h in left), "a bundle went before its entry"

    inv = cluster_side["inventory"](["fvm1"], "left.yml")
    res = run_playbook(inv, lab.kubeconfig, str(cluster_side["play"]), "-e", "mesh_workload_prune=true")
    assert "failed=0" in res.stdout
    assert entry(api_client, ns, "fvm1") and not [h for h in HOSTS[1:] if entry(api_client, ns, h)]
    assert sorted(bundles(root)) == ["fvm1"]
    assert [r["host"] for r in yaml.safe_load((root / "bundles" / "managed.json").read_text())] == ["fvm1"]

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A corpus of bad inventories (tests/integration/bad_inventories/*.yml), each an operator's
mistake on the lab inventory: onboard.yml must stop in its first play, naming the host and the
variable, before any object is written, any token minted or any VM touched.

Each case file holds the mistake (comment), the host and the variable the failure must name, a
fragment of the message, and the overrides: ``group_vars`` (group mesh_vms), ``host_vars`` (per
host), ``hosts`` (extra hosts of mesh_vms) and ``unset`` (variables removed from the lab's
group_vars/all.yml). The cases change nothing, so they run concurrently; the cluster, the VMs and
the controller's bootstrap directory are compared once before and once after the whole corpus.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from ansible_run import run_playbook
from conftest import LAB_STATE, REPO
from mesh_state import NS, recap, reset_lab_inventory, wait

CORPUS = Path(__file__).parent / "bad_inventories"
CASES = sorted(CORPUS.glob("*.yml"))
LAB_INVENTORY = REPO / "inventories" / "lab"
WORKERS = 3
# Kinds a run that got past the first play would write.
ISTIO_KINDS = ("workloadgroups", "workloadentries", "serviceentries", "sidecars")
VM_PATHS = ("/var/lib/istio", "/etc/istio", "/etc/certs", "/var/cache/meshops-istio-vm",
            "/etc/systemd/system/istio.service.d")


def load(path: Path) -> dict:
    case = yaml.safe_load(path.read_text())
    assert {"host", "variable", "message"} <= set(case), f"{path.name}: needs host, variable and message"
    return case


def write_inventory(case: dict, directory: Path) -> Path:
    """The lab inventory with the case's overrides; the lab state (.lab/) by absolute path."""
    hosts = yaml.safe_load((LAB_INVENTORY / "hosts.yml").read_text())
    hosts["all"]["vars"]["meshlab_state"] = str((REPO / ".lab").resolve())
    members = hosts["all"]["children"]["mesh_vms"]["hosts"]
    for host, variables in (case.get("hosts") or {}).items():
        members[host] = dict(variables or {})
    for host, variables in (case.get("host_vars") or {}).items():
        members.setdefault(host, {}).update(variables)
    group_vars = directory / "group_vars"
    group_vars.mkdir(parents=True)
    common = yaml.safe_load((LAB_INVENTORY / "group_vars" / "all.yml").read_text())
    for name in case.get("unset") or []:
        del common[name]
    (group_vars / "all.yml").write_text(yaml.safe_dump(common, sort_keys=False))
    (group_vars / "mesh_vms.yml").write_text(yaml.safe_dump(case.get("group_vars") or {}, sort_keys=False))
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return directory


def failures(output: str) -> list[str]:
    """The text of each 'fatal: [host...' report, on one line."""
    blocks = re.split(r"\n(?=fatal: \[|failed: \[|TASK \[|PLAY |\n)", output)
    return [" ".join(block.split()) for block in blocks if block.startswith(("fatal: [", "failed: ["))]


def cluster_snapshot(api_client) -> dict:
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    snapshot = {"namespaces": sorted(ns.metadata.name for ns in core.list_namespace().items)}
    for kind in ISTIO_KINDS:
        items = custom.list_cluster_custom_object("networking.istio.io", "v1", kind)["items"]
        snapshot[kind] = sorted((o["metadata"]["namespace"], o["metadata"]["name"], o["metadata"]["resourceVersion"])
                                for o in items)
    snapshot["services"] = sorted((s.metadata.namespace, s.metadata.name, s.metadata.resource_version)
                                  for s in core.list_service_for_all_namespaces().items)
    snapshot["serviceaccounts"] = sorted((s.metadata.namespace, s.metadata.name) for s in
                                         core.list_service_account_for_all_namespaces().items)
    return snapshot


def vm_snapshot(lab) -> dict:
    state = {}
    for n in (1, 2):
        probe = " ; ".join([f"test -e {p} && echo {p}" for p in VM_PATHS]
                           + ["dpkg-query -W -f='${Status}' istio-sidecar 2>/dev/null; echo",
                              "systemctl is-active istio.service 2>/dev/null; true", "sha256sum /etc/hosts"])
        # a VM that does not answer yet (just booted) gives no state to compare: ask until it does
        deadline = time.monotonic() + 60
        res = lab.ssh(n, "sh", "-c", probe, check=False)
        while res.returncode != 0 or "/etc/hosts" not in res.stdout:
            assert time.monotonic() < deadline, f"VM {n} does not answer over SSH: {res.stderr[-500:]}"
            time.sleep(0.5)
            res = lab.ssh(n, "sh", "-c", probe, check=False)
        state[n] = res.stdout
    return state


def controller_snapshot(root: Path = LAB_STATE) -> list:
    """Every file under ``root`` (bundles, tokens, the state record) with size and mtime; by default
    where the lab inventory keeps them."""
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*")) if root.exists() else []


def run_case(lab, path: Path) -> dict:
    case = load(path)
    directory = Path(tempfile.mkdtemp(prefix=f"bad-inventory-{path.stem}-"))
    try:
        started = time.monotonic()
        res = run_playbook(write_inventory(case, directory / "inventory"), lab.kubeconfig, "onboard.yml",
                           check=False)
        # the case's own inventory directory is where the defaults would put bundles and the record
        return {"case": case, "rc": res.returncode, "stdout": res.stdout, "stderr": res.stderr,
                "seconds": time.monotonic() - started,
                "written": controller_snapshot(directory / "inventory" / ".meshops-istio-vm")}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus(lab, api_client):
    """Run every case (a few at a time), between two snapshots of the cluster, VMs and controller."""
    reset_lab_inventory(lab, api_client)
    # A namespace an earlier test file deleted (fixtures do not wait for it) would vanish between
    # the two snapshots: wait for the cluster to settle first.
    core = client.CoreV1Api(api_client)
    wait("no namespace terminating", lambda: all(ns.status.phase != "Terminating"
                                                 for ns in core.list_namespace().items), 120)
    before = (cluster_snapshot(api_client), vm_snapshot(lab), controller_snapshot())
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = dict(zip((p.name for p in CASES), pool.map(lambda p: run_case(lab, p), CASES)))
    took = time.monotonic() - started
    print(f"\n{len(CASES)} bad inventories in {took:.0f} s ({WORKERS} at a time; slowest "
          f"{max(r['seconds'] for r in results.values()):.1f} s)")
    after = (cluster_snapshot(api_client), vm_snapshot(lab), controller_snapshot())
    yield {"results": results, "before": before, "after": after}
    if after != before:  # a case got through: leave the lab as the next test file expects it
        reset_lab_inventory(lab, api_client)


def test_corpus_is_large_and_distinct():
    assert len(CASES) >= 60
    overrides = [yaml.safe_dump({k: v for k, v in load(p).items() if k in ("group_vars", "host_vars", "hosts", "unset")},
                                sort_keys=True) for p in CASES]
    assert len(set(overrides)) == len(overrides), "two cases make the same mistake"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_inventory_fails_in_the_first_play(corpus, path):
    result = corpus["results"][path.name]
    case, output = result["case"], result["stdout"]
    assert result["rc"] != 0, output[-3000:]
    assert "PLAY [Validate the inventory of the mesh VMs]" in output, output[-3000:] + result["stderr"][-2000:]
    assert "PLAY [Create the mesh resources" not in output, "got past the first play:\n" + output[-3000:]
    assert all(counts.get("changed", 0) == 0 for counts in recap(output).values()), output[-3000:]
    reports = failures(output)
    named = [r for r in reports if r.startswith((f"fatal: [{case['host']}", f"failed: [{case['host']}"))
             and case["variable"] in r and " ".join(case["message"].split()) in r]
    assert named, (f"no failure of {case['host']} names {case['variable']} with {case['message']!r}:\n"
                   + "\n".join(reports)[-3000:])


def test_cluster_unchanged(corpus):
    assert corpus["after"][0] == corpus["before"][0]
    assert NS not in corpus["after"][0]["namespaces"]


def test_vms_unchanged(corpus):
    assert corpus["after"][1] == corpus["before"][1]
    for n, state in corpus["after"][1].items():
        assert "/var/lib/istio" not in state and "/etc/istio" not in state, f"VM {n}: {state}"
        assert "install ok installed" not in state, f"VM {n} has istio-sidecar"


def test_no_bundle_or_token_on_the_controller(corpus):
    assert corpus["after"][2] == corpus["before"][2]
    assert not [p for p in corpus["after"][2] if p[0].endswith("istio-token")]
    written = {name: r["written"] for name, r in corpus["results"].items() if r["written"]}
    assert written == {}, "bundles or a record beside a bad inventory"
    assert not Path("/tmp/meshops-corpus-bundle").exists()

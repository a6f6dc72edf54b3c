# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The playbooks run as AWX runs them: ansible-runner, AWX's private data directory, the
cluster credential in the environment, the machine credential as an ssh key, and job slicing.
Each test brings the lab to the state it needs (a clean start, or the unsliced job's end state from
the fixture ``unsliced``); the file leaves the lab clean."""
from __future__ import annotations

import hashlib

import pytest
from kubernetes import client

from awx_runner import run, slices
from mesh_state import GROUP, NS, assert_offboarded, assert_onboarded, entries, group, reset_lab_inventory, wait
from ansible_run import run_module

CLUSTER_TASK = "Stop when the cluster credential or the mesh cannot be read"


@pytest.fixture(scope="module", autouse=True)
def clean_start(lab, api_client):
    reset_lab_inventory(lab, api_client)


def snapshot(lab, api_client) -> dict:
    """What an onboard run leaves behind, on both sides (tokens left out: each run may renew them)."""
    wait("both VMs registered", lambda: len(entries(api_client)) == len(lab.vms), timeout=90)
    wg = group(api_client)
    state = {
        "workload_group": {"labels": wg["metadata"].get("labels"), "spec": wg["spec"]},
        "entries": sorted((e["metadata"]["name"], e["spec"]["address"], tuple(sorted(e["spec"]["labels"].items())),
                           e["spec"]["serviceAccount"], e["spec"].get("network")) for e in entries(api_client)),
        "managers": sorted({m["manager"] for m in wg["metadata"]["managedFields"]}),
    }
    for n in range(1, len(lab.vms) + 1):
        files = lab.ssh(n, "cat", "/var/lib/istio/envoy/cluster.env", "/etc/istio/config/mesh",
                        "/etc/certs/root-cert.pem").stdout
        state[lab.cfg.vm_name(n)] = {
            "files": hashlib.sha256(files.encode()).hexdigest(),
            "service": lab.ssh(n, "systemctl", "is-active", "istio", "is-enabled", "istio",
                               check=False).stdout.split(),
            "hosts_block": [line for line in lab.ssh(n, "cat", "/etc/hosts").stdout.splitlines() if "istiod" in line],
        }
    return state


@pytest.fixture(scope="module")
def unsliced(lab, api_client):
    """The onboard job, unsliced, once per module: its result and the end state it leaves, which
    the sliced jobs must reach too."""
    res = run(lab, "onboard.yml")
    assert res.rc == 0 and res.status == "successful", res.stdout[-5000:]
    return res, snapshot(lab, api_client)


@pytest.fixture
def onboarded(lab, api_client):
    """The lab onboarded by the job (as the tests before leave it in file order; run alone, the job
    runs here)."""
    if group(api_client) is None or len(entries(api_client)) != len(lab.vms):
        res = run(lab, "onboard.yml")
        assert res.rc == 0 and res.status == "successful", res.stdout[-5000:]
    assert group(api_client) is not None


def labelled_entry(lab, name, address, group, namespace=NS):
    """A static WorkloadEntry labelled as inventory group ``group``'s, the way onboard labels them."""
    r = run_module(lab.kubeconfig, "workload_entry", {
        "name": name, "namespace": namespace, "address": address, "labels": {"app": GROUP}, "service_account": GROUP,
        "metadata_labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm", "istio-vm.meshops.io/group": group}})
    assert not r.get("failed"), r.get("msg")


def delete_entries(api_client, *refs):
    """The WorkloadEntries (namespace, name) a test made, gone; those already gone are fine."""
    objects = client.CustomObjectsApi(api_client)
    for namespace, name in refs:
        try:
            objects.delete_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def test_a_job_without_the_cluster_credential_fails_in_its_first_task(lab, api_client):
    res = run(lab, "onboard.yml", credential=False)
    assert res.rc != 0 and res.status == "failed"
    task, msg = res.first_failed_task()
    assert task == CLUSTER_TASK, (task, msg)
    assert msg.startswith("No cluster credential") and "K8S_AUTH_KUBECONFIG" in msg
    assert res.changed_tasks() == [] and group(api_client) is None


def test_a_job_with_a_credential_for_another_cluster_fails_in_its_first_task(lab, api_client):
    res = run(lab, "onboard.yml", extravars={"mesh_workload_cluster_id": "prod-eu1"})
    assert res.rc != 0
    task, msg = res.first_failed_task()
    assert task == CLUSTER_TASK, (task, msg)
    assert "wrong cluster" in msg and "'meshlab'" in msg and "'prod-eu1'" in msg
    assert res.changed_tasks() == [] and group(api_client) is None


def test_onboard_job(lab, api_client, unsliced):
    assert unsliced[0].rc == 0
    assert_onboarded(lab, api_client)
    # The same job again changes nothing in the cluster or on the VMs (only the job's own
    # bundle directory is written anew, and the VMs keep their still valid tokens).
    tokens = [lab.ssh(n, "sha256sum", "/var/lib/istio/tokens/istio-token").stdout for n in (1, 2)]
    res = run(lab, "onboard.yml")
    assert res.rc == 0 and res.changed_tasks(job_files=False) == [], res.changed_tasks()
    assert [lab.ssh(n, "sha256sum", "/var/lib/istio/tokens/istio-token").stdout for n in (1, 2)] == tokens


def test_offboard_job(lab, api_client, onboarded):
    res = run(lab, "offboard.yml")
    assert res.rc == 0 and res.status == "successful", res.stdout[-5000:]
    assert_offboarded(lab, api_client)


def test_sliced_onboard_converges_to_the_unsliced_state(lab, api_client, unsliced):
    """Two slice jobs, each with only its hosts in the inventory (AWX slicing), one after the
    other and then the first again: the shared WorkloadGroup is applied by each slice without
    a change once it is there, and the end state equals the unsliced job's."""
    _result, unsliced_state = unsliced
    if group(api_client) is not None or entries(api_client):
        reset_lab_inventory(lab, api_client)  # the slices start from a lab without the group
    first, second = slices(lab.vms, 2)
    workflow = {"awx_workflow_job_id": 99, "awx_workflow_job_name": "mesh onboard.yml"}
    for part in (first, second):
        res = run(lab, "onboard.yml", hosts=part, extravars=workflow)
        assert res.rc == 0, res.stdout[-5000:]
    wg_version = group(api_client)["metadata"]["resourceVersion"]
    res = run(lab, "onboard.yml", hosts=first, extravars=workflow)
    assert res.rc == 0 and res.changed_tasks(job_files=False) == [], res.changed_tasks()
    assert group(api_client)["metadata"]["resourceVersion"] == wg_version, "the WorkloadGroup flapped"
    assert snapshot(lab, api_client) == unsliced_state


def test_prune_in_a_slice_is_refused_and_deletes_nothing(lab, api_client, onboarded):
    # A static entry of a VM of the other slice, labelled as this group's.
    labelled_entry(lab, "vm-of-slice-2", "10.213.0.200", "mesh_vms")
    try:
        first = slices(lab.vms, 2)[0]
        res = run(lab, "onboard.yml", hosts=first, extravars={
            "awx_workflow_job_id": 99, "mesh_workload_prune": True})
        assert res.rc != 0
        task, msg = res.first_failed_task()
        assert "refused in an AWX workflow or sliced job" in msg, (task, msg)
        assert res.changed_tasks() == []
        assert "vm-of-slice-2" in [e["metadata"]["name"] for e in entries(api_client)]
    finally:
        delete_entries(api_client, (NS, "vm-of-slice-2"))


def test_prune_in_the_whole_inventory_deletes_only_what_left_this_group(lab, api_client, onboarded):
    # one entry of this group whose VM left the inventory, one of another inventory group, and one
    # of another inventory's group of the same name, in a namespace none of this inventory's VMs uses
    made = ((NS, "vm-of-slice-2"), (NS, "other-group-vm"), ("default", "other-inventory-vm"))
    labelled_entry(lab, "vm-of-slice-2", "10.213.0.200", "mesh_vms")
    labelled_entry(lab, "other-group-vm", "10.213.0.201", "db_vms")
    labelled_entry(lab, "other-inventory-vm", "10.213.0.202", "mesh_vms", namespace="default")
    try:
        res = run(lab, "onboard.yml", extravars={"mesh_workload_prune": True})
        assert res.rc == 0, res.stdout[-5000:]
        names = [e["metadata"]["name"] for e in entries(api_client)]
        assert "vm-of-slice-2" not in names, "prune kept an entry whose VM left the group"
        assert "other-group-vm" in names, "prune deleted an entry of another inventory group"
        other = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "networking.istio.io", "v1", "default", "workloadentries")
        assert [e["metadata"]["name"] for e in other["items"]] == ["other-inventory-vm"], \
            "prune deleted another inventory's entry"
        assert sorted(n for n in names if n.startswith(GROUP)) == sorted(
            f"{GROUP}-10.213.0.{10 + n}-meshlab-net" for n in range(1, len(lab.vms) + 1))
    finally:
        delete_entries(api_client, *made)


def test_sliced_offboard_leaves_the_lab_clean(lab, api_client, onboarded):
    workflow = {"awx_workflow_job_id": 100}
    for part in slices(lab.vms, 2):
        res = run(lab, "offboard.yml", hosts=part, extravars=workflow)
        assert res.rc == 0, res.stdout[-5000:]
    assert_offboarded(lab, api_client)

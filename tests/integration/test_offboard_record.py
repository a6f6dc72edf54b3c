# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Offboarding and the record of what the group manages (mesh_workload_state_file), cluster side only
(the VM exists only in the inventory; mesh_workload runs on the controller): a VM that moved to another
namespace without prune leaves its older entry in the record; offboarding removes the VM as it is now
and keeps that older record, so that a later prune still finds and deletes the older entry."""
from __future__ import annotations

import json
import time

import pytest
import yaml

from ansible_run import cluster_side_inventory, run_playbook
from conftest import delete_namespace
from mesh_state import istio_object

PLAY = [{"name": "Cluster side only (the VM does not exist)", "hosts": "record_vms", "gather_facts": False,
         "roles": [{"role": "meshops.istio_vm.mesh_workload"}]}]


@pytest.fixture
def moved(lab, api_client, tmp_path):
    suffix = int(time.time()) % 100000
    old, new = f"t-rec-old-{suffix}", f"t-rec-new-{suffix}"
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAY))

    def inventory(namespace):
        return cluster_side_inventory(lab, tmp_path / f"{namespace}.yml", "record_vms",
                                      {"rvm1": {"ansible_host": "10.213.0.230"}}, namespace, "rec", tmp_path / "bundles")

    yield {"old": old, "new": new, "inventory": inventory, "play": str(tmp_path / "play.yml"),
           "record": tmp_path / "bundles" / "managed.json"}
    for namespace in (old, new):
        delete_namespace(api_client, namespace)


def test_offboarding_keeps_the_record_of_an_older_entry_for_prune(lab, api_client, moved):
    play, record = moved["play"], moved["record"]
    run_playbook(moved["inventory"](moved["old"]), lab.kubeconfig, play)
    run_playbook(moved["inventory"](moved["new"]), lab.kubeconfig, play)    # moved, without prune
    assert istio_object(api_client, "workloadentries", moved["old"], "rvm1"), "the older entry should stay (no prune)"
    assert sorted(r["namespace"] for r in json.loads(record.read_text())) == sorted([moved["old"], moved["new"]])

    res = run_playbook(moved["inventory"](moved["new"]), lab.kubeconfig, play, "-e", "mesh_workload_state=absent")
    assert not istio_object(api_client, "workloadentries", moved["new"], "rvm1")
    assert [r["namespace"] for r in json.loads(record.read_text())] == [moved["old"]], "the older record was lost"
    assert f"rvm1, WorkloadEntry {moved['old']}/rvm1" in res.stdout and "mesh_workload_prune=true" in res.stdout

    # prune, from the VM's namespace now: only the record leads it to the older namespace
    run_playbook(moved["inventory"](moved["new"]), lab.kubeconfig, play, "-e", "mesh_workload_prune=true")
    assert not istio_object(api_client, "workloadentries", moved["old"], "rvm1"), "prune did not find the older entry"
    assert [r["namespace"] for r in json.loads(record.read_text())] == [moved["new"]]


def test_offboarding_a_vm_switched_to_auto_registration_deletes_its_static_entry(lab, api_client, moved):
    """Onboarded static, then the inventory switches the VM to auto-registration: offboarding deletes the
    static entry the record names (the settings no longer list it) and forgets it only then."""
    play, record, inventory = moved["play"], moved["record"], moved["inventory"](moved["old"])
    run_playbook(inventory, lab.kubeconfig, play)
    assert istio_object(api_client, "workloadentries", moved["old"], "rvm1")
    run_playbook(inventory, lab.kubeconfig, play, "-e", "mesh_workload_state=absent", "-e", "mesh_workload_mode=autoregister")
    assert not istio_object(api_client, "workloadentries", moved["old"], "rvm1"), "the static entry was left"
    assert json.loads(record.read_text()) == []


def test_prune_deletes_the_older_bundle_of_a_vm_whose_bundle_directory_changed(lab, api_client, moved, tmp_path):
    """The VM stays in the group, its mesh_workload_bootstrap_dir changes: prune deletes the older directory,
    which the record written after it no longer names (it would be lost otherwise)."""
    play, record, inventory = moved["play"], moved["record"], moved["inventory"](moved["old"])
    older, newer = tmp_path / "bundles" / "rvm1", tmp_path / "elsewhere" / "rvm1"
    run_playbook(inventory, lab.kubeconfig, play)
    assert (older / "cluster.env").is_file()
    run_playbook(inventory, lab.kubeconfig, play, "-e", f"mesh_workload_bootstrap_dir={newer}", "-e",
                 "mesh_workload_prune=true")
    assert (newer / "cluster.env").is_file() and not older.exists(), "the older bundle was left"
    assert [r["bootstrap_dir"] for r in json.loads(record.read_text())] == [str(newer)]

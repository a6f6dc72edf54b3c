# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""prune_plan: the static WorkloadEntries and bundles of VMs that left the inventory."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.prune_plan import FilterModule

prune_plan = FilterModule().filters()["prune_plan"]
BOOTSTRAP = "/work/main/playbooks/../.bootstrap"


def vm(host, mode="static", namespace="ns", entry=None, bootstrap_dir=None):
    return {"host": host, "mode": mode, "namespace": namespace, "entry_key": "%s/%s" % (namespace, entry or host),
            "bootstrap_dir": bootstrap_dir or "%s/%s" % (BOOTSTRAP, host)}


def record(host, bootstrap_dir=None, namespace="ns", entry=None):
    return {"host": host, "bootstrap_dir": bootstrap_dir or "%s/%s" % (BOOTSTRAP, host), "namespace": namespace,
            "entry_ref": {"name": entry or host, "namespace": namespace}}


def listed(*keys):
    return [{"namespace": key.split("/")[0], "name": key.split("/")[1], "address": "10.0.0.1"} for key in keys]


def test_nothing_left():
    vms = [vm("vm1"), vm("vm2")]
    assert prune_plan(vms, [record("vm1"), record("vm2")], ["vm1", "vm2"], listed("ns/vm1", "ns/vm2")) == {
        "entries": [], "bundles": []}


def test_a_vm_that_left_loses_its_entry_and_bundle():
    plan = prune_plan([vm("vm1")], [record("vm1"), record("vm2"), record("vm2")], ["vm1"], listed("ns/vm1", "ns/vm2"))
    assert plan == {"entries": [{"namespace": "ns", "name": "vm2"}], "bundles": [BOOTSTRAP + "/vm2"]}


@pytest.mark.parametrize("vms,entries", [
    ([vm("vm1", entry="vm1-new")], [{"namespace": "ns", "name": "vm1"}]),  # renamed
    ([vm("vm1", namespace="other")], [{"namespace": "ns", "name": "vm1"}]),  # moved to another namespace
    ([vm("vm1", mode="autoregister")], [{"namespace": "ns", "name": "vm1"}]),  # switched to auto-registration
    ([vm("vm1")], []),
])
def test_entries_of_vms_that_stayed_but_changed(vms, entries):
    assert prune_plan(vms, [record("vm1")], ["vm1"], listed("ns/vm1"))["entries"] == entries


def test_another_inventorys_entries_stay():
    """Another inventory's group has the same name (mesh_vms): its entries carry the same label. Only
    an entry in a namespace of this group's VMs, or one its record names, is this inventory's."""
    listing = listed("ns/vm2", "team-b/b-vm1", "old/vm3")
    plan = prune_plan([vm("vm1")], [record("vm1"), record("vm3", namespace="old")], ["vm1"], listing)
    assert plan["entries"] == [{"namespace": "ns", "name": "vm2"}, {"namespace": "old", "name": "vm3"}]


def test_without_a_record_an_entry_in_a_namespace_no_vm_uses_stays():
    assert prune_plan([vm("vm1")], [], ["vm1"], listed("gone/vm2", "ns/vm2"))["entries"] == [
        {"namespace": "ns", "name": "vm2"}]


@pytest.mark.parametrize("path", ["/srv/mesh", "/srv/mesh/", "/srv"])
def test_a_bundle_that_holds_a_vms_bundle_stays(path):
    """vm2 left; its recorded directory holds vm1's: deleting it would delete vm1's bundle."""
    assert prune_plan([vm("vm1", bootstrap_dir="/srv/mesh/vm1")], [record("vm2", path)], ["vm1"])["bundles"] == []


def test_a_bundle_beside_or_inside_a_vms_bundle_goes():
    vms = [vm("vm1", bootstrap_dir="/srv/mesh")]
    plan = prune_plan(vms, [record("vm2", "/srv/mesh/vm2"), record("vm3", "/srv/mesh-old")], ["vm1"])
    assert plan["bundles"] == ["/srv/mesh/vm2", "/srv/mesh-old"]


def test_without_a_listing_no_entry():
    assert prune_plan([vm("vm1")], [record("vm2")], ["vm1"]) == {"entries": [], "bundles": [BOOTSTRAP + "/vm2"]}


@pytest.mark.parametrize("path", [BOOTSTRAP + "/vm1", BOOTSTRAP + "/vm1/", BOOTSTRAP + "/./vm1"])
def test_a_bundle_a_vm_of_the_group_uses_stays(path):
    """vm2 left, but its recorded directory is vm1's now (however spelled)."""
    assert prune_plan([vm("vm1")], [record("vm2", path)], ["vm1"])["bundles"] == []


def test_an_older_bundle_of_a_vm_still_in_the_group_goes():
    """vm1's bootstrap directory changed: its older one, which the record written after the prune would no
    longer name, goes; the one it uses now stays."""
    assert prune_plan([vm("vm1")], [record("vm1", "/srv/old/vm1"), record("vm1")], ["vm1"])["bundles"] == ["/srv/old/vm1"]


@pytest.mark.parametrize("path", ["/", "/var/..", "relative/dir", "/tmp/a b", "", None])
def test_a_bundle_path_unsafe_to_delete_is_left(path):
    assert prune_plan([vm("vm1")], [record("vm1"), {"host": "vm2", "bootstrap_dir": path}], ["vm1"])["bundles"] == []


def test_generators_will_do():
    plan = prune_plan((v for v in [vm("vm1")]), [record("vm2")], (h for h in ["vm1"]), listed("ns/vm2"))
    assert plan == {"entries": [{"namespace": "ns", "name": "vm2"}], "bundles": [BOOTSTRAP + "/vm2"]}

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vm_conflicts: what the VMs of one group claim twice or disagree on."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.vm_conflicts import FilterModule

vm_conflicts = FilterModule().filters()["vm_conflicts"]

SHARED = {"mode": "autoregister", "labels": {"app": "lab-app"}, "ports": {"http": 8080}, "service_account": "lab-app",
          "network": "", "probe": {}, "service_entries": [], "sidecar": {}, "service": None}


def vm(n, **overrides):
    """The settings facts.yml computes for lab VM n (autoregister, its own address and bundle)."""
    settings = {"host": "mlab-vm%d" % n, "key": "lab-vms/lab-app", "mode": "autoregister",
                "address": "10.213.0.%d" % (10 + n), "internal_ip": "10.213.0.%d" % (10 + n),
                "entry_key": "lab-vms/mlab-vm%d" % n, "registered_entry_name": "lab-app-10.213.0.%d" % (10 + n),
                "bootstrap_key": "/work/.bootstrap/mlab-vm%d" % n, "shared": dict(SHARED)}
    settings.update(overrides)
    return settings


def test_distinct_vms_do_not_conflict():
    assert vm_conflicts([vm(1), vm(2), vm(3)]) == []
    assert vm_conflicts([]) == []


@pytest.mark.parametrize("vms,message", [
    ([vm(1), vm(2, address="10.213.0.11")],
     "Address 10.213.0.11 is claimed by mlab-vm1, mlab-vm2 (mesh_workload_address / ansible_host)."),
    ([vm(1, mode="static", entry_key="lab-vms/lab-vm"), vm(2, mode="static", entry_key="lab-vms/lab-vm")],
     "WorkloadEntry lab-vms/lab-vm is claimed by mlab-vm1, mlab-vm2 (mesh_workload_entry_name)."),
    ([vm(1, bootstrap_key="/tmp/shared-bundle"), vm(2, bootstrap_key="/tmp/shared-bundle")],
     "Bootstrap directory /tmp/shared-bundle is shared by mlab-vm1, mlab-vm2 (mesh_workload_bootstrap_dir): each "
     "would get the other's token and identity."),
    ([vm(1, internal_ip="10.213.0.50", registered_entry_name="lab-app-10.213.0.50"),
      vm(2, internal_ip="10.213.0.50", registered_entry_name="lab-app-10.213.0.50")],
     "Auto-registered WorkloadEntry lab-app-10.213.0.50 is claimed by mlab-vm1, mlab-vm2 (mesh_workload_internal_ip / "
     "mesh_workload_address)."),
    ([vm(1, bootstrap_key="/srv/mesh"), vm(2, bootstrap_key="/srv/mesh/vm2")],
     "Bootstrap directory /srv/mesh of mlab-vm1 holds the bootstrap directory /srv/mesh/vm2 of mlab-vm2 "
     "(mesh_workload_bootstrap_dir): prune and offboarding delete a directory with all it holds."),
    ([vm(1, service_object={"name": "web", "namespace": "lab-vms"}),
      vm(2, key="lab-vms/other", service_object={"name": "web", "namespace": "lab-vms"})],
     "Service lab-vms/web is made by workloads lab-vms/lab-app, lab-vms/other (mesh_workload_service_name / "
     "mesh_workload_service_entries): each would overwrite the other's, and offboarding one would delete the other's."),
    ([vm(1, service_entry_objects=[{"name": "ext", "namespace": "lab-vms"}]),
      vm(2, key="lab-vms/other", service_entry_objects=[{"name": "db", "namespace": "lab-vms"},
                                                        {"name": "ext", "namespace": "lab-vms"}])],
     "ServiceEntry lab-vms/ext is made by workloads lab-vms/lab-app, lab-vms/other (mesh_workload_service_name / "
     "mesh_workload_service_entries): each would overwrite the other's, and offboarding one would delete the other's."),
    ([vm(1), vm(2, shared=dict(SHARED, ports={"http": 9090}))],
     "The VMs of workload lab-vms/lab-app (mlab-vm1, mlab-vm2) share one WorkloadGroup, but differ in: "
     "mesh_workload_ports"),
    ([vm(1), vm(2), vm(3, shared=dict(SHARED, probe={"tcp_socket": {"port": 8080}}, labels={"app": "x"}))],
     "The VMs of workload lab-vms/lab-app (mlab-vm1, mlab-vm2, mlab-vm3) share one WorkloadGroup, but differ in: "
     "mesh_workload_labels mesh_workload_probe"),
])
def test_each_conflict_is_named(vms, message):
    assert vm_conflicts(vms) == [message]


@pytest.mark.parametrize("vms", [
    # the same entry name in autoregister mode names no static entry
    [vm(1, entry_key="lab-vms/lab-vm"), vm(2, entry_key="lab-vms/lab-vm")],
    # one registered name without an internal IP: those VMs fail their own check
    [vm(1, internal_ip="", registered_entry_name=""), vm(2, internal_ip="", registered_entry_name="")],
    # static VMs register no entry
    [vm(1, mode="static", registered_entry_name="x"), vm(2, mode="static", registered_entry_name="x",
                                                         entry_key="lab-vms/other")],
    # the VMs of one workload make its Service and ServiceEntries together; names alike in other namespaces
    [vm(1, service_object={"name": "web", "namespace": "lab-vms"}, service_entry_objects=[{"name": "e", "namespace": "a"}]),
     vm(2, service_object={"name": "web", "namespace": "lab-vms"}, service_entry_objects=[{"name": "e", "namespace": "a"}]),
     vm(3, key="b/other", service_object={"name": "web", "namespace": "b"},
        service_entry_objects=[{"name": "e", "namespace": "b"}])],
    # sibling directories, and one whose name only starts like another's
    [vm(1, bootstrap_key="/srv/mesh/vm1"), vm(2, bootstrap_key="/srv/mesh/vm2"), vm(3, bootstrap_key="/srv/mesh/vm1x")],
    # workloads of their own may differ
    [vm(1), vm(2, key="lab-vms/other", shared=dict(SHARED, ports={"http": 9090}))],
    # equal settings, whatever the order of their keys
    [vm(1, shared=dict(SHARED, labels={"a": "1", "b": "2"})), vm(2, shared=dict(SHARED, labels={"b": "2", "a": "1"}))],
])
def test_no_conflict(vms):
    assert vm_conflicts(vms) == []


def test_a_number_is_not_its_text():
    assert vm_conflicts([vm(1), vm(2, shared=dict(SHARED, ports={"http": "8080"}))])[0].endswith("mesh_workload_ports")


def test_conflicts_by_kind_then_value_and_a_generator_will_do():
    vms = [vm(3, address="10.0.0.9"), vm(1, address="10.0.0.1"), vm(2, address="10.0.0.9"), vm(4, address="10.0.0.1")]
    assert vm_conflicts(v for v in vms) == [
        "Address 10.0.0.1 is claimed by mlab-vm1, mlab-vm4 (mesh_workload_address / ansible_host).",
        "Address 10.0.0.9 is claimed by mlab-vm3, mlab-vm2 (mesh_workload_address / ansible_host)."]

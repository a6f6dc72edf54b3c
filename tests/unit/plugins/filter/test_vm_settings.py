# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The vm_settings filter: one VM's mesh settings (__mesh_workload_vm) and the role's output
(mesh_workload_vm) from its mesh_workload variables."""
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.vm_settings import FilterModule

MANAGED = {"app.kubernetes.io/managed-by": "meshops.istio_vm"}
GROUP_LABEL = "istio-vm.meshops.io/group"


def variables(**changes):
    """The role's defaults for a VM of workload lab-vms/app, with ``changes``."""
    v = {
        "mesh_workload_group": "mesh_vms", "mesh_workload_namespace": "lab-vms", "mesh_workload_name": "app",
        "mesh_workload_mode": "autoregister", "mesh_workload_address": "10.213.0.11", "mesh_workload_internal_ip": "",
        "mesh_workload_network": "", "mesh_workload_labels": {"app": "app"}, "mesh_workload_ports": {"http": 8080},
        "mesh_workload_probe": {}, "mesh_workload_service_account": "app", "mesh_workload_entry_name": "vm1",
        "mesh_workload_bootstrap_dir": "/inv/.meshops-istio-vm/vm1", "mesh_workload_service": True,
        "mesh_workload_service_name": "app", "mesh_workload_service_app_protocols": {},
        "mesh_workload_service_entries": [], "mesh_workload_sidecar": {}, "mesh_workload_lock": True,
    }
    v.update({"mesh_workload_" + key: value for key, value in changes.items()})
    return v


def settings(v, host="vm1"):
    return FilterModule().filters()["vm_settings"](v, host=host, managed_labels=MANAGED, group_label=GROUP_LABEL)


def test_an_auto_registered_vm():
    out = settings(variables())
    vm, published = out["vm"], out["published"]
    assert vm["key"] == "lab-vms/app" and vm["entry_key"] == "lab-vms/vm1"
    assert vm["internal_ip"] == "10.213.0.11"
    assert vm["registered_entry_name"] == "app-10.213.0.11"
    assert vm["registered_object"] == {"name": "app-10.213.0.11", "namespace": "lab-vms", "address": "10.213.0.11",
                                       "labels": {"app": "app"}, "service_account": "app", "network": None}
    assert vm["service_object"] == {"name": "app", "namespace": "lab-vms", "metadata_labels": MANAGED,
                                    "selector": {"app": "app"}, "ports": [{"name": "http", "port": 8080}]}
    assert vm["shared"]["service"] == vm["service_object"]
    assert vm["has_probe"] is False and vm["group_object"]["probe"] is None
    assert vm["sidecar_object"] is None and vm["service_entry_objects"] == []
    assert vm["record"] == {"host": "vm1", "namespace": "lab-vms", "workload": "app", "mode": "autoregister",
                            "entry_key": "lab-vms/vm1", "entry_ref": {"name": "vm1", "namespace": "lab-vms"},
                            "bootstrap_dir": "/inv/.meshops-istio-vm/vm1"}
    # The output names the entry istiod registers, and the namespace whose lock the run holds.
    assert published["entry_name"] == "app-10.213.0.11" and published["entry"] == vm["registered_object"]
    assert published["lock_scope"] == "lab-vms"
    assert set(published) == {"host", "namespace", "workload", "mode", "address", "internal_ip", "service_account",
                              "has_probe", "bootstrap_dir", "entry_name", "entry", "lock_scope", "group_object",
                              "service_object", "service_entry_objects", "sidecar_object"}


def test_a_static_vm_with_its_objects():
    entries = [{"name": "db", "hosts": ["db.example.com"], "workload_selector": {"tier": "db"}},
               {"name": "ext", "hosts": ["ext.example.com"]},
               {"name": "legacy", "hosts": ["legacy.example.com"], "endpoints": [{"address": "10.0.0.9"}]}]
    out = settings(variables(mode="static", address="vm1.example.internal", internal_ip="10.0.0.1", network="vpc-east",
                             probe={"httpGet": {"port": 8080}}, service="yes", service_app_protocols={"http": "http"},
                             service_entries=entries, sidecar={"egress": [{"hosts": ["./*"]}]}, lock=False,
                             bootstrap_dir="/inv/../inv2/./vm1", labels={}))
    vm, published = out["vm"], out["published"]
    assert vm["address"] == "vm1.example.internal" and vm["internal_ip"] == "10.0.0.1"
    assert vm["registered_entry_name"] == "app-10.0.0.1-vpc-east"
    assert vm["bootstrap_key"] == "/inv2/vm1"
    assert vm["entry_object"]["metadata_labels"] == dict(MANAGED, **{GROUP_LABEL: "mesh_vms"})
    assert vm["entry_object"]["health_checks"] is True and vm["entry_object"]["labels"] is None
    assert vm["group_object"]["template"] == {"service_account": "app", "network": "vpc-east", "ports": {"http": 8080}}
    assert vm["service_object"]["ports"] == [{"name": "http", "port": 8080, "app_protocol": "http"}]
    # ServiceEntries select the workload's labels unless they list endpoints; their own selector wins.
    assert [e.get("workload_selector") for e in vm["service_entry_objects"]] == [{"tier": "db"}, {}, None]
    assert [e["name"] for e in vm["service_entry_objects"]] == ["db", "ext", "legacy"]
    assert all(e["namespace"] == "lab-vms" and e["metadata_labels"] == MANAGED for e in vm["service_entry_objects"])
    assert vm["sidecar_object"] == {"name": "app", "namespace": "lab-vms", "metadata_labels": MANAGED,
                                    "workload_selector": {}, "egress": [{"hosts": ["./*"]}]}
    assert published["entry_name"] == "vm1" and published["entry"] == vm["entry_object"]
    assert published["lock_scope"] == ""


@pytest.mark.parametrize("service,ports", [(False, {"http": 8080}), ("no", {"http": 8080}), (True, {})])
def test_no_service_without_ports_or_when_off(service, ports):
    assert settings(variables(service=service, ports=ports))["vm"]["service_object"] is None


def test_an_ipv6_address_with_a_zone_announces_no_ip():
    vm = settings(variables(address="fe80::1%eth0"))["vm"]
    assert vm["internal_ip"] == "" and vm["registered_entry_name"] == ""
    vm = settings(variables(address="fd00::21"))["vm"]
    assert vm["registered_entry_name"] == "app-fd00--21"


def test_a_missing_variable_is_named():
    v = variables()
    del v["mesh_workload_sidecar"]
    with pytest.raises(AnsibleFilterError, match="mesh_workload_sidecar"):
        settings(v)


def test_app_protocols_of_an_unknown_port_are_refused():
    with pytest.raises(AnsibleFilterError, match="no port named 'grpc'"):
        settings(variables(service_app_protocols={"grpc": "grpc"}))


class Lazy(dict):
    """Stands in for Ansible's lazy containers, which a filter's input holds: a deep copy of one copies
    every variable its templates can reach (seconds a VM), so the filter must never make one."""

    def __deepcopy__(self, memo):
        raise AssertionError("the filter deep-copied its input")


class LazyList(list):
    def __deepcopy__(self, memo):
        raise AssertionError("the filter deep-copied its input")


def test_the_settings_are_plain_data_that_share_nothing():
    v = variables(labels=Lazy(app="app"), ports=Lazy(http=8080),
                  service_entries=LazyList([Lazy(name="db", hosts=LazyList(["db.example"]))]),
                  probe=Lazy(http_get=Lazy(path="/ready", port=8080)))
    out = settings(v)
    seen = {}

    def walk(value, where):
        if isinstance(value, (dict, list)):
            assert type(value) in (dict, list), f"{where} is a {type(value).__name__}, not plain data"
            assert id(value) not in seen, f"{where} is the same object as {seen.get(id(value))}"
            seen[id(value)] = where
            for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
                walk(item, f"{where}.{key}")
    walk(out, "settings")
    # the values themselves are unchanged
    assert out["vm"]["group_object"]["labels"] == {"app": "app"}
    assert out["vm"]["service_entry_objects"][0]["hosts"] == ["db.example"]
    assert out["published"]["group_object"] == out["vm"]["group_object"]

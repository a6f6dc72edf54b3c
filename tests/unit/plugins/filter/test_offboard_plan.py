# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""offboard_plan: what offboarding the play's VMs deletes, and which shared objects stay."""
from __future__ import annotations

from ansible_collections.meshops.istio_vm.plugins.filter.offboard_plan import FilterModule

offboard_plan = FilterModule().filters()["offboard_plan"]


def vm(host, workload="app", namespace="ns", mode="autoregister", service_account=None, service=True, sidecar=True,
       service_entries=("ext",)):
    """The settings facts.yml computes for a VM (objects named after the workload)."""
    name = {"name": workload, "namespace": namespace}
    return {
        "host": host, "key": "%s/%s" % (namespace, workload), "namespace": namespace, "mode": mode,
        "service_account": service_account or workload,
        "entry_object": {"name": host, "namespace": namespace},
        "group_object": dict(name, kind="group"),
        "service_entry_objects": [{"name": se, "namespace": namespace} for se in service_entries],
        "service_object": dict(name, kind="service") if service else None,
        "sidecar_object": dict(name, kind="sidecar") if sidecar else None,
    }


def other(namespace="ns", workload="app", **variables):
    """A VM outside the play, as hostvars show it (inventory variables only)."""
    out = {"inventory_hostname": "vm9", "mesh_workload_namespace": namespace, "mesh_workload_name": workload}
    out.update(variables)
    return out


def test_the_whole_group_goes():
    plan = offboard_plan([vm("vm1"), vm("vm2")], [])
    assert plan == {
        "entries": [],
        "groups": [{"name": "app", "namespace": "ns", "kind": "group"}],
        "service_entries": [{"name": "ext", "namespace": "ns"}],
        "services": [{"name": "app", "namespace": "ns", "kind": "service"}],
        "sidecars": [{"name": "app", "namespace": "ns", "kind": "sidecar"}],
        "service_accounts": [{"namespace": "ns", "name": "app"}],
        "kept": [],
        "kept_objects": [],
    }


def test_static_entries_of_every_vm_of_the_play_go_even_when_the_workload_stays():
    plan = offboard_plan([vm("vm1", mode="static"), vm("vm2"), vm("vm3", workload="db", mode="static")], [other()])
    assert plan["entries"] == [{"name": "vm1", "namespace": "ns"}, {"name": "vm3", "namespace": "ns"}]


def test_a_vm_outside_the_play_keeps_its_workload():
    plan = offboard_plan([vm("vm1"), vm("vm2", workload="db")], [other(workload="app")])
    assert plan["kept"] == ["ns/app"]
    assert plan["groups"] == [{"name": "db", "namespace": "ns", "kind": "group"}]
    assert plan["services"] == [{"name": "db", "namespace": "ns", "kind": "service"}]
    assert plan["sidecars"] == [{"name": "db", "namespace": "ns", "kind": "sidecar"}]
    assert plan["service_entries"] == [{"name": "ext", "namespace": "ns"}]
    assert plan["service_accounts"] == [{"namespace": "ns", "name": "db"}]


def test_same_name_in_another_namespace_is_another_workload():
    plan = offboard_plan([vm("vm1", namespace="a")], [other(namespace="b")])
    assert plan["kept"] == [] and plan["groups"] == [{"name": "app", "namespace": "a", "kind": "group"}]


def test_a_service_account_used_by_a_workload_outside_the_play_stays():
    # db runs as the shared account "svc"; a VM outside the play runs web as "svc" too
    plan = offboard_plan([vm("vm1", workload="db", service_account="svc")],
                         [other(workload="web", mesh_workload_service_account="svc")])
    assert plan["groups"] == [{"name": "db", "namespace": "ns", "kind": "group"}]
    assert plan["service_accounts"] == []


def test_without_a_service_account_an_outside_vm_uses_its_workload_name():
    """The role's default (hostvars do not show role defaults)."""
    plan = offboard_plan([vm("vm1", workload="db", service_account="web")], [other(workload="web")])
    assert plan["service_accounts"] == []
    plan = offboard_plan([vm("vm1", workload="db", service_account="other")], [other(workload="web")])
    assert plan["service_accounts"] == [{"namespace": "ns", "name": "other"}]


def test_a_service_account_of_a_workload_of_the_play_that_stays_stays():
    # app stays (vm9 outside the play; its inventory variables name no account) and runs as "svc"
    # (what the play computed for vm1); db of the play goes, also as "svc"
    plan = offboard_plan([vm("vm1", service_account="svc"), vm("vm2", workload="db", service_account="svc")], [other()])
    assert plan["kept"] == ["ns/app"] and plan["service_accounts"] == []


def test_an_outside_vm_without_namespace_or_name_keeps_nothing():
    plan = offboard_plan([vm("vm1")], [{"inventory_hostname": "vm9"}])
    assert plan["kept"] == [] and plan["service_accounts"] == [{"namespace": "ns", "name": "app"}]


def test_each_workload_and_account_once_and_no_empty_objects():
    bare = {"service": False, "sidecar": False, "service_entries": ()}
    plan = offboard_plan([vm("vm1", **bare), vm("vm2", **bare), vm("vm3", workload="db", service_account="app")], None)
    assert plan["groups"] == [{"name": "app", "namespace": "ns", "kind": "group"},
                              {"name": "db", "namespace": "ns", "kind": "group"}]
    assert plan["services"] == [{"name": "db", "namespace": "ns", "kind": "service"}]
    assert plan["sidecars"] == [{"name": "db", "namespace": "ns", "kind": "sidecar"}]
    assert plan["service_entries"] == [{"name": "ext", "namespace": "ns"}]
    assert plan["service_accounts"] == [{"namespace": "ns", "name": "app"}]


def test_kept_once_per_workload():
    assert offboard_plan([vm("vm1"), vm("vm2")], [other(), other()])["kept"] == ["ns/app"]


def test_a_service_entry_or_service_a_workload_outside_the_play_also_makes_stays():
    """Workloads app and db both list ServiceEntry ext-db (db joined later with onboard --limit, where the
    checks between workloads saw only db): offboarding db must not delete what app still uses."""
    plan = offboard_plan([vm("vm2", workload="db", service_entries=("ext-db", "db-only"))],
                         [other(workload="app", mesh_workload_service_entries=[{"name": "ext-db", "hosts": ["x"]}],
                                mesh_workload_service_name="db")])
    assert plan["service_entries"] == [{"name": "db-only", "namespace": "ns"}]
    assert plan["services"] == [] and plan["groups"] == [{"name": "db", "namespace": "ns", "kind": "group"}]
    assert plan["kept_objects"] == ["ServiceEntry ns/ext-db", "Service ns/db"]
    # in another namespace, or with the outside workload's Service off, it is another object
    plan = offboard_plan([vm("vm2", workload="db", service_entries=("ext-db",))],
                         [other(namespace="other", workload="app",
                                mesh_workload_service_entries=[{"name": "ext-db", "hosts": ["x"]}]),
                          other(workload="app2", mesh_workload_service="false", mesh_workload_service_name="db")])
    assert plan["service_entries"] == [{"name": "ext-db", "namespace": "ns"}]
    assert plan["services"] == [{"name": "db", "namespace": "ns", "kind": "service"}] and plan["kept_objects"] == []
    # an outside entry that names its own namespace
    plan = offboard_plan([vm("vm2", workload="db", service_entries=("ext-db",))],
                         [other(namespace="other", workload="app",
                                mesh_workload_service_entries=[{"name": "ext-db", "namespace": "ns", "hosts": ["x"]}])])
    assert plan["service_entries"] == [] and plan["kept_objects"] == ["ServiceEntry ns/ext-db"]


def test_older_entries_and_bundles_of_the_play_stay_recorded_for_prune():
    """vm1's entry was renamed (vm1-old, then vm1) without prune: offboarding deletes vm1's entry and bundle
    as they are now, and keeps the record of the older ones (prune finds them there), and vm9's."""
    now = {"host": "vm1", "namespace": "ns", "entry_ref": {"name": "vm1", "namespace": "ns"}, "bootstrap_dir": "/b/vm1"}
    old = dict(now, entry_ref={"name": "vm1-old", "namespace": "ns"}, bootstrap_dir="/b/old/vm1")
    outside = dict(now, host="vm9", entry_ref={"name": "vm9", "namespace": "ns"}, bootstrap_dir="/b/vm9")
    plan = offboard_plan([dict(vm("vm1", mode="static"), record=now)], [other()], records=[old, now, outside])
    assert plan["records"] == [old, outside] and plan["older"] == [old]
    assert plan["older_notes"] == ["vm1, WorkloadEntry ns/vm1-old, bundle /b/old/vm1"]
    assert plan["entries"] == [{"name": "vm1", "namespace": "ns"}]
    # a record of the same entry and bundle written by another release (other fields) goes too
    plan = offboard_plan([dict(vm("vm1", mode="static"), record=now)], [], records=[dict(now, workload="app", extra=1)])
    assert plan["records"] == [] and plan["older"] == []
    # without records: no record keys (the role passes them when it writes the record)
    assert "records" not in offboard_plan([vm("vm1")], [])


def test_a_recorded_static_entry_of_a_vm_now_auto_registered_goes_too():
    """vm1 was onboarded static, then its inventory switched to auto-registration: offboarding deletes the
    static entry the record names (the VM's settings no longer list it), and drops the record with it."""
    now = {"host": "vm1", "namespace": "ns", "entry_ref": {"name": "vm1", "namespace": "ns"}, "bootstrap_dir": "/b/vm1"}
    recorded = dict(now, mode="static")
    plan = offboard_plan([dict(vm("vm1", mode="autoregister"), record=dict(now, mode="autoregister"))], [other()],
                         records=[recorded])
    assert plan["entries"] == [{"name": "vm1", "namespace": "ns"}] and plan["records"] == []
    # recorded auto-registered (istiod's entry, gone with the sidecar), or of a VM outside the play: not listed
    plan = offboard_plan([dict(vm("vm1", mode="autoregister"), record=dict(now, mode="autoregister"))], [other()],
                         records=[dict(now, mode="autoregister"), dict(recorded, host="vm9")])
    assert plan["entries"] == []
    # static now and recorded static: listed once
    plan = offboard_plan([dict(vm("vm1", mode="static"), record=recorded)], [], records=[recorded])
    assert plan["entries"] == [{"name": "vm1", "namespace": "ns"}]

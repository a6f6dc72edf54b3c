# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._rbac import (
    ISTIO, Need, access_review, from_dict, missing_message, needs, rbac_objects, unique)

VM = {"namespace": "vms", "workload": "db", "service_account": "db", "mode": "autoregister",
      "service_object": {"name": "db"}, "service_entry_objects": [], "sidecar_object": None}
STATIC = dict(VM, namespace="web", workload="web", service_account="web-sa", mode="static", service_object=None,
              service_entry_objects=[{"name": "ext"}], sidecar_object={"name": "web"})
SA = {"kind": "ServiceAccount", "name": "onboarder", "namespace": "meshops-system"}


def keys(items):
    return {(n.verb, n.group, n.resource, n.namespace, n.name) for n in items}


def test_verify_only_reads():
    verbs = {n.verb for n in needs("verify", [VM, STATIC])}
    assert verbs == {"get", "list"}


def test_onboard_needs_what_it_writes_and_the_token_of_the_named_account_only():
    got = keys(needs("onboard", [VM]))
    assert ("create", "", "serviceaccounts/token", "vms", "db") in got
    # patch of the objects the inventory names, not of any object of their kind
    assert ("patch", ISTIO, "workloadgroups", "vms", "db") in got
    assert ("patch", "", "services", "vms", "db") in got
    # (this VM names no entry: its registered name is unknown here, so any entry of the namespace)
    assert not any(k[0] == "patch" and not k[4] and k[2] != "workloadentries" for k in got), got
    assert not any(k[2] in ("serviceentries", "sidecars", "namespaces") for k in got)
    assert not any(k[0] == "delete" for k in got if k[2] != "leases")


@pytest.mark.parametrize("operation", ["onboard", "rotate", "offboard"])
def test_the_operations_that_change_hold_the_lease_of_each_workload_namespace(operation):
    got = {k for k in keys(needs(operation, [VM, STATIC, dict(VM)])) if k[2] == "leases"}
    assert got == {(verb, "coordination.k8s.io", "leases", ns, name) for ns in ("vms", "web")
                   for verb, name in (("create", ""), ("get", "meshops-istio-vm"), ("update", "meshops-istio-vm"),
                                      ("delete", "meshops-istio-vm"))}


@pytest.mark.parametrize("options", [
    {}, {"cluster_id": False, "ingress_ip": False}, {"create_identity": True, "prune": True},
    {"revision": "1-24", "istio_namespace": "mesh", "ingress_service": "gw"},
])
def test_onboard_needs_cover_verify_needs(options):
    # onboard.yml's verify play skips its own access check on this ground (verify_after_onboard)
    onboard = needs("onboard", [VM, STATIC], **options)
    assert keys(unique(onboard + needs("verify", [VM, STATIC], **options))) == keys(onboard)


def test_verify_takes_no_lock():
    assert not any(n.resource == "leases" for n in needs("verify", [VM]))


def test_objects_follow_the_inventory():
    got = keys(needs("onboard", [STATIC]))
    assert {("patch", ISTIO, "serviceentries", "web", "ext"), ("patch", ISTIO, "sidecars", "web", "web")} <= got
    assert not any(k[2] == "services" for k in got)


def test_identity_and_prune_add_cluster_wide_needs():
    got = keys(needs("onboard", [VM], create_identity=True, prune=True))
    assert {("get", "", "namespaces", "", "vms"),
            ("list", ISTIO, "workloadentries", "", ""), ("delete", ISTIO, "workloadentries", "vms", ""),
            # prune's delete of one named entry reads it first
            ("get", ISTIO, "workloadentries", "vms", "")} <= got


def test_cluster_facts_read_only_when_the_inventory_lacks_them():
    base = keys(needs("rotate", [VM]))
    assert not any(k[4].startswith("istio-sidecar-injector") or k[2] == "services" for k in base)
    got = keys(needs("rotate", [VM], cluster_id=False, ingress_ip=False, ingress_service="gw", revision="canary"))
    assert {("get", "", "configmaps", "istio-system", "istio-sidecar-injector-canary"),
            ("get", "", "services", "istio-system", "gw"),
            ("get", "", "configmaps", "istio-system", "istio-canary")} <= got


def test_offboard_deletes_static_entries_only():
    assert ("delete", ISTIO, "workloadentries", "vms", "") not in keys(needs("offboard", [VM]))
    assert ("delete", ISTIO, "workloadentries", "web", "") in keys(needs("offboard", [STATIC]))
    assert ("delete", "", "serviceaccounts", "vms", "db") in keys(needs("offboard", [VM], create_identity=True))


def test_onboard_creates_static_entries_only():
    """istiod creates the auto-registered entries; the role only puts back one that exists (create: false)."""
    assert not any(k[0] == "create" and k[2] == "workloadentries" for k in keys(needs("onboard", [VM]))), \
        keys(needs("onboard", [VM]))
    assert {("list", ISTIO, "workloadentries", "vms", ""), ("patch", ISTIO, "workloadentries", "vms", "")} <= \
        keys(needs("onboard", [VM]))
    assert ("create", ISTIO, "workloadentries", "web", "") in keys(needs("onboard", [STATIC]))
    # a namespace with both: the static VM's entry is created there
    both = keys(needs("onboard", [VM, dict(STATIC, namespace="vms")]))
    assert ("create", ISTIO, "workloadentries", "vms", "") in both


def test_offboard_may_give_back_an_adopted_service_or_account():
    """An adopted Service or ServiceAccount is released with a server-side apply: a patch."""
    vm = dict(VM, service_object={"name": "db"})
    assert ("patch", "", "services", "vms", "db") in keys(needs("offboard", [vm]))
    assert ("patch", "", "serviceaccounts", "vms", "db") in keys(needs("offboard", [VM], create_identity=True))
    assert ("patch", "", "serviceaccounts", "vms", "db") not in keys(needs("offboard", [VM]))


def test_no_duplicates_and_any_name_covers_one_name():
    items = needs("onboard", [VM, dict(VM)], create_identity=True)
    assert len(items) == len(keys(items))
    # patch on any ServiceAccount would cover the named one; here only the named one is needed
    assert ("patch", "", "serviceaccounts", "vms", "db") in keys(items)


def test_unknown_operation():
    with pytest.raises(ValueError, match="operation 'drop'"):
        needs("drop", [VM])


def test_rbac_objects_grant_exactly_the_needs():
    items = needs("onboard", [VM], create_identity=True, prune=True)
    objs = rbac_objects(items, SA)
    assert [(o["kind"], o["metadata"].get("namespace", "")) for o in objs] == [
        ("ClusterRole", ""), ("ClusterRoleBinding", ""), ("Role", "istio-system"), ("RoleBinding", "istio-system"),
        ("Role", "vms"), ("RoleBinding", "vms")]
    granted = set()
    for obj in objs:
        for rule in obj.get("rules", []):
            for verb in rule["verbs"]:
                for name in rule.get("resourceNames", [""]):
                    granted.add((verb, rule["apiGroups"][0], rule["resources"][0], obj["metadata"].get("namespace", ""),
                                 name))
    assert granted == keys(items)
    token = [r for r in objs[4]["rules"] if r["resources"] == ["serviceaccounts/token"]]
    assert token == [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"],
                      "resourceNames": ["db"]}]
    assert objs[1]["subjects"] == [SA]


def test_user_subject():
    objs = rbac_objects(needs("verify", [VM]), {"kind": "User", "name": "alice"})
    assert objs[1]["subjects"] == [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]


def test_access_review_and_message():
    need = Need("create", "", "serviceaccounts/token", "vms", "db", "request the token")
    assert access_review(need) == {"verb": "create", "group": "", "resource": "serviceaccounts",
                                   "subresource": "token", "namespace": "vms", "name": "db"}
    assert from_dict(need.as_dict()) == need
    msg = missing_message("alice", [need, Need("list", ISTIO, "workloadentries", "", "", "prune")])
    assert "(alice)" in msg and "nothing was changed" in msg
    assert "create serviceaccounts/token db in namespace vms (to request the token)" in msg
    assert "list workloadentries.networking.istio.io in all namespaces (to prune)" in msg
    assert Need("patch", "", "namespaces", "", "vms", "").describe() == "patch namespaces vms"


def test_an_apply_that_creates_needs_create_of_that_name():
    got = keys(needs("onboard", [VM], create_identity=True))
    assert {("create", "", "serviceaccounts", "vms", "db"), ("create", ISTIO, "workloadgroups", "vms", "")} <= got
    # the namespace must exist (the Roles live in it): it is only read, never relabelled
    assert ("create", "", "namespaces", "", "vms") not in got
    assert not any(k[2] == "namespaces" and k[0] != "get" for k in got), got


def test_a_service_entry_in_another_namespace_is_applied_and_removed_there():
    vm = dict(STATIC, service_entry_objects=[{"name": "ext", "namespace": "web"},
                                             {"name": "shared-api", "namespace": "shared"}])
    onboard, offboard = keys(needs("onboard", [vm])), keys(needs("offboard", [vm]))
    assert {(verb, ISTIO, "serviceentries", ns, "") for verb in ("list", "create") for ns in ("web", "shared")} <= onboard
    assert {("patch", ISTIO, "serviceentries", "web", "ext"), ("patch", ISTIO, "serviceentries", "shared", "shared-api")} <= onboard
    assert {("list", ISTIO, "serviceentries", ns, "") for ns in ("web", "shared")} <= offboard
    assert {("delete", ISTIO, "serviceentries", "web", "ext"), ("delete", ISTIO, "serviceentries", "shared", "shared-api")} <= offboard


def test_a_list_across_namespaces_covers_one_namespace():
    got = keys(needs("onboard", [VM], prune=True))
    assert ("list", ISTIO, "workloadentries", "", "") in got
    assert ("list", ISTIO, "workloadentries", "vms", "") not in got
    assert ("list", ISTIO, "workloadentries", "vms", "") in keys(needs("onboard", [VM]))


def test_patch_and_delete_only_of_the_objects_the_inventory_names():
    """Every name is known from the inventory: a shared namespace's other Services, groups and entries are
    out of reach. A static entry by its name, an auto-registered one (put back in line) by the name istiod
    gives it; prune alone deletes entries it cannot name in advance."""
    static = dict(STATIC, entry_object={"name": "web-vm1"}, group_object={"name": "web"})
    auto = dict(VM, registered_object={"name": "db-10.0.0.5-net"})
    onboard, offboard = keys(needs("onboard", [static, auto])), keys(needs("offboard", [static, auto]))
    assert {k for k in onboard if k[0] == "patch" and k[2] == "workloadentries"} == {
        ("patch", ISTIO, "workloadentries", "web", "web-vm1"), ("patch", ISTIO, "workloadentries", "vms", "db-10.0.0.5-net")}
    assert {k for k in offboard if k[0] == "delete" and k[2] != "leases"} == {
        ("delete", ISTIO, "workloadentries", "web", "web-vm1"), ("delete", ISTIO, "workloadgroups", "web", "web"),
        ("delete", ISTIO, "workloadgroups", "vms", "db"), ("delete", ISTIO, "serviceentries", "web", "ext"),
        ("delete", ISTIO, "sidecars", "web", "web"), ("delete", "", "services", "vms", "db")}
    assert ("delete", ISTIO, "workloadentries", "vms", "") in keys(needs("onboard", [auto], prune=True))


def test_the_roles_output_names_the_same_objects_as_its_settings():
    """rbac.yml renders from mesh_workload_vm (the role's output), the access check from the role's settings:
    both must name the same entry."""
    settings = dict(VM, registered_object={"name": "db-10.0.0.5-net"}, group_object={"name": "db"})
    output = dict(VM, entry={"name": "db-10.0.0.5-net"}, group_object={"name": "db"})
    for operation in ("onboard", "offboard"):
        assert keys(needs(operation, [settings])) == keys(needs(operation, [output]))

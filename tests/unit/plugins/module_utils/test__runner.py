# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runner's pure decisions: what we manage of a live object, and when a write is needed."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._runner import (
    ORIGIN, bare, ensure, ensure_many, in_sync, managed_view, origin, ours, outcome, removal, with_origin)

DESIRED = {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
           "metadata": {"name": "vm1", "namespace": "ns"},
           "spec": {"address": "10.0.0.1", "labels": {"app": "a"}}}


def live(spec, fields, manager="meshops.istio_vm", operation="Apply", extra_managers=()):
    managed = [{"manager": manager, "operation": operation, "fieldsV1": fields}]
    managed += [{"manager": m, "operation": "Update", "fieldsV1": f} for m, f in extra_managers]
    return {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": "vm1", "namespace": "ns", "resourceVersion": "7", "uid": "u",
                         "managedFields": managed},
            "spec": spec, "status": {"conditions": []}}


OURS = {"f:spec": {"f:address": {}, "f:labels": {"f:app": {}}}}

IN_SYNC = [
    ("same fields", live({"address": "10.0.0.1", "labels": {"app": "a"}}, OURS), True),
    ("others' fields are ignored",
     live({"address": "10.0.0.1", "labels": {"app": "a", "team": "x"}, "weight": 3}, OURS,
          extra_managers=[("kubectl", {"f:spec": {"f:labels": {"f:team": {}}, "f:weight": {}}})]), True),
    ("our value changed by hand", live({"address": "10.0.0.9", "labels": {"app": "a"}}, OURS), False),
    ("we own a field the user dropped",
     live({"address": "10.0.0.1", "labels": {"app": "a"}, "weight": 2},
          {"f:spec": {"f:address": {}, "f:labels": {"f:app": {}}, "f:weight": {}}}), False),
    ("a hand edit moved ownership away",
     live({"address": "10.0.0.1", "labels": {"app": "b"}}, {"f:spec": {"f:address": {}}},
          extra_managers=[("kubectl", {"f:spec": {"f:labels": {"f:app": {}}}})]), False),
    ("never applied by us", live({"address": "10.0.0.1", "labels": {"app": "a"}}, OURS, manager="kubectl"), False),
    ("update operation is not apply", live({"address": "10.0.0.1", "labels": {"app": "a"}}, OURS,
                                           operation="Update"), False),
    ("absent", None, False),
]


@pytest.mark.parametrize("name,obj,expected", IN_SYNC, ids=[c[0] for c in IN_SYNC])
def test_in_sync(name, obj, expected):
    assert in_sync(DESIRED, obj) is expected


def test_managed_view_keeps_identity_and_atomic_lists():
    obj = live({"hosts": ["a", "b"], "ports": [{"number": 80, "name": "http"}]},
               {"f:spec": {"f:hosts": {}, "f:ports": {}}})
    view = managed_view(obj)
    assert view == {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
                    "metadata": {"name": "vm1", "namespace": "ns"},
                    "spec": {"hosts": ["a", "b"], "ports": [{"number": 80, "name": "http"}]}}


@pytest.mark.parametrize("before,after,changed,method", [
    (None, {"spec": {"a": 1}}, True, "created"),
    ({"spec": {"a": 1}}, {"spec": {"a": 2}}, True, "updated"),
    ({"spec": {"a": 1}, "metadata": {"resourceVersion": "1"}},
     {"spec": {"a": 1}, "metadata": {"resourceVersion": "2"}}, False, "unchanged"),
    ({"spec": {"a": 1}}, None, True, "deleted"),
    (None, None, False, "absent"),
])
def test_outcome(before, after, changed, method):
    r = outcome("WorkloadEntry", before, after)
    assert (r["changed"], r["method"]) == (changed, method)
    assert r["diff"]["before"] == ({} if before is None else {"spec": before["spec"]})


# A Service as kube-apiserver 1.36 stores it after our apply: ports are a map-list keyed by
# (port, protocol), selector is atomic, and the cluster IP and other defaults belong to no manager.
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ratings", "namespace": "vms"},
           "spec": {"selector": {"app": "ratings"}, "type": "ClusterIP",
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"}]}}
SERVICE_FIELDS = {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {
    ".": {}, "f:appProtocol": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
    "f:selector": {}, "f:type": {}}}


def live_service(spec_changes=(), fields=None):
    spec = dict(SERVICE["spec"], clusterIP="10.96.106.181", clusterIPs=["10.96.106.181"], sessionAffinity="None",
                ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack", internalTrafficPolicy="Cluster")
    spec.update(spec_changes)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "ratings", "namespace": "vms", "resourceVersion": "9",
                         "managedFields": [{"manager": "meshops.istio_vm", "operation": "Apply",
                                            "fieldsV1": fields or SERVICE_FIELDS}]},
            "spec": spec, "status": {"loadBalancer": {}}}


SERVICE_IN_SYNC = [
    ("server-allocated fields are not ours", live_service(), True),
    ("selector changed by hand", live_service({"selector": {"app": "other"}}), False),
    ("a port someone else added (the list compares whole: one no-op apply)", live_service({"ports": SERVICE["spec"]["ports"] + [
        {"name": "grpc", "port": 3550, "targetPort": 3550, "protocol": "TCP"}]}), False),
    ("listed without apiVersion and kind", dict(live_service(), apiVersion=None, kind=None), False),
]


@pytest.mark.parametrize("name,obj,expected", SERVICE_IN_SYNC, ids=[c[0] for c in SERVICE_IN_SYNC])
def test_service_in_sync(name, obj, expected):
    assert in_sync(SERVICE, obj) is expected


SA = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "vm", "namespace": "ns"}}


def annotated(obj, **annotations):
    return dict(obj, metadata=dict(obj["metadata"], annotations=annotations))


@pytest.mark.parametrize("live, expected", [
    (None, ""),
    (SA, ""),
    (annotated(SA), ""),
    ({"metadata": {"annotations": None}}, ""),
    (annotated(SA, **{ORIGIN: "created"}), "created"),
    (annotated(SA, **{ORIGIN: "adopted"}), "adopted"),
    (annotated(SA, **{ORIGIN: "mine"}), ""),           # anything else is no mark of ours
])
def test_origin(live, expected):
    assert origin(live) == expected


def managed(obj, *entries):
    return dict(obj, metadata=dict(obj["metadata"], managedFields=[
        dict({"operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}, **e) for e in entries]))


@pytest.mark.parametrize("live, expected", [
    (None, "created"),                                   # this apply creates it
    (SA, "adopted"),                                     # it was there before this collection
    # applied by 0.1.0, which did not mark objects: created by it when its manager is the only one
    (managed(SA, {"manager": "meshops.istio_vm"}), "created"),
    (managed(SA, {"manager": "meshops.istio_vm"}, {"manager": "controller", "subresource": "status"}), "created"),
    (managed(SA, {"manager": "kubectl-create", "operation": "Update"}, {"manager": "meshops.istio_vm"}), "adopted"),
    (managed(SA, {"manager": "kubectl-client-side-apply", "operation": "Update"}), "adopted"),
    (managed(SA, {"manager": "meshops.istio_vm", "operation": "Update"}), "adopted"),   # not our apply
    (annotated(SA, **{ORIGIN: "created"}), "created"),   # a later apply keeps the mark
    (annotated(SA, **{ORIGIN: "adopted"}), "adopted"),
])
def test_with_origin_marks_adoptable_kinds(live, expected):
    desired = annotated(SA, keep="me")
    marked = with_origin(desired, live)
    assert marked["metadata"]["annotations"] == {"keep": "me", ORIGIN: expected}
    assert desired["metadata"]["annotations"] == {"keep": "me"}, "the desired object was changed"


def test_with_origin_leaves_other_kinds_alone():
    group = {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadGroup", "metadata": {"name": "g", "namespace": "n"}}
    assert with_origin(group, None) is group


def test_bare_keeps_only_the_identity():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n", "labels": {"a": "b"}},
               "spec": {"selector": {"app": "s"}}}
    assert bare(service) == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}}


APPLIED = {"manager": "meshops.istio_vm", "operation": "Apply", "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}}}}
UPDATED = {"manager": "kubectl-create", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}}}}


def with_managers(obj, *entries):
    return dict(obj, metadata=dict(obj["metadata"], managedFields=list(entries)))


@pytest.mark.parametrize("live, expected", [
    (with_managers(annotated(SA, **{ORIGIN: "created"}), APPLIED), "delete"),
    (with_managers(annotated(SA, **{ORIGIN: "adopted"}), APPLIED, UPDATED), "release"),
    (with_managers(SA, APPLIED), "delete"),             # applied before objects were marked
    (with_managers(SA, UPDATED), "keep"),               # given back already, or never ours
    (SA, "keep"),                                       # made without fields (kubectl create serviceaccount)
])
def test_removal(live, expected):
    assert removal(live) == expected


@pytest.mark.parametrize("obj, expected", [
    (with_managers(DESIRED, APPLIED), True),                    # applied by the collection
    (with_managers(DESIRED, UPDATED), False),                   # made by kubectl under the same name
    (DESIRED, False),
    # the label prune goes by (applied by an older run, or written by hand as the collection's)
    (dict(DESIRED, metadata=dict(DESIRED["metadata"], labels={"app.kubernetes.io/managed-by": "meshops.istio_vm"})),
     True),
    (dict(DESIRED, metadata=dict(DESIRED["metadata"], labels={"app.kubernetes.io/managed-by": "Helm"})), False),
])
def test_ours(obj, expected):
    assert ours(obj) is expected


def test_differing_paths_name_where_the_view_and_the_desired_object_part():
    desired = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "labels": {"k": "v"}},
               "spec": {"template": {"ports": {"http": 8080}, "network": "n"}, "probe": None}}
    view = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "labels": {"k": "v"}},
            "spec": {"template": {"ports": {"http": 9080}, "network": "n"}, "probe": {}}}
    from ansible_collections.meshops.istio_vm.plugins.module_utils._runner import differing_paths
    assert differing_paths(view, desired) == ["spec.template.ports"]   # desired as normalize gives it
    assert differing_paths(desired, desired) == []
    assert differing_paths(dict(view, spec={}), desired) == ["spec"]


class UidApi:
    """Objects in a dict, written as the API server does with a UID in the applied object (seen on the lab):
    409 when no object has the name, 422 when the one that has it has another UID (it is immutable)."""

    def __init__(self, *objects, refuse=None):
        self.objects = {o["metadata"]["name"]: copy.deepcopy(o) for o in objects}
        self.applied, self.refuse = [], refuse

    def get(self, kind, namespace, name):
        return copy.deepcopy(self.objects.get(name))

    def list(self, kind, namespace):
        return [copy.deepcopy(o) for o in self.objects.values() if o["metadata"]["namespace"] == namespace]

    def apply(self, desired, dry_run=False, force=False):
        self.applied.append(copy.deepcopy(desired))
        name, uid = desired["metadata"]["name"], desired["metadata"].get("uid")
        if self.refuse:
            raise MeshError("Failed to apply: %s" % self.refuse[1], {"status": self.refuse[0]})
        current = self.objects.get(name)
        if uid and current is None:
            raise MeshError("uid mismatch: no existing object was found", {"status": 409})
        if uid and current["metadata"]["uid"] != uid:
            raise MeshError("metadata.uid: Invalid value: field is immutable", {"status": 422})
        after = live(desired["spec"], OURS)
        after["metadata"]["uid"] = current["metadata"]["uid"] if current else "new"
        if not dry_run:
            self.objects[name] = after
        return after


DRIFTED = live({"address": "10.0.0.9", "labels": {"app": "a"}}, OURS)


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_false_writes_only_the_object_read_by_its_uid(check_mode):
    api = UidApi(DRIFTED)
    result = ensure(api, DESIRED, "present", check_mode, True, create=False)
    assert (result["changed"], result["method"]) == (True, "updated")
    assert [a["metadata"].get("uid") for a in api.applied] == ["u"] and "uid" not in DESIRED["metadata"]
    # in sync: no write at all
    api = UidApi(live({"address": "10.0.0.1", "labels": {"app": "a"}}, OURS))
    assert ensure(api, DESIRED, "present", check_mode, True, create=False)["method"] == "unchanged" and not api.applied


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_false_never_creates(check_mode):
    api = UidApi()
    result = ensure(api, DESIRED, "present", check_mode, True, create=False)
    assert (result["changed"], result["method"], result["result"]) == (False, "missing", {})
    assert api.applied == [] and api.objects == {}
    # listed in a batch: the same
    assert [r["method"] for r in ensure_many(UidApi(), [DESIRED], "present", check_mode, True, create=False)] == ["missing"]


def test_create_false_leaves_an_object_that_went_or_was_made_again_after_the_read():
    gone = UidApi()
    assert ensure(gone, DESIRED, "present", False, True, live=DRIFTED, create=False)["method"] == "missing"
    assert gone.objects == {} and len(gone.applied) == 1
    other = live({"address": "10.0.0.7", "labels": {"app": "a"}}, OURS)
    other["metadata"]["uid"] = "v"
    remade = UidApi(other)
    result = ensure(remade, DESIRED, "present", False, True, live=DRIFTED, create=False)
    assert (result["changed"], result["method"]) == (False, "missing")
    assert remade.objects["vm1"]["spec"]["address"] == "10.0.0.7"
    # without it, the stale read would create the object again
    assert ensure(UidApi(), DESIRED, "present", False, True, live=DRIFTED)["method"] == "updated"


@pytest.mark.parametrize("status", [409, 422, 500])
def test_create_false_reports_a_refusal_of_the_object_that_is_still_there(status):
    api = UidApi(DRIFTED, refuse=(status, "conflict with another field manager"))
    with pytest.raises(MeshError, match="conflict with another field manager"):
        ensure(api, DESIRED, "present", False, False, create=False)


def test_create_false_needs_the_uid_of_the_object_read():
    no_uid = copy.deepcopy(DRIFTED)
    del no_uid["metadata"]["uid"]
    with pytest.raises(MeshError, match="WorkloadEntry ns/vm1 has no metadata.uid: cannot update it without creating one"):
        ensure(UidApi(), DESIRED, "present", False, True, live=no_uid, create=False)


def test_create_false_reports_the_refusal_when_the_namespace_cannot_be_listed_after_it():
    class NoList(UidApi):
        def list(self, kind, namespace):
            raise MeshError("Failed to list WorkloadEntry in namespace ns: forbidden", {"status": 403})

    with pytest.raises(MeshError, match="uid mismatch"):
        ensure(NoList(), DESIRED, "present", False, True, live=DRIFTED, create=False)

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every resource module on the real lab: check -> apply -> idempotent check -> idempotent apply,
an update (check, then apply), then absent (check, apply, again). The cluster is read back after
every step, so check mode is proven to change nothing."""
from __future__ import annotations

import ipaddress
import json
import uuid

import pytest
from kubernetes import client, config

from ansible_collections.meshops.istio_vm.plugins.module_utils._client import MeshClient
from ansible_collections.meshops.istio_vm.plugins.module_utils._runner import ensure
from ansible_run import run_module, run_modules
from rbac_lab import SYSTEM_NS as RBAC_NS
from rbac_lab import identity

PLURALS = {"workload_entry": "workloadentries", "workload_group": "workloadgroups",
           "service_entry": "serviceentries", "sidecar": "sidecars"}
# core kinds are read through CoreV1Api: module -> read method
CORE_READERS = {"workload_service": "read_namespaced_service"}
# spec fields the apiserver fills in itself (allocations and defaults the module does not write)
SERVER_SET = {"workload_service": ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "sessionAffinity",
                                   "internalTrafficPolicy")}
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")  # the lab's --service-cluster-ip-range

CASES = {
    "workload_entry": (
        {"address": "10.213.0.50", "ports": {"http": 8080}, "labels": {"app": "ladder", "version": "v1"},
         "service_account": "vm", "health_checks": True},
        {"address": "10.213.0.50", "ports": {"http": 8081}, "labels": {"app": "ladder"},
         "service_account": "vm", "health_checks": True},
        {"spec": {"address": "10.213.0.50", "ports": {"http": 8081}, "labels": {"app": "ladder"},
                  "serviceAccount": "vm"}},
    ),
    "workload_group": (
        {"labels": {"app": "ladder"}, "template": {"service_account": "vm", "ports": {"http": 8080}},
         "probe": {"period_seconds": 5, "http_get": {"port": 8080, "path": "/ready"}}},
        {"labels": {"app": "ladder"}, "template": {"service_account": "vm", "ports": {"http": 8080}},
         "probe": {"period_seconds": 10, "tcp_socket": {"port": 8080}}},
        {"spec": {"metadata": {"labels": {"app": "ladder"}},
                  "template": {"serviceAccount": "vm", "ports": {"http": 8080}},
                  "probe": {"periodSeconds": 10, "tcpSocket": {"port": 8080}}}},
    ),
    "service_entry": (
        {"hosts": ["ladder.example.com"], "location": "MESH_INTERNAL", "resolution": "STATIC",
         "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "target_port": 9080}],
         "workload_selector": {"app": "ladder"}},
        {"hosts": ["ladder.example.com"], "location": "MESH_INTERNAL", "resolution": "STATIC",
         "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "target_port": 9080},
                   {"number": 443, "name": "https", "protocol": "HTTPS"}],
         "workload_selector": {"app": "ladder"}},
        {"spec": {"hosts": ["ladder.example.com"], "location": "MESH_INTERNAL", "resolution": "STATIC",
                  "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 9080},
                            {"number": 443, "name": "https", "protocol": "HTTPS"}],
                  "workloadSelector": {"labels": {"app": "ladder"}}}},
    ),
    "sidecar": (
        {"workload_selector": {"app": "ladder"},
         "ingress": [{"port": {"number": 8080, "protocol": "HTTP", "name": "http"},
                      "default_endpoint": "127.0.0.1:8080"}],
         "egress": [{"hosts": ["istio-system/*", "./*"]}]},
        {"workload_selector": {"app": "ladder"},
         "ingress": [{"port": {"number": 8080, "protocol": "HTTP", "name": "http"},
                      "default_endpoint": "127.0.0.1:8080"}],
         "egress": [{"bind": "127.0.0.2", "port": {"number": 3306, "protocol": "TCP", "name": "tcp-db"},
                     "hosts": ["./db.example.com"]}, {"hosts": ["istio-system/*", "./*"]}]},
        {"spec": {"workloadSelector": {"labels": {"app": "ladder"}},
                  "ingress": [{"port": {"number": 8080, "protocol": "HTTP", "name": "http"},
                               "defaultEndpoint": "127.0.0.1:8080"}],
                  "egress": [{"bind": "127.0.0.2", "port": {"number": 3306, "protocol": "TCP", "name": "tcp-db"},
                              "hosts": ["./db.example.com"]}, {"hosts": ["istio-system/*", "./*"]}]}},
    ),
    "workload_service": (
        {"selector": {"app": "ladder"},
         "ports": [{"name": "http", "port": 80, "target_port": 8080, "app_protocol": "http"}]},
        {"selector": {"app": "ladder", "version": "v1"},
         "ports": [{"name": "http", "port": 80, "target_port": 8080, "app_protocol": "http"},
                   {"name": "grpc", "port": 3550, "app_protocol": "grpc"}]},
        {"spec": {"selector": {"app": "ladder", "version": "v1"}, "type": "ClusterIP",
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"},
                            {"name": "grpc", "port": 3550, "targetPort": 3550, "protocol": "TCP",
                             "appProtocol": "grpc"}]}},
    ),
}


def _read(api_client, module, namespace, name):
    try:
        if module in CORE_READERS:
            read = getattr(client.CoreV1Api(api_client), CORE_READERS[module])
            return json.loads(read(name, namespace, _preload_content=False).data)
        api = client.CustomObjectsApi(api_client)
        return api.get_namespaced_custom_object("networking.istio.io", "v1", namespace, PLURALS[module], name)
    except client.rest.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _ours(module, spec):
    """The spec without what the apiserver allocates or defaults on its own."""
    return {key: value for key, value in spec.items() if key not in SERVER_SET.get(module, ())}


# The ladder, one step after the other: (step, which arguments, check mode).
STEPS = [("create, check", "v1", True), ("create", "v1", False), ("unchanged, check", "v1", True),
         ("unchanged", "v1", False), ("update, check", "v2", True), ("update", "v2", False),
         ("updated, again", "v2", False), ("absent, check", "absent", True), ("absent", "absent", False),
         ("absent, again", "absent", False)]


@pytest.fixture(scope="module")
def ladders(lab, api_client):
    """The ladder of every resource module, climbed by all of them together: each step is one
    ansible-playbook run with one task per module (one start of Ansible per step, not per module
    and step), and every object is read back from the cluster after each step. Climbed once per
    way a task runs, on first use; {path: {module: [(step, result, object read back)]}}."""
    core = client.CoreV1Api(api_client)
    climbed, namespaces = {}, []

    def climb(path):
        if path not in climbed:
            namespace = f"t-ladder-{path.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
            namespaces.append(namespace)
            modules = sorted(CASES)
            seen = {module: [] for module in modules}
            for step, which, check in STEPS:
                tasks = [(module, dict({"name": "ladder", "namespace": namespace},
                                       **({"state": "absent"} if which == "absent"
                                          else CASES[module][0 if which == "v1" else 1])))
                         for module in modules]
                results = run_modules(lab.kubeconfig, tasks, check=check, in_process=path == "in_process")
                for module, result in zip(modules, results):
                    seen[module].append((step, result, _read(api_client, module, namespace, "ladder")))
            climbed[path] = seen
        return climbed[path]

    yield climb
    for namespace in namespaces:
        core.delete_namespace(namespace)


@pytest.mark.parametrize("path", ["in_process", "module"])
@pytest.mark.parametrize("module", sorted(CASES))
def test_ladder(module, path, ladders):
    """Both ways a task runs: in the controller's process (the action plugin, the default) and as
    the module (what a task delegated to another host runs)."""
    _v1, _v2, expected_v2 = CASES[module]
    steps = ladders(path)[module]
    assert [step for step, _r, _live in steps] == [step for step, _w, _c in STEPS]
    results = [r for _step, r, _live in steps]
    lives = [live for _step, _r, live in steps]
    assert not [(step, r.get("msg")) for step, r, _live in steps if r.get("failed")]

    r = results[0]                                                              # create, check
    assert r["changed"] and r["method"] == "created" and r["diff"]["before"] == {}
    assert r["diff"]["after"]["metadata"]["name"] == "ladder"
    assert lives[0] is None, "check mode created the object"

    r, live = results[1], lives[1]                                              # create
    assert r["changed"] and r["method"] == "created"
    assert live["spec"] == r["result"]["spec"]

    for r in results[2:4]:                                                      # unchanged, check and apply
        assert not r["changed"] and r["method"] == "unchanged"
    assert lives[3]["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"], \
        "an unchanged apply wrote the object"

    r = results[4]                                                              # update, check
    assert r["changed"] and r["method"] == "updated"
    assert r["diff"]["before"]["spec"] == live["spec"]
    assert _ours(module, r["diff"]["after"]["spec"]) == expected_v2["spec"]
    assert lives[4]["spec"] == live["spec"], "check mode updated"

    r = results[5]                                                              # update
    assert r["changed"] and r["method"] == "updated"
    assert _ours(module, lives[5]["spec"]) == expected_v2["spec"]
    assert not results[6]["changed"]                                            # updated, again

    r = results[7]                                                              # absent, check
    assert r["changed"] and r["method"] == "deleted" and r["diff"]["after"] == {}
    assert lives[7] is not None, "check mode deleted"
    r = results[8]                                                              # absent
    assert r["changed"] and r["method"] == "deleted"
    assert lives[8] is None
    r = results[9]                                                              # absent, again
    assert not r["changed"] and r["method"] == "absent"


def test_hand_edit_is_reverted(lab, api_client, namespace):
    """Another field manager changes a label we set: a run fails naming the conflict, a run with
    force_conflicts takes the field back."""
    args = dict(CASES["workload_entry"][0], name="drift", namespace=namespace)
    assert run_module(lab.kubeconfig, "workload_entry", args)["changed"]
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        "networking.istio.io", "v1", namespace, "workloadentries", "drift",
        {"spec": {"labels": {"app": "hand-edited"}}}, _content_type="application/merge-patch+json")
    r = run_module(lab.kubeconfig, "workload_entry", args)
    assert r["failed"] and ".spec.labels.app" in r["msg"] and "force_conflicts: true" in r["msg"]
    assert _read(api_client, "workload_entry", namespace, "drift")["spec"]["labels"]["app"] == "hand-edited"
    r = run_module(lab.kubeconfig, "workload_entry", dict(args, force_conflicts=True))
    assert r["changed"], r.get("msg")
    assert r["diff"]["before"]["spec"]["labels"]["app"] == "hand-edited"
    assert _read(api_client, "workload_entry", namespace, "drift")["spec"]["labels"]["app"] == "ladder"


def test_create_false_updates_only_the_object_read(lab, api_client, namespace):
    """create: false (istiod's auto-registered entries): an entry that does not exist is not made, in check
    mode or not; one that does is updated like any. Against the real API server, the write carries the UID
    read: an entry deleted after the read, or deleted and made again under its name, is left alone."""
    api = client.CustomObjectsApi(api_client)

    def names():
        return sorted(o["metadata"]["name"] for o in api.list_namespaced_custom_object(
            "networking.istio.io", "v1", namespace, "workloadentries")["items"])

    args = dict(CASES["workload_entry"][0], name="registered", namespace=namespace, force_conflicts=True, create=False)
    for check in (True, False):
        r = run_module(lab.kubeconfig, "workload_entry", args, check=check)
        assert (r.get("changed"), r.get("method"), r["failed"]) == (False, "missing", False), r
    batch = run_module(lab.kubeconfig, "workload_entry", {"namespace": namespace, "create": False, "objects": [
        {"name": "registered", "address": "10.213.0.60"}]})
    assert [x["method"] for x in batch["results"]] == ["missing"] and not batch["changed"]
    assert names() == []
    made = {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": "registered", "namespace": namespace}, "spec": {"address": "10.213.0.59"}}
    api.create_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", made)
    r = run_module(lab.kubeconfig, "workload_entry", args)
    assert (r["changed"], r["method"]) == (True, "updated"), r
    assert _read(api_client, "workload_entry", namespace, "registered")["spec"]["address"] == "10.213.0.50"
    assert run_module(lab.kubeconfig, "workload_entry", args)["method"] == "unchanged"

    # the race the UID closes: read, then the entry goes (istiod removes a departed VM's), then the write
    mesh = MeshClient(api_client)
    desired = dict(made, spec={"address": "10.213.0.61"})
    for remade in (False, True):
        if not names():
            api.create_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", made)
        read = mesh.get("WorkloadEntry", namespace, "registered")
        api.delete_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", "registered")
        if remade:
            api.create_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", made)
        for check in (True, False):
            result = ensure(mesh, desired, "present", check, True, live=read, create=False)
            assert (result["changed"], result["method"]) == (False, "missing"), result
        assert names() == (["registered"] if remade else [])
        if remade:
            assert _read(api_client, "workload_entry", namespace, "registered")["spec"]["address"] == "10.213.0.59"
    # with create (the default), the same stale read makes it again: what the UID prevents
    read = mesh.get("WorkloadEntry", namespace, "registered")
    api.delete_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", "registered")
    assert ensure(mesh, desired, "present", False, True, live=read)["method"] == "updated"
    assert names() == ["registered"]


def test_create_false_needs_no_create_permission(lab, api_client, namespace, tmp_path):
    """What the rendered RBAC grants on auto-registered entries (list, patch; no create, no get) is enough for
    create: false: a missing entry, a drifted one, and one that went between the read and the write."""
    rbac = client.RbacAuthorizationV1Api(api_client)
    kubeconfig = identity(api_client, lab, "registered-put-back", tmp_path / "kubeconfig")
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "put-back"}, "rules": [
        {"apiGroups": ["networking.istio.io"], "resources": ["workloadentries"], "verbs": ["list", "patch"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "put-back"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "put-back"},
        "subjects": [{"kind": "ServiceAccount", "name": "registered-put-back", "namespace": RBAC_NS}]})
    api = client.CustomObjectsApi(api_client)
    # the batch form, as the role runs it: one LIST, then a write by name (a single object is read with get)
    args = {"namespace": namespace, "force_conflicts": True, "create": False,
            "objects": [{"name": "registered", "address": "10.213.0.62"}]}
    r = run_module(kubeconfig, "workload_entry", args)
    assert (r.get("changed"), [x["method"] for x in r.get("results", [])], r["failed"]) == (False, ["missing"], False), r
    made = {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": "registered", "namespace": namespace}, "spec": {"address": "10.213.0.59"}}
    api.create_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", made)
    for check in (True, False):
        r = run_module(kubeconfig, "workload_entry", args, check=check)
        assert (r.get("changed"), [x["method"] for x in r.get("results", [])]) == (True, ["updated"]), r
    assert _read(api_client, "workload_entry", namespace, "registered")["spec"]["address"] == "10.213.0.62"
    mesh = MeshClient(config.new_client_from_config(config_file=str(kubeconfig)))
    read = mesh.list("WorkloadEntry", namespace)[0]
    api.delete_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", "registered")
    desired = dict(made, spec={"address": "10.213.0.63"})
    assert ensure(mesh, desired, "present", False, True, live=read, create=False)["method"] == "missing"
    assert api.list_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries")["items"] == []


def test_batch_form(lab, api_client, namespace):
    objects = [{"name": f"vm-{i}", "address": f"10.213.0.{100 + i}", "labels": {"app": "batch"}}
               for i in range(6)]
    r = run_module(lab.kubeconfig, "workload_entry", {"namespace": namespace, "objects": objects})
    assert r["changed"] and [x["method"] for x in r["results"]] == ["created"] * 6
    live = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "networking.istio.io", "v1", namespace, "workloadentries")["items"]
    assert sorted(o["spec"]["address"] for o in live) == [f"10.213.0.{100 + i}" for i in range(6)]
    r = run_module(lab.kubeconfig, "workload_entry", {"namespace": namespace, "objects": objects}, check=True)
    assert not r["changed"]
    objects[2]["labels"] = {"app": "batch", "tier": "db"}
    r = run_module(lab.kubeconfig, "workload_entry", {"namespace": namespace, "objects": objects})
    assert r["changed"] and [x["method"] for x in r["results"]].count("updated") == 1


def test_batch_failure_returns_every_objects_result(lab, api_client, namespace):
    """One object of a batch conflicts with another field manager: the task fails naming it, and
    still returns changed and the results of the objects it wrote."""
    objects = [{"name": f"part-{i}", "address": f"10.213.0.{110 + i}", "labels": {"app": "batch"}}
               for i in range(3)]
    api = client.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", {
        "apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
        "metadata": {"name": "part-1", "namespace": namespace},
        "spec": {"address": "10.213.0.111", "labels": {"app": "someone-else"}}})
    r = run_module(lab.kubeconfig, "workload_entry", {"namespace": namespace, "objects": objects})
    assert r["failed"] and r["changed"]
    assert "1 of 3 WorkloadEntry objects failed" in r["msg"] and f"{namespace}/part-1" in r["msg"]
    by_name = {x["name"]: x for x in r["results"]}
    assert [by_name[f"part-{i}"]["method"] for i in range(3)] == ["created", "failed", "created"]
    assert by_name["part-1"]["failed"] and ".spec.labels.app" in by_name["part-1"]["msg"]
    live = {o["metadata"]["name"]: o for o in api.list_namespaced_custom_object(
        "networking.istio.io", "v1", namespace, "workloadentries")["items"]}
    assert live["part-0"]["spec"]["labels"] == {"app": "batch"} and live["part-2"]["spec"]["address"] == "10.213.0.112"
    assert live["part-1"]["spec"]["labels"] == {"app": "someone-else"}


def test_batch_wait_healthy_names_the_entries_that_are_not(lab, api_client, namespace):
    """wait=healthy in the batch form: one wait for all; entries no sidecar reports on time out
    together, named, with their results (they are written)."""
    objects = [{"name": f"nohealth-{i}", "address": f"10.213.0.{120 + i}", "health_checks": True,
                "wait": "healthy" if i else "none"} for i in range(3)]
    r = run_module(lab.kubeconfig, "workload_entry", {"namespace": namespace, "objects": objects, "wait_timeout": 2})
    assert r["failed"] and r["changed"], r
    assert "2 of 2 WorkloadEntries to be Healthy" in r["msg"]
    assert f"{namespace}/nohealth-1" in r["msg"] and f"{namespace}/nohealth-0" not in r["msg"]
    assert sorted(r["unhealthy"]) == [f"{namespace}/nohealth-1", f"{namespace}/nohealth-2"]
    assert [x["method"] for x in r["results"]] == ["created"] * 3
    live = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "networking.istio.io", "v1", namespace, "workloadentries")["items"]
    assert len(live) == 3


def test_batch_validates_everything_before_writing(lab, api_client, namespace):
    objects = [{"name": "ok-1", "address": "10.213.0.61"}, {"name": "bad", "address": "10.213.0.62",
                                                            "ports": {"http": 70000}}]
    r = run_module(lab.kubeconfig, "workload_entry", {"namespace": namespace, "objects": objects})
    assert r["failed"] and "objects[1] (bad): ports.http: 70000 is not in 1..65535" in r["msg"]
    assert _read(api_client, "workload_entry", namespace, "ok-1") is None, "half-applied batch"


def test_service_account_ladder(lab, api_client):
    ns = f"t-sa-{uuid.uuid4().hex[:6]}"
    args = {"name": "vm-identity", "namespace": ns, "namespace_labels": {"team": "vms"}}
    core = client.CoreV1Api(api_client)
    try:
        r = run_module(lab.kubeconfig, "service_account", args, check=True)
        assert r["changed"] and r["method"] == "created" and r["namespace_method"] == "created", r.get("msg")
        assert ns not in [n.metadata.name for n in core.list_namespace().items], "check mode created it"
        r = run_module(lab.kubeconfig, "service_account", args)
        assert r["changed"] and r["method"] == "created"
        assert core.read_namespace(ns).metadata.labels["team"] == "vms"
        assert core.read_namespaced_service_account("vm-identity", ns).metadata.name == "vm-identity"
        assert not run_module(lab.kubeconfig, "service_account", args, check=True)["changed"]
        r = run_module(lab.kubeconfig, "service_account", args)
        assert not r["changed"] and r["method"] == "unchanged" and r["namespace_method"] == "unchanged"
        r = run_module(lab.kubeconfig, "service_account", dict(args, state="absent"))
        assert r["changed"] and r["method"] == "deleted"
        assert core.read_namespace(ns).metadata.name == ns, "absent must keep the namespace"
        assert not run_module(lab.kubeconfig, "service_account", dict(args, state="absent"))["changed"]
    finally:
        core.delete_namespace(ns)


def test_an_account_and_service_made_before_the_origin_mark_are_deleted_on_absent(lab, api_client, namespace):
    """0.1.0 applied Services and ServiceAccounts without the origin mark: one only its field manager
    ever applied is the collection's own (created), so a later apply marks it so and absent deletes it."""
    core = client.CoreV1Api(api_client)
    for kind, patch, body in (
            # as the role applied it: with the managed-by label (a bare apply records no fields at all)
            ("ServiceAccount", core.patch_namespaced_service_account, {}),
            ("Service", core.patch_namespaced_service,
             {"spec": {"selector": {"app": "old"}, "ports": [{"name": "http", "port": 8080}]}})):
        obj = dict({"apiVersion": "v1", "kind": kind, "metadata": {
            "name": "old-release", "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm"}}}, **body)
        patch("old-release", namespace, obj, field_manager="meshops.istio_vm",
              _content_type="application/apply-patch+yaml")
    labels = {"app.kubernetes.io/managed-by": "meshops.istio_vm"}
    r = run_module(lab.kubeconfig, "service_account", {"name": "old-release", "namespace": namespace,
                                                       "create_namespace": False, "metadata_labels": labels})
    assert not r.get("failed"), r.get("msg")
    annotations = core.read_namespaced_service_account("old-release", namespace).metadata.annotations
    assert annotations["istio-vm.meshops.io/origin"] == "created"
    r = run_module(lab.kubeconfig, "service_account", {"name": "old-release", "namespace": namespace, "state": "absent"})
    assert r["method"] == "deleted", r
    service = {"name": "old-release", "selector": {"app": "old"}, "ports": [{"name": "http", "port": 8080}],
               "metadata_labels": labels}
    r = run_module(lab.kubeconfig, "workload_service", dict(service, namespace=namespace))
    assert not r.get("failed"), r.get("msg")
    r = run_module(lab.kubeconfig, "workload_service", dict(service, namespace=namespace, state="absent"))
    assert r["method"] == "deleted", r
    assert _read(api_client, "workload_service", namespace, "old-release") is None


def test_service_account_leaves_an_existing_namespace_unwritten(lab, api_client):
    """Without namespace_labels an existing namespace is left as it is and a missing one is created.
    That no write is even tried (an apply that sets nothing changes no resourceVersion) is proved by
    test_rbac.py: the shipped RBAC grants only get of the namespace, and onboarding runs under it."""
    core = client.CoreV1Api(api_client)
    ns, missing = f"t-sa-{uuid.uuid4().hex[:6]}", f"t-sa-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=ns, labels={"pod-security.kubernetes.io/enforce": "restricted"})))
    try:
        before = core.read_namespace(ns).metadata
        for check in (True, False, False):
            r = run_module(lab.kubeconfig, "service_account", {"name": "vm-identity", "namespace": ns}, check=check)
            assert not r.get("failed"), r.get("msg")
            assert r["namespace_method"] == "unchanged", r
        after = core.read_namespace(ns).metadata
        assert after.resource_version == before.resource_version, "the namespace was written"
        assert "meshops.istio_vm" not in [m.manager for m in after.managed_fields or []]
        assert after.labels["pod-security.kubernetes.io/enforce"] == "restricted"

        r = run_module(lab.kubeconfig, "service_account", {"name": "vm-identity", "namespace": missing})
        assert r["changed"] and r["namespace_method"] == "created", r.get("msg")
        assert core.read_namespaced_service_account("vm-identity", missing).metadata.name == "vm-identity"
    finally:
        for name in (ns, missing):
            try:
                core.delete_namespace(name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise


def test_workload_service_read_back(lab, api_client, namespace):
    """The Service as given, its cluster IP allocated from the lab's service range and kept across an
    update; the batch form (one LIST of core Services) is idempotent too."""
    objects = [{"name": "ratings", "selector": {"app": "ratings"},
                "ports": [{"name": "http", "port": 8080, "app_protocol": "http"},
                          {"name": "grpc", "port": 3550, "target_port": 13550, "app_protocol": "grpc"}]},
               {"name": "details", "selector": {"app": "details", "version": "v1"},
                "ports": [{"port": 9080, "target_port": "http-alt"}]}]
    args = {"namespace": namespace, "objects": objects}
    r = run_module(lab.kubeconfig, "workload_service", args)
    assert not r["failed"], r.get("msg")
    assert r["changed"] and [x["method"] for x in r["results"]] == ["created", "created"]

    ratings = _read(api_client, "workload_service", namespace, "ratings")
    assert ratings["spec"]["selector"] == {"app": "ratings"}
    assert [{k: p.get(k) for k in ("name", "port", "targetPort", "appProtocol", "protocol")}
            for p in ratings["spec"]["ports"]] == [
        {"name": "http", "port": 8080, "targetPort": 8080, "appProtocol": "http", "protocol": "TCP"},
        {"name": "grpc", "port": 3550, "targetPort": 13550, "appProtocol": "grpc", "protocol": "TCP"}]
    assert ratings["spec"]["type"] == "ClusterIP"
    cluster_ip = ratings["spec"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in SERVICE_CIDR, cluster_ip
    assert r["results"][0]["result"]["spec"]["clusterIP"] == cluster_ip
    details = _read(api_client, "workload_service", namespace, "details")
    assert details["spec"]["ports"] == [{"port": 9080, "targetPort": "http-alt", "protocol": "TCP"}]
    assert ipaddress.ip_address(details["spec"]["clusterIP"]) in SERVICE_CIDR

    r = run_module(lab.kubeconfig, "workload_service", args, check=True)
    assert not r["changed"] and [x["method"] for x in r["results"]] == ["unchanged", "unchanged"], r.get("msg")
    r = run_module(lab.kubeconfig, "workload_service", args)
    assert not r["changed"] and [x["method"] for x in r["results"]] == ["unchanged", "unchanged"]
    assert _read(api_client, "workload_service", namespace, "ratings")["metadata"]["resourceVersion"] == \
        ratings["metadata"]["resourceVersion"]

    objects[0]["ports"] = objects[0]["ports"][:1]
    r = run_module(lab.kubeconfig, "workload_service", args)
    assert r["changed"] and [x["method"] for x in r["results"]] == ["updated", "unchanged"]
    ratings = _read(api_client, "workload_service", namespace, "ratings")
    assert [p["name"] for p in ratings["spec"]["ports"]] == ["http"]
    assert ratings["spec"]["clusterIP"] == cluster_ip, "an update must keep the allocated cluster IP"

    r = run_module(lab.kubeconfig, "workload_service", dict(args, state="absent"))
    assert r["changed"] and [x["method"] for x in r["results"]] == ["deleted", "deleted"]
    assert _read(api_client, "workload_service", namespace, "ratings") is None


ORIGIN = "istio-vm.meshops.io/origin"


def test_a_service_and_account_made_by_other_means_are_given_back_not_deleted(lab, api_client, namespace):
    """A Service that pods use too and the ServiceAccount they run as, made with kubectl's field
    manager before the VM workload joins them: adopted (marked), then given back on state=absent,
    with what their owner set, and a second absent leaves them alone. One the module created goes."""
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service(namespace, {
        "metadata": {"name": "shared", "labels": {"team": "pods"}},
        "spec": {"selector": {"app": "shared"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        field_manager="kubectl-create")
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "shared"}}, field_manager="kubectl-create")
    service = {"name": "shared", "namespace": namespace, "selector": {"app": "shared"},
               "ports": [{"name": "http", "port": 80, "target_port": 8080, "app_protocol": "http"}]}
    account = {"name": "shared", "namespace": namespace, "create_namespace": False, "metadata_labels": {"mesh": "vm"}}
    ours = {"name": "ours", "namespace": namespace, "create_namespace": False}

    for module, args, method in (("workload_service", service, "updated"), ("service_account", account, "updated"),
                                 ("service_account", ours, "created")):
        r = run_module(lab.kubeconfig, module, args)
        assert not r["failed"] and r["changed"] and r["method"] == method, r
        assert not run_module(lab.kubeconfig, module, args)["changed"], f"{module} {args['name']}: not idempotent"
    svc = core.read_namespaced_service("shared", namespace)
    assert svc.metadata.annotations[ORIGIN] == "adopted" and svc.spec.ports[0].app_protocol == "http"
    sa = core.read_namespaced_service_account("shared", namespace)
    assert sa.metadata.annotations[ORIGIN] == "adopted" and sa.metadata.labels == {"mesh": "vm"}
    assert core.read_namespaced_service_account("ours", namespace).metadata.annotations[ORIGIN] == "created"

    for check in (True, False):
        for module, args, method in (("workload_service", service, "released"), ("service_account", account, "released"),
                                     ("service_account", ours, "deleted")):
            r = run_module(lab.kubeconfig, module, dict(args, state="absent"), check=check)
            assert not r["failed"] and r["changed"] and r["method"] == method, r
            if check:
                assert core.read_namespaced_service_account(args["name"], namespace).metadata.annotations[ORIGIN], \
                    "check mode changed the object"
    svc = core.read_namespaced_service("shared", namespace)
    assert ORIGIN not in (svc.metadata.annotations or {}) and svc.metadata.labels == {"team": "pods"}
    assert svc.spec.selector == {"app": "shared"}
    assert [(p.name, p.port, p.target_port, p.app_protocol) for p in svc.spec.ports] == [("http", 80, 8080, None)]
    sa = core.read_namespaced_service_account("shared", namespace)
    assert not sa.metadata.annotations and not sa.metadata.labels
    assert "ours" not in [a.metadata.name for a in core.list_namespaced_service_account(namespace).items]

    for module, args in (("workload_service", service), ("service_account", account)):
        r = run_module(lab.kubeconfig, module, dict(args, state="absent"))
        assert not r["failed"] and not r["changed"] and r["method"] == "released", r
    assert core.read_namespaced_service("shared", namespace).spec.selector == {"app": "shared"}
    assert core.read_namespaced_service_account("shared", namespace).metadata.name == "shared"


def test_istio_objects_the_collection_never_applied_survive_state_absent(lab, api_client, namespace):
    """A WorkloadGroup, ServiceEntry and Sidecar made by hand (kubectl's field manager, as the istioctl
    guide does) under the names the inventory uses: state=absent (check, then real, single and batch
    form) leaves each as it is and says so. Once the collection applied one, absent deletes it."""
    custom = client.CustomObjectsApi(api_client)
    made = {
        "workload_group": {"spec": {"template": {"serviceAccount": "vm"}}},
        "service_entry": {"spec": {"hosts": ["hand.example.com"], "ports": [{"number": 80, "name": "http",
                                                                             "protocol": "HTTP"}],
                                   "resolution": "DNS"}},
        "sidecar": {"spec": {"egress": [{"hosts": ["./*"]}]}},
    }
    kinds = {"workload_group": "WorkloadGroup", "service_entry": "ServiceEntry", "sidecar": "Sidecar"}
    for module, body in made.items():
        custom.create_namespaced_custom_object(
            "networking.istio.io", "v1", namespace, PLURALS[module],
            dict(body, apiVersion="networking.istio.io/v1", kind=kinds[module], metadata={"name": "hand"}),
            field_manager="kubectl-client-side-apply")

    def exists(module):
        try:
            custom.get_namespaced_custom_object("networking.istio.io", "v1", namespace, PLURALS[module], "hand")
            return True
        except client.ApiException as exc:
            assert exc.status == 404
            return False

    for check in (True, False):
        for module in made:
            r = run_module(lab.kubeconfig, module, {"name": "hand", "namespace": namespace, "state": "absent"},
                           check=check)
            assert not r["failed"] and not r["changed"] and r["method"] == "kept", r
            assert any("was not deleted: it is not this collection's" in w for w in r.get("warnings", [])), r
            assert exists(module), f"{module}: state=absent deleted an object the collection never applied"
    batch = run_module(lab.kubeconfig, "sidecar",
                       {"objects": [{"name": "hand", "namespace": namespace}], "state": "absent"})
    assert not batch["failed"] and not batch["changed"] and batch["results"][0]["method"] == "kept", batch
    assert exists("sidecar")

    # applied once by the collection (adopted): its object now, and absent deletes it
    r = run_module(lab.kubeconfig, "sidecar", {"name": "hand", "namespace": namespace,
                                               "egress": [{"hosts": ["./*"]}], "force_conflicts": True})
    assert not r["failed"], r
    r = run_module(lab.kubeconfig, "sidecar", {"name": "hand", "namespace": namespace, "state": "absent"})
    assert not r["failed"] and r["changed"] and r["method"] == "deleted", r
    assert not exists("sidecar") and exists("workload_group") and exists("service_entry")


def test_workload_service_validates_before_any_api_call(lab):
    """An unreachable host: the validation errors must come first, every one of them."""
    r = run_module(lab.kubeconfig, "workload_service",
                   {"name": "ratings", "ports": [{"name": "HTTP", "port": 8080}], "host": "https://127.0.0.1:1"})
    assert r["failed"] and r["msg"] == ("workload_service: selector: is required (the labels of the workloads; "
                                        "istiod matches them against WorkloadEntries); ports[0].name: 'HTTP' is not "
                                        "a DNS-1123 label (lower case alphanumerics and '-', starting and ending "
                                        "alphanumeric)"), r["msg"]
    r = run_module(lab.kubeconfig, "workload_service",
                   {"objects": [{"name": "ratings", "selector": {"app": "ratings"}, "ports": {"http": 8080}}],
                    "host": "https://127.0.0.1:1"})
    assert r["failed"] and "objects[0] (ratings): ports: must be a list of dicts" in r["msg"], r["msg"]


def test_cluster_tasks_run_in_the_controllers_process(lab, namespace):
    """The action plugin runs the module's code in the worker process (no AnsiballZ module is
    built or executed); with MESHOPS_ISTIO_VM_IN_PROCESS=0 the module runs, with the same result."""
    args = {"name": "where", "namespace": namespace, "address": "10.213.0.51", "service_account": "vm"}
    here = run_module(lab.kubeconfig, "workload_entry", args, check=True, verbosity=3)
    there = run_module(lab.kubeconfig, "workload_entry", args, check=True, verbosity=3, in_process=False)
    assert "AnsiballZ_workload_entry" not in here["_stdout"]
    assert "AnsiballZ_workload_entry" in there["_stdout"]
    strip = ("_stdout", "invocation")
    assert {k: v for k, v in here.items() if k not in strip} == {k: v for k, v in there.items() if k not in strip}
    assert here["changed"] and here["method"] == "created"

"""Every resource module on the real lab: check -> apply -> idempotent check -> idempotent apply,
an update (check, then apply), then absent (check, apply, again). The cluster is read back after
every step, so check mode is proven to change nothing."""
from __future__ import annotations

import pytest
from kubernetes import client

from ansible_run import run_module

PLURALS = {"workload_entry": "workloadentries", "workload_group": "workloadgroups",
           "service_entry": "serviceentries", "sidecar": "sidecars"}

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
}


def _read(api_client, module, namespace, name):
    api = client.CustomObjectsApi(api_client)
    try:
        return api.get_namespaced_custom_object("networking.istio.io", "v1", namespace, PLURALS[module], name)
    except client.rest.ApiException as exc:
        if exc.status == 404:
            return None
        raise


@pytest.mark.parametrize("module", sorted(CASES))
def test_ladder(module, lab, api_client, namespace):
    v1, v2, expected_v2 = CASES[module]
    ident = {"name": "ladder", "namespace": namespace}

    def run(args, check=False):
        return run_module(lab.kubeconfig, module, dict(ident, **args), check=check)

    r = run(v1, check=True)
    assert not r.get("failed"), r.get("msg")
    assert r["changed"] and r["method"] == "created" and r["diff"]["before"] == {}
    assert r["diff"]["after"]["metadata"]["name"] == "ladder"
    assert _read(api_client, module, namespace, "ladder") is None, "check mode created the object"

    r = run(v1)
    assert r["changed"] and r["method"] == "created"
    live = _read(api_client, module, namespace, "ladder")
    assert live["spec"] == r["result"]["spec"]

    r = run(v1, check=True)
    assert not r["changed"] and r["method"] == "unchanged"
    r = run(v1)
    assert not r["changed"] and r["method"] == "unchanged"
    assert _read(api_client, module, namespace, "ladder")["metadata"]["resourceVersion"] == \
        live["metadata"]["resourceVersion"], "an unchanged apply wrote the object"

    r = run(v2, check=True)
    assert r["changed"] and r["method"] == "updated"
    assert r["diff"]["before"]["spec"] == live["spec"] and r["diff"]["after"]["spec"] == expected_v2["spec"]
    assert _read(api_client, module, namespace, "ladder")["spec"] == live["spec"], "check mode updated"

    r = run(v2)
    assert r["changed"] and r["method"] == "updated"
    assert _read(api_client, module, namespace, "ladder")["spec"] == expected_v2["spec"]
    assert not run(v2)["changed"]

    r = run({"state": "absent"}, check=True)
    assert r["changed"] and r["method"] == "deleted" and r["diff"]["after"] == {}
    assert _read(api_client, module, namespace, "ladder") is not None, "check mode deleted"
    r = run({"state": "absent"})
    assert r["changed"] and r["method"] == "deleted"
    assert _read(api_client, module, namespace, "ladder") is None
    r = run({"state": "absent"})
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


def test_batch_validates_everything_before_writing(lab, api_client, namespace):
    objects = [{"name": "ok-1", "address": "10.213.0.61"}, {"name": "bad", "address": "10.213.0.62",
                                                            "ports": {"http": 70000}}]
    r = run_module(lab.kubeconfig, "workload_entry", {"namespace": namespace, "objects": objects})
    assert r["failed"] and "objects[1] (bad): ports.http: 70000 is not in 1..65535" in r["msg"]
    assert _read(api_client, "workload_entry", namespace, "ok-1") is None, "half-applied batch"


def test_service_account_ladder(lab, api_client):
    import uuid
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

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vm_bootstrap and mesh_info against the lab's istiod and API server."""
from __future__ import annotations

import json
import stat
import uuid

import pytest
from kubernetes import client

from ansible_run import run_module


@pytest.fixture
def group(lab, api_client, namespace):
    client.CoreV1Api(api_client).create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="vm-sa")))
    r = run_module(lab.kubeconfig, "workload_group", {
        "name": "app", "namespace": namespace, "labels": {"app": "app", "version": "v1"},
        "template": {"service_account": "vm-sa", "network": "meshlab-net", "ports": {"http": 8080}},
        "probe": {"http_get": {"port": 8080, "path": "/ready"}}})
    assert r["changed"], r.get("msg")
    return namespace


def _args(namespace, dest, **extra):
    return dict({"workload_group": "app", "namespace": namespace, "ingress_ip": "10.213.0.1",
                 "internal_ip": "10.213.0.11", "dest": str(dest)}, **extra)


def test_bundle_matches_cluster_and_istiod(lab, api_client, group, tmp_path):
    dest = tmp_path / "tree" / "bundle"
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest), check=True)
    assert r["changed"] and not dest.exists(), "check mode wrote files"
    planned = r["planned_bundle"]

    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest), verbosity=3)
    assert r["changed"] and r["token"]["action"] == "renewed", r.get("msg")
    # the dry run's planned bundle is what the run wrote, the token aside; a run returns none
    assert planned == {name: (dest / name).read_text() for name in ("cluster.env", "mesh.yaml", "root-cert.pem", "hosts")}
    assert "planned_bundle" not in r
    token = (dest / "istio-token").read_text()
    assert token not in r["_stdout"], "the token was printed at -vvv"
    assert token not in str({k: v for k, v in r.items() if k != "_stdout"})

    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in dest.iterdir()}
    assert modes == {"istio-token": 0o600, "istio-token.claims": 0o600, "cluster.env": 0o640, "mesh.yaml": 0o640,
                     "root-cert.pem": 0o640, "hosts": 0o640}
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700, "the parent the module created is not private"
    record = json.loads((dest / "istio-token.claims").read_text())
    assert sorted(record) == ["aud", "exp", "iss", "sub"] and token not in (dest / "istio-token.claims").read_text()
    assert record["sub"] == f"system:serviceaccount:{group}:vm-sa" and record["aud"] == ["istio-ca"]

    core = client.CoreV1Api(api_client)
    root = core.read_namespaced_config_map("istio-ca-root-cert", group).data["root-cert.pem"]
    assert (dest / "root-cert.pem").read_text() == root
    assert root == core.read_namespaced_config_map("istio-ca-root-cert", "istio-system").data["root-cert.pem"]

    review = client.AuthenticationV1Api(api_client).create_token_review(client.V1TokenReview(
        spec=client.V1TokenReviewSpec(token=token, audiences=["istio-ca"])))
    assert review.status.authenticated and review.status.user.username == f"system:serviceaccount:{group}:vm-sa"

    env = dict(line.split("=", 1) for line in (dest / "cluster.env").read_text().splitlines())
    assert env["ISTIO_META_AUTO_REGISTER_GROUP"] == "'app'" and env["SERVICE_ACCOUNT"] == "'vm-sa'"
    assert env["ISTIO_META_CLUSTER_ID"] == "'meshlab'" and env["ISTIO_META_NETWORK"] == "'meshlab-net'"
    assert env["ISTIO_SVC_IP"] == "'10.213.0.11'" and env["POD_NAMESPACE"] == f"'{group}'"
    assert (dest / "hosts").read_text() == "10.213.0.1 istiod.istio-system.svc\n"

    again = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest))
    assert not again["changed"] and again["token"]["action"] == "kept"
    assert (dest / "istio-token").read_text() == token
    assert not run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest), check=True)["changed"]

    # The caller handed the token out and removed it: the record says the VM holds a good one.
    (dest / "istio-token").unlink()
    for check in (True, False):
        delivered = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest), check=check)
        assert not delivered["changed"] and delivered["token"]["action"] == "delivered", delivered
        assert "istio-token" not in delivered["files"] and not (dest / "istio-token").exists()
    assert json.loads((dest / "istio-token.claims").read_text()) == record

    rotated = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest, rotate_token=True))
    assert rotated["changed"] and rotated["token"]["action"] == "renewed"
    assert (dest / "istio-token").read_text() != token
    assert json.loads((dest / "istio-token.claims").read_text())["exp"] >= record["exp"]


def test_static_mode_sets_workload_entry(lab, group, tmp_path):
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, tmp_path / "b", autoregister=False,
                                                         workload_entry="app-vm1"))
    assert r["cluster_env"]["ISTIO_META_WORKLOAD_ENTRY"] == "app-vm1"
    assert "ISTIO_META_AUTO_REGISTER_GROUP" not in r["cluster_env"]


@pytest.mark.parametrize("change,message", [
    ({"workload_group": "nope"}, "WorkloadGroup {ns}/nope not found"),
    ({"revision": "canary"}, "Istio mesh ConfigMap istio-system/istio-canary not found"),
    ({"workload_entry": "x"}, "autoregister and workload_entry are mutually exclusive"),
])
def test_bootstrap_errors(lab, group, tmp_path, change, message):
    r = run_module(lab.kubeconfig, "vm_bootstrap", dict(_args(group, tmp_path / "b"), **change))
    assert r["failed"] and message.format(ns=group) in r["msg"]
    assert not (tmp_path / "b").exists()


def test_bootstrap_missing_service_account(lab, api_client, namespace, tmp_path):
    assert run_module(lab.kubeconfig, "workload_group", {
        "name": "app", "namespace": namespace, "template": {"service_account": "ghost"}})["changed"]
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(namespace, tmp_path / "b"))
    assert r["failed"] and f"ServiceAccount {namespace}/ghost" in r["msg"]


def test_mesh_info(lab):
    r = run_module(lab.kubeconfig, "mesh_info", {})
    assert not r["changed"]
    (rev,) = r["revisions"]
    assert rev == {"revision": "default", "trust_domain": "cluster.local", "mesh_id": "meshlab",
                   "cluster_id": "meshlab", "network": "meshlab-net",
                   "istiod_address": "istiod.istio-system.svc:15012", "versions": [],
                   "autoregistration": True, "health_checks": True}


def _annotate(api_client, namespace, proxy_metadata):
    """A proxy.istio.io/config annotation on the WorkloadGroup, set by someone other than this collection."""
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        "networking.istio.io", "v1", namespace, "workloadgroups", "app",
        {"metadata": {"annotations": {"proxy.istio.io/config": json.dumps({"proxyMetadata": proxy_metadata})}}},
        _content_type="application/merge-patch+json")


@pytest.fixture
def plain_control_plane(api_client):
    """The lab's mesh config in a namespace of its own, with the chart's default injector values (no
    clusterName): a control plane installed outside istio-system, with no cluster name set."""
    core = client.CoreV1Api(api_client)
    ns = f"t-cp-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    mesh = core.read_namespaced_config_map("istio", "istio-system").data
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="istio"), data=mesh))
    core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="istio-sidecar-injector"),
        data={"values": json.dumps({"global": {"multiCluster": {"clusterName": ""}}})}))
    yield ns
    core.delete_namespace(ns)


def test_a_control_plane_without_cluster_name_or_outside_istio_system(lab, group, plain_control_plane, tmp_path):
    """istiod runs as cluster "Kubernetes" when the chart sets no clusterName; and certificates are
    asked of the istiod of the namespace given, not istio-start.sh's default istio-system."""
    ns = plain_control_plane
    r = run_module(lab.kubeconfig, "mesh_info", {"istio_namespace": ns, "cluster_id": "Kubernetes"})
    assert not r["failed"], r.get("msg")
    assert [rev["cluster_id"] for rev in r["revisions"]] == ["Kubernetes"]
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, tmp_path / "b", istio_namespace=ns))
    assert not r["failed"], r.get("msg")
    assert r["cluster_env"]["ISTIO_META_CLUSTER_ID"] == "Kubernetes"
    assert r["cluster_env"]["CA_ADDR"] == f"istiod.{ns}.svc:15012"
    assert (tmp_path / "b" / "hosts").read_text() == f"10.213.0.1 istiod.{ns}.svc\n"


def test_a_key_that_is_shell_code_is_refused_before_any_file_or_token(lab, api_client, group, tmp_path):
    dest = tmp_path / "bundle"
    _annotate(api_client, group, {"X=1; touch /tmp/pwned; Y": "1"})
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest))
    assert r["failed"] and "key 'X=1; touch /tmp/pwned; Y' is not an environment variable name" in r["msg"]
    assert not dest.exists()
    _annotate(api_client, group, {"EXEC_USER": "root"})
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest))
    assert r["failed"] and "EXEC_USER changes how the sidecar or its start script runs" in r["msg"], r.get("msg")
    assert not dest.exists()
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest, allow_proxy_metadata=["EXEC_USER"]))
    assert r["changed"] and "EXEC_USER='root'" in (dest / "cluster.env").read_text()


def test_shell_code_in_a_value_never_runs_on_the_vm(lab, api_client, group, tmp_path):
    """cluster.env sourced on a lab VM the way istio-start.sh sources it (bash, `set -a`, as root)."""
    dest = tmp_path / "bundle"
    payload = "$(touch /tmp/pwned-a); `touch /tmp/pwned-b`; ' ; touch /tmp/pwned-c #"
    _annotate(api_client, group, {"GREETING": payload})
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest))
    assert r["changed"], r.get("msg")
    lab.ssh(1, "rm", "-f", "/tmp/pwned-a", "/tmp/pwned-b", "/tmp/pwned-c", "/tmp/cluster.env")
    lab.write(1, "/tmp/cluster.env", (dest / "cluster.env").read_bytes())
    shown = lab.ssh(1, "bash", "-c", "set -a; . /tmp/cluster.env; printf %s \"$GREETING\"").stdout
    assert shown == payload
    assert lab.ssh(1, "ls", "/tmp/pwned-a", "/tmp/pwned-b", "/tmp/pwned-c", check=False).returncode != 0


def test_token_only_for_the_service_account_the_caller_names(lab, api_client, group, tmp_path):
    dest = tmp_path / "bundle"
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest, service_account="someone-else"))
    assert r["failed"] and "runs its VMs as ServiceAccount 'vm-sa', the caller expects 'someone-else'" in r["msg"]
    assert not dest.exists()
    r = run_module(lab.kubeconfig, "vm_bootstrap", _args(group, dest, service_account="vm-sa"))
    assert r["changed"] and (dest / "istio-token").exists(), r.get("msg")


def test_a_dry_run_renders_the_bundle_of_the_planned_group(lab, api_client, group, tmp_path):
    """planned_workload_group: a dry run of a group the run would change (here its service account)
    renders from the dry run's group, and writes nothing; a real run or another group is refused."""
    dest = tmp_path / "bundle"
    planned = run_module(lab.kubeconfig, "workload_group", {
        "name": "app", "namespace": group, "labels": {"app": "app", "version": "v1"},
        "template": {"service_account": "renamed-sa", "network": "meshlab-net", "ports": {"http": 8080}},
        "probe": {"http_get": {"port": 8080, "path": "/ready"}}}, check=True)
    assert planned["method"] == "updated", planned
    args = _args(group, dest, service_account="renamed-sa", planned_workload_group=planned["result"])
    r = run_module(lab.kubeconfig, "vm_bootstrap", args, check=True)
    assert not r["failed"] and r["changed"], r.get("msg")
    assert r["cluster_env"]["SERVICE_ACCOUNT"] == "renamed-sa"
    assert r["workload_group_applied"]["spec"]["template"]["serviceAccount"] == "renamed-sa"
    assert any(f"ServiceAccount {group}/renamed-sa (the planned WorkloadGroup's template.serviceAccount) does not "
               "exist yet" in w for w in r.get("warnings", [])), r.get("warnings")
    assert not dest.exists()
    live = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "networking.istio.io", "v1", group, "workloadgroups", "app")
    assert live["spec"]["template"]["serviceAccount"] == "vm-sa"

    r = run_module(lab.kubeconfig, "vm_bootstrap", args)
    assert r["failed"] and r["msg"] == ("planned_workload_group is for check mode only: a run reads the "
                                        "WorkloadGroup it applied"), r
    other = dict(planned["result"], metadata=dict(planned["result"]["metadata"], name="other"))
    r = run_module(lab.kubeconfig, "vm_bootstrap", dict(args, planned_workload_group=other), check=True)
    assert r["failed"] and r["msg"] == f"planned_workload_group is WorkloadGroup {group}/other, not WorkloadGroup {group}/app"
    assert not dest.exists()

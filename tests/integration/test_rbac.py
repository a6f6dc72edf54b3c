# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Least privilege, proven on the lab.

playbooks/rbac.yml renders the RBAC of an inventory; an administrator applies it. Then:
- every permission it grants is needed: removing any one verb makes the playbook that uses it
  fail in its first play, naming the verb and resource, before anything changes;
- it is enough: onboard with prune, verify (a second, read-only identity), rotate and offboard
  run under it, and the API server's audit log shows no request refused and every grant used.
The identities are ServiceAccount tokens of the audited namespace (tests/lab), not cluster admins.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from ansible_collections.meshops.istio_vm.plugins.module_utils._rbac import Need, needs, rbac_objects, unique
from ansible_run import ANSIBLE_PLAYBOOK, ansible_env, run_playbook
from conftest import REPO
from mesh_state import GROUP, NS, SA, entries, group, recap, reset_lab_inventory, wait
from rbac_lab import SYSTEM_NS, Audit, identity

INVENTORY = REPO / "tests" / "integration" / "inventories" / "rbac"
OPERATOR = {"kind": "ServiceAccount", "name": "onboarder", "namespace": SYSTEM_NS}
VERIFIER = {"kind": "ServiceAccount", "name": "verifier", "namespace": SYSTEM_NS}
STATIC_ENTRY, STATIC = "mlab-vm2", "lab-static"
REGISTERED_ENTRY = f"{GROUP}-10.213.0.11-meshlab-net"

# The VMs of INVENTORY as the role describes them (only the fields the permissions depend on);
# test_rendered_rbac_matches checks that the playbook renders the same from the inventory.
_VM = {"namespace": NS, "workload": GROUP, "service_account": SA, "service_object": {"name": GROUP},
       "group_object": {"name": GROUP}, "service_entry_objects": [], "sidecar_object": None}
VMS = [dict(_VM, mode="autoregister", registered_object={"name": REGISTERED_ENTRY}),
       dict(_VM, mode="static", workload=STATIC, service_account=STATIC, service_object={"name": STATIC},
            group_object={"name": STATIC}, entry_object={"name": STATIC_ENTRY})]
OPTIONS = {"create_identity": True, "ingress_ip": True, "cluster_id": True}
OPS = {op: needs(op, VMS, prune=op == "onboard", **OPTIONS) for op in ("onboard", "rotate", "offboard")}
VERIFY = needs("verify", VMS, **OPTIONS)


def _grants(objects) -> set:
    """(verb, group, resource, namespace, name) of every permission the objects grant."""
    out = set()
    for obj in objects:
        for rule in obj.get("rules", []):
            for verb in rule["verbs"]:
                for name in rule.get("resourceNames", [""]):
                    out.add((verb, rule["apiGroups"][0], rule["resources"][0], obj["metadata"].get("namespace", ""),
                             name))
    return out


def _cases():
    """One case per rule and verb granted: the identity that holds it, and the playbook that needs
    it. Of a rule that names both workloads' objects (resourceNames), the first name stands for it."""
    granted = {n[:5] for n in unique(n for op in OPS.values() for n in op)}
    out, seen = [], set()
    candidates = [("operator", op, need) for op in ("onboard", "rotate", "offboard") for need in OPS[op]
                  if need[:5] in granted] + [("verifier", "verify", need) for need in VERIFY]
    for who, op, need in candidates:
        rule = (who, need.verb, need.group, need.resource, need.namespace, bool(need.name))
        if rule not in seen:
            seen.add(rule)
            out.append((who, op, need))
    return out


CASES = _cases()


def _id(case):
    who, op, need = case
    return f"{op}:{need.describe().replace(' ', '_')}"


def render(subject, verify_subject=None, *args, **options) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "rbac.yaml"
        extra = {"rbac_subject": subject, "rbac_dest": str(dest), "rbac_prune": True, **options}
        if verify_subject:
            extra["rbac_verify_subject"] = verify_subject
        res = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(INVENTORY), str(REPO / "playbooks" / "rbac.yml"),
                              "-e", json.dumps(extra), *args], capture_output=True, text=True,
                             env=ansible_env(None), timeout=300, check=False)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        return [doc for doc in yaml.safe_load_all(dest.read_text()) if doc]


def apply(api_client, objects) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client)
    for obj in objects:
        kind, meta = obj["kind"], obj["metadata"]
        create, replace = {
            "ClusterRole": (rbac.create_cluster_role, rbac.replace_cluster_role),
            "ClusterRoleBinding": (rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding),
            "Role": (rbac.create_namespaced_role, rbac.replace_namespaced_role),
            "RoleBinding": (rbac.create_namespaced_role_binding, rbac.replace_namespaced_role_binding)}[kind]
        args = (meta["namespace"],) if "namespace" in meta else ()
        try:
            create(*args, obj)
        except client.rest.ApiException as exc:
            if exc.status != 409:
                raise
            replace(meta["name"], *args, obj)


def remove(api_client, objects) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client)
    for obj in objects:
        kind, meta = obj["kind"], obj["metadata"]
        delete = {"ClusterRole": rbac.delete_cluster_role, "ClusterRoleBinding": rbac.delete_cluster_role_binding,
                  "Role": rbac.delete_namespaced_role, "RoleBinding": rbac.delete_namespaced_role_binding}[kind]
        try:
            delete(meta["name"], *((meta["namespace"],) if "namespace" in meta else ()))
        except client.rest.ApiException as exc:
            if exc.status != 404:
                raise


def without(need: Need, items) -> list:
    return [n for n in items if n[:5] != need[:5]]


@pytest.fixture(scope="module")
def cluster(lab, api_client):
    """Nothing of the workload anywhere; the workload's namespace made by the administrator (the
    RoleBindings live in it); the rendered RBAC applied for the two identities."""
    reset_lab_inventory(lab, api_client)
    # no bundles or record of an earlier run of this inventory (its own state directory)
    shutil.rmtree(INVENTORY / ".meshops-istio-vm", ignore_errors=True)
    client.CoreV1Api(api_client).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    objects = render(OPERATOR, VERIFIER)
    apply(api_client, objects)
    tmp = Path(tempfile.mkdtemp(prefix="meshops-rbac-"))
    yield {"objects": objects, "operator": identity(api_client, lab, OPERATOR["name"], tmp / "operator"),
           "verifier": identity(api_client, lab, VERIFIER["name"], tmp / "verifier"), "tmp": tmp}
    remove(api_client, objects)
    shutil.rmtree(tmp, ignore_errors=True)      # kubeconfigs with the identities' tokens


def test_rendered_rbac_matches_and_is_least_privilege(cluster):
    objects = cluster["objects"]
    operator = [o for o in objects if o["metadata"]["name"] == "meshops-istio-vm"]
    verifier = [o for o in objects if o["metadata"]["name"] == "meshops-istio-vm-verify"]
    assert operator + verifier == objects
    assert _grants(operator) == {n[:5] for n in unique(n for op in OPS.values() for n in op)}
    assert _grants(verifier) == {n[:5] for n in VERIFY}
    assert operator == rbac_objects([n for op in OPS.values() for n in op], OPERATOR)
    for obj in objects:
        for rule in obj.get("rules", []):
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
            if obj["kind"] == "ClusterRole":
                # cluster-wide: the workload's namespace by name, and listing entries for prune
                assert (rule["resources"], rule.get("resourceNames")) in ((["namespaces"], [NS]),
                                                                          (["workloadentries"], None)), rule
            if rule["resources"] == ["serviceaccounts/token"]:
                assert rule["resourceNames"] == [SA, STATIC]
    assert {verb for o in verifier for r in o.get("rules", []) for verb in r["verbs"]} == {"get", "list"}


@pytest.fixture(scope="module")
def removals(lab, api_client, cluster):
    """Each case run once, concurrently: its own identity holding everything but one permission."""

    def one(index_case):
        index, (who, op, need) = index_case
        name = f"case-{index}"
        subject = {"kind": "ServiceAccount", "name": name, "namespace": SYSTEM_NS}
        granted = without(need, VERIFY if who == "verifier" else [n for o in OPS.values() for n in o])
        objects = rbac_objects(granted, subject, name=f"meshops-{name}")
        apply(api_client, objects)
        try:
            kubeconfig = identity(api_client, lab, name, cluster["tmp"] / name)
            extra = ["-e", f"mesh_workload_kubeconfig={kubeconfig}"]
            if op == "onboard":
                extra += ["-e", "mesh_workload_prune=true"]
            res = run_playbook(INVENTORY, kubeconfig, {"onboard": "onboard.yml", "rotate": "rotate.yml",
                                                       "offboard": "offboard.yml", "verify": "verify.yml"}[op],
                               *extra, check=False)
        finally:
            remove(api_client, objects)
        return res

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one, enumerate(CASES)))
    return dict(zip(map(_id, CASES), results))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_each_permission_is_checked_before_any_change(removals, api_client, case):
    who, op, need = case
    res = removals[_id(case)]
    out = " ".join(res.stdout.split())
    assert res.returncode != 0, out[-2000:]
    if need.why.endswith("(mesh_info)"):
        # what the first task itself reads: refused by the API server, before anything else
        assert "forbidden by RBAC" in out and f'cannot {need.verb} resource "{need.resource}"' in out, out[-3000:]
    else:
        assert "may not do what this run needs, so nothing was changed" in out, out[-3000:]
        assert f"{need.describe()} (to {need.why})" in out, out[-3000:]
    assert "PLAY [Create the mesh resources" not in out and "PLAY [Remove the Istio sidecar" not in out
    assert "Request a new token into the VM's bundle" not in out


def test_nothing_changed_by_the_refused_runs(removals, lab, api_client):
    assert group(api_client) is None and entries(api_client) == []
    assert client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "networking.istio.io", "v1", NS, "workloadgroups")["items"] == []
    accounts = {a.metadata.name for a in client.CoreV1Api(api_client).list_namespaced_service_account(NS).items}
    assert not accounts & {SA, STATIC}
    for n in (1, 2):
        assert lab.ssh(n, "test", "-e", "/var/lib/istio/envoy", check=False).returncode != 0


def _used(requests, need: Need) -> bool:
    for verb, grp, resource, namespace, name, code in requests:
        if verb == "patch" and code == 201 and need.verb == "create":
            verb = "create"     # a server-side apply that created the object was authorized as create too
        if (verb, grp, resource) != need[:3] or code == 403:
            continue
        if need.resource != "namespaces" and namespace != need.namespace:
            continue
        if need.name and name != need.name:
            continue
        return True
    return False


def run(kubeconfig, name, *extra):
    """Playbook ``name`` on INVENTORY as the identity of ``kubeconfig``; asserts it succeeds."""
    res = run_playbook(INVENTORY, kubeconfig, name, "-e", f"mesh_workload_kubeconfig={kubeconfig}", *extra,
                       check=False)
    assert res.returncode == 0, f"{name} failed:\n{res.stdout[-4000:]}"
    return res


def test_lifecycle_under_least_privilege(removals, lab, api_client, cluster):
    operator, verifier = cluster["operator"], cluster["verifier"]
    audit_op, audit_verify = Audit(lab, OPERATOR["name"]), Audit(lab, VERIFIER["name"])

    # with prune on the first run: prune's cluster-wide list is used, and it finds nothing to delete
    # (a second run below finds one)
    run(operator, "onboard.yml", "-e", "mesh_workload_prune=true")
    names = sorted(e["metadata"]["name"] for e in entries(api_client))
    assert names == sorted([REGISTERED_ENTRY, STATIC_ENTRY])
    assert group(api_client)["spec"]["template"]["serviceAccount"] == SA
    assert "0 of 2 VMs drift" in run(verifier, "verify.yml").stdout
    # a static entry of this group whose VM left the inventory: prune reads and deletes it
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "networking.istio.io", "v1", NS, "workloadentries", {
            "apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": "departed-vm", "labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm",
                                                           "istio-vm.meshops.io/group": "mesh_vms"}},
            "spec": {"address": "10.213.0.250", "labels": {"app": STATIC}, "serviceAccount": SA}})
    run(operator, "onboard.yml", "-e", "mesh_workload_prune=true")
    assert sorted(e["metadata"]["name"] for e in entries(api_client)) == sorted([REGISTERED_ENTRY, STATIC_ENTRY])
    res = run(operator, "rotate.yml", "-e", "rotate_force=true")
    assert all(r["failed"] == 0 for r in recap(res.stdout).values())
    run(operator, "offboard.yml")
    assert group(api_client) is None
    wait("WorkloadEntries gone", lambda: entries(api_client) == [], 60)

    # the audit log is written asynchronously: wait for the offboard's last delete
    wait("audit events of the offboard", lambda: any(
        r[0] == "delete" and r[2] == "serviceaccounts" for r in audit_op.requests()), 30)
    op_requests, verify_requests = audit_op.requests(), audit_verify.requests()
    refused = sorted(r for r in op_requests | verify_requests if r[5] == 403)
    assert refused == [], refused
    unused = [n.describe() for n in unique(n for op in OPS.values() for n in op) if not _used(op_requests, n)]
    unused += [n.describe() + " (verify)" for n in VERIFY if not _used(verify_requests, n)]
    assert unused == [], f"granted but never used: {unused}"


def test_a_workload_of_auto_registered_vms_alone_needs_no_create_of_entries(lab, api_client, cluster):
    """An inventory whose VMs all register themselves (here the rbac inventory limited to mlab-vm1):
    its RBAC grants no create of WorkloadEntries, istiod makes them. onboard.yml runs under it, twice,
    the second time putting back an entry edited by hand (create: false, a patch of the entry read),
    then offboard.yml; the API server refuses nothing and no entry is created by this identity."""
    name = "autoregister-only"
    subject = {"kind": "ServiceAccount", "name": name, "namespace": SYSTEM_NS}
    objects = render(subject, None, "--limit", "mlab-vm1", rbac_prune=False, rbac_name=f"meshops-{name}")
    grants = _grants(objects)
    assert ("list", "networking.istio.io", "workloadentries", NS, "") in grants
    assert ("patch", "networking.istio.io", "workloadentries", NS, REGISTERED_ENTRY) in grants
    assert not {g for g in grants if g[2] == "workloadentries" and g[0] == "create"}, sorted(grants)
    apply(api_client, objects)
    audit = Audit(lab, name)
    try:
        kubeconfig = identity(api_client, lab, name, cluster["tmp"] / name)
        run(kubeconfig, "onboard.yml", "--limit", "mlab-vm1")
        wait("the auto-registered entry", lambda: [e["metadata"]["name"] for e in entries(api_client)]
             == [REGISTERED_ENTRY], 60)
        # a hand edit of the entry istiod made: the next run puts the inventory's labels back
        client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
            "networking.istio.io", "v1", NS, "workloadentries", REGISTERED_ENTRY, {"spec": {"labels": {"app": "edited"}}})
        run(kubeconfig, "onboard.yml", "--limit", "mlab-vm1")
        entry = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            "networking.istio.io", "v1", NS, "workloadentries", REGISTERED_ENTRY)
        assert entry["spec"]["labels"]["app"] == GROUP
        run(kubeconfig, "offboard.yml", "--limit", "mlab-vm1")
        assert group(api_client) is None
        wait("audit events of the offboard", lambda: any(
            r[0] == "delete" and r[2] == "serviceaccounts" for r in audit.requests()), 30)
        requests = audit.requests()
        assert sorted(r for r in requests if r[5] == 403) == []
        # the put-back: a patch of the entry read, by this identity
        assert any(r[:3] == ("patch", "networking.istio.io", "workloadentries") and r[4] == REGISTERED_ENTRY
                   and r[5] == 200 for r in requests), sorted(requests)
    finally:
        remove(api_client, objects)

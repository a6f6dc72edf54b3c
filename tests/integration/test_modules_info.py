# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""workload_entry_info, and the credential guards every playbook starts with (mesh_info)."""
from __future__ import annotations

from ansible_run import run_module

MANAGED = "app.kubernetes.io/managed-by=meshops.istio_vm"


def test_workload_entry_info_lists_by_label_in_one_and_all_namespaces(lab, namespace):
    for name, labels in (("a", {"app.kubernetes.io/managed-by": "meshops.istio_vm", "tier": "x"}),
                         ("b", {"app.kubernetes.io/managed-by": "meshops.istio_vm"}),
                         ("c", {"tier": "x"})):
        r = run_module(lab.kubeconfig, "workload_entry", {
            "name": name, "namespace": namespace, "address": "10.213.0.99", "metadata_labels": labels,
            "labels": {"app": name}, "service_account": "sa"})
        assert r["changed"], r.get("msg")

    r = run_module(lab.kubeconfig, "workload_entry_info", {"namespace": namespace, "label_selectors": [MANAGED]})
    assert not r["changed"] and not r["failed"], r.get("msg")
    assert [e["name"] for e in r["workload_entries"]] == ["a", "b"]
    assert r["workload_entries"][0] == {
        "name": "a", "namespace": namespace, "address": "10.213.0.99", "labels": {"app": "a"},
        "metadata_labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm", "tier": "x"},
        "service_account": "sa", "network": "", "auto_registered": False, "healthy": None}

    # all namespaces, two selectors: only "a" matches both
    r = run_module(lab.kubeconfig, "workload_entry_info", {"label_selectors": [MANAGED, "tier=x"]})
    assert [(e["namespace"], e["name"]) for e in r["workload_entries"]] == [(namespace, "a")]

    r = run_module(lab.kubeconfig, "workload_entry_info", {"namespace": namespace, "name": "c"})
    assert [e["name"] for e in r["workload_entries"]] == ["c"]


def test_mesh_info_confirms_the_expected_cluster(lab):
    r = run_module(lab.kubeconfig, "mesh_info", {"cluster_id": "meshlab"})
    assert not r["failed"], r.get("msg")


def test_mesh_info_refuses_a_credential_for_another_cluster(lab):
    r = run_module(lab.kubeconfig, "mesh_info", {"cluster_id": "prod-eu1"})
    assert r["failed"]
    assert r["msg"].startswith("The cluster credential reaches the wrong cluster")
    assert lab.cfg.apiserver_url in r["msg"] and "'meshlab'" in r["msg"] and "'prod-eu1'" in r["msg"]


def test_no_credential_at_all_is_named(lab):
    r = run_module(None, "mesh_info", {})
    assert r["failed"]
    assert r["msg"].startswith("No cluster credential")
    assert "K8S_AUTH_KUBECONFIG" in r["msg"] and "K8S_AUTH_HOST" in r["msg"]

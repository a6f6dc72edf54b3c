# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad input and faults: clear messages, nothing written."""
from __future__ import annotations

import pytest
from kubernetes import client

from ansible_run import run_module
from ansible_collections.meshops.istio_vm.plugins.module_utils._client import MeshClient
from ansible_collections.meshops.istio_vm.plugins.module_utils._specs import build
from cases import INVALID_CASES, NAMESPACE

WE = {"name": "x", "address": "10.213.0.70"}


def test_invalid_input_fails_before_any_api_call(lab):
    # an unreachable host: the validation error must come first
    r = run_module(lab.kubeconfig, "workload_entry", dict(WE, ports={"http": 70000},
                                                          host="https://127.0.0.1:1"))
    assert r["failed"] and r["msg"] == "workload_entry: ports.http: 70000 is not in 1..65535"


def test_unreachable_api_server(lab):
    r = run_module(lab.kubeconfig, "workload_entry", dict(WE, host="https://127.0.0.1:1",
                                                          api_key="not-a-token", validate_certs=False))
    assert r["failed"] and "cannot reach the Kubernetes API at https://127.0.0.1:1" in r["msg"]
    assert "WorkloadEntry default/x" in r["msg"]


def test_wrong_credentials(lab):
    r = run_module(lab.kubeconfig, "workload_entry", dict(WE, host=lab.cfg.apiserver_url, api_key="not-a-token",
                                                          ca_cert=str(lab.cfg.pki / "ca.crt")))
    assert r["failed"] and "401 Unauthorized" in r["msg"]


def test_rbac_denial(lab, api_client, namespace):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="nobody")))
    token = core.create_namespaced_service_account_token("nobody", namespace, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["https://kubernetes.default.svc.cluster.local"]))).status.token
    r = run_module(lab.kubeconfig, "workload_entry", dict(WE, namespace=namespace, host=lab.cfg.apiserver_url,
                                                          api_key=token, ca_cert=str(lab.cfg.pki / "ca.crt")))
    assert r["failed"] and "forbidden by RBAC" in r["msg"]
    assert f"system:serviceaccount:{namespace}:nobody" in r["msg"]


def test_missing_kubeconfig(lab, tmp_path):
    r = run_module(lab.kubeconfig, "workload_entry", dict(WE, kubeconfig=str(tmp_path / "nope")))
    assert r["failed"] and "Cannot load the cluster credential" in r["msg"]


@pytest.fixture(scope="module")
def cases_namespace(api_client):
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    except client.rest.ApiException as exc:
        if exc.status != 409:
            raise
    return NAMESPACE


def test_valid_twins_accepted_by_real_validation(lab, cases_namespace):
    """Every invalid case's valid twin passes the real CRD schema and istiod's webhook (server dry run)."""
    mesh = MeshClient.from_params({"kubeconfig": str(lab.kubeconfig)})
    rejected = []
    for case in INVALID_CASES:
        obj = build(case.kind, case.twin)[0]
        try:
            mesh.apply(obj, dry_run=True)
        except Exception as exc:  # noqa: BLE001 - collect them all
            rejected.append(f"{case.kind} {case.twin.get('name')}: {exc}")
    assert rejected == [], "\n".join(rejected)
    assert len(INVALID_CASES) >= 40

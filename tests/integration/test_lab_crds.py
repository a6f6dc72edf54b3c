# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The real Istio CRDs, applied from the pinned istio.io/istio module."""
from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

NETWORKING_KINDS = {"DestinationRule", "EnvoyFilter", "Gateway", "ProxyConfig", "ServiceEntry",
                    "Sidecar", "VirtualService", "WorkloadEntry", "WorkloadGroup"}


def test_networking_crds_established(api_client):
    crds = client.ApiextensionsV1Api(api_client).list_custom_resource_definition().items
    established = {c.spec.names.kind for c in crds if c.spec.group == "networking.istio.io"
                   and any(x.type == "Established" and x.status == "True" for x in c.status.conditions)}
    assert NETWORKING_KINDS <= established


def _we(name: str, port: int) -> dict:
    return {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": name},
            "spec": {"address": "10.213.0.200", "ports": {"http": port}, "labels": {"app": "x"}}}


def test_workload_entry_port_out_of_range_rejected(api_client, namespace):
    api = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as exc:
        api.create_namespaced_custom_object("networking.istio.io", "v1", namespace,
                                            "workloadentries", _we("bad", 70000))
    assert exc.value.status == 422
    body = json.loads(exc.value.body)
    assert "spec.ports[http]: Invalid value: 70000" in body["message"]
    assert "1-65535" in body["message"]


def test_valid_workload_entry_round_trips(api_client, namespace):
    api = client.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries",
                                        _we("good", 8080))
    got = api.get_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadentries", "good")
    assert got["spec"] == _we("good", 8080)["spec"]

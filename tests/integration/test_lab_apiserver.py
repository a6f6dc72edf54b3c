# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lab's kube-apiserver: real, with RBAC and TokenRequest/TokenReview."""
from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def test_version_answers(api_client):
    info = client.VersionApi(api_client).get_code()
    assert info.major == "1" and info.git_version.startswith("v1.36.")


def _token(api_client, namespace: str, sa: str, audience: str) -> str:
    core = client.CoreV1Api(api_client)
    req = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[audience], expiration_seconds=600))
    return core.create_namespaced_service_account_token(sa, namespace, req).status.token


def test_rbac_denies_unbound_service_account(api_client, lab, namespace):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="nobody")))
    token = _token(api_client, namespace, "nobody", "https://kubernetes.default.svc.cluster.local")
    conf = client.Configuration()
    conf.host = api_client.configuration.host
    conf.ssl_ca_cert = api_client.configuration.ssl_ca_cert
    conf.api_key = {"authorization": "Bearer " + token}
    as_sa = client.CoreV1Api(client.ApiClient(conf))
    with pytest.raises(ApiException) as exc:
        as_sa.list_namespaced_config_map(namespace)
    assert exc.value.status == 403
    assert f"system:serviceaccount:{namespace}:nobody" in exc.value.body


def test_token_request_for_istio_ca_passes_token_review(api_client, namespace):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="vm")))
    token = _token(api_client, namespace, "vm", "istio-ca")
    review = client.AuthenticationV1Api(api_client).create_token_review(client.V1TokenReview(
        spec=client.V1TokenReviewSpec(token=token, audiences=["istio-ca"])))
    assert review.status.authenticated is True
    assert review.status.user.username == f"system:serviceaccount:{namespace}:vm"
    assert review.status.audiences == ["istio-ca"]
    # the same token is not valid for the API server's own audience
    wrong = client.AuthenticationV1Api(api_client).create_token_review(client.V1TokenReview(
        spec=client.V1TokenReviewSpec(token=token)))
    assert not wrong.status.authenticated

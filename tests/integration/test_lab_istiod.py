# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lab's istiod: CA root published per namespace, XDS+CA on 15012 with a verifiable chain."""
from __future__ import annotations

import json
import socket
import ssl
import time

from kubernetes import client
from kubernetes.client.rest import ApiException


def _root_cert(core, namespace: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return core.read_namespaced_config_map("istio-ca-root-cert", namespace).data["root-cert.pem"]
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def test_root_cert_published_in_new_namespace(api_client, namespace):
    core = client.CoreV1Api(api_client)
    started = time.monotonic()
    root = _root_cert(core, namespace, timeout=30)
    assert time.monotonic() - started < 30
    assert root.startswith("-----BEGIN CERTIFICATE-----")
    assert root == _root_cert(core, "istio-system", timeout=1)


def test_15012_serves_tls_verified_by_root(api_client, lab):
    root = _root_cert(client.CoreV1Api(api_client), "istio-system", timeout=1)
    ctx = ssl.create_default_context(cadata=root)
    host, port = lab.istiod_address.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="istiod.istio-system.svc") as tls:
            cert = tls.getpeercert()
    sans = {v for k, v in cert["subjectAltName"] if k == "DNS"}
    assert "istiod.istio-system.svc" in sans


def test_istiod_validation_webhook_is_live(api_client, namespace):
    """The CRD schema accepts a grpc readiness probe; istiod's validating webhook rejects it."""
    import pytest
    api = client.CustomObjectsApi(api_client)
    wg = {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadGroup", "metadata": {"name": "grpc"},
          "spec": {"template": {}, "probe": {"grpc": {"port": 8080}}}}
    with pytest.raises(ApiException) as exc:
        api.create_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadgroups", wg)
    message = json.loads(exc.value.body)["message"]
    assert 'admission webhook "rev.validation.istio.io" denied the request' in message
    assert "unknown health check method" in message

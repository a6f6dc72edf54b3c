# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Least-privilege identities on the lab for the RBAC tests: a ServiceAccount token in the audited
namespace (tests/lab: the API server writes audit events for that namespace's accounts only),
a kubeconfig that carries it, and the requests it made, read back from the audit log."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml
from kubernetes import client

from meshlab.control import AUDITED_NAMESPACE, audit_log

SYSTEM_NS = AUDITED_NAMESPACE


def _ignore_conflict(call, *args):
    try:
        call(*args)
    except client.rest.ApiException as exc:
        if exc.status != 409:
            raise


def identity(api_client, lab, name: str, dest: Path) -> Path:
    """ServiceAccount ``name`` in the audited namespace and a kubeconfig at ``dest`` holding a
    one-hour token of it (no client certificate, no system:masters)."""
    core = client.CoreV1Api(api_client)
    _ignore_conflict(core.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name=SYSTEM_NS)))
    _ignore_conflict(core.create_namespaced_service_account, SYSTEM_NS,
                     client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name)))
    token = core.create_namespaced_service_account_token(name, SYSTEM_NS, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["https://kubernetes.default.svc.cluster.local"],
                                       expiration_seconds=3600))).status.token
    ca = base64.b64encode((lab.cfg.pki / "ca.crt").read_bytes()).decode()
    dest.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": "meshlab", "cluster": {"server": lab.cfg.apiserver_url,
                                                     "certificate-authority-data": ca}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "meshlab", "user": name}}]}))
    dest.chmod(0o600)
    return dest


def user(name: str) -> str:
    return f"system:serviceaccount:{SYSTEM_NS}:{name}"


class Audit:
    """The audit events of one identity from the moment this object is made."""

    def __init__(self, lab, name: str) -> None:
        self.path = audit_log(lab.cfg)
        self.user = user(name)
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def events(self) -> list[dict]:
        with self.path.open() as log:
            log.seek(self.offset)
            lines = log.read().splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        return [e for e in events if e.get("user", {}).get("username") == self.user
                and e.get("stage") == "ResponseComplete"]

    def requests(self) -> set[tuple]:
        """(verb, group, resource[/subresource], namespace, name, code) of every request."""
        out = set()
        for e in self.events():
            ref = e.get("objectRef") or {}
            resource = ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
            out.add((e["verb"], ref.get("apiGroup", ""), resource, ref.get("namespace", ""), ref.get("name", ""),
                     e.get("responseStatus", {}).get("code")))
        return out

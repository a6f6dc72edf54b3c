# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: verify_drift
short_description: What playbooks/verify.yml reports as drift for one VM
version_added: 0.2.0
description:
  - Turns what C(playbooks/verify.yml) read of one VM (meshops.istio_vm.vm_state_info) and of its
    WorkloadEntry (meshops.istio_vm.workload_entry_info) into the list of its differences from the
    inventory, in this order, one line each.
  - The WorkloadEntry exists, is as the inventory asks (O(entry_drift)), and is Healthy when the
    workload has a readiness probe.
  - The expected bundle was rendered, and the VM's cluster.env has its SHA-256.
  - C(/etc/hosts) resolves istiod's name to the bundle's address (O(hosts_drift)).
  - The workload certificate exists and carries O(spiffe).
  - The request across the mesh (O(request_url), O(request)) answered 2xx or 3xx.
  - The sidecar answered ready.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The result of meshops.istio_vm.vm_state_info on the VM (C(checksums), C(cert), C(ready)).
    type: dict
    required: true
  vm:
    description:
      - The VM's mesh settings (C(mesh_workload_vm)), C(namespace), C(entry_name), C(mode) and C(has_probe).
    type: dict
    required: true
  entry:
    description: The VM's WorkloadEntry as meshops.istio_vm.workload_entry_info reports it; empty when there is none.
    type: dict
    required: true
  entry_drift:
    description: How that entry differs from the inventory (meshops.istio_vm.entry_drift).
    type: list
    elements: str
    default: []
  spiffe:
    description: The SPIFFE ID the workload certificate must carry.
    type: str
    required: true
  expected_env:
    description: The SHA-256 of the cluster.env of the expected bundle; empty when none was rendered.
    type: str
    default: ""
  render_error:
    description: Why the expected bundle could not be rendered; null when it was.
    type: str
  cluster_env:
    description: The path of cluster.env on the VM, a key of C(checksums).
    type: path
    default: /var/lib/istio/envoy/cluster.env
  hosts_drift:
    description: How the VM's C(/etc/hosts) differs from the bundle's hosts entry (meshops.istio_vm.hosts_drift).
    type: list
    elements: str
    default: []
  cert_path:
    description: The path of the workload certificate on the VM, for the message.
    type: path
    default: /etc/certs/cert-chain.pem
  ready_url:
    description: The sidecar's readiness URL, for the message.
    type: str
    default: http://localhost:15021/healthz/ready
  request_url:
    description: The mesh URL each VM requested (meshops.istio_vm.mesh_request); empty when none was.
    type: str
    default: ""
  request:
    description: The result of that request, C(status) and C(error).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Compare the VM with the inventory
  ansible.builtin.set_fact:
    drift: >-
      {{ vm_state | meshops.istio_vm.verify_drift(vm=mesh_workload_vm, entry=entry,
           spiffe='spiffe://cluster.local/ns/bookinfo/sa/ratings', expected_env=bundle.files['cluster.env'].sha256) }}
"""

RETURN = r"""
_value:
  description: One line per difference (empty when the VM is as the inventory asks).
  type: list
  elements: str
"""

from typing import Any, Dict, List, Optional

from ansible.errors import AnsibleFilterError


def verify_drift(vm_state: Any, vm: Any, entry: Any, spiffe: str, entry_drift: Optional[List[str]] = None,
                 expected_env: str = "", render_error: Optional[str] = None,
                 cluster_env: str = "/var/lib/istio/envoy/cluster.env", hosts_drift: Optional[List[str]] = None,
                 cert_path: str = "/etc/certs/cert-chain.pem", ready_url: str = "http://localhost:15021/healthz/ready",
                 request_url: str = "", request: Optional[Dict[str, Any]] = None) -> List[str]:
    if not isinstance(vm_state, dict) or not isinstance(vm, dict) or not isinstance(entry, dict):
        raise AnsibleFilterError("verify_drift: expects the VM's read, its mesh settings and its entry as dicts, got "
                                 "%r, %r and %r" % (type(vm_state).__name__, type(vm).__name__, type(entry).__name__))
    name = "WorkloadEntry %s/%s" % (vm["namespace"], vm["entry_name"])
    env_sha256 = (vm_state.get("checksums") or {}).get(cluster_env, "")
    cert = vm_state.get("cert") or {}
    ready = vm_state.get("ready") or {}
    request = request or {}
    checks = [
        (not entry, "%s does not exist%s" % (
            name, " (istiod creates it when the sidecar connects)" if vm.get("mode") == "autoregister" else "")),
        (bool(entry_drift), "%s differs from the inventory: %s" % (name, "; ".join(entry_drift or []))),
        (bool(vm.get("has_probe")) and bool(entry) and entry.get("healthy") != "True",
         "%s is not Healthy (the VM's readiness probe fails)" % name),
        (render_error is not None, "cannot render the expected bundle: %s" % render_error),
        (render_error is None and not expected_env, "no expected cluster.env was rendered (vm_bootstrap skipped)"),
        (not env_sha256, "%s is missing" % cluster_env),
        (bool(env_sha256 and expected_env and env_sha256 != expected_env),
         "%s differs from the one the cluster and inventory give now (run onboard.yml)" % cluster_env),
        (bool(hosts_drift), "; ".join(hosts_drift or [])),
        (not cert.get("exists"), "no workload certificate at %s" % cert_path),
        (bool(cert.get("exists")) and spiffe not in (cert.get("uris") or []),
         "the workload certificate is for %s, not %s" % (", ".join(cert.get("uris") or []) or "no SPIFFE ID", spiffe)),
        (bool(request_url) and not 200 <= (request.get("status") or 0) < 400,
         "the request to %s got %s %s" % (request_url, request.get("status") or "no answer", request.get("error") or "")),
        (ready.get("status") != 200,
         "the sidecar is not ready (%s: %s %s)" % (ready_url, ready.get("status"), ready.get("msg"))),
    ]
    return [msg for bad, msg in checks if bad]


class FilterModule:
    def filters(self):
        return {"verify_drift": verify_drift}

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
  - The WorkloadGroup is as the inventory asks (with O(group); the bundle is rendered from the live group).
  - The WorkloadEntry exists, is as the inventory asks (meshops.istio_vm.entry_drift against the
    C(entry) of O(vm)), and is Healthy when the workload has a readiness probe (an entry without the
    Healthy condition, which istiod does not check, is reported as such).
  - The expected bundle was rendered, and the VM's cluster.env has its SHA-256.
  - C(/etc/hosts) resolves istiod's name to the bundle's address (meshops.istio_vm.hosts_drift against
    O(hosts_entry)).
  - The workload certificate exists, carries O(spiffe), has not expired, and (with O(roots)) one of the mesh's
    roots issued it.
  - With O(token_subject), the VM has a service account token, for that subject (an expired token
    is not drift while the certificate is good, since the sidecar renews it with the certificate).
  - The request across the mesh (O(request_url), O(request)) answered 2xx or 3xx and, with
    O(request_mtls), its peer presented a mesh identity.
  - The sidecar answered ready.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description:
      - The result of meshops.istio_vm.vm_state_info on the VM (C(checksums), C(hosts), C(cert), C(claims),
        C(ready)).
    type: dict
    required: true
  vm:
    description:
      - The VM's mesh settings (C(mesh_workload_vm)), C(namespace), C(entry_name), C(mode), C(has_probe)
        and C(entry), the WorkloadEntry's options as the inventory gives them.
    type: dict
    required: true
  entry:
    description: The VM's WorkloadEntry as meshops.istio_vm.workload_entry_info reports it; empty when there is none.
    type: dict
    required: true
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
  hosts_entry:
    description:
      - The C(hosts_entry) of the expected bundle (meshops.istio_vm.vm_bootstrap), C(name) and C(address).
      - Null when no bundle was rendered; C(/etc/hosts) is not checked then.
    type: dict
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
    description: The result of that request (meshops.istio_vm.mesh_request), C(status), C(error), C(peer_identities)
      and C(peer_identity_error).
    type: dict
    default: {}
  request_mtls:
    description:
      - The request's peer must present a mesh identity (C(peer_identities) not empty). False for a
        O(request_url) outside the mesh.
    type: bool
    default: true
  group:
    description:
      - What this collection applied of the live WorkloadGroup (C(workload_group_applied) of
        meshops.istio_vm.vm_bootstrap; null when it never applied it), compared with the C(group_object) of
        O(vm). The string C(unread) (the default) when no bundle was rendered; the group is not checked then.
    type: raw
    default: unread
  token_subject:
    description:
      - The subject the VM's token must have, C(system:serviceaccount:NAMESPACE:ACCOUNT). When empty,
        the token is not checked.
    type: str
    default: ""
  roots:
    description:
      - The mesh's root certificates as PEM text (C(root_certificates) of meshops.istio_vm.vm_bootstrap). A
        workload certificate that none of them issued (C(cert.chain) of the VM's read, checked on the
        controller with the C(cryptography) library, 40 or later) is drift. When empty, the root is not checked.
    type: str
    default: ""
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: Compare the VM with the inventory
  ansible.builtin.set_fact:
    drift: >-
      {{ vm_state | meshops.istio_vm.verify_drift(vm=mesh_workload_vm, entry=entry,
           spiffe='spiffe://cluster.local/ns/bookinfo/sa/ratings', expected_env=bundle.files['cluster.env'].sha256,
           hosts_entry=bundle.hosts_entry) }}
"""

RETURN = r"""
_value:
  description: One line per difference (empty when the VM is as the inventory asks).
  type: list
  elements: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils import _drift
from ansible_collections.meshops.istio_vm.plugins.plugin_utils.filters import filter_of

verify_drift = filter_of(_drift.verify_drift)


class FilterModule:
    def filters(self):
        return {"verify_drift": verify_drift}

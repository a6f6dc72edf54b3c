# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cert_renewal
short_description: Whether a VM's workload certificate calls for a new istio-token, and why
version_added: 0.2.0
description:
  - The rule of C(playbooks/rotate.yml). A VM gets a new token when O(force) is set, when it has no workload
    certificate, when its certificate has fewer than O(threshold) seconds left, or when the certificate is stale.
  - A certificate is stale when it names none of the workload's identity (O(namespace), O(service_account)), or
    when none of the mesh's roots O(roots) issued it (the mesh's root changed while the VM was away). istio-agent
    asks istiod for certificates with the certificate it holds while that is valid, so a stale certificate must
    go, with its key, before the sidecar restarts with the new token (role C(meshops.istio_vm.vm_sidecar)'s entry point
    C(token) removes it, judged by the same two checks).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description:
      - The VM's workload certificate, C(cert) of M(meshops.istio_vm.vm_state_info) (C(exists), C(uris),
        C(not_after), C(seconds_left), C(chain)); the fact C(vm_sidecar_cert) of role
        C(meshops.istio_vm.vm_sidecar)'s entry point C(cert_info).
    type: dict
    required: true
  threshold:
    description: A certificate with fewer seconds left than this calls for a new token.
    type: int
    required: true
  force:
    description: A new token whatever the certificate.
    type: bool
    default: false
  namespace:
    description:
      - The workload's namespace; with O(service_account) its identity. Both null when not known (then the
        certificate's identity is not checked); one without the other is an error.
    type: str
  service_account:
    description: The workload's service account; with O(namespace) its identity.
    type: str
  roots:
    description:
      - The mesh's root certificates as PEM text (C(root_certificates) of M(meshops.istio_vm.vm_bootstrap)); null
        or empty when not known (then the certificate's root is not checked). Checked on the controller with the
        C(cryptography) library, 40 or later; without it, or for an algorithm it does not support, the root
        counts as the mesh's.
    type: str
"""

EXAMPLES = r"""
- name: Decide whether the VM needs a new token
  ansible.builtin.set_fact:
    renewal: >-
      {{ vm_sidecar_cert | meshops.istio_vm.cert_renewal(21600,
           namespace=mesh_workload_vm.namespace, service_account=mesh_workload_vm.service_account,
           roots=mesh_workload_bootstrap.root_certificates) }}
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    renew:
      description: The VM needs a new token.
      type: bool
    reason:
      description:
        - One line on the certificate, for the run's report, such as C(Certificate valid until Nov 27 10:41:07 2026 GMT
          (86291s left)) or C(No workload certificate).
      type: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils import _token
from ansible_collections.meshops.istio_vm.plugins.plugin_utils.filters import filter_of

cert_renewal = filter_of(_token.cert_renewal)


class FilterModule:
    def filters(self):
        return {"cert_renewal": cert_renewal}

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: vm_token_status
short_description: Whether a VM keeps its istio-token, and whether the controller holds one to give it
version_added: 0.1.0
description:
  - Compares the claims of the VM's token with those of its bootstrap bundle's token (or of the bundle's
    record C(istio-token.claims), once the controller removed the token), as
    M(meshops.istio_vm.token_claims) reads them. Only claims, never a token.
  - The VM's token is good when it has an expiry, is for the bundle's issuer and subject (the workload's
    service account) and has more than O(renew_before) seconds left, or when the VM's workload certificate
    O(cert) is of that subject, valid for more than O(renew_before) seconds and chains to one of the mesh's
    roots O(roots). istio-agent renews that certificate with itself, without a token, so a new token would
    only restart the sidecar.
  - Role C(meshops.istio_vm.vm_sidecar) sets its fact C(vm_sidecar_token_status) from it (entry point
    C(token_status)).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description:
      - The claims of the bundle's token or record, C(claims) of M(meshops.istio_vm.token_claims) run on the
        controller (C(iss), C(sub), C(left), and C(token), whether the bundle holds the token itself).
    type: dict
    required: true
  vm:
    description:
      - The claims of the VM's token, C(claims) of M(meshops.istio_vm.token_claims) run on the VM; empty or
        null when the VM has none.
    type: dict
    required: true
  renew_before:
    description: A token with this many seconds left or fewer is replaced, unless the VM's certificate lasts longer.
    type: int
    required: true
  force:
    description: Install the bundle's token even when the VM's is good.
    type: bool
    default: false
  cert:
    description:
      - The VM's workload certificate, C(cert) of M(meshops.istio_vm.vm_state_info) (C(exists), C(uris),
        C(seconds_left), C(chain)); null when not read.
    type: dict
  roots:
    description:
      - The mesh's root certificates as PEM text, the bootstrap bundle's C(root-cert.pem) (the mesh's trust bundle);
        null or empty when not known (then O(cert) is not checked against them). Checked on the controller with
        the C(cryptography) library, which ansible-core requires.
    type: str
    version_added: 0.2.0
  planned_env:
    description:
      - In a dry run, the text of the C(cluster.env) the run would write (C(planned_bundle) of
        M(meshops.istio_vm.vm_bootstrap)); null otherwise.
      - When its C(POD_NAMESPACE) and C(SERVICE_ACCOUNT) name another identity than the bundle's token (a changed
        service account), the run requests a token of that identity, so the VM's token and certificate are
        compared with that identity instead (C(stale_cert) for a certificate of the old one, C(planned_token)).
      - So too when O(_input) holds no claims (the bundle has neither token nor record) - the run requests a token
        of the planned identity. The issuer of that token is not known before the request, so the VM's token's
        issuer is taken.
    type: str
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: Decide whether the VM keeps its token
  ansible.builtin.set_fact:
    token_status: >-
      {{ bundle_claims.claims | meshops.istio_vm.vm_token_status(vm_claims.claims, renew_before=1800) }}
"""

RETURN = r"""
_value:
  description: The decision.
  type: dict
  contains:
    controller_token:
      description: The bundle holds a token.
      type: bool
    vm_token_good:
      description: The VM's token is for the bundle's identity and has more than O(renew_before) seconds left, or
        its workload certificate of that identity has.
      type: bool
    install:
      description: The bundle's token is to be installed on the VM (O(force), or the VM's token is not good).
      type: bool
    missing:
      description: The VM needs a token that the controller does not hold.
      type: bool
    planned_token:
      description:
        - With O(planned_env) naming another identity than the bundle's token, or with a bundle without token or
          record, when the VM's token is not good for that identity - the run writes a token of it into the bundle
          before the VM's turn, and the VM would get that one. A token of O(_input), of the old identity, is then
          not the VM's (C(controller_token) false), and nothing more needs to be requested (C(missing) false).
        - With O(planned_env), C(vm_token_good), C(install) and C(stale_cert) compare with the planned identity.
      type: bool
      version_added: 0.2.0
    vm_claims:
      description: O(vm), as given.
      type: dict
    stale_cert:
      description:
        - The VM's workload certificate names none of the bundle's identity (C(spiffe://.../ns/NS/sa/SA) for the
          subject C(system:serviceaccount:NS:SA)). istio-agent authenticates its certificate requests with the
          certificate it holds while it is valid, and the CA signs that certificate's identity, so the role
          removes it before the restart. False when the certificate or the subject is not known.
        - Also true when none of the roots of O(roots) issued the certificate, directly or through the
          intermediates of its chain file (C(chain)), as after the mesh's root changed; istiod no longer trusts
          the certificate the agent would authenticate with. A root renewed with the same key and name still
          counts. Not when it cannot be told (no C(cryptography) 40 or later on the controller, an algorithm it
          does not support).
      type: bool
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils import _token
from ansible_collections.meshops.istio_vm.plugins.plugin_utils.filters import filter_of

vm_token_status = filter_of(_token.vm_token_status)


class FilterModule:
    def filters(self):
        return {"vm_token_status": vm_token_status}

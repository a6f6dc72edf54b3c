# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: mesh_permissions
short_description: The Kubernetes permissions a playbook of this collection needs for some VMs
version_added: 0.1.0
description:
  - From the per-VM settings of the mesh_workload role (C(namespace), C(workload),
    C(service_account), C(mode) and the objects the VM implies), the list of API permissions the
    given operation uses, each with the reason. The same list drives the permission check in the
    playbooks' first play (meshops.istio_vm.mesh_info O(permissions)) and the RBAC that
    C(playbooks/rbac.yml) renders (meshops.istio_vm.rbac_objects).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The VMs, as the mesh_workload role describes them.
    type: list
    elements: dict
    required: true
  operation:
    description: The playbook.
    type: str
    required: true
    choices: [onboard, verify, rotate, offboard]
  istio_namespace:
    description: Namespace of the Istio control plane.
    type: str
    default: istio-system
  revision:
    description: Istio revision (empty for the default one).
    type: str
    default: ""
  cluster_id:
    description: Whether the inventory gives the cluster ID (else the injector ConfigMap is read).
    type: bool
    default: true
  ingress_ip:
    description: Whether the inventory gives the ingress IP (else the gateway Service is read).
    type: bool
    default: true
  ingress_service:
    description: Name of the gateway Service read when O(ingress_ip=false).
    type: str
    default: istio-eastwestgateway
  create_identity:
    description: Whether the run applies (or deletes) the namespaces and ServiceAccounts.
    type: bool
    default: false
  prune:
    description: Whether the run prunes the entries of VMs that left the inventory.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Stop before any change unless the credential may do what onboarding these VMs needs
  meshops.istio_vm.mesh_info:
    permissions: >-
      {{ ansible_play_hosts | map('extract', hostvars, '__mesh_workload_vm') | list
         | meshops.istio_vm.mesh_permissions('onboard', create_identity=true) }}
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: One dict per permission, without duplicates.
  type: list
  elements: dict
  contains:
    verb:
      description: API verb.
      type: str
    group:
      description: API group (empty for core).
      type: str
    resource:
      description: Resource, with subresource when there is one.
      type: str
    namespace:
      description: Namespace; empty for cluster-scoped objects and lists across namespaces.
      type: str
    name:
      description: Object name; empty for any object.
      type: str
    why:
      description: What the run does with it.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.meshops.istio_vm.plugins.module_utils._rbac import needs


BOOLS = ("cluster_id", "ingress_ip", "create_identity", "prune")


def mesh_permissions(vms, operation, **options):
    try:
        options = {key: boolean(value, strict=True) if key in BOOLS else value for key, value in options.items()}
        return [need.as_dict() for need in needs(operation, list(vms), **options)]
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("mesh_permissions: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"mesh_permissions": mesh_permissions}

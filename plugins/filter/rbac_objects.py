# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: rbac_objects
short_description: Roles and bindings that grant exactly a list of permissions
version_added: 0.1.0
description:
  - Turns the output of meshops.istio_vm.mesh_permissions into RBAC objects for one subject
    (a ServiceAccount, User or Group). A Role and RoleBinding per namespace; a ClusterRole and
    ClusterRoleBinding only for what is cluster-wide (the namespaces themselves, and listing
    WorkloadEntries across namespaces for prune).
  - Verbs on one object name become a rule with C(resourceNames); verbs on any object a rule
    without.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: Permissions, as meshops.istio_vm.mesh_permissions returns them.
    type: list
    elements: dict
    required: true
  subject:
    description: The identity to bind, with C(kind) (ServiceAccount, User, Group), C(name) and, for a ServiceAccount, C(namespace).
    type: dict
    required: true
  name:
    description: Name of every Role, ClusterRole and binding.
    type: str
    default: meshops-istio-vm
"""

EXAMPLES = r"""
- name: The RBAC of the onboarding identity, as YAML
  ansible.builtin.copy:
    content: "{{ __objects | map('ansible.builtin.to_nice_yaml') | join('---\n') }}"
    dest: rbac.yaml
    mode: "0644"
  vars:
    __objects: >-
      {{ permissions | meshops.istio_vm.rbac_objects({'kind': 'ServiceAccount', 'name': 'onboarder',
                                                       'namespace': 'meshops-system'}) }}
"""

RETURN = r"""
_value:
  description: RBAC objects (C(rbac.authorization.k8s.io/v1)), cluster-wide first, then per namespace.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.module_utils._rbac import from_dict, rbac_objects as build


def rbac_objects(permissions, subject, name="meshops-istio-vm"):
    if not isinstance(subject, dict) or subject.get("kind") not in ("ServiceAccount", "User", "Group") \
            or not subject.get("name") or (subject["kind"] == "ServiceAccount" and not subject.get("namespace")):
        raise AnsibleFilterError("rbac_objects: subject must have kind (ServiceAccount, User or Group), name, and "
                                 "for a ServiceAccount its namespace; got %r" % (subject,))
    return build([from_dict(item) for item in permissions], subject, name)


class FilterModule:
    def filters(self):
        return {"rbac_objects": rbac_objects}

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: vm_settings
short_description: One VM's mesh settings, computed from its mesh_workload variables
version_added: 0.1.0
description:
  - Computes what role C(meshops.istio_vm.mesh_workload) derives from one VM's inventory variables, once
    P(meshops.istio_vm.workload_problems#filter) found no problem with them - the names and the keys of its
    objects, the IP its sidecar announces and the name of the entry istiod registers for it
    (P(meshops.istio_vm.registered_entry_name#filter)), the options of the WorkloadGroup, WorkloadEntry,
    Service, ServiceEntries and Sidecar it implies, what the workload's VMs must agree on, and what the role's
    state file records.
  - Returns C(vm), what the role's tasks read, and C(published), the role's output C(mesh_workload_vm)
    (docs/inventory.md, "Outputs").
  - One filter run instead of a template per value. The role calls it in C(tasks/facts.yml).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description:
      - Role variable name to value (C(mesh_workload_*)), for one VM. Needs C(mesh_workload_group),
        C(mesh_workload_namespace), C(mesh_workload_name), C(mesh_workload_mode), C(mesh_workload_address),
        C(mesh_workload_internal_ip), C(mesh_workload_network), C(mesh_workload_labels), C(mesh_workload_ports),
        C(mesh_workload_probe), C(mesh_workload_service_account), C(mesh_workload_entry_name),
        C(mesh_workload_bootstrap_dir), C(mesh_workload_service), C(mesh_workload_service_name),
        C(mesh_workload_service_app_protocols), C(mesh_workload_service_entries), C(mesh_workload_sidecar) and
        C(mesh_workload_lock).
    type: dict
    required: true
  host:
    description: The VM's inventory name.
    type: str
    required: true
  managed_labels:
    description: The labels the role puts on every object it creates.
    type: dict
    required: true
  group_label:
    description: The label of the static WorkloadEntries that names their inventory group.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Compute the VM's mesh settings
  ansible.builtin.set_fact:
    __settings: >-
      {{ dict(__names | zip(query('ansible.builtin.vars', *__names)))
         | meshops.istio_vm.vm_settings(host=inventory_hostname,
                                        managed_labels={'app.kubernetes.io/managed-by': 'meshops.istio_vm'},
                                        group_label='istio-vm.meshops.io/group') }}
  vars:
    __names: [mesh_workload_group, mesh_workload_namespace, mesh_workload_name, mesh_workload_mode,
              mesh_workload_address, mesh_workload_internal_ip, mesh_workload_network, mesh_workload_labels,
              mesh_workload_ports, mesh_workload_probe, mesh_workload_service_account, mesh_workload_entry_name,
              mesh_workload_bootstrap_dir, mesh_workload_service, mesh_workload_service_name,
              mesh_workload_service_app_protocols, mesh_workload_service_entries, mesh_workload_sidecar,
              mesh_workload_lock]
"""

RETURN = r"""
_value:
  description: The VM's settings.
  type: dict
  contains:
    vm:
      description:
        - What the role's tasks read (C(__mesh_workload_vm)) - C(host), C(namespace), C(workload), C(key),
          C(mode), C(address), C(internal_ip), C(entry_name), C(entry_key), C(registered_entry_name),
          C(service_account), C(bootstrap_dir), C(bootstrap_key), C(has_probe), C(shared), C(group_object),
          C(entry_object), C(registered_object), C(service_entry_objects), C(service_object),
          C(sidecar_object) and C(record).
      type: dict
    published:
      description: The role's output C(mesh_workload_vm), as docs/inventory.md describes it.
      type: dict
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils import _inventory
from ansible_collections.meshops.istio_vm.plugins.plugin_utils.filters import filter_of

vm_settings = filter_of(_inventory.vm_settings)


class FilterModule:
    def filters(self):
        return {"vm_settings": vm_settings}

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: vm_conflicts
short_description: What the VMs of one inventory group claim twice or disagree on
version_added: 0.2.0
description:
  - Compares the mesh settings of all VMs of a group (what role C(meshops.istio_vm.mesh_workload) computes
    for each, C(__mesh_workload_vm)) before any change, and returns one sentence per conflict.
  - "Conflicts: two VMs with one address; two static VMs with one WorkloadEntry (namespace and
    C(mesh_workload_entry_name)); two VMs with one bootstrap directory (however it is spelled: each would
    get the other's token); two auto-registered VMs whose entries istiod would give one name (one internal
    IP and network); VMs of one workload (namespace and name) whose settings of the shared objects differ
    (mode, labels, ports, service account, network, probe, ServiceEntries, Sidecar, Service)."
  - Conflicts are listed by kind, then by the value claimed; each names the VMs in the order given.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description:
      - The settings of each VM; the keys read are C(host), C(address), C(mode), C(entry_key),
        C(bootstrap_key), C(internal_ip), C(registered_entry_name), C(key) and C(shared).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the VMs against each other
  ansible.builtin.assert:
    that: __conflicts | length == 0
    fail_msg: "{{ __conflicts | join(' ') }}"
  run_once: true
  vars:
    __conflicts: >-
      {{ groups[mesh_workload_group] | map('extract', hostvars) | selectattr('__mesh_workload_vm', 'defined')
         | map(attribute='__mesh_workload_vm') | list
         | meshops.istio_vm.vm_conflicts }}
"""

RETURN = r"""
_value:
  description: One sentence per conflict, naming the VMs and the variable; empty when there is none.
  type: list
  elements: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import vm_conflicts


class FilterModule:
    def filters(self):
        return {"vm_conflicts": vm_conflicts}

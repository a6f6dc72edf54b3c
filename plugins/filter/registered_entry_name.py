# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: registered_entry_name
short_description: The name istiod gives the WorkloadEntry it auto-registers for a VM
version_added: 0.1.0
description:
  - With auto-registration, istiod creates the VM's WorkloadEntry when its sidecar connects and names
    it after the WorkloadGroup, the IP the sidecar announces (C(ISTIO_SVC_IP)) with each C(:) turned
    into C(-), and the VM's network when it has one - C(<group>-<ip>[-<network>]).
  - The mesh_workload role names the entry it expects (C(mesh_workload_vm.entry_name)) with it, and
    C(playbooks/verify.yml) looks that entry up.
  - An empty O(ip) gives an empty name (a VM without a mesh IP gets no entry; the role refuses it).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: Name of the WorkloadGroup (C(mesh_workload_name)).
    type: str
    required: true
  ip:
    description: The IP the VM's sidecar announces (C(mesh_workload_internal_ip), or the address when it is an IP).
    type: str
    required: true
  network:
    description: Network of the VM (C(mesh_workload_network)); empty for none.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: The entry istiod registers for ratings-vm-1 (ratings-vm-10.0.0.21-vpc-east)
  ansible.builtin.debug:
    msg: "{{ 'ratings-vm' | meshops.istio_vm.registered_entry_name('10.0.0.21', 'vpc-east') }}"
"""

RETURN = r"""
_value:
  description: The entry's name, empty when O(ip) is empty.
  type: str
"""


from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import registered_entry_name


class FilterModule:
    def filters(self):
        return {"registered_entry_name": registered_entry_name}

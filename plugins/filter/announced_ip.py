# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: announced_ip
short_description: The IP a VM's sidecar announces to the mesh
version_added: 0.2.0
description:
  - The IP the VM's sidecar announces (C(ISTIO_SVC_IP) in C(cluster.env)), which auto-registration puts in
    the WorkloadEntry it creates and in its name (P(meshops.istio_vm.registered_entry_name#filter)).
  - It is O(internal_ip) when that is set; else the address when the address is an IPv4 or IPv6 address
    (without a zone, parsed like Python's C(ipaddress)); else empty, and a VM in auto-registration mode then
    needs O(internal_ip) (P(meshops.istio_vm.workload_problems#filter) says so).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The VM's address (C(mesh_workload_address), by default C(ansible_host)).
    type: raw
    required: true
  internal_ip:
    description: The VM's mesh IP when the address is not it (C(mesh_workload_internal_ip)); empty for none.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: The IP ratings-vm-1 announces (10.0.0.21)
  ansible.builtin.debug:
    msg: "{{ '10.0.0.21' | meshops.istio_vm.announced_ip }}"

- name: A VM reached by host name announces its internal IP (10.0.0.22)
  ansible.builtin.debug:
    msg: "{{ 'vm2.example.com' | meshops.istio_vm.announced_ip('10.0.0.22') }}"
"""

RETURN = r"""
_value:
  description: The IP, empty when the address is no IP and O(internal_ip) is empty.
  type: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import announced_ip


class FilterModule:
    def filters(self):
        return {"announced_ip": announced_ip}

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: workload_problems
short_description: What is wrong with one VM's mesh_workload variables, by the modules' own rules
version_added: 0.1.0
description:
  - Checks the variables of role C(meshops.istio_vm.mesh_workload) for one VM before any change, with the
    validators the modules apply later (after other objects were written), and the rules of the bootstrap
    bundle. Returns one string per problem, naming the variable; an empty list when all is well.
  - "The rules: the VM in C(mesh_workload_group); the namespace (a Kubernetes namespace name), the workload,
    service account and, in static mode, entry names (Kubernetes object names); the mode; an address, and in
    auto-registration mode one that is an IP unless C(mesh_workload_internal_ip) is set; port names (Istio's,
    at most 62 characters) and numbers (1-65535); labels (Kubernetes keys and values, at least one); the probe
    (the WorkloadGroup's rules, one method, a path starting with C(/)); the workload's Service (name, port
    names, C(appProtocol) of known ports); each ServiceEntry (a name and hosts, known options, unique names,
    the ServiceEntry's rules); the Sidecar options; the internal IP, a static VM's address and the network;
    an ingress IP or Service (when onboarding); the revision (a name istiod serves); token duration (at least
    600 seconds) and renewal; the wait timeout; the allowed proxyMetadata names; C(mesh_workload_bootstrap_dir)
    and C(mesh_workload_state_file) (see P(meshops.istio_vm.path_problem#filter))."
  - Variables missing from the input are not checked.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: Role variable name to value (C(mesh_workload_*)), for one VM.
    type: dict
    required: true
  revisions:
    description: The revisions istiod serves (from M(meshops.istio_vm.mesh_info)); omitted, not compared.
    type: list
    elements: str
  host:
    description: The VM's inventory name; with O(members), checked to be one of them.
    type: str
    version_added: 0.2.0
  members:
    description: The hosts of the group C(mesh_workload_group) names; omitted, not compared.
    type: list
    elements: str
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: Check the VM's mesh variables
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ inventory_hostname }}: {{ __problems | join('; ') }}"
  vars:
    __problems: >-
      {{ {'mesh_workload_labels': mesh_workload_labels, 'mesh_workload_probe': mesh_workload_probe,
          'mesh_workload_group': mesh_workload_group}
         | meshops.istio_vm.workload_problems(host=inventory_hostname,
                                              members=groups[mesh_workload_group] | default([])) }}
"""

RETURN = r"""
_value:
  description: One string per problem, naming the variable.
  type: list
  elements: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import workload_problems


class FilterModule:
    def filters(self):
        return {"workload_problems": workload_problems}

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
    bundle. Returns one string per problem,
    the variable first; an empty list when all is well.
  - "The rules: labels (Kubernetes keys and values, at least one); the probe (the WorkloadGroup's rules,
    one method, a path starting with C(/)); the workload's Service (name, port names, C(appProtocol) of
    known ports); each ServiceEntry (known options, unique names, the ServiceEntry's rules); the Sidecar
    options; the internal IP, a static VM's address and the network; the ingress IP or Service; the
    revision (a name istiod serves); token duration (at least 600 seconds) and renewal; the wait timeout;
    the allowed proxyMetadata names."
  - Names, namespaces, modes, ports and paths are checked by the role's validate tasks.
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
"""

EXAMPLES = r"""
- name: Check the VM's mesh variables
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ inventory_hostname }}: {{ __problems | join('; ') }}"
  vars:
    __problems: >-
      {{ {'mesh_workload_labels': mesh_workload_labels, 'mesh_workload_probe': mesh_workload_probe}
         | meshops.istio_vm.workload_problems }}
"""

RETURN = r"""
_value:
  description: One string per problem, the variable first.
  type: list
  elements: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import workload_problems


class FilterModule:
    def filters(self):
        return {"workload_problems": workload_problems}

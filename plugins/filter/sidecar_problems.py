# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: sidecar_problems
short_description: What is wrong with one VM's vm_sidecar variables, before anything reaches the VM
version_added: 0.1.0
description:
  - Checks the variables of role C(meshops.istio_vm.vm_sidecar) for one VM without contacting it. Returns one
    string per problem, the variable first; an empty list when all is well.
  - "The rules: with C(vm_sidecar_state=present), the package SHA-256 (64 hex digits), a package URL
    (C(http), C(https) or C(ftp)) or an absolute package file on the controller, not both, a package
    format C(deb) or C(rpm) that matches the file's suffix; an unprivileged port start in 0-65535; an
    C(http(s)) readiness URL; the bundle directory where mesh_workload writes it; the directory of
    C(vm_sidecar_token_path) (made C(istio-proxy)'s with mode C(0700)) and C(vm_sidecar_package_cache_dir)
    (deleted recursively when offboarding) neither a system directory (C(/etc), C(/var/lib), C(/var/cache),
    C(/usr/local), ...) nor one with fewer than 3 components (C(/srv/tokens))."
  - The paths are checked by P(meshops.istio_vm.path_problem#filter).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: Role variable name to value (C(vm_sidecar_*)), for one VM.
    type: dict
    required: true
  bootstrap_dir:
    description:
      - Where mesh_workload writes this VM's bundle (C(mesh_workload_bootstrap_dir)), when the play runs
        both roles; C(vm_sidecar_bundle_dir) must be the same directory.
    type: str
"""

EXAMPLES = r"""
- name: Check the VM side's package
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ inventory_hostname }}: {{ __problems | join('; ') }}"
  vars:
    __problems: >-
      {{ {'vm_sidecar_package_url': vm_sidecar_package_url, 'vm_sidecar_package_sha256': vm_sidecar_package_sha256}
         | meshops.istio_vm.sidecar_problems }}
"""

RETURN = r"""
_value:
  description: One string per problem, the variable first.
  type: list
  elements: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import sidecar_problems


class FilterModule:
    def filters(self):
        return {"sidecar_problems": sidecar_problems}

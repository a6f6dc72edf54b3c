# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: sidecar_vm_problems
short_description: What keeps one VM from running the sidecar - its facts, the package for it, the bundle
version_added: 0.2.0
description:
  - The preflight of role C(meshops.istio_vm.vm_sidecar) in one filter, once the VM's facts are known. Returns
    the first problem as a one-element list (empty when all is well), each worded for the operator with what to
    set.
  - "In this order: the VM's service manager is systemd; its OS family has a package format (or
    O(package_format) is set) and its architecture is one Istio builds for; when the sidecar is to be
    O(present): Istio's release storage has the package for the architecture (no aarch64 build), the
    bootstrap bundle on the controller is complete (not checked in O(check_mode), where a dry run
    may lack it), and its C(hosts) file names istiod."
  - The role's variables themselves are checked by P(meshops.istio_vm.sidecar_problems#filter), which needs no facts.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The VM's facts, C(service_mgr), C(os_family), C(distribution) and C(architecture).
    type: dict
    required: true
  present:
    description: Whether the sidecar is to be installed (C(vm_sidecar_state=present)); removal needs only the facts checked.
    type: bool
    default: true
  package_format:
    description: C(vm_sidecar_package_format), the format chosen for a family the role does not know.
    type: str
    default: ""
  formats:
    description: The package format per OS family.
    type: dict
  architectures:
    description: The architectures Istio builds the sidecar for.
    type: list
    elements: str
  official_url:
    description: Whether the package comes from Istio's release storage (neither C(vm_sidecar_package_url) nor C(vm_sidecar_package_src) set).
    type: bool
    default: false
  bundle_dir:
    description: The VM's bootstrap bundle directory on the controller (C(vm_sidecar_bundle_dir)).
    type: str
    default: ""
  bundle_missing:
    description: The files that directory lacks.
    type: list
    elements: str
  hosts:
    description: The bundle's C(hosts) file, when the bundle is complete.
    type: str
  check_mode:
    description: A dry run, which may run before the bundle exists.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Check the VM, the package for it and the bundle
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ inventory_hostname }}: {{ __problems | join('; ') }}"
  vars:
    __problems: >-
      {{ ansible_facts | meshops.istio_vm.sidecar_vm_problems(formats={'Debian': 'deb', 'RedHat': 'rpm'},
                                                              architectures=['x86_64', 'aarch64'],
                                                              bundle_dir='/srv/bundles/vm1', bundle_missing=[],
                                                              hosts=lookup('ansible.builtin.file', '/srv/bundles/vm1/hosts')) }}
"""

RETURN = r"""
_value:
  description: The first problem found, as a one-element list; empty when there is none.
  type: list
  elements: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import sidecar_vm_problems


class FilterModule:
    def filters(self):
        return {"sidecar_vm_problems": sidecar_vm_problems}

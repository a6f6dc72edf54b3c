# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: path_problem
short_description: What is wrong with a path that a role deletes, writes as root or puts in a unit
version_added: 0.1.0
description:
  - Returns an empty string for a path that is safe to hand to a recursive delete, a root-run
    unit line or a shell; otherwise the rule it breaks.
  - "The rules: a string; absolute; not C(/) (nor anything that normalizes to it, like C(/var/..));
    only letters, digits and C(. _ - + @ = : , /) (no white space, no shell metacharacters, no C(%):
    systemd expands C(%) specifiers in unit lines)."
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The path.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse a token path that would reach a shell or a recursive delete
  ansible.builtin.assert:
    that: vm_sidecar_token_path | meshops.istio_vm.path_problem == ''
    fail_msg: "vm_sidecar_token_path: {{ vm_sidecar_token_path | meshops.istio_vm.path_problem }}"
"""

RETURN = r"""
_value:
  description: Empty when the path is fine, else what is wrong with it.
  type: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import check_path


def path_problem(value):
    return check_path(value) or ""


class FilterModule:
    def filters(self):
        return {"path_problem": path_problem}

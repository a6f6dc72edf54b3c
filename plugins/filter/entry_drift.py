# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: entry_drift
short_description: How a WorkloadEntry in the cluster differs from what the inventory asks
version_added: 0.1.0
description:
  - Compares one entry as meshops.istio_vm.workload_entry_info reports it with the options the
    inventory would apply (C(address), C(labels), C(service_account), C(network)), locally, so that
    C(playbooks/verify.yml) needs only read access to the cluster.
  - Only the fields the inventory sets count, as a server-side apply would treat them. Labels
    compare key by key; labels another manager added are not drift.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The live entry (an item of C(workload_entries) of meshops.istio_vm.workload_entry_info).
    type: dict
    required: true
  desired:
    description: The entry's options as the inventory gives them (workload_entry module options).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Report what differs
  ansible.builtin.debug:
    msg: "{{ live_entry | meshops.istio_vm.entry_drift({'address': '10.0.0.5', 'labels': {'app': 'db'}}) }}"
"""

RETURN = r"""
_value:
  description: One line per difference (empty when the entry is as the inventory asks).
  type: list
  elements: str
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils import _drift
from ansible_collections.meshops.istio_vm.plugins.plugin_utils.filters import filter_of

entry_drift = filter_of(_drift.entry_drift)


class FilterModule:
    def filters(self):
        return {"entry_drift": entry_drift}

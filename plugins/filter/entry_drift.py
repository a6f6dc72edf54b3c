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

from ansible.errors import AnsibleFilterError

FIELDS = ("address", "service_account", "network")


def entry_drift(live, desired):
    if not isinstance(live, dict) or not isinstance(desired, dict):
        raise AnsibleFilterError("entry_drift: expects two dicts, got %r and %r"
                                 % (type(live).__name__, type(desired).__name__))
    out = []
    for field in FIELDS:
        want = desired.get(field)
        if want not in (None, "") and str(live.get(field) or "") != str(want):
            out.append("%s is %r in the cluster, %r in the inventory" % (field, live.get(field) or "", str(want)))
    have = live.get("labels") or {}
    for key, want in sorted((desired.get("labels") or {}).items()):
        if key not in have:
            out.append("label %s is missing (the inventory says %r)" % (key, str(want)))
        elif str(have[key]) != str(want):
            out.append("label %s is %r in the cluster, %r in the inventory" % (key, have[key], str(want)))
    return out


class FilterModule:
    def filters(self):
        return {"entry_drift": entry_drift}

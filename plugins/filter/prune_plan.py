# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: prune_plan
short_description: What prune deletes - the static WorkloadEntries and bundles of VMs that left the inventory
version_added: 0.2.0
description:
  - With C(mesh_workload_prune=true), role C(meshops.istio_vm.mesh_workload) deletes what its inventory group
    no longer wants. This filter chooses it from the group's VMs, the record of earlier runs
    (C(mesh_workload_state_file)) and the static WorkloadEntries that carry the group's label in the cluster.
  - "Entries: every listed entry that no static VM of the group names (namespace and
    C(mesh_workload_entry_name)), so also the entry of a VM that stayed but was renamed, moved or switched
    to auto-registration; and only an entry of this inventory: in the namespace of one of the group's VMs,
    or named by the record (C(entry_ref)). Another inventory may use the same group name: its entries in
    other namespaces are left."
  - "Bundles: each recorded bootstrap directory that no VM of the group uses now: of a VM that left the
    group, or an older one of a VM that stayed (its C(mesh_workload_bootstrap_dir) changed); unless a VM
    of the group uses that directory or one inside it (however it is spelled), and only when it is a safe
    path to delete (P(meshops.istio_vm.path_problem#filter)); each once."
  - The VMs must be all of the group (the role refuses prune on a partial view first).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The settings of every VM of the group (C(__mesh_workload_vm)); read are C(mode), C(namespace), C(entry_key) and C(bootstrap_dir).
    type: list
    elements: dict
    required: true
  records:
    description: The record of what the group managed (items with C(host), C(bootstrap_dir) and C(entry_ref)).
    type: list
    elements: dict
    required: true
  members:
    description: The hosts of the group (read by 0.2; the plan no longer depends on it).
    type: list
    elements: str
    required: true
  entries:
    description:
      - The group's static WorkloadEntries in the cluster (C(workload_entries) of
        M(meshops.istio_vm.workload_entry_info), items with C(name) and C(namespace)).
      - Omitted, no entry is chosen.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Delete the static WorkloadEntries the inventory no longer has
  meshops.istio_vm.workload_entry:
    name: "{{ item.name }}"
    namespace: "{{ item.namespace }}"
    state: absent
  loop: "{{ (__vms | meshops.istio_vm.prune_plan(__records, groups['mesh_vms'], __listed.workload_entries)).entries }}"
"""

RETURN = r"""
_value:
  description: What to delete.
  type: dict
  contains:
    entries:
      description: The entries to delete, each with C(name) and C(namespace), in the order listed.
      type: list
      elements: dict
    bundles:
      description: The bootstrap directories to delete, in the order of the record.
      type: list
      elements: str
"""

import posixpath

from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import check_path, path_within


def _norm(path):
    return posixpath.normpath(str(path))


def _ours(entry, namespaces, recorded):
    """Whether a listed entry is this inventory's: in a namespace of one of its VMs, or named by its
    record. The group label alone does not say so: another inventory's group may have the same name."""
    return entry["namespace"] in namespaces or "%s/%s" % (entry["namespace"], entry["name"]) in recorded


def prune_plan(vms, records, members, entries=None):
    vms, records = list(vms), list(records or [])
    wanted = {str(vm.get("entry_key")) for vm in vms if vm.get("mode") == "static"}
    namespaces = {vm.get("namespace") for vm in vms}
    recorded = {"%s/%s" % (ref.get("namespace"), ref.get("name"))
                for ref in (record.get("entry_ref") for record in records) if isinstance(ref, dict)}
    doomed = [{"name": entry["name"], "namespace": entry["namespace"]} for entry in entries or []
              if "%s/%s" % (entry["namespace"], entry["name"]) not in wanted and _ours(entry, namespaces, recorded)]
    in_use = {_norm(vm["bootstrap_dir"]) for vm in vms if vm.get("bootstrap_dir")}
    bundles = []
    for record in records:
        path = record.get("bootstrap_dir")
        # Not a directory a VM of the group uses, nor one that holds such a directory (a member's older
        # directory goes too: the record written after the prune names only the directories in use).
        if (path and path not in bundles and check_path(path) is None
                and not any(path_within(used, _norm(path)) for used in in_use)):
            bundles.append(path)
    return {"entries": doomed, "bundles": bundles}


class FilterModule:
    def filters(self):
        return {"prune_plan": prune_plan}

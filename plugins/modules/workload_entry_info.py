#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workload_entry_info
short_description: List Istio WorkloadEntries by namespace and labels
version_added: 0.1.0
description:
  - Lists C(networking.istio.io/v1) WorkloadEntries in one namespace or in all of them, filtered
    by metadata label selectors, and returns a summary of each.
  - The role M(meshops.istio_vm.mesh_workload) uses it to find the entries it created for VMs that
    have left the inventory (prune).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  name:
    description:
      - Return only the entry of this name.
    type: str
  namespace:
    description:
      - Namespace to list. When omitted, every namespace is listed (this needs permission to list
        WorkloadEntries cluster-wide).
    type: str
  label_selectors:
    description:
      - Kubernetes label selectors on the entries' metadata labels (for example
        C(app.kubernetes.io/managed-by=meshops.istio_vm)); an entry must match all of them.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
  - meshops.istio_vm.auth.info_attributes
"""

EXAMPLES = r"""
- name: The WorkloadEntries this collection manages, in every namespace
  meshops.istio_vm.workload_entry_info:
    label_selectors:
      - app.kubernetes.io/managed-by=meshops.istio_vm
  register: managed

- name: Is ratings-vm-1 healthy?
  meshops.istio_vm.workload_entry_info:
    namespace: bookinfo
    name: ratings-vm-1
  register: entry
"""

RETURN = r"""
workload_entries:
  description: The matching entries, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the entry.
      type: str
    namespace:
      description: Namespace of the entry.
      type: str
    metadata_labels:
      description: Labels of the entry object (C(metadata.labels)).
      type: dict
    address:
      description: Address of the workload (C(spec.address)).
      type: str
    labels:
      description: Labels of the workload (C(spec.labels)).
      type: dict
    service_account:
      description: Service account of the workload.
      type: str
    network:
      description: Network of the workload.
      type: str
    auto_registered:
      description: Whether istiod created the entry for a connecting VM (C(istio.io/autoRegistrationGroup) annotation).
      type: bool
    healthy:
      description: The C(Healthy) condition (C(True), C(False)), or null when istiod reports none.
      type: str
  sample: [{"name": "ratings-vm-1", "namespace": "bookinfo", "address": "10.0.0.21",
            "metadata_labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm"},
            "labels": {"app": "ratings"}, "service_account": "ratings", "network": "",
            "auto_registered": false, "healthy": "True"}]
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils import _client
from ansible_collections.meshops.istio_vm.plugins.module_utils._args import AUTH_ARG_SPEC, auth_params
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, execute

AUTO_REGISTRATION_ANNOTATION = "istio.io/autoRegistrationGroup"


def summarize(obj):
    """Pure: the returned view of one WorkloadEntry object."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    healthy = [c.get("status") for c in (obj.get("status") or {}).get("conditions") or []
               if c.get("type") == "Healthy"]
    return {
        "name": meta.get("name"), "namespace": meta.get("namespace"),
        "metadata_labels": meta.get("labels") or {},
        "address": spec.get("address") or "", "labels": spec.get("labels") or {},
        "service_account": spec.get("serviceAccount") or "", "network": spec.get("network") or "",
        "auto_registered": AUTO_REGISTRATION_ANNOTATION in (meta.get("annotations") or {}),
        "healthy": healthy[0] if healthy else None,
    }


def run(module):
    client = _client.MeshClient.from_params(auth_params(module.params))
    selector = ",".join(module.params["label_selectors"])
    namespace, name = module.params["namespace"], module.params["name"]
    if namespace:
        items = client.list("WorkloadEntry", namespace, selector)
    else:
        items = client.list_all("WorkloadEntry", selector)
    entries = [summarize(item) for item in items]
    if name:
        entries = [entry for entry in entries if entry["name"] == name]
    return {"changed": False,
            "workload_entries": sorted(entries, key=lambda entry: (entry["namespace"], entry["name"]))}


ARGUMENT_SPEC = dict(AUTH_ARG_SPEC)
ARGUMENT_SPEC.update(name={"type": "str"}, namespace={"type": "str"},
                     label_selectors={"type": "list", "elements": "str", "default": []})
SPEC = ModuleSpec("workload_entry_info", ARGUMENT_SPEC, run)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()

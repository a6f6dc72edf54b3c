#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workload_group
short_description: Manage Istio WorkloadGroups (the template VMs of one workload share)
version_added: 0.1.0
description:
  - Makes a C(networking.istio.io/v1) WorkloadGroup present or absent with server-side apply.
  - The group is the template for auto-registered WorkloadEntries and the input of
    M(meshops.istio_vm.vm_bootstrap).
  - Options are validated with the rules of the Istio CRD schema and istiod's validation before any API call.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  labels:
    description:
      - Labels of the group's workloads (C(spec.metadata.labels)).
    type: dict
  annotations:
    description:
      - Annotations of the group's workloads (C(spec.metadata.annotations)).
    type: dict
  template:
    description:
      - Template for the WorkloadEntries of the group (C(spec.template)). Same fields as
        M(meshops.istio_vm.workload_entry), all optional.
      - Required with O(state=present), as the API server requires it; V({}) is an empty template.
    type: dict
    suboptions:
      address:
        description:
          - Address of the template, as in Istio's WorkloadGroup example (V(2.2.2.2)); an IP, an
            FQDN or V(unix://<absolute path>).
          - Written to the group as given, but istiod replaces it with the VM's own address in each
            WorkloadEntry it auto-registers, so the module returns a warning when it is set.
        type: str
      labels:
        description: Labels of each entry.
        type: dict
      ports:
        description: Map of port name to port number.
        type: dict
      service_account:
        description: Service account of the workloads.
        type: str
      network:
        description: Network of the workloads.
        type: str
      locality:
        description: Locality, C(region/zone/subzone).
        type: str
      weight:
        description: Load-balancing weight.
        type: int
  probe:
    description:
      - Readiness probe the VM's sidecar runs; istiod records the result in the
        WorkloadEntry's C(Healthy) condition.
      - Exactly one of O(probe.http_get), O(probe.tcp_socket), O(probe.exec).
    type: dict
    suboptions:
      http_get:
        description: HTTP GET probe with C(path), C(port) (required), C(host), C(scheme) (HTTP or HTTPS) and C(http_headers) (list of C(name)/C(value)).
        type: dict
      tcp_socket:
        description: TCP connect probe with C(port) (required) and C(host).
        type: dict
      exec:
        description: Command probe with C(command) (a list).
        type: dict
      initial_delay_seconds:
        description: Seconds before the first probe.
        type: int
      timeout_seconds:
        description: Seconds before a probe times out.
        type: int
      period_seconds:
        description: Seconds between probes.
        type: int
      success_threshold:
        description: Successes in a row to count as ready.
        type: int
      failure_threshold:
        description: Failures in a row to count as not ready.
        type: int
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
  - meshops.istio_vm.auth.apply
  - meshops.istio_vm.auth.attributes
notes:
  - Deleting a group lets the Kubernetes garbage collector delete the entries istiod
    auto-registered for it (they carry an ownerReference to the group).
seealso:
  - module: meshops.istio_vm.vm_bootstrap
  - module: meshops.istio_vm.workload_entry
"""

EXAMPLES = r"""
- name: A group of ratings VMs with an HTTPS probe
  meshops.istio_vm.workload_group:
    name: ratings-vm
    namespace: ratings
    labels:
      app: ratings
      version: v1
    template:
      service_account: ratings-vm
      network: vm-network
      ports:
        http: 8080
    probe:
      period_seconds: 5
      http_get:
        path: /health
        port: 8443
        scheme: HTTPS
        http_headers:
          - name: X-Probe
            value: mesh

- name: Remove the group
  meshops.istio_vm.workload_group:
    name: ratings-vm
    namespace: ratings
    state: absent
"""

RETURN = r"""
method:
  description: What happened to the object.
  returned: when O(name) is given
  type: str
  sample: unchanged
result:
  description: The object as the API server stores it (without server-owned metadata).
  returned: when O(name) is given
  type: dict
results:
  description: One entry per object of O(objects).
  returned: when O(objects) is given
  type: list
  elements: dict
diff:
  description: Before and after, for diff mode.
  returned: always
  type: raw
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._module import execute, resource_spec

KIND_SPEC = {
    "labels": {"type": "dict"},
    "annotations": {"type": "dict"},
    "template": {"type": "dict", "options": {
        "address": {"type": "str"}, "labels": {"type": "dict"}, "ports": {"type": "dict"},
        "service_account": {"type": "str"}, "network": {"type": "str"}, "locality": {"type": "str"},
        "weight": {"type": "int"}}},
    "probe": {"type": "dict", "options": {
        "http_get": {"type": "dict"}, "tcp_socket": {"type": "dict"}, "exec": {"type": "dict"},
        "initial_delay_seconds": {"type": "int"}, "timeout_seconds": {"type": "int"},
        "period_seconds": {"type": "int"}, "success_threshold": {"type": "int"},
        "failure_threshold": {"type": "int"}}},
}


SPEC = resource_spec("WorkloadGroup", "workload_group", KIND_SPEC)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()

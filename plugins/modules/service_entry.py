#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: service_entry
short_description: Manage Istio ServiceEntries (a service name for VM workloads)
version_added: 0.1.0
description:
  - Makes a C(networking.istio.io/v1) ServiceEntry present or absent with server-side apply.
  - Options are validated with the rules of the Istio CRD schema and istiod's validation before any API call.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  hosts:
    description:
      - Host names of the service. C(*) alone is not allowed.
    type: list
    elements: str
  addresses:
    description:
      - Virtual IPs or CIDRs of the service (CIDRs only with O(resolution=NONE) or O(resolution=STATIC)).
    type: list
    elements: str
  ports:
    description:
      - Ports of the service; numbers and names must be unique.
    type: list
    elements: dict
    suboptions:
      number:
        description: Port number.
        type: int
        required: true
      name:
        description: Port name.
        type: str
        required: true
      protocol:
        description: Protocol, such as HTTP, HTTPS, GRPC, TCP, TLS.
        type: str
      target_port:
        description: Port on the endpoints, when it differs from O(ports[].number).
        type: int
  location:
    description:
      - Whether the service is part of the mesh.
    type: str
    choices: [MESH_EXTERNAL, MESH_INTERNAL]
  resolution:
    description:
      - How the proxy resolves the service's endpoints.
    type: str
    choices: [NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS]
  workload_selector:
    description:
      - Labels that select WorkloadEntries (and pods) as endpoints. Exclusive with O(endpoints).
    type: dict
  endpoints:
    description:
      - Inline endpoints, each with the fields of a WorkloadEntry (C(address), C(ports), C(labels),
        C(network), C(locality), C(weight), C(service_account)). Exclusive with O(workload_selector).
    type: list
    elements: dict
  export_to:
    description:
      - Namespaces the service is visible to (C(.) this one, C(*) all).
    type: list
    elements: str
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
  - meshops.istio_vm.auth.apply
  - meshops.istio_vm.auth.attributes
seealso:
  - module: meshops.istio_vm.workload_entry
"""

EXAMPLES = r"""
- name: details.bookinfo.com served by the legacy VM (port 80 -> 9080)
  meshops.istio_vm.service_entry:
    name: details-legacy
    namespace: bookinfo
    hosts: [details.bookinfo.com]
    location: MESH_INTERNAL
    resolution: STATIC
    ports:
      - number: 80
        name: http
        protocol: HTTP
        target_port: 9080
    workload_selector:
      app: details
"""

RETURN = r"""
method:
  description: What happened to the object.
  returned: when O(name) is given
  type: str
  sample: created
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
    "hosts": {"type": "list", "elements": "str"},
    "addresses": {"type": "list", "elements": "str"},
    "ports": {"type": "list", "elements": "dict", "options": {
        "number": {"type": "int", "required": True}, "name": {"type": "str", "required": True},
        "protocol": {"type": "str"}, "target_port": {"type": "int"}}},
    "location": {"type": "str", "choices": ["MESH_EXTERNAL", "MESH_INTERNAL"]},
    "resolution": {"type": "str", "choices": ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"]},
    "workload_selector": {"type": "dict"},
    "endpoints": {"type": "list", "elements": "dict"},
    "export_to": {"type": "list", "elements": "str"},
}


SPEC = resource_spec("ServiceEntry", "service_entry", KIND_SPEC)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()

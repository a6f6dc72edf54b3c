#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sidecar
short_description: Manage Istio Sidecar resources (what a VM's proxy listens on and reaches)
version_added: 0.1.0
description:
  - Makes a C(networking.istio.io/v1) Sidecar present or absent with server-side apply.
  - Options are validated with the rules of the Istio CRD schema and istiod's validation before any API call.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  workload_selector:
    description:
      - Labels of the workloads this Sidecar applies to; without it, the namespace's default Sidecar.
    type: dict
  ingress:
    description:
      - Inbound listeners. Each has C(port) (C(number), C(protocol), C(name), C(target_port)), C(bind),
        C(default_endpoint) (C(127.0.0.1:PORT), C(0.0.0.0:PORT), C([::1]:PORT), C([::]:PORT) or
        C(unix://PATH)) and C(capture_mode) (DEFAULT, IPTABLES, NONE).
    type: list
    elements: dict
  egress:
    description:
      - Outbound listeners. Each has C(hosts) (required, C(namespace/host) form), optional C(port),
        C(bind) and C(capture_mode). A port-less catch-all listener may appear only once, last.
    type: list
    elements: dict
  outbound_traffic_policy:
    description:
      - C(mode) (REGISTRY_ONLY or ALLOW_ANY) and, with ALLOW_ANY, an optional C(egress_proxy)
        (C(host), C(subset), C(port)).
    type: dict
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
  - meshops.istio_vm.auth.apply
  - meshops.istio_vm.auth.attributes
seealso:
  - module: meshops.istio_vm.workload_group
"""

EXAMPLES = r"""
- name: ratings VMs accept HTTP 8080 and TCP 3550 on localhost, egress bound to 127.0.0.2
  meshops.istio_vm.sidecar:
    name: ratings-vm
    namespace: ratings
    workload_selector:
      app: ratings
    ingress:
      - port: {number: 8080, protocol: HTTP, name: http}
        default_endpoint: 127.0.0.1:8080
      - port: {number: 3550, protocol: TCP, name: tcp}
        default_endpoint: 127.0.0.1:3550
    egress:
      - bind: 127.0.0.2
        port: {number: 3306, protocol: MYSQL, name: egressmysql}
        hosts: ["*/mysql.external.svc.cluster.local"]
      - hosts: ["istio-system/*", "./*"]
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
    "workload_selector": {"type": "dict"},
    "ingress": {"type": "list", "elements": "dict"},
    "egress": {"type": "list", "elements": "dict"},
    "outbound_traffic_policy": {"type": "dict"},
}


SPEC = resource_spec("Sidecar", "sidecar", KIND_SPEC)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()

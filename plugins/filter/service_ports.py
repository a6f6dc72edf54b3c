# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: service_ports
short_description: The ports of a workload's Service from its port map
version_added: 0.1.0
description:
  - Turns a map of port name to number (the shape of WorkloadEntry C(ports) and of
    C(mesh_workload_ports)) into the O(meshops.istio_vm.workload_service#module:ports) list of
    M(meshops.istio_vm.workload_service), ordered by port number, with an optional C(appProtocol)
    per port name.
  - Fails when an argument is not a map or O(app_protocols) names a port the map lacks.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: Port name to port number.
    type: dict
    required: true
  app_protocols:
    description: Port name to the C(appProtocol) of that Service port (for example C(tcp) or C(http)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: The Service of the ratings workload; its grpc port carries raw TCP
  meshops.istio_vm.workload_service:
    name: ratings-vm
    namespace: bookinfo
    selector: {app: ratings-vm}
    ports: "{{ {'grpc': 3550, 'http': 8080} | meshops.istio_vm.service_ports({'grpc': 'tcp'}) }}"
"""

RETURN = r"""
_value:
  description: "The ports: C(name), C(port) and, where given, C(app_protocol)."
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._specs import service_ports_from_map


def service_ports(ports, app_protocols=None):
    try:
        return service_ports_from_map(ports, app_protocols or {})
    except ValidationError as exc:
        raise AnsibleFilterError("service_ports: %s" % "; ".join(exc.errors))


class FilterModule:
    def filters(self):
        return {"service_ports": service_ports}

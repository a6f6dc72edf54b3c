#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workload_service
short_description: Manage the Kubernetes Service that gives a VM workload its mesh name
version_added: 0.1.0
description:
  - Makes a core C(v1) Service present or absent with server-side apply, so that the mesh reaches
    a VM workload as C(NAME.NAMESPACE.svc.cluster.local). istiod matches the Service's O(selector)
    against the labels of WorkloadEntries (those of a WorkloadGroup's VMs included) and sends the
    traffic to the VMs.
  - The Service is always of type C(ClusterIP) with a selector; the API server allocates its cluster IP
    (C(spec.clusterIP), C(spec.clusterIPs), C(spec.ipFamilies) and the like stay the server's and are
    never compared or changed).
  - Options are validated with the API server's rules for Services before any API call; a bad value
    fails naming the option and the rule.
  - One object per task, or many in one task with O(objects).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  name:
    description:
      - Name of the Service, the first label of the workload's host name. A DNS-1035 label (lower case
        letters, digits and C(-), starting with a letter, at most 63 characters), which every Kubernetes
        version accepts (from 1.36 the API server also takes a leading digit).
      - Required unless O(objects) is given.
    type: str
  selector:
    description:
      - Labels of the workload (C(spec.selector)); every WorkloadEntry carrying all of them is an
        endpoint of the Service. Usually the C(app) label of the WorkloadGroup's template.
      - Required with O(state=present); at least one label.
    type: dict
  ports:
    description:
      - The ports of the Service, at least one, each a dictionary with these keys.
      - C(port) (required) is the port number (1-65535) that clients connect to.
      - C(name) is a DNS-1123 label, required when there is more than one port. For a VM it should be
        the workload's port name (the key in WorkloadEntry C(ports)), which istiod uses to map the
        Service port to the VM's port.
      - C(target_port) is the port number or the IANA service name (at most 15 characters) on the
        workload; default the value of C(port).
      - C(protocol) is C(TCP), C(UDP) or C(SCTP); default C(TCP).
      - C(app_protocol), for example C(http), C(http2), C(grpc) or C(tcp), tells Istio the protocol
        instead of letting it sniff (a Kubernetes qualified name).
      - Names are unique, and port numbers are unique per protocol. A map of port name to number (the
        shape of WorkloadEntry C(ports)) is not accepted; the examples show how to turn one into the list.
    type: list
    elements: dict
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
  - meshops.istio_vm.auth.apply
  - meshops.istio_vm.auth.attributes
notes:
  - The API server's defaults are written out (C(protocol=TCP), C(target_port) equal to C(port),
    C(type=ClusterIP)), so the stored Service equals what was applied and a second run changes nothing.
  - A Service made by other means (by hand, as in Istio's guide, or one that also selects pods) can be taken
    over. A field that both set to different values fails with a conflict until O(force_conflicts=true); ports
    that only another field manager set stay on the Service.
  - The first apply marks the Service with the annotation C(istio-vm.meshops.io/origin), C(created) when this
    module created it and C(adopted) when it existed before; later applies keep the mark.
  - With O(state=absent) only O(name) and O(namespace) matter. A Service marked C(created), or without the mark,
    is deleted. A Service marked C(adopted) is given back, not deleted (RV(method) C(released)); an apply of
    the bare Service takes off the fields that only this collection set (the mark among them), and the Service
    stays with the fields its other managers set.
seealso:
  - module: meshops.istio_vm.workload_group
  - module: meshops.istio_vm.workload_entry
  - name: Istio, virtual machine installation
    description: The guide creates this Service by hand.
    link: https://istio.io/latest/docs/setup/install/virtual-machine/
"""

EXAMPLES = r"""
- name: The ratings VMs as ratings.ratings.svc.cluster.local
  meshops.istio_vm.workload_service:
    name: ratings
    namespace: ratings
    selector:
      app: ratings
    ports:
      - name: http
        port: 8080
        app_protocol: http
      - name: grpc
        port: 3550
        app_protocol: grpc

- name: Port 80 on the Service, 9080 on the VMs
  meshops.istio_vm.workload_service:
    name: details
    namespace: bookinfo
    selector:
      app: details
    ports:
      - name: http
        port: 80
        target_port: 9080
        app_protocol: http

- name: The ports from a map of port name to number, as WorkloadEntry ports have them
  meshops.istio_vm.workload_service:
    name: ratings
    namespace: ratings
    selector:
      app: ratings
    ports: "{{ workload_ports | dict2items(key_name='name', value_name='port') }}"
  vars:
    workload_ports:
      http: 8080
      grpc: 3550

- name: Several Services in one task
  meshops.istio_vm.workload_service:
    namespace: shop
    objects:
      - name: cart
        selector: {app: cart}
        ports: [{name: http, port: 8080}]
      - name: payments
        selector: {app: payments}
        ports: [{name: grpc, port: 3550, app_protocol: grpc}]

- name: Remove the Service
  meshops.istio_vm.workload_service:
    name: ratings
    namespace: ratings
    state: absent
"""

RETURN = r"""
method:
  description: What happened to the object.
  returned: when O(name) is given
  type: str
  sample: created
  choices: [created, updated, unchanged, deleted, released, absent, missing]
result:
  description:
    - The Service as the API server stores it (without server-owned metadata), with the allocated
      C(spec.clusterIP); empty when absent or missing.
    - In check mode, a Service that does not exist yet is the API server's dry run, whose C(spec.clusterIP)
      is a placeholder, not an allocated address.
  returned: when O(name) is given
  type: dict
  sample: {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ratings", "namespace": "ratings"},
           "spec": {"selector": {"app": "ratings"}, "type": "ClusterIP", "clusterIP": "10.96.12.7",
                    "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP",
                               "appProtocol": "http"}]}}
results:
  description: One entry per object of O(objects), each with C(name), C(namespace), C(changed), C(method), C(result) and C(diff).
  returned: when O(objects) is given
  type: list
  elements: dict
diff:
  description: Before and after, for diff mode (a list in the batch form).
  returned: always
  type: raw
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils._module import execute, resource_spec

KIND_SPEC = {
    "selector": {"type": "dict"},
    "ports": {"type": "list", "elements": "dict"},
}


SPEC = resource_spec("Service", "workload_service", KIND_SPEC)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()

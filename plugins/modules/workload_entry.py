#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workload_entry
short_description: Manage Istio WorkloadEntries (a VM's address in the mesh)
version_added: 0.1.0
description:
  - Makes a C(networking.istio.io/v1) WorkloadEntry present or absent with server-side apply.
  - Options are validated with the rules of the Istio CRD schema and istiod's validation before
    any API call; a bad value fails naming the option and the rule.
  - One object per task, or many in one task with O(objects).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  address:
    description:
      - IP address, FQDN or absolute C(unix://) socket path of the workload.
      - May be empty only when O(network) is set (a workload behind a network gateway).
    type: str
  ports:
    description:
      - Map of port name to port number (1-65535) on the workload.
    type: dict
  labels:
    description:
      - Labels of the workload (C(spec.labels)), used by Service and ServiceEntry selectors.
    type: dict
  service_account:
    description:
      - Service account the workload runs as; its SPIFFE identity.
    type: str
  network:
    description:
      - Network the workload is on; endpoints on other networks are reached through a gateway.
    type: str
  locality:
    description:
      - Locality of the workload, C(region/zone/subzone).
    type: str
  weight:
    description:
      - Load-balancing weight of the workload.
    type: int
  health_checks:
    description:
      - Adds the C(proxy.istio.io/health-checks-enabled=true) annotation so that istiod records
        the VM sidecar's probe results in the C(Healthy) condition.
    type: bool
    default: false
  wait:
    description:
      - V(healthy) waits until istiod reports the C(Healthy) condition as C(True). On timeout the task
        fails with C(changed), C(result) and C(diff) of the entry it applied.
      - With O(objects), one wait for all the entries that ask for it (one LIST per namespace and
        poll); on timeout the task fails naming the entries that are not Healthy, with the results
        of all of them.
      - An error of the API while waiting (a refused read) fails the task with that error at once, with
        the same C(changed), C(result) or C(results) and C(diff) of what it applied.
    type: str
    choices: [none, healthy]
    default: none
  wait_timeout:
    description:
      - Seconds to wait for O(wait).
    type: int
    default: 120
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
  - meshops.istio_vm.auth.apply
  - meshops.istio_vm.auth.attributes
notes:
  - In auto-registration mode istiod creates the WorkloadEntries itself; use this module for
    VMs at fixed addresses.
seealso:
  - module: meshops.istio_vm.workload_group
"""

EXAMPLES = r"""
- name: Register the legacy details VM
  meshops.istio_vm.workload_entry:
    name: details-legacy
    namespace: bookinfo
    address: 10.0.3.17
    ports:
      http: 9080
    labels:
      app: details
      version: legacy
    service_account: details-legacy
    health_checks: true

- name: Wait until istiod reports the VM healthy
  meshops.istio_vm.workload_entry:
    name: details-legacy
    namespace: bookinfo
    address: 10.0.3.17
    ports:
      http: 9080
    labels:
      app: details
    service_account: details-legacy
    health_checks: true
    wait: healthy
    wait_timeout: 60

- name: Many entries in one task
  meshops.istio_vm.workload_entry:
    namespace: ratings
    objects:
      - name: ratings-vm-1
        address: 10.0.4.11
        labels: {app: ratings}
      - name: ratings-vm-2
        address: 10.0.4.12
        labels: {app: ratings}

- name: Remove an entry
  meshops.istio_vm.workload_entry:
    name: details-legacy
    namespace: bookinfo
    state: absent
"""

RETURN = r"""
method:
  description: What happened to the object.
  returned: when O(name) is given
  type: str
  sample: created
  choices: [created, updated, unchanged, deleted, kept, absent, missing]
result:
  description: The object as the API server stores it (without server-owned metadata); empty when absent or missing.
  returned: when O(name) is given
  type: dict
  sample: {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
           "metadata": {"name": "details-legacy", "namespace": "bookinfo"},
           "spec": {"address": "10.0.3.17", "ports": {"http": 9080}}}
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

from ansible_collections.meshops.istio_vm.plugins.module_utils._client import wait_until
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError, WaitTimeout
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import execute, resource_spec

KIND_SPEC = {
    "address": {"type": "str"},
    "ports": {"type": "dict"},
    "labels": {"type": "dict"},
    "service_account": {"type": "str"},
    "network": {"type": "str"},
    "locality": {"type": "str"},
    "weight": {"type": "int"},
    "health_checks": {"type": "bool", "default": False},
    "wait": {"type": "str", "default": "none", "choices": ["none", "healthy"]},
    "wait_timeout": {"type": "int", "default": 120},
}


def _healthy(obj):
    for cond in (obj or {}).get("status", {}).get("conditions") or []:
        if cond.get("type") == "Healthy":
            return cond.get("status") == "True"
    return False


def wait_healthy(client, params, result, check_mode):
    # an entry that create: false did not make (method missing) will not turn Healthy by waiting
    if params["wait"] != "healthy" or check_mode or params["state"] != "present" or result.get("method") == "missing":
        return result
    ns, name = params["namespace"], params["name"]

    def healthy_entry():
        entry = client.get("WorkloadEntry", ns, name)
        return entry if _healthy(entry) else None

    try:
        live = wait_until("WorkloadEntry %s/%s to be Healthy" % (ns, name), healthy_entry, params["wait_timeout"])
    except MeshError as exc:
        # a timeout, or an error of a read while waiting: the entry is applied, say so, with what was written
        raise MeshError("%s (the entry is applied, see result)" % exc.message,
                        dict(exc.details, **{key: result[key] for key in ("changed", "method", "result", "diff")
                                             if key in result}))
    result["result"]["status"] = live.get("status", {})
    return result


def wait_healthy_many(client, params, param_sets, result, check_mode):
    """The batch form: one LIST per namespace and poll, until every entry with wait=healthy is."""
    missing = {(r["namespace"], r["name"]) for r in result["results"] if r.get("method") == "missing"}
    wanted = [(p["namespace"], p["name"]) for p in param_sets if p["wait"] == "healthy"
              and (p["namespace"], p["name"]) not in missing]
    if not wanted or check_mode or params["state"] != "present":
        return result
    namespaces = sorted({key[0] for key in wanted})
    waiting = {"for": wanted}

    def all_healthy():
        live = {(ns, item["metadata"]["name"]): item for ns in namespaces for item in client.list("WorkloadEntry", ns)}
        waiting["for"] = [key for key in wanted if not _healthy(live.get(key))]
        return live if not waiting["for"] else None

    timeout = max(p["wait_timeout"] for p in param_sets if p["wait"] == "healthy")
    try:
        live = wait_until("%d WorkloadEntries to be Healthy" % len(wanted), all_healthy, timeout)
    except WaitTimeout:
        names = ", ".join("%s/%s" % key for key in waiting["for"])
        raise MeshError("Timed out after %ss waiting for %d of %d WorkloadEntries to be Healthy: %s (the entries "
                        "are applied, see results)" % (timeout, len(waiting["for"]), len(wanted), names),
                        {"changed": result["changed"], "results": result["results"], "diff": result["diff"],
                         "unhealthy": ["%s/%s" % key for key in waiting["for"]]})
    except MeshError as exc:   # an error of a LIST while waiting: that error, with what was written
        raise MeshError("%s (the entries are applied, see results)" % exc.message,
                        dict(exc.details, changed=result["changed"], results=result["results"], diff=result["diff"]))
    for item in result["results"]:
        key = (item["namespace"], item["name"])
        if key in live and key in wanted:
            item["result"]["status"] = live[key].get("status", {})
    return result


SPEC = resource_spec("WorkloadEntry", "workload_entry", KIND_SPEC, after=wait_healthy, after_many=wait_healthy_many)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()

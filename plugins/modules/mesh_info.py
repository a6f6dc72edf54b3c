#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mesh_info
short_description: Facts about the Istio control plane a VM would join
version_added: 0.1.0
description:
  - Reads, in O(istio_namespace), the mesh ConfigMaps (C(istio), C(istio-REVISION)), the injector
    ConfigMaps and the istiod Deployments, and reports per revision the trust domain, mesh ID,
    cluster ID, network, istiod address, version, and whether WorkloadEntry auto-registration
    and health checks are on.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  istio_namespace:
    description:
      - Namespace of the Istio control plane.
    type: str
    default: istio-system
  cluster_id:
    description:
      - The cluster ID the credential is expected to reach. When set, the module fails unless
        a revision of the mesh reports this cluster ID, and the message names the API server
        and the cluster IDs found. A guard against a credential for the wrong cluster.
    type: str
  permissions:
    description:
      - Permissions the credential must have, checked with one SelfSubjectAccessReview each
        (which every authenticated user may create; nothing is changed). The module fails when
        any is missing, naming each missing verb, resource and namespace, and the reason given.
      - The roles pass what the playbook of the run needs for its inventory (entry point
        C(access) of the mesh_workload role), so that a credential short of a permission fails
        before any change instead of halfway.
    type: list
    elements: dict
    default: []
    suboptions:
      verb:
        description: Kubernetes API verb, for example C(get), C(list), C(patch), C(delete), C(create).
        type: str
        required: true
      group:
        description: API group; empty for the core group.
        type: str
        default: ""
      resource:
        description: Resource, with an optional subresource (C(serviceaccounts/token)).
        type: str
        required: true
      namespace:
        description: Namespace; empty for a cluster-scoped resource or all namespaces.
        type: str
        default: ""
      name:
        description: Object name; empty for any object.
        type: str
        default: ""
      why:
        description: What the permission is for, repeated in the failure message.
        type: str
        default: ""
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
  - meshops.istio_vm.auth.info_attributes
"""

EXAMPLES = r"""
- name: What mesh is there?
  meshops.istio_vm.mesh_info:
  register: mesh

- name: Stop when the credential reaches another cluster than cluster1
  meshops.istio_vm.mesh_info:
    cluster_id: cluster1

- name: Stop unless the credential may apply WorkloadGroups in namespace vms
  meshops.istio_vm.mesh_info:
    permissions:
      - verb: patch
        group: networking.istio.io
        resource: workloadgroups
        namespace: vms
        why: apply the WorkloadGroups

- name: Fail early when auto-registration is off
  ansible.builtin.assert:
    that: mesh.revisions[0].autoregistration
"""

RETURN = r"""
revisions:
  description: One entry per Istio revision found.
  returned: always
  type: list
  elements: dict
  contains:
    revision:
      description: Revision name (C(default) for the unrevisioned install).
      type: str
    trust_domain:
      description: Trust domain of the mesh (SPIFFE IDs are C(spiffe://TRUST_DOMAIN/ns/NS/sa/SA)).
      type: str
    mesh_id:
      description: C(defaultConfig.meshId), or the trust domain when unset.
      type: str
    cluster_id:
      description: Cluster ID from the injector values; empty when unknown.
      type: str
    network:
      description: Network of the cluster from the injector values; empty when unknown.
      type: str
    istiod_address:
      description: The discovery address proxies use (C(host:port)).
      type: str
    versions:
      description: Image tags of the istiod Deployments of the revision (empty when istiod runs outside the cluster).
      type: list
      elements: str
    autoregistration:
      description: Whether istiod creates WorkloadEntries for connecting VMs (PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION).
      type: bool
    health_checks:
      description: Whether istiod records VM health checks (PILOT_ENABLE_WORKLOAD_ENTRY_HEALTHCHECKS).
      type: bool
  sample: [{"revision": "default", "trust_domain": "cluster.local", "mesh_id": "mesh1", "cluster_id": "cluster1",
            "network": "net1", "istiod_address": "istiod.istio-system.svc:15012", "versions": ["1.31.0"],
            "autoregistration": true, "health_checks": true}]
permissions_checked:
  description: How many permissions were reviewed (all were granted; the module fails otherwise).
  returned: always
  type: int
  sample: 21
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils import _client, _rbac
from ansible_collections.meshops.istio_vm.plugins.module_utils._args import AUTH_ARG_SPEC, auth_params
from ansible_collections.meshops.istio_vm.plugins.module_utils._bootstrap import cluster_id_from_injector_values
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, execute

try:
    import yaml
except ImportError:
    yaml = None

FLAGS = {"autoregistration": "PILOT_ENABLE_WORKLOAD_ENTRY_AUTOREGISTRATION",
         "health_checks": "PILOT_ENABLE_WORKLOAD_ENTRY_HEALTHCHECKS"}


def revision_of(config_map_name, prefix):
    """'istio' -> 'default', 'istio-canary' -> 'canary'; None when it is another ConfigMap."""
    if config_map_name == prefix:
        return "default"
    if config_map_name.startswith(prefix + "-"):
        return config_map_name[len(prefix) + 1:]
    return None


def summarize(revision, mesh, injector_values, deployments, istio_namespace):
    """Pure: one revision's facts from its mesh config, injector values and istiod Deployments."""
    default_config = mesh.get("defaultConfig") or {}
    trust_domain = mesh.get("trustDomain") or "cluster.local"
    host = "istiod" + ("" if revision == "default" else "-" + revision)
    values = injector_values if isinstance(injector_values, dict) else {}
    glob = values.get("global") or {}
    versions, flags = [], {key: True for key in FLAGS}    # istiod's defaults since 1.22
    for dep in deployments:
        for container in (dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []):
            image = container.get("image") or ""
            if ":" in image.rsplit("/", 1)[-1]:
                versions.append(image.rsplit(":", 1)[1])
            for env in container.get("env") or []:
                for key, name in FLAGS.items():
                    if env.get("name") == name and "value" in env:
                        flags[key] = str(env["value"]).lower() == "true"
    return dict({
        "revision": revision, "trust_domain": trust_domain,
        "mesh_id": default_config.get("meshId") or trust_domain,
        "cluster_id": cluster_id_from_injector_values(values) if values else "",
        "network": glob.get("network") or "",
        "istiod_address": default_config.get("discoveryAddress") or "%s.%s.svc:15012" % (host, istio_namespace),
        "versions": sorted(set(versions)),
    }, **flags)


def run(module):
    client = _client.MeshClient.from_params(auth_params(module.params))
    ns = module.params["istio_namespace"]
    config_maps = {cm["metadata"]["name"]: cm.get("data") or {} for cm in client.list_config_maps(ns)}
    deployments = client.list_deployments(ns, "app=istiod")
    revisions = []
    for name in sorted(config_maps):
        revision = revision_of(name, "istio")
        if revision is None or "mesh" not in config_maps[name]:
            continue
        try:
            mesh = yaml.safe_load(config_maps[name]["mesh"] or "") or {}
            injector = config_maps.get("istio-sidecar-injector" + ("" if revision == "default" else "-" + revision), {})
            values = yaml.safe_load(injector.get("values") or "") or {}
        except yaml.YAMLError as exc:
            raise MeshError("Cannot parse ConfigMap %s/%s: %s" % (ns, name, exc))
        mine = [d for d in deployments
                if (d["metadata"].get("labels") or {}).get("istio.io/rev", "default") == revision]
        revisions.append(summarize(revision, mesh, values, mine, ns))
    if not revisions:
        raise MeshError("No Istio mesh ConfigMap (istio or istio-REVISION with key 'mesh') in namespace %s: "
                        "is Istio installed there?" % ns)
    check_cluster(module.params["cluster_id"], revisions, client.host)
    needed = [_rbac.from_dict(item) for item in module.params["permissions"]]
    missing = [need for need in needed if not client.can_i(_rbac.access_review(need))]
    if missing:
        raise MeshError(_rbac.missing_message(client.whoami(), missing),
                        {"missing_permissions": [need.as_dict() for need in missing]})
    return {"changed": False, "revisions": revisions, "permissions_checked": len(needed)}


def check_cluster(expected, revisions, host):
    """Pure: raise when ``expected`` is set and no revision reports that cluster ID."""
    found = sorted(set(rev["cluster_id"] for rev in revisions))
    if expected and expected not in found:
        raise MeshError("The cluster credential reaches the wrong cluster: the API server %s runs a mesh with "
                        "cluster ID %s, expected %s (mesh_workload_cluster_id). Check the cluster credential "
                        "(kubeconfig/K8S_AUTH_*) of this run." % (host, ", ".join(repr(c) for c in found) or "unknown",
                                                                  repr(expected)),
                        {"cluster_ids": found})


ARGUMENT_SPEC = dict(AUTH_ARG_SPEC)
ARGUMENT_SPEC.update(
    istio_namespace={"type": "str", "default": "istio-system"},
    cluster_id={"type": "str"},
    permissions={"type": "list", "elements": "dict", "default": [], "options": {
        "verb": {"type": "str", "required": True},
        "group": {"type": "str", "default": ""},
        "resource": {"type": "str", "required": True},
        "namespace": {"type": "str", "default": ""},
        "name": {"type": "str", "default": ""},
        "why": {"type": "str", "default": ""},
    }},
)
SPEC = ModuleSpec("mesh_info", ARGUMENT_SPEC, run, libraries=(("PyYAML", yaml is not None),))


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The Kubernetes permissions each playbook needs for an inventory, and the RBAC that grants them.

One list of rules, used twice: the playbooks' first play checks the credential against it
(SelfSubjectAccessReview, before any change), and ``playbooks/rbac.yml`` renders the Roles and
bindings an administrator applies. Pure functions, no API calls.

A VM is described by the role's per-VM settings: ``namespace``, ``workload``, ``service_account``,
``mode`` and the objects it implies (``service_object``, ``service_entry_objects``, ``sidecar_object``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence

from ansible_collections.meshops.istio_vm.plugins.module_utils._lock import LEASE_NAME

COORDINATION = "coordination.k8s.io"
ISTIO = "networking.istio.io"
OPERATIONS = ("onboard", "verify", "rotate", "offboard")
RBAC_API = "rbac.authorization.k8s.io/v1"


class Need(NamedTuple):
    verb: str
    group: str
    resource: str        # may carry a subresource: serviceaccounts/token
    namespace: str       # "" for a cluster-scoped object or a list across namespaces
    name: str            # "" for any object (list, or a name not known in advance)
    why: str

    def describe(self) -> str:
        kind = self.resource + ("." + self.group if self.group else "")
        where = (" %s" % self.name if self.name else "") + (
            " in namespace %s" % self.namespace if self.namespace else
            ("" if self.resource == "namespaces" else " in all namespaces"))
        return "%s %s%s" % (self.verb, kind, where)

    def as_dict(self) -> Dict[str, str]:
        return self._asdict()


def _suffix(revision: str) -> str:
    return "-" + revision if revision and revision != "default" else ""


def _credential(istio_namespace: str) -> List[Need]:
    why = "read the mesh (mesh_info)"
    return [Need("list", "", "configmaps", istio_namespace, "", why),
            Need("list", "apps", "deployments", istio_namespace, "", why)]


def _bundle(vms: Sequence[Mapping[str, Any]], istio_namespace: str, revision: str, cluster_id: bool,
            ingress_ip: bool, ingress_service: str) -> List[Need]:
    why = "render the bootstrap bundle (vm_bootstrap)"
    out = [Need("get", "", "configmaps", istio_namespace, "istio" + _suffix(revision), why)]
    if not cluster_id:
        out.append(Need("get", "", "configmaps", istio_namespace, "istio-sidecar-injector" + _suffix(revision), why))
    if not ingress_ip:
        out.append(Need("get", "", "services", istio_namespace, ingress_service, why))
    for vm in vms:
        ns = vm["namespace"]
        out += [Need("get", ISTIO, "workloadgroups", ns, vm["workload"], why),
                Need("get", "", "serviceaccounts", ns, vm["service_account"], why),
                Need("get", "", "configmaps", ns, "istio-ca-root-cert", why)]
    return out


def _token(vms: Sequence[Mapping[str, Any]]) -> List[Need]:
    return [Need("create", "", "serviceaccounts/token", vm["namespace"], vm["service_account"],
                 "request the VM's istio-token (vm_bootstrap)") for vm in vms]


def _name(obj: Any) -> str:
    return str((obj or {}).get("name") or "") if isinstance(obj, Mapping) else ""


def _objects(vm: Mapping[str, Any]) -> List[tuple]:
    """(group, resource, what, namespace, name) of the objects one VM's workload makes: in its
    namespace, a ServiceEntry also where its item's ``namespace`` puts it. ``name`` is the object's
    name, known from the inventory, so that a patch or delete can be granted for it alone; "" when
    it is not known (any object of the kind)."""
    ns = vm["namespace"]
    # the role's settings (__mesh_workload_vm) or its output (mesh_workload_vm, whose ``entry`` is the one)
    entry = (vm.get("entry_object") if vm.get("mode") == "static" else vm.get("registered_object")) or vm.get("entry")
    out = [(ISTIO, "workloadgroups", "the WorkloadGroups", ns, _name(vm.get("group_object")) or str(vm["workload"])),
           (ISTIO, "workloadentries", "the WorkloadEntries", ns, _name(entry))]
    if vm.get("service_object"):
        out.append(("", "services", "the Services", ns, _name(vm["service_object"])))
    for item in vm.get("service_entry_objects") or []:
        out.append((ISTIO, "serviceentries", "the ServiceEntries", str(item.get("namespace") or ns), _name(item)))
    if vm.get("sidecar_object"):
        out.append((ISTIO, "sidecars", "the Sidecars", ns, _name(vm["sidecar_object"])))
    return out


def _apply(vms: Sequence[Mapping[str, Any]], create_identity: bool, prune: bool) -> List[Need]:
    out = []
    for vm in vms:
        ns = vm["namespace"]
        # A server-side apply that creates the object is also authorized as `create` (of that name).
        # The namespace is only read (the role gives it no labels): it must exist, since the Roles that
        # grant the rest live in it; no patch, which would let the identity relabel it.
        if create_identity:
            out.append(Need("get", "", "namespaces", "", ns,
                            "read the namespace (mesh_workload_create_identity)"))
            why = "apply the ServiceAccount (mesh_workload_create_identity)"
            out += [Need(verb, "", "serviceaccounts", ns, vm["service_account"], why)
                    for verb in ("get", "patch", "create")]
        for group, resource, what, where, name in _objects(vm):
            # create: a server-side apply that creates is also authorized as create, which RBAC cannot
            # narrow to a name; patch only of the objects the inventory names. An auto-registered entry
            # is istiod's: the role only puts back one that exists (create: false), never creates it.
            out += [Need("list", group, resource, where, "", "compare " + what),
                    Need("patch", group, resource, where, name, "apply " + what)]
            if not (resource == "workloadentries" and vm.get("mode") == "autoregister"):
                out.append(Need("create", group, resource, where, "", "apply " + what))
        if prune:
            # each delete reads the entry first (get), then deletes it
            why = "delete the entries of VMs that left the inventory (mesh_workload_prune)"
            out += [Need(verb, ISTIO, "workloadentries", ns, "", why) for verb in ("get", "delete")]
    if prune:
        out.append(Need("list", ISTIO, "workloadentries", "", "",
                        "find this group's static entries in every namespace (mesh_workload_prune)"))
    return out


def _lock(vms: Sequence[Mapping[str, Any]]) -> List[Need]:
    """The run lock (mesh_lock): a Lease in each workload namespace, created (which RBAC cannot
    narrow to a name), renewed, read and given back."""
    why = "hold the run lock (mesh_lock)"
    out = []
    for ns in sorted(set(vm["namespace"] for vm in vms)):
        out.append(Need("create", COORDINATION, "leases", ns, "", why))
        out += [Need(verb, COORDINATION, "leases", ns, LEASE_NAME, why) for verb in ("get", "update", "delete")]
    return out


def _verify(vms: Sequence[Mapping[str, Any]]) -> List[Need]:
    return [Need("list", ISTIO, "workloadentries", vm["namespace"], "", "compare the WorkloadEntries (verify)")
            for vm in vms]


def _remove(vms: Sequence[Mapping[str, Any]], create_identity: bool) -> List[Need]:
    out = []
    for vm in vms:
        ns = vm["namespace"]
        for group, resource, what, where, name in _objects(vm):
            if resource == "workloadentries" and vm.get("mode") != "static":
                continue    # istiod removes the entries it registered
            out += [Need("list", group, resource, where, "", "find " + what),
                    Need("delete", group, resource, where, name, "delete " + what)]
            if resource == "services":      # an adopted one is given back with an apply (_runner.removal)
                out.append(Need("patch", group, resource, where, name, "give back " + what + " it adopted"))
        if create_identity:
            why = "delete the ServiceAccount (mesh_workload_create_identity)"
            out += [Need("get", "", "serviceaccounts", ns, vm["service_account"], why),
                    Need("delete", "", "serviceaccounts", ns, vm["service_account"], why),
                    Need("patch", "", "serviceaccounts", ns, vm["service_account"],
                         "give back the ServiceAccount it adopted (mesh_workload_create_identity)")]
    return out


def needs(operation: str, vms: Sequence[Mapping[str, Any]], istio_namespace: str = "istio-system",
          revision: str = "", cluster_id: bool = True, ingress_ip: bool = True,
          ingress_service: str = "istio-eastwestgateway", create_identity: bool = False,
          prune: bool = False) -> List[Need]:
    """What ``operation`` (onboard, verify, rotate, offboard) needs for ``vms``, without duplicates.

    ``cluster_id`` and ``ingress_ip``: whether the inventory gives them (else vm_bootstrap reads them
    from the cluster).
    """
    if operation not in OPERATIONS:
        raise ValueError("operation %r is not one of %s" % (operation, ", ".join(OPERATIONS)))
    out = _credential(istio_namespace)
    bundle = _bundle(vms, istio_namespace, revision, cluster_id, ingress_ip, ingress_service)
    if operation == "onboard":
        out += _lock(vms) + _apply(vms, create_identity, prune) + bundle + _token(vms) + _verify(vms)
    elif operation == "verify":
        out += bundle + _verify(vms)
    elif operation == "rotate":
        out += _lock(vms) + bundle + _token(vms)
    else:
        out += _lock(vms) + _remove(vms, create_identity)
    return unique(out)


def unique(items: Iterable[Need]) -> List[Need]:
    """``items`` without duplicates and without needs that another one covers."""
    seen: Dict[tuple, Need] = OrderedDict()
    for need in items:
        key = need[:5]
        if key not in seen:
            seen[key] = need
    # a need for any object covers the same verb on one named object, and one across all
    # namespaces covers the same verb in one namespace
    return [n for n in seen.values()
            if not (n.name and (n.verb, n.group, n.resource, n.namespace, "") in seen)
            and not (n.namespace and not n.name and (n.verb, n.group, n.resource, "", "") in seen)]


# -- RBAC objects -------------------------------------------------------------------------------

def _rules(items: Sequence[Need]) -> List[Dict[str, Any]]:
    """PolicyRules for ``items``: one rule per (group, resource, names), verbs merged and sorted."""
    by_resource: Dict[tuple, Dict[str, set]] = OrderedDict()
    for need in items:
        verbs = by_resource.setdefault((need.group, need.resource), OrderedDict())
        names = verbs.setdefault(need.verb, set())
        names.add(need.name)
    rules: Dict[tuple, set] = OrderedDict()
    for (group, resource), verbs in by_resource.items():
        for verb, names in verbs.items():
            key = (group, resource, () if "" in names else tuple(sorted(names)))
            rules.setdefault(key, set()).add(verb)
    out = []
    for (group, resource, names), verbs in sorted(rules.items()):
        rule: Dict[str, Any] = {"apiGroups": [group], "resources": [resource], "verbs": sorted(verbs)}
        if names:
            rule["resourceNames"] = list(names)
        out.append(rule)
    return out


def rbac_objects(items: Sequence[Need], subject: Mapping[str, str], name: str = "meshops-istio-vm",
                 labels: Optional[Mapping[str, str]] = None) -> List[Dict[str, Any]]:
    """A Role and RoleBinding per namespace, and a ClusterRole and ClusterRoleBinding for the
    cluster-wide needs, granting exactly ``items`` to ``subject`` (kind, name[, namespace])."""
    meta_labels = dict(labels or {"app.kubernetes.io/managed-by": "meshops.istio_vm"})
    subj = {"kind": subject["kind"], "name": subject["name"]}
    if subject["kind"] == "ServiceAccount":
        subj["namespace"] = subject["namespace"]
    else:
        subj["apiGroup"] = "rbac.authorization.k8s.io"
    scoped: Dict[str, List[Need]] = OrderedDict()
    for need in unique(items):
        scoped.setdefault(need.namespace, []).append(need)
    out: List[Dict[str, Any]] = []
    if "" in scoped:
        out += [{"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": {"name": name, "labels": meta_labels},
                 "rules": _rules(scoped[""])},
                {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "metadata": {"name": name, "labels": meta_labels},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                 "subjects": [subj]}]
    for namespace in sorted(ns for ns in scoped if ns):
        meta = {"name": name, "namespace": namespace, "labels": meta_labels}
        out += [{"apiVersion": RBAC_API, "kind": "Role", "metadata": dict(meta), "rules": _rules(scoped[namespace])},
                {"apiVersion": RBAC_API, "kind": "RoleBinding", "metadata": dict(meta),
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                 "subjects": [subj]}]
    return out


def access_review(need: Need) -> Dict[str, Any]:
    """The resourceAttributes of a SelfSubjectAccessReview for ``need``."""
    resource, _sep, subresource = need.resource.partition("/")
    attrs = {"verb": need.verb, "group": need.group, "resource": resource}
    for key, value in (("subresource", subresource), ("namespace", need.namespace), ("name", need.name)):
        if value:
            attrs[key] = value
    return attrs


def from_dict(item: Mapping[str, Any]) -> Need:
    return Need(*(str(item.get(field) or "") for field in Need._fields))


def missing_message(user: str, missing: Sequence[Need]) -> str:
    lines = "; ".join("%s (to %s)" % (n.describe(), n.why) for n in missing)
    return ("The cluster credential%s may not do what this run needs, so nothing was changed: %s. "
            "Grant it the RBAC that playbooks/rbac.yml renders for this inventory (docs/rbac.md)."
            % (" (%s)" % user if user else "", lines))

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""What playbooks/verify.yml reports as drift: a VM and its WorkloadEntry against the inventory.

Pure functions on what was read (filters entry_drift, hosts_drift and verify_drift); each returns one
line per difference, empty when there is none, and raises MeshError for input of the wrong shape.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._diff import normalize
from ansible_collections.meshops.istio_vm.plugins.module_utils._runner import differing_paths
from ansible_collections.meshops.istio_vm.plugins.module_utils._specs import build_workload_group
from ansible_collections.meshops.istio_vm.plugins.module_utils._token import cert_of_another_root

# The WorkloadEntry fields the inventory sets, besides labels.
ENTRY_FIELDS = ("address", "service_account", "network")


def entry_drift(live: Any, desired: Any) -> List[str]:
    """How a WorkloadEntry (as workload_entry_info reports it) differs from the workload_entry options
    the inventory gives: only the fields it sets count, labels key by key (others' labels are not drift)."""
    if not isinstance(live, dict) or not isinstance(desired, dict):
        raise MeshError("entry_drift: expects two dicts, got %r and %r" % (type(live).__name__, type(desired).__name__))
    out = []
    for field in ENTRY_FIELDS:
        want = desired.get(field)
        if want not in (None, "") and str(live.get(field) or "") != str(want):
            out.append("%s is %r in the cluster, %r in the inventory" % (field, live.get(field) or "", str(want)))
    have = live.get("labels") or {}
    for key, want in sorted((desired.get("labels") or {}).items()):
        if key not in have:
            out.append("label %s is missing (the inventory says %r)" % (key, str(want)))
        elif str(have[key]) != str(want):
            out.append("label %s is %r in the cluster, %r in the inventory" % (key, have[key], str(want)))
    return out


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def first_mapping(text: str, name: str) -> Optional[Tuple[int, str]]:
    """(line number, address) of the first line of a hosts file that names ``name``, or None."""
    wanted = name.lower()
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and wanted in (field.lower() for field in fields[1:]):
            return number, fields[0]
    return None


def hosts_drift(etc_hosts: Any, entry: Any) -> List[str]:
    """Whether the text of a VM's /etc/hosts resolves istiod's name (``entry``: vm_bootstrap's
    hosts_entry, name and address) as the bundle does: by the first line naming it."""
    if not isinstance(etc_hosts, str) or not isinstance(entry, dict) or not entry.get("name"):
        raise MeshError("hosts_drift: expects the text of /etc/hosts and a dict with a name, got %r and %r"
                        % (type(etc_hosts).__name__, entry))
    name, want = entry["name"], entry.get("address") or None
    found = first_mapping(etc_hosts, name)
    if want is None:
        if found is None:
            return []
        return ["/etc/hosts maps %s to %s (line %d); the bundle has no address for it now (the VM should "
                "resolve it by DNS; run onboard.yml)" % (name, found[1], found[0])]
    if found is None:
        return ["/etc/hosts does not map %s; the bundle gives %s (istiod through the ingress or east-west "
                "gateway; run onboard.yml)" % (name, want)]
    if not _same_address(found[1], want):
        return ["/etc/hosts maps %s to %s (line %d), the bundle gives %s now (the ingress or east-west "
                "gateway's address changed; run onboard.yml)" % (name, found[1], found[0], want)]
    return []


def group_drift(applied: Any, group_object: Any) -> List[str]:
    """How the live WorkloadGroup differs from the one the inventory gives (``group_object``, the
    workload_group options of the role's settings): ``applied`` is what this collection's field
    manager owns of it (vm_bootstrap's ``workload_group_applied``; None: it never applied it). The
    VMs' cluster.env is rendered from the live group, so a group left behind the inventory (ports,
    labels, the probe changed, onboard not run) would otherwise pass unseen."""
    if not isinstance(group_object, dict) or not group_object.get("name"):
        raise MeshError("group_drift: expects the workload_group options with a name, got %r" % (group_object,))
    name = "WorkloadGroup %s/%s" % (group_object.get("namespace"), group_object["name"])
    if applied is None:
        return ["%s was not applied by this collection (run onboard.yml)" % name]
    if not isinstance(applied, dict):
        raise MeshError("group_drift: expects the applied view of the group as a dict, got %r" % (applied,))
    paths = differing_paths(applied, normalize(build_workload_group(group_object)))
    if not paths:
        return []
    return ["%s differs from the inventory in %s (run onboard.yml)" % (name, ", ".join(paths))]


def verify_drift(vm_state: Any, vm: Any, entry: Any, spiffe: str, expected_env: str = "",
                 render_error: Optional[str] = None, cluster_env: str = "/var/lib/istio/envoy/cluster.env",
                 hosts_entry: Optional[Dict[str, Any]] = None, cert_path: str = "/etc/certs/cert-chain.pem",
                 ready_url: str = "http://localhost:15021/healthz/ready", request_url: str = "",
                 request: Optional[Dict[str, Any]] = None, request_mtls: bool = True,
                 token_subject: str = "", group: Any = "unread", roots: str = "") -> List[str]:
    """verify.yml's checks of one VM, in the order it reports them: ``vm_state`` is vm_state_info's read
    of the VM, ``vm`` its mesh settings (mesh_workload_vm: namespace, entry_name, mode, has_probe and
    the workload_entry options ``entry``), ``entry`` its live WorkloadEntry ({} for none) and
    ``hosts_entry`` the hosts_entry of the expected bundle (None when none was rendered).

    ``request_mtls``: the request's peer must present a mesh identity (mesh_request's
    ``peer_identities``). ``token_subject``: the subject the VM's token must have
    (``system:serviceaccount:<namespace>:<account>``; empty: the token is not checked). ``group``:
    this collection's view of the live WorkloadGroup (group_drift against ``vm``'s ``group_object``);
    "unread" when the bundle that reads it was not rendered. ``roots``: the mesh's root certificates (PEM text,
    vm_bootstrap's ``root_certificates``; _token.cert_of_another_root); empty: the certificate's root is not
    checked."""
    if not isinstance(vm_state, dict) or not isinstance(vm, dict) or not isinstance(entry, dict):
        raise MeshError("verify_drift: expects the VM's read, its mesh settings and its entry as dicts, got "
                        "%r, %r and %r" % (type(vm_state).__name__, type(vm).__name__, type(entry).__name__))
    name = "WorkloadEntry %s/%s" % (vm["namespace"], vm["entry_name"])
    differs = entry_drift(entry, vm.get("entry") or {}) if entry else []
    group_differs = group_drift(group, vm.get("group_object")) if group != "unread" and vm.get("group_object") else []
    hosts = hosts_drift(vm_state.get("hosts") or "", hosts_entry) if hosts_entry is not None else []
    env_sha256 = (vm_state.get("checksums") or {}).get(cluster_env, "")
    cert = vm_state.get("cert") or {}
    ready = vm_state.get("ready") or {}
    request = request or {}
    claims = vm_state.get("claims") or {}
    has_token = bool(claims.get("token")) and str(claims.get("token")).lower() != "false"
    answered = 200 <= (request.get("status") or 0) < 400
    healthy = entry.get("healthy") if entry else None
    checks = [
        (not entry, "%s does not exist%s" % (
            name, " (istiod creates it when the sidecar connects)" if vm.get("mode") == "autoregister" else "")),
        (bool(differs), "%s differs from the inventory: %s" % (name, "; ".join(differs))),
        (bool(group_differs), "; ".join(group_differs)),
        (bool(vm.get("has_probe")) and bool(entry) and healthy not in ("True", None),
         "%s is not Healthy (the VM's readiness probe fails)" % name),
        (bool(vm.get("has_probe")) and bool(entry) and healthy is None,
         "%s has no Healthy condition: istiod does not check it (no annotation "
         "proxy.istio.io/health-checks-enabled on the entry, or no probe on its WorkloadGroup yet; run onboard.yml)"
         % name),
        (render_error is not None, "cannot render the expected bundle: %s" % render_error),
        (render_error is None and not expected_env, "no expected cluster.env was rendered (vm_bootstrap skipped)"),
        (not env_sha256, "%s is missing" % cluster_env),
        (bool(env_sha256 and expected_env and env_sha256 != expected_env),
         "%s differs from the one the cluster and inventory give now (run onboard.yml)" % cluster_env),
        (bool(hosts), "; ".join(hosts)),
        (not cert.get("exists"), "no workload certificate at %s" % cert_path),
        (bool(cert.get("exists")) and spiffe not in (cert.get("uris") or []),
         "the workload certificate is for %s, not %s" % (", ".join(cert.get("uris") or []) or "no SPIFFE ID", spiffe)),
        (bool(cert.get("exists")) and bool(cert.get("not_after")) and int(cert.get("seconds_left", 0)) < 0,
         "the workload certificate expired on %s: the sidecar could not renew it, and its mTLS connections fail "
         "(run rotate.yml; docs/troubleshooting.md, \"Certificate not rotating\")" % cert.get("not_after")),
        (cert_of_another_root(cert, roots),
         "the workload certificate chains to a root the mesh no longer has (none of istio-ca-root-cert's): istiod "
         "no longer trusts it, and its mTLS connections fail (run onboard.yml: it removes the certificate)"),
        (bool(token_subject) and not has_token,
         "the VM has no service account token: its sidecar cannot get a certificate once the one it has lapses "
         "(run onboard.yml)"),
        (bool(token_subject) and has_token and claims.get("sub") != token_subject,
         "the VM's token is for %s, not %s (run onboard.yml)" % (claims.get("sub") or "no subject", token_subject)),
        (bool(request_url) and not answered,
         "the request to %s got %s %s" % (request_url, request.get("status") or "no answer", request.get("error") or "")),
        (bool(request_url) and answered and request_mtls and not request.get("peer_identities"),
         "the request to %s was answered, but no peer of it presented a mesh identity (%s): not mutual TLS "
         "through the mesh" % (request_url, request.get("peer_identity_error") or "no SPIFFE ID")),
        (ready.get("status") != 200,
         "the sidecar is not ready (%s: %s %s)" % (ready_url, ready.get("status"), ready.get("msg"))),
    ]
    return [msg for bad, msg in checks if bad]

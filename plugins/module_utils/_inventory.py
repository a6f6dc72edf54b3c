# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The roles' inventory variables checked before any change, with the modules' own rules.

``workload_problems`` (role mesh_workload) and ``sidecar_problems`` (role vm_sidecar) take the
variables of one VM (role variable name -> value, after the role's argument spec checked their
types) and return one ``"<variable>: <problem>"`` string per problem, empty when all is well.
The objects a VM implies are checked with the validators of ``_specs`` (what the modules would
refuse later, after other objects were written); the rest are rules of the bundle and the VM side.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from ansible_collections.meshops.istio_vm.plugins.module_utils._bootstrap import ENV_NAME
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._specs import (
    service_ports_from_map,
    validate_service,
    validate_service_entry,
    validate_sidecar,
    validate_workload_entry,
    validate_workload_group,
)
from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import (
    check_dns1123_label,
    check_dns1123_subdomain,
    check_int_range,
    check_ip,
    check_label_value,
    check_labels,
    check_port,
    check_port_name,
)

# The options of the service_entry and sidecar modules an inventory item may set (their KIND_SPEC
# and the metadata options); the role sets name, namespace and labels itself where not given.
SERVICE_ENTRY_OPTIONS = ("name", "namespace", "metadata_labels", "metadata_annotations", "hosts", "addresses",
                         "ports", "location", "resolution", "workload_selector", "endpoints", "export_to")
SIDECAR_OPTIONS = ("workload_selector", "ingress", "egress", "outbound_traffic_policy")
# The apiserver refuses TokenRequests of less than 10 minutes.
TOKEN_MIN_SECONDS = 600
PACKAGE_FORMATS = ("deb", "rpm")
# What ansible.builtin.get_url fetches.
PACKAGE_URL_SCHEMES = ("http", "https", "ftp")
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")


def _errors(validator, params: Mapping[str, Any]) -> List[str]:
    try:
        validator(params)
    except ValidationError as exc:
        return list(exc.errors)
    return []


def _under(variable: str, errors: Iterable[str], prefix: str = "") -> List[str]:
    """Errors of an option path (``probe.http_get.port: ...``) as errors of a role variable."""
    return [variable + error[len(prefix):] if prefix and error.startswith(prefix) else "%s: %s" % (variable, error)
            for error in errors]


def _unknown(variable: str, options: Mapping[str, Any], allowed: Sequence[str]) -> List[str]:
    extra = sorted(str(key) for key in options if key not in allowed)
    if not extra:
        return []
    return ["%s: unknown option(s) %s (expected %s)" % (variable, ", ".join(extra), ", ".join(allowed))]


def _probe(probe: Any) -> List[str]:
    if not probe:
        return []
    errors = [e for e in _errors(validate_workload_group, {"name": "probe", "probe": probe}) if e.startswith("probe")]
    http_get = probe.get("http_get") if isinstance(probe, Mapping) else None
    path = http_get.get("path") if isinstance(http_get, Mapping) else None
    if isinstance(path, str) and path and not path.startswith("/"):
        errors.append("probe.http_get.path: %r must start with '/'" % path)
    return _under("mesh_workload_probe", errors, "probe")


def _labels(labels: Any) -> List[str]:
    errors = check_labels("mesh_workload_labels", labels)
    if not errors and not labels:
        errors.append("mesh_workload_labels: needs at least one label (the Service, the Sidecar and the "
                      "ServiceEntries select the workload's VMs by them)")
    return errors


def _service(v: Mapping[str, Any]) -> List[str]:
    ports, app_protocols = v.get("mesh_workload_ports") or {}, v.get("mesh_workload_service_app_protocols") or {}
    if not v.get("mesh_workload_service") or not ports:
        return []
    if any(check_port_name(name) or check_port(number) for name, number in ports.items()):
        return []  # the role's port check names them
    name = v.get("mesh_workload_service_name")
    if name == v.get("mesh_workload_name") and check_dns1123_subdomain(name):
        return []  # the default, the workload's name: the role's name check names it
    try:
        port_list = service_ports_from_map(ports, app_protocols)
    except ValidationError as exc:
        return _under("mesh_workload_service_app_protocols", exc.errors, "app_protocols")
    variables = {"name": "mesh_workload_service_name", "ports": "mesh_workload_ports"}
    out = []
    service = {"name": name, "selector": v.get("mesh_workload_labels") or {"app": "x"}, "ports": port_list}
    for error in _errors(validate_service, service):
        field = re.match(r"^[a-z_]+", error).group(0)
        if field in variables:
            out.append("%s: the Service's %s" % (variables[field], error))
    return out


def _service_entries(v: Mapping[str, Any]) -> List[str]:
    out: List[str] = []
    seen: Dict[str, int] = {}
    for index, item in enumerate(v.get("mesh_workload_service_entries") or []):
        if not isinstance(item, Mapping) or "name" not in item or "hosts" not in item:
            continue  # validate.yml: every item needs a name and hosts
        variable = "mesh_workload_service_entries[%d]" % index
        name = item.get("name")
        if name in seen:
            out.append("%s: name %r is already used by item %d" % (variable, name, seen[name]))
        seen.setdefault(name, index)
        unknown = _unknown(variable, item, SERVICE_ENTRY_OPTIONS)
        if unknown:
            out += unknown
            continue
        params = {"namespace": v.get("mesh_workload_namespace"), "metadata_labels": {}}
        if "endpoints" not in item:
            params["workload_selector"] = v.get("mesh_workload_labels") or {"app": "x"}
        params.update(item)
        out += _under(variable, _errors(validate_service_entry, params))
    return out


def _sidecar(v: Mapping[str, Any]) -> List[str]:
    sidecar = v.get("mesh_workload_sidecar")
    if not sidecar:
        return []
    unknown = _unknown("mesh_workload_sidecar", sidecar, SIDECAR_OPTIONS)
    if unknown:
        return unknown
    params = {"name": "sidecar", "namespace": v.get("mesh_workload_namespace"),
              "workload_selector": v.get("mesh_workload_labels") or {"app": "x"}}
    params.update(sidecar)
    return _under("mesh_workload_sidecar", _errors(validate_sidecar, params))


def _addresses(v: Mapping[str, Any]) -> List[str]:
    out = []
    problem = check_ip(v["mesh_workload_internal_ip"]) if v.get("mesh_workload_internal_ip") else None
    if problem:
        out.append("mesh_workload_internal_ip: %s" % problem)
    if v.get("mesh_workload_mode") == "static" and v.get("mesh_workload_address"):
        errors = _errors(validate_workload_entry, {"name": "entry", "address": v["mesh_workload_address"]})
        out += _under("mesh_workload_address", [e for e in errors if e.startswith("address")], "address")
    if v.get("mesh_workload_network"):
        problem = check_label_value(v["mesh_workload_network"])
        if problem:
            out.append("mesh_workload_network: %s (it becomes the label topology.istio.io/network)" % problem)
    return out


def _control_plane(v: Mapping[str, Any], revisions: Optional[Sequence[str]]) -> List[str]:
    out = []
    if v.get("mesh_workload_ingress_ip"):
        problem = check_ip(v["mesh_workload_ingress_ip"])
        if problem:
            out.append("mesh_workload_ingress_ip: %s (the VMs reach istiod at this IP)" % problem)
    elif v.get("mesh_workload_ingress_service"):
        problem = check_dns1123_label(v["mesh_workload_ingress_service"])
        if problem:
            out.append("mesh_workload_ingress_service: %s (a Service of mesh_workload_istio_namespace)" % problem)
    revision = v.get("mesh_workload_revision")
    if revision:
        problem = check_dns1123_label(revision)
        if problem:
            out.append("mesh_workload_revision: %s" % problem)
        elif revisions is not None and revision not in revisions:
            out.append("mesh_workload_revision: istiod serves no revision %r in %s (found: %s)"
                       % (revision, v.get("mesh_workload_istio_namespace"), ", ".join(revisions) or "none"))
    return out


def _token(v: Mapping[str, Any]) -> List[str]:
    out = []
    duration, renew = v.get("mesh_workload_token_duration"), v.get("mesh_workload_token_renew_before")
    if isinstance(duration, int) and duration < TOKEN_MIN_SECONDS:
        out.append("mesh_workload_token_duration: %d is less than %d; the apiserver refuses shorter tokens"
                   % (duration, TOKEN_MIN_SECONDS))
    if isinstance(duration, int) and isinstance(renew, int) and not 0 <= renew < duration:
        out.append("mesh_workload_token_renew_before: %d must be at least 0 and less than mesh_workload_token_duration "
                   "(%d), or every run mints a new token" % (renew, duration))
    timeout = v.get("mesh_workload_wait_timeout")
    if isinstance(timeout, int) and timeout < 0:
        out.append("mesh_workload_wait_timeout: %d is negative" % timeout)
    for index, name in enumerate(v.get("mesh_workload_allow_proxy_metadata") or []):
        if not isinstance(name, str) or not ENV_NAME.match(name):
            out.append("mesh_workload_allow_proxy_metadata[%d]: %r is not an environment variable name" % (index, name))
    return out


def workload_problems(variables: Mapping[str, Any], revisions: Optional[Sequence[str]] = None) -> List[str]:
    """Problems of one VM's mesh_workload variables; ``revisions``: those istiod serves (mesh_info)."""
    v = variables
    return (_labels(v.get("mesh_workload_labels")) + _probe(v.get("mesh_workload_probe")) + _service(v)
            + _service_entries(v) + _sidecar(v) + _addresses(v) + _control_plane(v, revisions) + _token(v))


def _url_problem(url: str, schemes: Sequence[str]) -> Optional[str]:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        return "%r is not a %s URL" % (url, ", ".join("%s://" % s for s in schemes))
    return None


def _package(v: Mapping[str, Any]) -> List[str]:
    out = []
    url, src = v.get("vm_sidecar_package_url") or "", v.get("vm_sidecar_package_src") or ""
    sha256, fmt = v.get("vm_sidecar_package_sha256") or "", v.get("vm_sidecar_package_format") or ""
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
        out.append("vm_sidecar_package_sha256: %r is not the 64 hex digits of the package's SHA-256 (pin it, e.g. "
                   "from the release's .sha256 file)" % (sha256,))
    if url and src:
        out.append("vm_sidecar_package_src: set vm_sidecar_package_src or vm_sidecar_package_url, not both")
    if url:
        problem = _url_problem(url, PACKAGE_URL_SCHEMES)
        out += ["vm_sidecar_package_url: %s" % problem] if problem else []
    elif not src:
        problem = _url_problem(v.get("vm_sidecar_package_base_url") or "", PACKAGE_URL_SCHEMES)
        out += ["vm_sidecar_package_base_url: %s" % problem] if problem else []
    if src and not posixpath.isabs(src):
        out.append("vm_sidecar_package_src: %r is not an absolute path" % src)
    elif src and not os.path.isfile(src):
        out.append("vm_sidecar_package_src: %r is not a file on the controller" % src)
    if fmt and fmt not in PACKAGE_FORMATS:
        out.append("vm_sidecar_package_format: %r is not one of %s" % (fmt, ", ".join(PACKAGE_FORMATS)))
    package = (url or src).split("?")[0]
    suffix = posixpath.splitext(package)[1][1:]
    if fmt in PACKAGE_FORMATS and suffix in PACKAGE_FORMATS and suffix != fmt:
        variable = "vm_sidecar_package_url" if url else "vm_sidecar_package_src"
        out.append("%s: %r is a .%s, but vm_sidecar_package_format is %s" % (variable, package, suffix, fmt))
    return out


def sidecar_problems(variables: Mapping[str, Any], bootstrap_dir: Optional[str] = None) -> List[str]:
    """Problems of one VM's vm_sidecar variables (the paths are path_problem's); ``bootstrap_dir``:
    where mesh_workload writes this VM's bundle, when the play runs both roles."""
    v = variables
    out = _package(v) if v.get("vm_sidecar_state", "present") == "present" else []
    start = v.get("vm_sidecar_unprivileged_port_start")
    if start is not None:
        problem = check_int_range(start, 0, 65535)
        out += ["vm_sidecar_unprivileged_port_start: %s" % problem] if problem else []
    problem = _url_problem(v.get("vm_sidecar_ready_url") or "", ("http", "https"))
    out += ["vm_sidecar_ready_url: %s" % problem] if problem else []
    bundle = v.get("vm_sidecar_bundle_dir")
    if bootstrap_dir and isinstance(bundle, str) and posixpath.normpath(bundle) != posixpath.normpath(bootstrap_dir):
        out.append("vm_sidecar_bundle_dir: %r is not where mesh_workload_bootstrap_dir puts this VM's bundle (%r)"
                   % (bundle, bootstrap_dir))
    return out

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

``vm_settings`` computes a VM's settings from the same variables (``__mesh_workload_vm``, and the
role's output ``mesh_workload_vm``); ``vm_conflicts`` takes the computed settings of all VMs of the
group and returns what they claim twice or disagree on.
"""

from __future__ import annotations

import ipaddress
import json
import os
import posixpath
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.meshops.istio_vm.plugins.module_utils._bootstrap import ENV_NAME
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError, ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._specs import (
    service_ports_from_map,
    validate_service,
    validate_service_entry,
    validate_sidecar,
    validate_workload_entry,
    validate_workload_group,
)
from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import (
    as_int,
    check_dns1123_label,
    check_dns1123_subdomain,
    check_int_range,
    check_label_value,
    check_labels,
    check_owned_dir,
    check_path,
    check_plain_ip,
    check_port,
    check_port_name,
    is_ip,
    is_plain_ip,
    path_within,
)

# The options of the service_entry and sidecar modules an inventory item may set (their KIND_SPEC
# and the metadata options); the role sets name, namespace and labels itself where not given.
SERVICE_ENTRY_OPTIONS = ("name", "namespace", "metadata_labels", "metadata_annotations", "hosts", "addresses",
                         "ports", "location", "resolution", "workload_selector", "endpoints", "export_to")
SIDECAR_OPTIONS = ("workload_selector", "ingress", "egress", "outbound_traffic_policy")
# The apiserver refuses TokenRequests of less than 10 minutes.
TOKEN_MIN_SECONDS = 600
# mesh_workload_mode
MODES = ("autoregister", "static")
PACKAGE_FORMATS = ("deb", "rpm")
# What ansible.builtin.get_url fetches.
PACKAGE_URL_SCHEMES = ("http", "https", "ftp")
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}\Z")


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


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def go_ip_text(value: str) -> str:
    """An IP as Go's netip.Addr.String() writes it, which is how pilot-agent hands the VM's address to
    istiod (it parses INSTANCE_IP and writes it back), and so how istiod names and addresses the
    WorkloadEntry it registers: IPv6 lower-case with the longest run of zero groups shortened (RFC
    5952), an IPv4-mapped IPv6 address as ``::ffff:`` and dotted IPv4. Anything else as it is."""
    if not is_plain_ip(value):
        return value
    ip = ipaddress.ip_address(value)
    mapped = getattr(ip, "ipv4_mapped", None)
    return "::ffff:%s" % mapped if mapped is not None else str(ip)


def announced_ip(address: Any, internal_ip: Any = "") -> str:
    """The IP a VM's sidecar announces (``ISTIO_SVC_IP``, what auto-registration uses), as istiod
    writes it (go_ip_text): mesh_workload_internal_ip when set, else the address when it is an IP
    (without a zone), else ""."""
    if internal_ip:
        return go_ip_text(_text(internal_ip))
    address = _text(address)
    return go_ip_text(address) if is_plain_ip(address) else ""


def _checked_namespace(v: Mapping[str, Any]) -> str:
    """The namespace to check the workload's objects in: a valid stand-in when the namespace
    itself is wrong (its own rule names it, not once more for every object)."""
    namespace = v.get("mesh_workload_namespace")
    return "default" if check_dns1123_label(namespace) else namespace


def _membership(v: Mapping[str, Any], host: Optional[str], members: Optional[Sequence[str]]) -> List[str]:
    if host is None or members is None or host in members:
        return []
    return ["the host is not in the group '%s' (mesh_workload_group)" % _text(v.get("mesh_workload_group"))]


def _names(v: Mapping[str, Any]) -> List[str]:
    out = []
    namespace, workload, mode = (_text(v.get(name)) for name in
                                 ("mesh_workload_namespace", "mesh_workload_name", "mesh_workload_mode"))
    if "mesh_workload_namespace" in v and check_dns1123_label(namespace):
        out.append("mesh_workload_namespace '%s' is not a Kubernetes namespace name (lower-case letters, digits and "
                   "inner '-', at most 63 characters)" % namespace)
    if "mesh_workload_name" in v and check_dns1123_subdomain(workload):
        out.append("mesh_workload_name '%s' is not a Kubernetes object name (lower-case letters, digits, inner '-' "
                   "and '.')" % workload)
    if "mesh_workload_mode" in v and mode not in MODES:
        out.append("mesh_workload_mode '%s' is unknown: use one of %s" % (mode, ", ".join(MODES)))
    if "mesh_workload_group" in v:
        problem = check_label_value(_text(v["mesh_workload_group"]))
        if problem:
            out.append("mesh_workload_group: %s (it becomes the label istio-vm.meshops.io/group of the static "
                       "WorkloadEntries)" % problem)
    return out


def _address(v: Mapping[str, Any]) -> List[str]:
    if "mesh_workload_address" not in v:
        return []
    address = _text(v["mesh_workload_address"])
    if not address:
        return ["the VM has no address: set ansible_host or mesh_workload_address"]
    if v.get("mesh_workload_mode") != "autoregister":
        return []
    ip = announced_ip(address, v.get("mesh_workload_internal_ip"))
    if not ip:
        return ["mesh_workload_address '%s' is not an IP address; auto-registration needs the VM's mesh IP: set "
                "mesh_workload_internal_ip" % address]
    name = registered_entry_name(_text(v.get("mesh_workload_name")), ip, _text(v.get("mesh_workload_network")))
    if check_dns1123_subdomain(name) and not check_dns1123_subdomain(_text(v.get("mesh_workload_name"))):
        return ["the WorkloadEntry istiod registers for this VM would be named '%s', which is not a Kubernetes "
                "object name (lower-case letters, digits, inner '-' and '.'): it is mesh_workload_name, the VM's "
                "IP and mesh_workload_network joined by '-'" % name]
    return []


def _ports(v: Mapping[str, Any]) -> List[str]:
    if "mesh_workload_ports" not in v:
        return []
    ports = v["mesh_workload_ports"]
    if not isinstance(ports, Mapping):
        return ["mesh_workload_ports must be a dict of port name to port number"]
    out = []
    names = [str(name) for name in ports if check_port_name(str(name))]
    if names:
        out.append("invalid port name(s) %s in mesh_workload_ports (letters, digits and inner '-', at most 62 "
                   "characters)" % ", ".join(names))
    numbers = [str(number) for number in ports.values() if check_port(number)]
    if numbers:
        out.append("invalid port number(s) %s in mesh_workload_ports (1-65535)" % ", ".join(numbers))
    return out


def _identity(v: Mapping[str, Any]) -> List[str]:
    out = []
    account = _text(v.get("mesh_workload_service_account"))
    if "mesh_workload_service_account" in v and check_dns1123_subdomain(account):
        out.append("mesh_workload_service_account '%s' is not a Kubernetes object name" % account)
    entry = _text(v.get("mesh_workload_entry_name"))
    if "mesh_workload_entry_name" in v and v.get("mesh_workload_mode") == "static" and check_dns1123_subdomain(entry):
        out.append("mesh_workload_entry_name '%s' is not a Kubernetes object name" % entry)
    return out


def _paths(v: Mapping[str, Any]) -> List[str]:
    out = []
    # offboarding deletes the bundle directory recursively
    for variable in ("mesh_workload_bootstrap_dir", "mesh_workload_state_file"):
        problem = check_path(v[variable]) if variable in v else None
        if problem:
            out.append("%s: %s" % (variable, problem))
    return out


def _probe(probe: Any) -> List[str]:
    if not probe:
        return []
    errors = [e for e in _errors(validate_workload_group, {"name": "probe", "probe": probe}) if e.startswith("probe")]
    http_get = probe.get("http_get") if isinstance(probe, Mapping) else None
    path = http_get.get("path") if isinstance(http_get, Mapping) else None
    if isinstance(path, str) and path and not path.startswith("/"):
        errors.append("probe.http_get.path: %r must start with '/'" % path)
    return _under("mesh_workload_probe", errors, "probe")


def _labels(v: Mapping[str, Any]) -> List[str]:
    if "mesh_workload_labels" not in v:
        return []
    labels = v["mesh_workload_labels"]
    errors = check_labels("mesh_workload_labels", labels)
    if not errors and not labels:
        errors.append("mesh_workload_labels: needs at least one label (the Service, the Sidecar and the "
                      "ServiceEntries select the workload's VMs by them)")
    return errors


def _wants_service(v: Mapping[str, Any]) -> bool:
    """The workload gets a Kubernetes Service: mesh_workload_service on, and ports to give it."""
    ports = v.get("mesh_workload_ports")
    return boolean(v.get("mesh_workload_service") or False, strict=False) and isinstance(ports, Mapping) and bool(ports)


def _service(v: Mapping[str, Any]) -> List[str]:
    ports, app_protocols = v.get("mesh_workload_ports") or {}, v.get("mesh_workload_service_app_protocols") or {}
    if not _wants_service(v):
        return []  # no Service, or _ports names the problem
    if any(check_port_name(name) or check_port(number) for name, number in ports.items()):
        return []  # _ports names them
    name = v.get("mesh_workload_service_name")
    if name == v.get("mesh_workload_name") and check_dns1123_subdomain(name):
        return []  # the default, the workload's name: _names names it
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
    items = v.get("mesh_workload_service_entries") or []
    if isinstance(items, (str, Mapping)) or not isinstance(items, Sequence):
        return ["mesh_workload_service_entries must be a list (each item with a name and hosts)"]
    out: List[str] = []
    if not all(isinstance(item, Mapping) and "name" in item and "hosts" in item for item in items):
        out.append("every item of mesh_workload_service_entries needs a name and hosts")
    seen: Dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or "name" not in item or "hosts" not in item:
            continue
        variable = "mesh_workload_service_entries[%d]" % index
        name = item.get("name")
        if name in seen:
            out.append("%s: name %r is already used by item %d" % (variable, name, seen[name]))
        seen.setdefault(name, index)
        unknown = _unknown(variable, item, SERVICE_ENTRY_OPTIONS)
        if unknown:
            out += unknown
            continue
        params = {"namespace": _checked_namespace(v), "metadata_labels": {}}
        if "endpoints" not in item:
            params["workload_selector"] = v.get("mesh_workload_labels") or {"app": "x"}
        params.update(item)
        out += _under(variable, _errors(validate_service_entry, params))
    return out


def _sidecar(v: Mapping[str, Any]) -> List[str]:
    if "mesh_workload_sidecar" not in v:
        return []
    sidecar = v["mesh_workload_sidecar"]
    if not isinstance(sidecar, Mapping):
        return ["mesh_workload_sidecar must be a dict (the options of meshops.istio_vm.sidecar)"]
    if not sidecar:
        return []
    unknown = _unknown("mesh_workload_sidecar", sidecar, SIDECAR_OPTIONS)
    if unknown:
        return unknown
    params = {"name": "sidecar", "namespace": _checked_namespace(v),
              "workload_selector": v.get("mesh_workload_labels") or {"app": "x"}}
    params.update(sidecar)
    return _under("mesh_workload_sidecar", _errors(validate_sidecar, params))


def _addresses(v: Mapping[str, Any]) -> List[str]:
    out = []
    problem = check_plain_ip(v["mesh_workload_internal_ip"]) if v.get("mesh_workload_internal_ip") else None
    if problem:
        out.append("mesh_workload_internal_ip: %s" % problem)
    if v.get("mesh_workload_mode") == "static" and v.get("mesh_workload_address"):
        errors = _errors(validate_workload_entry, {"name": "entry", "address": v["mesh_workload_address"]})
        errors = [e for e in errors if e.startswith("address")]
        out += _under("mesh_workload_address", errors, "address") or _named_entry_selected(v)
    if v.get("mesh_workload_network"):
        problem = check_label_value(v["mesh_workload_network"])
        if problem:
            out.append("mesh_workload_network: %s (it becomes the label topology.istio.io/network)" % problem)
    return out


def _named_entry_selected(v: Mapping[str, Any]) -> List[str]:
    """A static VM whose address is no IP (a host name): istiod marks such a WorkloadEntry
    DNSServiceEntryOnly and makes it an endpoint of no Kubernetes Service and of no ServiceEntry with
    resolution STATIC (only of those with DNS or DNS_ROUND_ROBIN; NONE and DYNAMIC_DNS send traffic where
    the caller dialled, not to the selected entries). The workload's Service, or a STATIC ServiceEntry
    that selects the VM, would then send it no traffic, silently. A selector with keys other than the VM's
    labels (mesh_workload_labels) is not judged here."""
    address = _text(v["mesh_workload_address"])
    if is_ip(address):
        return []
    selecting = []
    if _wants_service(v):
        selecting.append("the workload's Kubernetes Service (mesh_workload_service)")
    items = v.get("mesh_workload_service_entries") or []
    labels = v.get("mesh_workload_labels") if isinstance(v.get("mesh_workload_labels"), Mapping) else {}
    if isinstance(items, Sequence) and not isinstance(items, str):
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or "endpoints" in item or item.get("resolution") != "STATIC":
                continue
            # no selector: the role gives it the VM's labels; null: it selects nothing
            selector = item.get("workload_selector", labels)
            if isinstance(selector, Mapping) and all(labels.get(k) == value for k, value in selector.items()):
                selecting.append("mesh_workload_service_entries[%d] (resolution STATIC)" % index)
    if not selecting:
        return []
    return ["mesh_workload_address '%s' is no IP: istiod makes a WorkloadEntry with a host name for address an "
            "endpoint of no Kubernetes Service and of no ServiceEntry with resolution STATIC, so %s would send this "
            "VM no traffic. Set mesh_workload_address to the VM's IP (ansible_host may stay a name), or reach the VM "
            "through ServiceEntries with resolution DNS (and mesh_workload_service: false)"
            % (address, " and ".join(selecting))]


def _control_plane(v: Mapping[str, Any], revisions: Optional[Sequence[str]]) -> List[str]:
    out = []
    if v.get("mesh_workload_ingress_ip"):
        problem = check_plain_ip(v["mesh_workload_ingress_ip"])
        if problem:
            out.append("mesh_workload_ingress_ip: %s (the VMs reach istiod at this IP)" % problem)
    elif v.get("mesh_workload_ingress_service"):
        problem = check_dns1123_label(v["mesh_workload_ingress_service"])
        if problem:
            out.append("mesh_workload_ingress_service: %s (a Service of mesh_workload_istio_namespace)" % problem)
    elif ("mesh_workload_ingress_ip" in v or "mesh_workload_ingress_service" in v) \
            and v.get("mesh_workload_state", "present") == "present":
        out.append("set mesh_workload_ingress_ip or mesh_workload_ingress_service: the VM must reach istiod")
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
    # as_int: a number given as text (-e name=300, a template) is checked like one given as a number
    duration, renew = as_int(v.get("mesh_workload_token_duration")), as_int(v.get("mesh_workload_token_renew_before"))
    if isinstance(duration, int) and duration < TOKEN_MIN_SECONDS:
        out.append("mesh_workload_token_duration: %d is less than %d; the apiserver refuses shorter tokens"
                   % (duration, TOKEN_MIN_SECONDS))
    if isinstance(duration, int) and isinstance(renew, int) and not 0 <= renew < duration:
        out.append("mesh_workload_token_renew_before: %d must be at least 0 and less than mesh_workload_token_duration "
                   "(%d), or every run mints a new token" % (renew, duration))
    timeout = as_int(v.get("mesh_workload_wait_timeout"))
    if isinstance(timeout, int) and timeout < 0:
        out.append("mesh_workload_wait_timeout: %d is negative" % timeout)
    for index, name in enumerate(v.get("mesh_workload_allow_proxy_metadata") or []):
        if not isinstance(name, str) or not ENV_NAME.match(name):
            out.append("mesh_workload_allow_proxy_metadata[%d]: %r is not an environment variable name" % (index, name))
    return out


def workload_problems(variables: Mapping[str, Any], revisions: Optional[Sequence[str]] = None,
                      host: Optional[str] = None, members: Optional[Sequence[str]] = None) -> List[str]:
    """Problems of one VM's mesh_workload variables; ``revisions``: those istiod serves (mesh_info);
    ``host`` and ``members``: the VM's inventory name and the hosts of mesh_workload_group."""
    v = variables
    return (_membership(v, host, members) + _names(v) + _address(v) + _ports(v)
            + _labels(v) + _identity(v) + _probe(v.get("mesh_workload_probe"))
            + _service(v) + _service_entries(v) + _sidecar(v) + _addresses(v) + _control_plane(v, revisions)
            + _token(v) + _paths(v))


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


# Directories the sidecar's user istio-proxy owns or is given by the package on each install
# (roles/vm_sidecar/vars/main.yml; /etc/istio is a symlink to /var/lib/istio), and the one each start
# of the package's unit gives it (ExecStartPre=+/usr/bin/install -d -o istio-proxy /var/run/secrets; the
# role's token drop-in links /var/run/secrets/tokens/istio-token, where istio-agent reads the token,
# to vm_sidecar_token_path). A directory inside one of them can be swapped by istio-proxy for a
# symlink to any other.
SIDECAR_WRITABLE_DIRS = ("/etc/certs", "/var/lib/istio/proxy", "/var/lib/istio/config", "/var/lib/istio/envoy",
                         "/var/log/istio", "/var/run/secrets", "/run/secrets")


def _inside_sidecar_dirs(directory: str) -> Optional[str]:
    """The directory of SIDECAR_WRITABLE_DIRS that holds ``directory`` (or is it), or None."""
    normal = posixpath.normpath(directory)
    if normal == "/etc/istio" or normal.startswith("/etc/istio/"):
        normal = "/var/lib/istio" + normal[len("/etc/istio"):]
    return next((d for d in SIDECAR_WRITABLE_DIRS if normal == d or normal.startswith(d + "/")), None)


def _owned_dir_problem(directory: Any) -> Optional[str]:
    """check_owned_dir's problem of a directory the role takes over, else that it is inside one of
    SIDECAR_WRITABLE_DIRS; None when it has neither (or when the path itself is path_problem's)."""
    problem = check_owned_dir(directory)
    if problem or not isinstance(directory, str) or check_path(directory):
        return problem
    holder = _inside_sidecar_dirs(directory)
    return "it is inside %s, which istio-proxy can write (and swap the directory for a symlink)" % holder \
        if holder else None


def _owned_dirs(v: Mapping[str, Any]) -> List[str]:
    """The directories the role takes over: the token's (chowned to istio-proxy, 0700) and the package
    cache (deleted recursively when offboarding). Their other path rules are path_problem's."""
    out = []
    token = v.get("vm_sidecar_token_path")
    if isinstance(token, str) and not check_path(token):
        problem = _owned_dir_problem(posixpath.dirname(posixpath.normpath(token)))
        if problem:
            out.append("vm_sidecar_token_path: the role makes the directory of %r istio-proxy's with mode 0700, but "
                       "%s: keep the token in a directory of its own (the default is "
                       "/var/lib/istio/tokens/istio-token)" % (token, problem))
    problem = _owned_dir_problem(v.get("vm_sidecar_package_cache_dir"))
    if problem:
        out.append("vm_sidecar_package_cache_dir: offboarding deletes the package cache directory with all it holds, "
                   "but %s: use a directory of its own (the default is /var/cache/meshops-istio-vm)" % problem)
    return out


def sidecar_problems(variables: Mapping[str, Any], bootstrap_dir: Optional[str] = None) -> List[str]:
    """Problems of one VM's vm_sidecar variables (the paths are path_problem's); ``bootstrap_dir``:
    where mesh_workload writes this VM's bundle, when the play runs both roles."""
    v = variables
    out = _package(v) if v.get("vm_sidecar_state", "present") == "present" else []
    out += _owned_dirs(v)
    start = v.get("vm_sidecar_unprivileged_port_start")
    if start is not None:
        problem = check_int_range(start, 0, 65535)
        out += ["vm_sidecar_unprivileged_port_start: %s" % problem] if problem else []
    if v.get("vm_sidecar_package_lock_timeout") is not None:
        problem = check_int_range(v["vm_sidecar_package_lock_timeout"], 0, 3600)
        out += ["vm_sidecar_package_lock_timeout: %s" % problem] if problem else []
    problem = _url_problem(v.get("vm_sidecar_ready_url") or "", ("http", "https"))
    out += ["vm_sidecar_ready_url: %s" % problem] if problem else []
    bundle = v.get("vm_sidecar_bundle_dir")
    if bootstrap_dir and isinstance(bundle, str) and posixpath.normpath(bundle) != posixpath.normpath(bootstrap_dir):
        out.append("vm_sidecar_bundle_dir: %r is not where mesh_workload_bootstrap_dir puts this VM's bundle (%r)"
                   % (bundle, bootstrap_dir))
    return out


def sidecar_vm_problems(facts: Mapping[str, Any], present: bool = True, package_format: str = "",
                        formats: Optional[Mapping[str, str]] = None, architectures: Sequence[str] = (),
                        official_url: bool = False, bundle_dir: str = "", bundle_missing: Sequence[str] = (),
                        hosts: Optional[str] = None, check_mode: bool = False) -> List[str]:
    """What keeps one VM from running the sidecar, from its facts (``service_mgr``, ``os_family``,
    ``distribution``, ``architecture``) and, when the sidecar is to be ``present``, the package source
    and the bootstrap bundle on the controller: ``bundle_missing``, the files its directory lacks;
    ``hosts``, the bundle's hosts file when it is complete. The first problem found per subject: an
    unsupported VM is not also told about its package."""
    family, arch = _text(facts.get("os_family")), _text(facts.get("architecture"))
    if facts.get("service_mgr") != "systemd":
        return ["the istio-sidecar package ships a systemd unit, but this VM's service manager is %s."
                % _text(facts.get("service_mgr"))]
    if not (package_format in ("deb", "rpm") or family in (formats or {})) or arch not in architectures:
        return ["%s (%s, %s) is not supported: Istio packages the sidecar as .deb (Debian family) and .rpm (RedHat "
                "family) for %s (set vm_sidecar_package_format for another family that installs one of them)."
                % (_text(facts.get("distribution")), family, arch, " and ".join(architectures))]
    if not present:
        return []
    if official_url and arch == "aarch64":
        return ["Istio's release storage has no aarch64 istio-sidecar package (istio/istio#41595): set "
                "vm_sidecar_package_url or vm_sidecar_package_src to an arm64 build."]
    if bundle_missing:
        return [] if check_mode else [
            "the bootstrap bundle in %s lacks %s: run meshops.istio_vm.mesh_workload first (vm_sidecar_bundle_dir "
            "must match mesh_workload_bootstrap_dir)." % (bundle_dir, ", ".join(bundle_missing))]
    if not (hosts or "").strip():
        return ["%s/hosts is empty (the gateway publishes a hostname, istio/istio#31624): set mesh_workload_ingress_ip."
                % bundle_dir]
    return []


# The variables vm_settings reads (role mesh_workload, tasks/facts.yml passes them).
SETTINGS_VARIABLES = (
    "mesh_workload_group", "mesh_workload_namespace", "mesh_workload_name", "mesh_workload_mode",
    "mesh_workload_address", "mesh_workload_internal_ip", "mesh_workload_network", "mesh_workload_labels",
    "mesh_workload_ports", "mesh_workload_probe", "mesh_workload_service_account", "mesh_workload_entry_name",
    "mesh_workload_bootstrap_dir", "mesh_workload_service", "mesh_workload_service_name",
    "mesh_workload_service_app_protocols", "mesh_workload_service_entries", "mesh_workload_sidecar",
    "mesh_workload_lock")
# The settings the role's output mesh_workload_vm takes as they are (the rest: entry_name, entry, lock_scope).
PUBLISHED_FROM_VM = ("host", "namespace", "workload", "mode", "address", "internal_ip", "service_account",
                     "has_probe", "bootstrap_dir", "group_object", "service_object", "service_entry_objects",
                     "sidecar_object")


def registered_entry_name(group: Any, ip: Any, network: Any = "") -> str:
    """The name istiod gives the WorkloadEntry it auto-registers: ``<group>-<ip>[-<network>]``, each
    ``:`` of the IP turned into ``-``, its last 253 characters when longer; empty without an IP."""
    ip = _text(ip)
    if not ip:
        return ""
    name = "-".join([str(group), ip.replace(":", "-")] + ([str(network)] if network else []))
    return name[-253:]   # istiod keeps the last 253 characters of a longer name


def vm_settings(variables: Mapping[str, Any], host: str, managed_labels: Mapping[str, Any],
                group_label: str) -> Dict[str, Dict[str, Any]]:
    """One VM's settings from its mesh_workload variables (role variable name -> value), after
    workload_problems found none: ``vm``, what the role's tasks read (``__mesh_workload_vm``), and
    ``published``, the role's output (``mesh_workload_vm``, docs/inventory.md "Outputs").

    ``managed_labels``: the labels of every object the role creates; ``group_label``: the label of
    the static WorkloadEntries that names their inventory group."""
    missing = [name for name in SETTINGS_VARIABLES if name not in variables]
    if missing:
        raise MeshError("vm_settings: the variables %s are missing" % ", ".join(missing))
    v = variables
    namespace, name, mode = v["mesh_workload_namespace"], v["mesh_workload_name"], v["mesh_workload_mode"]
    labels, ports, network = v["mesh_workload_labels"], v["mesh_workload_ports"], v["mesh_workload_network"]
    probe, sidecar, account = v["mesh_workload_probe"], v["mesh_workload_sidecar"], v["mesh_workload_service_account"]
    entry_name, bootstrap_dir = v["mesh_workload_entry_name"], v["mesh_workload_bootstrap_dir"]
    entry_key = "%s/%s" % (namespace, entry_name)
    address = str(v["mesh_workload_address"])
    internal_ip = announced_ip(v["mesh_workload_address"], v["mesh_workload_internal_ip"])
    registered_name = registered_entry_name(name, internal_ip, network)
    service = ({"name": v["mesh_workload_service_name"], "namespace": namespace, "metadata_labels": managed_labels,
                "selector": labels, "ports": service_ports_from_map(ports, v["mesh_workload_service_app_protocols"] or {})}
               if _wants_service(v) else None)
    # Services select the workload's labels unless they list endpoints or their own selector.
    entry_defaults = {"namespace": namespace, "metadata_labels": managed_labels}
    service_entries = v["mesh_workload_service_entries"]
    service_entry_objects = ([{**entry_defaults, "workload_selector": labels, **item}
                              for item in service_entries if "endpoints" not in item]
                             + [{**entry_defaults, **item} for item in service_entries if "endpoints" in item])
    vm = {
        "host": host,
        "namespace": namespace,
        "workload": name,
        "key": "%s/%s" % (namespace, name),
        "mode": mode,
        "address": address,
        "internal_ip": internal_ip,
        "entry_name": entry_name,
        "entry_key": entry_key,
        # The name istiod gives the entry it auto-registers.
        "registered_entry_name": registered_name,
        "service_account": account,
        "bootstrap_dir": bootstrap_dir,
        # the same directory however it is spelled (validate.yml refuses one shared by two VMs)
        "bootstrap_key": posixpath.normpath(str(bootstrap_dir)),
        "has_probe": len(probe) > 0,
        # The inventory values that make up the workload's shared objects: all VMs of one workload
        # must agree on them (vm_conflicts).
        "shared": {"mode": mode, "labels": labels, "ports": ports, "service_account": account, "network": network,
                   "probe": probe, "service_entries": service_entries, "sidecar": sidecar, "service": service},
        # Module options (batch `objects` items) of the objects this VM implies.
        "group_object": {"name": name, "namespace": namespace, "metadata_labels": managed_labels, "labels": labels or None,
                         "template": {"service_account": account, "network": network or None, "ports": ports or None},
                         "probe": probe or None},
        "entry_object": {"name": entry_name, "namespace": namespace,
                         "metadata_labels": {**managed_labels, group_label: v["mesh_workload_group"]},
                         "address": address, "ports": ports or None, "labels": labels or None, "service_account": account,
                         "network": network or None, "health_checks": len(probe) > 0},
        # What an auto-registered entry must show (istiod owns it: no metadata labels, no ports).
        "registered_object": {"name": registered_name, "namespace": namespace, "address": internal_ip,
                              "labels": labels or None, "service_account": account, "network": network or None},
        "service_entry_objects": service_entry_objects,
        "service_object": service,
        "sidecar_object": ({"name": name, "namespace": namespace, "metadata_labels": managed_labels,
                            "workload_selector": labels, **sidecar} if sidecar else None),
        # What the state file records about this VM (prune reads it back in a later run).
        "record": {"host": host, "namespace": namespace, "workload": name, "mode": mode,
                   "entry_key": entry_key,
                   "entry_ref": {"name": entry_name, "namespace": namespace}, "bootstrap_dir": bootstrap_dir},
    }
    static = mode == "static"
    published = {key: vm[key] for key in PUBLISHED_FROM_VM}
    published.update({
        # The VM's WorkloadEntry: the static one, or the one istiod registers, and what it must show.
        "entry_name": entry_name if static else registered_name,
        "entry": vm["entry_object"] if static else vm["registered_object"],
        # The workload namespace whose Lease the run holds for this VM (empty without the run lock).
        "lock_scope": namespace if boolean(v["mesh_workload_lock"], strict=False) else "",
    })
    # Copies: the facts share no dictionary with each other or with the inventory.
    return _plain({"vm": vm, "published": published})


def _plain(value: Any) -> Any:
    """``value`` with a new dict for each mapping and a new list for each list or tuple in it, all the
    way down. Not copy.deepcopy: a filter's input holds Ansible's lazy containers, and a deep copy of
    one copies all the variables its templates can reach (1.8 CPU-seconds a VM on the lab)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _claimed(vms: Sequence[Mapping[str, Any]], field: str, select=lambda vm: True) -> List[Any]:
    """(value, hosts) of each value of ``field`` that more than one selected VM has, by value."""
    hosts: Dict[str, List[str]] = {}
    for vm in vms:
        if select(vm):
            hosts.setdefault(_text(vm.get(field)), []).append(_text(vm.get("host")))
    return sorted((value, names) for value, names in hosts.items() if len(names) > 1)


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _claimed_by_workloads(vms: Sequence[Mapping[str, Any]], objects: Callable[[Mapping[str, Any]], List[Mapping[str, Any]]]
                          ) -> List[Any]:
    """The objects (namespace/name) that more than one workload makes, each with those workloads, sorted."""
    makers: Dict[str, set] = {}
    for vm in vms:
        for obj in objects(vm):
            makers.setdefault("%s/%s" % (_text(obj.get("namespace")), _text(obj.get("name"))), set()).add(_text(vm.get("key")))
    return [(ref, sorted(keys)) for ref, keys in sorted(makers.items()) if len(keys) > 1]


def _nested_dirs(vms: Sequence[Mapping[str, Any]]) -> List[Any]:
    """(outer, its host, inner, its host) for each VM's bootstrap directory inside another VM's."""
    dirs = [(_text(vm.get("bootstrap_key")), _text(vm.get("host"))) for vm in vms if vm.get("bootstrap_key")]
    return [(outer, outer_host, inner, inner_host) for outer, outer_host in dirs for inner, inner_host in dirs
            if inner != outer and path_within(inner, outer)]


def vm_conflicts(vms: Sequence[Mapping[str, Any]]) -> List[str]:
    """What the VMs of one group claim twice (address, static entry, auto-registered entry, bundle
    directory), and what the VMs of one workload disagree on (the settings of its shared objects);
    ``vms``: the computed settings of each VM (``__mesh_workload_vm``)."""
    vms = list(vms)
    out = ["Address %s is claimed by %s (mesh_workload_address / ansible_host)." % (value, ", ".join(hosts))
           for value, hosts in _claimed(vms, "address")]
    out += ["WorkloadEntry %s is claimed by %s (mesh_workload_entry_name)." % (value, ", ".join(hosts))
            for value, hosts in _claimed(vms, "entry_key", lambda vm: vm.get("mode") == "static")]
    out += ["Bootstrap directory %s is shared by %s (mesh_workload_bootstrap_dir): each would get the other's token "
            "and identity." % (value, ", ".join(hosts)) for value, hosts in _claimed(vms, "bootstrap_key")]
    out += ["Auto-registered WorkloadEntry %s is claimed by %s (mesh_workload_internal_ip / mesh_workload_address)."
            % (value, ", ".join(hosts)) for value, hosts in
            _claimed(vms, "registered_entry_name", lambda vm: vm.get("mode") == "autoregister" and vm.get("internal_ip"))]
    out += ["Bootstrap directory %s of %s holds the bootstrap directory %s of %s (mesh_workload_bootstrap_dir): "
            "prune and offboarding delete a directory with all it holds." % (outer, outer_host, inner, inner_host)
            for outer, outer_host, inner, inner_host in _nested_dirs(vms)]
    for kind, objects in (("Service", lambda vm: [vm["service_object"]] if vm.get("service_object") else []),
                          ("ServiceEntry", lambda vm: vm.get("service_entry_objects") or [])):
        out += ["%s %s is made by workloads %s (mesh_workload_service_name / mesh_workload_service_entries): each would "
                "overwrite the other's, and offboarding one would delete the other's." % (kind, ref, ", ".join(keys))
                for ref, keys in _claimed_by_workloads(vms, objects)]
    workloads: Dict[str, List[Mapping[str, Any]]] = {}
    for vm in vms:
        workloads.setdefault(_text(vm.get("key")), []).append(vm)
    for key, members in workloads.items():
        shared = [member.get("shared") or {} for member in members]
        fields = [field for field in sorted({field for settings in shared for field in settings})
                  if len({_as_json(settings.get(field)) for settings in shared}) > 1]
        if fields:
            out.append("The VMs of workload %s (%s) share one WorkloadGroup, but differ in: %s"
                       % (key, ", ".join(_text(m.get("host")) for m in members),
                          " ".join("mesh_workload_%s" % field for field in fields)))
    return out

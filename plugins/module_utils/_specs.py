# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Pure builders and validators for the objects the modules manage.

For each kind (the Istio WorkloadEntry, WorkloadGroup, ServiceEntry, Sidecar, and the core v1
Service of a VM workload):

- ``build_<kind>(params)`` turns snake_case module options into the ``networking.istio.io/v1``
  object as the apiserver stores it (camelCase spec). Unset (``None``) options are omitted; values
  the user gave are kept as given, even when empty.
- ``validate_<kind>(params)`` applies the rules of the Istio 1.30 CRD schema and of istiod's
  validating webhook (``pkg/config/validation``). It raises ``ValidationError`` listing every error,
  each as ``<option path>: <rule>``, and returns istiod's warnings (admitted, but suspicious).

Stricter than Istio, on purpose: spec labels follow the Kubernetes rules (lower-case key prefix,
values at most 63 characters) and WorkloadGroup ``annotations`` the Kubernetes annotation key rules,
because istiod copies both onto WorkloadEntries; ``service_account`` must be a Kubernetes name;
a WorkloadGroup template ``address`` must be an IP, an FQDN or a ``unix://`` path (the CRD takes
any string; istiod replaces it per VM anyway, which is returned as a warning); readiness probes
must not use ``grpc`` (the CRD accepts it, istiod 1.30's webhook rejects it). istiod warnings that
need cluster state (IP auto-allocation for TCP ports without addresses) are not reproduced.

The Service follows the apiserver's own validation (``pkg/apis/core/validation``, Kubernetes 1.36)
instead of Istio's, and is always of type ClusterIP with a selector: the mesh address of VM workloads.
Stricter on purpose: its name must be a DNS-1035 label (Kubernetes 1.36's RelaxedServiceNameValidation
also admits a leading digit; older apiservers do not), it needs at least one selector label, and ports
take only the options this module documents.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import (
    INT32_MAX,
    UINT32_MAX,
    UNIX_PREFIX,
    as_int,
    check_annotations,
    check_dns1035_label,
    check_dns1123_label,
    check_dns1123_subdomain,
    check_fqdn,
    check_iana_svc_name,
    check_int_range,
    check_ip,
    check_ip_or_cidr,
    check_labels,
    check_port,
    check_port_name,
    check_protocol,
    check_qualified_name,
    check_selector,
    check_string,
    check_unix_address,
    check_wildcard_domain,
    is_http,
    is_ip,
    is_istio_dns_label,
    is_partial_wildcard,
    is_tcp,
    is_tls,
    join_index,
    join_key,
    protocol,
    split_host_port,
)

API_VERSION = "networking.istio.io/v1"
API_VERSIONS = {
    "WorkloadEntry": API_VERSION,
    "WorkloadGroup": API_VERSION,
    "ServiceEntry": API_VERSION,
    "Sidecar": API_VERSION,
    "Service": "v1",
}
# Object names: DNS-1123 subdomains, except where the apiserver is stricter.
NAME_CHECKS: Dict[str, Callable[[Any], Optional[str]]] = {"Service": check_dns1035_label}
SERVICE_PROTOCOLS = ("TCP", "UDP", "SCTP")
HEALTH_CHECKS_ANNOTATION = "proxy.istio.io/health-checks-enabled"
USE_WAYPOINT_LABEL = "istio.io/use-waypoint"

LOCATIONS = ("MESH_EXTERNAL", "MESH_INTERNAL")
RESOLUTIONS = ("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS")
CAPTURE_MODES = ("DEFAULT", "IPTABLES", "NONE")
OUTBOUND_MODES = ("REGISTRY_ONLY", "ALLOW_ANY")
PROBE_METHODS = ("http_get", "tcp_socket", "exec", "grpc")
PROBE_TIMINGS = ("initial_delay_seconds", "timeout_seconds", "period_seconds", "success_threshold", "failure_threshold")
LOOPBACK_HOSTS = ("", "127.0.0.1", "0.0.0.0", "::1", "::")

# (option, spec field) pairs, in the order the spec is written.
_WORKLOAD_FIELDS = (
    ("address", "address"),
    ("ports", "ports"),
    ("labels", "labels"),
    ("network", "network"),
    ("locality", "locality"),
    ("weight", "weight"),
    ("service_account", "serviceAccount"),
)
_TEMPLATE_OPTIONS = ("address", "labels", "ports", "service_account", "network", "locality", "weight")
_ENDPOINT_OPTIONS = ("address", "ports", "labels", "network", "locality", "weight", "service_account")
_PORT_FIELDS = (("number", "number"), ("protocol", "protocol"), ("name", "name"), ("target_port", "targetPort"))
_PROBE_FIELDS = (
    ("initial_delay_seconds", "initialDelaySeconds"),
    ("timeout_seconds", "timeoutSeconds"),
    ("period_seconds", "periodSeconds"),
    ("success_threshold", "successThreshold"),
    ("failure_threshold", "failureThreshold"),
)

Params = Mapping[str, Any]
Errors = List[str]


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def _number(value: Any) -> Any:
    """Ints stay ints, decimal strings become ints, anything else is left for validation to report."""
    number = as_int(value)
    return value if number is None else number


def _fields(options: Params, pairs: Iterable[Tuple[str, str]], numbers: Sequence[str] = ()) -> Dict[str, Any]:
    out = {}
    for option, field in pairs:
        value = options.get(option)
        if value is None:
            continue
        if option in numbers:
            value = _number(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, list):
            value = list(value)
        out[field] = value
    return out


def _ports_map(ports: Any) -> Any:
    if not isinstance(ports, Mapping):
        return ports
    return {name: _number(number) for name, number in ports.items()}


def _workload(options: Params) -> Dict[str, Any]:
    """The WorkloadEntry spec fields shared by entries, templates and ServiceEntry endpoints."""
    spec = _fields(options, _WORKLOAD_FIELDS, numbers=("weight",))
    if "ports" in spec:
        spec["ports"] = _ports_map(spec["ports"])
    return spec


def _metadata(params: Params, extra_annotations: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    metadata = {"name": params.get("name")}
    if params.get("namespace") is not None:
        metadata["namespace"] = params["namespace"]
    if params.get("metadata_labels") is not None:
        metadata["labels"] = dict(params["metadata_labels"])
    annotations = dict(params.get("metadata_annotations") or {})
    annotations.update(extra_annotations or {})
    if params.get("metadata_annotations") is not None or annotations:
        metadata["annotations"] = annotations
    return metadata


def _object(kind: str, metadata: Dict[str, Any], spec: Dict[str, Any]) -> Dict[str, Any]:
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": metadata, "spec": spec}


def _port(options: Any) -> Any:
    if not isinstance(options, Mapping):
        return options
    return _fields(options, _PORT_FIELDS, numbers=("number", "target_port"))


def _selector(labels: Any) -> Dict[str, Any]:
    return {"labels": dict(labels) if isinstance(labels, Mapping) else labels}


def build_workload_entry(params: Params) -> Dict[str, Any]:
    extra = {HEALTH_CHECKS_ANNOTATION: "true"} if params.get("health_checks") else None
    return _object("WorkloadEntry", _metadata(params, extra), _workload(params))


def _probe(options: Params) -> Dict[str, Any]:
    probe = _fields(options, _PROBE_FIELDS, numbers=PROBE_TIMINGS)
    http_get = options.get("http_get")
    if isinstance(http_get, Mapping):
        probe["httpGet"] = _fields(http_get, (("path", "path"), ("port", "port"), ("host", "host"), ("scheme", "scheme")),
                                   numbers=("port",))
        if http_get.get("http_headers") is not None:
            headers = http_get["http_headers"]
            probe["httpGet"]["httpHeaders"] = [
                _fields(h, (("name", "name"), ("value", "value"))) if isinstance(h, Mapping) else h for h in headers
            ]
    tcp_socket = options.get("tcp_socket")
    if isinstance(tcp_socket, Mapping):
        probe["tcpSocket"] = _fields(tcp_socket, (("host", "host"), ("port", "port")), numbers=("port",))
    exec_ = options.get("exec")
    if isinstance(exec_, Mapping):
        probe["exec"] = _fields(exec_, (("command", "command"),))
    grpc = options.get("grpc")
    if isinstance(grpc, Mapping):
        probe["grpc"] = _fields(grpc, (("port", "port"), ("service", "service")), numbers=("port",))
    return probe


def build_workload_group(params: Params) -> Dict[str, Any]:
    """``spec.template`` is written as given: ``{}`` stays ``{}``, no template option writes none
    (the validator refuses that, as the apiserver does)."""
    spec: Dict[str, Any] = {}
    group_metadata = _fields(params, (("labels", "labels"), ("annotations", "annotations")))
    if group_metadata:
        spec["metadata"] = group_metadata
    template = params.get("template")
    if template is not None:
        spec["template"] = _workload(template) if isinstance(template, Mapping) else template
    if isinstance(params.get("probe"), Mapping):
        spec["probe"] = _probe(params["probe"])
    return _object("WorkloadGroup", _metadata(params), spec)


def build_service_entry(params: Params) -> Dict[str, Any]:
    spec = _fields(params, (("hosts", "hosts"), ("addresses", "addresses")))
    if params.get("ports") is not None:
        spec["ports"] = [_port(port) for port in params["ports"]]
    spec.update(_fields(params, (("location", "location"), ("resolution", "resolution"))))
    if params.get("workload_selector") is not None:
        spec["workloadSelector"] = _selector(params["workload_selector"])
    if params.get("endpoints") is not None:
        spec["endpoints"] = [_workload(ep) if isinstance(ep, Mapping) else ep for ep in params["endpoints"]]
    spec.update(_fields(params, (("export_to", "exportTo"),)))
    return _object("ServiceEntry", _metadata(params), spec)


def _listener(options: Any, fields: Sequence[Tuple[str, str]]) -> Any:
    if not isinstance(options, Mapping):
        return options
    listener = {}
    if options.get("port") is not None:
        listener["port"] = _port(options["port"])
    listener.update(_fields(options, fields))
    return listener


def _outbound_traffic_policy(options: Any) -> Any:
    if not isinstance(options, Mapping):
        return options
    policy = _fields(options, (("mode", "mode"),))
    proxy = options.get("egress_proxy")
    if isinstance(proxy, Mapping):
        policy["egressProxy"] = _fields(proxy, (("host", "host"), ("subset", "subset")))
        if proxy.get("port") is not None:
            policy["egressProxy"]["port"] = {"number": _number(proxy["port"])}
    return policy


def build_sidecar(params: Params) -> Dict[str, Any]:
    spec: Dict[str, Any] = {}
    if params.get("workload_selector") is not None:
        spec["workloadSelector"] = _selector(params["workload_selector"])
    if params.get("ingress") is not None:
        fields = (("bind", "bind"), ("default_endpoint", "defaultEndpoint"), ("capture_mode", "captureMode"))
        spec["ingress"] = [_listener(item, fields) for item in params["ingress"]]
    if params.get("egress") is not None:
        fields = (("bind", "bind"), ("capture_mode", "captureMode"), ("hosts", "hosts"))
        spec["egress"] = [_listener(item, fields) for item in params["egress"]]
    if params.get("outbound_traffic_policy") is not None:
        spec["outboundTrafficPolicy"] = _outbound_traffic_policy(params["outbound_traffic_policy"])
    return _object("Sidecar", _metadata(params), spec)


# ---------------------------------------------------------------------------------------------
# Validation helpers: each returns the list of "<path>: <rule>" errors it found.
# ---------------------------------------------------------------------------------------------

def _at(path: str, problem: Optional[str]) -> Errors:
    return ["%s: %s" % (path, problem)] if problem else []


def _is_set(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _unknown(path: str, options: Mapping[str, Any], allowed: Iterable[str]) -> Errors:
    extra = sorted(str(key) for key in options if key not in allowed)
    if not extra:
        return []
    return ["%s: unknown option(s) %s (expected %s)" % (path or "options", ", ".join(extra), ", ".join(allowed))]


def _dict_at(path: str, value: Any) -> Errors:
    return [] if isinstance(value, Mapping) else ["%s: must be a dict" % path]


def _list_at(path: str, value: Any, max_items: Optional[int] = None, min_items: int = 0) -> Errors:
    if not isinstance(value, (list, tuple)):
        return ["%s: must be a list" % path]
    if len(value) < min_items:
        return ["%s: needs at least %d item(s)" % (path, min_items)]
    if max_items is not None and len(value) > max_items:
        return ["%s: has %d items, the limit is %d" % (path, len(value), max_items)]
    return []


def _enum_at(path: str, value: Any, allowed: Sequence[str]) -> Errors:
    if value is None or value in allowed:
        return []
    return ["%s: %r is not one of %s" % (path, value, ", ".join(allowed))]


def _optional_string(path: str, value: Any, max_length: Optional[int] = None) -> Errors:
    return [] if value is None else _at(path, check_string(value, max_length))


def check_name(kind: str, name: Any) -> Optional[str]:
    """The rule for ``metadata.name`` of ``kind``: None when fine, else the broken rule."""
    return NAME_CHECKS.get(kind, check_dns1123_subdomain)(name)


def _check_metadata(params: Params, kind: str = "") -> Errors:
    errors = []
    if params.get("name") is None:
        errors.append("name: is required")
    else:
        errors += _at("name", check_name(kind, params["name"]))
    if params.get("namespace") is not None:
        errors += _at("namespace", check_dns1123_label(params["namespace"]))
    if params.get("metadata_labels") is not None:
        errors += check_labels("metadata_labels", params["metadata_labels"], max_items=10000)
    if params.get("metadata_annotations") is not None:
        errors += check_annotations("metadata_annotations", params["metadata_annotations"], max_items=10000)
    return errors


def _check_ports_map(path: str, ports: Any, service_ports: Optional[Sequence[str]] = None) -> Errors:
    if not isinstance(ports, Mapping):
        return ["%s: must be a dict of port name to port number" % path]
    if len(ports) > 128:
        return ["%s: has %d entries, the limit is 128" % (path, len(ports))]
    errors = []
    for name, number in ports.items():
        entry = join_key(path, name)
        errors += _at(entry, check_port_name(name))
        errors += _at(entry, check_port(number))
        if service_ports is not None and name not in service_ports:
            errors.append("%s: port name %r is not one of the ServiceEntry's ports (%s)"
                          % (entry, name, ", ".join(service_ports) or "none"))
    return errors


def _check_workload_fields(path: str, options: Params, service_ports: Optional[Sequence[str]] = None) -> Errors:
    """Rules shared by WorkloadEntry, WorkloadGroup templates and ServiceEntry endpoints (not address)."""
    prefix = path + "." if path else ""
    errors = []
    if options.get("ports") is not None:
        errors += _check_ports_map(prefix + "ports", options["ports"], service_ports)
    if options.get("labels") is not None:
        errors += check_labels(prefix + "labels", options["labels"])
    errors += _optional_string(prefix + "network", options.get("network"), 2048)
    errors += _optional_string(prefix + "locality", options.get("locality"), 2048)
    if options.get("weight") is not None:
        errors += _at(prefix + "weight", check_int_range(options["weight"], 0, UINT32_MAX))
    if options.get("service_account") is not None:
        errors += _at(prefix + "service_account", check_dns1123_subdomain(options["service_account"]))
    return errors


def _check_unix_endpoint(path: str, options: Params) -> Errors:
    prefix = path + "." if path else ""
    errors = _at(prefix + "address", check_unix_address(options["address"]))
    if options.get("ports") is not None:
        errors.append("%sports: must not be set with a unix:// address" % prefix)
    return errors


def _check_address(path: str, options: Params, allow_fqdn: bool) -> Tuple[Errors, Errors]:
    """(errors, warnings) for a workload address: IP, FQDN (if allowed), unix://path, or empty with network."""
    prefix = path + "." if path else ""
    address = options.get("address")
    if address is None or address == "":
        if not options.get("network"):
            return ["%saddress: is required unless network is set" % prefix], []
        return [], ["%saddress: is unset with network %r" % (prefix, options["network"])]
    problem = check_string(address, 256)
    if problem:
        return _at(prefix + "address", problem), []
    if address.startswith(UNIX_PREFIX):
        return _check_unix_endpoint(path, options), []
    if is_ip(address):
        return [], []
    if not allow_fqdn:
        return ["%saddress: %r is not a valid IP address (STATIC resolution needs IPs or unix:// paths)"
                % (prefix, address)], []
    if check_fqdn(address):
        return ["%saddress: %r is not an IP address, a valid FQDN or unix://<absolute path>" % (prefix, address)], []
    return [], []


def _raise_or_warn(prefix: str, errors: Errors, warnings: Errors) -> List[str]:
    if errors:
        raise ValidationError(prefix, errors)
    return warnings


# ---------------------------------------------------------------------------------------------
# WorkloadEntry
# ---------------------------------------------------------------------------------------------

def validate_workload_entry(params: Params) -> List[str]:
    errors = _check_metadata(params)
    address_errors, warnings = _check_address("", params, allow_fqdn=True)
    errors += address_errors + _check_workload_fields("", params)
    if params.get("health_checks") is not None and not isinstance(params["health_checks"], bool):
        errors.append("health_checks: %r is not a boolean" % (params["health_checks"],))
    return _raise_or_warn("workload_entry", errors, warnings)


# ---------------------------------------------------------------------------------------------
# WorkloadGroup
# ---------------------------------------------------------------------------------------------

def _check_template(template: Any) -> Tuple[Errors, Errors]:
    """(errors, warnings) of a WorkloadGroup template: a WorkloadEntry whose address is optional."""
    if template is None:
        return ["template: is required (the apiserver refuses a WorkloadGroup without spec.template; "
                "{} is an empty one)"], []
    if not isinstance(template, Mapping):
        return ["template: must be a dict"], []
    errors = _unknown("template", template, _TEMPLATE_OPTIONS) + _check_workload_fields("template", template)
    if not _is_set(template.get("address")):
        return errors, []
    address_errors, _unset = _check_address("template", template, allow_fqdn=True)
    warning = ("template.address: %r is kept in the WorkloadGroup only; istiod gives each entry it "
               "auto-registers the address of its VM" % (template["address"],))
    return errors + address_errors, [warning]


def _check_http_get(path: str, options: Params) -> Errors:
    errors = _unknown(path, options, ("path", "port", "host", "scheme", "http_headers"))
    errors += _required_port(path + ".port", options.get("port"))
    errors += _optional_string(path + ".path", options.get("path"))
    errors += _optional_string(path + ".host", options.get("host"))
    if options.get("scheme") not in (None, "", "HTTP", "HTTPS"):
        errors.append("%s.scheme: %r is not one of HTTP, HTTPS" % (path, options["scheme"]))
    headers = options.get("http_headers")
    if headers is None:
        return errors
    errors += _list_at(path + ".http_headers", headers)
    for index, header in enumerate(headers if isinstance(headers, (list, tuple)) else []):
        errors += _check_probe_header(join_index(path + ".http_headers", index), header)
    return errors


def _check_probe_header(path: str, header: Any) -> Errors:
    if not isinstance(header, Mapping):
        return ["%s: must be a dict with name and value" % path]
    errors = _unknown(path, header, ("name", "value"))
    name = header.get("name")
    # The CRD allows '_' ( ^[-_A-Za-z0-9]+$ ); istiod's ValidateProbeHeaderName does not.
    if not isinstance(name, str) or name == "":
        errors.append("%s.name: header name cannot be empty" % path)
    elif not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
        errors.append("%s.name: %r is not a valid header name (^[-A-Za-z0-9]+$)" % (path, name))
    errors += _optional_string(path + ".value", header.get("value"))
    return errors


def _required_port(path: str, value: Any) -> Errors:
    if value is None:
        return ["%s: is required" % path]
    return _at(path, check_port(value))


def _check_exec(path: str, options: Params) -> Errors:
    errors = _unknown(path, options, ("command",))
    command = options.get("command")
    if not isinstance(command, (list, tuple)) or not command:
        return errors + ["%s.command: is required (a non-empty list of strings)" % path]
    for index, word in enumerate(command):
        if not isinstance(word, str) or word == "":
            errors.append("%s: must be a non-empty string" % join_index(path + ".command", index))
    return errors


def _check_tcp_socket(path: str, options: Params) -> Errors:
    errors = _unknown(path, options, ("host", "port"))
    return errors + _required_port(path + ".port", options.get("port")) + _optional_string(path + ".host", options.get("host"))


def _check_probe(probe: Any) -> Errors:
    if not isinstance(probe, Mapping):
        return ["probe: must be a dict"]
    errors = _unknown("probe", probe, PROBE_TIMINGS + PROBE_METHODS)
    for timing in PROBE_TIMINGS:
        if probe.get(timing) is not None:
            errors += _at("probe." + timing, check_int_range(probe[timing], 0, INT32_MAX))
    methods = [method for method in PROBE_METHODS if probe.get(method) is not None]
    if "grpc" in methods:
        errors.append("probe.grpc: not accepted by istiod 1.30 validation (unknown health check method); "
                      "use http_get, tcp_socket or exec")
    if not methods:
        errors.append("probe: needs exactly one of http_get, tcp_socket, exec")
    elif len(methods) > 1:
        errors.append("probe: only one of http_get, tcp_socket, exec may be set, got %s" % ", ".join(methods))
    checks: Dict[str, Callable[[str, Params], Errors]] = {
        "http_get": _check_http_get,
        "tcp_socket": _check_tcp_socket,
        "exec": _check_exec,
    }
    for method in methods:
        path = "probe." + method
        if not isinstance(probe[method], Mapping):
            errors.append("%s: must be a dict" % path)
        elif method in checks:
            errors += checks[method](path, probe[method])
    return errors


def validate_workload_group(params: Params) -> List[str]:
    errors = _check_metadata(params)
    if params.get("labels") is not None:
        errors += check_labels("labels", params["labels"])
    if params.get("annotations") is not None:
        errors += check_annotations("annotations", params["annotations"])
    template_errors, warnings = _check_template(params.get("template"))
    errors += template_errors
    if params.get("probe") is not None:
        errors += _check_probe(params["probe"])
    return _raise_or_warn("workload_group", errors, warnings)


# ---------------------------------------------------------------------------------------------
# ServiceEntry
# ---------------------------------------------------------------------------------------------

def _check_hosts(hosts: Any, resolution: str) -> Tuple[Errors, Errors]:
    errors = _list_at("hosts", hosts, max_items=256, min_items=1)
    if errors:
        return errors, []
    warnings = []
    for index, host in enumerate(hosts):
        path = join_index("hosts", index)
        if host == "*":
            errors.append("%s: '*' is not allowed in a ServiceEntry" % path)
            continue
        problem = check_wildcard_domain(host)
        errors += _at(path, problem)
        if not problem and resolution != "DYNAMIC_DNS" and is_partial_wildcard(host):
            warnings.append("%s: partial wildcard %r not allowed" % (path, host))
    return errors, warnings


def _check_addresses(addresses: Any, resolution: str) -> Errors:
    errors = _list_at("addresses", addresses, max_items=256)
    if errors:
        return errors
    for index, address in enumerate(addresses):
        path = join_index("addresses", index)
        errors += _at(path, check_string(address, 64) or check_ip_or_cidr(address))
    if any(isinstance(a, str) and "/" in a for a in addresses) and resolution not in ("NONE", "STATIC"):
        errors.append("addresses: CIDR addresses are allowed only with resolution NONE or STATIC, not %s" % resolution)
    return errors


def _check_se_ports(ports: Any) -> Errors:
    errors = _list_at("ports", ports, max_items=256)
    if errors:
        return errors
    names: List[Any] = []
    numbers: List[Any] = []
    for index, port in enumerate(ports):
        path = join_index("ports", index)
        if not isinstance(port, Mapping):
            errors.append("%s: must be a dict with number and name" % path)
            continue
        errors += _unknown(path, port, ("number", "name", "protocol", "target_port"))
        errors += _required_port(path + ".number", port.get("number"))
        if port.get("name") is None:
            errors.append("%s.name: is required" % path)
        else:
            errors += _at(path + ".name", check_port_name(port["name"], max_length=63))
        errors += _at(path + ".protocol", check_protocol(port.get("protocol")))
        if port.get("target_port") is not None:
            errors += _at(path + ".target_port", check_port(port["target_port"]))
        number = as_int(port.get("number"))
        if port.get("name") in names:
            errors.append("%s.name: port name %r is already defined" % (path, port["name"]))
        if number is not None and number in numbers:
            errors.append("%s.number: port %d is already defined" % (path, number))
        names.append(port.get("name"))
        numbers.append(number)
    return errors


def _service_port_names(ports: Any) -> List[str]:
    if not isinstance(ports, (list, tuple)):
        return []
    return [port["name"] for port in ports if isinstance(port, Mapping) and isinstance(port.get("name"), str)]


def _port_protocols(ports: Any) -> List[Tuple[int, str]]:
    """(index, protocol) of the ports whose protocol is unset or supported (_check_se_ports reports the others)."""
    if not isinstance(ports, (list, tuple)):
        return []
    found = [(index, protocol(port.get("protocol"))) for index, port in enumerate(ports) if isinstance(port, Mapping)]
    return [(index, proto) for index, proto in found if proto != "UNSUPPORTED"]


def _check_endpoint(path: str, endpoint: Params, resolution: str, service_ports: List[str]) -> Tuple[Errors, Errors]:
    errors = _unknown(path, endpoint, _ENDPOINT_OPTIONS)
    warnings: Errors = []
    if resolution == "STATIC":
        address_errors, warnings = _check_address(path, endpoint, allow_fqdn=False)
        errors += address_errors
        if str(endpoint.get("address") or "").startswith(UNIX_PREFIX) and len(service_ports) != 1:
            errors.append("%s.address: a unix:// endpoint needs exactly 1 service port, the ServiceEntry has %d"
                          % (path, len(service_ports)))
    else:  # DNS, DNS_ROUND_ROBIN: the address must be an IP or a resolvable name
        address = endpoint.get("address")
        if address is None or address == "":
            errors.append("%s.address: is required with resolution %s" % (path, resolution))
        elif not is_ip(address) and check_fqdn(address):
            errors.append("%s.address: %r is not an IP address or a valid FQDN (resolution %s)" % (path, address, resolution))
        elif isinstance(address, str) and len(address) > 256:
            errors += _at(path + ".address", check_string(address, 256))
    return errors + _check_workload_fields(path, endpoint, service_ports), warnings


def _check_endpoints(params: Params, resolution: str) -> Tuple[Errors, Errors]:
    endpoints = params["endpoints"]
    errors = _list_at("endpoints", endpoints, max_items=4096)
    if errors:
        return errors, []
    if resolution == "NONE":
        return ["endpoints: must not be set with resolution NONE (the default)"], []
    if resolution == "DYNAMIC_DNS":
        return ["endpoints: must not be set with resolution DYNAMIC_DNS"], []
    if resolution == "DNS_ROUND_ROBIN" and len(endpoints) > 1:
        errors.append("endpoints: resolution DNS_ROUND_ROBIN allows at most 1 endpoint, got %d" % len(endpoints))
    warnings: Errors = []
    service_ports = _service_port_names(params.get("ports"))
    for index, endpoint in enumerate(endpoints):
        path = join_index("endpoints", index)
        if not isinstance(endpoint, Mapping):
            errors.append("%s: must be a dict" % path)
            continue
        endpoint_errors, endpoint_warnings = _check_endpoint(path, endpoint, resolution, service_ports)
        errors += endpoint_errors
        warnings += endpoint_warnings
    return errors, warnings


def _check_resolution_rules(params: Params, resolution: str) -> Tuple[Errors, Errors]:
    """Rules that depend on the resolution, other than those on endpoints."""
    errors: Errors = []
    warnings: Errors = []
    hosts = params.get("hosts") if isinstance(params.get("hosts"), (list, tuple)) else []
    protocols = _port_protocols(params.get("ports"))
    if resolution == "NONE" and params.get("workload_selector") is not None:
        warnings.append("workload_selector: should not be set when resolution is NONE")
    if resolution in ("DNS", "DNS_ROUND_ROBIN") and not params.get("endpoints"):
        for index, host in enumerate(hosts):
            if host != "*" and not check_wildcard_domain(host) and check_fqdn(host):
                errors.append("%s: must be an FQDN without wildcard when resolution is %s and there are no endpoints"
                              % (join_index("hosts", index), resolution))
                break
    if resolution in ("DNS", "DNS_ROUND_ROBIN") and params.get("addresses") and len(hosts) > 1:
        if any(is_tcp(proto) for _index, proto in protocols):
            warnings.append("hosts: a ServiceEntry should not have more than one host together with addresses and a TCP port")
    if resolution == "DYNAMIC_DNS":
        errors += _check_dynamic_dns(params, hosts, protocols)
    if resolution != "NONE" and len(hosts) > 1:
        for index, proto in protocols:
            if not is_http(proto) and not is_tls(proto):
                errors.append("%s.protocol: with several hosts and resolution %s every port must be HTTP-like or TLS, "
                              "got %r" % (join_index("ports", index), resolution, proto or "unset"))
                break
    return errors, warnings


def _check_dynamic_dns(params: Params, hosts: Sequence[Any], protocols: List[Tuple[int, str]]) -> Errors:
    errors = []
    for index, host in enumerate(hosts):
        if not (isinstance(host, str) and host.startswith("*")):
            errors.append("%s: must be wildcarded (*.example.com) for resolution DYNAMIC_DNS" % join_index("hosts", index))
    if params.get("addresses"):
        errors.append("addresses: must not be set with resolution DYNAMIC_DNS")
    for index, proto in protocols:
        if proto not in ("HTTP", "TLS", "GRPC", "HTTP2"):
            errors.append("%s.protocol: resolution DYNAMIC_DNS supports only HTTP, TLS, GRPC and HTTP2, got %r"
                          % (join_index("ports", index), proto or "unset"))
    labels = params.get("metadata_labels")     # _check_metadata reports labels that are not strings
    waypoint = labels.get(USE_WAYPOINT_LABEL) if isinstance(labels, Mapping) else None
    if params.get("location") == "MESH_INTERNAL" and isinstance(waypoint, str) and waypoint.lower() not in ("", "none"):
        errors.append("location: MESH_INTERNAL with resolution DYNAMIC_DNS is not supported when using waypoints")
    return errors


def _check_export_to(export_to: Any, namespace: Optional[str], service_entry: bool) -> Errors:
    errors = _list_at("export_to", export_to)
    if errors or not export_to:
        return errors
    namespace = namespace if isinstance(namespace, str) else ""    # _check_metadata reports another type
    seen = set()
    for index, entry in enumerate(export_to):
        path = join_index("export_to", index)
        if not isinstance(entry, str):
            errors.append("%s: %r must be a string" % (path, entry))
            continue
        key = (namespace or "") if entry == "." else entry
        if key in seen:
            errors.append("%s: duplicate entry %r (with '.' meaning namespace %r)" % (path, entry, namespace or ""))
            continue
        if entry in (".", "*") or (service_entry and entry == "~") or is_istio_dns_label(entry):
            seen.add(key)
        else:
            errors.append("%s: %r must be '.', '*', %sor a namespace name" % (path, entry, "'~', " if service_entry else ""))
    if "*" in seen and len(export_to) > 1:
        errors.append("export_to: cannot have both public (*) and other entries")
    if "~" in seen and len(export_to) > 1:
        errors.append("export_to: cannot export to no one (~) and someone")
    return errors


def validate_service_entry(params: Params) -> List[str]:
    errors = _check_metadata(params)
    errors += _enum_at("resolution", params.get("resolution"), RESOLUTIONS)
    errors += _enum_at("location", params.get("location"), LOCATIONS)
    resolution = params.get("resolution") or "NONE"
    if params.get("hosts") is None:
        errors.append("hosts: is required (at least one host)")
        host_errors, warnings = [], []
    else:
        host_errors, warnings = _check_hosts(params["hosts"], resolution)
    errors += host_errors
    if params.get("addresses") is not None:
        errors += _check_addresses(params["addresses"], resolution)
    if params.get("ports") is not None:
        errors += _check_se_ports(params["ports"])
    if params.get("workload_selector") is not None:
        errors += check_selector("workload_selector", params["workload_selector"])
        if params.get("endpoints") is not None:
            errors.append("workload_selector: only one of workload_selector or endpoints may be set")
        elif not params["workload_selector"]:
            warnings.append("workload_selector: has no labels, it selects every workload in the namespace")
    if params.get("endpoints") is not None and params.get("workload_selector") is None:
        endpoint_errors, endpoint_warnings = _check_endpoints(params, resolution)
        errors += endpoint_errors
        warnings += endpoint_warnings
    if resolution in RESOLUTIONS:
        rule_errors, rule_warnings = _check_resolution_rules(params, resolution)
        errors += rule_errors
        warnings += rule_warnings
    if params.get("export_to") is not None:
        errors += _check_export_to(params["export_to"], params.get("namespace"), service_entry=True)
    return _raise_or_warn("service_entry", errors, warnings)


# ---------------------------------------------------------------------------------------------
# Sidecar
# ---------------------------------------------------------------------------------------------

def _check_sidecar_port(path: str, port: Any) -> Errors:
    if not isinstance(port, Mapping):
        return ["%s: must be a dict" % path]
    errors = _unknown(path, port, ("number", "protocol", "name", "target_port"))
    if port.get("name") not in (None, ""):
        errors += _at(path + ".name", check_port_name(port["name"], max_length=63))
    errors += _at(path + ".protocol", check_protocol(port.get("protocol")))
    if port.get("target_port") not in (None, 0):
        errors.append("%s.target_port: has no effect on Sidecars and istiod rejects it" % path)
    return errors


def _check_default_endpoint(path: str, endpoint: Any) -> Errors:
    if not isinstance(endpoint, str):
        return ["%s: %r is not a string" % (path, endpoint)]
    if endpoint.startswith(UNIX_PREFIX):
        return _at(path, check_unix_address(endpoint))
    rule = "must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port> or unix://<absolute path>"
    try:
        host, port = split_host_port(endpoint)
    except ValueError as exc:
        return ["%s: %r %s (%s)" % (path, endpoint, rule, exc)]
    if host not in LOOPBACK_HOSTS:
        return ["%s: %r %s" % (path, endpoint, rule)]
    if not port.isdigit():
        return ["%s: port %r of %r is not a number" % (path, port, endpoint)]
    return _at(path, check_port(port))


def _check_ingress(ingress: Any) -> Errors:
    errors = _list_at("ingress", ingress)
    if errors:
        return errors
    numbers: List[int] = []
    for index, listener in enumerate(ingress):
        path = join_index("ingress", index)
        if not isinstance(listener, Mapping):
            errors.append("%s: must be a dict" % path)
            continue
        errors += _unknown(path, listener, ("port", "bind", "default_endpoint", "capture_mode"))
        port = listener.get("port")
        if port is None:
            errors.append("%s.port: is required for ingress listeners" % path)
            continue
        errors += _check_sidecar_port(path + ".port", port)
        if not isinstance(port, Mapping):
            continue
        errors += _required_port(path + ".port.number", port.get("number"))
        number = as_int(port.get("number"))
        if number is not None and number in numbers:
            errors.append("%s.port.number: port %d is already used by another ingress listener" % (path, number))
        numbers.append(number)
        if listener.get("bind") not in (None, ""):
            errors += _at(path + ".bind", check_ip(listener["bind"]))
        if listener.get("default_endpoint") not in (None, ""):
            errors += _check_default_endpoint(path + ".default_endpoint", listener["default_endpoint"])
        errors += _enum_at(path + ".capture_mode", listener.get("capture_mode"), CAPTURE_MODES)
    return errors


def _check_egress_hosts(path: str, hosts: Any) -> Errors:
    if not isinstance(hosts, (list, tuple)) or not hosts:
        return ["%s: is required (at least one namespace/host)" % path]
    errors = []
    for index, host in enumerate(hosts):
        entry = join_index(path, index)
        if not isinstance(host, str) or "/" not in host:
            errors.append("%s: %r must be of the form namespace/dnsName" % (entry, host))
            continue
        namespace, _slash, name = host.partition("/")
        if namespace == "" or name == "":
            errors.append("%s: namespace and dnsName in %r cannot be empty" % (entry, host))
            continue
        if namespace not in ("*", ".", "~") and not is_istio_dns_label(namespace):
            errors.append("%s: invalid namespace %r (use *, ., ~ or a namespace name)" % (entry, namespace))
        if name != "*" and "." not in name:
            errors.append("%s: short name %r is not allowed, use an FQDN" % (entry, name))
        elif check_wildcard_domain(name):
            errors += _at(entry, check_wildcard_domain(name))
        elif is_partial_wildcard(name):
            errors.append("%s: partial wildcard %r not allowed" % (entry, name))
    return errors


def _check_egress_listener(path: str, listener: Params) -> Errors:
    errors = _check_sidecar_port(path + ".port", listener["port"])
    port = listener["port"] if isinstance(listener["port"], Mapping) else {}
    bind = listener.get("bind")
    number = as_int(port.get("number")) if port.get("number") is not None else 0
    if number is None:
        return errors + ["%s.port.number: %r is not an integer" % (path, port.get("number"))]
    if number == 0:
        if not isinstance(bind, str) or not bind.startswith(UNIX_PREFIX):
            errors.append("%s.bind: a listener without a port number must bind a unix:// socket" % path)
        else:
            errors += _at(path + ".bind", check_unix_address(bind))
        if listener.get("capture_mode") not in (None, "DEFAULT", "NONE"):
            errors.append("%s.capture_mode: must be DEFAULT or NONE for unix domain socket listeners" % path)
        return errors
    errors += _at(path + ".port.number", check_port(number))
    if bind not in (None, ""):
        errors += _at(path + ".bind", check_ip(bind))
    return errors


def _check_egress(egress: Any) -> Errors:
    errors = _list_at("egress", egress)
    if errors:
        return errors
    numbers: List[int] = []
    sockets: List[str] = []
    for index, listener in enumerate(egress):
        path = join_index("egress", index)
        if not isinstance(listener, Mapping):
            errors.append("%s: must be a dict" % path)
            continue
        errors += _unknown(path, listener, ("port", "bind", "capture_mode", "hosts"))
        errors += _enum_at(path + ".capture_mode", listener.get("capture_mode"), CAPTURE_MODES)
        errors += _check_egress_hosts(path + ".hosts", listener.get("hosts"))
        if listener.get("port") is None:
            if index != len(egress) - 1:  # so there is at most one, too
                errors.append("%s: the egress listener without port must be the last one" % path)
            continue
        errors += _check_egress_listener(path, listener)
        port = listener["port"] if isinstance(listener["port"], Mapping) else {}
        number = as_int(port.get("number")) if port.get("number") is not None else 0
        if number == 0 and listener.get("bind") in sockets:
            errors.append("%s.bind: unix domain socket %r is already used" % (path, listener.get("bind")))
        elif number and number in numbers:
            errors.append("%s.port.number: port %d is already used by another egress listener" % (path, number))
        if number == 0:
            sockets.append(listener.get("bind"))
        else:
            numbers.append(number)
    return errors


def _check_outbound_traffic_policy(policy: Any) -> Errors:
    path = "outbound_traffic_policy"
    if not isinstance(policy, Mapping):
        return ["%s: must be a dict" % path]
    errors = _unknown(path, policy, ("mode", "egress_proxy"))
    errors += _enum_at(path + ".mode", policy.get("mode"), OUTBOUND_MODES)
    proxy = policy.get("egress_proxy")
    if proxy is None:
        return errors
    path += ".egress_proxy"
    if policy.get("mode") != "ALLOW_ANY":
        return errors + ["%s: may be set only with mode ALLOW_ANY" % path]
    if not isinstance(proxy, Mapping):
        return errors + ["%s: must be a dict with host, port and optional subset" % path]
    errors += _unknown(path, proxy, ("host", "port", "subset"))
    if proxy.get("host") is None:
        errors.append("%s.host: is required" % path)
    else:
        errors += _at(path + ".host", check_fqdn(proxy["host"]))
    if proxy.get("port") is None:
        errors.append("%s.port: is required" % path)
    else:
        errors += _at(path + ".port", check_port(proxy["port"]))
    if proxy.get("subset") is not None and not is_istio_dns_label(proxy["subset"]):
        errors.append("%s.subset: %r is not a valid subset name (DNS-1123 label)" % (path, proxy["subset"]))
    return errors


def validate_sidecar(params: Params) -> List[str]:
    errors = _check_metadata(params)
    warnings: Errors = []
    if params.get("workload_selector") is not None:
        errors += check_selector("workload_selector", params["workload_selector"])
        if not params["workload_selector"]:
            warnings.append("workload_selector: has no labels, the Sidecar applies to every workload in the namespace")
    if not params.get("ingress") and not params.get("egress") and params.get("outbound_traffic_policy") is None:
        errors.append("ingress/egress/outbound_traffic_policy: at least one is required (istiod rejects an empty Sidecar)")
    if params.get("ingress") is not None:
        errors += _check_ingress(params["ingress"])
    if params.get("egress") is not None:
        errors += _check_egress(params["egress"])
    if params.get("outbound_traffic_policy") is not None:
        errors += _check_outbound_traffic_policy(params["outbound_traffic_policy"])
    return _raise_or_warn("sidecar", errors, warnings)


# ---------------------------------------------------------------------------------------------
# Service (core v1): the mesh address of a VM workload
# ---------------------------------------------------------------------------------------------

_SERVICE_PORT_FIELDS = (("name", "name"), ("port", "port"), ("target_port", "targetPort"), ("protocol", "protocol"),
                        ("app_protocol", "appProtocol"))


def service_ports_from_map(ports: Any, app_protocols: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """The ``ports`` option of ``workload_service`` from a port name -> number map (the shape of
    WorkloadEntry ``ports`` and of ``mesh_workload_ports``), with an optional port name ->
    ``appProtocol`` map.

    ``{"http": 8080, "grpc": 3550}, {"grpc": "grpc"}`` gives
    ``[{"name": "grpc", "port": 3550, "app_protocol": "grpc"}, {"name": "http", "port": 8080}]``:
    ordered by port number (then name) so that the same map always gives the same list; decimal
    strings become ints; ``target_port`` and ``protocol`` are left to their defaults (the port
    number, TCP). Raises ``ValidationError`` when an argument is not a map or ``app_protocols``
    names a port that ``ports`` lacks; the Kubernetes rules are ``validate_service``'s.
    """
    errors: Errors = []
    if not isinstance(ports, Mapping):
        errors.append("ports: must be a dict of port name to port number, got %r" % (ports,))
    if app_protocols is not None and not isinstance(app_protocols, Mapping):
        errors.append("app_protocols: must be a dict of port name to app protocol, got %r" % (app_protocols,))
    if errors:
        raise ValidationError("service_ports_from_map", errors)
    app_protocols = app_protocols or {}
    for name in app_protocols:
        if name not in ports:
            errors.append("%s: there is no port named %r (ports: %s)"
                          % (join_key("app_protocols", name), name, ", ".join(str(k) for k in ports) or "none"))
    if errors:
        raise ValidationError("service_ports_from_map", errors)
    out = []
    for name, number in ports.items():
        port = {"name": name, "port": _number(number)}
        if app_protocols.get(name) is not None:
            port["app_protocol"] = app_protocols[name]
        out.append(port)

    def order(port: Dict[str, Any]) -> Tuple[bool, int, str]:
        number = as_int(port["port"])
        return (number is None, number or 0, str(port["name"]))

    return sorted(out, key=order)


def _service_port(options: Any) -> Any:
    """A ServicePort with the apiserver's defaults written out (protocol TCP, targetPort = port): the
    live object then equals what was applied, and the ``(port, protocol)`` list key is always present."""
    if not isinstance(options, Mapping):
        return options
    port = _fields(options, _SERVICE_PORT_FIELDS, numbers=("port", "target_port"))
    port.setdefault("protocol", "TCP")
    if "port" in port:
        port.setdefault("targetPort", port["port"])
    return port


def build_service(params: Params) -> Dict[str, Any]:
    spec: Dict[str, Any] = {}
    if params.get("selector") is not None:
        spec["selector"] = dict(params["selector"]) if isinstance(params["selector"], Mapping) else params["selector"]
    if params.get("ports") is not None:
        ports = params["ports"]
        spec["ports"] = [_service_port(port) for port in ports] if isinstance(ports, (list, tuple)) else ports
    spec["type"] = "ClusterIP"
    return _object("Service", _metadata(params), spec)


def _check_target_port(path: str, value: Any) -> Errors:
    number = as_int(value)
    if number is not None:
        return _at(path, check_port(number))
    if isinstance(value, str):
        return _at(path, check_iana_svc_name(value))
    return ["%s: %r is not a port number or a port name" % (path, value)]


def _check_service_port(path: str, port: Params) -> Errors:
    errors = _unknown(path, port, [option for option, _field in _SERVICE_PORT_FIELDS])
    if port.get("name") not in (None, ""):
        errors += _at(path + ".name", check_dns1123_label(port["name"]))
    errors += _required_port(path + ".port", port.get("port"))
    errors += _enum_at(path + ".protocol", port.get("protocol"), SERVICE_PROTOCOLS)
    if port.get("target_port") is not None:
        errors += _check_target_port(path + ".target_port", port["target_port"])
    if port.get("app_protocol") is not None:
        errors += _at(path + ".app_protocol", check_qualified_name(port["app_protocol"]))
    return errors


def _check_service_ports(ports: Any) -> Errors:
    if isinstance(ports, Mapping):
        return ["ports: must be a list of dicts (name, port, target_port, protocol, app_protocol), not a map of "
                "name to number; service_ports_from_map() converts such a map"]
    errors = _list_at("ports", ports, min_items=1)
    if errors:
        return errors
    names: List[Any] = []
    keys: List[Tuple[int, Any]] = []
    for index, port in enumerate(ports):
        path = join_index("ports", index)
        if not isinstance(port, Mapping):
            errors.append("%s: must be a dict with name and port" % path)
            continue
        errors += _check_service_port(path, port)
        name = port.get("name")
        if name in (None, ""):
            if len(ports) > 1:
                errors.append("%s.name: is required when the Service has more than one port" % path)
        elif name in names:
            errors.append("%s.name: port name %r is already defined" % (path, name))
        names.append(name)
        number, proto = as_int(port.get("port")), port.get("protocol") or "TCP"
        if number is not None and (number, proto) in keys:
            errors.append("%s.port: port %d/%s is already defined" % (path, number, proto))
        keys.append((number, proto))
    return errors


def validate_service(params: Params) -> List[str]:
    """The apiserver's rules for a ClusterIP Service with a selector (``ValidateService``)."""
    errors = _check_metadata(params, "Service")
    selector = params.get("selector")
    if selector is None:
        errors.append("selector: is required (the labels of the workloads; istiod matches them against "
                      "WorkloadEntries)")
    elif isinstance(selector, Mapping) and not selector:
        errors.append("selector: needs at least one label (an empty selector selects no endpoints)")
    else:
        errors += check_labels("selector", selector, max_items=10000)
    if params.get("ports") is None:
        errors.append("ports: is required (at least one port)")
    else:
        errors += _check_service_ports(params["ports"])
    return _raise_or_warn("workload_service", errors, [])


# ---------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------

BUILDERS: Dict[str, Callable[[Params], Dict[str, Any]]] = {
    "WorkloadEntry": build_workload_entry,
    "WorkloadGroup": build_workload_group,
    "ServiceEntry": build_service_entry,
    "Sidecar": build_sidecar,
    "Service": build_service,
}
VALIDATORS: Dict[str, Callable[[Params], List[str]]] = {
    "WorkloadEntry": validate_workload_entry,
    "WorkloadGroup": validate_workload_group,
    "ServiceEntry": validate_service_entry,
    "Sidecar": validate_sidecar,
    "Service": validate_service,
}


def build(kind: str, params: Params) -> Tuple[Dict[str, Any], List[str]]:
    """Validate ``params`` for ``kind`` and build the object: ``(object, warnings)``; raises ValidationError."""
    warnings = VALIDATORS[kind](params)
    return BUILDERS[kind](params), warnings

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Pure rendering of the VM bootstrap files ``istioctl x workload entry configure`` writes.

Inputs are already fetched (WorkloadGroup object, the ``mesh`` key of the ``istio[-<rev>]``
ConfigMap parsed as YAML, cluster ID, ...); outputs are file contents as strings:
``cluster.env``, ``mesh.yaml`` and ``hosts``. The token and root certificate are copied verbatim
by the caller and are not rendered here.

Behaviour follows ``istioctl/pkg/workload/workload.go`` of Istio 1.30, with these deliberate
differences (all make the output deterministic or stop a broken VM config early):

- ``ISTIO_INBOUND_PORTS`` lists the template ports sorted numerically without duplicates
  (istioctl iterates a Go map: random order).
- the template ``serviceAccount`` defaults to ``default`` for a WorkloadGroup read from the
  cluster too (istioctl only defaults it when reading a file).
- ``proxyMetadata`` values that are not strings, and ``internal_ip`` with ``external_ip``, or
  ``autoregister`` with ``workload_entry``, raise ``MeshError``.
- ``proxyMetadata`` keys end up as variables in ``cluster.env``, which ``istio-start.sh`` sources
  as root: a key that is not an environment variable name raises ``MeshError``, and so does a
  name that changes how the shell or the sidecar starts (``REFUSED_ENV``), unless the caller
  allows it by name (``allow_env``). istioctl writes any key.
- ``defaultConfig`` fields are not round-tripped through the ProxyConfig protobuf: top-level
  snake_case keys are renamed to camelCase, but unknown fields are kept and zero values are not
  dropped (except in ``readinessProbe``, whose zero values istioctl drops).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._goformat import go_json, go_yaml, shell_quote
from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import check_plain_ip, is_plain_ip

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML is a requirement of the collection
    yaml = None

PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
CANONICAL_NAME_LABEL = "service.istio.io/canonical-name"
CANONICAL_REVISION_LABEL = "service.istio.io/canonical-revision"
NAME_LABELS = (CANONICAL_NAME_LABEL, "app.kubernetes.io/name", "app")
REVISION_LABELS = (CANONICAL_REVISION_LABEL, "app.kubernetes.io/version", "version")
DEFAULT_ISTIO_NAMESPACE = "istio-system"   # istio-start.sh's default for ISTIO_SYSTEM_NAMESPACE
DEFAULT_CLUSTER_ID = "Kubernetes"          # istiod's CLUSTER_ID when the chart sets no clusterName
ISTIOD_XDS_PORT = 15012
DEFAULT_STATUS_PORT = 15020

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# Variables that, set in cluster.env (sourced by istio-start.sh as root, with `set -a`), change
# how the shell or the sidecar starts rather than what the proxy does: which user and binaries run
# it, what is interpolated into its `sudo ... bash -c` line, whether traffic is intercepted at all,
# where certificates go, and what the shell or the dynamic loader read from the environment.
REFUSED_ENV = frozenset((
    "EXEC_USER", "ISTIO_INBOUND_INTERCEPTION_MODE", "ISTIO_BIN_BASE", "ISTIO_LOG_DIR", "ISTIO_AGENT_FLAGS",
    "ISTIO_CUSTOM_IP_TABLES", "ISTIO_SIDECAR_CONFIG", "ISTIO_CLUSTER_CONFIG", "PROXY_CONFIG", "POD_NAME",
    "PROV_CERT", "OUTPUT_CERTS", "USER",
    "PATH", "HOME", "SHELL", "IFS", "ENV", "BASH_ENV", "BASHOPTS", "SHELLOPTS", "PS4", "PROMPT_COMMAND",
    "CDPATH", "GLOBIGNORE", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "TMPDIR",
))
REFUSED_ENV_PREFIXES = ("LD_", "BASH_FUNC_", "SUDO_")


@dataclass(frozen=True)
class BootstrapInputs:
    """Everything the bootstrap files depend on.

    ``workload_group``: the WorkloadGroup object (dict as read from the apiserver or a file).
    ``mesh_config``: the ``mesh`` key of the ``istio[-<revision>]`` ConfigMap, parsed as YAML.
    ``cluster_id``: ``--clusterID``, or ``values.global.multiCluster.clusterName`` of the injector.
    ``workload_entry``: name of a static WorkloadEntry for health checks (``ISTIO_META_WORKLOAD_ENTRY``).
    ``allow_env``: names of ``REFUSED_ENV`` that the operator allows in ``proxyMetadata``.
    """

    workload_group: Mapping[str, Any]
    mesh_config: Optional[Mapping[str, Any]]
    cluster_id: str
    revision: str = ""
    istio_namespace: str = DEFAULT_ISTIO_NAMESPACE
    autoregister: bool = False
    capture_dns: bool = True
    internal_ip: Optional[str] = None
    external_ip: Optional[str] = None
    ingress_ip: Optional[str] = None
    workload_entry: Optional[str] = None
    allow_env: tuple = ()


# --- small helpers ---------------------------------------------------------------------------------

def is_revisioned(revision: Optional[str]) -> bool:
    return bool(revision) and revision != "default"


def istiod_host(istio_namespace: str, revision: Optional[str] = "") -> str:
    istiod = "istiod-%s" % revision if is_revisioned(revision) else "istiod"
    return "%s.%s.svc" % (istiod, istio_namespace)


def istiod_address(istio_namespace: str, revision: Optional[str] = "") -> str:
    return "%s:%d" % (istiod_host(istio_namespace, revision), ISTIOD_XDS_PORT)


def canonical_service(labels: Mapping[str, str], workload_name: str) -> tuple:
    """(name, revision) from the canonical-service label fallbacks, else (workload name, "latest")."""
    name = next((labels[key] for key in NAME_LABELS if key in labels), workload_name)
    revision = next((labels[key] for key in REVISION_LABELS if key in labels), "latest")
    return name, revision


def pod_ports_json(ports: Mapping[str, int]) -> str:
    """``ISTIO_META_POD_PORTS``: ``[{"name":..,"containerPort":..,"protocol":""}]`` sorted by name; "" if none."""
    entries = []
    for name in sorted(ports):
        entry: Dict[str, Any] = {"name": name} if name else {}
        entry.update({"containerPort": int(ports[name]), "protocol": ""})
        entries.append(entry)
    if not entries:
        return ""
    return "[" + ",".join(_ordered_json(entry) for entry in entries) + "]"


def _ordered_json(entry: Mapping[str, Any]) -> str:
    """A Go struct's JSON: fields in declaration order (not sorted)."""
    return "{" + ",".join("%s:%s" % (go_json(key), go_json(value)) for key, value in entry.items()) + "}"


def ingress_ip_from_service(service: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The gateway IP istioctl would use: ``status.loadBalancer.ingress[0].ip``, else ``spec.externalIPs[0]``.

    A load balancer that publishes only a hostname gives ``None`` (istio/istio#31624).
    """
    if not service:
        return None
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        return ingress[0].get("ip") or None
    external = (service.get("spec") or {}).get("externalIPs") or []
    return external[0] if external else None


def ingress_hostname_from_service(service: Optional[Mapping[str, Any]]) -> Optional[str]:
    """``status.loadBalancer.ingress[0].hostname`` when the load balancer publishes a name, not an IP."""
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress and not ingress[0].get("ip"):
        return ingress[0].get("hostname") or None
    return None


def gateway_address(answers: List[str], current: Optional[str]) -> Optional[str]:
    """The address to reach a gateway at that publishes a hostname, from the controller's DNS answers
    (``answers``) and the address in the bundle's ``hosts`` file now (``current``, or None).

    The current address while DNS still gives it: a load balancer's answers come in rotating order,
    and taking the first each run would rewrite the VMs' hosts file, and restart their sidecars, at
    every run. Otherwise the lowest IPv4 address, then the lowest IPv6 one: the controller may
    prefer an IPv6 answer that an IPv4-only VM cannot reach. None when no answer is a plain IP."""
    plain = sorted({a for a in answers if is_plain_ip(a)}, key=lambda a: (":" in a, ipaddress.ip_address(a)))
    if current is not None and is_plain_ip(current):
        wanted = ipaddress.ip_address(current)
        for address in plain:
            if ipaddress.ip_address(address) == wanted:
                return address
    return plain[0] if plain else None


def no_gateway_address(service: Optional[Mapping[str, Any]], namespace: str, name: str) -> str:
    """Why the gateway Service ``namespace/name`` gives the VMs no address to reach istiod at
    (for a Service that has neither a load-balancer IP nor an external IP)."""
    where = "Service %s/%s" % (namespace, name)
    if service is None:
        return ("%s not found: the VMs reach istiod through this gateway Service; install the gateway, "
                "name another Service, or set the ingress IP" % where)
    hostname = ingress_hostname_from_service(service)
    if hostname:
        return ("%s publishes the load-balancer hostname %s, not an IP (istio/istio#31624); set the ingress IP "
                "to the address the VMs reach istiod at" % (where, hostname))
    return ("%s has no load-balancer address yet (status.loadBalancer.ingress is empty: the load balancer is "
            "pending) and no spec.externalIPs; wait for the address or set the ingress IP" % where)


def cluster_id_from_injector_values(values: Any) -> str:
    """``values.global.multiCluster.clusterName`` from the injector ConfigMap's ``values`` (JSON text or dict);
    empty there, the cluster ID istiod and its injected pods run with: ``Kubernetes`` (the istiod chart's
    ``clusterName | default "Kubernetes"``). '' only when there are no values at all."""
    if isinstance(values, str):
        if yaml is None:
            raise MeshError("PyYAML is required to read the injector values")
        try:
            values = yaml.safe_load(values) if values.strip() else {}
        except yaml.YAMLError as exc:
            raise MeshError("cannot parse the istio-sidecar-injector values: %s" % exc) from exc
    if not values:
        return ""
    node: Any = values
    for key in ("global", "multiCluster", "clusterName"):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, str) and node else DEFAULT_CLUSTER_ID


# --- inputs ----------------------------------------------------------------------------------------

def _group_parts(workload_group: Mapping[str, Any]) -> tuple:
    """(name, namespace, object annotations, spec.metadata, template) with istioctl's defaults filled."""
    metadata = workload_group.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not name or not namespace:
        raise MeshError("the WorkloadGroup needs metadata.name and metadata.namespace")
    spec = workload_group.get("spec") or {}
    template = dict(spec.get("template") or {})
    if not template.get("serviceAccount"):
        template["serviceAccount"] = "default"
    return name, namespace, metadata.get("annotations") or {}, spec.get("metadata") or {}, template


def check_inputs(inputs: BootstrapInputs) -> None:
    """Raise MeshError for flag combinations istioctl rejects, or that would give a broken VM config."""
    if inputs.internal_ip and inputs.external_ip:
        raise MeshError("internal_ip and external_ip are mutually exclusive")
    for field in ("internal_ip", "external_ip", "ingress_ip"):
        value = getattr(inputs, field)
        problem = check_plain_ip(value) if value else None
        if problem:
            raise MeshError("%s: %s" % (field, problem))
    if inputs.autoregister and inputs.workload_entry:
        raise MeshError("autoregister and workload_entry are mutually exclusive: "
                        "auto-registration creates its own WorkloadEntry")
    _group_parts(inputs.workload_group)


# --- proxy config (the defaultConfig of mesh.yaml) -------------------------------------------------

def _camel(key: str) -> str:
    return re.sub(r"_(.)", lambda m: m.group(1).upper(), key)


def _top_level(config: Mapping[str, Any]) -> Dict[str, Any]:
    """Protobuf JSON accepts field names and JSON names; keep one spelling (the JSON name wins)."""
    out: Dict[str, Any] = {}
    for key in sorted(config, key=lambda k: "_" not in str(k)):  # snake_case first, so camelCase wins
        if config[key] is not None:  # a JSON null leaves the field as it was
            out[_camel(str(key))] = copy.deepcopy(config[key])
    return out


def refused_env(name: str) -> bool:
    """Whether a cluster.env variable of this name changes how the shell or the sidecar starts."""
    return name in REFUSED_ENV or name.startswith(REFUSED_ENV_PREFIXES)


def _string_map(where: str, value: Any, allow_env: tuple = ()) -> Dict[str, str]:
    """proxyMetadata from ``where``: strings, keyed by environment variable names that are safe in
    a file root sources (or that the operator allowed by name)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MeshError("%s must be a map of strings" % where)
    for key, item in value.items():
        if not isinstance(key, str) or not ENV_NAME.match(key):
            raise MeshError("%s: key %r is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*); it would be "
                            "written to cluster.env, which the VM's root shell sources" % (where, key))
        if refused_env(key) and key not in allow_env:
            raise MeshError("%s: %s changes how the sidecar or its start script runs (as root) and is refused; "
                            "allow it by name (vm_bootstrap allow_proxy_metadata, role variable "
                            "mesh_workload_allow_proxy_metadata) if it is meant" % (where, key))
        if not isinstance(item, str):
            raise MeshError("%s.%s must be a string, got %r (quote it in the YAML)" % (where, key, item))
    return dict(value)


def _annotation_overlay(where: str, text: Any) -> Dict[str, Any]:
    if yaml is None:
        raise MeshError("PyYAML is required to read %s" % where)
    try:
        overlay = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError as exc:
        raise MeshError("%s is not valid YAML: %s" % (where, exc)) from exc
    if overlay is None:
        return {}
    if not isinstance(overlay, Mapping):
        raise MeshError("%s must be a YAML mapping of ProxyConfig fields" % where)
    return _top_level(overlay)


def _drop_zero_values(value: Any) -> Any:
    """Protobuf JSON of a message made of plain scalars: zero scalars and empty lists are omitted."""
    if isinstance(value, Mapping):
        return {k: _drop_zero_values(v) for k, v in value.items() if v not in (None, "", 0, False, [])}
    if isinstance(value, list):
        return [_drop_zero_values(item) for item in value]
    return value


def _mesh_default_config(mesh_config: Mapping[str, Any]) -> Dict[str, Any]:
    config = mesh_config.get("defaultConfig")
    if config is None:
        config = mesh_config.get("default_config")
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise MeshError("mesh config defaultConfig must be a mapping")
    return _top_level(config)


def _labels(spec_metadata: Mapping[str, Any], template: Mapping[str, Any]) -> Dict[str, str]:
    labels = dict(spec_metadata.get("labels") or {})
    labels.update(template.get("labels") or {})  # template labels win, as in istioctl
    return labels


def proxy_config(inputs: BootstrapInputs) -> Dict[str, Any]:
    """The ``defaultConfig`` istioctl writes to mesh.yaml (and whose proxyMetadata feeds cluster.env)."""
    check_inputs(inputs)
    name, namespace, annotations, spec_metadata, template = _group_parts(inputs.workload_group)
    mesh = inputs.mesh_config or {}
    config = _mesh_default_config(mesh)
    metadata = _string_map("mesh config defaultConfig.proxyMetadata", config.get("proxyMetadata"), inputs.allow_env)
    if is_revisioned(inputs.revision) and not config.get("discoveryAddress"):
        config["discoveryAddress"] = istiod_address(inputs.istio_namespace, inputs.revision)
    sources = (("metadata.annotations", annotations), ("spec.metadata.annotations", spec_metadata.get("annotations") or {}))
    for where, source in sources:
        if PROXY_CONFIG_ANNOTATION in source:
            label = "WorkloadGroup %s[%s]" % (where, PROXY_CONFIG_ANNOTATION)
            overlay = _annotation_overlay(label, source[PROXY_CONFIG_ANNOTATION])
            config.update(overlay)
            metadata.update(_string_map(label + ".proxyMetadata", config.get("proxyMetadata"), inputs.allow_env))
    config.pop("readinessProbe", None)
    probe = (inputs.workload_group.get("spec") or {}).get("probe")
    if probe is not None:
        config["readinessProbe"] = _drop_zero_values(probe)
    config["proxyMetadata"] = _with_workload_metadata(inputs, metadata, config, mesh, name, namespace, spec_metadata, template)
    return config


def _with_workload_metadata(inputs: BootstrapInputs, metadata: Dict[str, str], config: Mapping[str, Any],
                            mesh: Mapping[str, Any], name: str, namespace: str,
                            spec_metadata: Mapping[str, Any], template: Mapping[str, Any]) -> Dict[str, str]:
    labels = _labels(spec_metadata, template)
    service, revision = canonical_service(labels, name)
    metadata.update({
        "CANONICAL_SERVICE": service,
        "CANONICAL_REVISION": revision,
        "POD_NAMESPACE": namespace,
        "SERVICE_ACCOUNT": template["serviceAccount"],
        "TRUST_DOMAIN": _string_field(mesh, "trustDomain"),
        "ISTIO_META_CLUSTER_ID": inputs.cluster_id,
        "ISTIO_META_MESH_ID": _string_field(config, "meshId"),
        "ISTIO_META_NETWORK": template.get("network") or "",
        "ISTIO_META_WORKLOAD_NAME": name,
    })
    ports = pod_ports_json(template.get("ports") or {})
    if ports:
        metadata["ISTIO_META_POD_PORTS"] = ports
    labels[CANONICAL_NAME_LABEL] = service
    labels[CANONICAL_REVISION_LABEL] = revision
    metadata["ISTIO_METAJSON_LABELS"] = go_json(labels)
    if inputs.capture_dns:
        metadata["ISTIO_META_DNS_CAPTURE"] = "true"
    if inputs.autoregister:
        metadata["ISTIO_META_AUTO_REGISTER_GROUP"] = name
    if inputs.workload_entry:
        metadata["ISTIO_META_WORKLOAD_ENTRY"] = inputs.workload_entry
    return metadata


def _string_field(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if value is None:
        value = config.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key))
    return "" if value is None else str(value)


# --- the files -------------------------------------------------------------------------------------

def mesh_yaml(inputs: BootstrapInputs) -> str:
    """``mesh.yaml``: ``defaultConfig:`` with the proxy config, formatted as istioctl does."""
    return go_yaml({"defaultConfig": proxy_config(inputs)})


def _exclude_ports(config: Mapping[str, Any]) -> str:
    ports = "22,15090,15021"
    status_port = config.get("statusPort") or 0
    if status_port not in (15090, 15021):
        ports += ",%d" % (int(status_port) if status_port else DEFAULT_STATUS_PORT)
    return ports


def _inbound_ports(template: Mapping[str, Any]) -> str:
    numbers = sorted({int(number) for number in (template.get("ports") or {}).values()})
    return ",".join(str(number) for number in numbers) if numbers else "*"


def cluster_env_values(inputs: BootstrapInputs) -> Dict[str, str]:
    """The variables of cluster.env: the proxy metadata, overridden by the VM's own settings."""
    config = proxy_config(inputs)
    name, namespace, _annotations, _spec_metadata, template = _group_parts(inputs.workload_group)
    values = dict(config["proxyMetadata"])
    values.update({
        "ISTIO_INBOUND_PORTS": _inbound_ports(template),
        "ISTIO_NAMESPACE": namespace,
        "ISTIO_SERVICE": "%s.%s" % (name, namespace),
        "ISTIO_SERVICE_CIDR": "*",
        "ISTIO_LOCAL_EXCLUDE_PORTS": _exclude_ports(config),
        "SERVICE_ACCOUNT": template["serviceAccount"],
    })
    if is_revisioned(inputs.revision):
        values["CA_ADDR"] = istiod_address(inputs.istio_namespace, inputs.revision)
    elif inputs.istio_namespace != DEFAULT_ISTIO_NAMESPACE and "CA_ADDR" not in values:
        # istio-start.sh's default is istiod.${ISTIO_SYSTEM_NAMESPACE:-istio-system}.svc:15012, and
        # pilot-agent falls back to the discovery address only when CA_ADDR is empty: without it a
        # control plane in another namespace signs no certificate (istioctl writes none either)
        values["CA_ADDR"] = istiod_address(inputs.istio_namespace, inputs.revision)
    if inputs.internal_ip:
        values["ISTIO_SVC_IP"] = inputs.internal_ip
    elif inputs.external_ip:
        values["ISTIO_SVC_IP"] = inputs.external_ip
        values["REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION"] = "true"
    elif "ISTIO_SVC_IP" in values:
        # from proxyMetadata: istio-start.sh puts it unquoted into its `sudo ... bash -c` line
        problem = check_plain_ip(values["ISTIO_SVC_IP"])
        if problem:
            raise MeshError("proxyMetadata ISTIO_SVC_IP: %s; istio-start.sh runs it as part of a shell command"
                            % problem)
    return values


def env_file(values: Mapping[str, str]) -> str:
    """``KEY='value'`` lines, shell-quoted, sorted by the whole line, with a final newline."""
    lines = sorted("%s=%s" % (key, shell_quote(value)) for key, value in values.items())
    return "\n".join(lines) + "\n"


def cluster_env(inputs: BootstrapInputs) -> str:
    return env_file(cluster_env_values(inputs))


def hosts(inputs: BootstrapInputs) -> str:
    """``<ingress IP> istiod[-<rev>].<ns>.svc`` and a newline; empty when the IP is unknown or invalid."""
    entry = hosts_entry(inputs)
    return "%s %s\n" % (entry["address"], entry["name"]) if entry["address"] else ""


def hosts_entry(inputs: BootstrapInputs) -> Dict[str, Optional[str]]:
    """The line of ``hosts`` as data: istiod's name and the address the VM must resolve it to
    (None when ``hosts`` is empty: the VM then resolves the name by DNS)."""
    ip = inputs.ingress_ip if inputs.ingress_ip and is_plain_ip(inputs.ingress_ip) else None
    return {"name": istiod_host(inputs.istio_namespace, inputs.revision), "address": ip}


def render(inputs: BootstrapInputs) -> Dict[str, str]:
    """All rendered files by name: ``cluster.env``, ``mesh.yaml``, ``hosts``."""
    return {"cluster.env": cluster_env(inputs), "mesh.yaml": mesh_yaml(inputs), "hosts": hosts(inputs)}


def missing_ingress_ip_warning(inputs: BootstrapInputs) -> List[str]:
    """istioctl's warning when no gateway IP is known (the hosts file is then empty)."""
    if hosts(inputs):
        return []
    return ["could not determine the IP to reach %s from the VM; set the ingress IP explicitly"
            % istiod_host(inputs.istio_namespace, inputs.revision)]

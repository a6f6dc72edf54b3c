# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Pure pieces of a request across the mesh from a VM (module mesh_request): which of the
sidecar's outbound clusters serves a URL, its endpoints, and the identity in a peer certificate.
Standard library only: this runs on the VM."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError

DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_url(url: str) -> Tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; MeshError for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise MeshError("url: %s is not a valid URL: %s" % (url, exc))
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise MeshError("url: %s must be http:// or https:// with a host name" % url)
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def outbound_cluster(clusters: Mapping[str, Any], host: str, port: int) -> Optional[Dict[str, Any]]:
    """The sidecar's outbound cluster for ``host``:``port`` in Envoy's ``/clusters?format=json``.

    Istio names them ``outbound|<port>|<subset>|<FQDN>``; the short forms of a Kubernetes
    Service name (``svc``, ``svc.ns``, ``svc.ns.svc``) match the FQDN they abbreviate. An exact
    host wins over an abbreviation, the cluster without subset over subsets. Returns
    {name, endpoints: ["ip:port", ...]} (healthy endpoints first), or None.
    """
    best: Optional[Tuple[Tuple[int, int], Dict[str, Any]]] = None
    for status in clusters.get("cluster_statuses") or []:
        name = str(status.get("name", ""))
        parts = name.split("|")
        if len(parts) != 4 or parts[0] != "outbound" or parts[1] != str(port):
            continue
        level = _name_match(host, parts[3].lower())
        if level is None:
            continue
        rank = (level, 0 if parts[2] == "" else 1)
        if best is None or rank < best[0]:
            best = (rank, {"name": name, "endpoints": _endpoints(status)})
    return None if best is None else best[1]


def _name_match(host: str, fqdn: str) -> Optional[int]:
    """0: the same name; 1: a Kubernetes short form of it (svc.ns[.svc]); 2: a bare service
    name (svc, any namespace); None: another name."""
    if fqdn == host:
        return 0
    labels, parts = host.split("."), fqdn.split(".")
    if len(parts) < 4 or parts[2] != "svc":              # not <svc>.<ns>.svc.<domain>
        return None
    if len(labels) in (2, 3) and parts[:len(labels)] == labels:
        return 1
    if len(labels) == 1 and parts[0] == host:
        return 2
    return None


def _endpoints(status: Mapping[str, Any]) -> List[str]:
    healthy, other = [], []
    for host in status.get("host_statuses") or []:
        sock = (host.get("address") or {}).get("socket_address") or {}
        if "address" not in sock or "port_value" not in sock:
            continue
        address = "%s:%s" % (sock["address"], sock["port_value"])
        state = (host.get("health_status") or {}).get("eds_health_status", "HEALTHY")
        (healthy if state == "HEALTHY" else other).append(address)
    return healthy + other


def split_endpoint(endpoint: str) -> Tuple[str, int]:
    host, port = endpoint.rsplit(":", 1)
    return host.strip("[]"), int(port)


def istio_sni(host_fqdn: str, port: int) -> str:
    """The SNI an Istio sidecar sends to a mesh endpoint: outbound_.<port>_._.<FQDN>."""
    return "outbound_.%d_._.%s" % (port, host_fqdn)


def uri_sans(peer_cert: Optional[Mapping[str, Any]]) -> List[str]:
    """The URI subject alternative names of ``ssl.SSLSocket.getpeercert()`` (SPIFFE IDs)."""
    if not peer_cert:
        return []
    return [value for kind, value in peer_cert.get("subjectAltName", ()) if kind == "URI"]

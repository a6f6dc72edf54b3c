# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Data tables shared by the unit tests and (later) the integration tests.

``INVALID_CASES``: ``(kind, bad_options, expected_message_fragment, valid_twin_options)``. The bad
options break exactly one rule; the valid twin is the same options with that rule respected, and
must be accepted by a real apiserver with the Istio 1.30 CRDs and istiod's validating webhook
(the integration suite applies every twin; Service twins meet the apiserver's own validation). Every twin has a unique ``name`` and the namespace
``NAMESPACE``; a suite that uses another namespace should replace ``namespace`` in both.

``BUILD_CASES``: ``(kind, options, expected_object)`` for the builders.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, NamedTuple

NAMESPACE = "istio-vm-cases"
DROP = object()  # in a change set: remove the option


class Case(NamedTuple):
    kind: str
    bad: Dict[str, Any]
    message: str
    twin: Dict[str, Any]


BASES: Dict[str, Dict[str, Any]] = {
    "WorkloadEntry": {
        "namespace": NAMESPACE,
        "address": "10.10.0.10",
        "ports": {"http": 8080},
        "labels": {"app": "vm-app"},
        "service_account": "vm-sa",
    },
    "WorkloadGroup": {
        "namespace": NAMESPACE,
        "labels": {"app": "vm-app"},
        "template": {"service_account": "vm-sa", "ports": {"http": 8080}},
        "probe": {"period_seconds": 5, "http_get": {"port": 8080, "path": "/ready"}},
    },
    "ServiceEntry": {
        "namespace": NAMESPACE,
        "hosts": ["api.example.com"],
        "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
        "location": "MESH_EXTERNAL",
        "resolution": "DNS",
    },
    "Sidecar": {
        "namespace": NAMESPACE,
        "egress": [{"hosts": ["./*", "istio-system/*"]}],
    },
    "Service": {
        "namespace": NAMESPACE,
        "selector": {"app": "vm-app"},
        "ports": [{"name": "http", "port": 8080, "app_protocol": "http"}],
    },
}


def _apply(options: Dict[str, Any], changes: Dict[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(options)
    for key, value in changes.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    return out


def case(kind: str, name: str, message: str, bad: Dict[str, Any], twin: Dict[str, Any] = None) -> Case:
    """The twin is the kind's base with ``twin`` changes; the bad options are the twin with ``bad`` changes."""
    valid = _apply(BASES[kind], dict(twin or {}, name=name))
    return Case(kind, _apply(valid, bad), message, valid)


WE, WG, SE, SC, SV = "WorkloadEntry", "WorkloadGroup", "ServiceEntry", "Sidecar", "Service"
LONG_62 = "p" * 62
LONG_63 = "v" * 63

_UNIX_WE = {"address": "unix:///var/run/vm-app.sock", "ports": DROP}
_STATIC_SE = {"resolution": "STATIC", "addresses": ["240.240.10.10"], "endpoints": [{"address": "10.10.0.20"}]}
_EGRESS_PROXY = {"host": "egress-proxy.istio-system.svc.cluster.local", "port": 3128}
_HTTP, _GRPC = {"name": "http", "port": 8080}, {"name": "grpc", "port": 3550}

INVALID_CASES: List[Case] = [
    # --- WorkloadEntry ------------------------------------------------------------------------
    case(WE, "we-bad-ipv4", "address: '10.10.0.300' is not an IP address, a valid FQDN",
         {"address": "10.10.0.300"}),
    case(WE, "we-bad-fqdn", "address: 'vm_host.example.com' is not an IP address, a valid FQDN",
         {"address": "vm_host.example.com"}, {"address": "vm-host.example.com"}),
    case(WE, "we-port-too-high", "ports.http: 70000 is not in 1..65535", {"ports": {"http": 70000}}, {"ports": {"http": 7000}}),
    case(WE, "we-port-zero", "ports.http: 0 is not in 1..65535", {"ports": {"http": 0}}),
    case(WE, "we-port-name-underscore", "ports.http_alt: port name 'http_alt' must match",
         {"ports": {"http_alt": 8081}}, {"ports": {"http-alt": 8081}}),
    case(WE, "we-port-name-leading-dash", "port name '-http' must match", {"ports": {"-http": 8080}}),
    case(WE, "we-port-name-63", "is longer than 62 characters", {"ports": {LONG_62 + "p": 8080}}, {"ports": {LONG_62: 8080}}),
    case(WE, "we-label-key-space", 'labels["bad key"]: key \'bad key\'',
         {"labels": {"bad key": "x"}}, {"labels": {"bad-key": "x"}}),
    case(WE, "we-label-value-dash", "labels.app: value '-vm'", {"labels": {"app": "-vm"}}, {"labels": {"app": "vm"}}),
    case(WE, "we-label-value-64", "labels.version: value", {"labels": {"version": LONG_63 + "v"}},
         {"labels": {"version": LONG_63}}),
    case(WE, "we-no-address-no-network", "address: is required unless network is set",
         {"address": DROP, "network": DROP}, {"address": DROP, "network": "vm-network"}),
    case(WE, "we-unix-relative", "address: 'var/run/vm-app.sock' is not an absolute path to a file",
         {"address": "unix://var/run/vm-app.sock"}, _UNIX_WE),
    case(WE, "we-unix-with-ports", "ports: must not be set with a unix:// address", {"ports": {"http": 8080}}, _UNIX_WE),
    case(WE, "we-unix-dir", "is not an absolute path to a file", {"address": "unix:///var/run/"}, _UNIX_WE),
    case(WE, "we-weight-negative", "weight: -1 is not in 0..4294967295", {"weight": -1}, {"weight": 10}),
    case(WE, "we-name-uppercase", "name: 'VM_Entry' is not a DNS-1123 subdomain", {"name": "VM_Entry"}),
    case(WE, "we-namespace-underscore", "namespace: 'bad_ns' is not a DNS-1123 label", {"namespace": "bad_ns"}),
    case(WE, "we-metadata-label-value", "metadata_labels.tier: value 'web*'", {"metadata_labels": {"tier": "web*"}},
         {"metadata_labels": {"tier": "web"}}),
    case(WE, "we-annotation-key", 'metadata_annotations["bad key"]: key', {"metadata_annotations": {"bad key": "x"}},
         {"metadata_annotations": {"example.com/owner": "x"}}),
    case(WE, "we-service-account", "service_account: 'VM SA' is not a DNS-1123 subdomain", {"service_account": "VM SA"}),
    case(WE, "we-address-too-long", "address: is 257 characters long, the limit is 256",
         {"address": "a" * 251 + ".vm.io"}, {"address": "a" * 60 + ".vm.io"}),
    # --- WorkloadGroup ------------------------------------------------------------------------
    case(WG, "wg-two-probes", "probe: only one of http_get, tcp_socket, exec may be set, got http_get, tcp_socket",
         {"probe": {"http_get": {"port": 8080}, "tcp_socket": {"port": 8080}}}),
    case(WG, "wg-probe-no-method", "probe: needs exactly one of http_get, tcp_socket, exec",
         {"probe": {"period_seconds": 5}}, {"probe": {"period_seconds": 5, "tcp_socket": {"port": 8080}}}),
    case(WG, "wg-probe-grpc", "probe.grpc: not accepted by istiod 1.30 validation", {"probe": {"grpc": {"port": 8080}}}),
    case(WG, "wg-probe-http-port-zero", "probe.http_get.port: 0 is not in 1..65535", {"probe": {"http_get": {"port": 0}}}),
    case(WG, "wg-probe-http-port-missing", "probe.http_get.port: is required", {"probe": {"http_get": {"path": "/ready"}}}),
    case(WG, "wg-probe-scheme", "probe.http_get.scheme: 'TCP' is not one of HTTP, HTTPS",
         {"probe": {"http_get": {"port": 8443, "scheme": "TCP"}}}, {"probe": {"http_get": {"port": 8443, "scheme": "HTTPS"}}}),
    case(WG, "wg-probe-header-underscore", "probe.http_get.http_headers[0].name: 'X_Probe' is not a valid header name",
         {"probe": {"http_get": {"port": 8080, "http_headers": [{"name": "X_Probe", "value": "1"}]}}},
         {"probe": {"http_get": {"port": 8080, "http_headers": [{"name": "X-Probe", "value": "1"}]}}}),
    case(WG, "wg-probe-exec-empty", "probe.exec.command: is required", {"probe": {"exec": {"command": []}}},
         {"probe": {"exec": {"command": ["/usr/bin/test", "-f", "/var/run/vm-app.ready"]}}}),
    case(WG, "wg-probe-negative-period", "probe.period_seconds: -1 is not in 0..2147483647",
         {"probe": {"period_seconds": -1, "tcp_socket": {"port": 8080}}},
         {"probe": {"period_seconds": 10, "tcp_socket": {"port": 8080}}}),
    case(WG, "wg-probe-tcp-port", "probe.tcp_socket.port: 65536 is not in 1..65535", {"probe": {"tcp_socket": {"port": 65536}}},
         {"probe": {"tcp_socket": {"port": 6553}}}),
    case(WG, "wg-template-address", "template.address: '10.10.0.300' is not an IP address, a valid FQDN",
         {"template": {"service_account": "vm-sa", "address": "10.10.0.300"}},
         {"template": {"service_account": "vm-sa", "address": "2.2.2.2"}}),
    case(WG, "wg-template-unix-ports", "template.ports: must not be set with a unix:// address",
         {"template": {"address": "unix:///var/run/vm.sock", "ports": {"http": 8080}}},
         {"template": {"address": "unix:///var/run/vm.sock"}}),
    case(WG, "wg-no-template", "template: is required", {"template": DROP}, {"template": {}}),
    case(WG, "wg-template-port-name", "template.ports.grpc_web: port name 'grpc_web' must match",
         {"template": {"ports": {"grpc_web": 9090}}}, {"template": {"ports": {"grpc-web": 9090}}}),
    case(WG, "wg-template-port-range", "template.ports.http: 65536 is not in 1..65535", {"template": {"ports": {"http": 65536}}}),
    case(WG, "wg-labels-key", "labels.-app: key '-app'", {"labels": {"-app": "vm-app"}}),
    case(WG, "wg-template-label-value", "template.labels.version: value 'v1 beta'",
         {"template": {"labels": {"version": "v1 beta"}}}, {"template": {"labels": {"version": "v1-beta"}}}),
    case(WG, "wg-template-sa", "template.service_account: 'Default' is not a DNS-1123 subdomain",
         {"template": {"service_account": "Default"}}, {"template": {"service_account": "default"}}),
    # --- ServiceEntry -------------------------------------------------------------------------
    case(SE, "se-star-host", "hosts[0]: '*' is not allowed in a ServiceEntry", {"hosts": ["*"]},
         {"hosts": ["*.example.com"], "resolution": "NONE"}),
    case(SE, "se-no-hosts", "hosts: is required", {"hosts": DROP}),
    case(SE, "se-empty-hosts", "hosts: needs at least 1 item(s)", {"hosts": []}),
    case(SE, "se-host-underscore", "hosts[0]: domain name 'api_v2.example.com' invalid", {"hosts": ["api_v2.example.com"]},
         {"hosts": ["api-v2.example.com"]}),
    case(SE, "se-dup-port-number", "ports[1].number: port 443 is already defined",
         {"ports": [{"number": 443, "name": "tls", "protocol": "TLS"}, {"number": 443, "name": "tls-2", "protocol": "TLS"}]},
         {"ports": [{"number": 443, "name": "tls", "protocol": "TLS"}, {"number": 8443, "name": "tls-2", "protocol": "TLS"}]}),
    case(SE, "se-dup-port-name", "ports[1].name: port name 'tls' is already defined",
         {"ports": [{"number": 443, "name": "tls", "protocol": "TLS"}, {"number": 8443, "name": "tls", "protocol": "TLS"}]},
         {"ports": [{"number": 443, "name": "tls", "protocol": "TLS"}, {"number": 8443, "name": "tls-alt", "protocol": "TLS"}]}),
    case(SE, "se-port-zero", "ports[0].number: 0 is not in 1..65535", {"ports": [{"number": 0, "name": "tls", "protocol": "TLS"}]}),
    case(SE, "se-port-no-name", "ports[0].name: is required", {"ports": [{"number": 443, "protocol": "TLS"}]}),
    case(SE, "se-port-name-underscore", "ports[0].name: port name 'tls_1' must match",
         {"ports": [{"number": 443, "name": "tls_1", "protocol": "TLS"}]},
         {"ports": [{"number": 443, "name": "tls-1", "protocol": "TLS"}]}),
    case(SE, "se-protocol", "ports[0].protocol: unsupported protocol 'SCTP'",
         {"ports": [{"number": 5000, "name": "app", "protocol": "SCTP"}]},
         {"ports": [{"number": 5000, "name": "app", "protocol": "TCP"}]}),
    case(SE, "se-target-port", "ports[0].target_port: 70000 is not in 1..65535",
         {"ports": [{"number": 443, "name": "tls", "protocol": "TLS", "target_port": 70000}]},
         {"ports": [{"number": 443, "name": "tls", "protocol": "TLS", "target_port": 8443}]}),
    case(SE, "se-selector-and-endpoints", "only one of workload_selector or endpoints may be set",
         {"workload_selector": {"app": "vm-app"}}, _STATIC_SE),
    case(SE, "se-none-with-endpoints", "endpoints: must not be set with resolution NONE",
         {"resolution": "NONE"}, _STATIC_SE),
    case(SE, "se-static-fqdn-endpoint", "endpoints[0].address: 'vm.example.com' is not a valid IP address",
         {"endpoints": [{"address": "vm.example.com"}]}, _STATIC_SE),
    case(SE, "se-static-unix-two-ports", "a unix:// endpoint needs exactly 1 service port",
         {"ports": [{"number": 443, "name": "tls", "protocol": "TLS"}, {"number": 8443, "name": "tls-2", "protocol": "TLS"}]},
         {"resolution": "STATIC", "addresses": ["240.240.10.11"], "endpoints": [{"address": "unix:///var/run/api.sock"}]}),
    case(SE, "se-round-robin-two-endpoints", "resolution DNS_ROUND_ROBIN allows at most 1 endpoint, got 2",
         {"endpoints": [{"address": "a.example.com"}, {"address": "b.example.com"}]},
         {"resolution": "DNS_ROUND_ROBIN", "endpoints": [{"address": "a.example.com"}]}),
    case(SE, "se-cidr-with-dns", "addresses: CIDR addresses are allowed only with resolution NONE or STATIC, not DNS",
         {"resolution": "DNS"}, {"resolution": "NONE", "addresses": ["240.240.0.0/16"]}),
    case(SE, "se-bad-cidr", "addresses[0]: '240.240.0.0/33' is not a valid CIDR block", {"addresses": ["240.240.0.0/33"]},
         {"resolution": "NONE", "addresses": ["240.240.0.0/24"]}),
    case(SE, "se-bad-address", "addresses[0]: '240.240.0.256' is not a valid IP address", {"addresses": ["240.240.0.256"]},
         {"addresses": ["240.240.0.25"]}),
    case(SE, "se-endpoint-port-unknown", "endpoints[0].ports.https: port name 'https' is not one of the ServiceEntry's ports (tls)",
         {"endpoints": [{"address": "10.10.0.20", "ports": {"https": 8443}}]},
         dict(_STATIC_SE, endpoints=[{"address": "10.10.0.20", "ports": {"tls": 8443}}])),
    case(SE, "se-dns-wildcard-no-endpoints", "hosts[0]: must be an FQDN without wildcard when resolution is DNS",
         {"resolution": "DNS"}, {"hosts": ["*.example.com"], "resolution": "NONE"}),
    case(SE, "se-multi-host-tcp", "ports[0].protocol: with several hosts and resolution DNS every port must be HTTP-like or TLS",
         {"ports": [{"number": 5432, "name": "pg", "protocol": "TCP"}]},
         {"hosts": ["db1.example.com", "db2.example.com"], "ports": [{"number": 5432, "name": "pg", "protocol": "TLS"}]}),
    case(SE, "se-location", "location: 'OUTSIDE' is not one of MESH_EXTERNAL, MESH_INTERNAL", {"location": "OUTSIDE"}),
    case(SE, "se-resolution", "resolution: 'ROUND_ROBIN' is not one of NONE, STATIC, DNS", {"resolution": "ROUND_ROBIN"}),
    case(SE, "se-export-public-and-ns", "export_to: cannot have both public (*) and other entries",
         {"export_to": ["*", "istio-system"]}, {"export_to": ["*"]}),
    case(SE, "se-export-none-and-dot", "export_to: cannot export to no one (~) and someone", {"export_to": ["~", "."]},
         {"export_to": ["~"]}),
    case(SE, "se-export-dup-dot", "export_to[1]: duplicate entry 'istio-vm-cases'",
         {"export_to": [".", NAMESPACE]}, {"export_to": ["."]}),
    case(SE, "se-selector-wildcard", "workload_selector.app: wildcard is not supported in a selector",
         {"workload_selector": {"app": "vm-*"}}, {"resolution": "STATIC", "workload_selector": {"app": "vm-app"}}),
    case(SE, "se-dynamic-dns-plain-host", "hosts[0]: must be wildcarded (*.example.com) for resolution DYNAMIC_DNS",
         {"hosts": ["api.example.com"]}, {"hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS"}),
    # --- Sidecar ------------------------------------------------------------------------------
    case(SC, "sc-empty", "at least one is required (istiod rejects an empty Sidecar)", {"egress": DROP},
         {"workload_selector": {"app": "vm-app"}}),
    case(SC, "sc-default-endpoint-ip", "ingress[0].default_endpoint: '10.10.0.10:8080' must be 127.0.0.1:<port>",
         {"ingress": [{"port": {"number": 9080, "name": "http", "protocol": "HTTP"}, "default_endpoint": "10.10.0.10:8080"}]},
         {"ingress": [{"port": {"number": 9080, "name": "http", "protocol": "HTTP"}, "default_endpoint": "127.0.0.1:8080"}]}),
    case(SC, "sc-default-endpoint-name", "'localhost:8080' must be 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port>",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "localhost:8080"}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "0.0.0.0:8080"}]}),
    case(SC, "sc-default-endpoint-no-port", "missing port in address",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "[::1]"}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "[::1]:8080"}]}),
    case(SC, "sc-default-endpoint-unix", "'app.sock' is not an absolute path to a file",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "unix://app.sock"}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "unix:///var/run/app.sock"}]}),
    case(SC, "sc-default-endpoint-port-name", "port 'http' of '127.0.0.1:http' is not a number",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "127.0.0.1:http"}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "[::]:8080"}]}),
    case(SC, "sc-ingress-no-port", "ingress[0].port: is required for ingress listeners",
         {"ingress": [{"default_endpoint": "127.0.0.1:8080"}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "default_endpoint": "127.0.0.1:8080"}]}),
    case(SC, "sc-ingress-dup-port", "ingress[1].port.number: port 9080 is already used",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}}, {"port": {"number": 9080, "protocol": "TCP"}}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}}, {"port": {"number": 9081, "protocol": "TCP"}}]}),
    case(SC, "sc-ingress-port-range", "ingress[0].port.number: 65536 is not in 1..65535",
         {"ingress": [{"port": {"number": 65536, "protocol": "HTTP"}}]}, {"ingress": [{"port": {"number": 6553, "protocol": "HTTP"}}]}),
    case(SC, "sc-ingress-target-port", "ingress[0].port.target_port: has no effect on Sidecars",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP", "target_port": 8080}}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}}]}),
    case(SC, "sc-ingress-bind", "ingress[0].bind: 'localhost' is not a valid IP address",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "bind": "localhost"}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "bind": "0.0.0.0"}]}),
    case(SC, "sc-ingress-capture-mode", "ingress[0].capture_mode: 'REDIRECT' is not one of DEFAULT, IPTABLES, NONE",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "capture_mode": "REDIRECT"}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP"}, "capture_mode": "DEFAULT"}]}),
    case(SC, "sc-ingress-port-name", "ingress[0].port.name: port name 'http_1' must match",
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP", "name": "http_1"}}]},
         {"ingress": [{"port": {"number": 9080, "protocol": "HTTP", "name": "http-1"}}]}),
    case(SC, "sc-egress-host-no-ns", "egress[0].hosts[0]: 'api.example.com' must be of the form namespace/dnsName",
         {"egress": [{"hosts": ["api.example.com"]}]}, {"egress": [{"hosts": ["*/api.example.com"]}]}),
    case(SC, "sc-egress-short-name", "egress[0].hosts[0]: short name 'reviews' is not allowed",
         {"egress": [{"hosts": ["./reviews"]}]}, {"egress": [{"hosts": ["./reviews.default.svc.cluster.local"]}]}),
    case(SC, "sc-egress-bad-namespace", "egress[0].hosts[0]: invalid namespace 'bad_ns'",
         {"egress": [{"hosts": ["bad_ns/*"]}]}, {"egress": [{"hosts": ["istio-system/*"]}]}),
    case(SC, "sc-egress-partial-wildcard", "egress[0].hosts[0]: partial wildcard '*api.example.com' not allowed",
         {"egress": [{"hosts": ["*/*api.example.com"]}]}, {"egress": [{"hosts": ["*/*.example.com"]}]}),
    case(SC, "sc-egress-catch-all-first", "egress[0]: the egress listener without port must be the last one",
         {"egress": [{"hosts": ["./*"]}, {"port": {"number": 8080, "protocol": "HTTP"}, "hosts": ["istio-system/*"]}]},
         {"egress": [{"port": {"number": 8080, "protocol": "HTTP"}, "hosts": ["istio-system/*"]}, {"hosts": ["./*"]}]}),
    case(SC, "sc-egress-two-catch-alls", "egress[0]: the egress listener without port must be the last one",
         {"egress": [{"hosts": ["./*"]}, {"hosts": ["istio-system/*"]}]}, {"egress": [{"hosts": ["./*", "istio-system/*"]}]}),
    case(SC, "sc-egress-port-zero-no-socket", "egress[0].bind: a listener without a port number must bind a unix:// socket",
         {"egress": [{"port": {"number": 0, "protocol": "HTTP"}, "hosts": ["./*"]}]},
         {"egress": [{"port": {"number": 8080, "protocol": "HTTP"}, "hosts": ["./*"]}]}),
    case(SC, "sc-egress-dup-port", "egress[1].port.number: port 8080 is already used",
         {"egress": [{"port": {"number": 8080, "protocol": "HTTP"}, "hosts": ["./*"]},
                     {"port": {"number": 8080, "protocol": "HTTP"}, "hosts": ["istio-system/*"]}]},
         {"egress": [{"port": {"number": 8080, "protocol": "HTTP"}, "hosts": ["./*"]},
                     {"port": {"number": 8081, "protocol": "HTTP"}, "hosts": ["istio-system/*"]}]}),
    case(SC, "sc-egress-protocol", "egress[0].port.protocol: unsupported protocol 'FTP'",
         {"egress": [{"port": {"number": 2121, "protocol": "FTP"}, "hosts": ["./*"]}]},
         {"egress": [{"port": {"number": 2121, "protocol": "TCP"}, "hosts": ["./*"]}]}),
    case(SC, "sc-egress-proxy-registry-only", "outbound_traffic_policy.egress_proxy: may be set only with mode ALLOW_ANY",
         {"outbound_traffic_policy": {"mode": "REGISTRY_ONLY", "egress_proxy": _EGRESS_PROXY}},
         {"outbound_traffic_policy": {"mode": "ALLOW_ANY", "egress_proxy": _EGRESS_PROXY}}),
    case(SC, "sc-outbound-mode", "outbound_traffic_policy.mode: 'DENY' is not one of REGISTRY_ONLY, ALLOW_ANY",
         {"outbound_traffic_policy": {"mode": "DENY"}}, {"outbound_traffic_policy": {"mode": "REGISTRY_ONLY"}}),
    case(SC, "sc-egress-proxy-no-port", "outbound_traffic_policy.egress_proxy.port: is required",
         {"outbound_traffic_policy": {"mode": "ALLOW_ANY", "egress_proxy": {"host": _EGRESS_PROXY["host"]}}},
         {"outbound_traffic_policy": {"mode": "ALLOW_ANY", "egress_proxy": _EGRESS_PROXY}}),
    case(SC, "sc-egress-proxy-wildcard", "outbound_traffic_policy.egress_proxy.host: domain name '*.proxy.example.com' invalid",
         {"outbound_traffic_policy": {"mode": "ALLOW_ANY", "egress_proxy": {"host": "*.proxy.example.com", "port": 3128}}},
         {"outbound_traffic_policy": {"mode": "ALLOW_ANY", "egress_proxy": _EGRESS_PROXY}}),
    case(SC, "sc-selector-empty-key", "workload_selector[\"\"]: empty key is not supported in a selector",
         {"workload_selector": {"": "vm-app"}}, {"workload_selector": {"app": "vm-app"}}),
    # --- Service (the apiserver's rules, Kubernetes 1.36) ---------------------------------------
    # stricter than 1.36 (RelaxedServiceNameValidation), as strict as every earlier apiserver
    case(SV, "svc-name-digit", "name: '9-ratings' is not a DNS-1035 label", {"name": "9-ratings"}),
    case(SV, "svc-name-dot", "name: 'svc.ratings' is not a DNS-1035 label", {"name": "svc.ratings"}),
    case(SV, "svc-no-selector", "selector: is required", {"selector": DROP}),
    case(SV, "svc-empty-selector", "selector: needs at least one label", {"selector": {}}),
    case(SV, "svc-selector-value", "selector.app: value 'vm app'", {"selector": {"app": "vm app"}},
         {"selector": {"app": "vm-app", "version": "v1"}}),
    case(SV, "svc-no-ports", "ports: is required", {"ports": DROP}),
    case(SV, "svc-empty-ports", "ports: needs at least 1 item(s)", {"ports": []}),
    case(SV, "svc-ports-map", "ports: must be a list of dicts", {"ports": {"http": 8080}}),
    case(SV, "svc-unnamed-of-two", "ports[0].name: is required when the Service has more than one port",
         {"ports": [{"port": 8080}, _GRPC]}, {"ports": [_HTTP, _GRPC]}),
    case(SV, "svc-single-unnamed", "ports[0].name: 'HTTP' is not a DNS-1123 label",
         {"ports": [{"name": "HTTP", "port": 8080}]}, {"ports": [{"port": 8080}]}),
    case(SV, "svc-port-name-64", "ports[0].name: is 64 characters long, the limit is 63",
         {"ports": [{"name": "h" * 64, "port": 8080}]}, {"ports": [{"name": "h" * 63, "port": 8080}]}),
    case(SV, "svc-dup-name", "ports[1].name: port name 'http' is already defined",
         {"ports": [_HTTP, {"name": "http", "port": 8081}]}, {"ports": [_HTTP, {"name": "http-alt", "port": 8081}]}),
    case(SV, "svc-dup-port", "ports[1].port: port 8080/TCP is already defined",
         {"ports": [_HTTP, {"name": "http-alt", "port": 8080}]},
         {"ports": [_HTTP, {"name": "http-udp", "port": 8080, "protocol": "UDP"}]}),
    case(SV, "svc-port-zero", "ports[0].port: 0 is not in 1..65535", {"ports": [{"name": "http", "port": 0}]}),
    case(SV, "svc-port-missing", "ports[0].port: is required", {"ports": [{"name": "http", "target_port": 8080}]},
         {"ports": [{"name": "http", "port": 80, "target_port": 8080}]}),
    case(SV, "svc-protocol-case", "ports[0].protocol: 'tcp' is not one of TCP, UDP, SCTP",
         {"ports": [dict(_HTTP, protocol="tcp")]}, {"ports": [dict(_HTTP, protocol="TCP")]}),
    case(SV, "svc-protocol-l7", "ports[0].protocol: 'HTTP' is not one of TCP, UDP, SCTP",
         {"ports": [dict(_HTTP, protocol="HTTP")]}, {"ports": [dict(_HTTP, protocol="SCTP")]}),
    case(SV, "svc-target-port-range", "ports[0].target_port: 70000 is not in 1..65535",
         {"ports": [dict(_HTTP, target_port=70000)]}, {"ports": [dict(_HTTP, target_port=9080)]}),
    case(SV, "svc-target-port-name-16", "ports[0].target_port: port name 'http-metrics-api' is 16 characters long",
         {"ports": [dict(_HTTP, target_port="http-metrics-api")]}, {"ports": [dict(_HTTP, target_port="http-metrics")]}),
    case(SV, "svc-target-port-name-dashes", "ports[0].target_port: port name 'http--alt' must have no '--'",
         {"ports": [dict(_HTTP, target_port="http--alt")]}, {"ports": [dict(_HTTP, target_port="http-alt")]}),
    case(SV, "svc-app-protocol", "ports[0].app_protocol: 'http 2' is not a qualified name",
         {"ports": [dict(_HTTP, app_protocol="http 2")]}, {"ports": [dict(_HTTP, app_protocol="kubernetes.io/h2c")]}),
    case(SV, "svc-app-protocol-prefix", "ports[0].app_protocol: 'Example.com/h2' has an invalid prefix",
         {"ports": [dict(_HTTP, app_protocol="Example.com/h2")]}, {"ports": [dict(_HTTP, app_protocol="example.com/h2")]}),
    case(SV, "svc-port-unknown-option", "ports[0]: unknown option(s) number",
         {"ports": [{"name": "http", "port": 8080, "number": 8080}]}),
]


# --- builders --------------------------------------------------------------------------------------

def _meta(name: str, **extra: Any) -> Dict[str, Any]:
    return dict({"name": name, "namespace": NAMESPACE}, **extra)


def _obj(kind: str, metadata: Dict[str, Any], spec: Dict[str, Any]) -> Dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": kind, "metadata": metadata, "spec": spec}


BUILD_CASES = [
    (WE, {"name": "we-min", "namespace": NAMESPACE, "address": "10.10.0.10", "ports": None, "labels": None,
          "network": None, "health_checks": None},
     _obj(WE, _meta("we-min"), {"address": "10.10.0.10"})),
    (WE, {"name": "we-full", "namespace": NAMESPACE, "metadata_labels": {"team": "vm"},
          "metadata_annotations": {"example.com/owner": "ops"}, "address": "vm.example.com",
          "ports": {"http": "8080", "grpc": 9090}, "labels": {"app": "vm-app", "version": "v1"}, "network": "vm-net",
          "locality": "eu-west/zone-a", "weight": "5", "service_account": "vm-sa", "health_checks": True},
     _obj(WE, _meta("we-full", labels={"team": "vm"},
                    annotations={"example.com/owner": "ops", "proxy.istio.io/health-checks-enabled": "true"}),
          {"address": "vm.example.com", "ports": {"http": 8080, "grpc": 9090}, "labels": {"app": "vm-app", "version": "v1"},
           "network": "vm-net", "locality": "eu-west/zone-a", "weight": 5, "serviceAccount": "vm-sa"})),
    (WE, {"name": "we-health-only", "namespace": NAMESPACE, "address": "10.10.0.11", "health_checks": True},
     _obj(WE, _meta("we-health-only", annotations={"proxy.istio.io/health-checks-enabled": "true"}), {"address": "10.10.0.11"})),
    (WE, {"name": "we-no-health", "namespace": NAMESPACE, "address": "10.10.0.12", "health_checks": False,
          "metadata_labels": {}},
     _obj(WE, _meta("we-no-health", labels={}), {"address": "10.10.0.12"})),
    (WG, {"name": "wg-min", "namespace": NAMESPACE, "template": {}},
     _obj(WG, _meta("wg-min"), {"template": {}})),
    (WG, {"name": "wg-template-address", "namespace": NAMESPACE,
          "template": {"address": "2.2.2.2", "ports": {"grpc": 3550, "http": 8080}, "service_account": "default"}},
     _obj(WG, _meta("wg-template-address"), {"template": {"address": "2.2.2.2", "ports": {"grpc": 3550, "http": 8080},
                                                          "serviceAccount": "default"}})),
    (WG, {"name": "wg-full", "namespace": NAMESPACE, "labels": {"app": "vm-app"}, "annotations": {"example.com/a": "b"},
          "template": {"service_account": "vm-sa", "ports": {"http": 8080}, "network": "vm-net", "locality": None,
                       "labels": None, "weight": None},
          "probe": {"initial_delay_seconds": 1, "timeout_seconds": 2, "period_seconds": "3", "success_threshold": 1,
                    "failure_threshold": 4, "http_get": {"path": "/ready", "port": 8080, "host": None, "scheme": "HTTP",
                                                         "http_headers": [{"name": "X-Probe", "value": "1"}]},
                    "tcp_socket": None, "exec": None}},
     _obj(WG, _meta("wg-full"), {
         "metadata": {"labels": {"app": "vm-app"}, "annotations": {"example.com/a": "b"}},
         "template": {"ports": {"http": 8080}, "network": "vm-net", "serviceAccount": "vm-sa"},
         "probe": {"initialDelaySeconds": 1, "timeoutSeconds": 2, "periodSeconds": 3, "successThreshold": 1,
                   "failureThreshold": 4, "httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP",
                                                      "httpHeaders": [{"name": "X-Probe", "value": "1"}]}}})),
    (WG, {"name": "wg-exec", "namespace": NAMESPACE, "template": {}, "probe": {"exec": {"command": ["/bin/true"]}}},
     _obj(WG, _meta("wg-exec"), {"template": {}, "probe": {"exec": {"command": ["/bin/true"]}}})),
    (WG, {"name": "wg-tcp", "namespace": NAMESPACE, "template": {},
          "probe": {"tcp_socket": {"port": 22, "host": "127.0.0.1"}}},
     _obj(WG, _meta("wg-tcp"), {"template": {}, "probe": {"tcpSocket": {"host": "127.0.0.1", "port": 22}}})),
    (SE, {"name": "se-full", "namespace": NAMESPACE, "metadata_labels": {"team": "vm"}, "hosts": ["vm-app.internal.example"],
          "addresses": ["240.240.10.10"], "ports": [{"number": 8080, "name": "http", "protocol": "HTTP", "target_port": 80}],
          "location": "MESH_INTERNAL", "resolution": "STATIC", "workload_selector": None,
          "endpoints": [{"address": "10.10.0.10", "ports": {"http": 8080}, "labels": {"app": "vm-app"}, "network": None,
                         "locality": None, "weight": 1, "service_account": "vm-sa"}],
          "export_to": ["."]},
     _obj(SE, _meta("se-full", labels={"team": "vm"}), {
         "hosts": ["vm-app.internal.example"], "addresses": ["240.240.10.10"],
         "ports": [{"number": 8080, "protocol": "HTTP", "name": "http", "targetPort": 80}],
         "location": "MESH_INTERNAL", "resolution": "STATIC",
         "endpoints": [{"address": "10.10.0.10", "ports": {"http": 8080}, "labels": {"app": "vm-app"}, "weight": 1,
                        "serviceAccount": "vm-sa"}],
         "exportTo": ["."]})),
    (SE, {"name": "se-selector", "namespace": NAMESPACE, "hosts": ["vm-app.internal.example"],
          "ports": [{"number": 8080, "name": "http"}], "resolution": "STATIC", "workload_selector": {"app": "vm-app"}},
     _obj(SE, _meta("se-selector"), {
         "hosts": ["vm-app.internal.example"], "ports": [{"number": 8080, "name": "http"}], "resolution": "STATIC",
         "workloadSelector": {"labels": {"app": "vm-app"}}})),
    (SC, {"name": "sc-full", "namespace": NAMESPACE, "workload_selector": {"app": "vm-app"},
          "ingress": [{"port": {"number": 9080, "protocol": "HTTP", "name": "http", "target_port": None},
                       "bind": None, "default_endpoint": "127.0.0.1:8080", "capture_mode": "NONE"}],
          "egress": [{"port": {"number": 3306, "protocol": "MYSQL", "name": "mysql"}, "bind": "127.0.0.1",
                      "capture_mode": None, "hosts": ["*/mysql.example.com"]},
                     {"port": None, "bind": None, "capture_mode": None, "hosts": ["./*", "istio-system/*"]}],
          "outbound_traffic_policy": {"mode": "ALLOW_ANY", "egress_proxy": {"host": "proxy.example.com", "subset": "v1",
                                                                            "port": "3128"}}},
     _obj(SC, _meta("sc-full"), {
         "workloadSelector": {"labels": {"app": "vm-app"}},
         "ingress": [{"port": {"number": 9080, "protocol": "HTTP", "name": "http"}, "defaultEndpoint": "127.0.0.1:8080",
                      "captureMode": "NONE"}],
         "egress": [{"port": {"number": 3306, "protocol": "MYSQL", "name": "mysql"}, "bind": "127.0.0.1",
                     "hosts": ["*/mysql.example.com"]},
                    {"hosts": ["./*", "istio-system/*"]}],
         "outboundTrafficPolicy": {"mode": "ALLOW_ANY",
                                   "egressProxy": {"host": "proxy.example.com", "subset": "v1", "port": {"number": 3128}}}})),
    (SC, {"name": "sc-policy-only", "namespace": NAMESPACE, "outbound_traffic_policy": {"mode": "REGISTRY_ONLY"}},
     _obj(SC, _meta("sc-policy-only"), {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}})),
    # Service: the apiserver's defaults (protocol TCP, targetPort = port) are written out, the type is ClusterIP
    (SV, {"name": "svc-min", "namespace": NAMESPACE, "selector": {"app": "vm-app"}, "ports": [{"port": 8080}],
          "metadata_labels": None, "metadata_annotations": None},
     {"apiVersion": "v1", "kind": SV, "metadata": _meta("svc-min"),
      "spec": {"selector": {"app": "vm-app"}, "ports": [{"port": 8080, "protocol": "TCP", "targetPort": 8080}],
               "type": "ClusterIP"}}),
    (SV, {"name": "svc-full", "namespace": NAMESPACE, "metadata_labels": {"team": "vm"},
          "selector": {"app": "vm-app", "version": "v1"},
          "ports": [{"name": "http", "port": "80", "target_port": "9080", "app_protocol": "http"},
                    {"name": "metrics", "port": 15020, "target_port": "http-metrics", "protocol": "TCP",
                     "app_protocol": None},
                    {"name": "dns", "port": 53, "protocol": "UDP"}]},
     {"apiVersion": "v1", "kind": SV, "metadata": _meta("svc-full", labels={"team": "vm"}),
      "spec": {"selector": {"app": "vm-app", "version": "v1"},
               "ports": [{"name": "http", "port": 80, "targetPort": 9080, "protocol": "TCP", "appProtocol": "http"},
                         {"name": "metrics", "port": 15020, "targetPort": "http-metrics", "protocol": "TCP"},
                         {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"}],
               "type": "ClusterIP"}}),
]

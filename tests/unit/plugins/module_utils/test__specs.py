# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import collections

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils import _specs
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError, ValidationError
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.cases import (
    BUILD_CASES,
    INVALID_CASES,
    NAMESPACE,
)

PREFIXES = {"WorkloadEntry": "workload_entry", "WorkloadGroup": "workload_group", "ServiceEntry": "service_entry",
            "Sidecar": "sidecar", "Service": "workload_service"}


@pytest.mark.parametrize("kind, options, expected", BUILD_CASES, ids=[c[1]["name"] for c in BUILD_CASES])
def test_builder_output(kind, options, expected):
    assert _specs.BUILDERS[kind](options) == expected


@pytest.mark.parametrize("kind, options, expected", BUILD_CASES, ids=[c[1]["name"] for c in BUILD_CASES])
def test_build_validates_then_builds(kind, options, expected):
    obj, warnings = _specs.build(kind, options)
    assert obj == expected
    assert isinstance(warnings, list)


@pytest.mark.parametrize("case", INVALID_CASES, ids=[c.twin["name"] for c in INVALID_CASES])
def test_invalid_options_are_rejected_with_message(case):
    with pytest.raises(ValidationError) as info:
        _specs.VALIDATORS[case.kind](case.bad)
    message = str(info.value)
    assert message.startswith(PREFIXES[case.kind] + ": ")
    assert case.message in message
    assert info.value.details["errors"] == info.value.errors


@pytest.mark.parametrize("case", INVALID_CASES, ids=[c.twin["name"] for c in INVALID_CASES])
def test_valid_twin_is_accepted(case):
    _specs.VALIDATORS[case.kind](case.twin)
    obj = _specs.BUILDERS[case.kind](case.twin)
    assert obj["metadata"] == {"name": case.twin["name"], "namespace": NAMESPACE, **{
        k: v for k, v in obj["metadata"].items() if k not in ("name", "namespace")}}


def test_case_table_covers_every_kind_with_unique_twins():
    per_kind = collections.Counter(case.kind for case in INVALID_CASES)
    assert len(INVALID_CASES) >= 40
    assert set(per_kind) == set(_specs.BUILDERS)
    assert all(count >= 8 for count in per_kind.values()), per_kind
    names = [case.twin["name"] for case in INVALID_CASES]
    assert len(names) == len(set(names))
    assert all(case.bad != case.twin for case in INVALID_CASES)


def test_validation_error_lists_every_problem():
    with pytest.raises(ValidationError) as info:
        _specs.validate_workload_entry({"name": "vm", "address": "10.0.0.300", "ports": {"http": 70000}, "weight": -2})
    assert info.value.errors == [
        "address: '10.0.0.300' is not an IP address, a valid FQDN or unix://<absolute path>",
        "ports.http: 70000 is not in 1..65535",
        "weight: -2 is not in 0..4294967295",
    ]
    assert str(info.value) == "workload_entry: " + "; ".join(info.value.errors)
    assert isinstance(info.value, MeshError)


WARNING_CASES = [
    ("WorkloadEntry", {"name": "vm", "network": "net-1"}, "address: is unset with network 'net-1'"),
    ("ServiceEntry", {"name": "se", "hosts": ["*api.example.com"], "resolution": "NONE"},
     "hosts[0]: partial wildcard '*api.example.com' not allowed"),
    ("ServiceEntry", {"name": "se", "hosts": ["api.example.com"], "workload_selector": {"app": "a"}},
     "workload_selector: should not be set when resolution is NONE"),
    ("ServiceEntry", {"name": "se", "hosts": ["api.example.com"], "resolution": "STATIC", "workload_selector": {}},
     "workload_selector: has no labels"),
    ("ServiceEntry", {"name": "se", "hosts": ["a.example.com", "b.example.com"], "resolution": "DNS",
                      "addresses": ["240.240.0.1"], "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]},
     "more than one host together with addresses and a TCP port"),
    ("Sidecar", {"name": "sc", "workload_selector": {}, "outbound_traffic_policy": {}}, "workload_selector: has no labels"),
    # Istio's own example sets one; istiod writes each VM's address into the entries it registers
    ("WorkloadGroup", {"name": "wg", "template": {"address": "2.2.2.2", "service_account": "default"}},
     "template.address: '2.2.2.2' is kept in the WorkloadGroup only; istiod gives each entry it auto-registers "
     "the address of its VM"),
]


@pytest.mark.parametrize("kind, options, warning", WARNING_CASES)
def test_warnings_are_returned_not_raised(kind, options, warning):
    warnings = _specs.VALIDATORS[kind](options)
    assert any(warning in w for w in warnings), warnings


NO_WARNING_CASES = [
    ("WorkloadEntry", {"name": "vm", "address": "10.0.0.1"}),
    ("ServiceEntry", {"name": "se", "hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS",
                      "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}),
    ("Sidecar", {"name": "sc", "egress": [{"hosts": ["*/*"]}]}),
    ("WorkloadGroup", {"name": "wg", "template": {"address": "", "service_account": "default"}}),
    ("WorkloadGroup", {"name": "wg", "template": {}}),
]


@pytest.mark.parametrize("kind, options", NO_WARNING_CASES)
def test_clean_options_have_no_warnings(kind, options):
    assert _specs.VALIDATORS[kind](options) == []


MORE_INVALID = [
    # rules that need several options at once, or odd types the argspec cannot catch in free-form dicts
    ("WorkloadEntry", {"name": "vm", "address": "10.0.0.1", "ports": {"http": "eighty"}}, "ports.http: 'eighty' is not an integer"),
    ("WorkloadEntry", {"name": "vm", "address": "10.0.0.1", "ports": ["http"]}, "ports: must be a dict of port name to port number"),
    ("WorkloadEntry", {"address": "10.0.0.1"}, "name: is required"),
    ("WorkloadEntry", {"name": "vm", "address": "10.0.0.1", "health_checks": "yes"}, "health_checks: 'yes' is not a boolean"),
    ("WorkloadGroup", {"name": "wg", "template": {"serviceAccount": "sa"}}, "template: unknown option(s) serviceAccount"),
    ("WorkloadGroup", {"name": "wg", "probe": {"exec": {"command": ["ok", ""]}}}, "probe.exec.command[1]: must be a non-empty string"),
    ("WorkloadGroup", {"name": "wg", "probe": {"http_get": {"port": 80, "http_headers": [{"name": ""}]}}},
     "http_headers[0].name: header name cannot be empty"),
    ("ServiceEntry", {"name": "se", "hosts": ["a.example.com"], "resolution": "DNS", "endpoints": [{"ports": {}}]},
     "endpoints[0].address: is required with resolution DNS"),
    ("ServiceEntry", {"name": "se", "hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS", "addresses": ["240.0.0.1"]},
     "addresses: must not be set with resolution DYNAMIC_DNS"),
    ("ServiceEntry", {"name": "se", "hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS",
                      "ports": [{"number": 5432, "name": "pg", "protocol": "TCP"}]},
     "resolution DYNAMIC_DNS supports only HTTP, TLS, GRPC and HTTP2, got 'TCP'"),
    ("ServiceEntry", {"name": "se", "hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS", "location": "MESH_INTERNAL",
                      "metadata_labels": {"istio.io/use-waypoint": "waypoint"}}, "not supported when using waypoints"),
    ("ServiceEntry", {"name": "se", "hosts": ["a.example.com"], "export_to": ["Bad_Ns"]}, "export_to[0]: 'Bad_Ns' must be"),
    ("ServiceEntry", {"name": "se", "hosts": ["a.example.com"], "resolution": "STATIC",
                      "endpoints": [{"address": "unix:///a.sock", "ports": {"x": 1}}]}, "endpoints[0].ports: must not be set"),
    # wrongly typed values inside free-form dicts and lists (the batch form's objects have no argspec)
    ("ServiceEntry", {"name": "se", "hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS", "location": "MESH_INTERNAL",
                      "metadata_labels": {"istio.io/use-waypoint": 5}},
     'metadata_labels["istio.io/use-waypoint"]: value 5 is not a string'),
    ("ServiceEntry", {"name": "se", "hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS", "location": "MESH_INTERNAL",
                      "metadata_labels": "waypoint"}, "metadata_labels: must be a dict"),
    ("ServiceEntry", {"name": "se", "hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS",
                      "ports": [{"number": 443, "name": "tls", "protocol": 443}]},
     "ports[0].protocol: unsupported protocol 443"),
    ("ServiceEntry", {"name": "se", "hosts": ["a.example.com", "b.example.com"], "resolution": "DNS",
                      "ports": [{"number": 443, "name": "tls", "protocol": ["TLS"]}]},
     "ports[0].protocol: unsupported protocol ['TLS']"),
    ("ServiceEntry", {"name": "se", "hosts": ["a.example.com"], "export_to": [["vms"]]},
     "export_to[0]: ['vms'] must be a string"),
    ("ServiceEntry", {"name": "se", "hosts": ["a.example.com"], "export_to": [".", {"ns": "vms"}]},
     "export_to[1]: {'ns': 'vms'} must be a string"),
    ("ServiceEntry", {"name": "se", "hosts": ["a.example.com"], "namespace": ["vms"], "export_to": ["."]},
     "namespace: ['vms'] is not a string"),
    ("Sidecar", {"name": "sc", "egress": [{"port": {"number": 0}, "bind": "unix:///var/run/a.sock", "capture_mode": "IPTABLES",
                                           "hosts": ["./*"]}]}, "must be DEFAULT or NONE for unix domain socket listeners"),
    ("Sidecar", {"name": "sc", "egress": [{"port": {"number": 0}, "bind": "unix:///a.sock", "hosts": ["./*"]},
                                          {"port": {"number": 0}, "bind": "unix:///a.sock", "hosts": ["./*"]}]},
     "egress[1].bind: unix domain socket 'unix:///a.sock' is already used"),
    ("Sidecar", {"name": "sc", "egress": [{"port": {"number": 80}, "bind": "eth0", "hosts": ["./*"]}]},
     "egress[0].bind: 'eth0' is not a valid IP address"),
    ("Sidecar", {"name": "sc", "egress": [{"port": {"number": 80}}]}, "egress[0].hosts: is required"),
    ("Sidecar", {"name": "sc", "outbound_traffic_policy": {
        "mode": "ALLOW_ANY", "egress_proxy": {"host": "p.example.com", "port": 3128, "subset": "v_1"}}},
     "egress_proxy.subset: 'v_1' is not a valid subset name"),
]


@pytest.mark.parametrize("kind, options, message", MORE_INVALID)
def test_more_invalid_options(kind, options, message):
    with pytest.raises(ValidationError) as info:
        _specs.VALIDATORS[kind](options)
    assert message in str(info.value)


def test_unix_egress_listener_is_valid():
    options = {"name": "sc", "egress": [{"port": {"number": 0, "protocol": "HTTP"}, "bind": "unix:///var/run/egress.sock",
                                         "capture_mode": "NONE", "hosts": ["./*"]}]}
    assert _specs.validate_sidecar(options) == []


def test_every_kind_has_its_api_version_and_builds_with_it():
    assert set(_specs.API_VERSIONS) == set(_specs.BUILDERS) == set(_specs.VALIDATORS)
    for kind, options, _expected in BUILD_CASES:
        assert _specs.BUILDERS[kind](options)["apiVersion"] == _specs.API_VERSIONS[kind]
    assert _specs.API_VERSIONS["Service"] == "v1"


@pytest.mark.parametrize("kind, name, expected", [
    ("Service", "ratings-vm", None),
    ("Service", "ratings.vm", "is not a DNS-1035 label"),
    ("Service", "1-ratings", "is not a DNS-1035 label"),
    ("Service", "r" * 64, "the limit is 63"),
    ("WorkloadEntry", "ratings.vm", None),
    ("WorkloadEntry", "1-ratings", None),
    ("WorkloadEntry", "Ratings", "is not a DNS-1123 subdomain"),
])
def test_check_name_per_kind(kind, name, expected):
    problem = _specs.check_name(kind, name)
    assert problem is None if expected is None else expected in problem, problem


# --- Service ports from a name -> number map (what the mesh_workload role holds) ------------------

PORT_MAPS = [
    ("ordered by number", {"http": 8080, "grpc": 3550}, None,
     [{"name": "grpc", "port": 3550}, {"name": "http", "port": 8080}]),
    ("app protocols", {"http": 8080, "grpc": 3550}, {"grpc": "grpc", "http": "http"},
     [{"name": "grpc", "port": 3550, "app_protocol": "grpc"}, {"name": "http", "port": 8080, "app_protocol": "http"}]),
    ("some app protocols", {"http": 8080, "tcp-db": 5432}, {"http": "http", "tcp-db": None},
     [{"name": "tcp-db", "port": 5432}, {"name": "http", "port": 8080, "app_protocol": "http"}]),
    ("decimal strings", {"http": "8080"}, {}, [{"name": "http", "port": 8080}]),
    ("same number, by name", {"b": 80, "a": 80}, None, [{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
    ("not a number sorts last", {"x": "eighty", "y": 90}, None, [{"name": "y", "port": 90}, {"name": "x", "port": "eighty"}]),
    ("empty", {}, None, []),
]


@pytest.mark.parametrize("name, ports, app_protocols, expected", PORT_MAPS, ids=[c[0] for c in PORT_MAPS])
def test_service_ports_from_map(name, ports, app_protocols, expected):
    assert _specs.service_ports_from_map(ports, app_protocols) == expected


BAD_PORT_MAPS = [
    (["http"], None, "ports: must be a dict of port name to port number"),
    ({"http": 80}, ["http"], "app_protocols: must be a dict of port name to app protocol"),
    ({"http": 80}, {"grpc": "grpc"}, "app_protocols.grpc: there is no port named 'grpc' (ports: http)"),
]


@pytest.mark.parametrize("ports, app_protocols, message", BAD_PORT_MAPS)
def test_service_ports_from_map_rejects(ports, app_protocols, message):
    with pytest.raises(ValidationError) as info:
        _specs.service_ports_from_map(ports, app_protocols)
    assert str(info.value).startswith("service_ports_from_map: ") and message in str(info.value)


def test_service_ports_from_map_feeds_the_service():
    ports = _specs.service_ports_from_map({"http": 8080, "grpc": "3550"}, {"grpc": "grpc"})
    obj, warnings = _specs.build("Service", {"name": "ratings", "namespace": "vms", "selector": {"app": "ratings"},
                                             "ports": ports})
    assert warnings == []
    assert obj["spec"]["ports"] == [
        {"name": "grpc", "port": 3550, "targetPort": 3550, "protocol": "TCP", "appProtocol": "grpc"},
        {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"},
    ]


def test_service_rules_need_the_whole_list():
    """A port that breaks a rule is reported by index, and the list-wide rules after it still run."""
    with pytest.raises(ValidationError) as info:
        _specs.validate_service({"name": "svc", "selector": {"app": "a"},
                                 "ports": [{"name": "http", "port": 80}, "grpc", {"port": 80, "protocol": "UDP"},
                                           {"name": "http", "port": 80}]})
    assert info.value.errors == [
        "ports[1]: must be a dict with name and port",
        "ports[2].name: is required when the Service has more than one port",
        "ports[3].name: port name 'http' is already defined",
        "ports[3].port: port 80/TCP is already defined",
    ]

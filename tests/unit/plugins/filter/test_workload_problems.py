# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""workload_problems: one VM's mesh_workload variables by the modules' own rules."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.workload_problems import FilterModule
from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import workload_problems

GOOD = {
    "mesh_workload_namespace": "lab-vms", "mesh_workload_name": "lab-app", "mesh_workload_mode": "autoregister",
    "mesh_workload_labels": {"app": "lab-app"}, "mesh_workload_ports": {"http": 8080},
    "mesh_workload_probe": {"period_seconds": 2, "http_get": {"port": 8080, "path": "/"}},
    "mesh_workload_service": True, "mesh_workload_service_name": "lab-app", "mesh_workload_service_app_protocols": {},
    "mesh_workload_service_entries": [{"name": "ext-api", "hosts": ["api.example.com"]}],
    "mesh_workload_sidecar": {"egress": [{"hosts": ["./*", "istio-system/*"]}]},
    "mesh_workload_address": "10.213.0.11", "mesh_workload_internal_ip": "", "mesh_workload_network": "meshlab-net",
    "mesh_workload_ingress_ip": "10.213.0.1", "mesh_workload_ingress_service": "istio-eastwestgateway",
    "mesh_workload_istio_namespace": "istio-system", "mesh_workload_revision": "", "mesh_workload_token_duration": 3600,
    "mesh_workload_token_renew_before": 1800, "mesh_workload_wait_timeout": 60, "mesh_workload_allow_proxy_metadata": [],
    "mesh_workload_group": "mesh_vms", "mesh_workload_state": "present", "mesh_workload_service_account": "lab-app",
    "mesh_workload_entry_name": "mlab-vm1", "mesh_workload_bootstrap_dir": "/work/main/playbooks/../.bootstrap/mlab-vm1",
    "mesh_workload_state_file": "/work/main/playbooks/../.bootstrap/mesh_vms.managed.json",
}
MEMBERS = ["mlab-vm1", "mlab-vm2"]


def test_the_lab_inventory_is_fine():
    assert workload_problems(GOOD, ["default"], host="mlab-vm1", members=MEMBERS) == []
    # a static VM by host name, reached only through a ServiceEntry that resolves by DNS
    named = dict(GOOD, mesh_workload_mode="static", mesh_workload_address="vm1.lab.example", mesh_workload_service=False,
                 mesh_workload_service_entries=[{"name": "vm", "hosts": ["vm.lab.example"], "resolution": "DNS",
                                                 "ports": [{"name": "http", "number": 8080}]}])
    assert workload_problems(named, []) == []
    assert FilterModule().filters()["workload_problems"] is workload_problems
    # an IPv6 address in capitals: istiod names the entry after the lower-case form pilot-agent sends it
    assert workload_problems(dict(GOOD, mesh_workload_address="FD00:10::5"), ["default"]) == []


@pytest.mark.parametrize("overrides,problem", [
    ({"mesh_workload_labels": {}}, "mesh_workload_labels: needs at least one label"),
    ({"mesh_workload_labels": {"-app": "x"}}, "mesh_workload_labels.-app: key '-app'"),
    ({"mesh_workload_labels": {"version": 1.1}}, "mesh_workload_labels.version: value 1.1 is not a string"),
    ({"mesh_workload_probe": {"grpc": {"port": 8080}}}, "mesh_workload_probe.grpc: not accepted"),
    ({"mesh_workload_probe": {"http_get": {"port": 0}}}, "mesh_workload_probe.http_get.port: 0 is not in 1..65535"),
    ({"mesh_workload_probe": {"http_get": {"port": 80, "path": "healthz"}}},
     "mesh_workload_probe.http_get.path: 'healthz' must start with '/'"),
    ({"mesh_workload_probe": {"period_seconds": -1, "exec": {"command": ["true"]}}}, "mesh_workload_probe.period_seconds"),
    ({"mesh_workload_probe": {"tcp_socket": {"port": 1}, "exec": {"command": ["true"]}}}, "mesh_workload_probe: only one of"),
    ({"mesh_workload_ports": {"HTTP": 8080}}, "mesh_workload_ports: the Service's ports[0].name: 'HTTP'"),
    ({"mesh_workload_service_name": "1app"}, "mesh_workload_service_name: the Service's name: '1app'"),
    ({"mesh_workload_service_app_protocols": {"grpc": "tcp"}},
     "mesh_workload_service_app_protocols.grpc: there is no port named 'grpc'"),
    ({"mesh_workload_service_entries": [{"name": "a", "hosts": ["*"]}]}, "mesh_workload_service_entries[0]: hosts[0]"),
    ({"mesh_workload_service_entries": [{"name": "a", "hosts": ["a.b.c"]}, {"name": "a", "hosts": ["c.d.e"]}]},
     "mesh_workload_service_entries[1]: name 'a' is already used by item 0"),
    ({"mesh_workload_service_entries": [{"name": "a", "hosts": ["a.b.c"], "host": "x"}]},
     "mesh_workload_service_entries[0]: unknown option(s) host"),
    ({"mesh_workload_sidecar": {"egres": []}}, "mesh_workload_sidecar: unknown option(s) egres"),
    ({"mesh_workload_sidecar": {"egress": [{"hosts": ["a.example.com"]}]}},
     "mesh_workload_sidecar: egress[0].hosts[0]: 'a.example.com' must be of the form namespace/dnsName"),
    ({"mesh_workload_internal_ip": "10.0.0"}, "mesh_workload_internal_ip: '10.0.0' is not a valid IP address"),
    # cluster.env holds it, and istio-start.sh puts it into a shell command: no IPv6 zone
    ({"mesh_workload_internal_ip": "fe80::1%$(reboot)"}, "mesh_workload_internal_ip: 'fe80::1%$(reboot)' has an IPv6 zone"),
    ({"mesh_workload_ingress_ip": "fe80::1%eth0"}, "mesh_workload_ingress_ip: 'fe80::1%eth0' has an IPv6 zone"),
    ({"mesh_workload_mode": "static", "mesh_workload_address": "vm 1"}, "mesh_workload_address: 'vm 1' is not an IP"),
    ({"mesh_workload_network": "a b"}, "mesh_workload_network: value 'a b'"),
    ({"mesh_workload_ingress_ip": "10.0.0.1:15012"}, "mesh_workload_ingress_ip: '10.0.0.1:15012' is not a valid IP"),
    ({"mesh_workload_ingress_ip": "", "mesh_workload_ingress_service": "East_West"}, "mesh_workload_ingress_service"),
    ({"mesh_workload_revision": "canary"}, "mesh_workload_revision: istiod serves no revision 'canary'"),
    ({"mesh_workload_revision": "1.30.3"}, "mesh_workload_revision: '1.30.3' is not a DNS-1123 label"),
    ({"mesh_workload_token_duration": 300}, "mesh_workload_token_duration: 300 is less than 600"),
    # numbers as text (-e name=300) are checked as numbers
    ({"mesh_workload_token_duration": "300"}, "mesh_workload_token_duration: 300 is less than 600"),
    ({"mesh_workload_token_renew_before": "3600"}, "mesh_workload_token_renew_before: 3600 must be at least 0"),
    ({"mesh_workload_wait_timeout": "-1"}, "mesh_workload_wait_timeout: -1 is negative"),
    # the label of the static entries
    ({"mesh_workload_group": "mesh_vms_"}, "mesh_workload_group: "),
    ({"mesh_workload_group": "g" * 64}, "mesh_workload_group: "),
    # the name istiod gives the auto-registered entry: workload, IP and network
    ({"mesh_workload_network": "Net_1"}, "the WorkloadEntry istiod registers for this VM would be named "
                                         "'lab-app-10.213.0.11-Net_1'"),
    ({"mesh_workload_internal_ip": "fe80::1%eth0"}, "would be named 'lab-app-fe80--1%eth0-meshlab-net'"),
    ({"mesh_workload_token_renew_before": 3600}, "mesh_workload_token_renew_before: 3600 must be"),
    ({"mesh_workload_wait_timeout": -5}, "mesh_workload_wait_timeout: -5 is negative"),
    ({"mesh_workload_allow_proxy_metadata": ["LD PRELOAD"]}, "mesh_workload_allow_proxy_metadata[0]: 'LD PRELOAD'"),
])
def test_bad(overrides, problem):
    problems = workload_problems(dict(GOOD, **overrides), ["default"])
    assert any(problem in p for p in problems), problems


# The messages of the role's own rules (tests/integration/bad_inventories/ holds some of them).
@pytest.mark.parametrize("overrides,problem", [
    ({"mesh_workload_namespace": "Lab-VMs"},
     "mesh_workload_namespace 'Lab-VMs' is not a Kubernetes namespace name (lower-case letters, digits and inner '-', "
     "at most 63 characters)"),
    ({"mesh_workload_namespace": "a" * 64}, "mesh_workload_namespace '%s' is not a Kubernetes namespace name" % ("a" * 64)),
    ({"mesh_workload_name": "lab_app", "mesh_workload_service_name": "x"},
     "mesh_workload_name 'lab_app' is not a Kubernetes object name (lower-case letters, digits, inner '-' and '.')"),
    ({"mesh_workload_mode": "bogus"}, "mesh_workload_mode 'bogus' is unknown: use one of autoregister, static"),
    ({"mesh_workload_address": ""}, "the VM has no address: set ansible_host or mesh_workload_address"),
    ({"mesh_workload_address": None}, "the VM has no address: set ansible_host or mesh_workload_address"),
    ({"mesh_workload_address": "vm1.lab.example"},
     "mesh_workload_address 'vm1.lab.example' is not an IP address; auto-registration needs the VM's mesh IP: set "
     "mesh_workload_internal_ip"),
    ({"mesh_workload_address": ":::"}, "mesh_workload_address ':::' is not an IP address"),
    ({"mesh_workload_address": "fe80::1%eth0"}, "mesh_workload_address 'fe80::1%eth0' is not an IP address"),
    ({"mesh_workload_ports": [8080]}, "mesh_workload_ports must be a dict of port name to port number"),
    ({"mesh_workload_ports": {"http_alt": 8080, "ok": 80, "b" * 63: 81}},
     "invalid port name(s) http_alt, %s in mesh_workload_ports (letters, digits and inner '-', at most 62 characters)"
     % ("b" * 63)),
    ({"mesh_workload_ports": {"http": 80800, "a": 0, "b": "80", "c": True}},
     "invalid port number(s) 80800, 0, True in mesh_workload_ports (1-65535)"),
    ({"mesh_workload_service_account": "lab app"}, "mesh_workload_service_account 'lab app' is not a Kubernetes object name"),
    ({"mesh_workload_mode": "static", "mesh_workload_entry_name": "VM_1"},
     "mesh_workload_entry_name 'VM_1' is not a Kubernetes object name"),
    ({"mesh_workload_service_entries": [{"name": "ext-api"}]},
     "every item of mesh_workload_service_entries needs a name and hosts"),
    ({"mesh_workload_service_entries": ["ext-api"]}, "every item of mesh_workload_service_entries needs a name and hosts"),
    ({"mesh_workload_service_entries": {"name": "a", "hosts": ["a.b"]}}, "mesh_workload_service_entries must be a list"),
    ({"mesh_workload_sidecar": None}, "mesh_workload_sidecar must be a dict (the options of meshops.istio_vm.sidecar)"),
    ({"mesh_workload_sidecar": [{"egress": []}]}, "mesh_workload_sidecar must be a dict"),
    ({"mesh_workload_ingress_ip": "", "mesh_workload_ingress_service": ""},
     "set mesh_workload_ingress_ip or mesh_workload_ingress_service: the VM must reach istiod"),
    ({"mesh_workload_bootstrap_dir": "/tmp/b d"}, "mesh_workload_bootstrap_dir: '/tmp/b d' has characters other than"),
    ({"mesh_workload_state_file": "/"}, "mesh_workload_state_file: '/' is the root directory"),
])
def test_role_rules(overrides, problem):
    problems = workload_problems(dict(GOOD, **overrides), ["default"])
    assert any(p.startswith(problem) for p in problems), problems


def test_each_problem_once():
    """A rule names its variable once: the modules' validators do not repeat it for the objects."""
    problems = workload_problems(dict(GOOD, mesh_workload_namespace="Lab-VMs", mesh_workload_ports={"http_alt": 8080},
                                      mesh_workload_name="lab_app", mesh_workload_service_name="lab_app",
                                      mesh_workload_service_account="lab-app"), ["default"])
    assert len(problems) == 3, problems
    assert workload_problems(dict(GOOD, mesh_workload_labels=[]), ["default"]) == ["mesh_workload_labels: must be a dict"]


def test_the_host_must_be_in_the_group():
    variables = dict(GOOD, mesh_workload_group="mesh")
    assert workload_problems(variables, ["default"], host="mlab-vm1", members=[]) == [
        "the host is not in the group 'mesh' (mesh_workload_group)"]
    assert workload_problems(variables, ["default"], host="mlab-vm1") == []  # no members: not compared


@pytest.mark.parametrize("overrides", [
    {"mesh_workload_address": "vm1.lab.example", "mesh_workload_internal_ip": "10.213.0.50"},
    {"mesh_workload_address": "fd00::21"},
    {"mesh_workload_mode": "static", "mesh_workload_entry_name": "vm-1.lab"},
    {"mesh_workload_ports": {"http": "8080"}},
    {"mesh_workload_ingress_ip": "", "mesh_workload_ingress_service": "", "mesh_workload_state": "absent"},
    {"mesh_workload_sidecar": {}},
    {"mesh_workload_revision": "canary"},  # compared only with the revisions istiod serves
])
def test_fine_or_not_compared(overrides):
    revisions = None if "mesh_workload_revision" in overrides else ["default"]
    assert workload_problems(dict(GOOD, **overrides), revisions) == []


def test_variables_left_out_are_not_checked():
    assert workload_problems({"mesh_workload_probe": {"http_get": {"port": 8080, "path": "/"}}}) == []


NAMED = dict(GOOD, mesh_workload_mode="static", mesh_workload_address="vm1.lab.example")
NO_TRAFFIC = ("mesh_workload_address 'vm1.lab.example' is no IP: istiod makes a WorkloadEntry with a host name for "
              "address an endpoint of no Kubernetes Service and of no ServiceEntry with resolution STATIC, so %s would "
              "send this VM no traffic. Set mesh_workload_address to the VM's IP (ansible_host may stay a name), or "
              "reach the VM through ServiceEntries with resolution DNS (and mesh_workload_service: false)")
STATIC_SE = {"name": "s", "hosts": ["s.example"], "resolution": "STATIC"}


@pytest.mark.parametrize("overrides,selecting", [
    # the lab's settings: the workload's Service (its ServiceEntry, resolution NONE, does not count)
    ({}, "the workload's Kubernetes Service (mesh_workload_service)"),
    ({"mesh_workload_service_entries": [STATIC_SE]},
     "the workload's Kubernetes Service (mesh_workload_service) and mesh_workload_service_entries[0] "
     "(resolution STATIC)"),
    ({"mesh_workload_service": False,                     # a selector the VM's labels match
      "mesh_workload_service_entries": [{"name": "a", "hosts": ["a.example"], "resolution": "DNS"},
                                        dict(STATIC_SE, workload_selector={"app": "lab-app"})]},
     "mesh_workload_service_entries[1] (resolution STATIC)"),
])
def test_a_static_vm_by_host_name_that_a_service_would_send_nothing(overrides, selecting):
    assert workload_problems(dict(NAMED, **overrides), []) == [NO_TRAFFIC % selecting]


@pytest.mark.parametrize("overrides", [
    {"mesh_workload_address": "10.213.0.11", "mesh_workload_service_entries": [STATIC_SE]},        # an IP
    {"mesh_workload_service": False},                     # a ServiceEntry with resolution NONE: where dialled
    {"mesh_workload_ports": {}, "mesh_workload_service_entries": []},             # a Service without ports: none
    {"mesh_workload_service": False,                      # a ServiceEntry with its own endpoints selects no entry
     "mesh_workload_service_entries": [dict(STATIC_SE, endpoints=[{"address": "10.0.0.1"}]),
                                       {"name": "r", "hosts": ["r.example"], "resolution": "DNS_ROUND_ROBIN"},
                                       {"name": "d", "hosts": ["*.d.example"], "resolution": "DYNAMIC_DNS"}]},
    {"mesh_workload_service": False,                      # a ServiceEntry that selects other workloads
     "mesh_workload_service_entries": [dict(STATIC_SE, workload_selector={"app": "other"})]},
])
def test_a_static_vm_by_host_name_is_fine_where_nothing_would_need_its_address(overrides):
    assert workload_problems(dict(NAMED, **overrides), []) == []

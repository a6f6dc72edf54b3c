# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vm_bootstrap's address of a gateway that publishes a hostname (AWS ELB, NLB): the resolver's
answers come in an order that changes from run to run, and the controller's may put IPv6 first.
The lab's gateway publishes an IP, and the resolver here knows one address per name, so the
resolver's answers are given here (the rule itself: test__bootstrap.py::test_gateway_address)."""
from __future__ import annotations

import socket

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.modules import vm_bootstrap

SERVICE = {"metadata": {"name": "istio-eastwestgateway"},
           "status": {"loadBalancer": {"ingress": [{"hostname": "gw.example.test"}]}}}


class Cluster:
    def service(self, namespace, name):
        assert (namespace, name) == ("istio-system", "istio-eastwestgateway")
        return SERVICE


def _params(dest):
    return {"ingress_ip": None, "istio_namespace": "istio-system", "ingress_service": "istio-eastwestgateway",
            "revision": "", "dest": str(dest)}


@pytest.fixture
def answers(monkeypatch):
    given = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        assert host == "gw.example.test" and port == 15012
        if not given:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, type, 6, "", (a, port)) for a in given]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return given


def test_the_bundle_keeps_its_address_while_the_name_resolves_to_it(tmp_path, answers):
    answers[:] = ["2001:db8::5", "192.0.2.9", "192.0.2.7"]
    assert vm_bootstrap._ingress_ip(Cluster(), _params(tmp_path)) == "192.0.2.7", "IPv4 first, the lowest"
    (tmp_path / "hosts").write_text("192.0.2.9 istiod.istio-system.svc\n")
    for order in (["192.0.2.7", "192.0.2.9"], ["192.0.2.9", "192.0.2.7"]):
        answers[:] = order
        assert vm_bootstrap._ingress_ip(Cluster(), _params(tmp_path)) == "192.0.2.9"
    answers[:] = ["192.0.2.20", "192.0.2.11"]
    assert vm_bootstrap._ingress_ip(Cluster(), _params(tmp_path)) == "192.0.2.11", "the load balancer moved"


def test_a_name_without_a_usable_address_fails_naming_the_service(tmp_path, answers):
    with pytest.raises(MeshError, match="does not resolve on the controller either"):
        vm_bootstrap._ingress_ip(Cluster(), _params(tmp_path))
    answers[:] = ["fe80::1%eth0"]
    with pytest.raises(MeshError, match=r"istio-system/istio-eastwestgateway .*resolves it to no address a VM "
                                        r"can use: fe80::1%eth0"):
        vm_bootstrap._ingress_ip(Cluster(), _params(tmp_path))

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which sidecar cluster serves a URL, and the identity in a peer certificate (mesh_request)."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._traffic import (
    istio_sni,
    outbound_cluster,
    parse_url,
    split_endpoint,
    uri_sans,
)


@pytest.mark.parametrize("url,expected", [
    ("http://details.bookinfo.com/", ("http", "details.bookinfo.com", 80)),
    ("https://Details.Bookinfo.com/x", ("https", "details.bookinfo.com", 443)),
    ("http://ratings-vm.bookinfo:8080/a?b=c", ("http", "ratings-vm.bookinfo", 8080)),
    ("http://[::1]:15000/", ("http", "::1", 15000)),
])
def test_parse_url(url, expected):
    assert parse_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://x/", "details.bookinfo.com", "http:///path", "http://x:99999/"])
def test_parse_url_refuses(url):
    with pytest.raises(MeshError, match="url: "):
        parse_url(url)


def _status(name, *hosts):
    return {"name": name, "host_statuses": [
        {"address": {"socket_address": {"address": ip, "port_value": port}},
         "health_status": {"eds_health_status": health}} for ip, port, health in hosts]}


CLUSTERS = {"cluster_statuses": [
    _status("outbound|80||details.bookinfo.com", ("10.213.0.14", 9080, "HEALTHY")),
    _status("outbound|8080||ratings-vm.bookinfo.svc.cluster.local",
            ("10.213.0.25", 8080, "UNHEALTHY"), ("10.213.0.15", 8080, "HEALTHY")),
    _status("outbound|8080|v1|ratings-vm.bookinfo.svc.cluster.local", ("10.213.0.99", 8080, "HEALTHY")),
    _status("outbound|8080||ratings-vm.bookinfo.svc.cluster.local.evil", ("10.213.0.98", 8080, "HEALTHY")),
    _status("inbound|8080||", ("127.0.0.1", 8080, "HEALTHY")),
    _status("BlackHoleCluster"),
    {"name": "outbound|9||empty.example", "host_statuses": [{"address": {"pipe": {"path": "/x"}}}]},
]}


@pytest.mark.parametrize("host,port,name,endpoints", [
    ("details.bookinfo.com", 80, "outbound|80||details.bookinfo.com", ["10.213.0.14:9080"]),
    # a short name matches the FQDN; healthy endpoints first; no subset beats a subset
    ("ratings-vm.bookinfo", 8080, "outbound|8080||ratings-vm.bookinfo.svc.cluster.local",
     ["10.213.0.15:8080", "10.213.0.25:8080"]),
    # an exact FQDN beats a longer name that merely starts with it
    ("ratings-vm.bookinfo.svc.cluster.local", 8080, "outbound|8080||ratings-vm.bookinfo.svc.cluster.local",
     ["10.213.0.15:8080", "10.213.0.25:8080"]),
    ("empty.example", 9, "outbound|9||empty.example", []),
])
def test_outbound_cluster(host, port, name, endpoints):
    assert outbound_cluster(CLUSTERS, host, port) == {"name": name, "endpoints": endpoints}


@pytest.mark.parametrize("host,port", [("details.bookinfo.com", 8080), ("details.bookinfo", 80),
                                       ("ratings-vm.bookinfo.svc", 9999), ("10.96.0.10", 80)])
def test_outbound_cluster_none(host, port):
    assert outbound_cluster(CLUSTERS, host, port) is None


def test_outbound_cluster_of_nothing():
    assert outbound_cluster({}, "x", 80) is None


def test_sni_endpoint_and_sans():
    assert istio_sni("details.bookinfo.com", 80) == "outbound_.80_._.details.bookinfo.com"
    assert split_endpoint("10.213.0.14:9080") == ("10.213.0.14", 9080)
    assert split_endpoint("[fd00::1]:80") == ("fd00::1", 80)
    cert = {"subject": ((("O", "x"),),),
            "subjectAltName": (("URI", "spiffe://cluster.local/ns/a/sa/b"), ("DNS", "b.a.svc"))}
    assert uri_sans(cert) == ["spiffe://cluster.local/ns/a/sa/b"]
    assert uri_sans(None) == [] and uri_sans({}) == []


@pytest.mark.parametrize("host,fqdn,level", [
    ("a.b.svc.cluster.local", "a.b.svc.cluster.local", 0),
    ("a.b", "a.b.svc.cluster.local", 1),
    ("a.b.svc", "a.b.svc.cluster.local", 1),
    ("a", "a.b.svc.cluster.local", 2),
    ("a.b.svc.cluster", "a.b.svc.cluster.local", None),
    ("details.bookinfo", "details.bookinfo.com", None),
    ("b", "a.b.svc.cluster.local", None),
])
def test_name_match(host, fqdn, level):
    from ansible_collections.meshops.istio_vm.plugins.module_utils._traffic import _name_match
    assert _name_match(host, fqdn) == level

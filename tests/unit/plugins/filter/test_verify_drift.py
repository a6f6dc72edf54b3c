# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The verify_drift filter: what verify.yml reports as drift for one VM, each check on its own."""
from __future__ import annotations

import base64

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.verify_drift import FilterModule
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.certs import make

ENV = "/var/lib/istio/envoy/cluster.env"
SPIFFE = "spiffe://cluster.local/ns/lab-vms/sa/lab-app"
# a root the mesh had and the one it has now (the same name, another key), and a workload certificate of each
OLD_ROOT, NEW_ROOT = make("mesh root"), make("mesh root")
OLD_LEAF = make(None, issuer=OLD_ROOT, ca=False, san=SPIFFE)
NEW_LEAF = make(None, issuer=NEW_ROOT, ca=False, san=SPIFFE)


def issued(leaf):
    """The VM's read of the workload certificate ``leaf``, alone in its file."""
    return {"exists": True, "uris": [SPIFFE], "chain": [base64.b64encode(leaf.der).decode()] if leaf else []}


URL = "http://localhost:15021/healthz/ready"
VM = {"namespace": "lab-vms", "entry_name": "lab-app-10.213.0.11-meshlab-net", "mode": "autoregister",
      "has_probe": True, "entry": {"address": "10.213.0.11", "labels": {"app": "lab-app"}, "network": None}}
ENTRY = {"name": VM["entry_name"], "namespace": "lab-vms", "healthy": "True", "address": "10.213.0.11",
         "labels": {"app": "lab-app", "other": "x"}}
ISTIOD = {"name": "istiod.istio-system.svc", "address": "10.213.0.1"}
STATE = {"checksums": {ENV: "ab" * 32}, "cert": {"exists": True, "uris": [SPIFFE]},
         "hosts": "127.0.0.1 localhost\n10.213.0.1 istiod.istio-system.svc\n",
         "ready": {"status": 200, "msg": "OK (unknown bytes)"}}
NAME = "WorkloadEntry lab-vms/lab-app-10.213.0.11-meshlab-net"
PEER = "spiffe://cluster.local/ns/bookinfo/sa/details"
SUBJECT = "system:serviceaccount:lab-vms:lab-app"
CLAIMS = {"iss": "https://kubernetes.default.svc", "sub": SUBJECT, "left": 3000, "token": True}


def drift(state=None, **kw):
    args = dict(vm=VM, entry=ENTRY, spiffe=SPIFFE, expected_env="ab" * 32, hosts_entry=ISTIOD)
    args.update(kw)
    return FilterModule().filters()["verify_drift"](STATE if state is None else state, **args)


def with_(**changes):
    return dict(STATE, **changes)


def test_a_vm_as_the_inventory_asks_has_no_drift():
    assert drift() == []
    # no probe: an entry that is not Healthy is not drift
    assert drift(vm=dict(VM, has_probe=False), entry=dict(ENTRY, healthy="False")) == []
    # no expected bundle: /etc/hosts is not checked (its own line says why)
    assert drift(with_(hosts=""), hosts_entry=None, render_error="no access") == [
        "cannot render the expected bundle: no access"]
    # a request across the mesh that answered 2xx or 3xx
    assert drift(request_url="http://a/", request={"status": 302, "error": "", "peer_identities": [PEER]}) == []
    # a request to a host outside the mesh, when the caller says so
    assert drift(request_url="http://a/", request={"status": 200, "error": "", "peer_identities": []},
                 request_mtls=False) == []
    # a certificate that is still good, a token for the VM's account (expired or not: the sidecar renews its
    # certificate with the certificate it has)
    assert drift(with_(cert={"exists": True, "uris": [SPIFFE], "not_after": "Dec 3 12:00:00 2026 GMT",
                             "seconds_left": 3600}, claims=dict(CLAIMS, left=-60)), token_subject=SUBJECT) == []
    # a certificate one of the mesh's roots issued (two during a migration); one whose issuer cannot be told
    for leaf in (NEW_LEAF, OLD_LEAF, None):
        assert drift(with_(cert=issued(leaf)), roots=OLD_ROOT.pem + NEW_ROOT.pem) == []
    # the mesh's roots not known: not checked
    assert drift(with_(cert=issued(OLD_LEAF)), roots="") == []


@pytest.mark.parametrize("kw,state,expected", [
    ({"entry": {}}, None,
     [NAME + " does not exist (istiod creates it when the sidecar connects)"]),
    ({"entry": {}, "vm": dict(VM, mode="static")}, None, [NAME + " does not exist"]),
    ({"entry": dict(ENTRY, address="10.213.0.99", labels={})}, None,
     [NAME + " differs from the inventory: address is '10.213.0.99' in the cluster, '10.213.0.11' in the inventory; "
      "label app is missing (the inventory says 'lab-app')"]),
    ({"entry": dict(ENTRY, healthy="False")}, None, [NAME + " is not Healthy (the VM's readiness probe fails)"]),
    ({"render_error": "the credential cannot create tokens"}, None,
     ["cannot render the expected bundle: the credential cannot create tokens"]),
    ({"expected_env": ""}, None, ["no expected cluster.env was rendered (vm_bootstrap skipped)"]),
    ({}, with_(checksums={ENV: ""}), [ENV + " is missing"]),
    ({}, with_(checksums={}), [ENV + " is missing"]),
    ({"expected_env": "cd" * 32}, None,
     [ENV + " differs from the one the cluster and inventory give now (run onboard.yml)"]),
    ({"hosts_entry": dict(ISTIOD, address="10.0.0.5")}, None,
     ["/etc/hosts maps istiod.istio-system.svc to 10.213.0.1 (line 2), the bundle gives 10.0.0.5 now (the ingress "
      "or east-west gateway's address changed; run onboard.yml)"]),
    ({}, with_(hosts="127.0.0.1 localhost\n"),
     ["/etc/hosts does not map istiod.istio-system.svc; the bundle gives 10.213.0.1 (istiod through the ingress or "
      "east-west gateway; run onboard.yml)"]),
    ({"cert_path": "/etc/certs/x.pem"}, with_(cert={"exists": False, "uris": []}),
     ["no workload certificate at /etc/certs/x.pem"]),
    ({}, with_(cert={"exists": True, "uris": ["spiffe://other/ns/a/sa/b"]}),
     ["the workload certificate is for spiffe://other/ns/a/sa/b, not " + SPIFFE]),
    ({}, with_(cert={"exists": True, "uris": []}), ["the workload certificate is for no SPIFFE ID, not " + SPIFFE]),
    ({"entry": dict(ENTRY, healthy=None)}, None,
     [NAME + " has no Healthy condition: istiod does not check it (no annotation proxy.istio.io/health-checks-enabled "
      "on the entry, or no probe on its WorkloadGroup yet; run onboard.yml)"]),
    ({}, with_(cert={"exists": True, "uris": [SPIFFE], "not_after": "Dec 3 12:00:00 2026 GMT", "seconds_left": -5}),
     ["the workload certificate expired on Dec 3 12:00:00 2026 GMT: the sidecar could not renew it, and its mTLS "
      "connections fail (run rotate.yml; docs/troubleshooting.md, \"Certificate not rotating\")"]),
    ({"roots": NEW_ROOT.pem}, with_(cert=issued(OLD_LEAF)),
     ["the workload certificate chains to a root the mesh no longer has (none of istio-ca-root-cert's): istiod no "
      "longer trusts it, and its mTLS connections fail (run onboard.yml: it removes the certificate)"]),
    ({"token_subject": SUBJECT}, with_(claims={"token": False}),
     ["the VM has no service account token: its sidecar cannot get a certificate once the one it has lapses "
      "(run onboard.yml)"]),
    ({"token_subject": SUBJECT}, with_(claims=dict(CLAIMS, sub="system:serviceaccount:lab-vms:other")),
     ["the VM's token is for system:serviceaccount:lab-vms:other, not " + SUBJECT + " (run onboard.yml)"]),
    ({"request_url": "http://a/", "request": {"status": 200, "error": "", "peer_identities": [],
                                              "peer_identity_error": "the sidecar has no endpoint for a:80"}}, None,
     ["the request to http://a/ was answered, but no peer of it presented a mesh identity (the sidecar has no "
      "endpoint for a:80): not mutual TLS through the mesh"]),
    ({"request_url": "http://a/", "request": {"status": 503, "error": ""}}, None, ["the request to http://a/ got 503 "]),
    ({"request_url": "http://a/", "request": {"status": None, "error": "URLError: timed out"}}, None,
     ["the request to http://a/ got no answer URLError: timed out"]),
    ({"ready_url": URL}, with_(ready={"status": -1, "msg": "Status code was -1 and not [200]: Request failed"}),
     ["the sidecar is not ready (%s: -1 Status code was -1 and not [200]: Request failed)" % URL]),
])
def test_each_check_reports_its_own_drift(kw, state, expected):
    assert drift(state, **kw) == expected


def test_the_drift_comes_in_the_order_of_the_checks():
    state = with_(checksums={}, ready={"status": 503, "msg": "m"})
    assert drift(state, entry={}, expected_env="") == [
        NAME + " does not exist (istiod creates it when the sidecar connects)",
        "no expected cluster.env was rendered (vm_bootstrap skipped)",
        ENV + " is missing",
        "the sidecar is not ready (%s: 503 m)" % URL,
    ]


def test_refuses_what_is_not_a_read_of_the_vm():
    with pytest.raises(AnsibleFilterError, match="verify_drift: expects"):
        drift("not a dict")


GROUP_OBJECT = {"name": "lab-app", "namespace": "lab-vms", "metadata_labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm"},
                "labels": {"app": "lab-app"}, "template": {"service_account": "lab-app", "network": "meshlab-net",
                                                           "ports": {"http": 8080}},
                "probe": {"period_seconds": 2, "http_get": {"port": 8080, "path": "/"}}}
APPLIED = {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadGroup",
           "metadata": {"name": "lab-app", "namespace": "lab-vms",
                        "labels": {"app.kubernetes.io/managed-by": "meshops.istio_vm"}},
           "spec": {"metadata": {"labels": {"app": "lab-app"}},
                    "template": {"serviceAccount": "lab-app", "network": "meshlab-net", "ports": {"http": 8080}},
                    "probe": {"periodSeconds": 2, "httpGet": {"port": 8080, "path": "/"}}}}


def test_the_workload_group_is_compared_with_the_inventory():
    """The bundle is rendered from the live group: a group the inventory changed since the last onboard
    (ports, the probe) would give the VM a cluster.env that matches, and pass unseen."""
    vm = dict(VM, group_object=GROUP_OBJECT)
    assert drift(vm=vm, group=APPLIED) == []
    assert drift(vm=vm) == [], "no bundle rendered: the group is not checked"
    stale = {**APPLIED, "spec": {**APPLIED["spec"], "template": {**APPLIED["spec"]["template"], "ports": {"http": 9080}}}}
    assert drift(vm=vm, group=stale) == [
        "WorkloadGroup lab-vms/lab-app differs from the inventory in spec.template.ports (run onboard.yml)"]
    no_probe = {**APPLIED, "spec": {k: v for k, v in APPLIED["spec"].items() if k != "probe"}}
    assert drift(vm=vm, group=no_probe) == [
        "WorkloadGroup lab-vms/lab-app differs from the inventory in spec.probe (run onboard.yml)"]
    assert drift(vm=vm, group=None) == ["WorkloadGroup lab-vms/lab-app was not applied by this collection (run onboard.yml)"]

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The vm_token_status filter: whether a VM keeps its istio-token (claims only, never a token)."""
from __future__ import annotations

import base64

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.vm_token_status import FilterModule
from ansible_collections.meshops.istio_vm.plugins.module_utils._token import cert_of_another_identity, cert_of_another_root, env_subject
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.certs import make

ISS = "https://kubernetes.default.svc.cluster.local"
SUB = "system:serviceaccount:ns:vm"
HELD = {"iss": ISS, "sub": SUB, "left": 3600, "token": True}       # the controller holds the token
RECORDED = dict(HELD, token=False)                                  # only the bundle's record of it


def vm_token_status(*args, **kwargs):
    return FilterModule().filters()["vm_token_status"](*args, **kwargs)


def decision(bundle, vm, renew_before=1800, force=False):
    result = vm_token_status(bundle, vm, renew_before=renew_before, force=force)
    return result["vm_token_good"], result["install"], result["missing"], result["controller_token"]


@pytest.mark.parametrize("bundle,vm,expected", [
    # good, install, missing, controller_token
    (HELD, {"iss": ISS, "sub": SUB, "left": 1801, "token": True}, (True, False, False, True)),
    (RECORDED, {"iss": ISS, "sub": SUB, "left": 1801, "token": True}, (True, False, False, False)),
    # renewed once no more than renew_before seconds are left
    (HELD, {"iss": ISS, "sub": SUB, "left": 1800, "token": True}, (False, True, False, True)),
    (RECORDED, {"iss": ISS, "sub": SUB, "left": 1800, "token": True}, (False, True, True, False)),
    (RECORDED, {"iss": ISS, "sub": SUB, "left": -5, "token": True}, (False, True, True, False)),
    # another identity or issuer: the VM's token is not the bundle's
    (HELD, {"iss": ISS, "sub": "system:serviceaccount:ns:other", "left": 9000}, (False, True, False, True)),
    (HELD, {"iss": "https://other", "sub": SUB, "left": 9000}, (False, True, False, True)),
    # the VM has no token (no claims), or one without an expiry
    (HELD, {}, (False, True, False, True)),
    (HELD, None, (False, True, False, True)),
    (RECORDED, {"iss": ISS, "sub": SUB}, (False, True, True, False)),
    # neither a token nor a record on the controller: nothing to compare with, nothing to give
    ({"token": False}, {"iss": ISS, "sub": SUB, "left": 9000}, (False, True, True, False)),
    ({}, {"iss": ISS, "sub": SUB, "left": 9000}, (False, True, True, False)),
])
def test_decision(bundle, vm, expected):
    assert decision(bundle, vm) == expected


def test_renew_before_is_the_threshold():
    vm = {"iss": ISS, "sub": SUB, "left": 600}
    assert decision(HELD, vm, renew_before=599)[0] is True
    assert decision(HELD, vm, renew_before="600")[0] is False       # as the inventory may give it


def test_force_installs_a_good_token_again():
    vm = {"iss": ISS, "sub": SUB, "left": 9000}
    assert decision(HELD, vm, force=True) == (True, True, False, True)
    assert decision(RECORDED, vm, force=True) == (True, True, True, False)


def test_vm_claims_returned_as_given():
    vm = {"iss": ISS, "sub": SUB, "left": 9000, "token": True}
    result = vm_token_status(HELD, vm, renew_before=1800)
    assert result["vm_claims"] == vm
    assert set(result) == {"controller_token", "vm_token_good", "install", "missing", "planned_token", "vm_claims",
                           "stale_cert"}
    assert vm_token_status(HELD, None, renew_before=1800)["vm_claims"] is None


def cert(*uris, exists=True):
    return {"exists": exists, "uris": list(uris), "not_after": "2026-12-07T00:00:00Z"}


@pytest.mark.parametrize("subject,read,stale", [
    ("system:serviceaccount:ns:vm", cert("spiffe://cluster.local/ns/ns/sa/vm"), False),
    ("system:serviceaccount:ns:vm", cert("spiffe://other.domain/ns/ns/sa/vm"), False),     # trust domain: not the CA's question
    ("system:serviceaccount:ns:vm", cert("spiffe://cluster.local/ns/ns/sa/old"), True),    # the account changed
    ("system:serviceaccount:ns:vm", cert("spiffe://cluster.local/ns/old/sa/vm"), True),    # the namespace changed
    ("system:serviceaccount:ns:vm", cert("spiffe://cluster.local/ns/x/sa/old", "spiffe://cluster.local/ns/ns/sa/vm"), False),
    ("system:serviceaccount:ns:vm", cert("spiffe://cluster.local/x/ns/ns/sa/vm"), True),
    ("system:serviceaccount:ns:vm", cert("spiffe://cluster.local/ns/ns/sa/vm", exists=False), False),
    ("system:serviceaccount:ns:vm", cert(), False),                                        # no SPIFFE ID read
    ("system:serviceaccount:ns:vm", cert("https://example.com/ns/ns/sa/old"), False),
    ("system:serviceaccount:ns:vm", None, False),                                          # not read
    ("system:serviceaccount:ns:vm", {"exists": True, "uris": None}, False),
    (None, cert("spiffe://cluster.local/ns/ns/sa/old"), False),                           # no subject known
    ("alice", cert("spiffe://cluster.local/ns/ns/sa/old"), False),
])
def test_a_certificate_of_another_identity_is_stale(subject, read, stale):
    assert cert_of_another_identity(subject, read) is stale
    result = vm_token_status({"iss": ISS, "sub": subject, "left": 3600} if subject else {}, {}, renew_before=1800,
                             cert=read)
    assert result["stale_cert"] is stale


def lasting(left, *uris, exists=True):
    return dict(cert(*uris, exists=exists), seconds_left=left)


OWN = "spiffe://cluster.local/ns/ns/sa/vm"


@pytest.mark.parametrize("vm,read,good", [
    # a token about to expire (or expired) is kept while the certificate of its identity lasts longer:
    # istio-agent renews the certificate with itself, and a new token would only restart the sidecar
    ({"iss": ISS, "sub": SUB, "left": 600}, lasting(1801, OWN), True),
    ({"iss": ISS, "sub": SUB, "left": -60}, lasting(86000, OWN), True),
    ({"iss": ISS, "sub": SUB, "left": 600}, lasting(1800, OWN), False),       # the certificate runs out soon too
    ({"iss": ISS, "sub": SUB, "left": 600}, lasting(-5, OWN), False),         # expired
    ({"iss": ISS, "sub": SUB, "left": 600}, lasting(86000, OWN, exists=False), False),
    ({"iss": ISS, "sub": SUB, "left": 600}, lasting(86000, "spiffe://cluster.local/ns/ns/sa/old"), False),
    ({"iss": ISS, "sub": SUB, "left": 600}, cert(OWN), False),                # no expiry read
    ({"iss": ISS, "sub": SUB, "left": 600}, dict(cert(OWN), seconds_left="soon"), False),
    ({"iss": ISS, "sub": SUB, "left": 600}, None, False),                     # not read
    # the VM's token must still be the bundle's identity, with an expiry
    ({"iss": ISS, "sub": "system:serviceaccount:ns:other", "left": 600}, lasting(86000, OWN), False),
    ({"iss": "https://other", "sub": SUB, "left": 600}, lasting(86000, OWN), False),
    ({"iss": ISS, "sub": SUB}, lasting(86000, OWN), False),
    ({}, lasting(86000, OWN), False),
])
def test_a_lasting_certificate_of_the_identity_keeps_the_token(vm, read, good):
    for bundle in (HELD, RECORDED):
        result = vm_token_status(bundle, vm, renew_before=1800, cert=read)
        assert (result["vm_token_good"], result["install"]) == (good, not good), (bundle, vm, read)
        assert result["missing"] is (not good and not bundle["token"])
    # forced, it is installed all the same (rotate.yml)
    assert vm_token_status(HELD, vm, renew_before=1800, force=True, cert=read)["install"] is True


@pytest.mark.parametrize("bundle,vm,renew_before,message", [
    ("a.b.c", {}, 1800, "bundle must be the claims of a token as a dict, not str"),
    (HELD, ["claims"], 1800, "vm must be the claims of a token as a dict, not list"),
    (HELD, {}, "soon", "renew_before must be a number of seconds, not 'soon'"),
    (HELD, {}, None, "renew_before must be a number of seconds, not None"),
])
def test_bad_input(bundle, vm, renew_before, message):
    with pytest.raises(AnsibleFilterError, match=message):
        vm_token_status(bundle, vm, renew_before=renew_before)


@pytest.fixture(scope="module")
def roots():
    old, new = make("mesh root"), make("mesh root")          # the same name, another key: a new root
    return {"old": old, "new": new, "renewed": make("mesh root", key=new.key, days=3650),
            "old_leaf": make(None, issuer=old, ca=False, san=OWN), "new_leaf": make(None, issuer=new, ca=False, san=OWN)}


def issued(cert, left=86000, exists=True):
    return dict(lasting(left, OWN, exists=exists), chain=[base64.b64encode(cert.der).decode()] if cert else [])


@pytest.mark.parametrize("leaf,trusted,stale", [
    ("new_leaf", ("new",), False),
    ("new_leaf", ("renewed",), False),                      # istiod's root renewed with its key: still trusted
    ("old_leaf", ("new",), True),                           # the mesh's root changed
    ("old_leaf", ("new", "old"), False),                    # both roots trusted (a migration)
    ("old_leaf", ("old", "new"), False),
    (None, ("new",), False),                                # no certificate of the chain to judge
    ("old_leaf", (), False),                                # the bundle's roots are not known
])
def test_a_certificate_of_another_root_is_stale_and_does_not_keep_the_token(roots, leaf, trusted, stale):
    read = issued(roots[leaf] if leaf else None)
    bundle = "".join(roots[name].pem for name in trusted) or None
    assert cert_of_another_root(read, bundle) is stale
    due = {"iss": ISS, "sub": SUB, "left": 600}
    result = vm_token_status(RECORDED, due, renew_before=1800, cert=read, roots=bundle)
    assert result["stale_cert"] is stale
    # a token about to expire is kept for a lasting certificate, unless istiod no longer trusts that certificate
    assert (result["vm_token_good"], result["missing"]) == (not stale, stale)
    # a token that lasts is kept either way: the agent asks for a new certificate with it
    assert vm_token_status(HELD, dict(due, left=9000), renew_before=1800, cert=read, roots=bundle)["vm_token_good"]


@pytest.mark.parametrize("read,bundle", [
    (None, "x"),
    ({"exists": False, "chain": ["MIIB"]}, "x"),
    ({"exists": True, "chain": ["!!"]}, "x"),
    ({"exists": True, "chain": [None]}, "x"),
    ({"exists": True, "chain": "MIIB"}, "x"),
    ({"exists": True, "chain": []}, "x"),
    ({"exists": True}, "x"),                                  # a read without chain
    ({"exists": True, "chain": ["MIIB"]}, ["not", "text"]),
])
def test_a_root_that_cannot_be_told_is_not_stale(read, bundle):
    assert cert_of_another_root(read, bundle) is False


PLANNED_ENV = "CANONICAL_SERVICE=app\nPOD_NAMESPACE='ns'\nSERVICE_ACCOUNT='%s'\nTRUST_DOMAIN=cluster.local\n"


@pytest.mark.parametrize("bundle", [HELD, RECORDED])
def test_a_dry_run_compares_with_the_identity_of_the_cluster_env_it_would_write(bundle):
    """A new service account: the run requests a token of it, so the VM's token and certificate of the old one
    go, though the bundle on the controller (the last run's) still names the old one."""
    vm = {"iss": ISS, "sub": SUB, "left": 9000}
    old = cert("spiffe://cluster.local/ns/ns/sa/vm")
    kept = vm_token_status(bundle, vm, renew_before=1800, cert=old, planned_env=PLANNED_ENV % "vm")
    assert kept == vm_token_status(bundle, vm, renew_before=1800, cert=old)
    assert kept["vm_token_good"] and not kept["install"] and not kept["stale_cert"]
    assert not kept["planned_token"]
    moved = vm_token_status(bundle, vm, renew_before=1800, cert=old, planned_env=PLANNED_ENV % "new-sa")
    assert not moved["vm_token_good"] and moved["install"] and moved["stale_cert"]
    # the run puts a token of the new identity in the bundle before the VM's turn: the VM would get that one, not the
    # controller's (of the old identity), and there is nothing more to request
    assert moved["planned_token"] and not moved["controller_token"] and not moved["missing"]
    # the certificate of the new identity is not stale
    new = vm_token_status(bundle, vm, renew_before=1800, cert=cert("spiffe://cluster.local/ns/ns/sa/new-sa"),
                          planned_env=PLANNED_ENV % "new-sa")
    assert not new["stale_cert"]
    # a VM that has a good token of the new identity already keeps it
    ready = vm_token_status(bundle, dict(vm, sub="system:serviceaccount:ns:new-sa"), renew_before=1800,
                            planned_env=PLANNED_ENV % "new-sa")
    assert ready["vm_token_good"] and not ready["install"] and not ready["planned_token"]


@pytest.mark.parametrize("bundle", [{}, None, {"token": False}])
def test_a_dry_run_without_a_bundle_token_or_record_compares_with_the_token_the_run_would_request(bundle):
    """A controller without the last run's bundles (an AWX job): the run requests a token of the planned identity
    before the VM's turn. A VM whose token is of that identity keeps it; any other VM would get the new one."""
    vm = {"iss": ISS, "sub": SUB, "left": 9000}
    kept = vm_token_status(bundle, vm, renew_before=1800, planned_env=PLANNED_ENV % "vm")
    assert kept["vm_token_good"] and not kept["install"] and not kept["missing"] and not kept["planned_token"]
    # without planned_env (a real run, or no bundle planned) the controller simply holds none: missing
    assert vm_token_status(bundle, vm, renew_before=1800)["missing"]
    for other in (None, {}, dict(vm, left=600), dict(vm, sub="system:serviceaccount:ns:old")):
        new = vm_token_status(bundle, other, renew_before=1800, planned_env=PLANNED_ENV % "vm")
        assert new["install"] and new["planned_token"] and not new["missing"] and not new["controller_token"]
    # a certificate that lasts, of the planned identity, keeps an expired token (as with a held token)
    lasting = dict(cert("spiffe://cluster.local/ns/ns/sa/vm"), seconds_left=80000)
    assert not vm_token_status(bundle, dict(vm, left=-5), renew_before=1800, cert=lasting,
                               planned_env=PLANNED_ENV % "vm")["install"]
    # the issuer of the token the run would request is not known: the VM's is taken (docs: the dry run's assumption)
    assert not vm_token_status(bundle, dict(vm, iss="https://other.issuer"), renew_before=1800,
                               planned_env=PLANNED_ENV % "vm")["install"]
    # ... and one of another identity goes
    assert vm_token_status(bundle, vm, renew_before=1800, cert=cert("spiffe://cluster.local/ns/ns/sa/old"),
                           planned_env=PLANNED_ENV % "vm")["stale_cert"]


@pytest.mark.parametrize("text,subject", [
    (PLANNED_ENV % "vm", SUB),
    ("POD_NAMESPACE=ns\nSERVICE_ACCOUNT=vm\n", SUB),                        # shell_quote leaves plain words bare
    ("SERVICE_ACCOUNT='vm'\n", None),                                       # no namespace
    ("POD_NAMESPACE='ns'\nSERVICE_ACCOUNT='unclosed\n", None),
    # a quoted value of another variable may hold newlines: never read as a line of its own
    ("POD_NAMESPACE=ns\nSERVICE_ACCOUNT=vm\nZZ='x\nSERVICE_ACCOUNT=evil\n'\n", SUB),
    ("A='it'\"'\"'s'\nPOD_NAMESPACE=ns\nSERVICE_ACCOUNT=vm\n", SUB),
    ("", None),
    (None, None),
])
def test_the_identity_a_cluster_env_names(text, subject):
    assert env_subject(text) == subject

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Whether one of the mesh's roots issued a workload's certificate, from its chain file.
from __future__ import annotations

import base64
import builtins

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils import _pem
from ansible_collections.meshops.istio_vm.plugins.module_utils._pem import (
    MAX_CHAIN, chain_certificates, issued_by_mesh, pem_certificate_list)
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.certs import make

SPIFFE = "spiffe://cluster.local/ns/lab-vms/sa/lab-app"


@pytest.fixture(scope="module")
def pki():
    root, old = make("mesh root"), make("old root")
    intermediate = make("intermediate", issuer=root)
    # the new root, also signed by the old one (a link certificate for a migration)
    link = make("mesh root", issuer=old, key=root.key)
    return {"root": root, "old": old, "intermediate": intermediate, "link": link,
            "other": make("other root"),
            "leaf": make(None, issuer=root, ca=False, san=SPIFFE),
            "leaf_of_intermediate": make(None, issuer=intermediate, ca=False, san=SPIFFE),
            "leaf_of_old": make(None, issuer=old, ca=False, san=SPIFFE),
            # istiod's self-signed root, renewed: the same key and name, a new certificate
            "renewed": make("mesh root", key=root.key, days=3650),
            # another root of the same name, and a certificate it issued
            "impostor": make("mesh root"),
            # an intermediate of the same name as the real one, of another key
            "forged_intermediate": make("intermediate", issuer=make("somewhere")),
            "self_signed": make("alone")}


def ders(pki, *parts):
    return [pki[part].der for part in parts]


def pem(pki, *parts):
    return "".join(pki[part].pem for part in parts)


@pytest.mark.parametrize("chain,roots,issued", [
    (("leaf", "root"), ("root",), True),                                     # istiod's self-signed CA
    (("leaf", "other", "root"), ("other", "root"), True),                    # istiod appends its bundle, any order
    (("leaf", "root", "other"), ("root", "other"), True),
    (("leaf", "root"), ("other",), False),                                   # the mesh's root changed
    (("leaf", "root"), ("other", "root"), True),                             # a migration: both roots trusted
    (("leaf", "root"), ("root", "other"), True),
    (("leaf",), ("root",), True),                                            # a file without its root
    (("leaf", "root"), ("renewed",), True),                                  # the same key and name
    (("leaf", "root"), ("impostor",), False),                                # the same name, another key
    (("leaf_of_intermediate", "intermediate", "root"), ("root",), True),     # a plug-in CA's intermediate
    (("leaf_of_intermediate", "root", "intermediate"), ("root",), True),
    (("leaf_of_intermediate", "intermediate"), ("root",), True),
    (("leaf_of_intermediate", "intermediate", "root"), ("other",), False),
    (("leaf_of_intermediate",), ("root",), False),                           # no intermediate to go through
    (("leaf_of_intermediate", "forged_intermediate", "intermediate"), ("root",), True),
    (("leaf_of_intermediate", "forged_intermediate"), ("root",), False),     # a name is not a signature
    (("leaf_of_intermediate", "intermediate"), ("intermediate",), True),     # a bundle that holds the intermediate
    (("leaf_of_old", "link", "root"), ("root",), False),                     # the old root issued it
    (("leaf_of_old", "link", "root"), ("old",), True),
    (("leaf", "root"), ("link",), True),                                     # the new root's key, under the old root
    (("leaf", "old", "root"), ("old",), False),                              # a root in the file is no root of the mesh
    (("leaf", "root"), ("leaf",), True),                                     # a bundle that holds the certificate itself
])
def test_issued_by_mesh(pki, chain, roots, issued):
    assert issued_by_mesh(ders(pki, *chain), pem(pki, *roots)) is issued
    assert issued_by_mesh(ders(pki, *chain), pem(pki, *roots).replace("\n", "\r\n")) is issued


def test_a_cross_signed_link_leads_to_the_new_root(pki):
    """A migration's chain: leaf <- intermediate <- root, with the root also signed by the old root (link)."""
    root, old = pki["root"], pki["old"]
    intermediate = make("link intermediate", issuer=root)
    leaf = make(None, issuer=intermediate, ca=False, san=SPIFFE)
    link = make("mesh root", issuer=old, key=root.key)
    for order in ((intermediate, link, root), (link, intermediate), (link, root, intermediate)):
        chain = [leaf.der] + [cert.der for cert in order]
        assert issued_by_mesh(chain, root.pem) is True
        assert issued_by_mesh(chain, old.pem) is (link in order)
        assert issued_by_mesh(chain, pki["other"].pem) is False


def test_intermediates_that_issue_each_other_end_the_walk(pki):
    a, b = make("a"), make("b")
    a_by_b, b_by_a = make("a", issuer=b, key=a.key), make("b", issuer=a, key=b.key)
    leaf = make(None, issuer=a_by_b, ca=False)
    assert issued_by_mesh([leaf.der, a_by_b.der, b_by_a.der], pki["root"].pem) is False
    assert issued_by_mesh([leaf.der, a_by_b.der, b_by_a.der], b.pem) is True


@pytest.mark.parametrize("chain,roots", [
    ([], "root"),
    ([b"not a certificate"], "root"),
    (["self_signed"], "root"),                    # a self-signed certificate: nothing to judge
    (["leaf", "root"], ""),
    (["leaf", "root"], "not a certificate"),
    (["leaf", "root"], "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
])
def test_issued_by_mesh_cannot_tell(pki, chain, roots):
    chain = [pki[part].der if part in pki else part for part in chain]
    assert issued_by_mesh(chain, pki[roots].pem if roots in pki else roots) is None


def test_a_certificate_cryptography_refuses_is_left_out(pki):
    """cryptography raises InvalidVersion (not a ValueError) for a version field out of range."""
    der = bytearray(pki["other"].der)
    at = der.index(b"\xa0\x03\x02\x01\x02")          # [0] version v3
    der[at + 4] = 9
    assert issued_by_mesh([pki["leaf"].der, bytes(der)], pki["root"].pem) is True
    assert issued_by_mesh([pki["leaf"].der], pki["root"].pem + _pem_of(bytes(der))) is True
    assert issued_by_mesh([bytes(der)], pki["root"].pem) is None


def _pem_of(der: bytes) -> str:
    return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % base64.b64encode(der).decode()


def test_a_signature_that_cannot_be_checked_is_not_a_verdict(pki, monkeypatch):
    def unsupported(self, issuer):
        raise TypeError("unsupported key type")
    monkeypatch.setattr(x509.Certificate, "verify_directly_issued_by", unsupported, raising=False)
    assert issued_by_mesh(ders(pki, "leaf", "root"), pem(pki, "root")) is None
    # a root of another name is a verdict all the same
    assert issued_by_mesh(ders(pki, "leaf", "root"), pem(pki, "other")) is False


def test_without_verify_directly_issued_by_nothing_is_judged(pki, monkeypatch):
    """cryptography before 40 has no verify_directly_issued_by: the check is skipped, not failed."""
    monkeypatch.delattr(x509.Certificate, "verify_directly_issued_by")
    assert issued_by_mesh(ders(pki, "leaf", "root"), pem(pki, "other")) is None


def test_without_cryptography_nothing_is_judged(pki, monkeypatch):
    real = builtins.__import__

    def no_cryptography(name, *args, **kwargs):
        if name.startswith("cryptography"):
            raise ImportError(name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_cryptography)
    assert issued_by_mesh(ders(pki, "leaf", "root"), pem(pki, "other")) is None


def test_an_ed25519_root_is_checked_too(pki):
    key = ed25519.Ed25519PrivateKey.generate()
    root = make("ed root", key=key)
    leaf = make(None, issuer=root, ca=False)
    assert issued_by_mesh([leaf.der], root.pem) is True
    assert issued_by_mesh([leaf.der], pki["root"].pem) is False


def test_chain_certificates_keeps_the_order_and_at_most_max_chain(pki):
    assert chain_certificates(pem(pki, "leaf", "root", "leaf")) == ders(pki, "leaf", "root", "leaf")
    assert len(chain_certificates(pem(pki, "leaf") * (MAX_CHAIN + 5))) == MAX_CHAIN
    assert chain_certificates("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n") == []
    assert pem_certificate_list(pem(pki, "root")) == [pki["root"].der]
    assert _pem.pem_certificates(pem(pki, "root", "root")) == {pki["root"].der}

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cert_renewal filter: rotate.yml's rule for a new token, from the VM's workload certificate."""
from __future__ import annotations

import base64

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.cert_renewal import FilterModule
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.certs import make

OWN = "spiffe://cluster.local/ns/ns/sa/vm"
ID = {"namespace": "ns", "service_account": "vm"}
UNTIL = "Nov 27 10:41:07 2026 GMT"


def cert_renewal(*args, **kwargs):
    return FilterModule().filters()["cert_renewal"](*args, **kwargs)


@pytest.fixture(scope="module")
def pki():
    old, new = make("mesh root"), make("mesh root")          # the same name, another key: a new root
    return {"old": old, "new": new, "old_leaf": make(None, issuer=old, ca=False, san=OWN),
            "new_leaf": make(None, issuer=new, ca=False, san=OWN)}


def read(left=86000, uris=(OWN,), leaf=None, exists=True):
    """vm_state_info's read of a workload certificate."""
    return {"exists": exists, "uris": list(uris), "not_after": UNTIL, "seconds_left": left,
            "chain": [base64.b64encode(leaf.der).decode()] if leaf else []}


@pytest.mark.parametrize("cert,threshold,force,renew,reason", [
    (read(21600), 21600, False, False, "Certificate valid until %s (21600s left)" % UNTIL),
    # renewed once fewer than threshold seconds are left
    (read(21599), 21600, False, True, "Certificate valid until %s (21599s left)" % UNTIL),
    (read(-30), "21600", False, True, "Certificate valid until %s (-30s left)" % UNTIL),   # as a survey gives it
    (read(86000), 21600, True, True, "Certificate valid until %s (86000s left)" % UNTIL),
    # no certificate, or none that can be read
    (read(exists=False), 21600, False, True, "No workload certificate"),
    ({}, 21600, False, True, "No workload certificate"),
    (None, 21600, False, True, "No workload certificate"),
    (dict(read(), seconds_left="soon"), 21600, False, True, "Certificate valid until %s (-1s left)" % UNTIL),
])
def test_expiry_and_force(cert, threshold, force, renew, reason):
    assert cert_renewal(cert, threshold, force=force, **ID) == {"renew": renew, "reason": reason}


def test_a_certificate_of_another_identity_is_stale():
    other = read(86000, uris=("spiffe://cluster.local/ns/ns/sa/old",))
    result = cert_renewal(other, 21600, **ID)
    assert result["renew"] is True
    assert result["reason"] == ("Certificate of another identity (spiffe://cluster.local/ns/ns/sa/old) than the "
                                "workload's (system:serviceaccount:ns:vm), valid until %s (86000s left)" % UNTIL)
    # the workload's identity not known: not checked
    assert cert_renewal(other, 21600) == {"renew": False,
                                          "reason": "Certificate valid until %s (86000s left)" % UNTIL}


@pytest.mark.parametrize("leaf,roots,stale", [
    ("old_leaf", ("new",), True),        # the mesh's root changed while the VM was away
    ("new_leaf", ("new",), False),
    ("old_leaf", ("new", "old"), False),  # both roots trusted (a migration)
    ("old_leaf", (), False),             # the mesh's roots are not known: not checked
])
def test_a_certificate_of_a_root_the_mesh_no_longer_has_is_stale(pki, leaf, roots, stale):
    bundle = "".join(pki[name].pem for name in roots) or None
    result = cert_renewal(read(86000, leaf=pki[leaf]), 21600, **ID, roots=bundle)
    reason = ("Certificate of a root the mesh no longer has, valid until %s (86000s left)" if stale
              else "Certificate valid until %s (86000s left)") % UNTIL
    assert result == {"renew": stale, "reason": reason}


def test_bad_threshold():
    with pytest.raises(AnsibleFilterError, match="cert_renewal: threshold must be a number of seconds, not 'soon'"):
        cert_renewal(read(), "soon")


def test_a_stale_certificate_whatever_else(pki):
    """Stale and due, stale and forced: a new token either way, and the certificate goes."""
    old = read(60, leaf=pki["old_leaf"])
    for result in (cert_renewal(old, 21600, **ID, roots=pki["new"].pem),
                   cert_renewal(read(86000, leaf=pki["old_leaf"]), 21600, force=True, roots=pki["new"].pem)):
        assert result["renew"] is True
        assert result["reason"].startswith("Certificate of a root the mesh no longer has")


def test_roots_or_identities_that_are_not_known_are_not_checked(pki):
    lasting = read(86000, leaf=pki["old_leaf"])
    for roots in ("", None, "not a certificate"):
        assert cert_renewal(lasting, 21600, **ID, roots=roots)["renew"] is False
    # a certificate without a SPIFFE ID names no identity to compare
    assert cert_renewal(read(86000, uris=("https://example.com",)), 21600, **ID)["renew"] is False


@pytest.mark.parametrize("identity", [{"namespace": "ns"}, {"service_account": "vm"}])
def test_half_an_identity_is_an_error(identity):
    with pytest.raises(AnsibleFilterError, match="cert_renewal: namespace and service_account go together"):
        cert_renewal(read(), 21600, **identity)

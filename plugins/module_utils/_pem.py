# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Certificates in PEM text: which ones a text holds (standard library only: the VM reads run these), and
whether one of the mesh's roots issued a workload's certificate (``issued_by_mesh``, on the controller,
with ``cryptography``, which ansible-core requires)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, List, Optional, Tuple

PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def pem_certificate_list(text: str) -> List[bytes]:
    """The certificates of a PEM text in their order, each as its DER bytes: the same certificate whatever
    its line breaks (istio-agent writes root-cert.pem without the last newline). Blocks that are not base64
    are left out."""
    found = []
    for body in PEM_CERTIFICATE.findall(text or ""):
        try:
            found.append(base64.b64decode("".join(body.split()), validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def pem_certificates(text: str) -> set:
    """The certificates of a PEM text as a set of their DER bytes (pem_certificate_list)."""
    return set(pem_certificate_list(text))


MAX_CHAIN = 16


def chain_certificates(text: str) -> List[bytes]:
    """The certificates of a chain file (PEM text: the workload's certificate first, then its CA certificates,
    and the root bundle istiod appends, in no set order), at most MAX_CHAIN of them: what the controller
    needs to tell which root issued the first one (issued_by_mesh)."""
    return pem_certificate_list(text)[:MAX_CHAIN]


def _issued(cert: Any, issuer: Any, invalid: Any) -> Optional[bool]:
    """Whether ``issuer`` issued ``cert`` (its name and its signature); None when this cannot be checked (a key
    or signature algorithm ``cryptography`` does not support)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except invalid:
        return False
    except Exception:  # pylint: disable=broad-except  # unsupported algorithms: cannot tell
        return None
    return True


def issued_by_mesh(chain: List[bytes], roots: str) -> Optional[bool]:
    """Whether the first certificate of ``chain`` (DER, chain_certificates) goes back to one of the
    certificates of the PEM text ``roots`` (the mesh's trust bundle): it or one of the chain's CA certificates
    it goes back to (each issued the one before it: its name and its signature, checked with ``cryptography``)
    is one of them, or was issued by one. A root renewed with the same key and name still counts, as in
    istiod's TLS; a certificate in the chain file is no root of the mesh for being there. None when it
    cannot be told: no ``chain``, a first certificate that does not parse or is self-issued, no root that
    parses, a signature that could not be checked on the way, or a ``cryptography`` older than 40 (or none)."""
    try:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
    except ImportError:
        return None
    if not chain or not hasattr(x509.Certificate, "verify_directly_issued_by"):
        return None
    certs, mesh = _load(x509, chain), _load(x509, pem_certificate_list(roots))
    if not certs or certs[0][0] != chain[0] or not mesh or _self_issued(certs[0][1]):
        return None
    mesh_der = {der for der, _cert in mesh}
    cas = [(der, cert) for der, cert in certs[1:] if not _self_issued(cert)]
    frontier, reached, unknown = [certs[0]], {certs[0][0]}, False
    while frontier:
        der, cert = frontier.pop()
        if der in mesh_der:
            return True
        for _root_der, root in mesh:
            answer = _issued(cert, root, InvalidSignature)
            if answer:
                return True
            unknown = unknown or answer is None
        for ca_der, ca in cas:
            if ca_der in reached:
                continue
            answer = _issued(cert, ca, InvalidSignature)
            unknown = unknown or answer is None
            if answer:
                reached.add(ca_der)
                frontier.append((ca_der, ca))
    return None if unknown else False


def _self_issued(cert: Any) -> bool:
    return cert.issuer == cert.subject


def _load(x509: Any, ders: List[bytes]) -> List[Tuple[bytes, Any]]:
    """The certificates of ``ders`` that parse, with their DER bytes."""
    loaded = []
    for der in ders:
        try:
            loaded.append((der, x509.load_der_x509_certificate(der)))
        except Exception:  # pylint: disable=broad-except  # any certificate cryptography refuses is left out
            continue
    return loaded

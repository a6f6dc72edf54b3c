# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Certificates of the tests' own, made with ``cryptography`` in memory: roots, intermediates and
workload certificates as istiod issues them (an empty subject, the SPIFFE ID as a URI SAN)."""
from __future__ import annotations

import datetime
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID


class Cert:
    """A certificate and its key; ``pem`` its PEM text, ``der`` its DER bytes."""

    def __init__(self, cert: x509.Certificate, key) -> None:
        self.cert, self.key = cert, key
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.pem = cert.public_bytes(serialization.Encoding.PEM).decode()


def make(name: Optional[str], issuer: Optional[Cert] = None, ca: bool = True, san: Optional[str] = None,
         key=None, days: int = 2) -> Cert:
    """A certificate of subject O=``name`` (empty subject for None), signed by ``issuer`` (self-signed
    without one), with ``key`` (a new P-256 key without one; an Ed25519 key may be given)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)] if name else [])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san)]),
                                        critical=True)
    signer = issuer.key if issuer else key
    # an Ed25519 key signs without a separate hash
    return Cert(builder.sign(signer, None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()), key)

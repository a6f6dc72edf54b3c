# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""Pure helpers for the VM's istio-token: read its claims (never its signature), decide reuse.

Nothing here returns or logs the token itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
from typing import Any, Dict, Optional

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._pem import issued_by_mesh


def claims(token: str) -> Optional[Dict[str, Any]]:
    """The JWT payload of ``token``, or None when it is not a JWT (a payload that is no JSON object
    is none either). The signature is not checked:
    the API server and istiod check it; this only decides whether to ask for a new one."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        found = json.loads(base64.urlsafe_b64decode(payload.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return found if isinstance(found, dict) else None


def subject(namespace: str, service_account: str) -> str:
    return "system:serviceaccount:%s:%s" % (namespace, service_account)


def same_identity(token_claims: Optional[Dict[str, Any]], namespace: str, service_account: str, audience: str) -> bool:
    """True when the token is for this service account and audience."""
    if not token_claims:
        return False
    aud = token_claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    return token_claims.get("sub") == subject(namespace, service_account) and audience in audiences


def reusable(token_claims: Optional[Dict[str, Any]], namespace: str, service_account: str, audience: str,
             now: float, min_remaining: int) -> bool:
    """True when the token is for this service account and audience and stays valid long enough."""
    if not same_identity(token_claims, namespace, service_account, audience):
        return False
    exp = (token_claims or {}).get("exp")
    return isinstance(exp, (int, float)) and exp - now >= min_remaining


# What vm_bootstrap does with the token of a bundle.
RENEWED, KEPT, DELIVERED = "renewed", "kept", "delivered"
RECORD_CLAIMS = ("iss", "sub", "aud", "exp")


def record(token_claims: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The non-secret record of a token: the claims that say whose it is and until when."""
    return {key: (token_claims or {}).get(key) for key in RECORD_CLAIMS}


def record_text(token_claims: Optional[Dict[str, Any]]) -> str:
    return json.dumps(record(token_claims), indent=2, sort_keys=True) + "\n"


def parse_record(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """The claims of a record file's text, or None when there is none or it is not a record."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return record(data) if isinstance(data, dict) else None


def token_action(held: Optional[Dict[str, Any]], recorded: Optional[Dict[str, Any]], rotate: bool,
                 namespace: str, service_account: str, audience: str, now: float, min_remaining: int,
                 renew_delivered: bool = True) -> str:
    """What to do with a bundle's token.

    ``held`` are the claims of the token the controller holds (None: it holds none; {}: a file
    that is not a token), ``recorded`` those of the bundle's record of the last token it wrote or
    kept. ``kept``: the held token is still good. ``delivered``: the controller holds no token, but
    the one it last handed out is still good (the VM has it), or, without ``renew_delivered``, is of
    the same identity however long it has left (the caller asks the VM and requests a token only for
    one that needs it). Otherwise ``renewed``.
    """
    if rotate:
        return RENEWED
    if held is not None:
        return KEPT if reusable(held, namespace, service_account, audience, now, min_remaining) else RENEWED
    if not renew_delivered and same_identity(recorded, namespace, service_account, audience):
        return DELIVERED
    return DELIVERED if reusable(recorded, namespace, service_account, audience, now, min_remaining) else RENEWED


def remaining(token_claims: Any, now: float) -> Dict[str, Any]:
    """Whose a token is and how long it has left, ``{"iss", "sub", "left"}`` (``left`` in seconds,
    negative once expired), or ``{}`` when ``token_claims`` has no integer ``exp``."""
    if not isinstance(token_claims, dict):
        return {}
    try:
        exp = int(token_claims["exp"])
    except (KeyError, TypeError, ValueError):
        return {}
    return {"iss": token_claims.get("iss"), "sub": token_claims.get("sub"), "left": exp - int(now)}


def status(token_text: Optional[str], record_file_text: Optional[str], now: float) -> Dict[str, Any]:
    """``remaining`` of a token file's text, else of its record's (``istio-token.claims``); ``token``
    says whether the token file holds a token. ``None`` stands for a file that is not there."""
    found = remaining(claims(token_text), now) if token_text else {}
    if found:
        return dict(found, token=True)
    return dict(remaining(parse_record(record_file_text), now), token=False)


def cert_of_another_identity(token_subject: Any, cert: Any) -> bool:
    """Whether the VM's workload certificate (``cert``: vm_state_info's read, with ``exists`` and ``uris``)
    names none of the identity of the token subject ``token_subject`` (``system:serviceaccount:<ns>:<sa>``), so that
    istio-agent must not keep it. The agent authenticates its certificate requests with the certificate
    it holds (``PROV_CERT``, istio-start.sh sets ``/etc/certs``) while it is valid, and the CA signs that
    certificate's identity, not the token's: a VM moved to another service account or namespace would
    keep its old identity. False when either is unknown (no subject, no certificate, no SPIFFE ID)."""
    if (not isinstance(token_subject, str) or len(token_subject.split(":")) != 4
            or not token_subject.startswith("system:serviceaccount:") or not isinstance(cert, dict)):
        return False
    uris = [uri for uri in cert.get("uris") or [] if isinstance(uri, str) and uri.startswith("spiffe://")]
    return bool(cert.get("exists")) and bool(uris) and token_subject not in map(_spiffe_subject, uris)


def cert_of_another_root(cert: Any, roots: Any) -> bool:
    """Whether none of the mesh's roots ``roots`` (the PEM text of the bundle's root-cert.pem, the mesh's trust
    bundle) issued the VM's workload certificate (``cert``: vm_state_info's read, with ``exists`` and ``chain``,
    the base64 of each certificate of its chain file; _pem.issued_by_mesh). After the mesh's root changed,
    istio-agent would go on authenticating with that certificate (``PROV_CERT``), which istiod no longer
    trusts, until it expired. False when it cannot be told (no certificate, no root, no ``cryptography``)."""
    if not isinstance(cert, dict) or not cert.get("exists") or not isinstance(roots, str):
        return False
    chain = cert.get("chain")
    if not isinstance(chain, list) or not chain:
        return False
    try:
        ders = [base64.b64decode(item, validate=True) for item in chain]
    except (binascii.Error, TypeError, ValueError):
        return False
    return issued_by_mesh(ders, roots) is False


def cert_lasts(token_subject: Any, cert: Any, seconds: int) -> bool:
    """Whether the VM's workload certificate (``cert``: vm_state_info's read, with ``exists``, ``uris`` and
    ``seconds_left``) names the identity of the token subject ``token_subject`` and is valid for more than
    ``seconds``. istio-agent renews such a certificate with itself (``PROV_CERT``), so the VM needs no new
    token meanwhile: giving it one would restart its sidecar for nothing."""
    if not isinstance(token_subject, str) or not isinstance(cert, dict) or not cert.get("exists"):
        return False
    try:
        left = int(cert.get("seconds_left", -1))
    except (TypeError, ValueError):
        return False
    uris = [uri for uri in cert.get("uris") or [] if isinstance(uri, str)]
    return left > seconds and token_subject in map(_spiffe_subject, uris)


def _spiffe_subject(uri: str) -> Optional[str]:
    """The token subject of the identity a SPIFFE ID names (spiffe://<trust domain>/ns/<ns>/sa/<sa>), or None."""
    parts = uri.split("/")
    if len(parts) == 7 and parts[:2] == ["spiffe:", ""] and parts[3] == "ns" and parts[5] == "sa":
        return subject(parts[4], parts[6])
    return None


def cert_renewal(cert: Any, threshold: Any, force: bool = False, namespace: Any = None,
                 service_account: Any = None, roots: Any = None) -> Dict[str, Any]:
    """Whether playbooks/rotate.yml gives a VM a new token, and why. ``cert`` is the VM's workload
    certificate (vm_state_info's read: ``exists``, ``uris``, ``not_after``, ``seconds_left``, ``chain``),
    ``threshold`` the seconds it must have left at least, ``namespace`` and ``service_account`` the
    workload's identity and ``roots`` the mesh's root certificates (PEM text), either None when not known
    (then not checked).

    A new token when ``force``, when there is no certificate, when it has fewer than ``threshold`` seconds
    left, or when it is stale: of another identity (cert_of_another_identity) or of a root the mesh no
    longer has (cert_of_another_root). istio-agent renews a certificate with itself while it is valid,
    so a stale one must go, with its key, before the restart with the new token; that removal is
    vm_token_status's ``stale_cert``, the same two checks. ``reason`` says which, in one line for the
    run's report."""
    try:
        seconds = int(threshold)
    except (TypeError, ValueError):
        raise MeshError("cert_renewal: threshold must be a number of seconds, not %r" % (threshold,))
    if (namespace is None) != (service_account is None):
        raise MeshError("cert_renewal: namespace and service_account go together (the workload's identity)")
    token_subject = subject(namespace, service_account) if namespace is not None else None
    if not isinstance(cert, dict) or not cert.get("exists"):
        return {"renew": True, "reason": "No workload certificate"}
    try:
        left = int(cert.get("seconds_left", -1))
    except (TypeError, ValueError):
        left = -1
    valid = "valid until %s (%ss left)" % (cert.get("not_after", "an unknown time"), left)
    if cert_of_another_identity(token_subject, cert):
        names = ", ".join(uri for uri in cert["uris"] if isinstance(uri, str) and uri.startswith("spiffe://"))
        reason = "Certificate of another identity (%s) than the workload's (%s), %s" % (names, token_subject, valid)
        return {"renew": True, "reason": reason}
    if cert_of_another_root(cert, roots):
        return {"renew": True, "reason": "Certificate of a root the mesh no longer has, " + valid}
    return {"renew": bool(force) or left < seconds, "reason": "Certificate " + valid}


def env_subject(env_text: Any) -> Optional[str]:
    """The token subject of the identity a cluster.env names (its POD_NAMESPACE and SERVICE_ACCOUNT), or None
    when it names none. The text is split as the shell reads it, so a quoted value of another variable (which
    may hold newlines) is never taken for a line of its own."""
    if not isinstance(env_text, str):
        return None
    try:
        words = shlex.split(env_text)
    except ValueError:
        return None
    values = dict(word.partition("=")[::2] for word in words)
    namespace, service_account = values.get("POD_NAMESPACE"), values.get("SERVICE_ACCOUNT")
    return subject(namespace, service_account) if namespace and service_account else None


def vm_token_status(bundle: Any, vm: Any, renew_before: Any, force: bool = False, cert: Any = None,
                    roots: Any = None, planned_env: Any = None) -> Dict[str, Any]:
    """Whether a VM keeps its token, and whether the controller holds one to give it.

    ``bundle`` is ``status`` of the bundle's token (or of its record, once the controller removed the
    token), ``vm`` ``status`` or ``remaining`` of the VM's token (``{}`` or None: it has none). The
    VM's token is good when it has an expiry, is for the bundle's issuer and subject, and has more
    than ``renew_before`` seconds left, or its workload certificate ``cert`` is of that subject and valid
    for more than ``renew_before`` seconds (cert_lasts: the agent renews it without a token) and chains to
    one of the mesh's roots ``roots`` (the bundle's root-cert.pem; cert_of_another_root). ``install``:
    the bundle's token is to be copied (``force``, or the VM's is not good); ``missing``: so, but the
    controller holds no token. ``vm_claims`` is ``vm`` as given (claims only, never a token).
    ``stale_cert``: the VM's workload certificate ``cert`` is of another identity than the bundle's token
    (cert_of_another_identity) or chains to none of ``roots`` (cert_of_another_root): the agent must not keep it.
    ``planned_env``: in a dry run, the cluster.env the run would write. When it names another identity than the
    bundle's token, or the bundle holds neither token nor record (a controller without the last run's bundles,
    an AWX job), the run writes a token of that identity into the bundle before the VM's turn (vm_bootstrap's
    token_action): the comparison is with that identity, the controller's token (of the old one) is not the VM's
    to get, and ``planned_token`` says that the VM would get the new one (``missing`` stays false: nothing more
    to request). With nothing held the issuer is not known before the run requests the token: the VM's is taken.
    """
    for name, value in (("bundle", bundle), ("vm", vm)):
        if value is not None and not isinstance(value, dict):
            raise MeshError("vm_token_status: %s must be the claims of a token as a dict, not %s"
                            % (name, type(value).__name__))
    try:
        threshold = int(renew_before)
    except (TypeError, ValueError):
        raise MeshError("vm_token_status: renew_before must be a number of seconds, not %r" % (renew_before,))
    held, own = bundle or {}, vm or {}
    planned = env_subject(planned_env)
    planned_token = planned is not None and planned != held.get("sub")
    if planned_token:
        held = {"iss": held.get("iss") if held.get("sub") else own.get("iss"), "sub": planned, "token": False}
    same = ("left" in own and "sub" in held
            and own.get("iss") == held.get("iss") and own.get("sub") == held.get("sub"))
    other_root = cert_of_another_root(cert, roots)
    good = same and (int(own["left"]) > threshold or (cert_lasts(held.get("sub"), cert, threshold) and not other_root))
    install = bool(force) or not good
    controller_token = bool(held.get("token", False))
    return {"controller_token": controller_token, "vm_token_good": good, "install": install,
            "missing": install and not controller_token and not planned_token, "planned_token": planned_token and install,
            "vm_claims": vm,
            "stale_cert": cert_of_another_identity(held.get("sub"), cert) or other_root}

"""Reading the istio-token's claims (never its signature) to decide whether to keep it."""
from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._token import claims, reusable


def jwt(payload: dict) -> str:
    def enc(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    return f"{enc({'alg': 'RS256'})}.{enc(payload)}.c2ln"


GOOD = {"sub": "system:serviceaccount:ns:vm", "aud": ["istio-ca"], "exp": 10_000}


@pytest.mark.parametrize("token_claims,now,expected", [
    (GOOD, 5_000, True),
    (GOOD, 8_500, False),                                   # less than min_remaining left
    (dict(GOOD, sub="system:serviceaccount:ns:other"), 0, False),
    (dict(GOOD, aud=["https://kubernetes.default.svc"]), 0, False),
    (dict(GOOD, aud="istio-ca"), 0, True),                  # a single audience as a string
    (dict(GOOD, exp="soon"), 0, False),
    (None, 0, False),
])
def test_reusable(token_claims, now, expected):
    assert reusable(token_claims, "ns", "vm", "istio-ca", now, min_remaining=1800) is expected


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.!!!.c", "a." + base64.urlsafe_b64encode(b"[1").decode() + ".c"])
def test_claims_of_garbage_is_none(token):
    assert claims(token) is None


def test_claims_round_trip():
    assert claims(jwt(GOOD)) == GOOD

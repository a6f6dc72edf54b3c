# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading the istio-token's claims (never its signature) to decide whether to keep it."""
from __future__ import annotations

import base64
import json

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._token import (
    claims,
    parse_record,
    record,
    record_text,
    remaining,
    reusable,
    status,
    token_action,
)


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


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.!!!.c", "a." + base64.urlsafe_b64encode(b"[1").decode() + ".c",
                                   # JSON, but not an object of claims
                                   "a." + base64.urlsafe_b64encode(b'["sub", 1]').decode() + ".c",
                                   "a." + base64.urlsafe_b64encode(b'"sub"').decode() + ".c"])
def test_claims_of_garbage_is_none(token):
    assert claims(token) is None


def test_claims_round_trip():
    assert claims(jwt(GOOD)) == GOOD


STALE = dict(GOOD, exp=6_000)          # less than min_remaining left at now=5_000
OTHER = dict(GOOD, sub="system:serviceaccount:ns:other")


@pytest.mark.parametrize("held,recorded,rotate,expected", [
    (GOOD, None, False, "kept"),           # the controller holds a good token
    (GOOD, GOOD, False, "kept"),
    (STALE, GOOD, False, "renewed"),       # a held token decides, whatever the record says
    ({}, GOOD, False, "renewed"),          # a held file that is no token
    (OTHER, None, False, "renewed"),
    (None, GOOD, False, "delivered"),      # no token held; the one handed out is still good
    (None, STALE, False, "renewed"),
    (None, OTHER, False, "renewed"),       # recorded for another service account
    (None, dict(GOOD, aud=["other"]), False, "renewed"),
    (None, None, False, "renewed"),        # neither token nor record
    (GOOD, None, True, "renewed"),         # rotate always renews
    (None, GOOD, True, "renewed"),
])
def test_token_action(held, recorded, rotate, expected):
    assert token_action(held, recorded, rotate, "ns", "vm", "istio-ca", 5_000, min_remaining=1800) == expected


@pytest.mark.parametrize("held,recorded,rotate,expected", [
    (None, STALE, False, "delivered"),     # handed out and due: the VM play asks the VM first
    (None, dict(GOOD, exp=10), False, "delivered"),
    (None, OTHER, False, "renewed"),       # another identity: renewed here all the same
    (None, dict(GOOD, aud=["other"]), False, "renewed"),
    (None, None, False, "renewed"),
    (STALE, GOOD, False, "renewed"),       # a token the controller holds is its own to renew
    (None, STALE, True, "renewed"),        # rotate always renews
])
def test_token_action_without_renewing_a_delivered_token(held, recorded, rotate, expected):
    assert token_action(held, recorded, rotate, "ns", "vm", "istio-ca", 5_000, min_remaining=1800,
                        renew_delivered=False) == expected


def test_the_record_holds_claims_only():
    full = dict(GOOD, iss="https://kubernetes.default.svc", iat=1, nbf=1,
                **{"kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "vm", "uid": "u"}}})
    assert record(full) == {"iss": "https://kubernetes.default.svc", "sub": GOOD["sub"], "aud": ["istio-ca"],
                            "exp": 10_000}
    assert parse_record(record_text(full)) == record(full)
    assert reusable(parse_record(record_text(full)), "ns", "vm", "istio-ca", 5_000, 1800)


@pytest.mark.parametrize("text", [None, "", "{", "[1]", "not json"])
def test_parse_record_of_garbage_is_none(text):
    assert parse_record(text) is None


# --- remaining / status: what the token_claims module returns, never the token ----------------------

ISSUER, SUBJECT = "https://kubernetes.default.svc", "system:serviceaccount:ns:sa"


def test_remaining_of_a_token():
    token = jwt({"iss": ISSUER, "sub": SUBJECT, "exp": 1_000_003_600}) + "\n"
    assert remaining(claims(token), now=1_000_000_000) == {"iss": ISSUER, "sub": SUBJECT, "left": 3600}
    assert remaining(claims(token), now=1_000_003_700)["left"] == -100


@pytest.mark.parametrize("text", ["", "not-a-jwt", "a.!!!.c", jwt({"sub": "no-exp"}), jwt({"exp": "soon"}),
                                  "a.%s.c" % base64.urlsafe_b64encode(b"[1, 2]").decode()])
def test_anything_else_has_no_claims(text):
    assert status(text, None, now=0) == {"token": False}


def test_status_falls_back_to_the_record():
    record_file = json.dumps({"iss": "i", "sub": "s", "aud": ["istio-ca"], "exp": 1_000_000_600})
    assert status(None, record_file, now=1_000_000_000) == {"iss": "i", "sub": "s", "left": 600, "token": False}
    token = jwt({"iss": "i", "sub": "t", "exp": 1_000_003_600})
    assert status(token, record_file, now=1_000_000_000) == {"iss": "i", "sub": "t", "left": 3600, "token": True}
    assert status("not-a-jwt", record_file, now=1_000_000_000)["left"] == 600
    assert status(None, "{not json", now=0) == {"token": False}
    assert status(None, json.dumps({"iss": "i"}), now=0) == {"token": False}


def test_status_never_holds_the_token():
    token = jwt({"iss": "i", "sub": "s", "exp": 4_000_000_000, "kubernetes.io": {"pod": "x"}})
    out = json.dumps(status(token, None, now=0))
    assert token not in out and token.split(".")[1] not in out and token.split(".")[2] not in out

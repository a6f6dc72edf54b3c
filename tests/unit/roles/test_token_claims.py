"""roles/vm_sidecar/files/token_claims.py: the claims of a token file, never the token."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "vm_sidecar" / "files" / "token_claims.py"
sys.path.insert(0, str(SCRIPT.parent))
from token_claims import bundle_claims, claims  # noqa: E402


def jwt(payload: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part(payload)}.c2lnbmF0dXJl"


def test_claims_of_a_token(tmp_path):
    token = tmp_path / "istio-token"
    issuer, subject = "https://kubernetes.default.svc", "system:serviceaccount:ns:sa"
    token.write_text(jwt({"iss": issuer, "sub": subject, "exp": 1_000_003_600}) + "\n")
    assert claims(token, now=1_000_000_000) == {"iss": issuer, "sub": subject, "left": 3600}


@pytest.mark.parametrize("content", [None, "", "not-a-jwt", "a.!!!.c", jwt({"sub": "no-exp"}),
                                     jwt({"exp": "soon"})])
def test_anything_else_has_no_claims(tmp_path, content):
    token = tmp_path / "istio-token"
    if content is not None:
        token.write_text(content)
    assert claims(token) == {}


def test_the_script_prints_claims_and_never_the_token(tmp_path):
    token = tmp_path / "istio-token"
    value = jwt({"iss": "i", "sub": "s", "exp": 4_000_000_000})
    token.write_text(value)
    out = subprocess.run([sys.executable, str(SCRIPT), str(token)], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)["sub"] == "s" and json.loads(out)["left"] > 0
    assert value not in out and value.split(".")[1] not in out


def test_bundle_claims_fall_back_to_the_record(tmp_path):
    token, record = tmp_path / "istio-token", tmp_path / "istio-token.claims"
    record.write_text(json.dumps({"iss": "i", "sub": "s", "aud": ["istio-ca"], "exp": 1_000_000_600}))
    assert bundle_claims(token, record, now=1_000_000_000) == {"iss": "i", "sub": "s", "left": 600, "token": False}
    token.write_text(jwt({"iss": "i", "sub": "t", "exp": 1_000_003_600}))
    assert bundle_claims(token, record, now=1_000_000_000) == {"iss": "i", "sub": "t", "left": 3600, "token": True}
    token.unlink()
    record.write_text("{not json")
    assert bundle_claims(token, record) == {"token": False}

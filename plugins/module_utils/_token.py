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
import json
from typing import Any, Dict, Optional


def claims(token: str) -> Optional[Dict[str, Any]]:
    """The JWT payload of ``token``, or None when it is not a JWT. The signature is not checked:
    the API server and istiod check it; this only decides whether to ask for a new one."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(payload.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        return None


def subject(namespace: str, service_account: str) -> str:
    return "system:serviceaccount:%s:%s" % (namespace, service_account)


def reusable(token_claims: Optional[Dict[str, Any]], namespace: str, service_account: str, audience: str,
             now: float, min_remaining: int) -> bool:
    """True when the token is for this service account and audience and stays valid long enough."""
    if not token_claims:
        return False
    aud = token_claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    exp = token_claims.get("exp")
    return (token_claims.get("sub") == subject(namespace, service_account)
            and audience in audiences
            and isinstance(exp, (int, float)) and exp - now >= min_remaining)

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print the issuer, subject and seconds left of a service account token file as JSON.

Never the token itself: the roles run this on the VM and on the controller to decide whether
a VM's token is still good. Prints {} when the file is missing or not a JWT.

With a second argument, the token's record (istio-token.claims, JSON claims written by
vm_bootstrap): when the token file holds no token, the record's claims are printed instead.
Either way "token" then says whether the first file holds a token.
"""
from __future__ import annotations

import base64
import json
import sys
import time


def claims(path, now=None):
    try:
        with open(path) as token:
            payload = token.read().strip().split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = int(data["exp"])
    except (OSError, IndexError, ValueError, KeyError, TypeError):
        return {}
    return {"iss": data.get("iss"), "sub": data.get("sub"),
            "left": exp - int(time.time() if now is None else now)}


def record_claims(path, now=None):
    try:
        with open(path) as record:
            data = json.load(record)
        exp = int(data["exp"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {"iss": data.get("iss"), "sub": data.get("sub"),
            "left": exp - int(time.time() if now is None else now)}


def bundle_claims(token, record, now=None):
    found = claims(token, now)
    return dict(found or record_claims(record, now), token=bool(found))


if __name__ == "__main__":
    print(json.dumps(claims(sys.argv[1]) if len(sys.argv) < 3 else bundle_claims(sys.argv[1], sys.argv[2])))

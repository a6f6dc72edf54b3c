# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the VM has of the sidecar's package (module sidecar_package_info): the pure parts.
Runs on the VM: standard library only."""
from __future__ import annotations

import hashlib
import os

DPKG_JOURNAL = "/var/lib/dpkg/updates"


def sha256_of(path: str) -> str:
    """The SHA-256 of a file, lower-case hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_deb_query(line: str) -> tuple:
    """(installed, version) from a ``dpkg-query --showformat='${db:Status-Abbrev}|${Version}'``
    line: installed only in state ``ii`` (a package unpacked, half-configured or removed with its
    configuration kept is not), its version empty otherwise."""
    status, _sep, version = (line or "").partition("|")
    installed = status.strip() == "ii"
    return installed, version.strip() if installed else ""


def journal_interrupted(path: str = DPKG_JOURNAL) -> bool:
    """Whether dpkg's journal directory holds a file: a dpkg run was interrupted (a missing or
    unreadable directory holds none)."""
    try:
        return any(os.path.isfile(os.path.join(path, name)) for name in os.listdir(path))
    except OSError:
        return False

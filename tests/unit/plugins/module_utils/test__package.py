# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sidecar_package_info's pure parts: dpkg-query lines, dpkg's journal, the file's SHA-256."""
from __future__ import annotations

import hashlib

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._package import (
    journal_interrupted, parse_deb_query, sha256_of)


@pytest.mark.parametrize("line,expected", [
    ("ii |1:1.24.0", (True, "1:1.24.0")),
    ("ii |1.24.0-1 ", (True, "1.24.0-1")),
    # unpacked, half-configured, removed with its configuration: not installed, no version
    ("iU |1.24.0", (False, "")),
    ("iF |1.24.0", (False, "")),
    ("rc |1.24.0", (False, "")),
    ("un |", (False, "")),
    # dpkg does not know the package (dpkg-query exits 1, prints nothing)
    ("", (False, "")),
    (None, (False, "")),
])
def test_parse_deb_query(line, expected):
    assert parse_deb_query(line) == expected


def test_journal_interrupted(tmp_path):
    assert journal_interrupted(str(tmp_path / "missing")) is False
    assert journal_interrupted(str(tmp_path)) is False
    (tmp_path / "sub").mkdir()
    assert journal_interrupted(str(tmp_path)) is False, "a directory is not a journal entry"
    (tmp_path / "0001").write_text("x")
    assert journal_interrupted(str(tmp_path)) is True


def test_sha256_of_reads_the_whole_file(tmp_path):
    data = b"deb" * 700000  # more than one 1 MiB chunk
    path = tmp_path / "istio-sidecar.deb"
    path.write_bytes(data)
    assert sha256_of(str(path)) == hashlib.sha256(data).hexdigest()

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make ``ansible_collections.meshops.istio_vm`` importable when pytest runs from a plain checkout.

If the checkout already lives at ``.../ansible_collections/meshops/istio_vm`` (as under
ansible-test), that tree is used. Otherwise a temporary directory gets
``ansible_collections/meshops/istio_vm`` as a symlink to the checkout, and goes first on sys.path.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _collections_root() -> Path:
    if REPO_ROOT.parent.name == "meshops" and REPO_ROOT.parent.parent.name == "ansible_collections" and REPO_ROOT.name == "istio_vm":
        return REPO_ROOT.parent.parent.parent
    root = Path(tempfile.mkdtemp(prefix="meshops-unit-"))
    atexit.register(shutil.rmtree, str(root), True)
    namespace = root / "ansible_collections" / "meshops"
    namespace.mkdir(parents=True)
    (namespace / "istio_vm").symlink_to(REPO_ROOT, target_is_directory=True)
    return root


sys.path.insert(0, str(_collections_root()))


@pytest.fixture(name="no_proxy_env")
def fixture_no_proxy_env(monkeypatch):
    """No proxy from the environment: the tests' servers listen on loopback, asked directly."""
    for scheme in ("http", "https", "ftp", "all"):
        for name in (scheme + "_proxy", scheme.upper() + "_PROXY"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(name="german_locale", scope="session")
def fixture_german_locale(tmp_path_factory):
    """LOCPATH and LC_ALL of a de_DE.UTF-8 locale made with localedef (the Debian package ``locales``),
    whose month names are not openssl's: Mär, Mai, Okt, Dez."""
    path = tmp_path_factory.mktemp("locales")
    subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", str(path / "de_DE.UTF-8")], check=True,
                   capture_output=True)
    return {"LOCPATH": str(path), "LC_ALL": "de_DE.UTF-8"}

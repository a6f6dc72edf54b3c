# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible-test sanity (empty ignore files) and units on the ansible_collections/ layout (both started
with the session, tests/conftest.py), and ansible-doc for every module."""
from __future__ import annotations

import os
import subprocess

import pytest

from static_checks import REPO, SANITY_VENV, checks

MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))


def test_ignore_files_are_empty():
    files = list((REPO / "tests" / "sanity").glob("ignore-*.txt"))
    assert files, "tests/sanity/ignore-<version>.txt must exist (and stay empty)"
    assert all(f.read_text() == "" for f in files)


def test_ansible_test_sanity():
    assert (SANITY_VENV / "bin" / "ansible-test").exists(), "run 'make venv-sanity'"
    res = checks.result("sanity")
    errors = [line for line in res.stdout.splitlines() if line.startswith("ERROR")]
    assert res.returncode == 0, "\n".join(errors) or res.stdout[-6000:]


def test_ansible_test_units():
    """The plugins' unit tests the way ansible-test runs them: from the collection's place in an
    ansible_collections/ tree, with ansible-test's pytest configuration and collection loader.
    (tests/unit also holds the project's own tests of the lab, the docs and the EE definition:
    plain pytest runs those, with the dev venv's tools.)"""
    assert (SANITY_VENV / "bin" / "ansible-test").exists(), "run 'make venv-sanity'"
    res = checks.result("units")
    out = res.stdout
    assert res.returncode == 0, out[-6000:]
    # both groups ran (module_utils on the targets' Pythons, controller for the filters)
    assert "Unit test module_utils with Python 3.11" in out and "Unit test controller with Python 3.11" in out, out
    assert " passed" in out and " failed" not in out


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module, tmp_path):
    collections = tmp_path / "collections"
    link = collections / "ansible_collections" / "meshops" / "istio_vm"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    res = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-doc"), f"meshops.istio_vm.{module}"],
                         capture_output=True, text=True, check=False,
                         env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections)))
    assert res.returncode == 0, res.stderr
    assert f"meshops.istio_vm.{module}" in res.stdout and "EXAMPLES:" in res.stdout
    assert "ATTRIBUTES:" in res.stdout and "RETURN VALUES:" in res.stdout

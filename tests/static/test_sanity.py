# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible-test sanity (empty ignore files) and units on the ansible_collections/ layout, and
ansible-doc for every module."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SANITY_VENV = REPO / ".venv-sanity"
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))


def _tree(tmp_path: Path) -> Path:
    """A copy of the working tree (tracked + untracked-not-ignored files) at ansible_collections/meshops/istio_vm."""
    dest = tmp_path / "ansible_collections" / "meshops" / "istio_vm"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if not src.exists() and not src.is_symlink():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    subprocess.run(["git", "init", "-q", "."], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    return dest


def test_ignore_files_are_empty():
    files = list((REPO / "tests" / "sanity").glob("ignore-*.txt"))
    assert files, "tests/sanity/ignore-<version>.txt must exist (and stay empty)"
    assert all(f.read_text() == "" for f in files)


def test_ansible_test_sanity(tmp_path):
    ansible_test = SANITY_VENV / "bin" / "ansible-test"
    assert ansible_test.exists(), "run 'make venv-sanity'"
    # ansible-test fetches a pip bootstrap script from outside the registries; ours uses ensurepip.
    cache = Path.home() / ".ansible" / "test" / "cache" / "get_pip_24_2.py"
    cache.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "tests" / "sanity" / "pip_bootstrap.py", cache)
    res = subprocess.run([str(ansible_test), "sanity", "--local", "--python", "3.11", "--color", "no"],
                         cwd=_tree(tmp_path), capture_output=True, text=True, check=False,
                         env=dict(os.environ, PATH=f"{SANITY_VENV / 'bin'}:{os.environ['PATH']}"))
    errors = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("ERROR")]
    assert res.returncode == 0, "\n".join(errors) or res.stdout[-3000:] + res.stderr[-3000:]


def test_ansible_test_units(tmp_path):
    """The plugins' unit tests the way ansible-test runs them: from the collection's place in an
    ansible_collections/ tree, with ansible-test's pytest configuration and collection loader.
    (tests/unit also holds the project's own tests of the lab, the docs and the EE definition:
    plain pytest runs those, with the dev venv's tools.)"""
    ansible_test = SANITY_VENV / "bin" / "ansible-test"
    assert ansible_test.exists(), "run 'make venv-sanity'"
    res = subprocess.run([str(ansible_test), "units", "--local", "--python", "3.11", "--color", "no",
                          "tests/unit/plugins/"],
                         cwd=_tree(tmp_path), capture_output=True, text=True, check=False,
                         env=dict(os.environ, PATH=f"{SANITY_VENV / 'bin'}:{os.environ['PATH']}"))
    out = res.stdout + res.stderr
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

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One license everywhere: the LICENSE file, galaxy.yml, the roles' meta and every Python file."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LICENSE_ID = "GPL-3.0-or-later"
SPDX_LINE = f"# SPDX-License-Identifier: {LICENSE_ID}"
PYTHON_TREES = ("plugins", "tests", "tools", "bench")
SKIP_PARTS = {"output", "__pycache__", ".pytest_cache"}


def python_files() -> list[Path]:
    files = []
    for tree in PYTHON_TREES:
        for path in sorted((REPO / tree).rglob("*.py")):
            if not SKIP_PARTS.intersection(path.relative_to(REPO).parts):
                files.append(path)
    return files


def header_lines(path: Path, count: int = 6) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in itertools.islice(handle, count)]


def test_license_file_is_the_gpl_v3():
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE")
    assert "Version 3, 29 June 2007" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_galaxy_declares_the_license():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
    assert galaxy.get("license") == [LICENSE_ID]
    assert "license_file" not in galaxy


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir()))
def test_role_meta_declares_the_license(role):
    meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text(encoding="utf-8"))
    assert meta["galaxy_info"]["license"] == LICENSE_ID


def test_the_python_tree_is_not_empty():
    # A wrong REPO path would make the header test below pass on nothing.
    names = {p.relative_to(REPO).as_posix() for p in python_files()}
    assert "plugins/module_utils/_module.py" in names
    assert "tests/unit/test_license.py" in names
    assert len([n for n in names if n.startswith("plugins/")]) >= 20


def test_every_python_file_carries_the_spdx_header():
    missing = [p.relative_to(REPO).as_posix() for p in python_files() if SPDX_LINE not in header_lines(p)]
    assert not missing, f"no '{SPDX_LINE}' in the first lines of: {missing}"

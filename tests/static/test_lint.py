# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible-lint, production profile, over the roles and playbooks (no skip list)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT = REPO / ".venv-lint" / "bin" / "ansible-lint"


def test_ansible_lint_production_profile(tmp_path):
    assert LINT.exists(), "run 'make venv-lint'"
    link = tmp_path / "ansible_collections" / "meshops" / "istio_vm"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    assert not list(REPO.glob(".ansible-lint*")), "no lint configuration: nothing is skipped"
    res = subprocess.run([str(LINT), "--profile", "production", "--offline", "--nocolor", "roles", "playbooks"],
                         cwd=REPO, capture_output=True, text=True, check=False,
                         env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path),
                                  PATH=f"{LINT.parent}:{os.environ['PATH']}"))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "Profile 'production' was required, and it passed." in res.stdout + res.stderr

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ansible-lint, production profile, over the roles and playbooks (no skip list); started with the
session (tests/conftest.py)."""
from __future__ import annotations

from static_checks import LINT, REPO, checks


def test_ansible_lint_production_profile():
    assert LINT.exists(), "run 'make venv-lint'"
    assert not list(REPO.glob(".ansible-lint*")), "no lint configuration: nothing is skipped"
    res = checks.result("lint")
    assert res.returncode == 0, res.stdout[-8000:]
    assert "Profile 'production' was required, and it passed." in res.stdout

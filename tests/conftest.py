# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Session hooks for every test directory: the long static checks (tests/static/static_checks.py)
start together as soon as the session has collected the tests that read them, and run while the
other tests do (in `make test`, tests/static runs last: by then they are done). A check whose test was
not selected, or a session that runs no test, starts none. (Not in tests/static/conftest.py: the
integration tests import their own conftest by that name, and the conftest pytest loads last would
shadow it.)"""
from __future__ import annotations

import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def _checks():
    if str(STATIC) not in sys.path:
        sys.path.insert(0, str(STATIC))
    import static_checks  # pylint: disable=import-outside-toplevel
    return static_checks


def _runs_no_test(session) -> bool:
    option = session.config.option
    if session.testsfailed and not getattr(option, "continue_on_collection_errors", False):
        return True     # collection errors: pytest stops before the first test
    flags = ("collectonly", "setuponly", "setupplan", "showfixtures", "show_fixtures_per_test")
    return any(getattr(option, flag, False) for flag in flags)


def pytest_collection_finish(session) -> None:
    selected = {f"{item.path.name}::{item.name}" for item in session.items if item.path.parent == STATIC}
    if not selected or _runs_no_test(session):
        return
    static_checks = _checks()
    for name, (test, _needs, _command) in static_checks.CHECKS.items():
        if test in selected:
            static_checks.checks.start_quietly(name)


def pytest_sessionfinish(session, exitstatus) -> None:
    if "static_checks" in sys.modules:
        sys.modules["static_checks"].checks.stop()

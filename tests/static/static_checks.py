# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The long static checks (ansible-test sanity, ansible-test units, ansible-lint) as commands that run
in the background: tests/conftest.py starts those whose tests the session selected as soon as it has
collected them, so that they run together and while the other tests do. Sanity and units each run in
a copy of the tree of their own; lint reads the checkout, and no test writes under roles/ or
playbooks/. A test asks for its check's exit code and output with ``checks.result``, which starts the
check first if nothing did."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

REPO = Path(__file__).resolve().parents[2]
SANITY_VENV = REPO / ".venv-sanity"
LINT = REPO / ".venv-lint" / "bin" / "ansible-lint"


def tree(root: Path) -> Path:
    """A copy of the working tree (tracked + untracked-not-ignored files) at
    root/ansible_collections/meshops/istio_vm, as a git repository (ansible-test reads git)."""
    dest = root / "ansible_collections" / "meshops" / "istio_vm"
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


def _sanity_tool_path() -> Dict[str, str]:
    return dict(os.environ, PATH=f"{SANITY_VENV / 'bin'}:{os.environ['PATH']}")


def sanity(root: Path) -> tuple:
    # ansible-test fetches a pip bootstrap script from outside the registries; ours uses ensurepip.
    cache = Path.home() / ".ansible" / "test" / "cache" / "get_pip_24_2.py"
    cache.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "tests" / "sanity" / "pip_bootstrap.py", cache)
    return ([str(SANITY_VENV / "bin" / "ansible-test"), "sanity", "--local", "--python", "3.11", "--color", "no"],
            tree(root), _sanity_tool_path())


def units(root: Path) -> tuple:
    return ([str(SANITY_VENV / "bin" / "ansible-test"), "units", "--local", "--python", "3.11", "--color", "no",
             "tests/unit/plugins/"], tree(root), _sanity_tool_path())


def lint(root: Path) -> tuple:
    link = root / "ansible_collections" / "meshops" / "istio_vm"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    return ([str(LINT), "--profile", "production", "--offline", "--nocolor", "roles", "playbooks"], REPO,
            dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(root), PATH=f"{LINT.parent}:{os.environ['PATH']}"))


# check name -> (the test that reads it, what it needs installed, how to start it)
CHECKS: Dict[str, tuple] = {
    "sanity": ("test_sanity.py::test_ansible_test_sanity", SANITY_VENV / "bin" / "ansible-test", sanity),
    "units": ("test_sanity.py::test_ansible_test_units", SANITY_VENV / "bin" / "ansible-test", units),
    "lint": ("test_lint.py::test_ansible_lint_production_profile", LINT, lint),
}


@dataclass
class Run:
    proc: subprocess.Popen
    root: Path      # the check's directory; its output in output.txt


class Checks:
    """The checks started for this session, each with a directory of its own (its output, its copy of
    the tree), removed at the session's end with every process the check started."""

    def __init__(self) -> None:
        self.runs: Dict[str, Run] = {}
        self.failed: Dict[str, BaseException] = {}   # a check that could not start: its test says why

    def start(self, name: str) -> None:
        _test, needs, command = CHECKS[name]
        if name in self.runs or not needs.exists():  # a missing tool: the test says which make target
            return
        root = Path(tempfile.mkdtemp(prefix=f"meshops-static-{name}-"))
        try:
            argv, cwd, env = command(root)
            with (root / "output.txt").open("wb") as out:
                # a session of its own: stop() ends the check's own children too (pylint, pytest workers)
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        self.runs[name] = Run(proc, root)

    def start_quietly(self, name: str) -> None:
        """start(), keeping what went wrong for the check's test instead of stopping the session."""
        try:
            self.start(name)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.failed[name] = exc

    def result(self, name: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        """The check's exit code and output (stdout and stderr together); starts it if it has not."""
        if name in self.failed:
            raise self.failed[name]
        self.start(name)
        run = self.runs[name]
        run.proc.wait(timeout=timeout)
        output = (run.root / "output.txt").read_text(errors="replace")
        return subprocess.CompletedProcess(run.proc.args, run.proc.returncode, output, "")

    def stop(self) -> None:
        for run in self.runs.values():
            if run.proc.poll() is None:
                _end(run.proc)
            shutil.rmtree(run.root, ignore_errors=True)
        self.runs.clear()


def _end(proc: subprocess.Popen) -> None:
    """End a check that still runs, and its process group: TERM (ansible-test removes its temporary
    directories then), KILL after 10 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


checks = Checks()

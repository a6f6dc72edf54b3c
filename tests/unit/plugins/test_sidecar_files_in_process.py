# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sidecar_files on the controller: the action plugin's in-process run returns and writes what
the module does.

Each step runs the module for real (a Python process reading its arguments as Ansible passes them)
in one directory and the action plugin's ``run_direct`` path in another, on the same files, and
requires the same result (the directory's name aside) and the same files afterwards: check mode,
apply, nothing left to do, diff on and off, a token, a failure, a bad option.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import ansible_collections
from ansible_collections.meshops.istio_vm.plugins.action.sidecar_files import SPEC
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import run_direct

TOKEN = "tkn.secret-marker-4711"


def module_result(args, check_mode, diff):
    internal = {"_ansible_check_mode": check_mode, "_ansible_diff": diff,
                "_ansible_module_name": "meshops.istio_vm.sidecar_files"}
    roots = [str(Path(p).parent) for p in ansible_collections.__path__]
    code = "from ansible_collections.meshops.istio_vm.plugins.modules.sidecar_files import main; main()"
    res = subprocess.run([sys.executable, "-c", code, json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, **internal)})],
                         capture_output=True, text=True, check=False,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(roots)))
    return json.loads(res.stdout.strip().splitlines()[-1])


def args_in(base: Path, content: str, token: str = TOKEN) -> dict:
    return {
        "directories": [{"path": str(base / "state"), "mode": "0700"}],
        "files": [{"dest": str(base / "state" / "record.json"), "content": content, "mode": "0600"}],
        "token": {"dest": str(base / "state" / "istio-token"), "content": token, "mode": "0600"},
        "block": {"path": str(base / "hosts"), "marker": "# {mark} test", "block": "10.0.0.1 istiod"},
    }


def tree(base: Path) -> dict:
    """Every path below ``base``: its mode and, for a file, its content."""
    return {str(p.relative_to(base)): (stat.S_IMODE(p.stat().st_mode), p.read_text() if p.is_file() else None)
            for p in sorted(base.rglob("*"))}


def both(tmp_path, args_of, check_mode=False, diff=True):
    """Run the module in tmp/module and in-process in tmp/here; both results, the directory as BASE."""
    results = []
    for name, run in (("module", module_result), ("here", lambda a, c, d: run_direct(SPEC, a, c, d))):
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        result = run(args_of(base), check_mode, diff)
        results.append(json.loads(json.dumps(result).replace(str(base), "BASE")))
    assert tree(tmp_path / "module") == tree(tmp_path / "here")
    return results


def test_check_apply_and_unchanged_return_what_the_module_returns(tmp_path):
    steps = (("[1]\n", True, True, True), ("[1]\n", False, False, True), ("[1, 2]\n", False, True, True),
             ("[1, 2]\n", False, True, False), ("[1, 2]\n", True, True, False))
    for content, check_mode, diff, changed in steps:
        module, here = both(tmp_path, lambda base, c=content: args_in(base, c), check_mode, diff)
        assert here == module
        assert here["changed"] is changed, (check_mode, diff, here)
        assert ("diff" in here) is diff
        assert TOKEN not in json.dumps(here)
    assert (tmp_path / "here" / "state" / "record.json").read_text() == "[1, 2]\n"
    assert stat.S_IMODE((tmp_path / "here" / "state").stat().st_mode) == 0o700


def test_a_failure_and_a_bad_option_fail_as_the_module_does(tmp_path):
    def blocked(base):
        (base / "file").write_text("not a directory\n")
        return {"files": [{"dest": str(base / "file" / "record.json"), "content": "x"}]}

    module, here = both(tmp_path, blocked)
    assert here == module and here["failed"] is True
    assert here["msg"].startswith("Failed to set up the sidecar's files: ")
    module, here = both(tmp_path, lambda base: {"files": [{"dest": str(base / "x"), "bogus": 1}]})
    assert here == module and here["failed"] is True and "bogus" in here["msg"]

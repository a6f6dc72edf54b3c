# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The molecule scenarios of the roles (extensions/molecule), against the lab: each boots its
own lab VM in create and removes it in destroy."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile

from ansible_run import ansible_env
from conftest import REPO
from meshlab.core import Proc

STEPS = ["destroy", "syntax", "create", "prepare", "check", "converge", "idempotence", "verify", "cleanup"]
TIMEOUT = 900  # seconds; the scenario takes about 3 minutes on the lab


def run_scenario(name: str) -> tuple[int | None, str]:
    """Runs `molecule test -s name`; returns its exit code (None: killed after TIMEOUT) and output.
    Output goes to a file, not a pipe: ssh ControlPersist masters would keep a pipe open. molecule
    runs in a session of its own, so that a timeout kills the ansible-playbook under it too, and
    what it printed until then is still shown."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "molecule"), "test", "-s", name],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(ansible_env(None), PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
                                         NO_COLOR="1"))
        try:
            rc: int | None = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
        out.seek(0)
        return rc, out.read()


def test_vm_sidecar_scenario(lab):
    rc, output = run_scenario("vm_sidecar")
    assert rc is not None, f"molecule test -s vm_sidecar did not end within {TIMEOUT} s; it printed:\n{output[-8000:]}"
    assert rc == 0, output[-8000:]
    done = re.findall(r"vm_sidecar (?:➜|>) (\w+): Executed: Successful", output)
    for step in STEPS:
        assert step in done, f"molecule did not run {step} successfully: {done}\n{output[-3000:]}"
    assert not Proc(lab.cfg, "vm-mlab-vm3").running(), "destroy left mlab-vm3 running"

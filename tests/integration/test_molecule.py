"""The molecule scenarios of the roles (extensions/molecule), against the lab: each boots its
own lab VM in create and removes it in destroy."""
from __future__ import annotations

import os
import re
import subprocess
import tempfile

from ansible_run import ansible_env
from conftest import REPO
from meshlab.core import Proc

STEPS = ["destroy", "syntax", "create", "prepare", "check", "converge", "idempotence", "verify", "cleanup"]


def test_vm_sidecar_scenario(lab):
    with tempfile.TemporaryFile("w+") as out:
        # Output to a file, not a pipe: ssh ControlPersist masters would keep a pipe open.
        res = subprocess.run([str(REPO / ".venv" / "bin" / "molecule"), "test", "-s", "vm_sidecar"],
                             cwd=REPO, stdout=out, stderr=subprocess.STDOUT, timeout=1200, check=False,
                             env=dict(ansible_env(None), PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
                                      NO_COLOR="1"))
        out.seek(0)
        output = out.read()
    assert res.returncode == 0, output[-8000:]
    done = re.findall(r"vm_sidecar (?:➜|>) (\w+): Executed: Successful", output)
    for step in STEPS:
        assert step in done, f"molecule did not run {step} successfully: {done}\n{output[-3000:]}"
    assert not Proc(lab.cfg, "vm-mlab-vm3").running(), "destroy left mlab-vm3 running"

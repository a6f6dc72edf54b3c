# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""docs/quickstart.md is run as written: every ```sh block, in order, in one bash -e shell from
the top of the checkout, against the lab. A block the test must not run is preceded by
`<!-- not-run: <reason> -->`."""
from __future__ import annotations

import os
import re
import subprocess
import tempfile

from conftest import REPO
from mesh_state import reset_lab_inventory

QUICKSTART = REPO / "docs" / "quickstart.md"
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.*?)\s*-->")


def shell_blocks(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(blocks to run, [(skipped block, reason)]) of a Markdown text."""
    run, skipped = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            end = lines.index("```", i + 1)
            block = "\n".join(lines[i + 1:end])
            before = [line for line in lines[:i] if line.strip()][-1:]
            reason = NOT_RUN.search(before[0]) if before else None
            if reason:
                skipped.append((block, reason.group(1)))
            else:
                run.append(block)
            i = end
        i += 1
    return run, skipped


def test_the_parser_finds_runnable_and_skipped_blocks():
    text = "# t\n\n```sh\necho a\n```\n\n<!-- not-run: stops the lab -->\n```sh\nmake lab-down\n```\n```text\nout\n```\n"
    assert shell_blocks(text) == (["echo a"], [("make lab-down", "stops the lab")])


def test_quickstart_runs_as_written(lab, api_client):
    reset_lab_inventory(lab, api_client)
    run, skipped = shell_blocks(QUICKSTART.read_text())
    assert len(run) >= 8, "the quickstart lost its commands"
    assert all(reason for block, reason in skipped), skipped
    script = "set -euo pipefail\n" + "\n".join(f"echo '### block {n}'\n{block}" for n, block in enumerate(run, 1))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("K8S_AUTH_", "ANSIBLE_")) and key != "KUBECONFIG"}
    with tempfile.TemporaryFile("w+") as out:
        # Output to a file, not a pipe: ssh ControlPersist masters would keep a pipe open.
        res = subprocess.run(["bash", "-c", script], cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env,
                             timeout=1200, check=False)
        out.seek(0)
        output = out.read()
    assert res.returncode == 0, output[-6000:]
    assert f"### block {len(run)}" in output
    assert "WorkloadGroups: 0, WorkloadEntries: 0" in output, output[-3000:]


def test_make_demo_ends_with_a_summary(lab, api_client):
    """The README's `make demo`: onboard the two lab VMs, then a summary of each VM with its
    WorkloadEntry and health, and one request across the mesh with the caller's identity."""
    reset_lab_inventory(lab, api_client)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("K8S_AUTH_", "ANSIBLE_")) and key != "KUBECONFIG"}
    with tempfile.TemporaryFile("w+") as out:
        res = subprocess.run(["make", "demo"], cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env,
                             timeout=1200, check=False)
        out.seek(0)
        output = out.read()
    assert res.returncode == 0, output[-6000:]
    assert "=== Summary" in output, output[-3000:]
    summary = output[output.rindex("=== Summary"):]
    table = summary.split("\n\n", 1)[0].splitlines()
    assert table[1].split() == ["VM", "WORKLOADENTRY", "HEALTH", "SIDECAR", "DRIFT"], summary
    assert table[-1] == "2 VMs in the mesh, 2 Healthy, 0 drifting from the inventory", summary
    assert [row.split() for row in table[2:-1]] == [
        [vm, f"lab-vms/lab-app-{lab.cfg.vm_ip(n)}-meshlab-net", "Healthy", "ready", "none"]
        for n, vm in enumerate(lab.vms, 1)], summary
    request = re.search(r"^mlab-vm1 -> http://lab-app\.lab-vms\.svc\.cluster\.local:8080/: (\d+), answered by "
                        r"lab-app on mlab-vm[12], caller seen as (\S+)$", summary, re.M)
    assert request and request.groups() == ("200", "spiffe://cluster.local/ns/lab-vms/sa/lab-app"), summary

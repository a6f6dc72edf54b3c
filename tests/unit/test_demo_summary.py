# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""tools/demo_summary.py: the end of `make demo`, from verify.yml's JSON report."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("demo_summary", REPO / "tools" / "demo_summary.py")
demo_summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo_summary)


def vm(name, **over):
    rec = {"vm": name, "ok": True, "sidecar_ready": True, "entry": f"lab-app-{name}-meshlab-net",
           "entry_exists": True, "entry_healthy": True, "drift": []}
    rec.update(over)
    return rec


@pytest.mark.parametrize("record,expected", [
    (vm("a"), "Healthy"),
    (vm("a", entry_healthy=False), "not Healthy"),
    (vm("a", entry_healthy=None), "no probe"),
    (vm("a", entry_exists=False, entry_healthy=None), "no entry"),
    (vm("a", entry_exists=False, entry_healthy=True), "no entry"),
])
def test_health(record, expected):
    assert demo_summary.health(record) == expected


def test_summary_is_a_table_of_the_vms_then_totals():
    report = {"vms": [vm("mlab-vm1"), vm("mlab-vm2", entry_healthy=False, sidecar_ready=False,
                                         drift=["x", "y"])]}
    assert demo_summary.summary(report) == [
        "VM        WORKLOADENTRY                 HEALTH       SIDECAR    DRIFT",
        "mlab-vm1  lab-app-mlab-vm1-meshlab-net  Healthy      ready      none",
        "mlab-vm2  lab-app-mlab-vm2-meshlab-net  not Healthy  NOT READY  2 findings",
        "2 VMs in the mesh, 1 Healthy, 1 drifting from the inventory",
    ]


def test_summary_of_no_vms():
    assert demo_summary.summary({"vms": []}) == ["VM  WORKLOADENTRY  HEALTH  SIDECAR  DRIFT",
                                                 "0 VMs in the mesh, 0 Healthy, 0 drifting from the inventory"]


def test_main_reads_the_report_file(tmp_path, capsys):
    path = tmp_path / "verify.json"
    path.write_text(json.dumps({"vms": [vm("mlab-vm1")], "summary": {"vms": 1}}))
    assert demo_summary.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "mlab-vm1" in out and "Healthy" in out
    assert demo_summary.main([str(tmp_path / "missing.json")]) == 1
    assert "cannot read the verify report" in capsys.readouterr().err

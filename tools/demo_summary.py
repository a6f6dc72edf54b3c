# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The end of `make demo`: each VM with its WorkloadEntry and the entry's health, from the JSON
report that playbooks/verify.yml writes (-e verify_report_path=FILE; onboard.yml runs verify.yml
last).

    python tools/demo_summary.py REPORT.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLUMNS = ("VM", "WORKLOADENTRY", "HEALTH", "SIDECAR", "DRIFT")


def health(vm: dict) -> str:
    """The entry's health as istiod reports it: Healthy, not Healthy, or why there is none."""
    if not vm.get("entry_exists"):
        return "no entry"
    if vm.get("entry_healthy") is None:
        return "no probe"
    return "Healthy" if vm["entry_healthy"] else "not Healthy"


def summary(report: dict) -> list[str]:
    """The lines of the summary: a table of the report's VMs, then one line of totals."""
    vms = report.get("vms") or []
    rows = [list(COLUMNS)] + [[str(vm.get("vm", "?")), str(vm.get("entry") or "-"), health(vm),
                               "ready" if vm.get("sidecar_ready") else "NOT READY",
                               "none" if not vm.get("drift") else "%d findings" % len(vm["drift"])]
                              for vm in vms]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    healthy = sum(1 for vm in vms if health(vm) == "Healthy")
    lines.append("%d VMs in the mesh, %d Healthy, %d drifting from the inventory"
                 % (len(vms), healthy, sum(1 for vm in vms if vm.get("drift"))))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="verify.yml's JSON report (verify_report_path)")
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"demo_summary: cannot read the verify report {args.report}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: latency of one HTTP request between two lab VMs, through the mesh and without it.

Onboards inventories/lab-bookinfo the way tests/integration/test_traffic.py does (fresh VMs 4-6),
then from mlab-vm6 (sleep) sends N requests to details (mlab-vm4, port 9080):
- in the mesh: http://details.bookinfo.com/ (DNS proxy, both sidecars, mTLS);
- without sidecars: istio.service stopped on both VMs (its stop removes the interception), then
  http://10.213.0.14:9080/ directly.
Prints the median, p90 and max of curl's time_total for each (numbers are reported, not
asserted). Offboards and removes the VMs at the end. Run through `make bench-traffic`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests" / "lab")]

from kubernetes import config  # noqa: E402

import test_traffic as t  # noqa: E402
from conftest import Lab  # noqa: E402
from meshlab.core import Config  # noqa: E402


def times(lab: Lab, url: str, n: int) -> list[float]:
    loop = (f"for i in $(seq {n}); do curl -sS -o /dev/null --max-time 5 -w '%{{http_code}} %{{time_total}}\\n' {url}; "
            "done")
    out = lab.ssh(t.SLEEP, "sh", "-c", loop).stdout.split("\n")
    codes = [line.split()[0] for line in out if line]
    if set(codes) != {"200"}:
        raise SystemExit(f"{url}: not all 200: {codes}")
    return [float(line.split()[1]) * 1000 for line in out if line]


def report(name: str, ms: list[float]) -> None:
    ordered = sorted(ms)
    print(f"{name:42} median {statistics.median(ms):6.2f} ms   p90 {ordered[int(len(ms) * 0.9) - 1]:6.2f} ms"
          f"   max {ordered[-1]:6.2f} ms   (n={len(ms)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50)
    args = parser.parse_args()
    cfg = Config.from_env()
    lab = Lab(cfg=cfg, kubeconfig=cfg.kubeconfig, istiod_address=cfg.istiod_address,
              inventory=t.INVENTORY, vms=[])
    api = config.new_client_from_config(config_file=str(cfg.kubeconfig))
    setup = t.onboarded(lab, api)
    next(setup)
    try:
        times(lab, "http://details.bookinfo.com/", 5)                    # warm up both paths
        mesh = times(lab, "http://details.bookinfo.com/", args.n)
        for n in (t.DETAILS, t.SLEEP):
            lab.ssh(n, "systemctl", "stop", "istio")
        times(lab, "http://10.213.0.14:9080/", 5)
        direct = times(lab, "http://10.213.0.14:9080/", args.n)
    finally:
        next(setup, None)
    report("sleep -> details through the mesh (mTLS)", mesh)
    report("sleep -> details without sidecars", direct)
    print(f"ratio of medians: {statistics.median(mesh) / statistics.median(direct):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

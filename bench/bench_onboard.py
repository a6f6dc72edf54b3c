"""Benchmark: wall time of playbooks/onboard.yml on fresh lab VMs, for 1 VM and for N VMs.

Each run starts from a fresh lab with N VMs (`lab down`, `lab up --vms N`), so the only
difference is how many hosts the play onboards (`--limit`). Prints the times and the ratio
(target: N=4 takes at most 1.5x the time of 1). Run through `make bench-onboard`.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "tests" / "lab" / "lab"


def run(argv, **kw):
    res = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, argv))}\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}")
    return res


def onboard(vms: int, limit: int) -> float:
    run([str(LAB), "down"])
    subprocess.run(["rm", "-rf", str(REPO / ".bootstrap")], check=True)
    run([str(LAB), "up", "--vms", str(vms)])
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"))
    hosts = ",".join(f"mlab-vm{i}" for i in range(1, limit + 1))
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(REPO / "inventories" / "lab"),
            "-i", str(REPO / ".lab" / "hosts.yml"), "--limit", hosts, "-f", str(max(5, limit)),
            str(REPO / "playbooks" / "onboard.yml")]
    log = REPO / "bench" / "results" / f"onboard-{limit}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink:
        started = time.monotonic()
        res = subprocess.run(argv, stdout=sink, stderr=sink, env=env, check=False)
        took = time.monotonic() - started
    if res.returncode != 0:
        raise SystemExit(f"onboard of {limit} VMs failed (rc {res.returncode}); see {log}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=4)
    args = parser.parse_args()
    one = onboard(args.n, 1)
    print(f"onboard 1 VM : {one:6.1f} s", flush=True)
    many = onboard(args.n, args.n)
    print(f"onboard {args.n} VMs: {many:6.1f} s", flush=True)
    print(f"ratio {many / one:.2f}x (target <= 1.5)")
    run([str(LAB), "down"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

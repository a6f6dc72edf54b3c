# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: wall time and controller memory of playbooks/onboard.yml on the lab, by VM count.

For each count N (default 1, 2, 4, 8) it boots N fresh lab VMs (numbers 11.., so that the VMs the
tests use stay as they are), onboards them (`--limit`, forks = max(5, N)), then runs onboard
again unchanged. It prints a table: fresh and unchanged wall time, the ratio to N=1, the number
of tasks run, the peak RSS of the controller (the largest of ansible-playbook and its
workers, from wait4's rusage), the CPU time of the controller (ansible-playbook, its workers and
their SSH clients, from the same rusage) and the CPU time of the whole machine during the run
(/proc/stat: on the lab that adds the VMs, the API server and istiod, which share its cores).
With --repeat R it onboards each count R times, in R rounds of all counts (1, 2, 4, 8, then again
1, 2, 4, 8, ..), so that a slow minute of the machine hits the counts alike; the table then shows
the median of each column, the range of the wall times, and each count's ratio to 1 VM as the
median of the ratios within a round (the runs an hour apart on the lab spread by up to 10 %).
With --forks F1,F2,.. it also onboards the largest count of VMs once with each of those forks.
With --existing K it first writes K WorkloadEntries into another namespace of the cluster (the
batch form), waits until the machine is quiet again (istiod pushes each new entry to the mesh) and
measures 1 VM again, to show what a large cluster costs; it removes that namespace at the end.
With --by-process it also turns the kernel's process accounting on during each fresh run (acct(2),
as root: the lab runs as root) and prints the CPU time of the processes that ended during it, in
the VMs too (they share the kernel), by kind: Ansible's main process and workers, the SSH clients,
Python module runs on the VMs (`python3`), the package install (`dpkg`, `dpkg-deb`) and the rest; and, from /proc
before and after, the CPU time the processes still running at the end spent during the run (accounting sees
them only when they end): the API server, istiod, the sidecars, systemd, kernel threads. Needs a running lab
(`tests/lab/lab up`). Run through `make bench-onboard`.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import yaml

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "tests" / "lab" / "lab"
STATE = REPO / ".lab"
FIRST = 11          # VM numbers FIRST.. (the tests use 1-10)


def run(argv, **kw):
    res = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, argv))}\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}")
    return res


def inventory(numbers, work: Path) -> Path:
    """The lab inventory's variables with the benchmark's VMs, in a new directory of ``work``
    (where the runs write the bundles too)."""
    lab = yaml.safe_load((STATE / "hosts.yml").read_text())["all"]["vars"]
    group_vars = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all.yml").read_text())
    hosts = {f"mlab-vm{n}": {"ansible_host": f"10.213.0.{10 + n}"} for n in numbers}
    doc = {"all": {"children": {"mesh_vms": {"hosts": hosts}}, "vars": dict(group_vars, **lab)}}
    doc["all"]["vars"]["mesh_workload_kubeconfig"] = str(STATE / "kubeconfig")
    path = Path(tempfile.mkdtemp(prefix="inventory-", dir=work)) / "hosts.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def fresh(numbers) -> None:
    # (no bundles to remove: each inventory() is a new directory, where the bundles go)
    run([str(LAB), "vm", "remove", *map(str, numbers)])
    run([str(LAB), "vm", "start", *map(str, numbers)])     # side by side


def summarize(runs: list, base_runs: list) -> dict:
    """One table row from the repeats of a count: ``runs`` and ``base_runs`` (the runs of 1 VM)
    are lists of {"fresh": .., "again": ..} results, one per round, in the same order. The median of
    each number, the range of the wall times, and the ratio to 1 VM as the median of the ratios of
    the rounds (each round's runs are minutes apart, the rounds' are not)."""
    ratios = [run["fresh"]["seconds"] / base["fresh"]["seconds"] for run, base in zip(runs, base_runs)]
    row = {"ratio": round(median(ratios), 2), "ratios": [round(r, 2) for r in ratios]}
    for phase in ("fresh", "again"):
        row[phase] = {key: round(median([run[phase][key] for run in runs]), 1)
                      for key in ("seconds", "peak_rss_mb", "controller_cpu_s", "machine_cpu_s")}
        row[phase]["tasks"] = round(median([run[phase]["tasks"] for run in runs]))
        row[phase]["range"] = (min(run[phase]["seconds"] for run in runs), max(run[phase]["seconds"] for run in runs))
    return row


def seconds_cell(phase: dict) -> str:
    """A wall time for the table, with its range when there were repeats."""
    low, high = phase.get("range", (phase["seconds"], phase["seconds"]))
    return f"{phase['seconds']} s" + (f" ({low}-{high})" if low != high else "")


def busy_seconds() -> float:
    """CPU seconds the machine has spent busy since boot, all cores (/proc/stat: every field of the
    first line but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(busy=busy_seconds, clock=time.monotonic, sleep=time.sleep, cores=None,
                     share=0.15, window=2.0, timeout=180.0) -> float:
    """Wait until the machine's cores were busy less than ``share`` of a ``window`` (seconds), or
    ``timeout`` passed; the seconds waited. Raises when the machine never got quiet."""
    cores = cores or os.cpu_count() or 1
    started = clock()
    while True:
        before, then = busy(), clock()
        sleep(window)
        if (busy() - before) / ((clock() - then) * cores) < share:
            return round(clock() - started, 1)
        if clock() - started > timeout:
            raise SystemExit(f"the machine stayed busy for more than {timeout} s; measure on a quieter machine")


# One record of the kernel's process accounting file, version 3 (struct acct_v3 of <linux/acct.h>):
# flag, version, tty, exit code, uid, gid, pid, ppid, start time, elapsed time (a float), then the
# comp_t (16 bits) user and system time, memory, I/O, rw, minor and major faults, swaps, and the
# command's name (16 bytes).
ACCT_V3 = struct.Struct("<BBHIIIIIIf8H16s")
ACCT_HZ = 100       # AHZ: the unit of comp_t times
# The kinds of process the by-process table shows, by command name (the kernel keeps 15 characters).
PROCESS_KINDS = (("ansible-playbook", ("ansible-playboo",)), ("ssh (controller)", ("ssh",)),
                 ("python3 (module runs on the VMs)", ("python3",)), ("dpkg, dpkg-deb", ("dpkg", "dpkg-deb")))


# The kinds of process still running at the end of a fresh run (the lab's cluster, the sidecars the run
# started, systemd in the VMs), by command name; their CPU comes from /proc, as accounting sees none of it.
# Kernel threads (PF_KTHREAD in stat's flags) go by one name, whatever theirs.
KERNEL_THREAD = "[kernel thread]"
PF_KTHREAD = 0x00200000
RUNNING_KINDS = (("API server, controller manager", ("meshlab-kube",)), ("istiod", ("pilot-discovery",)),
                 ("pilot-agent", ("pilot-agent",)), ("envoy", ("envoy",)),
                 ("systemd, journald, dbus", ("systemd", "systemd-journal", "dbus-daemon")),
                 ("sshd (VMs)", ("sshd", "sshd-session")), ("kernel threads", (KERNEL_THREAD,)))


def comp_t(value: int) -> int:
    """The value of a comp_t: 13 bits of mantissa, 3 bits of base-8 exponent."""
    return (value & 0x1FFF) << (3 * (value >> 13))


def acct_records(data: bytes) -> list:
    """(command, CPU seconds) of each version-3 record of a process accounting file."""
    records = []
    for offset in range(0, len(data) - ACCT_V3.size + 1, ACCT_V3.size):
        fields = ACCT_V3.unpack_from(data, offset)
        if fields[1] & 0x0F != 3:
            continue
        command = fields[-1].split(b"\0", 1)[0].decode(errors="replace")
        records.append((command, (comp_t(fields[10]) + comp_t(fields[11])) / ACCT_HZ))
    return records


def kind_of(command: str, kinds) -> str:
    """The name of the kind in ``kinds`` (PROCESS_KINDS, RUNNING_KINDS) whose commands hold ``command``, else ``other``."""
    return next((name for name, commands in kinds if command in commands), "other")


def by_kind(records) -> dict:
    """CPU seconds and process count per kind of PROCESS_KINDS, the rest as ``other``."""
    kinds = {name: [0.0, 0] for name, _commands in PROCESS_KINDS}
    kinds["other"] = [0.0, 0]
    for command, seconds in records:
        name = kind_of(command, PROCESS_KINDS)
        kinds[name][0] += seconds
        kinds[name][1] += 1
    return {name: {"cpu_s": round(cpu, 2), "processes": count} for name, (cpu, count) in kinds.items()}


def running_cpu(proc: Path = Path("/proc"), hz: int = 0) -> dict:
    """CPU seconds of each running process since it started (its own, not its children's), by (pid, start
    time): (command, seconds); a kernel thread's command is KERNEL_THREAD."""
    hz = hz or os.sysconf("SC_CLK_TCK")
    seen = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:         # ended meanwhile
            continue
        # pid (comm) state ppid ...: the command may hold spaces and brackets, so split after its last ')'
        command, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        # fields from the state on (stat's third): flags is stat's 9th, utime and stime its 14th and 15th,
        # starttime its 22nd
        if int(fields[6]) & PF_KTHREAD:
            command = KERNEL_THREAD
        seen[(entry.name, fields[19])] = (command, (int(fields[11]) + int(fields[12])) / hz)
    return seen


def running_by_kind(before: dict, after: dict) -> dict:
    """CPU seconds the processes running at the end spent since ``before`` (all of it for those started
    since), per kind of RUNNING_KINDS, the rest as ``other``."""
    kinds = {name: 0.0 for name, _commands in RUNNING_KINDS}
    kinds["other"] = 0.0
    for key, (command, seconds) in after.items():
        spent = seconds - before.get(key, (command, 0.0))[1]
        kinds[kind_of(command, RUNNING_KINDS)] += max(spent, 0.0)
    return {name: round(cpu, 2) for name, cpu in kinds.items()}


@contextlib.contextmanager
def process_accounting(path: Path):
    """The kernel's process accounting into ``path`` while the block runs (acct(2), needs root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    path.write_bytes(b"")
    if libc.acct(str(path).encode()) != 0:
        raise SystemExit(f"--by-process: acct({path}) failed: {os.strerror(ctypes.get_errno())}")
    try:
        yield
    finally:
        libc.acct(None)


def onboard(inv: Path, forks: int, log: Path) -> dict:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"),
               ANSIBLE_NOCOLOR="1")
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inv), "-f", str(forks),
            str(REPO / "playbooks" / "onboard.yml")]
    started, busy = time.monotonic(), busy_seconds()
    proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    status, usage = os.wait4(proc.pid, 0)[1:]
    took, busy = time.monotonic() - started, busy_seconds() - busy
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"onboard failed; see {log}")
    text = log.read_text()
    tasks = len(re.findall(r"^TASK \[", text, re.M))
    return {"seconds": round(took, 1), "tasks": tasks, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "controller_cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "machine_cpu_s": round(busy, 1)}


def existing_entries(count: int, work: Path) -> None:
    """count WorkloadEntries in namespace bench-existing, through the batch form."""
    objects = [{"name": f"old-{i:05d}", "address": f"10.{100 + i // 60000}.{(i // 250) % 240}.{1 + i % 250}",
                "labels": {"app": "old"}} for i in range(count)]
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [
        {"meshops.istio_vm.service_account": {"name": "old", "namespace": "bench-existing"}},
        {"meshops.istio_vm.workload_entry": {"namespace": "bench-existing", "objects": objects}}]}]
    path = Path(tempfile.mkdtemp(prefix="existing-", dir=work)) / "play.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "tests" / "output" / "collections"),
               K8S_AUTH_KUBECONFIG=str(STATE / "kubeconfig"))
    run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(path)], env=env)


def remove_existing_entries() -> None:
    """Delete namespace bench-existing and wait until it is gone (the lab's controller manager
    deletes what it holds), so that the next run starts from the same cluster."""
    from kubernetes import config      # pylint: disable=import-outside-toplevel
    sys.path[:0] = [str(REPO / "tests" / "integration")]
    from conftest import delete_namespace      # pylint: disable=import-outside-toplevel
    delete_namespace(config.new_client_from_config(str(STATE / "kubeconfig")), "bench-existing")


def print_rounds(title: str, kinds, rows: list, key: str, cell) -> None:
    """A table of each fresh run's ``key`` (a kind's CPU, written by ``cell``) by kind, one row per run."""
    names = [name for name, _commands in kinds] + ["other"]
    print(f"\n{title}:\n")
    print("| VMs | forks | round | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for row in rows:
        spent = row["fresh"].get(key)
        if spent:
            print(f"| {row['vms']} | {row['forks']} | {row.get('round', 1)} | "
                  + " | ".join(cell(spent[name]) for name in names) + " |")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="1,2,4,8")
    parser.add_argument("--existing", type=int, default=0,
                        help="also measure 1 VM with this many WorkloadEntries in the cluster")
    parser.add_argument("--forks", default="",
                        help="also onboard the largest count of VMs with each of these forks (comma-separated)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="onboard each count this many times, in rounds of all counts; the table shows medians")
    parser.add_argument("--by-process", action="store_true",
                        help="also the CPU time of the fresh runs by kind of process (process accounting, and /proc for those still running)")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    runs = [(count, max(5, count), turn) for turn in range(max(1, args.repeat)) for count in counts]
    runs += [(max(counts), int(forks), 0) for forks in args.forks.split(",") if forks]
    work = Path(tempfile.mkdtemp(prefix="bench-onboard-"))     # inventories and bundles, removed at the end
    try:
        for count, forks, turn in runs:
            numbers = list(range(FIRST, FIRST + count))
            fresh(numbers)
            inv = inventory(numbers, work)
            name = f"onboard-{count}-forks{forks}" + (f"-round{turn + 1}" if args.repeat > 1 else "")
            accounting = out / f"{name}-fresh.acct"
            running = running_cpu() if args.by_process else {}
            with process_accounting(accounting) if args.by_process else contextlib.nullcontext():
                first = onboard(inv, forks, out / f"{name}-fresh.log")
            if args.by_process:
                first["running"] = running_by_kind(running, running_cpu())
                first["by_process"] = by_kind(acct_records(accounting.read_bytes()))
                accounting.unlink()
            again = onboard(inv, forks, out / f"{name}-again.log")
            rows.append({"vms": count, "forks": forks, "round": turn + 1, "fresh": first, "again": again})
            print(f"{count} VM(s), forks {forks}" + (f", round {turn + 1}" if args.repeat > 1 else "")
                  + f": fresh {first['seconds']} s ({first['tasks']} tasks), "
                  f"unchanged {again['seconds']} s, peak RSS {max(first['peak_rss_mb'], again['peak_rss_mb'])} MB, "
                  f"CPU fresh {first['controller_cpu_s']} s controller / {first['machine_cpu_s']} s machine", flush=True)
        if args.existing:
            try:
                existing_entries(args.existing, work)
                numbers = [FIRST]
                fresh(numbers)
                print(f"{args.existing} WorkloadEntries written; the machine was quiet again after "
                      f"{wait_until_quiet()} s", flush=True)
                inv = inventory(numbers, work)
                first = onboard(inv, 5, out / "onboard-existing-fresh.log")
                again = onboard(inv, 5, out / "onboard-existing-again.log")
                rows.append({"vms": 1, "forks": 5, "existing_entries": args.existing, "fresh": first, "again": again})
            finally:
                remove_existing_entries()
    finally:
        # the benchmark's VMs go, whether it finished or not (a failed onboard leaves its log in bench/results)
        run([str(LAB), "vm", "remove", *map(str, range(FIRST, FIRST + max(counts)))])
        shutil.rmtree(work, ignore_errors=True)
    cores = os.cpu_count() or 1
    groups: dict = {}      # (VMs, forks) -> its runs, round by round
    for row in rows:
        if "existing_entries" not in row:
            groups.setdefault((row["vms"], row["forks"]), []).append(row)
    base_runs = groups[(counts[0], max(5, counts[0]))]
    # (summarize pairs each run with the base run of its round; a single run with the first)
    table = [dict(summarize(same, base_runs), vms=count, forks=forks, existing_entries=0)
             for (count, forks), same in groups.items()]
    table += [dict(summarize([row], base_runs), vms=1, forks=row["forks"], existing_entries=row["existing_entries"])
              for row in rows if "existing_entries" in row]
    if args.repeat > 1:
        print(f"\nMedians of {args.repeat} rounds (the range of the wall times in brackets; the ratio is the "
              "median of the ratios within a round):")
    print("\n| VMs | forks | existing entries | fresh onboard | ratio to 1 VM | unchanged re-run | tasks | peak RSS "
          f"| CPU, fresh: controller / machine (of {cores} cores) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in table:
        fresh_run, again_run = row["fresh"], row["again"]
        print(f"| {row['vms']} | {row['forks']} | {row['existing_entries']} | {seconds_cell(fresh_run)} | "
              f"{row['ratio']:.2f}x | {seconds_cell(again_run)} | "
              f"{fresh_run['tasks']} | {max(fresh_run['peak_rss_mb'], again_run['peak_rss_mb'])} MB | "
              f"{fresh_run['controller_cpu_s']} s / {fresh_run['machine_cpu_s']} s "
              f"({fresh_run['machine_cpu_s'] / (fresh_run['seconds'] * cores):.0%}) |")
    if args.by_process:
        print_rounds("CPU seconds of the processes that ended during each fresh run (process accounting; those "
                     "still running at its end are in the next table)", PROCESS_KINDS, rows, "by_process",
                     lambda spent: f"{spent['cpu_s']} s ({spent['processes']})")
        print_rounds("CPU seconds the processes still running at the end of each fresh run spent during it (/proc; "
                     "those started during the run, such as the sidecars, all of theirs)", RUNNING_KINDS, rows,
                     "running", lambda spent: f"{spent} s")
    (out / time.strftime("onboard-%Y%m%dT%H%M%S.json")).write_text(json.dumps({"runs": rows, "table": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""bench/bench_onboard.py --by-process: the records of the kernel's process accounting file
(struct acct_v3) read back, their comp_t times decoded, and the CPU time summed by kind of process."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("bench_onboard", REPO / "bench" / "bench_onboard.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def record(command: bytes, utime: int, stime: int, version: int = 3) -> bytes:
    """One accounting record as the kernel writes it (little-endian), times as comp_t values."""
    return bench.ACCT_V3.pack(0, version, 0, 0, 0, 0, 4242, 1, 1_800_000_000, 12.5,
                              utime, stime, 0, 0, 0, 0, 0, 0, command)


@pytest.mark.parametrize("value,expected", [
    (0, 0), (1, 1), (0x1FFF, 8191),
    (0x2000 | 5, 40),            # exponent 1: times 8
    (0x6000 | 0x100, 256 * 8 ** 3),
])
def test_comp_t(value, expected):
    assert bench.comp_t(value) == expected


def test_records_are_read_back_with_their_cpu_time():
    data = (record(b"ansible-playboo", 120, 30) + record(b"python3", 15, 3)
            + record(b"old-format", 500, 500, version=2) + record(b"dpkg-deb", 0x2000 | 7, 2))
    assert bench.acct_records(data) == [("ansible-playboo", 1.5), ("python3", 0.18), ("dpkg-deb", 0.58)]
    # a file cut in the middle of a record: the whole records before it
    assert bench.acct_records(data[:bench.ACCT_V3.size + 10]) == [("ansible-playboo", 1.5)]


def test_cpu_time_by_kind_of_process():
    kinds = bench.by_kind([("ansible-playboo", 1.25), ("ansible-playboo", 0.5), ("ssh", 0.02), ("python3", 0.2),
                           ("dpkg", 0.3), ("dpkg-deb", 0.6), ("iptables-legacy", 0.0), ("sh", 0.01)])
    assert kinds == {"ansible-playbook": {"cpu_s": 1.75, "processes": 2},
                     "ssh (controller)": {"cpu_s": 0.02, "processes": 1},
                     "python3 (module runs on the VMs)": {"cpu_s": 0.2, "processes": 1},
                     "dpkg, dpkg-deb": {"cpu_s": 0.9, "processes": 2},
                     "other": {"cpu_s": 0.01, "processes": 2}}


class Machine:
    """A clock and a /proc/stat busy counter that advance as the benchmark sleeps: the busy share of
    each window comes from ``shares`` (of all cores), the last one repeated."""

    def __init__(self, shares, cores=2):
        self.shares, self.cores, self.now, self.busy = list(shares), cores, 0.0, 0.0

    def clock(self):
        return self.now

    def busy_seconds(self):
        return self.busy

    def sleep(self, seconds):
        share = self.shares.pop(0) if len(self.shares) > 1 else self.shares[0]
        self.now += seconds
        self.busy += share * seconds * self.cores


def test_wait_until_quiet_returns_after_the_first_quiet_window():
    machine = Machine([0.9, 0.5, 0.2, 0.05, 0.9])
    waited = bench.wait_until_quiet(busy=machine.busy_seconds, clock=machine.clock, sleep=machine.sleep,
                                    cores=2, share=0.15, window=2.0, timeout=60)
    assert waited == 8.0        # four windows: the fourth was quiet


def test_wait_until_quiet_gives_up_on_a_machine_that_stays_busy():
    machine = Machine([0.5])
    with pytest.raises(SystemExit, match="stayed busy for more than 10"):
        bench.wait_until_quiet(busy=machine.busy_seconds, clock=machine.clock, sleep=machine.sleep,
                               cores=2, share=0.15, window=2.0, timeout=10)


def result(seconds, again=4.5, tasks=94, rss=80.0, controller=5.0, machine=8.0):
    """One onboard's results as bench_onboard.onboard returns them, a fresh run and the unchanged one."""
    return {"fresh": {"seconds": seconds, "tasks": tasks, "peak_rss_mb": rss, "controller_cpu_s": controller,
                      "machine_cpu_s": machine},
            "again": {"seconds": again, "tasks": tasks, "peak_rss_mb": rss, "controller_cpu_s": 2.0,
                      "machine_cpu_s": 3.0}}


@pytest.mark.parametrize("values,expected", [([3.0], 3.0), ([9.0, 1.0, 5.0], 5.0), ([4.0, 1.0, 3.0, 2.0], 2.5)])
def test_median(values, expected):
    assert bench.median(values) == expected


def test_repeats_give_medians_and_the_median_of_the_ratios_within_each_round():
    ones = [result(8.0), result(10.0), result(8.6)]
    # a slow second round slows both counts: its ratio is 1.5 like the first one's
    fours = [result(12.0, again=7.0, machine=22.0), result(15.0, again=9.0, machine=26.0),
             result(14.62, again=8.0, machine=24.0)]
    row = bench.summarize(fours, ones)
    assert row["ratios"] == [1.5, 1.5, 1.7]
    assert row["ratio"] == 1.5          # the ratio of the medians would be 14.62 / 8.6 = 1.7
    assert row["fresh"]["seconds"] == 14.6 and row["fresh"]["range"] == (12.0, 15.0)
    assert row["again"]["seconds"] == 8.0 and row["again"]["range"] == (7.0, 9.0)
    assert row["fresh"]["machine_cpu_s"] == 24.0 and row["fresh"]["tasks"] == 94
    assert bench.seconds_cell(row["fresh"]) == "14.6 s (12.0-15.0)"
    assert bench.summarize(ones, ones)["ratio"] == 1.0


def test_one_run_is_its_own_median_and_shows_no_range():
    row = bench.summarize([result(13.7)], [result(8.6)])
    assert row["ratio"] == 1.59 and row["ratios"] == [1.59]
    assert bench.seconds_cell(row["fresh"]) == "13.7 s"


def write_stat(proc: Path, pid: int, command: str, utime: int, stime: int, start: int, flags: int = 0x400100) -> None:
    """A /proc/PID/stat line as the kernel writes it (times in clock ticks; children's times 7 and 9)."""
    (proc / str(pid)).mkdir()
    fields = ["S", "1", str(pid), str(pid), "0", "-1", str(flags), "0", "0", "0", "0", str(utime), str(stime),
              "7", "9", "20", "0", "1", "0", str(start), "1000", "10"]
    (proc / str(pid) / "stat").write_text(f"{pid} ({command}) " + " ".join(fields) + "\n")


def test_running_processes_are_read_with_their_cpu_time_and_start(tmp_path):
    write_stat(tmp_path, 4005, "meshlab-kube", 300, 100, 5000)
    write_stat(tmp_path, 77, "a (b) c", 1, 1, 9)       # a command with spaces and brackets
    write_stat(tmp_path, 31, "kworker/1:2-mm_percpu_wq", 5, 20, 3, flags=0x4208060)     # PF_KTHREAD
    (tmp_path / "self").mkdir()                          # not a process directory
    (tmp_path / "4242").mkdir()                          # a process that ended meanwhile: no stat
    expected = {("4005", "5000"): ("meshlab-kube", 4.0), ("77", "9"): ("a (b) c", 0.02),
                ("31", "3"): (bench.KERNEL_THREAD, 0.25)}
    assert bench.running_cpu(tmp_path, hz=100) == expected


def test_running_cpu_by_kind_counts_what_each_process_spent_since_before():
    before = {("4005", "5000"): ("meshlab-kube", 4.0), ("10", "1"): (bench.KERNEL_THREAD, 1.0),
              ("11", "2"): ("gone", 9.0)}
    after = {("4005", "5000"): ("meshlab-kube", 4.75),
             ("10", "1"): (bench.KERNEL_THREAD, 1.25),
             ("12", "7"): (bench.KERNEL_THREAD, 0.5),
             ("14", "7"): ("sshd-session", 0.125),
             ("900", "8000"): ("pilot-agent", 0.25),       # started during the run: all of it
             ("4005", "9000"): ("envoy", 0.125),           # a pid used again: another process
             ("13", "3"): ("bash", 0.5)}
    assert bench.running_by_kind(before, after) == {
        "API server, controller manager": 0.75, "istiod": 0.0, "pilot-agent": 0.25, "envoy": 0.12,
        "systemd, journald, dbus": 0.0, "sshd (VMs)": 0.12, "kernel threads": 0.75, "other": 0.5}


def test_the_running_table_has_one_row_per_fresh_run_that_measured_it(capsys):
    rows = [{"vms": 4, "forks": 5, "round": 2,
             "fresh": {"running": bench.running_by_kind({}, {("1", "2"): ("envoy", 0.25)})}},
            {"vms": 1, "forks": 5, "fresh": {}}]          # a run without --by-process: no row
    bench.print_rounds("Still running", bench.RUNNING_KINDS, rows, "running", lambda spent: f"{spent} s")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "Still running:"
    assert lines[3].startswith("| VMs | forks | round | API server, controller manager | istiod |")
    assert lines[3].endswith("| kernel threads | other |")
    assert lines[5:] == ["| 4 | 5 | 2 | 0.0 s | 0.0 s | 0.0 s | 0.25 s | 0.0 s | 0.0 s | 0.0 s | 0.0 s |"]

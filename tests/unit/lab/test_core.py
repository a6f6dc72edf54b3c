# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lab CLI's own failure paths, with real sockets and real commands (no mocks)."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from meshlab.__main__ import exclusive  # noqa: E402
from meshlab.core import Config, LabError, ensure_ports_free, need_tools, run, wait_for  # noqa: E402
from meshlab.hosts import mounts_below  # noqa: E402


def test_busy_port_names_step_and_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LabError) as exc:
            ensure_ports_free("istiod", [("127.0.0.1", port)])
    assert exc.value.step == "istiod"
    assert f"127.0.0.1:{port}" in exc.value.message
    assert "lab down" in exc.value.hint


def test_missing_tool_is_named():
    with pytest.raises(LabError) as exc:
        need_tools("vms", ["sh", "no-such-tool-meshlab"], "apt-get install it")
    assert "no-such-tool-meshlab" in exc.value.message and "sh," not in exc.value.message


def test_failed_command_reports_log_tail(tmp_path):
    log = tmp_path / "build.log"
    with pytest.raises(LabError) as exc:
        run("build", ["sh", "-c", "echo compiling; echo 'undefined: Foo' >&2; exit 3"], log=log,
            hint="re-run")
    assert "exited 3" in exc.value.message and "undefined: Foo" in exc.value.message
    assert exc.value.hint == "re-run"


def test_wait_for_reports_last_error():
    calls = []

    def check():
        calls.append(1)
        raise ConnectionRefusedError("nothing on 6443")

    with pytest.raises(LabError) as exc:
        wait_for("apiserver", "readyz", check, timeout=0.3, interval=0.05)
    assert "nothing on 6443" in exc.value.message and len(calls) >= 2


def test_lab_commands_that_change_the_lab_run_one_at_a_time(tmp_path, monkeypatch):
    """A second `lab up`/`vm`/`vmnet`/`down` waits for the first (two debootstraps into one
    directory broke a lab build): while one holds the lock, another process cannot take it."""
    monkeypatch.setenv("MESHLAB_CACHE", str(tmp_path / "cache"))
    cfg = Config.from_env()
    probe = ("import fcntl, sys\n"
             "f = open(sys.argv[1], 'a+')\n"
             "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n")
    lock = str(cfg.cache / "lab.lock")
    with exclusive(cfg):
        held = subprocess.run([sys.executable, "-c", probe, lock], check=False)
    free = subprocess.run([sys.executable, "-c", probe, lock], check=False)
    assert (held.returncode, free.returncode) == (3, 0)


def test_mounts_left_in_a_failed_rootfs_build_are_found_deepest_first(tmp_path):
    tmp = tmp_path / "rootfs-bookworm-1.tmp"
    mounts = "\n".join([
        "proc /proc proc rw 0 0",
        f"proc {tmp}/proc proc rw 0 0",
        f"sysfs {tmp}/sys sysfs rw 0 0",
        f"devpts {tmp}/dev/pts devpts rw 0 0",
        f"tmpfs {tmp}/run/with\\040space tmpfs rw 0 0",
        f"tmpfs {tmp}-other/proc proc rw 0 0",
        ""])
    found = mounts_below(tmp, mounts)
    assert found.index(f"{tmp}/dev/pts") < found.index(f"{tmp}/proc") and set(found) == {
        f"{tmp}/proc", f"{tmp}/sys", f"{tmp}/dev/pts", f"{tmp}/run/with space"}

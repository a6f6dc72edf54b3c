# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""tests/lab/lab up|down|status|env|vm — the lab's one entry point."""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys
import threading
import time

from . import control, hosts, vmnet
from .core import Config, LabError, Proc, say

COMPONENTS = ("apiserver", "crds", "istiod", "vms")


def up(cfg: Config, vms: int, until: str) -> None:
    if os.geteuid() != 0:
        raise LabError("preflight", "the lab needs root (bridge, systemd-nspawn)", "run it as root")
    started = time.monotonic()
    cfg.state.mkdir(parents=True, exist_ok=True)
    build(cfg)
    hosts.bridge(cfg)
    control.pki(cfg)
    control.apiserver(cfg)
    control.controller_manager(cfg)
    if until != "apiserver":
        control.crds(cfg)
    if until not in ("apiserver", "crds"):
        control.istiod(cfg)
    if until == "vms" and vms > 0:
        hosts.serve_package(cfg)
        hosts.vms(cfg, vms)
    hosts.write_inventory(cfg, vms if until == "vms" else 0)
    say(f"lab up in {time.monotonic() - started:.1f} s")
    status(cfg)


def build(cfg: Config) -> None:
    """The Go builds, and on a machine that has neither, the VMs' root filesystem beside them:
    the builds are CPU-bound, debootstrap mostly waits on the Debian mirror (measured cold on 2
    cores: 10 min for the builds with debootstrap's 1.5 min beside them; debootstrap alone has
    taken 11 min on a slow mirror)."""
    if control.have_binaries(cfg) or hosts.rootfs_ready(cfg):
        control.build(cfg)
        return
    failed: list[BaseException] = []

    def rootfs() -> None:
        try:
            hosts.rootfs(cfg)
        except BaseException as exc:  # raised again below, in the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=rootfs, name="rootfs")
    worker.start()
    try:
        control.build(cfg)
    finally:
        worker.join()
    if failed:
        raise failed[0]


def down(cfg: Config) -> None:
    stopped = vmnet.down(cfg) + hosts.stop_vms(cfg)
    if Proc(cfg, "pkg-server").stop():
        stopped.append("pkg-server")
    stopped += control.stop_control(cfg)
    control.reset_cluster_state(cfg)
    if hosts.remove_bridge(cfg):
        stopped.append(f"bridge {cfg.bridge}")
    (cfg.state / "hosts.yml").unlink(missing_ok=True)
    say("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    left = hosts.lab_links(cfg)
    if left:
        raise LabError("down", f"links still present: {', '.join(left)}")


def status(cfg: Config) -> int:
    rows = [
        ("kube-apiserver", Proc(cfg, "kube-apiserver"), cfg.apiserver_url),
        ("kube-controller-manager", Proc(cfg, "kube-controller-manager"), "-"),
        ("istiod", Proc(cfg, "istiod"), f"{cfg.istiod_address} (XDS+CA)"),
        ("pkg-server", Proc(cfg, "pkg-server"), cfg.pkg_url),
        *vmnet.status(cfg),
    ]
    # The VMs of `up`, and any other VM started with `lab vm start N` (molecule, traffic tests).
    for n in sorted(set(range(1, hosts.vm_count(cfg) + 1)) | set(hosts.running_vms(cfg))):
        rows.append((cfg.vm_name(n), Proc(cfg, f"vm-{cfg.vm_name(n)}"), f"{cfg.vm_ip(n)}:22"))
    down_count = 0
    for name, proc, addr in rows:
        pid = proc.pid()
        down_count += pid is None
        state = f"running pid {pid}" if pid else "stopped"
        print(f"{name:26} {state:20} {addr}")
    print(f"{'state dir':26} {'':20} {cfg.state}")
    return 0 if down_count == 0 else 3


def env(cfg: Config) -> None:
    for key, value in hosts.os_environ_for_user(cfg).items():
        print(f"export {key}={value}")


@contextlib.contextmanager
def exclusive(cfg: Config):
    """One command that changes the lab at a time (two `lab up` at once would debootstrap into
    the same directory, or build the same binary): an flock on the cache's lab.lock, released
    when this process ends, however it ends."""
    cfg.cache.mkdir(parents=True, exist_ok=True)
    with open(cfg.cache / "lab.lock", "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another lab command is running; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/lab/lab", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build what is missing and start the lab (idempotent)")
    p_up.add_argument("--vms", type=int, default=int(os.environ.get("MESHLAB_VMS", "2")),
                      help="number of VMs (default 2)")
    p_up.add_argument("--until", choices=COMPONENTS, default=os.environ.get("MESHLAB_UNTIL", "vms"),
                      help="start components up to this one (default: all)")
    sub.add_parser("build", help="only build what is missing (binaries, the VMs' root filesystem); start nothing")
    p_vm = sub.add_parser("vm", help="start or remove VMs (for molecule scenarios and tests)")
    p_vm.add_argument("action", choices=["start", "remove"])
    p_vm.add_argument("number", type=int, nargs="+",
                      help="VM number N: mlab-vmN at 10.213.0.(10+N); several boot side by side")
    p_call = sub.add_parser("call", help="one request from a VM through its sidecar to a mesh URL")
    p_call.add_argument("number", type=int, help="the calling VM's number N")
    p_call.add_argument("url")
    p_net = sub.add_parser("vmnet", help="the VM network (mlab1) and its east-west gateway (opt-in)")
    p_net.add_argument("action", choices=["up", "down"])
    sub.add_parser("down", help="stop everything the lab started, by recorded PID")
    sub.add_parser("status", help="show each component and its address")
    sub.add_parser("env", help="print the exports a user needs")
    args = parser.parse_args(argv)
    cfg = Config.from_env()
    try:
        with contextlib.ExitStack() as stack:
            if args.cmd in ("up", "build", "vm", "vmnet", "down"):
                stack.enter_context(exclusive(cfg))
            return _run(cfg, args, parser)
    except LabError as exc:
        print(f"[lab] FAILED at step '{exc.step}': {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"[lab] what to do: {exc.hint}", file=sys.stderr)
        return 1


def _run(cfg: Config, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.cmd == "up":
        up(cfg, args.vms, args.until)
    elif args.cmd == "build":
        build(cfg)
        hosts.rootfs(cfg)
    elif args.cmd == "vm":
        if not all(1 <= n <= 200 for n in args.number):
            parser.error("VM number must be in 1..200")
        if args.action == "start":
            hosts.start_vms(cfg, args.number)
        else:
            for n in args.number:
                hosts.remove_vm(cfg, n)
    elif args.cmd == "call":
        ok, line = hosts.call(cfg, args.number, args.url)
        print(line)
        return 0 if ok else 1
    elif args.cmd == "vmnet":
        if args.action == "up":
            vmnet.up(cfg)
        else:
            say("stopped: " + (", ".join(vmnet.down(cfg)) or "nothing was running"))
    elif args.cmd == "down":
        down(cfg)
    elif args.cmd == "status":
        return status(cfg)
    elif args.cmd == "env":
        env(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())

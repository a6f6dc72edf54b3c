# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Faults on the VM side, each on a lab VM of its own (7, 8 and 31) with its own inventory and
namespace: a package URL that answers 404, a download that stalls, a reboot in the middle
of the package install, the interception a crashed sidecar left, and a restart whose connection
was lost before it ran. Each fails clearly or is repaired, and the next run converges."""
from __future__ import annotations

import re
import time

import pytest
import yaml

from ansible_run import run_playbook
from faults import StalledServer, own_workload
from mesh_state import interception, lease, recap
from meshlab import hosts
from meshlab.core import Proc

DOWNLOAD_VM, REBOOT_VM, LEFTOVER_VM = 7, 8, 31


def package_state(lab, n: int) -> str:
    return lab.ssh(n, "dpkg-query", "--show", "--showformat=${db:Status-Abbrev}|${Version}", "istio-sidecar",
                   check=False).stdout


def nothing_installed(lab, n: int) -> None:
    assert lab.ssh(n, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0, "a package was installed"
    assert lab.ssh(n, "systemctl", "is-active", "istio", check=False).stdout.strip() != "active"
    assert lab.ssh(n, "find", "/var/cache/meshops-istio-vm", "-type", "f", check=False).stdout == "", \
        "a partial package was left in the cache"


def ready(lab, n: int) -> bool:
    return lab.ssh(n, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://localhost:15021/healthz/ready",
                   check=False).stdout == "200"


def own_vm(lab, api_client, tmp_path_factory, n: int, name: str):
    """Fixture body: lab VM n fresh, in an inventory and namespace of its own (faults.own_workload);
    yields the inventory."""
    for _namespace, inventory in own_workload(lab, api_client, tmp_path_factory.mktemp(name), (n,), name):
        yield inventory


@pytest.fixture(scope="module")
def download_vm(lab, api_client, tmp_path_factory):
    yield from own_vm(lab, api_client, tmp_path_factory, DOWNLOAD_VM, "dl")


def onboard(lab, inventory, *extra):
    started = time.monotonic()
    res = run_playbook(inventory, lab.kubeconfig, "onboard.yml", *extra, check=False)
    return res, time.monotonic() - started


def namespace_of(inventory) -> str:
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["mesh_vms"]["hosts"]
    return next(iter(hosts.values()))["mesh_workload_namespace"]


def test_a_404_package_url_fails_clearly_after_the_bounded_retries(lab, api_client, download_vm):
    url = f"http://{lab.cfg.host_ip}:{lab.cfg.pkg_port}/no-such-istio-sidecar.deb"
    res, took = onboard(lab, download_vm, "-e", f"vm_sidecar_package_url={url}",
                        "-e", "vm_sidecar_download_retries=2", "-e", "vm_sidecar_download_delay=1")
    print(f"404: failed after {took:.1f} s")
    text = " ".join(res.stdout.split())
    assert res.returncode != 0
    assert (f"mlab-vm{DOWNLOAD_VM} could not download the istio-sidecar package from {url} "
            f"(server {lab.cfg.host_ip}:{lab.cfg.pkg_port})") in text, res.stdout[-3000:]
    assert "(HTTP 404), after 3 attempt(s) of at most 60 s each" in text, res.stdout[-3000:]
    nothing_installed(lab, DOWNLOAD_VM)
    # its only VM failed, so the run ended there: it gave back the run lock of the namespace all the
    # same, and the next run (another AWX job, which cannot see this run's process) need not wait
    assert lease(api_client, namespace_of(download_vm)) is None


def test_a_stalled_download_times_out_after_the_bounded_retries_then_the_good_url_converges(lab, download_vm):
    with StalledServer(lab.cfg.host_ip) as stalled:
        res, took = onboard(lab, download_vm, "-e", f"vm_sidecar_package_url={stalled.url}",
                            "-e", "vm_sidecar_download_timeout=2", "-e", "vm_sidecar_download_retries=1",
                            "-e", "vm_sidecar_download_delay=1")
    print(f"stalled download: failed after {took:.1f} s, {stalled.connections} connections")
    text = " ".join(res.stdout.split())
    assert res.returncode != 0
    assert stalled.connections == 2, "1 retry: 2 attempts"
    assert f"could not download the istio-sidecar package from {stalled.url}" in text, res.stdout[-3000:]
    assert "after 2 attempt(s) of at most 2 s each" in text, res.stdout[-3000:]
    assert "timed out" in text.lower(), res.stdout[-3000:]
    nothing_installed(lab, DOWNLOAD_VM)

    res, took = onboard(lab, download_vm)
    print(f"re-run with the lab's URL: {took:.1f} s")
    assert res.returncode == 0, res.stdout[-4000:]
    assert package_state(lab, DOWNLOAD_VM).startswith("ii ")
    assert ready(lab, DOWNLOAD_VM)


def changed(stdout: str, task: str) -> bool:
    """Whether the role's task ``task`` (a regular expression) reported a change."""
    return re.search(rf"TASK \[meshops\.istio_vm\.vm_sidecar : {task}\] \**\nchanged", stdout) is not None


DPKG_INSTALL = r"Install istio-sidecar from the \.deb with dpkg"


def test_a_dry_run_reports_the_install_of_a_package_file_already_on_the_vm(lab, download_vm):
    n = DOWNLOAD_VM
    res, _took = onboard(lab, download_vm)
    assert res.returncode == 0, res.stdout[-4000:]
    assert lab.ssh(n, "find", "/var/cache/meshops-istio-vm", "-name", "*.deb").stdout.strip(), "no package file kept"
    lab.ssh(n, "systemctl", "stop", "istio")
    lab.ssh(n, "dpkg", "--purge", "istio-sidecar")

    res, _took = onboard(lab, download_vm, "--check")
    assert res.returncode == 0, res.stdout[-4000:]
    assert changed(res.stdout, DPKG_INSTALL), "the dry run did not report the install it would do"
    assert lab.ssh(n, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0, "the dry run installed"

    res, _took = onboard(lab, download_vm)
    assert res.returncode == 0, res.stdout[-4000:]
    assert changed(res.stdout, DPKG_INSTALL) and package_state(lab, n).startswith("ii ") and ready(lab, n)


@pytest.fixture(scope="module")
def reboot_vm(lab, api_client, tmp_path_factory):
    yield from own_vm(lab, api_client, tmp_path_factory, REBOOT_VM, "reboot")


# dpkg unpacks in the background; as soon as it has marked the package half-installed (or, on a
# fast disk, finished unpacking), it is killed, the way a power cut or a reboot stops it.
KILL_DPKG_MID_UNPACK = r"""
set -e
curl -fsS -o /root/sidecar.deb "$1"
dpkg --unpack /root/sidecar.deb >/dev/null 2>&1 & pid=$!
while kill -0 $pid 2>/dev/null; do
  case "$(dpkg-query -W -f='${db:Status-Abbrev}' istio-sidecar 2>/dev/null)" in iH*|iU*) break;; esac
  sleep 0.02
done
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
dpkg-query -W -f='${db:Status-Abbrev}|${Version}' istio-sidecar
"""


def test_a_reboot_in_the_middle_of_the_install_is_repaired_by_the_next_run(lab, reboot_vm):
    n = REBOOT_VM
    state = lab.ssh(n, "sh", "-c", KILL_DPKG_MID_UNPACK, "-", lab.cfg.pkg_url).stdout
    journal = lab.ssh(n, "ls", "/var/lib/dpkg/updates").stdout.split()
    print(f"dpkg killed: state {state!r}, journal {journal}")
    assert not state.startswith("ii "), "dpkg finished before it was killed"

    vm = Proc(lab.cfg, f"vm-{lab.cfg.vm_name(n)}")      # the reboot: systemd boots the same root again
    assert vm.stop(timeout=60)
    hosts.boot_vm(lab.cfg, n, hosts.rootfs(lab.cfg))
    hosts.wait_vm(lab.cfg, n)
    assert package_state(lab, n) == state, "the reboot changed dpkg's state"

    res, _took = onboard(lab, reboot_vm, "--check")          # a dry run repairs nothing, and says it would
    assert package_state(lab, n) == state, "check mode ran dpkg"
    assert changed(res.stdout, r"Finish an interrupted dpkg run \(dpkg --configure -a\)"), res.stdout[-4000:]

    res, took = onboard(lab, reboot_vm)
    print(f"repairing onboard: {took:.1f} s")
    assert res.returncode == 0, res.stdout[-4000:]
    for task in (r"Finish an interrupted dpkg run \(dpkg --configure -a\)",
                 r"Install istio-sidecar from the \.deb with (?:dpkg|apt-get \(and its dependencies\))"):
        assert re.search(rf"TASK \[meshops\.istio_vm\.vm_sidecar : {task}\] \**\nchanged", res.stdout), task
    assert package_state(lab, n).startswith("ii ")
    assert lab.ssh(n, "dpkg", "--audit").stdout == "", "dpkg still reports broken packages"
    assert lab.ssh(n, "ls", "/var/lib/dpkg/updates").stdout == ""
    assert lab.ssh(n, "test", "-x", "/usr/local/bin/pilot-agent", check=False).returncode == 0
    assert ready(lab, n)

    res, _took = onboard(lab, reboot_vm)
    assert res.returncode == 0 and recap(res.stdout)[lab.cfg.vm_name(n)]["changed"] == 0, "the next run changed"


@pytest.fixture(scope="module")
def leftover_vm(lab, api_client, tmp_path_factory):
    yield from own_vm(lab, api_client, tmp_path_factory, LEFTOVER_VM, "leftover")


# What a sidecar that crashed or lost its package can leave (istio/istio#52835): chains and the
# rules that jump to them, with both iptables backends, in two tables and for IPv6. The nat rules
# send the VM's connections to the package server to port 15001, where nothing listens. Planted
# over a connection that connection tracking follows from its start (a first connection lists the
# nat tables, which turns tracking on): a connection it picks up midway goes through nat OUTPUT
# like a new one.
PLANT_INTERCEPTION = r"""
set -e
host=$1 port=$2
for ipt in iptables-legacy iptables-nft; do
  $ipt -w -t nat -N ISTIO_REDIRECT
  $ipt -w -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
  $ipt -w -t nat -N ISTIO_OUTPUT
  $ipt -w -t nat -A ISTIO_OUTPUT -d "$host" -p tcp --dport "$port" -j ISTIO_REDIRECT
  $ipt -w -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT
done
iptables-nft -w -t mangle -N ISTIO_DIVERT
iptables-nft -w -t mangle -A PREROUTING -p tcp -j ISTIO_DIVERT
ip6tables-legacy -w -t nat -N ISTIO_OUTPUT
ip6tables-legacy -w -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT
"""


def package_reachable(lab, n: int) -> bool:
    return lab.ssh(n, "curl", "-fsS", "-o", "/dev/null", "-m", "5", lab.cfg.pkg_url, check=False).returncode == 0


def test_interception_a_crashed_sidecar_left_is_removed_before_the_package_download(lab, leftover_vm):
    n = LEFTOVER_VM
    lab.ssh(n, "sh", "-c", "iptables-legacy -w -t nat -S >/dev/null && iptables-nft -w -t nat -S >/dev/null")
    lab.ssh(n, "sh", "-c", PLANT_INTERCEPTION, "-", lab.cfg.host_ip, str(lab.cfg.pkg_port))
    planted, planted6 = interception(lab, n), interception(lab, n, "ip6")
    assert "mangle: :ISTIO_DIVERT" in planted and "nat: :ISTIO_OUTPUT" in planted6, planted
    assert not package_reachable(lab, n), "the planted rules do not intercept the package download"

    res, _took = onboard(lab, leftover_vm, "--check")           # a dry run removes nothing
    assert res.returncode == 0, res.stdout[-4000:]
    assert interception(lab, n) == planted and interception(lab, n, "ip6") == planted6, "check mode removed rules"

    res, took = onboard(lab, leftover_vm)
    print(f"onboard over leftover interception: {took:.1f} s")
    assert res.returncode == 0, res.stdout[-4000:]
    task = "TASK [meshops.istio_vm.vm_sidecar : Remove interception rules a stopped sidecar left behind]"
    assert re.search(rf"{re.escape(task)} \**\nchanged", res.stdout), res.stdout[-4000:]
    assert package_state(lab, n).startswith("ii ")
    assert ready(lab, n)
    # What is left is the sidecar's own interception: each chain and rule once, none of the
    # planted ones that the sidecar does not set up (TPROXY's mangle chain, the nft backend's).
    rules = interception(lab, n)
    assert rules and len(rules) == len(set(rules)), rules
    assert not [r for r in rules if "ISTIO_DIVERT" in r], rules
    assert lab.ssh(n, "sh", "-c", "iptables-nft-save 2>/dev/null | grep -c ISTIO_ || true").stdout.strip() == "0"
    assert package_reachable(lab, n), "the sidecar's own interception does not pass the package server"

    res, _took = onboard(lab, leftover_vm)
    assert res.returncode == 0 and recap(res.stdout)[lab.cfg.vm_name(n)]["changed"] == 0, "the next run changed"


def test_interception_that_cannot_be_removed_fails_the_run_naming_it(lab, leftover_vm):
    """A leftover ISTIO_ chain the removal cannot delete (a rule of another tool still goes to it) fails
    the run, naming the chain, instead of letting it go on with the VM's traffic in doubt."""
    n = LEFTOVER_VM
    res, _took = onboard(lab, leftover_vm)       # an onboarded VM (unchanged, when the test above ran)
    assert res.returncode == 0, res.stdout[-4000:]
    lab.ssh(n, "systemctl", "stop", "istio.service")
    lab.ssh(n, "sh", "-c", "iptables-nft -w -t filter -N ISTIO_STUCK && "
            "iptables-nft -w -t filter -A FORWARD -p udp --dport 9 -g ISTIO_STUCK")
    try:
        res, _took = onboard(lab, leftover_vm)
        assert res.returncode != 0, res.stdout[-4000:]
        assert "ISTIO_ chains still there after their removal: iptables-nft/filter/ISTIO_STUCK" in res.stdout, \
            res.stdout[-4000:]
        assert "Install, configure" not in res.stdout.split("ISTIO_STUCK")[-1]
    finally:
        lab.ssh(n, "sh", "-c", "iptables-nft -w -t filter -D FORWARD -p udp --dport 9 -g ISTIO_STUCK; "
                "iptables-nft -w -t filter -X ISTIO_STUCK", check=False)
    res, _took = onboard(lab, leftover_vm)
    assert res.returncode == 0, res.stdout[-4000:]
    assert ready(lab, n)


# The connection of a restart lost before `systemctl restart` ran, or after it ran and before its
# answer came back: a `systemctl` that /usr/local/sbin puts first in root's PATH kills, once, the
# SSH session's process that runs the restart (the child of sshd), as a dropped connection ends
# it. ssh then exits with 255, its code for a connection error, and Ansible sees the VM unreachable.
# $1: whether the restart runs first (after) or not (before).
CUT_RESTART_ONCE = r"""
cat > /usr/local/sbin/systemctl <<END
#!/bin/sh
if [ "\$1 \$2" = "restart istio.service" ] && rm /run/cut-restart-once 2>/dev/null; then
  [ $1 = before ] || /usr/bin/systemctl "\$@"
  pid=\$\$
  while parent=\$(cut -d' ' -f4 /proc/\$pid/stat) && [ "\$(cat /proc/\$parent/comm)" != sshd ]; do pid=\$parent; done
  kill -KILL \$pid
  exit 255
fi
exec /usr/bin/systemctl "\$@"
END
chmod 0755 /usr/local/sbin/systemctl
touch /run/cut-restart-once
"""


def invocation(lab, n: int) -> str:
    """The ID of the sidecar unit's current run: systemd gives each start a new one."""
    return lab.ssh(n, "systemctl", "show", "--property=InvocationID", "--value", "istio.service").stdout.strip()


@pytest.mark.parametrize("playbook, cut", [("onboard.yml", "before"), ("onboard.yml", "after"),
                                           ("rotate.yml", "before")])
def test_a_restart_whose_connection_was_lost_runs_again_unless_it_ran(lab, leftover_vm, playbook, cut):
    n = LEFTOVER_VM
    res, _took = onboard(lab, leftover_vm)
    assert res.returncode == 0, res.stdout[-4000:]
    before = invocation(lab, n)
    assert len(before) == 32, before
    if playbook == "onboard.yml":      # a changed file, which the run writes back and restarts the sidecar for
        lab.ssh(n, "sh", "-c", "echo ISTIO_META_DRIFT=1 >> /var/lib/istio/envoy/cluster.env")
    lab.ssh(n, "sh", "-c", CUT_RESTART_ONCE, "-", cut)
    try:
        started = time.monotonic()
        res = run_playbook(leftover_vm, lab.kubeconfig, playbook, "-e", "rotate_force=true", check=False)
        print(f"{playbook} with the restart's connection lost {cut} it ran: {time.monotonic() - started:.1f} s")
        assert res.returncode == 0, res.stdout[-4000:]
        assert lab.ssh(n, "test", "-e", "/run/cut-restart-once", check=False).returncode != 0, \
            "the restart's connection was not cut"
    finally:
        lab.ssh(n, "rm", "-f", "/usr/local/sbin/systemctl", "/run/cut-restart-once")
    assert invocation(lab, n) != before, "the sidecar still runs as started before the run, without its files"
    # restarted again only when the restart had not run
    again = re.search(r"TASK \[meshops\.istio_vm\.vm_sidecar : Restart istio(?:\.service)? when the lost connection "
                      r"kept the restart from running\] \**\nchanged", res.stdout)
    assert bool(again) == (cut == "before"), res.stdout[-4000:]
    assert "ISTIO_META_DRIFT" not in lab.ssh(n, "cat", "/var/lib/istio/envoy/cluster.env").stdout
    assert ready(lab, n)

    res, _took = onboard(lab, leftover_vm)
    assert res.returncode == 0 and recap(res.stdout)[lab.cfg.vm_name(n)]["changed"] == 0, "the next run changed"

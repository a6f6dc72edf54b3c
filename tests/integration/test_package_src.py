# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The package from the controller (vm_sidecar_package_src) on a fresh lab VM of its own (5), in
its own inventory and namespace: a file whose SHA-256 is not the pinned one is refused before
anything reaches the VM; the right file is copied, installed and started; the re-run changes
nothing on the VM. An upgrade whose sidecar.env differs keeps the one edited on the VM, without
asking."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_run import run_playbook
from faults import own_workload
from mesh_state import recap
from meshlab import hosts

SRC_VM = 5
NAME = "src"


@pytest.fixture(scope="module")
def src_vm(lab, api_client, tmp_path_factory):
    yield from own_workload(lab, api_client, tmp_path_factory.mktemp(NAME), (SRC_VM,), NAME)


def onboard(lab, inventory, src):
    # the lab's inventory downloads from its package server: that URL goes
    return run_playbook(inventory, lab.kubeconfig, "onboard.yml", "-e", f"vm_sidecar_package_src={src}",
                        "-e", "vm_sidecar_package_url=", check=False)


def test_the_package_from_the_controller_is_checked_copied_and_installed_once(lab, src_vm, tmp_path):
    _namespace, inventory = src_vm
    vm, cache = lab.cfg.vm_name(SRC_VM), "/var/cache/meshops-istio-vm"
    sha = hosts.package_sha256(lab.cfg)
    # the controller's file keeps the package's name: the VM's copy is named after it
    good = tmp_path / "good" / "istio-sidecar.deb"
    good.parent.mkdir()
    shutil.copyfile(lab.cfg.state / "www" / "istio-sidecar.deb", good)
    other = tmp_path / "other" / "istio-sidecar.deb"
    other.parent.mkdir()
    other.write_bytes(good.read_bytes()[:-1])

    res = onboard(lab, inventory, other)
    assert res.returncode != 0, res.stdout[-3000:]
    text = " ".join(res.stdout.split())
    assert (f"{vm}: vm_sidecar_package_src {other} on the controller has SHA-256 "
            f"{hashlib.sha256(other.read_bytes()).hexdigest()}, not vm_sidecar_package_sha256 {sha}. "
            "Nothing was copied or installed.") in text, res.stdout[-3000:]
    assert lab.ssh(SRC_VM, "find", cache, "-type", "f", check=False).stdout == "", "a file reached the VM"
    assert lab.ssh(SRC_VM, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0

    res = onboard(lab, inventory, good)
    assert res.returncode == 0, res.stdout[-4000:]
    assert lab.ssh(SRC_VM, "dpkg-query", "--show", "--showformat=${db:Status-Abbrev}", "istio-sidecar").stdout == "ii "
    assert lab.ssh(SRC_VM, "systemctl", "is-active", "istio", check=False).stdout.strip() == "active"
    listing = lab.ssh(SRC_VM, "find", cache, "-printf", r"%p %u %g %m\n").stdout
    assert listing == f"{cache} root root 755\n{cache}/istio-sidecar.deb root root 644\n"
    assert lab.ssh(SRC_VM, "sha256sum", f"{cache}/istio-sidecar.deb").stdout.split()[0] == sha

    res = onboard(lab, inventory, good)
    assert res.returncode == 0, res.stdout[-4000:]
    assert recap(res.stdout)[vm]["changed"] == 0, res.stdout[-4000:]


def variant(good: Path, out: Path, version: str, env_line: str) -> Path:
    """The lab package as version ``version``, its sidecar.env (a config file of the package) with ``env_line`` added."""
    root = out.parent / "root"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-R", str(good), str(root)], check=True, capture_output=True)
    control = root / "DEBIAN" / "control"
    control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {version}", control.read_text()))
    with (root / "var/lib/istio/envoy/sidecar.env").open("a") as env:
        env.write(env_line + "\n")
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(root), str(out)], check=True,
                   capture_output=True)
    shutil.rmtree(root)
    return out


def test_an_upgrade_keeps_a_sidecar_env_edited_on_the_vm_without_asking(lab, src_vm, tmp_path, monkeypatch):
    """sidecar.env is a config file of the package, which Istio's VM docs have operators edit. A new version that
    changes it too made dpkg ask which to keep, on the terminal raw gives it, and wait for an answer that never
    came (the run hung, holding the VM's lock). The role answers up front: the VM's file stays, and the
    package's new one lands beside it as sidecar.env.dpkg-dist."""
    monkeypatch.setenv("ANSIBLE_TASK_TIMEOUT", "150")     # a task that waits for an answer fails, not hangs
    _namespace, inventory = src_vm
    vm, env = lab.cfg.vm_name(SRC_VM), "/var/lib/istio/envoy/sidecar.env"
    good = tmp_path / "good" / "istio-sidecar.deb"
    good.parent.mkdir()
    shutil.copyfile(lab.cfg.state / "www" / "istio-sidecar.deb", good)
    newer = f"{hosts.package_version(lab.cfg)}+conffile"
    upgrade = variant(good, tmp_path / "newer" / "istio-sidecar.deb", newer, "# a line of the new version")
    assert onboard(lab, inventory, good).returncode == 0
    lab.ssh(SRC_VM, "sh", "-c", f"echo '# the operator was here' >> {env}")
    upgrade_args = ("-e", f"vm_sidecar_package_src={upgrade}", "-e", "vm_sidecar_package_url=", "-e",
                    f"vm_sidecar_package_sha256={hashlib.sha256(upgrade.read_bytes()).hexdigest()}")
    try:
        res = run_playbook(inventory, lab.kubeconfig, "onboard.yml", *upgrade_args, check=False)
        assert res.returncode == 0, res.stdout[-4000:]
        assert lab.ssh(SRC_VM, "dpkg-query", "--show", "--showformat=${Version} ${db:Status-Abbrev}",
                       "istio-sidecar").stdout == f"{newer} ii "
        assert lab.ssh(SRC_VM, "tail", "-1", env).stdout == "# the operator was here\n"
        assert lab.ssh(SRC_VM, "tail", "-1", env + ".dpkg-dist").stdout == "# a line of the new version\n"
        assert lab.ssh(SRC_VM, "systemctl", "is-active", "istio", check=False).stdout.strip() == "active"
        # The next run names the file the upgrade left beside sidecar.env (its first read of the VM warns), and
        # changes nothing for it.
        res = run_playbook(inventory, lab.kubeconfig, "onboard.yml", *upgrade_args, check=False)
        assert res.returncode == 0, res.stdout[-4000:]
        assert (f"The package manager left {env}.dpkg-dist beside config files of istio-sidecar"
                in " ".join(res.stderr.split())), res.stderr[-4000:]     # Ansible's warnings go to stderr
        assert recap(res.stdout)[vm]["changed"] == 0, res.stdout[-4000:]
    finally:    # the lab's package again, and its sidecar.env
        lab.ssh(SRC_VM, "sh", "-c", f"sed -i '/# the operator was here/d' {env} && rm -f {env}.dpkg-dist", check=False)
        res = onboard(lab, inventory, good)
    assert res.returncode == 0, res.stdout[-4000:]
    assert recap(res.stdout)[vm]["failed"] == 0

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The lab VMs: systemd as PID 1, sshd, python3, and reachability of istiod and the package."""
from __future__ import annotations

import hashlib

import pytest


@pytest.fixture(params=[1, 2], ids=["vm1", "vm2"])
def vm(request, lab):
    if request.param > len(lab.vms):
        pytest.fail(f"lab has {len(lab.vms)} VMs, expected at least {request.param}")
    return request.param


def test_systemd_is_pid1_and_running(lab, vm):
    assert lab.ssh(vm, "cat", "/proc/1/comm").stdout.strip() == "systemd"
    state = lab.ssh(vm, "systemctl", "is-system-running", check=False).stdout.strip()
    assert state in ("running", "degraded")


def test_python3_present(lab, vm):
    out = lab.ssh(vm, "python3", "-c", "import sys; print(sys.version_info[:2])").stdout
    assert out.strip() == "(3, 11)"


def test_vm_reaches_istiod_15012(lab, vm):
    host, port = lab.istiod_address.split(":")
    code = (f"import socket; socket.create_connection(('{host}', {port}), timeout=5).close(); "
            "print('ok')")
    assert lab.ssh(vm, "python3", "-c", code).stdout.strip() == "ok"


def test_vm_fetches_sidecar_package(lab, vm):
    from meshlab import hosts
    out = lab.ssh(vm, "sh", "-c", f"curl -fsS {lab.cfg.pkg_url} | sha256sum").stdout.split()[0]
    assert out == hosts.package_sha256(lab.cfg)
    local = (lab.cfg.state / "www" / "istio-sidecar.deb").read_bytes()
    assert out == hashlib.sha256(local).hexdigest()


def test_lab_inventory_reaches_every_vm(lab):
    """inventories/lab (committed) + .lab state: Ansible reaches the VMs with the lab key."""
    import subprocess
    from conftest import REPO
    res = subprocess.run([str(REPO / ".venv" / "bin" / "ansible"), "-i", str(lab.inventory), "mesh_vms",
                          "-m", "ansible.builtin.setup", "-a", "filter=ansible_service_mgr"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count('"ansible_service_mgr": "systemd"') == len(lab.vms)


def test_a_vm_writes_only_its_own_layer_and_remove_leaves_nothing(lab):
    """Each VM's root is an overlay on the shared root: what a VM writes lands in its own upper
    layer, the shared root is untouched, and `lab vm remove` unmounts the root before deleting."""
    import subprocess
    from conftest import fresh_vms
    from meshlab import hosts
    n = 30      # a VM of this test only
    fresh_vms(n)
    base = lab.cfg.cache / hosts.ROOTFS_NAME
    root, directory = hosts.vm_root(lab.cfg, n), hosts.vm_dir(lab.cfg, n)
    mounts = [line.split() for line in open("/proc/self/mounts", encoding="utf-8")]
    overlay = [m for m in mounts if m[1] == str(root)]
    assert len(overlay) == 1 and overlay[0][2] == "overlay", overlay
    assert f"lowerdir={base}," in overlay[0][3], overlay[0][3]
    lab.ssh(n, "sh", "-c", "echo probe > /root/layer-probe && rm /usr/bin/hostname")
    assert (directory / "upper" / "root" / "layer-probe").read_text() == "probe\n"
    assert not (base / "root" / "layer-probe").exists()
    assert (base / "usr" / "bin" / "hostname").exists(), "a VM's delete reached the shared root"
    from conftest import LAB
    res = subprocess.run([str(LAB), "vm", "remove", str(n)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not hosts.mounts_below(directory, open("/proc/self/mounts", encoding="utf-8").read())
    assert not directory.exists()
    assert (base / "usr" / "bin" / "hostname").exists()

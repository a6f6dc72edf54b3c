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

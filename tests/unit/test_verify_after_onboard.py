# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""After onboard, verify.yml takes the VM read of the vm_sidecar role's readiness wait
(vm_sidecar_ready_read) instead of reading the VM again. That read must be the one verify.yml would
make: the same files, certificate and token, from the same variables and defaults. verify.yml itself
checks the readiness URL and the cluster.env path of the read before it takes it."""
from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MODULE = "meshops.istio_vm.vm_state_info"


def vm_state_info_args(tasks):
    """The arguments of the vm_state_info tasks in ``tasks`` (blocks included)."""
    found = []
    for task in tasks:
        found.extend(vm_state_info_args(task.get("block", []) + task.get("rescue", [])))
        if MODULE in task:
            found.append(task[MODULE])
    return found


def test_the_roles_readiness_wait_reads_what_verify_reads():
    role_defaults = yaml.safe_load((REPO / "roles/vm_sidecar/defaults/main.yml").read_text())
    role_vars = yaml.safe_load((REPO / "roles/vm_sidecar/vars/main.yml").read_text())
    [wait] = vm_state_info_args(yaml.safe_load((REPO / "roles/vm_sidecar/tasks/verify.yml").read_text()))
    play = yaml.safe_load((REPO / "playbooks/verify.yml").read_text())[0]
    [read] = vm_state_info_args(play["tasks"])

    assert set(read) - {"ready_timeout"} <= set(wait)
    assert wait["ready_url"] == "{{ vm_sidecar_ready_url }}"
    assert play["vars"]["verify_ready_url"] == role_defaults["vm_sidecar_ready_url"]
    # the cluster.env the role writes is the one both read
    assert wait["checksum"] == ["{{ __vm_sidecar_cluster_env }}"]
    assert [f["dest"] for f in role_vars["__vm_sidecar_bundle_files"] if f["src"].endswith("/cluster.env")] == [
        "{{ __vm_sidecar_cluster_env }}"]
    assert role_vars["__vm_sidecar_cluster_env"] == play["vars"]["verify_cluster_env"]
    assert wait["hosts"] == read["hosts"] == "/etc/hosts"
    # verify.yml falls back to the role's defaults when the inventory does not set the variable
    for arg, var in (("cert", "vm_sidecar_cert_path"), ("token", "vm_sidecar_token_path")):
        assert wait[arg] == "{{ %s }}" % var
        assert read[arg] == "{{ %s | default('%s') }}" % (var, role_defaults[var])

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
    assert [f for f in role_vars["__vm_sidecar_bundle_files"] if "'/cluster.env'" in f["src"]] == [
        f for f in role_vars["__vm_sidecar_bundle_files"] if f["dest"] == "{{ __vm_sidecar_cluster_env }}"]
    assert role_vars["__vm_sidecar_cluster_env"] == play["vars"]["verify_cluster_env"]
    assert wait["hosts"] == read["hosts"] == "/etc/hosts"
    # verify.yml falls back to the role's defaults when the inventory does not set the variable
    for arg, var in (("cert", "vm_sidecar_cert_path"), ("token", "vm_sidecar_token_path")):
        assert wait[arg] == "{{ %s }}" % var
        assert read[arg] == "{{ %s | default('%s') }}" % (var, role_defaults[var])


def test_an_unchanged_runs_first_read_is_what_the_wait_reads():
    """A run that changes nothing on the VM and finds its sidecar ready does not wait: its first read of
    the VM (vm_state.yml) becomes vm_sidecar_ready_read. That read asks the same readiness URL and reads
    the same files, certificate and token as the wait, and the fact carries them under the keys of the
    wait's result (vm_state_info's), which verify.yml reads."""
    role = REPO / "roles/vm_sidecar/tasks"
    [first] = [task for task in yaml.safe_load((role / "vm_state.yml").read_text())
               if "meshops.istio_vm.sidecar_package_info" in task]
    read = first["meshops.istio_vm.sidecar_package_info"]
    [wait] = vm_state_info_args(yaml.safe_load((role / "verify.yml").read_text()))

    verifying = "{{ %s if __verifying else %s }}"
    assert read["ready_url"] == verifying % ("vm_sidecar_ready_url", "omit")
    assert read["checksum"] == verifying % ("[__vm_sidecar_cluster_env]", "[]")
    assert read["hosts"] == verifying % ("'/etc/hosts'", "omit") and wait["hosts"] == "/etc/hosts"
    # read whenever the sidecar is to be present, verifying or not (a certificate of another identity goes)
    assert read["cert"] == "{{ vm_sidecar_cert_path if vm_sidecar_state == 'present' else omit }}"
    assert read["token_path"] == wait["token"] == "{{ vm_sidecar_token_path }}"
    assert first["vars"]["__verifying"] == "{{ vm_sidecar_state == 'present' and vm_sidecar_verify | bool }}"

    [taken] = [task for task in yaml.safe_load((role / "verify.yml").read_text())
               if task.get("ansible.builtin.set_fact", {}).get("vm_sidecar_ready_read")]
    fact = taken["ansible.builtin.set_fact"]["vm_sidecar_ready_read"]
    # each key the wait's result has for what it read, from the first read's key for the same
    keys = {"ready": "ready", "checksums": "checksums", "hosts": "hosts", "cert": "cert", "claims": "token_claims"}
    assert fact == {key: "{{ __vm_sidecar_vm.%s }}" % source for key, source in keys.items()}
    assert "__vm_sidecar_ready_still | default(false) | bool" in taken["when"]

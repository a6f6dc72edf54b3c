# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cluster connection set once (docs/architecture.md, "The roles and playbooks"): a play's
module_defaults for group/meshops.istio_vm.k8s reach the modules and every cluster task of the
roles; mesh_workload_kubeconfig works in a play without module_defaults and overrides only the
kubeconfig of a play's defaults. Each run has no K8S_AUTH_* or KUBECONFIG in its environment,
in the controller's process and as modules (MESHOPS_ISTIO_VM_IN_PROCESS=0)."""
from __future__ import annotations

import subprocess
import uuid

import pytest
import yaml

from ansible_run import ANSIBLE_PLAYBOOK, REPO, ansible_env
from conftest import delete_namespace
from mesh_state import istio_object, recap

HOSTS = ["mdvm1", "mdvm2"]
MODES = [pytest.param(True, id="in_process"), pytest.param(False, id="as_module")]


def _play(tasks: list, module_defaults: dict | None, hosts: str = "md_vms") -> dict:
    play = {"name": "module_defaults", "hosts": hosts, "gather_facts": False, "tasks": tasks}
    if module_defaults is not None:
        play["module_defaults"] = {"group/meshops.istio_vm.k8s": module_defaults}
    return play


def _role(tasks_from: str = "main", **role_vars) -> dict:
    task = {"name": f"mesh_workload {tasks_from}", "ansible.builtin.include_role": {
        "name": "meshops.istio_vm.mesh_workload", "tasks_from": tasks_from}}
    if role_vars:
        task["vars"] = role_vars
    return task


def _run(tmp_path, plays: list, inventory: dict, in_process: bool) -> subprocess.CompletedProcess:
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    env = dict(ansible_env(None), MESHOPS_ISTIO_VM_IN_PROCESS="1" if in_process else "0")
    assert not any(key.startswith("K8S_AUTH_") or key == "KUBECONFIG" for key in env)
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, timeout=600, check=False)


def _inventory(lab, tmp_path, namespace: str, **extra) -> dict:
    """Two static VMs that exist only in the inventory: mesh_workload runs on the controller."""
    return {"all": {"children": {"md_vms": {"hosts": {
        h: {"ansible_host": f"10.213.0.{220 + i}"} for i, h in enumerate(HOSTS)}}},
        "vars": dict({
            "ansible_connection": "local", "ansible_python_interpreter": str(REPO / ".venv" / "bin" / "python"),
            "mesh_workload_group": "md_vms", "mesh_workload_cluster_id": "meshlab",
            "mesh_workload_network": "meshlab-net", "mesh_workload_ingress_ip": lab.cfg.host_ip,
            "mesh_workload_mode": "static", "mesh_workload_create_identity": True,
            "mesh_workload_namespace": namespace, "mesh_workload_name": "md", "mesh_workload_ports": {"http": 8080},
            "mesh_workload_bootstrap_dir": str(tmp_path / "bundles") + "/{{ inventory_hostname }}",
            "mesh_workload_state_file": str(tmp_path / "bundles" / "managed.json")}, **extra)}}


# Onboarding by one way, offboarding by the other: every cluster task of the role runs with the
# kubeconfig only in the play's module_defaults and only in mesh_workload_kubeconfig, in process
# and as modules.
WAYS = [pytest.param(True, "module_defaults", "role_variable", id="in_process-onboard_by_module_defaults"),
        pytest.param(False, "role_variable", "module_defaults", id="as_module-onboard_by_role_variable")]


def _connected(lab, tasks: list, way: str, inventory: dict) -> tuple[dict, dict]:
    """The play and inventory with the kubeconfig given one way only."""
    if way == "module_defaults":
        return _play(tasks, {"kubeconfig": str(lab.kubeconfig)}), inventory
    inventory = yaml.safe_load(yaml.safe_dump(inventory))
    inventory["all"]["vars"]["mesh_workload_kubeconfig"] = str(lab.kubeconfig)
    return _play(tasks, None), inventory


@pytest.mark.parametrize(("in_process", "onboard_by", "offboard_by"), WAYS)
def test_every_cluster_task_of_the_role_takes_the_kubeconfig_given_once(lab, api_client, tmp_path, in_process,
                                                                        onboard_by, offboard_by):
    namespace = f"t-md-{uuid.uuid4().hex[:6]}"
    inventory = _inventory(lab, tmp_path, namespace)
    # The entry points of onboard.yml's first play, the role, and the lock given back.
    tasks = [_role("credential"), _role("validate"), _role("access"), _role("lock"), _role(),
             _role("lock", mesh_workload_lock_state="released")]
    if onboard_by == "module_defaults":
        tasks += [{"name": "A module of the play", "meshops.istio_vm.workload_entry_info": {"namespace": namespace},
                   "register": "listed", "run_once": True, "delegate_to": "localhost"},
                  {"name": "Both entries listed", "ansible.builtin.assert": {
                      "that": "listed.workload_entries | map(attribute='name') | sort == " + repr(HOSTS)},
                   "run_once": True}]
    try:
        play, inv = _connected(lab, tasks, onboard_by, inventory)
        res = _run(tmp_path, [play], inv, in_process)
        assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
        assert set(recap(res.stdout)) == set(HOSTS), res.stdout[-3000:]
        assert istio_object(api_client, "workloadgroups", namespace, "md") is not None
        assert all(istio_object(api_client, "workloadentries", namespace, h) is not None for h in HOSTS)
        assert all((tmp_path / "bundles" / h / "cluster.env").is_file() for h in HOSTS)

        play, inv = _connected(lab, [_role("credential"), _role("validate"), _role(mesh_workload_state="absent")],
                               offboard_by, inventory)
        res = _run(tmp_path, [play], inv, in_process)
        assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
        assert istio_object(api_client, "workloadgroups", namespace, "md") is None
        assert all(istio_object(api_client, "workloadentries", namespace, h) is None for h in HOSTS)
        assert not any((tmp_path / "bundles" / h).exists() for h in HOSTS)
    finally:
        delete_namespace(api_client, namespace)


@pytest.mark.parametrize("in_process", MODES)
def test_the_role_variable_sets_only_the_kubeconfig(lab, tmp_path, in_process):
    context = yaml.safe_load(lab.kubeconfig.read_text())["current-context"]
    inventory = {"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": str(REPO / ".venv" / "bin" / "python"),
        "mesh_workload_kubeconfig": str(lab.kubeconfig)}}}}
    direct = {"name": "A module of the play", "meshops.istio_vm.mesh_info": {}, "register": "direct",
              "ignore_errors": True}
    report = {"name": "Report", "ansible.builtin.debug": {
        "msg": "DIRECT {{ 'ok' if direct is success else direct.msg }}"}}

    # No module_defaults: the role connects with its variable; the play's own module has no credential.
    res = _run(tmp_path, [_play([_role("credential"), direct, report], None, "all")], inventory, in_process)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "DIRECT No cluster credential" in res.stdout

    # The play's kubeconfig is wrong, its context right: the role's kubeconfig wins, the context stays.
    res = _run(tmp_path, [_play([_role("credential")], {"kubeconfig": "/nonexistent", "context": context}, "all")],
               inventory, in_process)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]

    # The play's context reaches the role's task (an unknown one fails it, by name).
    res = _run(tmp_path, [_play([_role("credential")], {"kubeconfig": "/nonexistent", "context": "no-such-context"},
                                "all")], inventory, in_process)
    assert res.returncode != 0
    assert "context=no-such-context" in res.stdout and str(lab.kubeconfig) in res.stdout, res.stdout[-3000:]

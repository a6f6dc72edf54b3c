# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A run whose VMs all fail gives back the run lock of the workload namespaces.

When every host of a play fails, Ansible ends the run: no later task or play runs, the release at
the end included, and another run would wait for the Lease until it expires. So from the task that
takes the Lease to the one that gives it back, each task of the playbook is in a block whose
``always`` calls mesh_workload's entry point ``unlock_failed`` (which gives the Leases back when
the play has no host left), with nothing in pre_tasks, post_tasks, roles or handlers outside it.
tests/integration/test_faults_vm.py sees the Lease go on the lab.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ansible_collections.meshops.istio_vm.tests.unit.test_playbook_validation import _tasks

REPO = Path(__file__).resolve().parents[2]
ROLE = "meshops.istio_vm.mesh_workload"
ROLE_ACTIONS = ("ansible.builtin.import_role", "ansible.builtin.include_role")


def _call(task):
    for action in ROLE_ACTIONS:
        args = task.get(action)
        if isinstance(args, dict) and args.get("name") == ROLE:
            return args.get("tasks_from", "main"), (task.get("vars") or {}).get("mesh_workload_lock_state")
    return None


def _guarded(task) -> bool:
    """A block that runs whatever the tags, whose always calls unlock_failed, as well whatever the tags,
    and whose handler flushes run whatever the tags (an untagged meta task is dropped by --tags: the
    restarts would then run after the locks went back)."""
    if "block" not in task or "when" in task or "tags" in task:
        return False
    flushes = [t for t in _tasks(task["block"]) if t.get("ansible.builtin.meta") == "flush_handlers"]
    if any(t.get("tags") != ["always"] for t in flushes):
        return False
    return any(_call(t) == ("unlock_failed", None) and "when" not in t and "tags" not in t
               for t in _tasks(task.get("always")))


def unguarded(plays) -> list:
    """The tasks and sections that run while the playbook holds the Lease, outside a guarded block."""
    held, out = False, []
    for number, play in enumerate(plays, start=1):
        if "ansible.builtin.import_playbook" in play or "import_playbook" in play:
            continue
        if held:
            out += [f"play {number}: {key}" for key in ("pre_tasks", "post_tasks", "roles", "handlers") if play.get(key)]
        for task in play.get("tasks") or []:
            calls = [_call(t) for t in _tasks([task])]
            if held and not _guarded(task):
                out.append(f"play {number}: {task.get('name')}")
            if ("lock", None) in calls:
                held = True
            if ("lock", "released") in calls:
                held = False
    return out


PLAYBOOKS = ("onboard.yml", "offboard.yml", "rotate.yml")


def load(name):
    return yaml.safe_load((REPO / "playbooks" / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_every_task_under_the_lease_gives_it_back_when_all_vms_fail(name):
    plays = load(name)
    assert unguarded(plays) == []
    # the Lease is taken, given back at the end, and by each guard
    calls = [_call(t) for play in plays for t in _tasks(play.get("tasks"))]
    assert {("lock", None), ("lock", "released"), ("unlock_failed", None)} <= set(calls)


def test_the_playbooks_that_take_the_lease_are_all_checked():
    taking = {path.name for path in (REPO / "playbooks").glob("*.yml")
              if any(_call(t) == ("lock", None) for play in load(path.name) for t in _tasks(play.get("tasks")))}
    assert taking == set(PLAYBOOKS)


def test_a_task_outside_the_guard_is_seen():
    plays = copy.deepcopy(load("onboard.yml"))
    block = plays[2]["tasks"][0]
    plays[2]["tasks"].append(block["block"].pop())      # the final release, moved out of the block
    plays[2]["post_tasks"] = [{"name": "x", "ansible.builtin.debug": {}}]
    assert unguarded(plays) == ["play 3: post_tasks", "play 3: Give back the run lock of the workload namespaces"]
    plays = copy.deepcopy(load("rotate.yml"))
    plays[0]["tasks"][-1]["always"] = []
    assert unguarded(plays) == ["play 1: Renew the tokens, or give back the run lock"]
    for change in ({"when": "false"}, {"tags": ["install"]}):
        plays = copy.deepcopy(load("offboard.yml"))
        plays[1]["tasks"][0].update(change)
        assert unguarded(plays) == ["play 2: Remove the sidecar, or give back the run lock"]
    plays = copy.deepcopy(load("onboard.yml"))
    flush = [t for t in plays[2]["tasks"][0]["block"] if t.get("ansible.builtin.meta") == "flush_handlers"]
    assert len(flush) == 1
    del flush[0]["tags"]
    assert unguarded(plays) == ["play 3: Install and start the sidecar, or give back the run lock"]


def test_the_entry_point_gives_back_only_when_no_vm_of_the_batch_is_left():
    """Once the play has no host left (all failed in it or before), the Leases go back, once, whatever the
    tags; not while a VM is still going (its run gives them back at the end). It gives back, and does not fail
    on a Lease another run took (the run failed already: that is only warned about)."""
    tasks = yaml.safe_load((REPO / "roles" / "mesh_workload" / "tasks" / "unlock_failed.yml").read_text())
    assert tasks == [{"name": "Give back the run lock of the workload namespaces (every VM of the play failed)",
                      "ansible.builtin.include_tasks": "lock.yml",
                      "vars": {"mesh_workload_lock_state": "released", "__mesh_workload_lock_unheld": True},
                      "when": "ansible_play_batch | length == 0", "run_once": True, "tags": ["always"]}]

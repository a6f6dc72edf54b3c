# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Each playbook checks each role's argument spec once, and never skips a check it did not make.

Ansible checks a role's argument spec (meta/argument_specs.yml) with a task per host at every
import or include of one of the role's entry points, unless the call passes
``rolespec_validate: false``. The playbooks check each role at its first calls and skip the check
afterwards (a task per VM less each time). Two rules, in the order the playbook runs its calls
(pre_tasks, roles, tasks, post_tasks of each play, blocks included):

- a call that skips the check comes after checks of the same role that covered every option of its
  entry point (a skip without them would let a bad inventory value through);
- a call that checks covers an option no earlier check of the same role did (otherwise the check
  is a task per VM for nothing).

Playbooks imported with import_playbook are looked at on their own (verify.yml runs alone too).
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))
PREFIX = "meshops.istio_vm."
ROLE_ACTIONS = {
    f"{prefix}{verb}_role" for prefix in ("", "ansible.builtin.") for verb in ("import", "include")
}
SECTIONS = ("pre_tasks", "roles", "tasks", "post_tasks")


def entry_point_options() -> dict[tuple[str, str], frozenset[str]]:
    """(role, entry point) -> the options its argument spec checks."""
    options = {}
    for spec in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        role = spec.parent.parent.name
        entry_points = yaml.safe_load(spec.read_text(encoding="utf-8"))["argument_specs"]
        for entry_point, body in entry_points.items():
            options[(role, entry_point)] = frozenset((body or {}).get("options") or {})
    return options


def _tasks(tasks):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            if key in task:
                yield from _tasks(task[key])
        yield task


def role_calls(plays) -> list[dict]:
    """The playbook's calls of the collection's roles, in the order they run."""
    calls = []
    for play_number, play in enumerate(plays, start=1):
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            continue
        for section in SECTIONS:
            if section == "roles":
                for role in play.get("roles") or []:
                    name = role if isinstance(role, str) else role.get("role") or role.get("name")
                    calls.append({"play": play_number, "task": f"roles: {name}", "role": name,
                                  "entry_point": "main", "validate": True})
                continue
            for task in _tasks(play.get(section)):
                for action in ROLE_ACTIONS.intersection(task):
                    args = task[action]
                    calls.append({
                        "play": play_number,
                        "task": task.get("name", action),
                        "role": args["name"],
                        "entry_point": args.get("tasks_from", "main"),
                        "validate": args.get("rolespec_validate", True) is not False,
                    })
    return [call for call in calls if call["role"].startswith(PREFIX)]


def problems(plays, options) -> dict[str, list[str]]:
    """Skips no earlier check covered, and checks that add nothing to the earlier ones."""
    checked: dict[str, set[str]] = {}
    found: dict[str, list[str]] = {"uncovered_skips": [], "redundant_checks": []}
    for call in role_calls(plays):
        role = call["role"][len(PREFIX):]
        wanted = options.get((role, call["entry_point"]))
        if wanted is None:
            # An entry point without a spec is not checked: nothing to skip or repeat.
            continue
        done = checked.setdefault(role, set())
        where = f"play {call['play']}, {call['task']!r} ({role}/{call['entry_point']})"
        if not call["validate"] and not wanted <= done:
            found["uncovered_skips"].append(f"{where} skips {sorted(wanted - done)} unchecked")
        if call["validate"] and wanted and wanted <= done:
            found["redundant_checks"].append(f"{where} checks again what earlier calls checked")
        if call["validate"]:
            done.update(wanted)
    return found


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def options():
    return entry_point_options()


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda path: path.name)
def test_each_option_is_checked_before_a_call_skips_it(path, options):
    assert problems(load(path), options)["uncovered_skips"] == []


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda path: path.name)
def test_each_option_is_checked_once(path, options):
    assert problems(load(path), options)["redundant_checks"] == []


def test_the_playbooks_call_both_roles_and_skip_checks(options):
    calls = [call for path in PLAYBOOKS for call in role_calls(load(path))]
    assert {call["role"] for call in calls} == {PREFIX + "mesh_workload", PREFIX + "vm_sidecar"}
    assert sum(not call["validate"] for call in calls) >= 20
    assert ("vm_sidecar", "validate") in options and ("mesh_workload", "credential") in options


def test_a_skip_without_its_check_is_seen(options):
    plays = copy.deepcopy(load(REPO / "playbooks" / "onboard.yml"))
    # Drop the first play's check of the sidecar's options.
    plays[0]["tasks"] = [task for task in plays[0]["tasks"]
                         if task.get("ansible.builtin.import_role", {}).get("tasks_from") != "validate"
                         or not task["ansible.builtin.import_role"]["name"].endswith("vm_sidecar")]
    skips = problems(plays, options)["uncovered_skips"]
    assert skips and all("vm_sidecar" in skip for skip in skips)


def test_a_second_check_is_seen(options):
    plays = copy.deepcopy(load(REPO / "playbooks" / "offboard.yml"))
    for task in _tasks(plays[2]["tasks"]):
        if task.get("name") == "Give back the run lock of the workload namespaces":
            task["ansible.builtin.import_role"].pop("rolespec_validate")
    redundant = problems(plays, options)["redundant_checks"]
    assert len(redundant) == 1 and "mesh_workload/lock" in redundant[0]


def test_the_roles_keyword_always_checks(options):
    plays = [{"hosts": "all", "roles": [{"role": PREFIX + "vm_sidecar"}, PREFIX + "vm_sidecar"]}]
    assert problems(plays, options) == {
        "uncovered_skips": [],
        "redundant_checks": ["play 1, 'roles: meshops.istio_vm.vm_sidecar' (vm_sidecar/main) checks again what earlier calls checked"],
    }

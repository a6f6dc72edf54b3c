# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Importing the action plugins' base (plugin_utils/in_process.py) loads the plugins templates use,
so that a worker Ansible forks for a task finds them loaded (_load_template_plugins).

Each check runs a new Python process that sets Ansible's plugin loader up for this checkout's
collection, as ansible-playbook does, imports in_process.py or not, then forks: the child resolves
every filter of the collection, builtin filters and tests and the lookups the roles call, and
reports the plugin modules it had to load itself.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import ansible_collections

REPO = Path(__file__).resolve().parents[3]

CHILD = r"""
import json, os, sys
roots, preload = json.loads(sys.argv[1]), sys.argv[2] == "preload"
sys.path[:0] = roots
from ansible.plugins.loader import filter_loader, init_plugin_loader, lookup_loader, test_loader
init_plugin_loader(roots)
if preload:
    from ansible_collections.meshops.istio_vm.plugins.plugin_utils import in_process
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    before = set(sys.modules)
    names = json.loads(sys.argv[3])
    found = {name: filter_loader.get(name) is not None for name in names["filters"]}
    found.update({name: test_loader.get(name) is not None for name in names["tests"]})
    found.update({name: lookup_loader.get(name, class_only=True) is not None for name in names["lookups"]})
    loaded = sorted(m for m in set(sys.modules) - before if ".plugins." in m)
    os.write(write, json.dumps({"found": found, "loaded": loaded}).encode())
    os._exit(0)
os.close(write)
os.waitpid(pid, 0)
result = json.loads(os.read(read, 1 << 20))
if preload:
    result["missing"] = list(in_process._load_template_plugins())
print(json.dumps(result))
"""


def collection_filters():
    """meshops.istio_vm.<name> for every filter file of plugins/filter (one filter each)."""
    return sorted("meshops.istio_vm." + path.stem for path in (REPO / "plugins" / "filter").glob("*.py")
                  if path.stem != "__init__")


def lookups_called():
    """The lookups the roles and playbooks call, by name."""
    names = set()
    for path in list((REPO / "roles").rglob("*.yml")) + list((REPO / "playbooks").rglob("*.yml")):
        names.update(re.findall(r"""\b(?:lookup|query)\(\s*['"]([\w.]+)['"]""", path.read_text()))
    return sorted(names)


def child(preload: bool) -> dict:
    roots = [str(Path(p).parent) for p in ansible_collections.__path__]
    names = {"filters": collection_filters() + ["ansible.builtin.bool", "ansible.builtin.default", "ansible.builtin.combine"],
             "tests": ["ansible.builtin.skipped", "ansible.builtin.defined"], "lookups": lookups_called()}
    res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(roots), "preload" if preload else "cold",
                          json.dumps(names)], capture_output=True, text=True, check=True, cwd=str(REPO))
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_the_preload_covers_every_lookup_the_roles_call():
    from ansible_collections.meshops.istio_vm.plugins.plugin_utils.in_process import LOOKUPS

    assert sorted(LOOKUPS) == lookups_called()


def test_a_forked_worker_loads_no_plugin_module_itself():
    result = child(preload=True)
    assert result["missing"] == []
    assert all(result["found"].values()), result["found"]
    assert len([name for name in result["found"] if name.startswith("meshops.istio_vm.")]) >= 17
    assert result["loaded"] == []


def test_without_the_preload_the_worker_loads_them():
    """The check above can fail: without in_process.py the child loads the collection's filter
    files, and the lookups, itself."""
    result = child(preload=False)
    assert all(result["found"].values()), result["found"]
    assert "ansible_collections.meshops.istio_vm.plugins.filter.dpkg_plan" in result["loaded"]
    assert "ansible_collections.ansible.builtin.plugins.lookup.file" in result["loaded"]

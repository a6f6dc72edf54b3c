# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Offboarding (vm_sidecar tasks/absent.yml) removes the package with the tool of the format it was
installed in: the format preflight.yml decides for installing (vm_sidecar_package_format, else the
OS family's), not the OS family alone. The tasks' ``when`` conditions are evaluated with Ansible's
templar, as a play would."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[2] / "roles" / "vm_sidecar"


def load(name: str):
    return yaml.safe_load((ROLE / name).read_text(encoding="utf-8"))


def templar(os_family: str, package_format: str) -> Templar:
    role_vars = load("vars/main.yml")
    variables = {
        "ansible_facts": {"os_family": os_family},
        "vm_sidecar_package_format": package_format,
        "__vm_sidecar_formats": role_vars["__vm_sidecar_formats"],
        "__vm_sidecar_vm_format": trust_as_template(role_vars["__vm_sidecar_vm_format"]),
        # dpkg-query found the package installed
        "__vm_sidecar_deb_installed": {"rc": 0, "stdout": "ii "},
    }
    return Templar(loader=DataLoader(), variables=variables)


def install_format(render: Templar) -> str:
    [decide] = [task for task in load("tasks/preflight.yml") if task["name"] == "Decide on the package to install"]
    return render.template(trust_as_template(decide["vars"]["__format"]))


def removals(render: Templar):
    """The names of absent.yml's tasks that read or remove the package and would run."""
    ran = []
    for task in load("tasks/absent.yml"):
        if not ({"ansible.builtin.dnf"} & set(task) or "dpkg" in str(task.get("ansible.builtin.command", ""))):
            continue
        when = task.get("when", [])
        if all(render.evaluate_conditional(trust_as_template(cond)) for cond in (when if isinstance(when, list) else [when])):
            ran.append(task["name"])
    return ran


DEB = ["Read the installed version of istio-sidecar (.deb)", "Purge istio-sidecar (.deb)"]
RPM = ["Remove istio-sidecar (.rpm)"]


@pytest.mark.parametrize("os_family,package_format,installed,removed", [
    ("Debian", "", "deb", DEB),
    ("RedHat", "", "rpm", RPM),
    # vm_sidecar_package_format for a family the role does not map, or against the family's own
    ("Suse", "rpm", "rpm", RPM),
    ("Debian", "rpm", "rpm", RPM),
    ("RedHat", "deb", "deb", DEB),
    # neither: preflight refuses the VM, nothing is removed by guess
    ("Archlinux", "", "", []),
])
def test_removed_by_the_format_it_was_installed_in(os_family, package_format, installed, removed):
    render = templar(os_family, package_format)
    assert install_format(render) == installed
    assert removals(render) == removed

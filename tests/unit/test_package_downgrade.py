# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vm_sidecar installs the package file it is given also when it is older than the installed one
(vm_sidecar_version pinned back), on both formats: dpkg --install downgrades by itself, apt-get
needs --allow-downgrades, and ansible.builtin.dnf skips an older local .rpm without allow_downgrade
(it reports ok and the newer version stays)."""
from __future__ import annotations

from pathlib import Path

import yaml

TASKS = Path(__file__).resolve().parents[2] / "roles" / "vm_sidecar" / "tasks" / "package.yml"


def installs():
    return {task["name"]: task for task in yaml.safe_load(TASKS.read_text(encoding="utf-8"))
            if task["name"].startswith("Install istio-sidecar")}


def test_every_install_of_the_package_file_allows_a_downgrade():
    tasks = installs()
    assert set(tasks) == {"Install istio-sidecar from the .deb with dpkg",
                          "Install istio-sidecar from the .deb with apt-get (and its dependencies)",
                          "Install istio-sidecar from the .rpm"}
    raw = tasks["Install istio-sidecar from the .deb with dpkg"]["ansible.builtin.raw"]
    assert "never dpkg '" in raw and "' --install '" in raw and "--reinstall" not in raw
    apt = tasks["Install istio-sidecar from the .deb with apt-get (and its dependencies)"]["ansible.builtin.command"]
    assert "'--allow-downgrades'" in apt["argv"]
    dnf = tasks["Install istio-sidecar from the .rpm"]["ansible.builtin.dnf"]
    assert dnf["state"] == "present" and dnf["allow_downgrade"] is True

# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""meshops.istio_vm.sidecar_package_info on a lab VM: whether dpkg alone can install a .deb
(file.depends_installed), read from small packages built here with dpkg-deb whose Depends the
VM meets, misses, or meets only in a version dpkg alone would not check. Nothing is installed."""
from __future__ import annotations

import subprocess
import uuid

import pytest

from ansible_run import vm_play

# The sidecar's own dependencies (Istio's istio-sidecar.deb): installed on every lab VM.
SIDECAR_DEPENDS = "iproute2, iptables, sudo, hostname"
PROBES = {
    "sidecar": (f"Depends: {SIDECAR_DEPENDS}\n", True),
    "missing": (f"Depends: {SIDECAR_DEPENDS}, no-such-meshlab-package\n", False),
    "alternative": ("Depends: no-such-meshlab-package | sudo, hostname:any\n", True),
    "versioned": ("Depends: sudo (>= 1.0)\n", False),
    "conflicts": ("Depends: sudo\nConflicts: no-such-meshlab-package\n", False),
    "none": ("", True),
}


def build_deb(tmp_path, name: str, relations: str):
    root = tmp_path / name
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: meshlab-probe-{name}\nVersion: 1:2.0-{name}\nArchitecture: all\n"
        f"Maintainer: meshops.istio_vm lab <lab@meshops.invalid>\n{relations}"
        "Description: a package that sidecar_package_info reads and nobody installs\n")
    deb = tmp_path / f"{name}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], capture_output=True,
                   check=True)
    return deb


@pytest.mark.parametrize("name", sorted(PROBES))
def test_depends_installed_on_a_vm(lab, tmp_path, name):
    relations, expected = PROBES[name]
    deb = build_deb(tmp_path, name, relations)
    dest = f"/tmp/meshops-probe-{uuid.uuid4().hex[:8]}.deb"
    try:
        results, out = vm_play(lab, [
            {"ansible.builtin.copy": {"src": str(deb), "dest": dest, "mode": "0644"}},
            {"meshops.istio_vm.sidecar_package_info": {"path": dest, "format": "deb",
                                                       "name": f"meshlab-probe-{name}"}, "register": "r0"},
        ])
        read = results["r0"]
        assert read["file"]["exists"] and read["file"]["version"] == f"1:2.0-{name}", out[-3000:]
        assert read["file"]["depends_installed"] is expected, read["file"]
        assert read["installed"] == {"present": False, "version": "", "query": "", "config_leftovers": []}
        assert read["changed"] is False
    finally:
        lab.ssh(1, "rm", "-f", dest, check=False)
    assert lab.ssh(1, "dpkg-query", "--show", f"meshlab-probe-{name}", check=False).returncode != 0

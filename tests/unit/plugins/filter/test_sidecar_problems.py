# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sidecar_problems: one VM's vm_sidecar variables, before anything reaches the VM."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.sidecar_problems import FilterModule
from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import sidecar_problems

BUNDLE = "/work/playbooks/../.bootstrap/vm1"
GOOD = {
    "vm_sidecar_state": "present", "vm_sidecar_package_url": "http://10.213.0.1:8099/istio-sidecar.deb",
    "vm_sidecar_package_src": "", "vm_sidecar_package_sha256": "ab" * 32, "vm_sidecar_package_format": "",
    "vm_sidecar_package_base_url": "https://storage.googleapis.com/istio-release/releases",
    "vm_sidecar_unprivileged_port_start": None, "vm_sidecar_ready_url": "http://localhost:15021/healthz/ready",
    "vm_sidecar_bundle_dir": BUNDLE,
}


def test_good():
    assert sidecar_problems(GOOD, BUNDLE) == []
    # the same directory, spelled otherwise
    assert sidecar_problems(dict(GOOD, vm_sidecar_bundle_dir="/work/.bootstrap/vm1/"), BUNDLE) == []
    assert sidecar_problems(dict(GOOD, vm_sidecar_bundle_dir="/elsewhere"), None) == []
    assert FilterModule().filters()["sidecar_problems"] is sidecar_problems


def test_absent_needs_no_package():
    assert sidecar_problems(dict(GOOD, vm_sidecar_state="absent", vm_sidecar_package_sha256=""), BUNDLE) == []


def test_package_file(tmp_path):
    package = tmp_path / "istio-sidecar.deb"
    package.write_bytes(b"x")
    assert sidecar_problems(dict(GOOD, vm_sidecar_package_url="", vm_sidecar_package_src=str(package)), BUNDLE) == []


@pytest.mark.parametrize("overrides,problem", [
    ({"vm_sidecar_package_sha256": "3f2a"}, "vm_sidecar_package_sha256: '3f2a' is not the 64 hex digits"),
    ({"vm_sidecar_package_sha256": "g" * 64}, "is not the 64 hex digits"),
    ({"vm_sidecar_package_sha256": "sha256:" + "0" * 64}, "is not the 64 hex digits"),
    ({"vm_sidecar_package_url": "10.0.0.1/x.deb"}, "vm_sidecar_package_url: '10.0.0.1/x.deb' is not a http://"),
    ({"vm_sidecar_package_url": "scp://h/x.deb"}, "vm_sidecar_package_url: 'scp://h/x.deb'"),
    ({"vm_sidecar_package_url": "", "vm_sidecar_package_base_url": "storage/releases"}, "vm_sidecar_package_base_url"),
    ({"vm_sidecar_package_src": "/x.deb"}, "vm_sidecar_package_src: set vm_sidecar_package_src or vm_sidecar_package_url"),
    ({"vm_sidecar_package_url": "", "vm_sidecar_package_src": "x.deb"}, "vm_sidecar_package_src: 'x.deb' is not an absolute"),
    ({"vm_sidecar_package_url": "", "vm_sidecar_package_src": "/nonexistent/x.deb"}, "is not a file on the controller"),
    ({"vm_sidecar_package_format": "apk"}, "vm_sidecar_package_format: 'apk' is not one of deb, rpm"),
    ({"vm_sidecar_package_format": "rpm"}, "vm_sidecar_package_url: 'http://10.213.0.1:8099/istio-sidecar.deb' is a .deb"),
    ({"vm_sidecar_unprivileged_port_start": 70000}, "vm_sidecar_unprivileged_port_start: 70000 is not in 0..65535"),
    ({"vm_sidecar_ready_url": "localhost:15021/healthz"}, "vm_sidecar_ready_url"),
    ({"vm_sidecar_bundle_dir": "/srv/b"}, "vm_sidecar_bundle_dir: '/srv/b' is not where mesh_workload_bootstrap_dir"),
])
def test_bad(overrides, problem):
    problems = sidecar_problems(dict(GOOD, **overrides), BUNDLE)
    assert any(problem in p for p in problems), problems

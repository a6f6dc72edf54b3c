# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sidecar_problems: one VM's vm_sidecar variables, before anything reaches the VM."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.meshops.istio_vm.plugins.filter.sidecar_problems import FilterModule
from ansible_collections.meshops.istio_vm.plugins.filter.path_problem import path_problem
from ansible_collections.meshops.istio_vm.plugins.module_utils._inventory import sidecar_problems

DEFAULTS = Path(__file__).resolve().parents[4] / "roles" / "vm_sidecar" / "defaults" / "main.yml"

BUNDLE = "/work/playbooks/../.bootstrap/vm1"
GOOD = {
    "vm_sidecar_state": "present", "vm_sidecar_package_url": "http://10.213.0.1:8099/istio-sidecar.deb",
    "vm_sidecar_package_src": "", "vm_sidecar_package_sha256": "ab" * 32, "vm_sidecar_package_format": "",
    "vm_sidecar_package_base_url": "https://storage.googleapis.com/istio-release/releases",
    "vm_sidecar_unprivileged_port_start": None, "vm_sidecar_ready_url": "http://localhost:15021/healthz/ready",
    "vm_sidecar_bundle_dir": BUNDLE, "vm_sidecar_token_path": "/var/lib/istio/tokens/istio-token",
    "vm_sidecar_package_cache_dir": "/var/cache/meshops-istio-vm",
}


def test_good():
    assert sidecar_problems(GOOD, BUNDLE) == []
    # the same directory, spelled otherwise
    assert sidecar_problems(dict(GOOD, vm_sidecar_bundle_dir="/work/.bootstrap/vm1/"), BUNDLE) == []
    assert sidecar_problems(dict(GOOD, vm_sidecar_bundle_dir="/elsewhere"), None) == []
    assert FilterModule().filters()["sidecar_problems"] is sidecar_problems


def test_the_role_defaults_pass():
    defaults = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))
    paths = {name: defaults[name] for name in ("vm_sidecar_token_path", "vm_sidecar_package_cache_dir",
                                               "vm_sidecar_cert_path")}
    assert [path_problem(path) for path in paths.values()] == ["", "", ""]
    assert sidecar_problems(dict(GOOD, **paths), BUNDLE) == []


def test_absent_needs_no_package():
    assert sidecar_problems(dict(GOOD, vm_sidecar_state="absent", vm_sidecar_package_sha256=""), BUNDLE) == []


def test_owned_directories_also_when_offboarding():
    # offboarding is what deletes the package cache
    problems = sidecar_problems(dict(GOOD, vm_sidecar_state="absent", vm_sidecar_package_cache_dir="/var/cache"), BUNDLE)
    assert problems == ["vm_sidecar_package_cache_dir: offboarding deletes the package cache directory with all it "
                        "holds, but '/var/cache' is a system directory: use a directory of its own (the default is "
                        "/var/cache/meshops-istio-vm)"]


def test_owned_directories_leave_other_path_rules_to_path_problem():
    problems = sidecar_problems(dict(GOOD, vm_sidecar_token_path="istio-token", vm_sidecar_package_cache_dir=""), BUNDLE)
    assert problems == []


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
    ({"vm_sidecar_package_lock_timeout": -1}, "vm_sidecar_package_lock_timeout: -1 is not in 0..3600"),
    ({"vm_sidecar_package_lock_timeout": 86400}, "vm_sidecar_package_lock_timeout: 86400 is not in 0..3600"),
    ({"vm_sidecar_ready_url": "localhost:15021/healthz"}, "vm_sidecar_ready_url"),
    ({"vm_sidecar_bundle_dir": "/srv/b"}, "vm_sidecar_bundle_dir: '/srv/b' is not where mesh_workload_bootstrap_dir"),
    # the role makes the token's directory istio-proxy's, mode 0700: never /etc or /var/lib
    ({"vm_sidecar_token_path": "/etc/istio-token"},
     "vm_sidecar_token_path: the role makes the directory of '/etc/istio-token' istio-proxy's with mode 0700, but "
     "'/etc' is a system directory"),
    ({"vm_sidecar_token_path": "/var/lib/istio-token"}, "vm_sidecar_token_path: the role makes the directory of "
                                                        "'/var/lib/istio-token' istio-proxy's with mode 0700, but '/var/lib'"),
    ({"vm_sidecar_token_path": "/var/lib/istio/istio-token"}, "'/var/lib/istio' is a system directory"),
    ({"vm_sidecar_token_path": "/srv/tokens/istio-token"}, "'/srv/tokens' is too close to /"),
    # nor inside a directory istio-proxy can write: it could swap the token's directory for a symlink
    ({"vm_sidecar_token_path": "/etc/certs/tokens/istio-token"},
     "vm_sidecar_token_path: the role makes the directory of '/etc/certs/tokens/istio-token' istio-proxy's with "
     "mode 0700, but it is inside /etc/certs, which istio-proxy can write"),
    ({"vm_sidecar_token_path": "/etc/istio/proxy/t/istio-token"}, "inside /var/lib/istio/proxy, which istio-proxy"),
    ({"vm_sidecar_token_path": "/var/lib/istio/config/istio-token"}, "inside /var/lib/istio/config, which"),
    ({"vm_sidecar_token_path": "/var/log/istio/t/istio-token"}, "inside /var/log/istio, which istio-proxy"),
    # each start of the package's unit makes /var/run/secrets istio-proxy's (and links the token there)
    ({"vm_sidecar_token_path": "/var/run/secrets/tokens/istio-token"},
     "vm_sidecar_token_path: the role makes the directory of '/var/run/secrets/tokens/istio-token' istio-proxy's "
     "with mode 0700, but it is inside /var/run/secrets, which istio-proxy can write"),
    ({"vm_sidecar_token_path": "/run/secrets/meshops/istio-token"}, "inside /run/secrets, which istio-proxy"),
    ({"vm_sidecar_package_cache_dir": "/var/run/secrets/cache"}, "inside /var/run/secrets, which istio-proxy"),
    ({"vm_sidecar_package_cache_dir": "/var/lib/istio/envoy/cache"},
     "vm_sidecar_package_cache_dir: offboarding deletes the package cache directory with all it holds, but it is "
     "inside /var/lib/istio/envoy, which istio-proxy can write"),
    # offboarding deletes the package cache recursively
    ({"vm_sidecar_package_cache_dir": "/var/cache"},
     "vm_sidecar_package_cache_dir: offboarding deletes the package cache directory with all it holds, but "
     "'/var/cache' is a system directory"),
    ({"vm_sidecar_package_cache_dir": "/var/cache/meshops/../"}, "'/var/cache' is a system directory"),
    ({"vm_sidecar_package_cache_dir": "/opt/cache"}, "vm_sidecar_package_cache_dir: offboarding deletes"),
])
def test_bad(overrides, problem):
    problems = sidecar_problems(dict(GOOD, **overrides), BUNDLE)
    assert any(problem in p for p in problems), problems

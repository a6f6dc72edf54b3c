# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sidecar_vm_problems: the preflight of vm_sidecar once the VM's facts are known, first problem only."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.sidecar_vm_problems import FilterModule

check = FilterModule().filters()["sidecar_vm_problems"]

DEBIAN = {"service_mgr": "systemd", "os_family": "Debian", "distribution": "Debian", "architecture": "x86_64"}
ROLE = {"formats": {"Debian": "deb", "RedHat": "rpm"}, "architectures": ["x86_64", "aarch64"],
        "bundle_dir": "/srv/b/vm1", "bundle_missing": [], "hosts": "10.0.0.1 istiod.istio-system.svc\n"}


def role(**changes) -> dict:
    return {**ROLE, **changes}


UNSUPPORTED = ("{} ({}, {}) is not supported: Istio packages the sidecar as .deb (Debian family) and .rpm (RedHat family) "
               "for x86_64 and aarch64 (set vm_sidecar_package_format for another family that installs one of them).")


def test_a_debian_vm_with_its_bundle_passes():
    assert check(DEBIAN, **ROLE) == []
    assert check(dict(DEBIAN, architecture="aarch64"), **ROLE) == [], "a package of its own (url or src)"
    assert check(dict(DEBIAN, os_family="RedHat", distribution="Rocky"), **ROLE) == []


@pytest.mark.parametrize("facts,extra,message", [
    ({"service_mgr": "sysvinit"}, {},
     "the istio-sidecar package ships a systemd unit, but this VM's service manager is sysvinit."),
    ({"service_mgr": None}, {}, "the istio-sidecar package ships a systemd unit, but this VM's service manager is ."),
    ({"os_family": "Suse", "distribution": "SLES"}, {}, UNSUPPORTED.format("SLES", "Suse", "x86_64")),
    ({"architecture": "ppc64le"}, {}, UNSUPPORTED.format("Debian", "Debian", "ppc64le")),
    ({"architecture": "aarch64"}, {"official_url": True},
     "Istio's release storage has no aarch64 istio-sidecar package (istio/istio#41595): set vm_sidecar_package_url "
     "or vm_sidecar_package_src to an arm64 build."),
    ({}, {"bundle_missing": ["cluster.env", "istio-token"]},
     "the bootstrap bundle in /srv/b/vm1 lacks cluster.env, istio-token: run meshops.istio_vm.mesh_workload first "
     "(vm_sidecar_bundle_dir must match mesh_workload_bootstrap_dir)."),
    ({}, {"hosts": " \n"},
     "/srv/b/vm1/hosts is empty (the gateway publishes a hostname, istio/istio#31624): set mesh_workload_ingress_ip."),
    ({}, {"hosts": None},
     "/srv/b/vm1/hosts is empty (the gateway publishes a hostname, istio/istio#31624): set mesh_workload_ingress_ip."),
])
def test_each_problem_alone(facts, extra, message):
    assert check(dict(DEBIAN, **facts), **role(**extra)) == [message]


def test_the_first_problem_only():
    # an unsupported VM is not also told about its bundle; systemd comes first
    problems = check({"service_mgr": "upstart", "os_family": "Suse", "architecture": "s390x"},
                     **role(bundle_missing=["hosts"]))
    assert len(problems) == 1 and "service manager is upstart" in problems[0]


def test_package_format_admits_another_family():
    suse = dict(DEBIAN, os_family="Suse", distribution="SLES")
    assert check(suse, package_format="rpm", **ROLE) == []
    assert check(suse, package_format="", **ROLE) == [UNSUPPORTED.format("SLES", "Suse", "x86_64")]


def test_removal_needs_only_the_facts():
    assert check(DEBIAN, present=False, **role(bundle_missing=["hosts"], hosts=None)) == []
    assert check(dict(DEBIAN, architecture="aarch64"), present=False, official_url=True,
                 **ROLE) == []
    assert check(dict(DEBIAN, service_mgr="openrc"), present=False, **ROLE) != []


def test_a_dry_run_may_come_before_the_bundle():
    assert check(DEBIAN, check_mode=True, **role(bundle_missing=["hosts"], hosts=None)) == []
    # with the bundle there, a dry run checks it all the same
    assert check(DEBIAN, check_mode=True, **role(hosts="")) != []

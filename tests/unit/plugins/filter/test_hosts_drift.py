# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hosts_drift filter: a VM's /etc/hosts against the istiod entry of its freshly rendered bundle."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.hosts_drift import FilterModule

NAME = "istiod.istio-system.svc"
BLOCK = ("127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
         "# BEGIN meshops.istio_vm istiod\n{} istiod.istio-system.svc\n# END meshops.istio_vm istiod\n")


def hosts_drift(*args):
    return FilterModule().filters()["hosts_drift"](*args)


@pytest.mark.parametrize("text,address", [
    (BLOCK.format("10.214.0.5"), "10.214.0.5"),
    # the resolver's view: names without case, addresses as addresses, comments ignored
    ("10.214.0.5   IstioD.istio-system.svc  # the gateway\n", "10.214.0.5"),
    ("fd00:0:0::5 istiod.istio-system.svc\n", "fd00::5"),
    ("10.0.0.1 other\n# 10.0.0.9 istiod.istio-system.svc\n10.214.0.5 alias istiod.istio-system.svc\n", "10.214.0.5"),
    # no address in the bundle (DNS) and none in the file
    ("127.0.0.1 localhost\n", None),
    ("", None),
])
def test_in_line(text, address):
    assert hosts_drift(text, {"name": NAME, "address": address}) == []


@pytest.mark.parametrize("text,address,line", [
    (BLOCK.format("10.214.0.5"), "10.214.0.9",
     "/etc/hosts maps istiod.istio-system.svc to 10.214.0.5 (line 4), the bundle gives 10.214.0.9 now "
     "(the ingress or east-west gateway's address changed; run onboard.yml)"),
    # an earlier line outside the block wins: the resolver takes the first
    ("10.0.0.7 istiod.istio-system.svc\n" + BLOCK.format("10.214.0.5"), "10.214.0.5",
     "/etc/hosts maps istiod.istio-system.svc to 10.0.0.7 (line 1), the bundle gives 10.214.0.5 now "
     "(the ingress or east-west gateway's address changed; run onboard.yml)"),
    ("127.0.0.1 localhost\n", "10.214.0.5",
     "/etc/hosts does not map istiod.istio-system.svc; the bundle gives 10.214.0.5 (istiod through the "
     "ingress or east-west gateway; run onboard.yml)"),
    # the name alone on a line maps nothing
    ("istiod.istio-system.svc\n", "10.214.0.5",
     "/etc/hosts does not map istiod.istio-system.svc; the bundle gives 10.214.0.5 (istiod through the "
     "ingress or east-west gateway; run onboard.yml)"),
    (BLOCK.format("10.214.0.5"), None,
     "/etc/hosts maps istiod.istio-system.svc to 10.214.0.5 (line 4); the bundle has no address for it now "
     "(the VM should resolve it by DNS; run onboard.yml)"),
])
def test_drift_names_the_host_and_both_addresses(text, address, line):
    assert hosts_drift(text, {"name": NAME, "address": address}) == [line]


def test_revisioned_name_is_its_own_entry():
    text = BLOCK.format("10.214.0.5")
    assert hosts_drift(text, {"name": "istiod-canary.istio-system.svc", "address": "10.214.0.5"}) == [
        "/etc/hosts does not map istiod-canary.istio-system.svc; the bundle gives 10.214.0.5 (istiod through the "
        "ingress or east-west gateway; run onboard.yml)"]


@pytest.mark.parametrize("args", [(None, {"name": NAME}), ("", None), ("", {"address": "10.0.0.1"})])
def test_bad_input(args):
    with pytest.raises(AnsibleFilterError, match="expects the text of /etc/hosts"):
        hosts_drift(*args)

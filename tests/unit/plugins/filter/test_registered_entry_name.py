# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The registered_entry_name filter: the name istiod gives an auto-registered WorkloadEntry."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.registered_entry_name import FilterModule


def registered_entry_name(*args):
    return FilterModule().filters()["registered_entry_name"](*args)


@pytest.mark.parametrize("group,ip,network,name", [
    ("lab-app", "10.213.0.11", "", "lab-app-10.213.0.11"),
    ("lab-app", "10.213.0.12", "meshlab-net", "lab-app-10.213.0.12-meshlab-net"),
    ("ratings-vm", "fd00::21", "", "ratings-vm-fd00--21"),
    ("ratings-vm", "2001:db8::1:2", "vpc-east", "ratings-vm-2001-db8--1-2-vpc-east"),
    ("lab-app", "", "meshlab-net", ""),
    ("lab-app", None, "", ""),
])
def test_group_ip_and_network(group, ip, network, name):
    assert registered_entry_name(group, ip, network) == name


def test_network_defaults_to_none():
    assert registered_entry_name("lab-app", "10.213.0.11") == "lab-app-10.213.0.11"


def test_a_long_name_keeps_its_last_253_characters_as_istiod_does():
    group = "w" * 250
    name = registered_entry_name(group, "10.0.0.1", "net")
    assert len(name) == 253 and name.endswith("w-10.0.0.1-net") and (group + "-10.0.0.1-net").endswith(name)

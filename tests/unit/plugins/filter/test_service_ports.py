# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The service_ports filter: a workload's port map to the ports of its Service."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.service_ports import FilterModule


def service_ports(*args):
    return FilterModule().filters()["service_ports"](*args)


def test_ports_by_number_with_app_protocols():
    assert service_ports({"http": 8080, "grpc": 3550}, {"grpc": "tcp"}) == [
        {"name": "grpc", "port": 3550, "app_protocol": "tcp"}, {"name": "http", "port": 8080}]


def test_without_app_protocols():
    assert service_ports({"http": "9080"}) == [{"name": "http", "port": 9080}]
    assert service_ports({"http": 9080}, None) == [{"name": "http", "port": 9080}]


@pytest.mark.parametrize("ports,protocols,message", [
    ({"http": 8080}, {"grpc": "tcp"}, "no port named 'grpc'"),
    ([8080], {}, "must be a dict"),
])
def test_refuses(ports, protocols, message):
    with pytest.raises(AnsibleFilterError, match=message):
        service_ports(ports, protocols)

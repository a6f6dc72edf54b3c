# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.entry_drift import entry_drift

LIVE = {"name": "vm1", "namespace": "ns", "address": "10.0.0.5", "labels": {"app": "db", "extra": "x"},
        "service_account": "db", "network": "net1"}


def test_in_line_with_the_inventory():
    assert entry_drift(LIVE, {"address": "10.0.0.5", "labels": {"app": "db"}, "service_account": "db",
                              "network": "net1"}) == []


def test_unset_options_and_foreign_labels_are_not_drift():
    assert entry_drift(LIVE, {"address": "10.0.0.5", "labels": None, "network": None, "ports": {"http": 80}}) == []


@pytest.mark.parametrize("desired,line", [
    ({"address": "10.0.0.6"}, "address is '10.0.0.5' in the cluster, '10.0.0.6' in the inventory"),
    ({"service_account": "web"}, "service_account is 'db' in the cluster, 'web' in the inventory"),
    ({"network": "net2"}, "network is 'net1' in the cluster, 'net2' in the inventory"),
    ({"labels": {"app": "web"}}, "label app is 'db' in the cluster, 'web' in the inventory"),
    ({"labels": {"tier": "1"}}, "label tier is missing (the inventory says '1')"),
])
def test_each_difference_is_named(desired, line):
    assert entry_drift(LIVE, desired) == [line]


def test_missing_live_fields_differ():
    assert entry_drift({"labels": None}, {"network": "net1"}) == ["network is '' in the cluster, 'net1' in the inventory"]


def test_bad_input():
    with pytest.raises(AnsibleFilterError, match="expects two dicts"):
        entry_drift(None, {})

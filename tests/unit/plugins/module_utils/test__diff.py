# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._diff import diff, normalize

LIVE = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "WorkloadEntry",
    "metadata": {
        "name": "vm-1", "namespace": "vms", "uid": "u-1", "resourceVersion": "42", "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z", "selfLink": "/x", "managedFields": [{"manager": "ansible"}],
        "labels": {"app": "vm"},
    },
    "spec": {"address": "10.0.0.1"},
    "status": {"conditions": [{"type": "Healthy", "status": "True"}]},
}
CLEAN = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "WorkloadEntry",
    "metadata": {"name": "vm-1", "namespace": "vms", "labels": {"app": "vm"}},
    "spec": {"address": "10.0.0.1"},
}


@pytest.mark.parametrize("obj, keep_status, expected", [
    (LIVE, False, CLEAN),
    (LIVE, True, dict(CLEAN, status=LIVE["status"])),
    (None, False, None),
    ({"metadata": {"uid": "x"}, "spec": {}}, False, {"spec": {}}),
])
def test_normalize(obj, keep_status, expected):
    assert normalize(obj, keep_status) == expected


def test_normalize_does_not_touch_its_input():
    before = repr(LIVE)
    normalize(LIVE)
    assert repr(LIVE) == before


@pytest.mark.parametrize("before, after, expected", [
    (None, CLEAN, {"before": {}, "after": CLEAN}),
    (LIVE, None, {"before": CLEAN, "after": {}}),
    (LIVE, LIVE, {"before": CLEAN, "after": CLEAN}),
])
def test_diff(before, after, expected):
    assert diff(before, after) == expected

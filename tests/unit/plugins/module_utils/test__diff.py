# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._diff import (
    REDACTED,
    diff,
    is_subset,
    needs_update,
    normalize,
    redact,
)

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


@pytest.mark.parametrize("desired, existing, expected", [
    ({"a": 1}, {"a": 1, "b": 2}, True),
    ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, True),
    ({"a": [1, 2]}, {"a": [1, 2, 3]}, False),
    ({"a": 1}, {"b": 1}, False),
    ({"a": {"b": 1}}, {"a": "x"}, False),
    ({}, {}, True),
])
def test_is_subset(desired, existing, expected):
    assert is_subset(desired, existing) is expected


@pytest.mark.parametrize("desired, existing, expected", [
    (CLEAN, LIVE, False),
    (CLEAN, None, True),
    (dict(CLEAN, spec={"address": "10.0.0.2"}), LIVE, True),
    (dict(CLEAN, metadata={"name": "vm-1", "namespace": "vms", "labels": {"app": "vm", "x": "y"}}), LIVE, True),
])
def test_needs_update(desired, existing, expected):
    assert needs_update(desired, existing) is expected


REDACT_CASES = [
    ({"files": {"istio-token": "eyJ.secret", "hosts": "1.2.3.4 istiod"}}, (), {"files": {"istio-token": REDACTED, "hosts": "1.2.3.4 istiod"}}),
    ({"token": None}, (), {"token": None}),
    ({"msg": "wrote eyJ.secret to disk", "list": ["eyJ.secret", 1]}, ("eyJ.secret",),
     {"msg": "wrote %s to disk" % REDACTED, "list": [REDACTED, 1]}),
    ({"eyJ.secret": "k"}, ("eyJ.secret", ""), {REDACTED: "k"}),
    (("a-eyJ.secret",), ("eyJ.secret",), ("a-" + REDACTED,)),
    ("plain", (), "plain"),
]


@pytest.mark.parametrize("value, secrets, expected", REDACT_CASES)
def test_redact(value, secrets, expected):
    assert redact(value, secrets) == expected


def test_redact_custom_keys():
    assert redact({"password": "p", "token": "t"}, keys=("password",)) == {"password": REDACTED, "token": "t"}

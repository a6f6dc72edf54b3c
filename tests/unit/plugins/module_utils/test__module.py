# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The driver's pure part: what state=absent sends, per kind."""

from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import _identity


@pytest.mark.parametrize("kind, api_version", [
    ("Service", "v1"),
    ("WorkloadEntry", "networking.istio.io/v1"),
    ("Sidecar", "networking.istio.io/v1"),
])
def test_absent_identity_has_the_kinds_api_version(kind, api_version):
    obj, warnings = _identity(kind, {"name": "ratings", "namespace": "vms", "selector": None})
    assert obj == {"apiVersion": api_version, "kind": kind, "metadata": {"name": "ratings", "namespace": "vms"}}
    assert warnings == []


@pytest.mark.parametrize("kind, params, message", [
    ("Service", {"name": "ratings.vm", "namespace": "vms"}, "name: 'ratings.vm' is not a DNS-1035 label"),
    ("Service", {"name": None, "namespace": "vms"}, "name: is required"),
    ("WorkloadEntry", {"name": "vm", "namespace": "Bad_NS"}, "namespace: 'Bad_NS' is not a DNS-1123 label"),
])
def test_absent_identity_checks_the_kinds_name_rule(kind, params, message):
    with pytest.raises(ValidationError) as info:
        _identity(kind, params)
    assert message in str(info.value)


def test_absent_identity_of_a_dotted_istio_name_is_fine():
    assert _identity("WorkloadEntry", {"name": "ratings.vm", "namespace": "vms"})[0]["metadata"]["name"] == "ratings.vm"
